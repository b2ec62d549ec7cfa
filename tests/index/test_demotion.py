"""Boilerplate demotion in HybridRetriever, over the real model, embedded Chroma and BM25."""

from __future__ import annotations

import pytest

from assistant.types import Chunk
from index.embeddings import Embedder
from index.lexical import LexicalIndex
from index.retriever import HybridRetriever, asked_kinds, demote_boilerplate
from index.vector import VectorIndex
from tests.index.helpers import make_chunks, passage

# The same text in both documents: the same dense and BM25 scores, so only the demotion can order them. The
# boilerplate one's id sorts first, so without demotion it wins the tie.
TEXT = "The quarterly report of the kettle maker was reviewed by its chief executive officer in May."
OTHER = "Rainfall in the valley doubled during the spring and the river flooded the lower fields."


@pytest.fixture(scope="module")
def indexes(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> tuple[VectorIndex, LexicalIndex]:
    chunks: list[Chunk] = [
        *make_chunks("aboiler", [TEXT], boilerplate="certification"),
        *make_chunks("bplain", [TEXT]),
        *make_chunks("cother", [OTHER]),
    ]
    vector = VectorIndex(tmp_path_factory.mktemp("demotion") / "chroma")
    vector.add(chunks, embedder.embed([c.indexed_text for c in chunks]))
    lexical = LexicalIndex(None)
    lexical.add(chunks)
    lexical.commit()
    return vector, lexical


@pytest.mark.parametrize("fusion", ["convex", "rrf", "dense", "bm25"])
def test_boilerplate_falls_behind_an_ordinary_passage_with_the_same_raw_score(
    embedder: Embedder, indexes: tuple[VectorIndex, LexicalIndex], fusion: str
) -> None:
    retriever = HybridRetriever(embedder, *indexes, fusion=fusion)
    out = retriever.retrieve("What did the chief executive review in the quarterly report?", 3)
    assert [p.chunk.doc_id for p in out[:2]] == ["bplain", "aboiler"]
    assert out[1].score < out[0].score
    assert out[1].meta["boilerplate_score"] >= out[0].score - 1e-9  # its raw score was as high (rrf: higher)


def test_a_query_that_asks_for_the_kind_keeps_it_undemoted(
    embedder: Embedder, indexes: tuple[VectorIndex, LexicalIndex]
) -> None:
    retriever = HybridRetriever(embedder, *indexes)
    out = retriever.retrieve("Who certified the quarterly report reviewed by the chief executive officer?", 3)
    assert [p.chunk.doc_id for p in out[:2]] == ["aboiler", "bplain"]
    assert out[0].score == pytest.approx(out[1].score)
    assert "boilerplate_score" not in out[0].meta


def test_factor_one_leaves_the_order_alone(embedder: Embedder, indexes: tuple[VectorIndex, LexicalIndex]) -> None:
    out = HybridRetriever(embedder, *indexes, boilerplate_factor=1.0).retrieve("chief executive quarterly report", 2)
    assert [p.chunk.doc_id for p in out] == ["aboiler", "bplain"]
    with pytest.raises(ValueError, match="boilerplate_factor"):
        HybridRetriever(embedder, *indexes, boilerplate_factor=0.0)


def test_demotion_is_stable_and_makes_negative_scores_worse() -> None:
    plain = [passage("a:0", 2.0), passage("b:0", 0.5), passage("c:0", -0.6), passage("d:0", -1.0)]
    bad = plain[2].chunk.model_copy(update={"meta": {"boilerplate": "signatures"}})
    given = [plain[0], plain[1], plain[2].model_copy(update={"chunk": bad}), plain[3]]
    out = demote_boilerplate(given, "What was revenue?", 0.5)
    assert [p.chunk.id for p in out] == ["a:0", "b:0", "d:0", "c:0"]  # a z-score of -0.6 becomes -1.2, not -0.3
    assert out[3].score == pytest.approx(-1.2) and out[3].meta["boilerplate_score"] == -0.6
    assert [p.score for p in out[:3]] == [2.0, 0.5, -1.0]


def test_query_words_name_the_kinds_they_ask_for() -> None:
    assert asked_kinds("Who certified the 10-K?") == {"certification"}
    assert asked_kinds("What does the safe harbor notice say about forward-looking statements?") == {"forward_looking"}
    assert asked_kinds("Which exhibits are incorporated by reference?") == {"exhibits"}
    assert asked_kinds("Who signed the annual report?") == {"signatures"}
    assert asked_kinds("How much did revenue grow in 2021?") == frozenset()
