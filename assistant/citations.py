"""Citation enforcement for generated answers: pure functions, no LLM.

``check_citations`` takes the text a model wrote from passages numbered
``[1]..[k]`` and returns a checked answer:

* ``[n]`` markers are parsed (also ``[1, 2]``, ``[1][2]``, ``[1-3]``); a number
  that refers to no passage is removed and counted as invalid;
* every answer sentence is checked against each passage it cites with a support
  score (lexical coverage of its content words and embedding similarity with a
  passage sentence); a number in the sentence that the passage does not contain
  makes it unsupported. The best-supporting passage sentence becomes the
  citation's quote, with its span in document offsets;
* unsupported sentences are flagged (``Citation.supported = False``) or, with
  ``strict``, dropped;
* citations are renumbered 1..m in order of first appearance and the markers
  rewritten, so every ``[n]`` of the result resolves to a citation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import Stemmer

from assistant.answerer import ABSTAIN_TEXT
from assistant.types import Citation, Passage

# support = LEXICAL_WEIGHT * coverage + (1 - LEXICAL_WEIGHT) * cosine, against one passage sentence
LEXICAL_WEIGHT = 0.5
SUPPORT_THRESHOLD = 0.5
_MAX_RANGE = 20  # "[1-3]" expands; a wider range is taken as its two ends

_MARKER = re.compile(
    r"\[\s*(?:(?:passages?|sources?|docs?|documents?)\s*)?"
    r"(\d{1,4}(?:\s*(?:,|;|-|–|and)\s*(?:(?:passages?|sources?)\s*)?\d{1,4})*)\s*\]",
    re.IGNORECASE,
)
_MARKER_SOURCE = _MARKER.pattern
# sentence end: terminal punctuation, closing quotes/brackets, then markers on the same line, then a space or the end
_SENTENCE_END = re.compile(
    r"(?P<stop>[.!?…]+)[\"”’')]*(?:[ \t]*" + _MARKER_SOURCE + r")*(?=\s|$)",
    re.IGNORECASE,
)


def _words(text: str) -> list[str]:
    return text.split()


_ABBREVIATIONS = frozenset(
    _words("mr mrs ms dr prof st vs etc eg ie no nos inc co corp ltd jr sr fig gen gov sen rep dept approx est")
)
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_STOPWORDS = frozenset(
    _words(
        """a an and are as at be been being but by can could did do does doing done for from had has have having how i
    if in into is it its itself me my of on or our ours so than that the their theirs them then there these they
    this those to too was we were what when where which while who whom whose why will with would you your yours
    about above after again against all also am any because before below between both each few further here just
    more most no nor not only other own same should some such very passage passages document documents according
    s t"""
    )
)
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        _words(
            "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
            "seventeen eighteen nineteen twenty"
        )
    )
}
_ABSTAIN = re.compile(
    r"\b(documents?|passages?|context|sources?|texts?|provided information)\b[^.]{0,60}?"
    r"\b(do not|don't|does not|doesn't|did not|cannot|can't|no)\b[^.]{0,30}?"
    r"\b(contain|mention|include|answer|say|provide|specify|state|information|discuss|address)",
    re.IGNORECASE,
)
_STEMMER = Stemmer.Stemmer("english")


class TextEmbedder(Protocol):
    """What the checker needs of ``index.embeddings.Embedder``: unit-length rows, one per text."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


# ---------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class Marker:
    """A ``[...]`` citation marker: its span in the answer and the numbers it holds, in order."""

    start: int
    end: int
    numbers: tuple[int, ...]


@dataclass(frozen=True)
class AnswerSentence:
    """A sentence of an answer: its span (markers included), text without markers, and markers."""

    start: int
    end: int
    text: str
    markers: tuple[Marker, ...]

    @property
    def numbers(self) -> tuple[int, ...]:
        """The cited numbers in order of first appearance, without repeats."""
        return tuple(dict.fromkeys(n for m in self.markers for n in m.numbers))


def _marker_numbers(body: str) -> tuple[int, ...]:
    numbers: list[int] = []
    for part in re.split(r"\s*(?:,|;|and)\s*", body, flags=re.IGNORECASE):
        bounds = [int(x) for x in re.findall(r"\d+", part)]
        if len(bounds) == 2 and 0 <= bounds[1] - bounds[0] <= _MAX_RANGE:
            numbers.extend(range(bounds[0], bounds[1] + 1))
        else:
            numbers.extend(bounds)
    return tuple(dict.fromkeys(numbers))


