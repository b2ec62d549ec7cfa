"""Hybrid retrieval: dense (Chroma) and lexical (BM25) candidates, fused, optionally reranked."""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Sequence
from typing import Final

from assistant.types import Passage
from index.embeddings import Embedder
from index.fusion import PER_PAGE, blend_reranked, fuse_convex, fuse_rrf, spread_pages
from index.lexical import LexicalIndex
from index.rerank import Reranker
from index.vector import VectorIndex

log = logging.getLogger(__name__)

FUSIONS: Final = ("convex", "rrf", "dense", "bm25")

# A boilerplate chunk's score (``Chunk.meta["boilerplate"]``, set by ``ingest.boilerplate``) is multiplied by
# this unless the query asks for that kind. Measured in docs/context.md on Uber's 10-K (tune half of
# eval/uber_10k.jsonl): boilerplate chunks reached the top 5 of content questions because they share the
# filing's vocabulary; at 0.5 none of them stays above an ordinary passage with a fused score within a
# factor of two of its own, while a question that names the kind still gets it first.
BOILERPLATE_FACTOR: Final = 0.5
# Query words that ask for a kind of boilerplate: such a query gets it undemoted.
_ASKS_FOR: Final = {
    "certification": re.compile(r"\bcertif\w*|\bsarbanes|\bsox\b|\bsection\s*(?:302|906)\b", re.IGNORECASE),
    "forward_looking": re.compile(r"forward[\s\-]*looking|\bsafe[\s\-]*harbou?r|\bcautionary", re.IGNORECASE),
    "exhibits": re.compile(
        r"\bexhibits?\b|\bincorporated\s+by\s+reference|\bregistration\s+statements?|\bconsent", re.IGNORECASE
    ),
    "signatures": re.compile(r"\bsign(?:s|ed|er|ers|ing|atory|atories|ature|atures)?\b|\battorney", re.IGNORECASE),
    "contents": re.compile(r"\bcontents\b|\boutline\b|\bwhich\s+(?:items|sections|parts)\b", re.IGNORECASE),
}


def asked_kinds(query: str) -> frozenset[str]:
    """The boilerplate kinds ``query`` asks for ("Who certified the report?": certification)."""
    return frozenset(kind for kind, words in _ASKS_FOR.items() if words.search(query))


def _demoted_score(score: float, factor: float) -> float:
    """``score`` made worse by ``factor``: multiplied when positive, divided when negative (z-scores)."""
    return score * factor if score >= 0 else score / factor


def demote_boilerplate(passages: Sequence[Passage], query: str, factor: float = BOILERPLATE_FACTOR) -> list[Passage]:
    """Boilerplate passages the query does not ask for, with their score demoted by ``factor`` and the list
    re-sorted (stable: the others keep their order); the undemoted score is kept as ``meta["boilerplate_score"]``.
    """
    asked = asked_kinds(query)
    out: list[Passage] = []
    changed = False
    for p in passages:
        kind = p.chunk.meta.get("boilerplate")
        if kind and kind not in asked:
            meta = {**p.meta, "boilerplate_score": p.score}
            out.append(p.model_copy(update={"score": _demoted_score(p.score, factor), "meta": meta}))
            changed = True
        else:
            out.append(p)
    if not changed:
        return out
    order = sorted(range(len(out)), key=lambda i: (-out[i].score, i))
    return [out[i] for i in order]


def _single(passages: Sequence[Passage], kind: str) -> list[Passage]:
    """One retriever's list with the same meta keys the fused lists carry."""
    return [
        p.model_copy(update={"meta": {**p.meta, f"{kind}_score": p.score, f"{kind}_rank": rank}})
        for rank, p in enumerate(passages, 1)
    ]


