"""Pure metric functions for retrieval, answers, citations, abstention and latency.

Retrieval metrics take a ranking (ids, best first) and the relevant ids, either
as a collection (binary relevance) or as a mapping ``id -> grade`` (graded; a
grade above 0 is relevant). Repeated ids in a ranking count once, at their first
position. Text matching is defined once, in ``tokens`` and ``overlap_ratio``.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from pathlib import PurePath

# A citation or gold span: its text, or (source, text) so that sources must agree too.
Evidence = str | tuple[str, str]

OVERLAP_THRESHOLD = 0.5
SHINGLE = 3  # overlap is measured on shared word trigrams

_MARKER = re.compile(r"\s*\[\d+(?:\s*[,;]\s*\d+)*\]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


# --------------------------------------------------------------------------- text


def tokens(text: str) -> list[str]:
    """Matching tokens: NFKC, case-folded, every non-alphanumeric character is a separator.

    So curly and straight quotes, dashes and no-break spaces all compare equal,
    "U.S." becomes ``["u", "s"]`` and "Huawei's" becomes ``["huawei", "s"]``.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch if ch.isalnum() else " " for ch in text).split()


def strip_citation_markers(text: str) -> str:
    """Remove ``[n]`` / ``[1, 2]`` citation markers from an answer."""
    return _MARKER.sub("", text)