def parse_markers(text: str) -> list[Marker]:
    """Every citation marker in ``text``: ``[1]``, ``[1, 2]``, ``[1][2]`` (two markers), ``[1-3]``, ``[passage 2]``."""
    return [Marker(m.start(), m.end(), _marker_numbers(m.group(1))) for m in _MARKER.finditer(text)]


def strip_markers(text: str) -> str:
    """``text`` without citation markers, whitespace collapsed."""
    out = _MARKER.sub("", text)
    out = re.sub(r"[ \t]+([.,;:!?])", r"\1", out)
    return " ".join(out.split())


def _is_abbreviation(text: str, dot: int) -> bool:
    """Whether the period at ``dot`` ends an abbreviation or an initial ("U.S.", "Dr.", "J.")."""
    if text[dot] != ".":
        return False
    word = re.search(r"([^\W\d_]+)\.?$", text[max(0, dot - 12) : dot])
    if word is None:
        return False
    token = word.group(1)
    return len(token) == 1 or token.lower() in _ABBREVIATIONS


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans (untrimmed) of ``text``: a line break always ends one."""
    ends = [
        m.end()
        for m in _SENTENCE_END.finditer(text)
        if not (m.group("stop") == "." and _is_abbreviation(text, m.end("stop") - 1))
    ]
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text):
        start = line.start()
        for end in [e for e in ends if line.start() < e < line.end()] + [line.end()]:
            spans.append((start, end))
            start = end
    return spans


def split_answer(text: str) -> list[AnswerSentence]:
    """The sentences of an answer, each with the markers that belong to it.

    A marker belongs to the sentence it stands in or right after ("... May 15 [1]."
    and "... May 15. [1]"); a line break always ends a sentence, and a line that
    holds only markers belongs to the sentence before it.
    """
    markers = parse_markers(text)
    sentences: list[AnswerSentence] = []
    for start, end in _sentence_spans(text):
        inside = tuple(m for m in markers if start <= m.start < end)
        body = strip_markers(text[start:end])
        if not body:
            if inside and sentences:  # a line of markers only: they cite the sentence before
                last = sentences[-1]
                sentences[-1] = AnswerSentence(last.start, end, last.text, last.markers + inside)
            continue
        piece = text[start:end]
        left = start + len(piece) - len(piece.lstrip())
        sentences.append(AnswerSentence(left, start + len(piece.rstrip()), body, inside))
    return sentences


def is_abstention(text: str) -> bool:
    """Whether ``text`` says the passages hold no answer (the fixed phrase or a close variant)."""
    return bool(_ABSTAIN.search(strip_markers(text)))


# ---------------------------------------------------------------------------- scoring


def content_terms(text: str) -> list[str]:
    """Stemmed, lower-cased content words of ``text`` (numbers kept), in order, without repeats."""
    words = [w.lower().replace("’", "'") for w in _WORD.findall(text)]
    words = [_NUMBER_WORDS.get(w, w) for w in words if w not in _STOPWORDS]
    return list(dict.fromkeys(_STEMMER.stemWords(words)))


def numbers_in(text: str) -> set[str]:
    """Numbers written in ``text`` (digits, and the words zero..twenty), normalised ("1,000" -> "1000")."""
    found = {m.group(0).replace(",", "") for m in _NUMBER.finditer(text)}
    found |= {_NUMBER_WORDS[w.lower()] for w in _WORD.findall(text) if w.lower() in _NUMBER_WORDS}
    return found


def coverage(claim: str, evidence: str) -> float:
    """Share of the claim's content terms that occur in the evidence."""
    terms = content_terms(claim)
    if not terms:
        return 0.0
    have = set(content_terms(evidence))
    return sum(t in have for t in terms) / len(terms)


def passage_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of a passage text, from the chunker's splitter (own fallback until it exists)."""
    try:
        from ingest.chunking import split_sentences
    except ImportError:
        spans = _fallback_sentences(text)
    else:
        spans = [(int(s), int(e)) for s, e in split_sentences(text)]
    spans = [(s, e) for s, e in spans if text[s:e].strip()]
    if not spans and text.strip():
        start = len(text) - len(text.lstrip())
        spans = [(start, len(text.rstrip()))]
    return spans