class HybridRetriever:
    """Retrieves passages for a query from both indexes and fuses them.

    ``fusion`` is ``convex`` (``alpha`` weighs dense against BM25 after min-max
    normalisation), ``rrf`` (reciprocal rank fusion), ``dense`` or ``bm25``
    (one retriever alone). Each retriever contributes ``candidates`` passages;
    a reranker, if given, rescores the best ``rerank_depth`` fused passages, and they are ordered by
    ``rerank_weight`` times its standardised score plus the rest times the standardised fused score
    (``index.fusion.blend_reranked``; 1: the reranker's order alone). Passages below ``rerank_depth`` (when
    ``top_k`` asks for more) follow in fused order with their fused score. Boilerplate chunks (certifications,
    forward-looking-statement notices, exhibit lists, signatures, contents) are then demoted by
    ``boilerplate_factor`` unless the query asks for their kind (``demote_boilerplate``). Last, no page of a
    document (PDFs) takes more than ``per_page`` places while passages of other pages are left
    (``index.fusion.spread_pages``; None: off).
    """

    def __init__(
        self,
        embedder: Embedder,
        vector: VectorIndex,
        lexical: LexicalIndex,
        *,
        fusion: str = "convex",
        alpha: float = 0.5,
        candidates: int = 50,
        reranker: Reranker | None = None,
        rerank_depth: int = 20,
        rerank_weight: float = 0.7,
        rrf_k: int = 60,
        boilerplate_factor: float = BOILERPLATE_FACTOR,
        per_page: int | None = PER_PAGE,
    ) -> None:
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; expected one of {', '.join(FUSIONS)}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be within [0, 1], not {alpha}")
        if not 0.0 <= rerank_weight <= 1.0:
            raise ValueError(f"rerank_weight must be within [0, 1], not {rerank_weight}")
        if candidates < 1:
            raise ValueError(f"candidates must be at least 1, not {candidates}")
        self.embedder = embedder
        self.vector = vector
        self.lexical = lexical
        self.fusion = fusion
        self.alpha = alpha
        self.candidates = candidates
        self.reranker = reranker
        self.rerank_depth = rerank_depth
        self.rerank_weight = rerank_weight
        self.rrf_k = rrf_k
        if not 0.0 < boilerplate_factor <= 1.0:
            raise ValueError(f"boilerplate_factor must be within (0, 1], not {boilerplate_factor}")
        self.boilerplate_factor = boilerplate_factor
        if per_page is not None and per_page < 1:
            raise ValueError(f"per_page must be at least 1, not {per_page}")
        self.per_page = per_page

    def retrieve(self, query: str, top_k: int, doc_ids: Collection[str] | None = None) -> list[Passage]:
        """The ``top_k`` best passages for ``query``, optionally only from ``doc_ids``; best first."""
        if top_k <= 0 or (doc_ids is not None and len(doc_ids) == 0):
            return []
        n = max(self.candidates, top_k)
        dense: list[Passage] = []
        lexical: list[Passage] = []
        if self.fusion != "bm25":
            dense = self.vector.search(self.embedder.embed_query(query), n, doc_ids)
        if self.fusion != "dense":
            lexical = self.lexical.search(query, n, doc_ids)
        if self.fusion == "convex":
            fused = fuse_convex(dense, lexical, alpha=self.alpha)
        elif self.fusion == "rrf":
            fused = fuse_rrf(dense, lexical, k=self.rrf_k)
        elif self.fusion == "dense":
            fused = _single(dense, "dense")
        else:
            fused = _single(lexical, "bm25")
        if self.reranker is not None and fused:
            head, tail = fused[: self.rerank_depth], fused[self.rerank_depth :]
            blended = blend_reranked(head, self.reranker.rerank(query, head), weight=self.rerank_weight)
            # the head's blended z-scores and the tail's fused scores are on different scales: each is demoted
            # and re-sorted on its own, so the head stays ahead of the tail
            fused = demote_boilerplate(blended, query, self.boilerplate_factor) + demote_boilerplate(
                tail, query, self.boilerplate_factor
            )
        else:
            fused = demote_boilerplate(fused, query, self.boilerplate_factor)
        fused = spread_pages(fused, self.per_page)
        log.debug("retrieved %d dense + %d bm25 -> %d fused for %r", len(dense), len(lexical), len(fused), query)
        return fused[:top_k]
