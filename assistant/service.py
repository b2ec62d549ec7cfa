"""The one service object used by the CLI, the API, the UI and the eval runner."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing, contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path, PurePosixPath
from typing import IO, Literal

import numpy as np

from assistant.answerer import Answerer, create_answerer, final_answer
from assistant.config import Settings
from assistant.errors import (
    CollectionMismatch,
    DocumentNotFound,
    EmptyIndex,
    IndexMismatch,
    InvalidQuestion,
    InvalidSettings,
    UnsupportedUpload,
    UploadFailed,
    UploadTooLarge,
    WriteBusy,
)
from assistant.pipeline import CommitClock, Job, Prepared, Progress, Reader
from assistant.scope import (
    DocumentNames,
    Focus,
    Scope,
    back_matter_start,
    mentions_documents,
    names_one,
    scope_of,
    wants_several,
)
from assistant.types import Answer, Chunk, Document, DocumentInfo, IngestReport, Passage, UploadResult
from assistant.uploads import ReceivedUpload, keep_upload, receive_upload, sweep_uploads, upload_dir
from index.catalog import Catalog, CatalogEntry
from index.changelog import COMPACTED, FULL_SYNC_S, LAG_US, SHARED_OWNER, DocumentRecord, SharedLibrary
from index.embeddings import Embedder
from index.errors import IndexInUse
from index.fusion import prefer_documents
from index.lexical import LexicalIndex
from index.lock import DirectoryLock
from index.rerank import create_reranker
from index.retriever import HybridRetriever
from index.sentence_vectors import SentenceVectors, store_path
from index.vector import VectorIndex
from ingest.chunking import CHUNKING_VERSION, chunk_document
from ingest.errors import DocumentTooLarge, IngestError, UnsupportedFileType
from ingest.loaders import discover, read_document

log = logging.getLogger(__name__)
# seconds the warm-up waits for a first question before it makes the index's writer anyway
_WRITER_AFTER_S = 30.0

# what reads, cuts and may embed the documents of an ingest: given the jobs, it yields each one prepared, in job
# order, with its chunks' vectors (one row per chunk) or None for this process to embed them; a generator, closed
# when the ingest ends or fails (its reader or workers stop then). The default is ``Assistant._read_ahead`` (a
# reader thread here); assistant.workers passes worker processes or Ray tasks
PreparedStream = Generator[tuple[Prepared, "np.ndarray | None"], None, None]
Preparer = Callable[[Sequence[Job]], PreparedStream]
# how many documents a summary, or the beginnings or ends asked for in one question, cover at most
_MAX_WHOLE_DOCUMENTS = 3

try:
    __version__ = version("cited-assistant")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"


def _fingerprint(path: Path, chunking: str) -> str:
    """What says a file's chunks are current: its size and mtime, and how it was cut into chunks."""
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}|{chunking}"


def _chunking_of(fingerprint: str) -> str:
    """How the file behind ``fingerprint`` was cut into chunks ("" for fingerprints older than that)."""
    return fingerprint.partition("|")[2]


def _described(chunking: str) -> str:
    """``Assistant._chunking``'s ``chunks-v<version>:<tokens>:<overlap>`` in words."""
    version, _, rest = chunking.partition(":")
    tokens, _, overlap = rest.partition(":")
    return f"of {tokens} word pieces, overlap {overlap} sentence(s), chunker {version.removeprefix('chunks-')}"


def _dated(passages: list[Passage], names: DocumentNames) -> list[Passage]:
    """``passages`` carrying ``meta["period_end"]`` where their document's period is known, so an answer can
    order what each period says, and ``meta["ticker"]`` where their document states one (chunks do not carry it),
    so the answerer's name check finds a ticker the question uses."""
    out = []
    for p in passages:
        doc_id = p.chunk.doc_id
        found = (("period_end", names.period_end.get(doc_id)), ("ticker", names.ticker_of.get(doc_id)))
        added = {key: value for key, value in found if value}
        out.append(p.model_copy(update={"meta": {**p.meta, **added}}) if added else p)
    return out


def _records(catalog: Catalog, entries: Sequence[CatalogEntry]) -> list[DocumentRecord]:
    """The shared-catalog records of ``entries``, with their documents read from ``catalog``."""
    records = []
    for entry in entries:
        doc = catalog.document(entry.id)
        assert doc is not None
        records.append(
            DocumentRecord(
                document=doc,
                chunks=entry.chunks,
                fingerprint=entry.fingerprint,
                origin=entry.origin,
                ingested_at=entry.ingested_at,
            )
        )
    return records


def _salted(content_id: str, origin: str) -> str:
    """The id of a document whose content id another origin holds: the content id salted with its origin."""
    return hashlib.sha256(f"{content_id}\0{origin}".encode()).hexdigest()[:16]


_UPLOAD = "upload:"  # origin prefix of uploads: ``upload:<name>``


_SLOTS = 64  # cache directories of one shared collection under one data directory (processes at once)
_FOLLOW_BATCH = 200  # documents a change-log follower brings up to date per lexical commit


def _cache_slot(root: Path, collection: str) -> tuple[DirectoryLock, Path]:
    """The first cache directory ``<root>/cache/<collection>-<n>`` no other process holds, locked: several shared
    processes may run with one data directory, and a restarted one finds a cache to catch up from."""
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in collection)
    for n in range(_SLOTS):
        slot = root / "cache" / f"{name}-{n}"
        lock = DirectoryLock(slot)
        try:
            lock.acquire()
        except IndexInUse:
            continue
        return lock, slot
    raise IndexInUse(
        f"{_SLOTS} processes already hold the caches of {collection!r} under {root}; use another ASSISTANT_DATA_DIR"
    )


def _renamed(chunks: Sequence[Chunk], doc_id: str) -> list[Chunk]:
    """``chunks`` of one document, cut under another id, as the chunks of ``doc_id`` (``<doc id>:<position>``)."""
    return [c.model_copy(update={"id": f"{doc_id}:{c.id.rpartition(':')[2]}", "doc_id": doc_id}) for c in chunks]