def _contains(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    n = len(needle)
    if n == 0:
        return True
    first = needle[0]
    return any(haystack[i] == first and list(haystack[i : i + n]) == list(needle) for i in range(len(haystack) - n + 1))


def overlap_ratio(a: str, b: str, *, n: int = SHINGLE) -> float:
    """Share of the shorter text's tokens that the longer text also has, in context.

    A token of the shorter text counts as shared when it belongs to some word
    n-gram (default: trigram) of the shorter text that also occurs in the longer
    text; single common words shared by chance therefore do not count. A text
    contained in the other scores 1.0. Texts shorter than ``n`` tokens score 1.0
    when they occur contiguously in the other text, else 0.0. Empty text: 0.0.
    """
    ta, tb = tokens(a), tokens(b)
    short, long_ = (ta, tb) if len(ta) <= len(tb) else (tb, ta)
    if not short:
        return 0.0
    if len(short) < n:
        return 1.0 if _contains(long_, short) else 0.0
    grams = {tuple(long_[i : i + n]) for i in range(len(long_) - n + 1)}
    covered = [False] * len(short)
    for i in range(len(short) - n + 1):
        if tuple(short[i : i + n]) in grams:
            covered[i : i + n] = [True] * n
    return sum(covered) / len(short)


def overlaps(a: str, b: str, threshold: float = OVERLAP_THRESHOLD) -> bool:
    """True when ``overlap_ratio(a, b) >= threshold`` (one text contained in the other always is)."""
    return overlap_ratio(a, b) >= threshold


# --------------------------------------------------------------------------- retrieval


def _grades(relevant: Mapping[str, int] | Collection[str]) -> dict[str, int]:
    if isinstance(relevant, Mapping):
        return {str(k): int(v) for k, v in relevant.items()}
    return {str(k): 1 for k in relevant}


def _top(ranked: Sequence[str], k: int) -> list[str]:
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    return doc_ranking(ranked)[:k]


def doc_ranking(chunk_doc_ids: Sequence[str]) -> list[str]:
    """Documents in the order of their best-ranked chunk (first occurrence wins)."""
    return list(dict.fromkeys(chunk_doc_ids))


def hit_at_k(ranked: Sequence[str], relevant: Mapping[str, int] | Collection[str], k: int) -> float:
    """1.0 when a relevant id is among the first ``k``, else 0.0."""
    grades = _grades(relevant)
    return 1.0 if any(grades.get(d, 0) > 0 for d in _top(ranked, k)) else 0.0


def recall_at_k(ranked: Sequence[str], relevant: Mapping[str, int] | Collection[str], k: int) -> float:
    """Share of the relevant ids found among the first ``k``; 0.0 when nothing is relevant."""
    grades = _grades(relevant)
    wanted = {d for d, g in grades.items() if g > 0}
    if not wanted:
        return 0.0
    return len(wanted.intersection(_top(ranked, k))) / len(wanted)


def mrr_at_k(ranked: Sequence[str], relevant: Mapping[str, int] | Collection[str], k: int = 10) -> float:
    """Reciprocal rank of the first relevant id among the first ``k`` (0.0 if none)."""
    grades = _grades(relevant)
    for rank, doc in enumerate(_top(ranked, k), start=1):
        if grades.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: Sequence[str], qrels: Mapping[str, int] | Collection[str], k: int = 10) -> float:
    """nDCG@k as trec_eval's ``ndcg_cut`` (hence pytrec_eval and BEIR) computes it.

    Gain is the grade itself (not 2^grade - 1), negative grades count as 0, the
    document at rank r is discounted by log2(r + 1), and the ideal DCG sorts all
    positive grades of the query, best first, cut at ``k``. 0.0 when no grade is
    positive.
    """
    grades = _grades(qrels)
    dcg = sum(max(grades.get(d, 0), 0) / math.log2(r + 1) for r, d in enumerate(_top(ranked, k), start=1))
    ideal = sorted((g for g in grades.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(r + 1) for r, g in enumerate(ideal, start=1))
    return dcg / idcg if idcg > 0 else 0.0


# --------------------------------------------------------------------------- answers


def key_fact_coverage(answer_text: str, key_facts: Sequence[str]) -> float:
    """Share of key facts whose tokens occur contiguously in the answer (see ``tokens``).

    Citation markers are ignored. 1.0 when there are no key facts.
    """
    if not key_facts:
        return 1.0
    answer = tokens(strip_citation_markers(answer_text))
    found = sum(1 for fact in key_facts if _contains(answer, tokens(fact)))
    return found / len(key_facts)


def _stopwords() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # installed with sentence-transformers

    return frozenset(ENGLISH_STOP_WORDS)


def key_terms(reference: str) -> list[str]:
    """The key terms of a reference answer: its content words (``tokens``, so case-folded, punctuation split),
    without scikit-learn's English stop words (318) and single characters, each once, in order. Numbers count."""
    stop = _stopwords()
    words = tokens(strip_citation_markers(reference))
    return list(dict.fromkeys(w for w in words if w not in stop and (len(w) > 1 or w.isdigit())))


def key_term_recall(answer_text: str, reference: str) -> float:
    """Share of the reference answer's key terms (``key_terms``) that the answer contains; 1.0 when the reference
    has none. An abstention should be scored with an empty answer (0.0)."""
    terms = key_terms(reference)
    if not terms:
        return 1.0
    answer = set(tokens(strip_citation_markers(answer_text)))
    return sum(1 for t in terms if t in answer) / len(terms)


def _squad_normalize(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", strip_citation_markers(text)).lower()
    text = "".join(ch for ch in text if ch not in string.punctuation and not unicodedata.category(ch).startswith("P"))
    return _ARTICLES.sub(" ", text).split()


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1: lower-cased, punctuation removed (ASCII and Unicode), articles dropped.

    Citation markers are removed first. Both empty: 1.0; one empty: 0.0.
    """
    pred, ref = _squad_normalize(prediction), _squad_normalize(reference)
    if not pred or not ref:
        return 1.0 if pred == ref else 0.0
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


# --------------------------------------------------------------------------- citations


def _split(item: Evidence) -> tuple[str | None, str]:
    if isinstance(item, tuple):
        return item[0], item[1]
    return None, item


def citation_matches(cited: Evidence, gold: Evidence, threshold: float = OVERLAP_THRESHOLD) -> bool:
    """A citation supports a gold span when their texts overlap (``overlaps``) and, if both
    carry a source, the sources name the same file (compared by file name)."""
    cited_source, cited_text = _split(cited)
    gold_source, gold_text = _split(gold)
    if cited_source and gold_source and PurePath(cited_source).name != PurePath(gold_source).name:
        return False
    return overlaps(cited_text, gold_text, threshold)


def citation_precision(
    cited: Sequence[Evidence], gold: Sequence[Evidence], threshold: float = OVERLAP_THRESHOLD
) -> float:
    """Share of citations that support some gold span; 0.0 when nothing is cited."""
    if not cited:
        return 0.0
    return sum(1 for c in cited if any(citation_matches(c, g, threshold) for g in gold)) / len(cited)


def citation_recall(cited: Sequence[Evidence], gold: Sequence[Evidence], threshold: float = OVERLAP_THRESHOLD) -> float:
    """Share of gold spans supported by some citation; 1.0 when there is no gold span."""
    if not gold:
        return 1.0
    return sum(1 for g in gold if any(citation_matches(c, g, threshold) for c in cited)) / len(gold)


# --------------------------------------------------------------------------- abstention and latency


def abstention_precision_recall(predicted_abstain: Sequence[bool], unanswerable: Sequence[bool]) -> tuple[float, float]:
    """Precision and recall of abstaining, with "unanswerable" as the positive class.

    Precision: share of abstentions that were on unanswerable questions (1.0 when
    the system never abstained: no abstention was wrong). Recall: share of the
    unanswerable questions it abstained on (1.0 when there are none).
    """
    if len(predicted_abstain) != len(unanswerable):
        raise ValueError("predicted_abstain and unanswerable differ in length")
    both = sum(1 for p, u in zip(predicted_abstain, unanswerable, strict=True) if p and u)
    abstained, positives = sum(map(bool, predicted_abstain)), sum(map(bool, unanswerable))
    precision = both / abstained if abstained else 1.0
    recall = both / positives if positives else 1.0
    return precision, recall


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) with linear interpolation between ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError(f"p must be within 0..100, not {p}")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * p / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean; 0.0 for no values."""
    return sum(values) / len(values) if values else 0.0