def _fallback_sentences(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for start, end in _sentence_spans(text):
        piece = text[start:end]
        if piece.strip():
            spans.append((start + len(piece) - len(piece.lstrip()), start + len(piece.rstrip())))
    return spans


# ---------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class Support:
    """How well one passage backs one answer sentence."""

    score: float
    quote_start: int  # in the chunk text
    quote_end: int
    missing_numbers: tuple[str, ...]
    supported: bool


@dataclass(frozen=True)
class CheckedAnswer:
    """The outcome of ``check_citations``.

    ``checks`` counts ``valid`` (sentence-to-passage citations that refer to a
    passage given), ``invalid`` (marker numbers removed because they refer to
    none) and ``unsupported`` (answer sentences that no cited passage supports,
    uncited ones included). ``unsupported`` lists those sentences with the
    numbers they cited (as written) and their best score.
    """

    text: str
    citations: tuple[Citation, ...]
    abstained: bool
    checks: dict[str, int]
    unsupported: tuple[dict[str, Any], ...] = ()
    dropped: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)


def _support(
    claim: str,
    claim_vector: np.ndarray,
    passage: Passage,
    spans: Sequence[tuple[int, int]],
    vectors: np.ndarray,
    threshold: float,
) -> Support:
    """Score ``claim`` against each sentence (``spans``, embedded as ``vectors``) of ``passage``."""
    text = passage.chunk.text
    if not spans:
        return Support(0.0, 0, 0, (), False)
    cosine = vectors @ claim_vector
    scores = [
        LEXICAL_WEIGHT * coverage(claim, text[s:e]) + (1 - LEXICAL_WEIGHT) * max(float(c), 0.0)
        for (s, e), c in zip(spans, cosine, strict=True)
    ]
    best = int(np.argmax(scores))
    missing = tuple(sorted(numbers_in(claim) - numbers_in(text)))
    start, end = spans[best]
    return Support(round(scores[best], 4), start, end, missing, scores[best] >= threshold and not missing)


def check_citations(
    text: str,
    passages: Sequence[Passage],
    embedder: TextEmbedder,
    *,
    strict: bool = False,
    threshold: float = SUPPORT_THRESHOLD,
    abstain_text: str = ABSTAIN_TEXT,
) -> CheckedAnswer:
    """Check, renumber and (with ``strict``) prune the citations of a generated answer.

    ``passages`` are the ones the model was shown as ``[1]..[k]``. The result
    abstains (text ``abstain_text``, no citations) when the answer opens by
    saying the passages do not hold the answer, or when none of its sentences
    is supported by a passage it cites.
    """
    sentences = split_answer(text)
    k = len(passages)
    invalid = sum(1 for m in parse_markers(text) for n in m.numbers if not 1 <= n <= k)
    checks = {"valid": 0, "invalid": invalid, "unsupported": 0}
    if not sentences or _says_not_found(sentences[0]):
        return CheckedAnswer(abstain_text, (), True, checks, meta={"abstain_reason": "model"})

    spans = {i: passage_sentences(passages[i].chunk.text) for s in sentences for i in _cited(s, k)}
    vectors = _embed_all(embedder, sentences, passages, spans)
    verdicts: list[dict[int, Support]] = []
    for j, sentence in enumerate(sentences):
        verdicts.append(
            {
                i: _support(sentence.text, vectors["answer"][j], passages[i], spans[i], vectors[i], threshold)
                for i in _cited(sentence, k)
            }
        )
    checks["valid"] = sum(len(v) for v in verdicts)

    unsupported: list[dict[str, Any]] = []
    keep: list[bool] = []
    for sentence, per_passage in zip(sentences, verdicts, strict=True):
        ok = any(v.supported for v in per_passage.values())
        claim = bool(content_terms(sentence.text)) and not _says_not_found(sentence)
        if claim and not ok:
            entry: dict[str, Any] = {
                "sentence": sentence.text,
                "cited": list(sentence.numbers),
                "score": max((v.score for v in per_passage.values()), default=0.0),
            }
            missing = sorted({n for v in per_passage.values() for n in v.missing_numbers})
            if missing:
                entry["missing_numbers"] = missing
            unsupported.append(entry)
        keep.append(ok or not claim or not strict)
    checks["unsupported"] = len(unsupported)
    if not any(v.supported for per_passage in verdicts for v in per_passage.values()):
        return CheckedAnswer(abstain_text, (), True, checks, tuple(unsupported), meta={"abstain_reason": "unsupported"})

    # renumber in order of first appearance and rewrite the markers
    numbering: dict[tuple[int, int, bool], int] = {}
    citations: list[Citation] = []
    pieces: list[str] = []
    dropped: list[str] = []
    cursor = 0
    for sentence, per_passage, kept in zip(sentences, verdicts, keep, strict=True):
        if not kept:
            dropped.append(sentence.text)
            cursor = sentence.end
            continue
        new_numbers: dict[int, int] = {}
        for i, verdict in per_passage.items():
            if strict and not verdict.supported:
                continue
            key = (i, verdict.quote_start, verdict.supported)
            if key not in numbering:
                numbering[key] = len(citations) + 1
                citations.append(_citation(numbering[key], passages[i], verdict))
            new_numbers[i + 1] = numbering[key]
        if pieces:
            pieces.append(text[cursor : sentence.start])
        pieces.append(_rewrite(text[sentence.start : sentence.end], sentence, new_numbers))
        cursor = sentence.end
    return CheckedAnswer(_tidy("".join(pieces)), tuple(citations), False, checks, tuple(unsupported), tuple(dropped))


