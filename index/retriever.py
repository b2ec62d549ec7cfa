"""Hybrid retrieval: dense (Chroma) and lexical (BM25) candidates, fused, optionally reranked."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from typing import Final

from assistant.types import Passage
from index.embeddings import Embedder
from index.fusion import blend_reranked, fuse_convex, fuse_rrf
from index.lexical import LexicalIndex
from index.rerank import Reranker
from index.vector import VectorIndex

log = logging.getLogger(__name__)

FUSIONS: Final = ("convex", "rrf", "dense", "bm25")


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
    ``top_k`` asks for more) follow in fused order with their fused score.
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
            fused = blend_reranked(head, self.reranker.rerank(query, head), weight=self.rerank_weight) + tail
        log.debug("retrieved %d dense + %d bm25 -> %d fused for %r", len(dense), len(lexical), len(fused), query)
        return fused[:top_k]
