"""The moving parts of a streamed ingest: a reader thread that reads, cleans and chunks the next documents while
the service embeds and indexes the earlier ones, the clock that says when to commit, and the progress bar.

The service (``Assistant.ingest``, ``Assistant.ingest_documents``) owns the loop: it takes prepared documents
from a ``Reader`` in order, writes each one's catalog row, gathers the chunks of many documents and embeds them
together (sentence-transformers sorts one call's texts by length, so a call over many documents pads little),
and commits whenever the ``CommitClock`` says so. A ``kill -9`` loses only what came after the last commit;
the next run finds the committed files unchanged by their fingerprints.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from tqdm import tqdm

from assistant.types import Chunk, Document
from index.catalog import CatalogEntry
from ingest.errors import IngestError

# documents the reader may have prepared ahead of the one being indexed: enough to keep the embedder fed
# across a slow file, few enough that memory stays a few documents' worth
READ_AHEAD = 32


@dataclass(frozen=True)
class Job:
    """One document to index: a file to read (``path``) or a document already in memory (``doc``).

    ``key`` names it in the report (an origin, or an in-memory document's source); ``where`` names it in
    errors (the path as given). ``origin``, ``old``, ``stored`` and ``fingerprint`` are what its catalog row
    gets (``origin`` None: the document's source).
    """

    key: str
    where: str
    path: Path | None = None
    shown: str = ""
    origin: str | None = None
    old: CatalogEntry | None = None
    stored: str = ""
    fingerprint: str = ""
    doc: Document | None = None


@dataclass(frozen=True)
class Prepared:
    """A job read and chunked, or the one-line reason it could not be."""

    job: Job
    doc: Document | None = None
    chunks: tuple[Chunk, ...] = ()
    error: str = ""


@dataclass
class _Failure:
    """An unexpected exception in the reader thread, handed to the consumer to raise."""

    exc: BaseException


_DONE = object()


class Reader:
    """Prepares ``jobs`` in a background thread, at most ``ahead`` before the consumer; iterate in job order.

    ``read`` turns a job's file into a document; ``chunk`` cuts a document into chunks. A job whose ``read`` or
    ``chunk`` raises ``IngestError`` comes out with its error; any other exception is raised by the iteration.
    Use as a context manager: leaving it stops the thread after the job it is on.
    """

    def __init__(
        self,
        jobs: Sequence[Job],
        read: Callable[[Path, str], Document],
        chunk: Callable[[Document], list[Chunk]],
        *,
        ahead: int = READ_AHEAD,
    ) -> None:
        self._jobs = jobs
        self._read = read
        self._chunk = chunk
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, ahead))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingest-reader", daemon=True)

    def __enter__(self) -> Reader:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop the thread: at once when it waits for room in the queue; after the file it is reading (a daemon
        thread, not waited for beyond a few seconds) when it is in a slow parse."""
        self._stop.set()
        deadline = time.monotonic() + 5.0
        while self._thread.is_alive() and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)

    def __iter__(self) -> Iterator[Prepared]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            assert isinstance(item, Prepared)
            yield item

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for job in self._jobs:
                if self._stop.is_set() or not self._put(self._prepare(job)):
                    return
        except BaseException as exc:  # handed over: the consumer raises it
            self._put(_Failure(exc))
            return
        self._put(_DONE)

    def _prepare(self, job: Job) -> Prepared:
        try:
            doc = job.doc if job.path is None else self._read(job.path, job.shown)
            assert doc is not None
            return Prepared(job=job, doc=doc, chunks=tuple(self._chunk(doc)))
        except IngestError as exc:
            return Prepared(job=job, error=str(exc))


@dataclass
class CommitClock:
    """Says when to commit: after ``every_docs`` documents or ``every_s`` seconds, whichever comes first."""

    every_docs: int
    every_s: float
    docs: int = 0
    _since: float = field(default_factory=time.monotonic)

    def add(self, docs: int = 1) -> None:
        self.docs += docs

    def due(self) -> bool:
        return self.docs > 0 and (self.docs >= self.every_docs or time.monotonic() - self._since >= self.every_s)

    def reset(self) -> None:
        self.docs = 0
        self._since = time.monotonic()


class Progress:
    """The ingest bar: files done of all, chunks indexed, chunks per second (off: does nothing)."""

    def __init__(self, total: int, *, unit: str, enabled: bool) -> None:
        self._bar = tqdm(total=total, desc="ingest", unit=unit, disable=not enabled, leave=False)
        self._chunks = 0
        self._started = time.monotonic()

    def done(self, files: int = 1, name: str = "") -> None:
        if name:
            self._bar.set_postfix_str(self._postfix(name), refresh=False)
        self._bar.update(files)

    def indexed(self, chunks: int) -> None:
        self._chunks += chunks
        self._bar.set_postfix_str(self._postfix(""))

    def _postfix(self, name: str) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-9)
        text = f"{self._chunks} chunks, {self._chunks / elapsed:.1f} chunks/s"
        return f"{text}, {name[:30]}" if name else text

    def close(self) -> None:
        self._bar.close()

    @property
    def chunks(self) -> int:
        return self._chunks
