"""HybridRetriever over the real model, embedded Chroma and BM25."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from assistant.types import Chunk, Passage
from index.embeddings import Embedder
from index.lexical import LexicalIndex
from index.rerank import rescored
from index.retriever import HybridRetriever
from index.vector import VectorIndex
from tests.index.helpers import make_chunks

# Near-identical part codes defeat the dense model; paraphrases without shared words defeat BM25.
CORPUS = {
    "v9913": "Valve QX-9913 fits the older pumps sold before 2015.",
    "v9931": "Valve QX-9931 fits the newer pumps sold after 2015.",
    "v9193": "Valve QX-9193 fits the garden pumps and the fountain pumps.",
    "v3919": "Valve QX-3919 fits the pool pumps and the pond pumps.",
    "v9139": "Valve QX-9139 fits the diesel pumps on fishing boats.",
    "v1993": "Valve QX-1993 fits the hand pumps used on farms.",
    "exercise": "Regular aerobic exercise strengthens the cardiovascular system and lowers blood pressure.",
    "market": "The heart of the old city is its busy market square.",
    "snacks": "Healthier snacks are sold at the station kiosk in the morning.",
    "river": "The river floods the valley every spring after the snow melts.",
}
QUERIES = {
    "Which pumps does valve QX-9913 fit?": "v9913",
    "Which pumps does valve QX-3919 fit?": "v3919",
    "Which pumps does valve QX-1993 fit?": "v1993",
    "Which pumps does valve QX-9139 fit?": "v9139",
    "How can I make my heart healthier?": "exercise",
    "ways to keep your ticker in good shape": "exercise",
}
TOP_K = 2


@pytest.fixture(scope="module")
def indexes(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> tuple[VectorIndex, LexicalIndex]:
    chunks = [c for doc_id, text in CORPUS.items() for c in make_chunks(doc_id, [text])]
    vector = VectorIndex(tmp_path_factory.mktemp("retriever") / "chroma")
    vector.add(chunks, embedder.embed([c.text for c in chunks]))
    lexical = LexicalIndex(None)
    lexical.add(chunks)
    lexical.commit()
    return vector, lexical


def _retriever(embedder: Embedder, indexes: tuple[VectorIndex, LexicalIndex], **kwargs: object) -> HybridRetriever:
    return HybridRetriever(embedder, *indexes, **kwargs)  # type: ignore[arg-type]


def _hits(retriever: HybridRetriever) -> int:
    """Queries whose relevant document is within the top TOP_K."""
    return sum(want in [p.chunk.doc_id for p in retriever.retrieve(query, TOP_K)] for query, want in QUERIES.items())


@pytest.mark.slow
def test_hybrid_beats_or_equals_each_single_retriever(
    embedder: Embedder, indexes: tuple[VectorIndex, LexicalIndex]
) -> None:
    dense = _hits(_retriever(embedder, indexes, fusion="dense"))
    bm25 = _hits(_retriever(embedder, indexes, fusion="bm25"))
    convex = _hits(_retriever(embedder, indexes, fusion="convex", alpha=0.5))
    rrf = _hits(_retriever(embedder, indexes, fusion="rrf"))
    assert dense < len(QUERIES) and bm25 < len(QUERIES)  # each retriever alone fails somewhere
    assert convex == len(QUERIES)
    assert convex >= max(dense, bm25)
    assert rrf >= max(dense, bm25)


def test_each_fusion_returns_top_k_best_first_with_meta(
    embedder: Embedder, indexes: tuple[VectorIndex, LexicalIndex]
) -> None:
    expected_keys = {
        "convex": {"dense_score", "dense_rank"},
        "rrf": {"dense_score", "dense_rank"},
        "dense": {"dense_score", "dense_rank"},
        "bm25": {"bm25_score", "bm25_rank"},
    }
    for fusion, keys in expected_keys.items():
        out = _retriever(embedder, indexes, fusion=fusion).retrieve("Which pumps does valve QX-9913 fit?", 3)
        assert len(out) == 3, fusion
        assert [p.score for p in out] == sorted((p.score for p in out), reverse=True), fusion
        assert keys <= set(out[0].meta), fusion
    both = _retriever(embedder, indexes, fusion="convex").retrieve("valve QX-9913", 1)[0]
    assert {"dense_score", "bm25_score", "dense_rank", "bm25_rank"} <= set(both.meta)


def test_doc_filter_applies_to_both_retrievers(embedder: Embedder, indexes: tuple[VectorIndex, LexicalIndex]) -> None:
    allowed = {"river", "market"}
    for fusion in ("convex", "rrf", "dense", "bm25"):
        out = _retriever(embedder, indexes, fusion=fusion).retrieve("valve QX-9913 heart", 5, doc_ids=allowed)
        assert out, fusion
        assert {p.chunk.doc_id for p in out} <= allowed, fusion
    assert _retriever(embedder, indexes).retrieve("valve", 5, doc_ids=[]) == []


def test_reranker_reorders_the_fused_candidates(embedder: Embedder, indexes: tuple[VectorIndex, LexicalIndex]) -> None:
    class ShortestFirst:
        def __init__(self) -> None:
            self.seen = 0

        def rerank(self, query: str, passages: Sequence[Passage]) -> list[Passage]:
            self.seen = len(passages)
            return rescored(passages, [-len(p.chunk.text) for p in passages])

    reranker = ShortestFirst()
    retriever = _retriever(embedder, indexes, reranker=reranker, rerank_depth=6, rerank_weight=1.0)
    out = retriever.retrieve("Which pumps does valve QX-9913 fit?", 3)
    assert reranker.seen == 6
    lengths = [len(p.chunk.text) for p in out]
    assert lengths == sorted(lengths)
    assert all("fused_score" in p.meta for p in out)
    # weight 0: the reranker is asked, but the fused order stands
    plain = _retriever(embedder, indexes).retrieve("Which pumps does valve QX-9913 fit?", 3)
    kept = _retriever(embedder, indexes, reranker=reranker, rerank_weight=0.0).retrieve(
        "Which pumps does valve QX-9913 fit?", 3
    )
    assert [p.chunk.id for p in kept] == [p.chunk.id for p in plain]
    assert [p.meta["rerank_score"] for p in kept] == [-len(p.chunk.text) for p in kept]
    # asked for more than it reranks: the rest follow in fused order, unscored by the reranker
    deep = _retriever(embedder, indexes, reranker=reranker, rerank_depth=2).retrieve("valve QX-9913 pumps", 6)
    fused = _retriever(embedder, indexes).retrieve("valve QX-9913 pumps", 6)
    assert reranker.seen == 2
    assert [p.chunk.id for p in deep[2:]] == [p.chunk.id for p in fused[2:]]
    assert {p.chunk.id for p in deep[:2]} == {p.chunk.id for p in fused[:2]}
    assert all("rerank_score" not in p.meta for p in deep[2:])


def test_invalid_settings(embedder: Embedder, tmp_path: Path) -> None:
    vector, lexical = VectorIndex(tmp_path / "chroma"), LexicalIndex(None)
    with pytest.raises(ValueError, match="fusion"):
        HybridRetriever(embedder, vector, lexical, fusion="sum")
    with pytest.raises(ValueError, match="alpha"):
        HybridRetriever(embedder, vector, lexical, alpha=2.0)
    with pytest.raises(ValueError, match="rerank_weight"):
        HybridRetriever(embedder, vector, lexical, rerank_weight=1.5)
    retriever = HybridRetriever(embedder, vector, lexical)
    assert retriever.retrieve("anything", 5) == []  # empty indexes


def test_chunks_come_back_whole(embedder: Embedder, indexes: tuple[VectorIndex, LexicalIndex]) -> None:
    out = _retriever(embedder, indexes).retrieve("river floods valley", 1)
    assert out[0].chunk == Chunk(
        id="river:0",
        doc_id="river",
        text=CORPUS["river"],
        start=0,
        end=len(CORPUS["river"]),
        meta={"title": "River", "source": "/data/river.txt", "page": None},
    )


def test_a_pdf_page_takes_one_place_while_other_pages_are_left(embedder: Embedder, tmp_path: Path) -> None:
    # a made-up filing: page 1 holds two close matches, page 2 the one that says how often to service the valve
    pages = {
        "Valve QX-7 fits the harbour pumps.": 1,
        "Valve QX-7 is sold for the harbour pumps in boxes of ten.": 1,
        "Valve QX-7 needs a new seal each year.": 2,
        "The harbour office opens at nine.": 3,
    }
    context = "Harbourline Pumps Inc. 10-K FY2031"  # the header ingest writes for an identified document
    chunks = [
        c.model_copy(update={"meta": {**c.meta, "page": pages[c.text], "context": context}})
        for c in make_chunks("manual", list(pages))
    ]
    vector = VectorIndex(tmp_path / "chroma")
    vector.add(chunks, embedder.embed([c.text for c in chunks]))
    lexical = LexicalIndex(None)
    lexical.add(chunks)
    lexical.commit()
    query = "Which harbour pumps does valve QX-7 fit, and how is it sold?"
    crowded = HybridRetriever(embedder, vector, lexical, per_page=None).retrieve(query, 2)
    assert [p.chunk.meta["page"] for p in crowded] == [1, 1]
    spread = HybridRetriever(embedder, vector, lexical, per_page=1).retrieve(query, 3)
    assert [p.chunk.meta["page"] for p in spread][:2] == [1, 2]
    assert spread[0].chunk.id == crowded[0].chunk.id
    with pytest.raises(ValueError):
        HybridRetriever(embedder, vector, lexical, per_page=0)
