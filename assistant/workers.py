"""Ingest fanned out: files read, cut and embedded by N worker processes (``assistant ingest --workers N``) or by
Ray tasks (``ASSISTANT_RAY_ADDRESS``, or ``--ray auto`` for a local Ray), written by this process alone.

The workers never open the data directory. Each gets a ``Recipe`` (the settings that decide a document's text,
chunks and vectors) and a batch of files, and sends back each file's document, chunks (cut under the content id,
as the streamed ingest's reader cuts them) and vectors, or the file's one-line error. This module only produces
those results: it hands them, in file order, to ``Assistant.ingest`` as its ``prepare`` (a ``Preparer``), and the
service writes them as it writes its own reader's (catalog rows, pools of chunks, a commit every
``commit_every_docs`` documents or ``commit_every_s`` seconds), with the given vectors instead of embedding. So a
killed run loses only what came after its last commit and the same command continues from there; same files, same
document and chunk ids as one process (tests/assistant/test_ingest_workers.py).

Local workers get the paths (same machine); Ray tasks get the bytes (a worker may be on another machine, and only
the suffix and the bytes decide what ``read_document`` makes of a file). Each worker process loads the model once.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.pipeline import Job, Prepared
from assistant.types import Chunk, Document, IngestReport
from ingest.errors import IngestError

if TYPE_CHECKING:
    from assistant.config import Settings
    from assistant.service import Assistant, PreparedStream
    from index.embeddings import Embedder

# files in one task: enough chunks for full, length-sorted embedding batches (short abstracts are 1-3 chunks), few
# enough that the writer is not idle long at the start and a task's results stay small
TASK_FILES = 32


@dataclass(frozen=True)
class Recipe:
    """What decides a document's text, chunks and vectors: the same in every worker as in the writer."""

    embed_model: str
    embed_batch_size: int
    embed_backend: str
    embed_cache_dir: str | None
    chunk_tokens: int
    chunk_overlap: int
    max_chunks_per_document: int
    max_document_chars: int
    parse_timeout_s: float
    threads: int  # intra-op threads per worker (torch or ONNX Runtime)

    @classmethod
    def of(cls, settings: Settings, *, threads: int = 1) -> Recipe:
        return cls(
            embed_model=settings.embed_model,
            embed_batch_size=settings.embed_batch_size,
            embed_backend=settings.embed_backend,
            embed_cache_dir=str(settings.embed_cache_dir) if settings.embed_cache_dir else None,
            chunk_tokens=settings.chunk_tokens,
            chunk_overlap=settings.chunk_overlap,
            max_chunks_per_document=settings.max_chunks_per_document,
            max_document_chars=settings.max_document_chars,
            parse_timeout_s=settings.parse_timeout_s,
            threads=max(1, threads),
        )


@dataclass(frozen=True)
class Task:
    """One file for a worker: its ``path`` (local workers) or its ``name`` and ``data`` (Ray), shown as ``shown``."""

    shown: str
    path: str = ""
    name: str = ""
    data: bytes = b""


@dataclass(frozen=True)
class Result:
    """A file read, cut and embedded (``vectors``: one row per chunk), or the one-line reason it could not be."""

    doc: Document | None = None
    chunks: tuple[Chunk, ...] = ()
    vectors: np.ndarray | None = None
    error: str = ""


# --------------------------------------------------------------------------- the worker side

_embedders: dict[Recipe, Embedder] = {}


def _embedder(recipe: Recipe) -> Embedder:
    """The worker process's model for ``recipe``, loaded once."""
    if recipe not in _embedders:
        from index.embeddings import Embedder

        if recipe.embed_backend == "torch":
            import torch

            torch.set_num_threads(recipe.threads)
        _embedders[recipe] = Embedder(
            recipe.embed_model,
            batch_size=recipe.embed_batch_size,
            backend=recipe.embed_backend,
            cache_dir=Path(recipe.embed_cache_dir) if recipe.embed_cache_dir else None,
            threads=recipe.threads,
        )
    return _embedders[recipe]


def _read(recipe: Recipe, task: Task, folder: Path) -> Document:
    from ingest.loaders import read_document

    path = Path(task.path) if task.path else folder / Path(task.name).name
    if not task.path:
        path.write_bytes(task.data)
    try:
        return read_document(
            path, source=task.shown, max_chars=recipe.max_document_chars, timeout_s=recipe.parse_timeout_s
        )
    finally:
        if not task.path:
            path.unlink(missing_ok=True)


