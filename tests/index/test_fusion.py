"""Fusion maths on hand-made passage lists."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.types import Passage
from index.fusion import blend_reranked, fuse_convex, fuse_rrf, prefer_documents, spread_pages
from tests.index.helpers import passage

DENSE = [passage("a", 0.9), passage("b", 0.7), passage("c", 0.5)]
BM25 = [passage("c", 10.0), passage("d", 4.0)]


def _scores(fused: list[Passage]) -> dict[str, float]:
    return {p.chunk.id: p.score for p in fused}


def test_convex_min_max_normalises_and_weights() -> None:
    fused = fuse_convex(DENSE, BM25, alpha=0.6)
    # dense normalised: a=1, b=0.5, c=0; bm25 normalised: c=1, d=0; missing counts 0
    expected = {"a": 0.6 * 1.0, "b": 0.6 * 0.5, "c": 0.6 * 0.0 + 0.4 * 1.0, "d": 0.0}
    assert _scores(fused) == pytest.approx(expected)
    assert [p.chunk.id for p in fused] == ["a", "c", "b", "d"]


def test_convex_extremes_follow_one_list() -> None:
    assert [p.chunk.id for p in fuse_convex(DENSE, BM25, alpha=1.0)][:3] == ["a", "b", "c"]
    bm25_only = fuse_convex(DENSE, BM25, alpha=0.0)
    assert bm25_only[0].chunk.id == "c"
    # the lowest BM25 hit normalises to 0, the same as a passage BM25 did not return
    assert _scores(bm25_only) == pytest.approx({"c": 1.0, "a": 0.0, "b": 0.0, "d": 0.0})


def test_fused_meta_keeps_the_raw_scores_and_ranks() -> None:
    by_id = {p.chunk.id: p for p in fuse_convex(DENSE, BM25)}
    assert by_id["c"].meta == {"dense_score": 0.5, "dense_rank": 3, "bm25_score": 10.0, "bm25_rank": 1}
    assert by_id["a"].meta == {"dense_score": 0.9, "dense_rank": 1}
    assert by_id["d"].meta == {"bm25_score": 4.0, "bm25_rank": 2}
    assert {p.chunk.id: p.meta for p in fuse_rrf(DENSE, BM25)} == {p.chunk.id: p.meta for p in by_id.values()}


def test_equal_scores_normalise_to_one() -> None:
    fused = fuse_convex([passage("a", 0.3), passage("b", 0.3)], [passage("b", 2.0)], alpha=0.5)
    assert _scores(fused) == pytest.approx({"a": 0.5, "b": 1.0})


def test_rrf_sums_reciprocal_ranks() -> None:
    fused = fuse_rrf(DENSE, BM25, k=60)
    expected = {"a": 1 / 61, "b": 1 / 62, "c": 1 / 63 + 1 / 61, "d": 1 / 62}
    assert _scores(fused) == pytest.approx(expected)
    assert [p.chunk.id for p in fused][:2] == ["c", "a"]
    assert _scores(fuse_rrf(DENSE, BM25, k=0))["c"] == pytest.approx(1 / 3 + 1)


def test_unsorted_input_is_ranked_by_score() -> None:
    assert _scores(fuse_rrf(list(reversed(DENSE)), BM25)) == pytest.approx(_scores(fuse_rrf(DENSE, BM25)))


def test_empty_inputs() -> None:
    assert fuse_convex([], []) == []
    assert fuse_rrf([], []) == []
    assert [p.chunk.id for p in fuse_convex(DENSE, [], alpha=0.5)] == ["a", "b", "c"]


def test_invalid_parameters() -> None:
    with pytest.raises(ValueError):
        fuse_convex(DENSE, BM25, alpha=1.5)
    with pytest.raises(ValueError):
        fuse_rrf(DENSE, BM25, k=-1)


_lists = st.lists(
    st.tuples(st.sampled_from("abcdefgh"), st.floats(min_value=-5, max_value=50, allow_nan=False)),
    max_size=8,
    unique_by=lambda t: t[0],
)


@given(_lists, _lists, st.floats(min_value=0, max_value=1))
def test_fusion_invariants(dense: list[tuple[str, float]], bm25: list[tuple[str, float]], alpha: float) -> None:
    dense_p = [passage(i, s) for i, s in dense]
    bm25_p = [passage(i, s) for i, s in bm25]
    union = {i for i, _ in dense} | {i for i, _ in bm25}
    for fused in (fuse_convex(dense_p, bm25_p, alpha=alpha), fuse_rrf(dense_p, bm25_p)):
        assert sorted(p.chunk.id for p in fused) == sorted(union)
        scores = [p.score for p in fused]
        assert scores == sorted(scores, reverse=True)
    for p in fuse_convex(dense_p, bm25_p, alpha=alpha):
        assert -1e-9 <= p.score <= 1 + 1e-9


# ------------------------------------------------------------------ blending a reranker's scores

GIVEN = [passage("a", 0.9), passage("b", 0.6), passage("c", 0.3)]  # fused: z-scores 1.22, 0, -1.22
RERANKED = [passage("c", 5.0), passage("b", 1.0), passage("a", -3.0)]  # reranker: z-scores 1.22, 0, -1.22


def test_blend_extremes_follow_one_score() -> None:
    assert [p.chunk.id for p in blend_reranked(GIVEN, RERANKED, weight=1.0)] == ["c", "b", "a"]
    assert [p.chunk.id for p in blend_reranked(GIVEN, RERANKED, weight=0.0)] == ["a", "b", "c"]


def test_blend_weighs_standardised_scores_and_keeps_both() -> None:
    z = 1.5**0.5  # the z-score of the best and worst of three evenly spaced values
    out = {p.chunk.id: p for p in blend_reranked(GIVEN, RERANKED, weight=0.7)}
    assert out["c"].score == pytest.approx(0.7 * z - 0.3 * z)
    assert out["a"].score == pytest.approx(-0.7 * z + 0.3 * z)
    assert out["b"].score == pytest.approx(0.0)
    assert out["c"].meta["rerank_score"] == 5.0 and out["c"].meta["fused_score"] == 0.3
    # a reranker's scale does not matter, only how it spreads its scores
    scaled = [passage(p.chunk.id, 100 * p.score) for p in RERANKED]
    assert [p.chunk.id for p in blend_reranked(GIVEN, scaled, weight=0.7)] == list(out)


def test_blend_rejects_a_reranker_that_drops_or_invents_passages() -> None:
    with pytest.raises(ValueError, match="each once"):
        blend_reranked(GIVEN, RERANKED[:2])
    with pytest.raises(ValueError, match="each once"):
        blend_reranked(GIVEN, [*RERANKED[:2], passage("z", 1.0)])
    with pytest.raises(ValueError, match="weight"):
        blend_reranked(GIVEN, RERANKED, weight=-0.1)


# ------------------------------------------------------------------ one passage per page


def _paged(chunk_id: str, score: float, page: int | None, context: str = "Deedwell Corp. 10-K FY2031") -> Passage:
    """A passage of a PDF page; ``context`` is the header ingest writes for documents it identified (filings)."""
    p = passage(chunk_id, score)
    return p.model_copy(update={"chunk": p.chunk.model_copy(update={"meta": {"page": page, "context": context}})})


def test_spread_pages_puts_a_page_s_second_passage_after_the_other_pages() -> None:
    # a made-up filing: page 7's statement rows fill two chunks; page 9 (the note that answers) ranks third
    ranked = [_paged("deed:1", 0.9, 7), _paged("deed:2", 0.8, 7), _paged("deed:3", 0.7, 9), _paged("deed:4", 0.6, 9)]
    assert [p.chunk.id for p in spread_pages(ranked, 1)] == ["deed:1", "deed:3", "deed:2", "deed:4"]
    assert [p.chunk.id for p in spread_pages(ranked, 2)] == ["deed:1", "deed:2", "deed:3", "deed:4"]
    assert [p.chunk.id for p in spread_pages(ranked, None)] == ["deed:1", "deed:2", "deed:3", "deed:4"]
    assert [p.score for p in spread_pages(ranked, 1)] == [0.9, 0.7, 0.8, 0.6]  # scores are not changed


def test_spread_pages_keys_by_document_and_leaves_pageless_passages_alone() -> None:
    ranked = [_paged("a:1", 0.9, 3), _paged("b:1", 0.8, 3), _paged("a:2", 0.7, 3), _paged("txt:1", 0.6, None)]
    ranked.append(_paged("txt:2", 0.5, None))
    # page 3 of document a is not page 3 of document b; text documents (no page) keep their places
    assert [p.chunk.id for p in spread_pages(ranked, 1)] == ["a:1", "b:1", "txt:1", "txt:2", "a:2"]
    with pytest.raises(ValueError):
        spread_pages(ranked, 0)


def test_spread_pages_leaves_documents_ingest_did_not_identify_alone() -> None:
    # a paper (no entity, form or period: no context header): a page's neighbouring chunks carry one argument
    ranked = [_paged("paper:1", 0.9, 4, ""), _paged("paper:2", 0.8, 4, ""), _paged("paper:3", 0.7, 5, "")]
    assert [p.chunk.id for p in spread_pages(ranked, 1)] == ["paper:1", "paper:2", "paper:3"]


def test_prefer_documents_spreads_pages_after_its_own_ordering() -> None:
    ranked = [_paged("old:1", 0.95, 2), _paged("new:1", 0.9, 4), _paged("new:2", 0.85, 4), _paged("new:3", 0.5, 6)]
    picked = prefer_documents(ranked, {"new"}, 3, factor=0.5, per_document=None, per_page=1)
    assert [p.chunk.id for p in picked] == ["new:1", "new:3", "old:1"]
    unspread = prefer_documents(ranked, {"new"}, 3, factor=0.5, per_document=None, per_page=None)
    assert [p.chunk.id for p in unspread] == ["new:1", "new:2", "new:3"]
