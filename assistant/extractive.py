"""The default answerer: no LLM, it quotes the sentences that best answer the question.

Every sentence of the answer is a verbatim quote of an indexed passage, followed
by its citation marker, so citations hold by construction. When no sentence is
close enough to the question, it abstains and returns the nearest passages.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import Stemmer

from assistant.answerer import final_answer, register_answerer
from assistant.config import Settings
from assistant.types import Answer, Citation, Passage
from index.embeddings import Embedder
from ingest.chunking import split_sentences

ABSTAIN_TEXT = "The documents do not contain an answer to this question."

# Function words and question words carry no evidence of an answer.
_STOPWORDS = frozenset(
    """a an and are as at be been but by can could did do does for from had has have how i if in into is it its
    me my of on or our so than that the their them then there these they this those to was we were what when where
    which while who whom whose why will with would you your about after before did does done any all also""".split()
)
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
_STEMMER = Stemmer.Stemmer("english")


def content_terms(text: str) -> set[str]:
    """Stemmed, lower-cased content words of ``text``."""
    words = [w.lower() for w in _WORD.findall(text)]
    return set(_STEMMER.stemWords([w for w in words if w not in _STOPWORDS]))


@dataclass(frozen=True)
class _Candidate:
    passage: Passage
    rank: int
    start: int  # in chunk text
    end: int
    text: str
    key: tuple[str, int]  # (doc_id, start in the document)


class ExtractiveAnswerer:
    """Selects 1..``answer_sentences`` quotable sentences and cites each one."""

    name = "extractive"

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.embedder = embedder
        self.max_sentences = settings.answer_sentences
        self.threshold = settings.abstain_threshold
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def answer(self, question: str, passages: Sequence[Passage]) -> Answer:
        return final_answer(self.stream(question, passages))

    def stream(self, question: str, passages: Sequence[Passage]) -> Iterator[str | Answer]:
        candidates = self._candidates(passages)
        scores, sims = self._score(question, candidates)
        best = float(scores.max()) if len(candidates) else 0.0
        if best < self.threshold:
            yield ABSTAIN_TEXT
            yield Answer(
                question=question,
                answer=ABSTAIN_TEXT,
                abstained=True,
                passages=tuple(passages),
                meta={"best_score": round(best, 4)},
            )
            return
        chosen = self._select(candidates, scores, sims)
        citations: list[Citation] = []
        parts: list[str] = []
        for n, i in enumerate(chosen, start=1):
            cand = candidates[i]
            chunk = cand.passage.chunk
            citations.append(
                Citation(
                    n=n,
                    doc_id=chunk.doc_id,
                    title=str(chunk.meta.get("title", "")),
                    source=str(chunk.meta.get("source", "")),
                    chunk_id=chunk.id,
                    start=chunk.start + cand.start,
                    end=chunk.start + cand.end,
                    quote=cand.text,
                    score=round(float(scores[i]), 4),
                    page=chunk.meta.get("page"),
                    passage=chunk.text,
                )
            )
            piece = f"{' '.join(cand.text.split())} [{n}]"
            parts.append(piece)
            yield piece if n == 1 else " " + piece
        yield Answer(
            question=question,
            answer=" ".join(parts),
            abstained=False,
            citations=tuple(citations),
            passages=tuple(passages),
            meta={"best_score": round(best, 4)},
        )

    # ------------------------------------------------------------------ internals

    def _candidates(self, passages: Sequence[Passage]) -> list[_Candidate]:
        seen: set[tuple[str, int]] = set()
        out: list[_Candidate] = []
        for rank, passage in enumerate(passages):
            chunk = passage.chunk
            for start, end in split_sentences(chunk.text):
                text = chunk.text[start:end]
                key = (chunk.doc_id, chunk.start + start)
                if key in seen or len(_WORD.findall(text)) < 4:
                    continue
                seen.add(key)
                out.append(_Candidate(passage, rank, start, end, text, key))
        return out

    def _score(self, question: str, candidates: list[_Candidate]) -> tuple[np.ndarray, np.ndarray]:
        """Score = 0.6 * cosine(question, sentence) + 0.4 * share of question terms in the sentence."""
        if not candidates:
            return np.zeros(0), np.zeros((0, 0))
        vectors = self._embed([c.text for c in candidates])
        query = self.embedder.embed_query(question)
        cosine = vectors @ query
        terms = content_terms(question)
        overlap = np.array(
            [len(terms & content_terms(c.text)) / len(terms) if terms else 0.0 for c in candidates]
        )
        rank_bonus = np.array([0.02 / (1 + c.rank) for c in candidates])
        return 0.6 * cosine + 0.4 * overlap + rank_bonus, vectors @ vectors.T

    def _select(self, candidates: list[_Candidate], scores: np.ndarray, sims: np.ndarray) -> list[int]:
        order = [int(i) for i in np.argsort(-scores)]
        floor = max(self.threshold, 0.75 * float(scores[order[0]]))
        chosen = [order[0]]
        for i in order[1:]:
            if len(chosen) >= self.max_sentences or scores[i] < floor:
                break
            if all(sims[i, j] < 0.85 for j in chosen):
                chosen.append(i)
        # documents in order of their best sentence; within a document, in reading order
        doc_rank = {candidates[i].key[0]: r for r, i in reversed(list(enumerate(chosen)))}
        return sorted(chosen, key=lambda i: (doc_rank[candidates[i].key[0]], candidates[i].key[1]))

    def _embed(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            for text, vector in zip(missing, self.embedder.embed(missing), strict=True):
                self._cache[text] = vector
                if len(self._cache) > 20_000:
                    self._cache.popitem(last=False)
        for t in texts:
            self._cache.move_to_end(t)
        return np.stack([self._cache[t] for t in texts])


@register_answerer("extractive")
def _extractive(settings: Settings, embedder: object) -> ExtractiveAnswerer:
    assert isinstance(embedder, Embedder)
    return ExtractiveAnswerer(settings, embedder)