def prepare(recipe: Recipe, tasks: Sequence[Task]) -> list[Result]:
    """Read and cut every file of ``tasks`` as ``Assistant._read`` and ``Assistant._chunk`` do, then embed all
    their chunks in one call (sorted by length inside ``encode``); one result per task, in order."""
    from ingest.chunking import chunk_document

    embedder = _embedder(recipe)
    window = embedder.max_tokens
    cut: list[tuple[Document, list[Chunk]] | str] = []
    with tempfile.TemporaryDirectory(prefix="assistant-worker-") as tmp:
        for task in tasks:
            try:
                doc = _read(recipe, task, Path(tmp))
                chunks = chunk_document(
                    doc,
                    embedder.count_tokens,
                    max_tokens=min(recipe.chunk_tokens, window),
                    overlap=recipe.chunk_overlap,
                    max_chunks=recipe.max_chunks_per_document,
                    window=window,
                )
                cut.append((doc, chunks))
            except IngestError as exc:
                cut.append(str(exc))
    texts = [c.indexed_text for item in cut if not isinstance(item, str) for c in item[1]]
    vectors = embedder.embed(texts)
    results: list[Result] = []
    at = 0
    for item in cut:
        if isinstance(item, str):
            results.append(Result(error=item))
            continue
        doc, chunks = item
        results.append(Result(doc=doc, chunks=tuple(chunks), vectors=vectors[at : at + len(chunks)]))
        at += len(chunks)
    return results


def _warm(recipe: Recipe) -> None:
    """Pool initializer: load the model before the first task."""
    _embedder(recipe)


# --------------------------------------------------------------------------- pools


def _ordered(submit: Any, result: Any, batches: Iterable[list[Task]], window: int) -> Iterator[list[Result]]:
    """Submit batches ahead, at most ``window`` in flight, and yield their results in submission order."""
    flight: deque[Any] = deque()
    for batch in batches:
        flight.append(submit(batch))
        if len(flight) >= window:
            yield result(flight.popleft())
    while flight:
        yield result(flight.popleft())


class LocalPool:
    """``workers`` processes on this machine (spawned: no state of this process is shared), each with the model
    and ``threads`` intra-op threads."""

    def __init__(self, recipe: Recipe, workers: int) -> None:
        self.recipe = recipe
        self.workers = workers
        self._executor = concurrent.futures.ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_warm,
            initargs=(recipe,),
        )

    def tasks(self, jobs: Sequence[Job]) -> list[Task]:
        return [Task(shown=j.shown, path=str(j.path)) for j in jobs]

    def run(self, batches: Iterable[list[Task]]) -> Iterator[list[Result]]:
        return _ordered(
            lambda batch: self._executor.submit(prepare, self.recipe, batch),
            lambda future: future.result(),
            batches,
            2 * self.workers,
        )

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


class RayPool:
    """The same tasks on a Ray cluster: ``address`` as ``ray.init`` takes it, or "local" to start a Ray of
    ``workers`` CPUs in this machine for this run. Tasks get the files' bytes."""

    def __init__(self, recipe: Recipe, workers: int, address: str) -> None:
        try:
            import ray
        except ImportError as exc:
            raise RuntimeError("Ray is not installed: pip install 'cited-assistant[ray]'") from exc
        self.recipe = recipe
        self.workers = workers
        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # a local Ray's workers inherit it
            if address == "local":
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=address, log_to_driver=False)
        self._remote = ray.remote(num_cpus=1, max_retries=2)(prepare)

    def tasks(self, jobs: Sequence[Job]) -> list[Task]:
        tasks = []
        for j in jobs:
            assert j.path is not None
            try:
                data = j.path.read_bytes()
            except OSError:
                data = b""  # the worker reports it as an empty file; _file_jobs already fingerprinted it
            tasks.append(Task(shown=j.shown, name=j.path.name, data=data))
        return tasks

    def run(self, batches: Iterable[list[Task]]) -> Iterator[list[Result]]:
        recipe = self._ray.put(self.recipe)
        return _ordered(
            lambda batch: self._remote.remote(recipe, batch),
            self._ray.get,
            batches,
            2 * self.workers,
        )

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()


def create_pool(settings: Settings, workers: int, ray_address: str | None = None) -> LocalPool | RayPool:
    """Local processes, or Ray tasks when ``ray_address`` is given ("auto": a local Ray started for this run)."""
    workers = max(1, workers)
    if ray_address:  # one CPU, one torch thread per task: Ray places the tasks
        return RayPool(Recipe.of(settings, threads=1), workers, "local" if ray_address == "auto" else ray_address)
    return LocalPool(Recipe.of(settings, threads=max(1, (os.cpu_count() or 1) // workers)), workers)


# --------------------------------------------------------------------------- the writer side


def ingest(
    svc: Assistant,
    paths: Sequence[Path],
    *,
    workers: int,
    ray_address: str | None = None,
    prune: bool = False,
    progress: bool = False,
) -> IngestReport:
    """``Assistant.ingest`` with reading, cutting and embedding on ``workers`` processes (or Ray tasks); this
    process is the one writer. Same report, same ids, same commit rules. Raises WriteBusy."""

    def prepare(jobs: Sequence[Job]) -> PreparedStream:
        """The jobs' files prepared by the pool (started only when there is a file to read), in job order."""
        if not jobs:
            return
        pool = create_pool(svc.settings, workers, ray_address)
        try:
            groups = [list(jobs[i : i + TASK_FILES]) for i in range(0, len(jobs), TASK_FILES)]
            results = pool.run(pool.tasks(group) for group in groups)
            for group, batch in zip(groups, results, strict=True):
                for job, item in zip(group, batch, strict=True):
                    yield Prepared(job=job, doc=item.doc, chunks=item.chunks, error=item.error), item.vectors
        finally:
            pool.close()

    return svc.ingest(paths, prune=prune, progress=progress, prepare=prepare)