class Assistant:
    """Owns the embedder, the indexes and the answerers. No FastAPI or Gradio here.

    Reads may run concurrently; writes (ingest, delete) are serialised.
    """

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None, warm: bool = False) -> None:
        """``warm``: call ``warm()`` as soon as the dense index is open (what a server starting up wants)."""
        self._warming: threading.Thread | None = None
        self._opened = threading.Event()  # set when the constructor is done (or has failed)
        self._answered = threading.Event()  # set when the first question has its answer
        if settings.shared and not settings.chroma_url:
            raise InvalidSettings("ASSISTANT_SHARED=true needs a Chroma server: set ASSISTANT_CHROMA_URL")
        data_dir = Path(settings.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.library: SharedLibrary | None = None  # shared mode: document records and change log in Chroma
        self._cache_reset = False
        self._following: threading.Thread | None = None
        self._stop_following = threading.Event()
        self._home = data_dir  # the data directory as given (shared: the caches go under it)
        if settings.shared:
            # the data directory holds only this process's caches, in a directory of its own (docs/scale-out.md)
            self._dir_lock, data_dir = _cache_slot(data_dir, settings.collection)
            settings = settings.model_copy(update={"data_dir": data_dir})
        else:
            # one process at a time on the directory (index.lock says why); raises IndexInUse before the model loads
            self._dir_lock = DirectoryLock(data_dir)
            self._dir_lock.acquire()
        self.settings = settings
        try:
            self.embedder = embedder or Embedder(
                settings.embed_model,
                batch_size=settings.embed_batch_size,
                backend=settings.embed_backend,
                cache_dir=settings.embed_cache_dir,
            )
            self._open(settings, data_dir, warm=warm)
        except BaseException:
            self._opened.set()
            self.close()
            raise
        self._opened.set()

    def _open(self, settings: Settings, data_dir: Path, *, warm: bool = False) -> None:
        self.catalog = Catalog(data_dir / "catalog.sqlite")
        self._check_model()
        self.vector = VectorIndex(
            None if settings.chroma_url else data_dir / "chroma",
            url=settings.chroma_url,
            collection=settings.collection,
        )
        if not settings.shared:
            self._claim_collection()
        if warm:  # the dense index loads while the lexical one opens
            self.warm()
        self.lexical = LexicalIndex(data_dir / "bm25")
        # the sentence vectors answers keep (assistant.extractive): dropped with their documents
        self.sentence_vectors = SentenceVectors(store_path(data_dir))
        if settings.shared:
            self._join_library()
        reranker = create_reranker(settings.reranker) if settings.reranker else None
        self.retriever = HybridRetriever(
            self.embedder,
            self.vector,
            self.lexical,
            fusion=settings.fusion,
            alpha=settings.alpha,
            candidates=settings.candidates,
            reranker=reranker,
            rerank_depth=settings.rerank_depth,
            rerank_weight=settings.rerank_weight,
        )
        self._write_lock = threading.RLock()
        self._answerers: dict[str, Answerer] = {}
        self._names: DocumentNames | None = None  # built on the first question that may name a document
        self._sources: dict[str, str] | None = None  # document id -> shown source, kept until the next write
        self._names_lock = threading.Lock()  # one build of the names at a time (a question's or the warm-up's)
        self._library_version = 0  # counts the writes: names built across one are not kept
        # shared mode: what the change log brought (``health()["shared"]``); changes already applied, by id -> seq
        self.follow_state: dict[str, object] = {}
        self._applied: dict[str, int] = {}
        self._retry: set[str] = set()
        self._followed = 0
        self._recover()
        self._adopt_uploads()
        sweep_uploads(upload_dir(settings), self.catalog.stored_names())
        if self.library is not None:
            started = time.perf_counter()
            applied = self.follow(full=True)
            startup = {
                "rebuilt": self._cache_reset,
                "applied": applied,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            }
            self.follow_state = {**self.follow_state, "startup": startup}
            self._following = threading.Thread(target=self._follow_loop, name="change-log-follower", daemon=True)
            self._following.start()

    # ------------------------------------------------------------------ answering

    def ask(
        self,
        question: str,
        *,
        top_k: int | None = None,
        doc_ids: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
        history: Sequence[tuple[str, str]] = (),
        mode: str | None = None,
    ) -> Answer:
        """Answer with citations, or abstain. Raises InvalidQuestion, EmptyIndex."""
        return final_answer(
            self.stream(question, top_k=top_k, doc_ids=doc_ids, sources=sources, history=history, mode=mode)
        )

    def stream(
        self,
        question: str,
        *,
        top_k: int | None = None,
        doc_ids: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
        history: Sequence[tuple[str, str]] = (),
        mode: str | None = None,
    ) -> Iterator[str | Answer]:
        """Like ``ask`` but yields answer text pieces, then the final ``Answer``."""
        question = self._validate(question)
        self._check_bounds(history=history, doc_ids=doc_ids, sources=sources)
        if mode is not None and mode not in self.modes():
            raise InvalidQuestion(f"the answer mode {mode!r} is not offered here; modes: {', '.join(self.modes())}")
        started = time.perf_counter()
        name = mode or self._default_mode()
        answerer = self._answerer(name)
        standalone = self._standalone(question, history, answerer)
        t0 = time.perf_counter()
        passages, scope = self._passages(standalone, top_k=top_k, doc_ids=doc_ids, sources=sources)
        retrieve_ms = (time.perf_counter() - t0) * 1000
        fallback: str | None = None
        final: Answer | None = None
        t1 = time.perf_counter()
        try:
            for piece in answerer.stream(standalone, passages):
                if isinstance(piece, Answer):
                    final = piece
                else:
                    yield piece
        except Exception as exc:  # an LLM backend failing must not fail the request
            if name == "extractive":
                raise
            log.warning("answer mode %r failed (%s); falling back to extractive", name, exc)
            fallback = f"{type(exc).__name__}: {exc}"
            for piece in self._answerer("extractive").stream(standalone, passages):
                if isinstance(piece, Answer):
                    final = piece
                else:
                    yield piece
        assert final is not None
        timings = dict(final.timings_ms)
        timings.update(
            retrieve=round(retrieve_ms, 1),
            answer=round((time.perf_counter() - t1) * 1000, 1),
            total=round((time.perf_counter() - started) * 1000, 1),
        )
        meta = dict(final.meta)
        meta["mode"] = "extractive" if fallback else name
        if fallback:
            meta["fallback"] = fallback
        if standalone != question:
            meta["standalone_question"] = standalone
        if scope.doc_ids:
            meta["named_documents"] = list(scope.doc_ids)
        if scope.focus is not None:
            meta["focus"] = scope.focus.value
        self._answered.set()
        yield final.model_copy(update={"question": question, "timings_ms": timings, "meta": meta})

    def retrieve(
        self,
        query: str,
        *,
        top_k: int | None = None,
        doc_ids: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
    ) -> list[Passage]:
        """Hybrid retrieval only (used by ``ask`` and the eval runner)."""
        self._check_bounds(doc_ids=doc_ids, sources=sources)
        self._require_documents()
        allowed = self._allowed_ids(doc_ids, sources)
        return self._shown(self.retriever.retrieve(query, top_k or self.settings.top_k, doc_ids=allowed))

    def _passages(
        self,
        question: str,
        *,
        top_k: int | None,
        doc_ids: Sequence[str] | None,
        sources: Sequence[str] | None,
    ) -> tuple[list[Passage], Scope]:
        """The passages to answer from, and what the question asks of the library.

        A question that names documents ("the CGTN commentary", "Northwind's latest 10-Q", "Q3 2022") searches
        only them, unless the caller chose documents; one that names a year ranks that year's documents first;
        one that wants each of several documents ("across quarters", "compare A and B") gets passages from each.
        Passages of a document with a known period carry ``meta["period_end"]``; those of a document the question
        prefers (of the year it names) ``meta["preferred"]``, so the answer quotes them first. A question about a whole
        document (a summary) or a place in one (how it begins or ends, or who wrote it) gets that document's
        passages by position: its first or last two chunks, or its first chunk and the chunks nearest its title.
        Which document: the named or chosen ones, else the best-ranked one (up to ``_MAX_WHOLE_DOCUMENTS`` when
        the question speaks of several or the caller chose several). The passages carry ``meta["focus"]``.
        """
        k = top_k or self.settings.top_k
        self._require_documents()
        allowed = self._allowed_ids(doc_ids, sources)
        names = self._document_names()
        scope = scope_of(question, names) if names.has_meta or mentions_documents(question) else Scope()
        if scope.wants_entity and allowed is None:  # "the latest 10-Q": of the best-ranked document's entity
            best = self.retriever.retrieve(question, 1)
            scope = scope_of(question, names, entity_of=best[0].chunk.doc_id) if best else scope
        chosen = allowed is not None
        if allowed is None and scope.doc_ids:
            allowed = set(scope.doc_ids)
        if scope.focus is None:
            if scope.per_document and not chosen:
                found = self._each_document(question, k, scope.doc_ids, names)
            elif scope.preferred and not chosen:
                preferred = set(scope.preferred)
                found = [
                    p.model_copy(update={"meta": {**p.meta, "preferred": True}}) if p.chunk.doc_id in preferred else p
                    for p in self._preferring(question, k, allowed, preferred)
                ]
            else:
                found = self.retriever.retrieve(question, k, doc_ids=allowed)
            return self._shown(_dated(found, names)), scope
        if allowed is not None:
            docs = [d.id for d in self.documents() if d.id in allowed][:_MAX_WHOLE_DOCUMENTS]
        else:
            ranked = dict.fromkeys(p.chunk.doc_id for p in self.retriever.retrieve(question, k))
            several = wants_several(question) or (scope.focus == Focus.SUMMARY and not names_one(question))
            docs = list(ranked)[: _MAX_WHOLE_DOCUMENTS if several else 1]
        passages: list[Passage] = []
        for doc_id in docs:
            chunks = self.chunks(doc_id)
            if not chunks:
                continue
            per_doc = max(1, k // len(docs))
            if scope.focus in (Focus.START, Focus.AUTHOR):  # two chunks: a first may hold only a title page
                picked = [Passage(chunk=c, score=1.0) for c in chunks[: min(2, per_doc)]]
            elif scope.focus == Focus.END:  # the text proper ends where its references or appendices begin
                end = next((j + 1 for j, c in enumerate(chunks) if back_matter_start(c.text) is not None), len(chunks))
                picked = [Passage(chunk=c, score=1.0) for c in reversed(chunks[max(0, end - min(2, per_doc)) : end])]
            else:
                title = str(chunks[0].meta.get("title", "")) or chunks[0].text[:200]
                near = self.retriever.retrieve(title, per_doc, doc_ids={doc_id})
                rest = [p for p in near if p.chunk.id != chunks[0].id]
                picked = [Passage(chunk=chunks[0], score=1.0), *rest[: per_doc - 1]]
            passages.extend(p.model_copy(update={"meta": {**p.meta, "focus": scope.focus.value}}) for p in picked)
        return self._shown(passages), scope

    # ------------------------------------------------------------------ documents

    def ingest(
        self,
        paths: Sequence[Path],
        *,
        prune: bool = False,
        progress: bool = False,
        prepare: Preparer | None = None,
    ) -> IngestReport:
        """Ingest files/directories incrementally; bad files are reported in ``errors``.

        Unchanged files do no work, changed files replace their old versions (which stay until the new ones
        are committed), and with ``prune`` documents whose files are gone are removed. A document's source is
        its path under the directory given (a file given by itself: its name). Files of this index's upload
        folder are its uploads: each is cut again if the chunking changed, and one no document refers to any
        more (deleted, replaced) is skipped. Raises WriteBusy.

        Streamed (``assistant.pipeline``): a reader thread reads and chunks the next files while the chunks of
        earlier ones are embedded together, and the index commits every ``commit_every_docs`` documents or
        ``commit_every_s`` seconds. Killed, the ingest loses only what came after its last commit; the same
        call again finds the committed files unchanged and continues with the rest.

        ``prepare`` (a ``Preparer``) reads, cuts and may embed the files elsewhere (``assistant.workers``: worker
        processes or Ray tasks); this process stays the one writer, with the same ids and commits.
        """
        files, errors = self._discover(paths)
        outcomes: dict[str, list[str]] = {"added": [], "replaced": [], "unchanged": []}
        removed: list[str] = []
        ids: dict[str, str] = {}
        with self._writing():
            jobs, settled = self._file_jobs(files, errors, outcomes["unchanged"], ids)
            self._stream(
                (prepare or self._read_ahead)(jobs),
                total=len(jobs) + settled,
                settled=settled,
                errors=errors,
                outcomes=outcomes,
                ids=ids,
                unit="file",
                progress=progress,
            )
            if prune:
                removed = self._prune([f for f, _ in files], [Path(p) for p in paths])
            self._commit()
        return IngestReport(
            added=tuple(outcomes["added"]),
            replaced=tuple(outcomes["replaced"]),
            unchanged=tuple(outcomes["unchanged"]),
            removed=tuple(removed),
            errors=errors,
            ids=ids,
        )

    def ingest_documents(self, docs: Sequence[Document], *, progress: bool = False) -> IngestReport:
        """Index in-memory documents (eval sets). Same-id documents are skipped. Raises WriteBusy.

        Streamed and committed like ``ingest``: killed, the same call again skips what was committed.
        """
        outcomes: dict[str, list[str]] = {"added": [], "replaced": [], "unchanged": []}
        errors: dict[str, str] = {}
        with self._writing():
            jobs: list[Job] = []
            seen: set[str] = set()
            for d in docs:
                if d.id in seen or self.catalog.entry(d.id) is not None:
                    outcomes["unchanged"].append(d.source)
                else:
                    seen.add(d.id)
                    jobs.append(Job(key=d.source, where=d.source, doc=d))
            ids: dict[str, str] = {}
            self._stream(
                self._read_ahead(jobs),
                total=len(jobs) + len(outcomes["unchanged"]),
                settled=len(outcomes["unchanged"]),
                errors=errors,
                outcomes=outcomes,
                ids=ids,
                unit="doc",
                progress=progress,
            )
            self._commit()
        return IngestReport(
            added=tuple(outcomes["added"]),
            unchanged=tuple(outcomes["unchanged"]),
            errors=errors,
            ids={d.source: d.id for d in docs},
        )

    def documents(self) -> list[DocumentInfo]:
        return [self._info(e) for e in self.catalog.entries()]

    def document(self, doc_id: str) -> DocumentInfo:
        """Raises DocumentNotFound."""
        entry = self.catalog.entry(doc_id)
        if entry is None or entry.state != "ready":
            raise DocumentNotFound(f"no document with id {doc_id!r}")
        return self._info(entry)

    def document_text(self, doc_id: str) -> Document:
        doc = self.catalog.document(doc_id)
        if doc is None:
            raise DocumentNotFound(f"no document with id {doc_id!r}")
        return doc

    def chunks(self, doc_id: str) -> list[Chunk]:
        """The indexed chunks of a document in reading order (empty for an unknown id)."""
        return [self._shown_chunk(c) for c in self.vector.chunks(doc_id)]

    def delete(self, doc_id: str) -> None:
        """Remove a document, its chunks from both indexes, and its stored upload file (unless another document
        was uploaded from the same file). Raises DocumentNotFound, WriteBusy."""
        with self._writing():
            try:
                self.document(doc_id)
            except DocumentNotFound:
                if self.library is None:
                    raise
                self.follow()  # shared: another process may have added it since the last read of the change log
                self.document(doc_id)
            self.catalog.set_state(doc_id, "deleting")
            self._commit()

    def upload(self, filename: str, stream: IO[bytes], *, max_mb: float | None = None) -> UploadResult:
        """Store one uploaded file under the data directory and ingest it (at most ``max_mb``, default the setting).

        The document's source is the file's name; uploading the same name again replaces that document, and
        a failed upload leaves the previous version untouched. The bytes are received before the index is
        waited for. Raises UnsupportedUpload, UploadTooLarge, UploadFailed, WriteBusy.
        """
        received = receive_upload(self.settings, filename, stream, max_mb=max_mb)
        try:
            with self._writing():
                return self._ingest_upload(received)
        finally:
            received.path.unlink(missing_ok=True)  # kept uploads were moved to their stored name

    def recent_history(self, history: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """The latest turns of a conversation that fit the history limits (``max_history_turns`` and
        ``max_history_chars``): what a chat front end that keeps every turn sends with the next question."""
        kept: list[tuple[str, str]] = []
        chars = 0
        for question, answer in reversed(history):
            chars += len(question) + len(answer)
            if len(kept) == self.settings.max_history_turns or chars > self.settings.max_history_chars:
                break
            kept.append((question, answer))
        return kept[::-1]

    def modes(self) -> list[str]:
        """The answer modes this service offers."""
        return sorted({"extractive", self._default_mode()})

    def health(self) -> dict[str, object]:
        """Index size, model, version; in shared mode what the change log brought (raises ChromaUnavailable when
        the Chroma server is down)."""
        report: dict[str, object] = {
            "status": "ok",
            "version": __version__,
            "documents": self.catalog.count(),
            "chunks": self.vector.count(),
            "model": self.embedder.name,
            "fusion": self.settings.fusion,
            "modes": self.modes(),
        }
        if self.library is not None:
            report["shared"] = {**self.follow_state, "cache": str(self.settings.data_dir)}
        return report

    def warm(self) -> None:
        """Start loading, in a background thread, what the first question would otherwise wait for: the dense
        index's graph (Chroma loads it on the first search: 6 s of CPU at 1M chunks, in Rust, without the GIL) and,
        once the service is open, what names each document. For a server, whose start-up (the lexical index, the
        UI) goes on meanwhile (docs/scale.md "Cold start"). A failure here is only logged: the first question meets
        it again."""

        def run() -> None:
            try:
                self.vector.search(self.embedder.embed_query("warm-up"), 1)
                self._opened.wait()
                if not self._stop_following.is_set() and self.catalog.has_ready():
                    self._document_names()
                # the writer last, once the first question is answered (or after a while without one): the first
                # upload then waits only for its own reading and embedding (docs/scale.md "Cold start")
                self._answered.wait(_WRITER_AFTER_S)
                if not self._stop_following.is_set():
                    self.vector.prepare_writes()
            except Exception as exc:  # noqa: BLE001 - the first question reports it
                log.warning("the warm-up stopped: %s", exc)

        if self._warming is None:
            self._warming = threading.Thread(target=run, name="warm-up", daemon=True)
            self._warming.start()

    def close(self) -> None:
        """Close the catalog and the Chroma client, and let another process open the directory. Safe twice."""
        self._stop_following.set()  # also tells the warm-up to stop before the names
        if hasattr(self, "_answered"):
            self._answered.set()  # and not to wait for a question
        warming, self._warming = getattr(self, "_warming", None), None
        if warming is not None:
            warming.join(timeout=60)
        following, self._following = getattr(self, "_following", None), None
        if following is not None:
            following.join(timeout=30)
        for store in (
            getattr(self, "library", None),
            getattr(self, "vector", None),
            getattr(self, "catalog", None),
            getattr(self, "sentence_vectors", None),
        ):
            if store is not None:
                store.close()
        self._dir_lock.release()

    # ------------------------------------------------------------------ internals

    def _validate(self, question: str) -> str:
        if not isinstance(question, str) or not question.strip():
            raise InvalidQuestion("the question is empty")
        question = " ".join(question.split())
        if len(question) > self.settings.max_question_chars:
            raise InvalidQuestion(
                f"the question is {len(question)} characters long; the limit is {self.settings.max_question_chars}"
            )
        return question

    def _check_bounds(
        self,
        *,
        history: Sequence[tuple[str, str]] = (),
        doc_ids: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
    ) -> None:
        """The history and the filters within the settings' limits (before any work); raises InvalidQuestion."""
        limits = self.settings
        if len(history) > limits.max_history_turns:
            raise InvalidQuestion(
                f"the history has {len(history)} turns; the limit is {limits.max_history_turns} (send the latest ones)"
            )
        chars = 0
        for turn in history:
            if len(turn) != 2 or not all(isinstance(t, str) for t in turn):
                raise InvalidQuestion("each history turn must be a pair of texts: [question, answer]")
            chars += len(turn[0]) + len(turn[1])
        if chars > limits.max_history_chars:
            raise InvalidQuestion(
                f"the history is {chars} characters long; the limit is {limits.max_history_chars} "
                "(send the latest turns)"
            )
        for name, values in (("doc_ids", doc_ids), ("sources", sources)):
            if values is not None and len(values) > limits.max_filter_ids:
                raise InvalidQuestion(f"filters.{name} has {len(values)} entries; the limit is {limits.max_filter_ids}")

    def _default_mode(self) -> str:
        return "generative" if self.settings.llm_base_url else "extractive"

    def _answerer(self, name: str) -> Answerer:
        if name not in self._answerers:
            try:
                self._answerers[name] = create_answerer(name, self.settings, self.embedder, self)
            except ValueError as exc:
                raise InvalidQuestion(str(exc)) from None
        return self._answerers[name]

    def _standalone(self, question: str, history: Sequence[tuple[str, str]], answerer: Answerer) -> str:
        """A follow-up rewritten with the chat history: by the LLM when there is one, else a heuristic."""
        if not history:
            return question
        from assistant.followup import standalone_question

        llm = getattr(answerer, "llm", None)
        if llm is not None:
            from assistant.generative import rewrite_question
            from assistant.llm import LLMUnavailable

            try:
                return rewrite_question(question, history, llm)
            except LLMUnavailable as exc:
                log.info("question rewrite fell back to the heuristic: %s", exc)
        return standalone_question(question, history)

    def _allowed_ids(self, doc_ids: Sequence[str] | None, sources: Sequence[str] | None) -> set[str] | None:
        """The documents the filters allow: the ids given, and those whose shown source is one of ``sources``
        or whose origin ends with one (a path suffix)."""
        if not doc_ids and not sources:
            return None
        allowed: set[str] = set(doc_ids or ())
        if sources:
            wanted = {str(PurePosixPath(s.strip().strip("/"))) for s in sources if s.strip().strip("/")}
            for entry in self.catalog.entries():
                origin = entry.origin.removeprefix(_UPLOAD).strip("/")
                parts = origin.split("/")
                suffixes = {"/".join(parts[i:]) for i in range(len(parts))}
                if entry.source in wanted or entry.origin in wanted or not wanted.isdisjoint(suffixes):
                    allowed.add(entry.id)
        return allowed

    def _require_documents(self) -> None:
        if not self.catalog.has_ready():
            raise EmptyIndex("no documents are indexed yet; run `assistant ingest PATH` or upload files first")

    def _document_names(self) -> DocumentNames:
        """What names each document, kept until the next write (``_commit`` drops it)."""
        names = self._names
        if names is not None:
            return names
        with self._names_lock:  # a question arriving during the warm-up waits for its names instead of a second build
            if self._names is not None:
                return self._names
            version = self._library_version
            entries = self.catalog.entries()
            names = DocumentNames(entries)
            if version == self._library_version:  # no write meanwhile: keep them
                self._names = names
                if self._sources is None:  # the same listing: one read of the catalog on the first question
                    self._sources = {e.id: e.source for e in entries}
        return names

    def _library_changed(self) -> None:
        self._library_version += 1
        self._names = None
        self._sources = None

    def _each_document(self, question: str, k: int, doc_ids: Sequence[str], names: DocumentNames) -> list[Passage]:
        """The best passages of each of ``doc_ids`` (of the ``k`` best-ranked of them when there are more), up to
        ``k`` in all, in period order: every document a multi-document question asks about is represented."""
        pool = self.retriever.retrieve(question, max(self.settings.candidates, k * len(doc_ids)), doc_ids=set(doc_ids))
        ranked = list(dict.fromkeys([*(p.chunk.doc_id for p in pool), *reversed(names.order(doc_ids))]))[:k]
        per_doc = max(1, k // len(ranked))
        picked: dict[str, list[Passage]] = {d: [p for p in pool if p.chunk.doc_id == d][:per_doc] for d in ranked}
        for doc_id, passages in picked.items():
            if not passages:  # not among the candidates: search it alone
                passages.extend(self.retriever.retrieve(question, per_doc, doc_ids={doc_id}))
        taken = {p.chunk.id for ps in picked.values() for p in ps}
        spare = k - len(taken)
        for p in pool:  # places left over (k not a multiple of the documents): the next best passages
            if spare <= 0:
                break
            if p.chunk.id not in taken and p.chunk.doc_id in picked:
                picked[p.chunk.doc_id].append(p)
                taken.add(p.chunk.id)
                spare -= 1
        return [p for doc_id in names.order(picked) for p in picked[doc_id]]

    def _preferring(self, question: str, k: int, allowed: set[str] | None, preferred: set[str]) -> list[Passage]:
        """The best passages when the other documents' scores count less than the ``preferred`` ones' and no
        document takes more than two places while others are left (``index.fusion.prefer_documents``): a year in
        the question names the document of that year 58 times out of 59 on FinanceBench, but a filing also reports
        the years before it and a year's outlook is in the release before it (docs/scope.md). A preferred document
        keeps at least one place."""
        # the retriever ranks its candidates whatever top_k is: asking for all of them costs no more
        ranked = self.retriever.retrieve(question, max(self.settings.candidates, k), doc_ids=allowed)
        picked = prefer_documents(ranked, preferred, k)
        if picked and not any(p.chunk.doc_id in preferred for p in picked):
            best = self.retriever.retrieve(question, 1, doc_ids=preferred)
            picked = [*picked[: k - len(best)], *best]
        return picked

    def _shown(self, passages: list[Passage]) -> list[Passage]:
        if self.library is not None:  # shared: chunks of a document no record names yet (or any more) are not shown
            known = self._source_map()
            passages = [p for p in passages if p.chunk.doc_id in known]
        return [
            p if (c := self._shown_chunk(p.chunk)) is p.chunk else p.model_copy(update={"chunk": c}) for p in passages
        ]

    def _source_map(self) -> dict[str, str]:
        """Document id -> shown source of every ready document, kept until the next write."""
        sources = self._sources
        if sources is None:
            sources = self._sources = {e.id: e.source for e in self.catalog.entries()}
        return sources

    def _shown_chunk(self, chunk: Chunk) -> Chunk:
        """``chunk`` naming its document's source as the catalog shows it (chunks indexed before relative sources
        carry the absolute path they were read from)."""
        source = self._source_map().get(chunk.doc_id)
        if source is None or chunk.meta.get("source", source) == source:
            return chunk
        return chunk.model_copy(update={"meta": {**chunk.meta, "source": source}})

    def _info(self, entry: CatalogEntry) -> DocumentInfo:
        # not validated again: the catalog's columns have these types (validating 50,000 rows cost 0.75 s of CPU;
        # the document listing's cost; the names are built from the catalog rows directly)
        return DocumentInfo.model_construct(
            id=entry.id,
            title=entry.title,
            source=entry.source,
            chunks=entry.chunks,
            ingested_at=entry.ingested_at,
            pages=entry.pages or 0,
            meta={k: v for k, v in entry.meta.items() if k != "running"},
        )

    # ------------------------------------------------------------------ writes

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the write lock, waiting at most ``settings.write_wait_s`` (then WriteBusy).

        A write that fails on something other than a bad file rolls back what it left half-done at once, so
        the next write cannot commit it. In shared mode a write first reads the change log, so it replaces the
        versions other processes wrote, not older ones.
        """
        wait = self.settings.write_wait_s
        if not self._write_lock.acquire(timeout=wait if wait > 0 else 0):
            raise WriteBusy(
                f"another write (an ingest, upload or delete) has held the index for over {wait:g} s; try again later",
                retry_after=max(1.0, wait),
            )
        try:
            if self.library is not None:  # shared: write over what the other processes wrote up to now
                self.follow()
            yield
        except Exception:
            try:
                self._recover()
            except Exception as exc:  # e.g. the Chroma server went away: the next open rolls back
                log.warning("could not roll back the failed write now (%s); the next start will", exc)
            raise
        finally:
            self._write_lock.release()

    def _discover(self, paths: Sequence[Path]) -> tuple[list[tuple[Path, str]], dict[str, str]]:
        """The files to read, each once, with the source it is shown as: its path under the directory given
        (posix), or its name for a file given by itself; and ``{path: reason}`` for what cannot be read."""
        found: list[tuple[Path, str]] = []
        errors: dict[str, str] = {}
        seen: set[Path] = set()
        for raw in paths:
            root = Path(raw)
            files, problems = discover([root])
            errors.update(problems)
            for path in files:
                key = path.resolve()
                if key in seen:
                    continue
                seen.add(key)
                try:
                    shown = path.relative_to(root).as_posix() if root.is_dir() else path.name
                except ValueError:
                    shown = path.name
                found.append((path, shown or path.name))
        return found, errors

    def _read(self, path: Path, source: str) -> Document:
        """Read one file within the caps of the settings (characters, parse time); raises IngestError."""
        return read_document(
            path, source=source, max_chars=self.settings.max_document_chars, timeout_s=self.settings.parse_timeout_s
        )

    def _chunk(self, doc: Document) -> list[Chunk]:
        """Cut a document into chunks within the cap of the settings; raises DocumentTooLarge."""
        return chunk_document(
            doc,
            self.embedder.count_tokens,
            max_tokens=self._chunk_budget(),
            overlap=self.settings.chunk_overlap,
            max_chunks=self.settings.max_chunks_per_document,
            window=self.embedder.max_tokens,
        )

    def _file_jobs(
        self, files: Sequence[tuple[Path, str]], errors: dict[str, str], unchanged: list[str], ids: dict[str, str]
    ) -> tuple[list[Job], int]:
        """The files to read, as jobs; and how many files (or uploads) are settled without reading: unchanged
        ones (their origins go to ``unchanged``, their ids to ``ids``) and those that fail here (``errors``)."""
        uploads = upload_dir(self.settings).resolve()
        chunking = self._chunking()
        jobs: list[Job] = []
        settled = 0
        for path, shown in files:
            resolved = path.resolve()
            if resolved.parent == uploads:  # an upload: as each document uploaded from this stored file
                entries = self.catalog.by_stored(resolved.name)
                todo: list[tuple[str, CatalogEntry | None, str, str]] = [
                    (e.origin, e, e.stored, e.source) for e in entries
                ]
                if not todo:
                    errors[str(path)] = (
                        f"{shown}: a stored upload no document refers to (deleted or replaced); not ingested"
                    )
            else:
                origin = str(resolved)
                todo = [(origin, self.catalog.by_origin(origin), "", shown)]
            try:
                fingerprint = _fingerprint(path, chunking)
            except OSError as exc:  # gone or unreadable since it was found
                errors[str(path)] = f"{shown}: cannot read the file ({exc.strerror or exc})"
                todo = []
            settled += not todo
            for origin, old, stored, source in todo:
                if old is not None and old.fingerprint == fingerprint:
                    unchanged.append(origin)
                    ids[origin] = old.id
                    settled += 1
                else:
                    jobs.append(
                        Job(
                            key=origin,
                            where=str(path),
                            path=path,
                            shown=source,
                            origin=origin,
                            old=old,
                            stored=stored,
                            fingerprint=fingerprint,
                        )
                    )
        return jobs, settled

    def _read_ahead(self, jobs: Sequence[Job]) -> PreparedStream:
        """The default ``Preparer``: a ``Reader`` thread reads and chunks ``jobs`` ahead, in job order; the vectors
        are left to ``_stream`` (None), which embeds the chunks of many documents together."""
        with Reader(jobs, self._read, self._chunk) as reader:
            for item in reader:
                yield item, None

    def _stream(
        self,
        prepared: PreparedStream,
        *,
        total: int,
        settled: int,
        errors: dict[str, str],
        outcomes: dict[str, list[str]],
        ids: dict[str, str],
        unit: str,
        progress: bool,
    ) -> None:
        """Index what a ``Preparer`` yields, in job order: each document's row is written (``_stage``), the chunks
        of many are added together once ``_embed_pool`` of them wait (embedded here unless the preparer brought
        their vectors), and the index commits when the ``CommitClock`` says so (the waiting chunks are added
        first: a commit makes ready only documents whose chunks are in both indexes). A job that failed to read
        or chunk goes to ``errors`` under its path; its neighbours are indexed. ``total`` items, ``settled`` of
        them already done (the bar's start)."""
        bar = Progress(total, unit=unit, enabled=progress)
        bar.done(settled)
        clock = CommitClock(self.settings.commit_every_docs, self.settings.commit_every_s)
        pool = self._embed_pool()
        waiting: list[Chunk] = []
        vectors: list[np.ndarray] = []  # the preparer's vectors of ``waiting``, when it brought them

        def flush() -> None:
            given = np.concatenate(vectors) if vectors else None
            bar.indexed(self._add_chunks(waiting, given))
            waiting.clear()
            vectors.clear()

        try:
            with closing(prepared):
                for item, embedded in prepared:
                    job = item.job
                    if item.error:
                        errors[job.where] = item.error
                    else:
                        assert item.doc is not None
                        outcome, ids[job.key], chunks = self._stage(
                            item.doc,
                            item.chunks,
                            origin=job.origin,
                            fingerprint=job.fingerprint,
                            old=job.old,
                            stored=job.stored,
                        )
                        outcomes[outcome].append(job.key)
                        if chunks:  # renamed (same order) when salted; none when only touched
                            waiting.extend(chunks)
                            if embedded is not None:
                                vectors.append(embedded)
                        clock.add()
                    bar.done(1, job.shown or job.key)
                    if len(waiting) >= pool or (waiting and clock.due()):
                        flush()
                    if clock.due():
                        self._commit()
                        clock.reset()
            flush()
        finally:
            bar.close()

    def _embed_pool(self) -> int:
        """Chunks gathered before they are embedded in one call: 8 full batches, so the model's length sort
        pads little and each call is large, while few chunks wait unembedded when a commit falls due."""
        return 8 * max(1, self.embedder.batch_size)

    def _ingest_upload(self, received: ReceivedUpload) -> UploadResult:
        """Read a received upload and index it as the document of its name; the old version stays on failure."""
        name = received.name
        origin = _UPLOAD + name
        old = self.catalog.by_origin(origin)
        try:
            doc = self._identified(self._read(received.path, name), origin, old)
        except IngestError as exc:
            raise self._upload_error(name, exc) from None
        status: Literal["added", "replaced", "unchanged"]
        if old is not None and old.id == doc.id and _chunking_of(old.fingerprint) == self._chunking():
            status, doc_id = "unchanged", old.id
        else:
            folder = upload_dir(self.settings)
            target = keep_upload(received, folder)
            try:
                outcome, doc_id = self._put(
                    doc,
                    origin=origin,
                    fingerprint=_fingerprint(target, self._chunking()),
                    old=old,
                    stored=target.name,
                )
            except IngestError as exc:
                self._forget_stored({target.name})
                raise self._upload_error(name, exc) from None
            self._commit()
            status = "added" if outcome == "added" else "replaced"
        info = self.document(doc_id)
        entry = self.catalog.entry(doc_id)
        return UploadResult(
            filename=name,
            saved_as=f"uploads/{entry.stored}" if entry is not None and entry.stored else None,
            status=status,
            id=info.id,
            title=info.title,
            chunks=info.chunks,
        )

    @staticmethod
    def _upload_error(name: str, exc: IngestError) -> Exception:
        """An ingest error of an upload in the upload family (the message names the upload, not a stored path)."""
        reason = str(exc)
        message = reason if reason.startswith(name) else f"{name!r}: {reason}"
        if isinstance(exc, DocumentTooLarge):
            return UploadTooLarge(message)
        if isinstance(exc, UnsupportedFileType):
            return UnsupportedUpload(message)
        return UploadFailed(f"{name!r} could not be read: {reason}")

    def _identified(self, doc: Document, origin: str, old: CatalogEntry | None) -> Document:
        """``doc`` with the id it has in this index: its content id, unless another origin holds that content;
        then the content id salted with the origin, so each origin's document is deleted on its own."""
        content_id = doc.id
        salted = _salted(content_id, origin)
        if old is not None and old.id in (content_id, salted):
            doc_id = old.id
        else:
            holder = self.catalog.entry(content_id)
            doc_id = content_id if holder is None or holder.origin == origin else salted
        return doc if doc_id == doc.id else doc.model_copy(update={"id": doc_id})

    def _put(
        self,
        doc: Document,
        *,
        origin: str,
        fingerprint: str,
        old: CatalogEntry | None,
        stored: str,
    ) -> tuple[str, str]:
        """Index a new document or a new version of ``old`` now (pending until ``_commit``); (outcome, id).

        Raises DocumentTooLarge (over the chunk cap) before any write."""
        outcome, doc_id, chunks = self._stage(
            doc, self._chunk(doc), origin=origin, fingerprint=fingerprint, old=old, stored=stored
        )
        self._add_chunks(chunks)
        return outcome, doc_id

    def _stage(
        self,
        doc: Document,
        chunks: Sequence[Chunk],
        *,
        origin: str | None,
        fingerprint: str,
        old: CatalogEntry | None,
        stored: str,
    ) -> tuple[str, str, list[Chunk]]:
        """Write the catalog row of a new document or of a new version of ``old``; (outcome, id, the chunks to
        add to the indexes).

        A new version is ``pending`` (naming the entry it ``replaces``, which stays ready) until ``_commit``; the
        same content cut by other chunk settings stays ready, marked as cut again, and its old chunks leave both
        indexes now; the same content cut the same way is only touched (no chunks). ``chunks`` were cut from
        ``doc`` under its content id and are renamed when this index knows it by another (``_identified``).
        ``origin`` None: an in-memory document (eval sets), its own origin under its own id.
        """
        if origin is not None:
            identified = self._identified(doc, origin, old)
            if identified.id != doc.id:
                chunks = _renamed(chunks, identified.id)
            doc = identified
        if old is not None and old.id == doc.id:
            if _chunking_of(old.fingerprint) == _chunking_of(fingerprint):  # only touched
                self.catalog.set_fingerprint(doc.id, fingerprint)
                return "unchanged", doc.id, []
            # same content, cut by another chunker version or other chunk settings: cut it again in place
            self._begin_recut(doc, len(chunks), origin=origin, fingerprint=fingerprint, stored=old.stored or stored)
            return "replaced", doc.id, list(chunks)
        with self.catalog.transaction():
            self.catalog.put(
                doc,
                chunks=len(chunks),
                fingerprint=fingerprint,
                state="pending",
                origin=origin,
                stored=stored,
                replaces=old.id if old is not None else "",
            )
        return ("added" if old is None else "replaced"), doc.id, list(chunks)

    def _chunk_budget(self) -> int:
        """Word pieces per chunk: the setting, within the embedder's window."""
        return min(self.settings.chunk_tokens, self.embedder.max_tokens)

    def _chunking(self) -> str:
        """How documents are cut into chunks now: chunker version, token budget, overlap."""
        return f"chunks-v{CHUNKING_VERSION}:{self._chunk_budget()}:{self.settings.chunk_overlap}"

    def _recut(self, doc: Document, *, origin: str, fingerprint: str, stored: str) -> None:
        """Replace the chunks of a ready document by a new cut of the same text.

        Its id cannot change, so the two versions cannot live side by side: the row stays ready and is marked as
        being cut again (it ``replaces`` itself) until ``_commit``; after a crash it is cut again from its
        stored text on open.
        """
        chunks = self._chunk(doc)
        self._begin_recut(doc, len(chunks), origin=origin, fingerprint=fingerprint, stored=stored)
        self._add_chunks(chunks)

    def _begin_recut(self, doc: Document, chunks: int, *, origin: str | None, fingerprint: str, stored: str) -> None:
        """The first half of a re-cut (``_recut``, and the streamed ingest's ``_stage``): the row stays ready,
        marked as cut again (it ``replaces`` itself) with its new chunk count, and the old chunks leave every
        index; the caller adds the new chunks, ``_commit`` clears the mark."""
        with self.catalog.transaction():
            self.catalog.put(
                doc,
                chunks=chunks,
                fingerprint=fingerprint,
                state="ready",
                origin=origin,
                stored=stored,
                replaces=doc.id,
            )
        self.vector.delete(doc.id)
        self.lexical.delete(doc.id)
        self.sentence_vectors.delete(doc.id)

    def _add_chunks(self, chunks: Sequence[Chunk], vectors: np.ndarray | None = None) -> int:
        """Add ``chunks`` to both indexes (pending until ``_commit``), embedded in one call unless their
        ``vectors`` (one row per chunk, made with this model) are given; how many."""
        if chunks:
            if vectors is None:
                vectors = self.embedder.embed([c.indexed_text for c in chunks])
            elif len(vectors) != len(chunks):
                raise ValueError(f"{len(vectors)} vectors for {len(chunks)} chunks")
            self.vector.add(chunks, vectors)
            self.lexical.add(chunks)
        return len(chunks)

    def _commit(self) -> None:
        """Make the pending versions the documents, in an order a crash cannot break.

        1. persist the lexical index (the new chunks are on disk in both indexes);
        2. one catalog transaction: pending -> ready, and the versions they replace -> deleting;
        3. drop the chunks of everything deleting from both indexes, persist the lexical index;
        4. remove their rows, then their stored upload files no row refers to any more.
        A crash before 2 leaves the old versions (pending is rolled back on open); after 2, the new ones
        (deleting is finished on open).
        """
        self._library_changed()
        self.lexical.commit()
        if self.library is not None:  # shared: every process hears of the new versions before they are ready here
            self._publish([e for e in self.catalog.unfinished() if e.state == "pending" or e.replaces == e.id])
        with self.catalog.transaction():
            for entry in self.catalog.unfinished():
                if entry.state == "pending":
                    self.catalog.set_state(entry.id, "ready")
                    if entry.replaces and entry.replaces != entry.id:
                        self.catalog.set_state(entry.replaces, "deleting")
                    self.catalog.set_replaces(entry.id, "")
                elif entry.state == "ready":  # cut again
                    self.catalog.set_replaces(entry.id, "")
        self._finish_deletes()
        self._library_changed()  # and again: a question may have read the library meanwhile
        if self.library is not None:
            self._compact_changes()

    def _compact_changes(self) -> None:
        """Shared mode: delete the changes older than ``changelog_keep_s``, at most every 1/24 of it (at least a
        minute apart) per process. The write is done: a failure here is only logged (the next commit retries)."""
        assert self.library is not None
        keep_us = int(self.settings.changelog_keep_s * 1_000_000)
        try:
            self.library.compact(keep_us, every_us=max(60_000_000, keep_us // 24))
        except Exception as exc:
            log.warning("could not compact the change log (%s); the next commit will try again", exc)

    def _finish_deletes(self) -> None:
        gone = self.catalog.entries(state="deleting")
        if not gone:
            return
        if self.library is not None:  # shared: the records go first, so no process looks for the chunks
            self.library.remove([e.id for e in gone])
            self.library.append([("delete", e.id) for e in gone])
        for entry in gone:
            self.vector.delete(entry.id)
            self.lexical.delete(entry.id)
            self.sentence_vectors.delete(entry.id)
        self.lexical.commit()
        with self.catalog.transaction():
            for entry in gone:
                self.catalog.remove(entry.id)
        self._forget_stored({e.stored for e in gone if e.stored})

    def _forget_stored(self, names: set[str]) -> None:
        """Remove stored upload files that no row refers to any more."""
        folder = upload_dir(self.settings)
        for name in names - self.catalog.stored_names():
            (folder / name).unlink(missing_ok=True)

    def _prune(self, files: Sequence[Path], roots: Sequence[Path]) -> list[str]:
        present = {str(f.resolve()) for f in files}
        prefixes = [str(r.resolve()) for r in roots]
        removed: list[str] = []
        for entry in self.catalog.entries():
            origin = entry.origin
            if origin.startswith(_UPLOAD):
                continue
            under = any(origin == p or origin.startswith(p.rstrip("/") + "/") for p in prefixes)
            if under and origin not in present and not Path(origin).exists():
                self.catalog.set_state(entry.id, "deleting")
                removed.append(origin)
        return removed

    def _recover(self) -> None:
        """Roll back what an interrupted write left half-done: a pending version is dropped (its document keeps
        the version it had), a delete is finished, a document being cut again is cut again from its text."""
        unfinished = self.catalog.unfinished()
        pending = [e for e in unfinished if e.state == "pending"]
        recut = [e for e in unfinished if e.state == "ready"]
        for entry in unfinished:
            log.warning("rolling back interrupted %s of %s", "re-cut" if entry in recut else entry.state, entry.source)
        # shared: a document some process published meanwhile (the same content uploaded elsewhere) keeps its chunks
        published = self.library.records([e.id for e in pending]) if self.library is not None and pending else {}
        for entry in pending:
            if entry.id not in published:
                self.vector.delete(entry.id)
            self.lexical.delete(entry.id)
            self.sentence_vectors.delete(entry.id)
        stray = self.lexical.doc_ids() - self.catalog.ids() - {e.id for e in unfinished}
        for doc_id in stray:
            self.lexical.delete(doc_id)
        if pending or stray:
            self.lexical.commit()
            with self.catalog.transaction():
                for entry in pending:
                    self.catalog.remove(entry.id)
            self._forget_stored({e.stored for e in pending if e.stored})
        for entry in recut:
            doc = self.catalog.document(entry.id)
            assert doc is not None
            size_mtime = entry.fingerprint.partition("|")[0]
            try:
                self._recut(
                    doc, origin=entry.origin, fingerprint=f"{size_mtime}|{self._chunking()}", stored=entry.stored
                )
            except IngestError as exc:  # over a cap set since: the document goes (its file can be ingested again)
                log.warning("dropping %s: %s", entry.source, exc)
                self.catalog.set_state(entry.id, "deleting")
        if recut or any(e.state == "deleting" for e in unfinished):
            self._commit()

    # ------------------------------------------------------------------ shared mode (docs/scale-out.md)

    def follow(self, *, full: bool = False) -> int:
        """Shared mode: bring the caches up to date with the change log (and, with ``full``, with the set of
        document records); how many documents changed here. A round is skipped while a local write holds the
        index. Raises ChromaUnavailable."""
        library = self.library
        if library is None:
            return 0
        if not self._write_lock.acquire(timeout=0.5):
            return 0
        try:
            seen = int(self.catalog.setting("changes_seen") or 0)
            found = library.since(max(0, seen - LAG_US))
            gaps = [c.seq for c in found if c.kind == COMPACTED]
            changes = [c for c in found if c.kind != COMPACTED and c.id not in self._applied]
            dirty = {c.doc_id for c in changes} | self._retry
            if gaps:  # compacted past this cache's window: what it missed may be gone from the log
                dirty |= self._stale()
            elif full:
                dirty |= library.ids() ^ {e.id for e in self.catalog.entries()}
            ordered = sorted(dirty)
            applied = 0
            retry: set[str] = set()
            for i in range(0, len(ordered), _FOLLOW_BATCH):
                done, later = self._reconcile(ordered[i : i + _FOLLOW_BATCH])
                applied += done
                retry |= later
            self._retry = retry
            # past the horizon once every record was compared: the next rounds read only the log again
            top = max([seen, *(c.seq for c in changes), *(g + LAG_US + 1 for g in gaps)])
            self._applied.update((c.id, c.seq) for c in changes)
            self._applied = {k: v for k, v in self._applied.items() if v >= top - LAG_US}
            if top != seen:
                self.catalog.set_setting("changes_seen", str(top))
            self._followed += applied
            # replaced whole, never changed in place: health() reads it from other threads
            self.follow_state = {
                **self.follow_state,
                "checkpoint": top,
                "followed_at": round(time.time(), 3),
                "applied": self._followed,
            }
            return applied
        finally:
            self._write_lock.release()

    def _stale(self) -> set[str]:
        """The documents whose record and cache differ (one is missing, or another chunk count or chunking): the
        comparison of every record, for a cache the change log can no longer bring up to date."""
        assert self.library is not None
        versions = self.library.versions()
        local = {e.id: e for e in self.catalog.entries()}
        stale = set(local) - set(versions)
        for doc_id, (chunks, fingerprint) in versions.items():
            entry = local.get(doc_id)
            if entry is None or entry.chunks != chunks or _chunking_of(entry.fingerprint) != _chunking_of(fingerprint):
                stale.add(doc_id)
        return stale

    def _reconcile(self, doc_ids: Sequence[str]) -> tuple[int, set[str]]:
        """Make the caches of ``doc_ids`` what their records say (added, cut again or gone); (how many changed,
        those whose chunks are not all in Chroma yet: to try again)."""
        assert self.library is not None
        records = self.library.records(doc_ids)
        fresh: list[tuple[DocumentRecord, str]] = []
        gone: list[CatalogEntry] = []
        retry: set[str] = set()
        for doc_id in doc_ids:
            local = self.catalog.entry(doc_id)
            if local is not None and (local.state != "ready" or local.replaces):
                continue  # a write of this process not committed (it holds no lock now: one that failed)
            record = records.get(doc_id)
            if record is None:
                if local is not None:
                    gone.append(local)
                continue
            if (
                local is not None
                and local.chunks == record.chunks
                and _chunking_of(local.fingerprint) == _chunking_of(record.fingerprint)
            ):
                continue
            chunks = self.vector.chunks(doc_id)
            if len(chunks) != record.chunks:  # a writer cutting it again right now
                retry.add(doc_id)
                continue
            if local is not None:
                self.lexical.delete(doc_id)
                self.sentence_vectors.delete(doc_id)
            self.lexical.add(chunks)
            fresh.append((record, local.stored if local is not None else ""))
        if not fresh and not gone:
            return 0, retry
        for entry in gone:
            self.lexical.delete(entry.id)
            self.sentence_vectors.delete(entry.id)
        self.lexical.commit()
        with self.catalog.transaction():
            for record, stored in fresh:
                self.catalog.put(
                    record.document,
                    chunks=record.chunks,
                    fingerprint=record.fingerprint,
                    state="ready",
                    origin=record.origin,
                    stored=stored,
                    ingested_at=record.ingested_at,
                )
            for entry in gone:
                self.catalog.remove(entry.id)
        self._forget_stored({e.stored for e in gone if e.stored})
        self._library_changed()
        return len(fresh) + len(gone), retry

    def _publish(self, entries: Sequence[CatalogEntry]) -> None:
        """Write the records of ``entries`` (new versions, documents cut again) and their changes to Chroma."""
        assert self.library is not None
        records = _records(self.catalog, entries)
        if records:
            self.library.put(records)
            self.library.append([("put", r.id) for r in records])

    def _follow_loop(self) -> None:
        """The follower thread: ``follow`` every ``follow_interval_s``, comparing the record ids every
        ``FULL_SYNC_S``; a failure (the Chroma server down) is logged once and retried."""
        last_full = time.monotonic()
        while not self._stop_following.wait(self.settings.follow_interval_s):
            full = time.monotonic() - last_full >= FULL_SYNC_S
            try:
                self.follow(full=full)
            except Exception as exc:
                if not self.follow_state.get("error"):
                    log.warning("cannot follow the change log (%s); retrying", exc)
                self.follow_state = {**self.follow_state, "error": str(exc)}
                continue
            if "error" in self.follow_state:
                self.follow_state = {k: v for k, v in self.follow_state.items() if k != "error"}
            if full:
                last_full = time.monotonic()

    def _join_library(self) -> None:
        """Shared mode: open the document records and the change log, and make sure the chunk collection belongs
        to a shared index built with this model and cut with these chunk settings (the first process records
        both; they decide the vectors and the chunk ids every process must agree on); a cache of another
        incarnation of the index starts empty.
        Raises CollectionMismatch, IndexMismatch."""
        assert self.settings.chroma_url
        library = self.library = SharedLibrary(self.settings.chroma_url, self.settings.collection)
        owner = self.vector.owner()
        if owner is not None and owner != SHARED_OWNER:
            self._convert_directory_index(owner)
            owner = SHARED_OWNER
        if owner is None:
            stored = self.vector.count()
            if stored and not library.count():
                raise CollectionMismatch(
                    f"the Chroma collection {self.vector.location} holds {stored} chunk{'s' * (stored != 1)} that no "
                    "shared index wrote; give the shared index its own ASSISTANT_COLLECTION"
                )
            self.vector.set_owner(SHARED_OWNER)
        model = library.setting("embed_model")
        if model is None:
            library.set_setting("embed_model", self.embedder.name)
        elif model != self.embedder.name:
            raise IndexMismatch(
                f"the shared index {self.vector.location} was built with the embedding model {model!r}, not "
                f"{self.embedder.name!r}; use that model or another ASSISTANT_COLLECTION"
            )
        chunking = library.setting("chunking")
        if chunking is None:
            library.set_setting("chunking", self._chunking())
        elif chunking != self._chunking():
            raise IndexMismatch(
                f"the shared index {self.vector.location} is cut into chunks {_described(chunking)}; this process "
                f"cuts chunks {_described(self._chunking())}: set ASSISTANT_CHUNK_TOKENS and ASSISTANT_CHUNK_OVERLAP "
                "as the index has them, or use another ASSISTANT_COLLECTION"
            )
        self._cache_reset = self.catalog.setting("library") != library.identity
        if self._cache_reset:  # a new cache, or the shared index was recreated: rebuilt from the records
            everything = self.catalog.entries(state=None)
            for doc_id in {e.id for e in everything} | self.lexical.doc_ids():
                self.lexical.delete(doc_id)
                self.sentence_vectors.delete(doc_id)
            self.lexical.commit()
            with self.catalog.transaction():
                for entry in everything:
                    self.catalog.remove(entry.id)
                self.catalog.set_setting("library", library.identity)
                self.catalog.set_setting("changes_seen", "")

    def _convert_directory_index(self, owner: str) -> None:
        """Shared mode on a collection of one data directory (``owner``, its index id): when that directory is
        this process's ``ASSISTANT_DATA_DIR``, its index becomes the shared one: the record of each of its ready
        documents is published from its catalog (with a ``put`` change), then the collection is marked shared.
        Its chunks stay where they are; a crash before the mark leaves it to do again (records are rewritten as
        they were). Refused (CollectionMismatch, IndexMismatch, IndexInUse) for a collection of another
        directory, a directory in use or with a write not finished, or other model or chunk settings."""
        assert self.library is not None
        advice = "give the shared index its own ASSISTANT_COLLECTION"
        path = self._home / "catalog.sqlite"
        if not path.exists():
            raise CollectionMismatch(
                f"the Chroma collection {self.vector.location} holds the index of one data directory, not a shared "
                f"index; {advice}, or open it in shared mode with the data directory that built it to convert it"
            )
        lock = DirectoryLock(self._home)
        lock.acquire()  # IndexInUse: a process of one-directory mode is running on it
        catalog = Catalog(path)
        try:
            if catalog.setting("index_id") != owner:
                raise CollectionMismatch(
                    f"the Chroma collection {self.vector.location} holds the index of another data directory, not "
                    f"{self._home}; {advice}, or open it in shared mode with the data directory that built it"
                )
            model = catalog.setting("embed_model")
            if model is not None and model != self.embedder.name:
                raise IndexMismatch(
                    f"the index in {self._home} was built with the embedding model {model!r}, not "
                    f"{self.embedder.name!r}; use that model to make it shared"
                )
            if catalog.unfinished():
                raise CollectionMismatch(
                    f"the index in {self._home} has a write not finished; open it once with ASSISTANT_SHARED=false "
                    "(which rolls it back or completes it), then in shared mode"
                )
            entries = catalog.entries()
            other = sorted({_chunking_of(e.fingerprint) for e in entries} - {self._chunking()})
            if other:
                raise IndexMismatch(
                    f"the index in {self._home} is cut into chunks {_described(other[0])}; this process cuts chunks "
                    f"{_described(self._chunking())}: use the settings it was built with to make it shared"
                )
            log.warning("making the index of %s (%d documents) shared", self._home, len(entries))
            for i in range(0, len(entries), _FOLLOW_BATCH):
                records = _records(catalog, entries[i : i + _FOLLOW_BATCH])
                self.library.put(records)
                self.library.append([("put", r.id) for r in records])
            self.vector.set_owner(SHARED_OWNER)
        finally:
            catalog.close()
            lock.release()

    def _adopt_uploads(self) -> None:
        """Uploads indexed before upload names: stored as ``uploads/<safe name>`` and identified by that path.
        They become uploads named by their file name (so their files are deleted with them)."""
        folder = str(upload_dir(self.settings).resolve())
        with self.catalog.transaction():
            for entry in self.catalog.with_origin_under(folder):
                path = PurePosixPath(entry.origin)
                if not entry.stored and str(path.parent) == folder:
                    self.catalog.set_origin(entry.id, origin=_UPLOAD + path.name, source=path.name, stored=path.name)

    def _claim_collection(self) -> None:
        """Make sure the Chroma collection holds this directory's chunks and no one else's.

        The catalog and the BM25 index live in the data directory; the chunk embeddings may live on a shared
        Chroma server. Two directories writing one collection would each answer from chunks the other wrote
        (and their lexical index never saw), so the collection records the id of the directory that fills it.
        Raises CollectionMismatch.
        """
        recorded = self.catalog.setting("index_id")
        known = recorded is not None or bool(self.catalog.entries(state=None))  # an index built before ids
        index_id = recorded or uuid.uuid4().hex
        owner = self.vector.owner()
        advice = "give this one its own ASSISTANT_COLLECTION, or use the data directory that built it"
        if owner == SHARED_OWNER:
            raise CollectionMismatch(
                f"the Chroma collection {self.vector.location} holds a shared index (docs/scale-out.md); leave "
                "ASSISTANT_SHARED unset (or true) to use it, or give this one its own ASSISTANT_COLLECTION"
            )
        if owner is not None and owner != index_id:
            raise CollectionMismatch(
                f"the Chroma collection {self.vector.location} holds the index of another data directory, "
                f"not {self.settings.data_dir}; {advice}"
            )
        if owner is None:
            stored = self.vector.count()
            if stored and not known:
                raise CollectionMismatch(
                    f"the Chroma collection {self.vector.location} holds {stored} chunk{'s' * (stored != 1)} that "
                    f"{self.settings.data_dir} did not write; {advice}"
                )
            self.vector.set_owner(index_id)
        if recorded is None:
            self.catalog.set_setting("index_id", index_id)

    def _check_model(self) -> None:
        built_with = self.catalog.setting("embed_model")
        if built_with is None:
            self.catalog.set_setting("embed_model", self.embedder.name)
        elif built_with != self.embedder.name:
            raise IndexMismatch(
                f"the index in {self.settings.data_dir} was built with the embedding model {built_with!r}, "
                f"not {self.embedder.name!r}; use that model or a new ASSISTANT_DATA_DIR"
            )