def _says_not_found(sentence: AnswerSentence) -> bool:
    """An uncited sentence saying that the passages do not hold the answer."""
    return not sentence.markers and is_abstention(sentence.text)


def _cited(sentence: AnswerSentence, k: int) -> list[int]:
    """0-based indexes of the passages a sentence cites, valid numbers only."""
    return [n - 1 for n in sentence.numbers if 1 <= n <= k]


def _embed_all(
    embedder: TextEmbedder,
    sentences: Sequence[AnswerSentence],
    passages: Sequence[Passage],
    spans: dict[int, list[tuple[int, int]]],
) -> dict[int | str, np.ndarray]:
    """One embedding call for the answer sentences and the sentences of every cited passage."""
    texts = [s.text for s in sentences]
    ranges: dict[int, tuple[int, int]] = {}
    for i, passage_spans in spans.items():
        ranges[i] = (len(texts), len(texts) + len(passage_spans))
        texts.extend(passages[i].chunk.text[s:e] for s, e in passage_spans)
    matrix = np.asarray(embedder.embed(texts), dtype=np.float32)
    out: dict[int | str, np.ndarray] = {"answer": matrix[: len(sentences)]}
    for i, (a, b) in ranges.items():
        out[i] = matrix[a:b]
    return out


def _citation(n: int, passage: Passage, verdict: Support) -> Citation:
    chunk = passage.chunk
    page = chunk.meta.get("page")
    return Citation(
        n=n,
        doc_id=chunk.doc_id,
        title=str(chunk.meta.get("title", "")),
        source=str(chunk.meta.get("source", "")),
        chunk_id=chunk.id,
        start=chunk.start + verdict.quote_start,
        end=chunk.start + verdict.quote_end,
        quote=chunk.text[verdict.quote_start : verdict.quote_end],
        score=verdict.score,
        page=int(page) if isinstance(page, int) else None,
        passage=chunk.text,
        supported=verdict.supported,
    )


def _rewrite(segment: str, sentence: AnswerSentence, numbers: dict[int, int]) -> str:
    """``segment`` (the sentence's text) with each marker renumbered, or removed when nothing is left in it."""
    out: list[str] = []
    cursor = 0
    seen: set[int] = set()
    for marker in sentence.markers:
        a, b = marker.start - sentence.start, marker.end - sentence.start
        new = [numbers[n] for n in marker.numbers if n in numbers and numbers[n] not in seen]
        new = list(dict.fromkeys(new))
        seen.update(new)
        before = segment[cursor:a]
        if new:
            out.append(before + "[" + ", ".join(str(n) for n in new) + "]")
        else:
            out.append(before.rstrip(" \t"))
        cursor = b
    out.append(segment[cursor:])
    return "".join(out)


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()
