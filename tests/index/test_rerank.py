"""The reranker registry, with a small reranker registered through it, and the cross-encoder factory."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from assistant.types import Passage
from index.embeddings import default_model_path
from index.errors import IndexStoreError, ModelUnavailable
from index.rerank import (
    MODEL_ENV,
    Reranker,
    create_reranker,
    register_reranker,
    reranker_names,
    rescored,
    unregister_reranker,
)
from tests.index.helpers import make_chunks


class OverlapReranker:
    """Scores a passage by how many query words it contains (optionally only words of a minimum length)."""

    def __init__(self, min_length: int) -> None:
        self.min_length = min_length

    def rerank(self, query: str, passages: Sequence[Passage]) -> list[Passage]:
        words = {w for w in query.lower().split() if len(w) >= self.min_length}
        return rescored(passages, [len(words & set(p.chunk.text.lower().split())) for p in passages])


@pytest.fixture
def overlap() -> Iterator[str]:
    @register_reranker("test-overlap")
    def factory(option: str) -> Reranker:
        return OverlapReranker(int(option or "1"))

    yield "test-overlap"
    unregister_reranker("test-overlap")


PASSAGES = [
    Passage(chunk=c, score=s)
    for c, s in zip(
        make_chunks("doc", ["red apples", "green apples and pears", "blue sky"]), [0.9, 0.5, 0.4], strict=True
    )
]


def test_registered_reranker_is_created_by_name(overlap: str) -> None:
    assert overlap in reranker_names()
    assert "cross-encoder" in reranker_names()
    reranker = create_reranker(overlap)
    assert isinstance(reranker, OverlapReranker)
    assert create_reranker(f"{overlap}:4").min_length == 4  # type: ignore[attr-defined]


def test_reranking_reorders_and_keeps_the_fused_score(overlap: str) -> None:
    out = create_reranker(overlap).rerank("green pears", PASSAGES)
    assert [p.chunk.text for p in out][0] == "green apples and pears"
    assert out[0].score == 2
    assert out[0].meta == {"fused_score": 0.5, "rerank_score": 2.0}
    assert sorted(p.chunk.id for p in out) == sorted(p.chunk.id for p in PASSAGES)


def test_unknown_and_duplicate_names(overlap: str) -> None:
    with pytest.raises(IndexStoreError, match="unknown reranker 'nope'.*test-overlap"):
        create_reranker("nope")
    with pytest.raises(ValueError, match="already registered"):
        register_reranker(overlap)(lambda option: OverlapReranker(1))
    with pytest.raises(ValueError):
        register_reranker("bad:name")


def test_unregister_removes_the_name(overlap: str) -> None:
    unregister_reranker(overlap)
    assert overlap not in reranker_names()


def test_cross_encoder_without_a_model_fails_clearly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(MODEL_ENV, raising=False)
    with pytest.raises(ModelUnavailable, match=MODEL_ENV):
        create_reranker("cross-encoder")
    with pytest.raises(ModelUnavailable, match="does not exist"):
        create_reranker(f"cross-encoder:{tmp_path / 'missing'}")
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "also-missing"))
    with pytest.raises(ModelUnavailable, match="also-missing"):
        create_reranker("cross-encoder")


@pytest.mark.slow
def test_cross_encoder_plumbing_with_a_local_model() -> None:
    """A CrossEncoder built offline from the local MiniLM weights (its head is untrained: only the wiring counts)."""
    reranker = create_reranker(f"cross-encoder:{default_model_path()}")
    out = reranker.rerank("green pears", PASSAGES)
    assert sorted(p.chunk.id for p in out) == sorted(p.chunk.id for p in PASSAGES)
    scores = [p.score for p in out]
    assert scores == sorted(scores, reverse=True)
    assert all(p.meta["rerank_score"] == p.score for p in out)
    assert {p.chunk.id: p.meta["fused_score"] for p in out} == {p.chunk.id: p.score for p in PASSAGES}
    assert reranker.rerank("anything", []) == []
