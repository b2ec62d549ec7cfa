"""The one service object used by the CLI, the API, the UI and the eval runner."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Literal

from tqdm import tqdm

from assistant.answerer import Answerer, create_answerer, final_answer
from assistant.config import Settings
from assistant.errors import (
    CollectionMismatch,
    DocumentNotFound,
    EmptyIndex,
    IndexMismatch,
    InvalidQuestion,
    UploadFailed,
)
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
from assistant.uploads import store_upload
from index.catalog import Catalog, CatalogEntry
from index.embeddings import Embedder
from index.lexical import LexicalIndex
from index.lock import DirectoryLock
from index.rerank import create_reranker
from index.retriever import HybridRetriever
from index.vector import VectorIndex
from ingest.chunking import CHUNKING_VERSION, chunk_document
from ingest.errors import IngestError
from ingest.loaders import discover, read_document

log = logging.getLogger(__name__)
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


class Assistant:
    """Owns the embedder, the indexes and the answerers. No FastAPI or Gradio here.

    Reads may run concurrently; writes (ingest, delete) are serialised.
    """

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None) -> None:
        self.settings = settings
        data_dir = Path(settings.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        # one process at a time on the directory (index.lock says why); raises IndexInUse before the model loads
        self._dir_lock = DirectoryLock(data_dir)
        self._dir_lock.acquire()
        try:
            self.embedder = embedder or Embedder(settings.embed_model, batch_size=settings.embed_batch_size)
            self._open(settings, data_dir)
        except BaseException:
            self.close()
            raise

    def _open(self, settings: Settings, data_dir: Path) -> None:
        self.catalog = Catalog(data_dir / "catalog.sqlite")
        self._check_model()
        self.vector = VectorIndex(
            None if settings.chroma_url else data_dir / "chroma",
            url=settings.chroma_url,
            collection=settings.collection,
        )
        self._claim_collection()
        self.lexical = LexicalIndex(data_dir / "bm25")
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
        self._recover()

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
        self._require_documents()
        allowed = self._allowed_ids(doc_ids, sources)
        return self.retriever.retrieve(query, top_k or self.settings.top_k, doc_ids=allowed)

    def _passages(
        self,
        question: str,
        *,
        top_k: int | None,
        doc_ids: Sequence[str] | None,
        sources: Sequence[str] | None,
    ) -> tuple[list[Passage], Scope]:
        """The passages to answer from, and what the question asks of the library.

        A question that names documents ("the CGTN commentary") searches only them, unless the caller
        chose documents. A question about a whole document (a summary) or a place in one (how it begins or
        ends, or who wrote it) gets that document's passages by position: its first or last two chunks, or
        its first chunk and the chunks nearest its title. Which document: the named or chosen ones, else
        the best-ranked one (up to ``_MAX_WHOLE_DOCUMENTS`` when the question speaks of several or the
        caller chose several). The passages carry ``meta["focus"]``.
        """
        k = top_k or self.settings.top_k
        self._require_documents()
        allowed = self._allowed_ids(doc_ids, sources)
        scope = scope_of(question, self._document_names()) if mentions_documents(question) else Scope()
        if allowed is None and scope.doc_ids:
            allowed = set(scope.doc_ids)
        if scope.focus is None:
            return self.retriever.retrieve(question, k, doc_ids=allowed), scope
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
        return passages, scope

    # ------------------------------------------------------------------ documents

    def ingest(self, paths: Sequence[Path], *, prune: bool = False, progress: bool = False) -> IngestReport:
        """Ingest files/directories incrementally; bad files are reported in ``errors``.

        Unchanged files do no work, changed files replace their old chunks, and
        with ``prune`` documents whose files are gone are removed.
        """
        files, errors = discover([Path(p) for p in paths])
        added: list[str] = []
        replaced: list[str] = []
        unchanged: list[str] = []
        removed: list[str] = []
        ids: dict[str, str] = {}
        with self._write_lock:
            bar = tqdm(files, desc="ingest", unit="file", disable=not progress, leave=False)
            for path in bar:
                source = str(path.resolve())
                bar.set_postfix_str(path.name[:30])
                try:
                    outcome, ids[source] = self._ingest_file(path, source, progress=progress)
                except IngestError as exc:
                    errors[str(path)] = str(exc)
                    continue
                {"added": added, "replaced": replaced, "unchanged": unchanged}[outcome].append(source)
            if prune:
                removed = self._prune(files, [Path(p) for p in paths])
            self._commit()
        return IngestReport(
            added=tuple(added),
            replaced=tuple(replaced),
            unchanged=tuple(unchanged),
            removed=tuple(removed),
            errors=errors,
            ids=ids,
        )

    def ingest_documents(self, docs: Sequence[Document], *, progress: bool = False) -> IngestReport:
        """Index in-memory documents (eval sets, uploads already parsed). Same-id documents are skipped."""
        added: list[str] = []
        unchanged: list[str] = []
        with self._write_lock:
            fresh = [d for d in docs if self.catalog.entry(d.id) is None]
            unchanged = [d.source for d in docs if d not in fresh]
            bar = tqdm(total=len(fresh), desc="ingest", unit="doc", disable=not progress, leave=False)
            batch = 64  # small enough that the bar moves, big enough to embed in full batches
            for i in range(0, len(fresh), batch):
                part = fresh[i : i + batch]
                self._index_documents(part, fingerprint="")
                added.extend(d.source for d in part)
                bar.update(len(part))
            bar.close()
            self._commit()
        return IngestReport(added=tuple(added), unchanged=tuple(unchanged), ids={d.source: d.id for d in docs})

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
        return self.vector.chunks(doc_id)

    def delete(self, doc_id: str) -> None:
        """Remove a document and its chunks from both indexes. Raises DocumentNotFound."""
        with self._write_lock:
            self.document(doc_id)
            self._drop(doc_id)
            self._commit()

    def upload(self, filename: str, stream: IO[bytes], *, max_mb: float | None = None) -> UploadResult:
        """Store one uploaded file under the data directory and ingest it (at most ``max_mb``, default the setting).

        Raises UnsupportedUpload, UploadTooLarge, UploadFailed (and WriteBusy when another write holds the index).
        """
        with self._write_lock:
            path = store_upload(self.settings, filename, stream, max_mb=max_mb)
            report = self.ingest([path])
            if report.errors:
                reason = "; ".join(report.errors.values())
                if not any(d.source == str(path.resolve()) for d in self.documents()):
                    path.unlink(missing_ok=True)
                raise UploadFailed(f"{filename!r} could not be read: {reason}")
        source = str(path.resolve())
        status: Literal["added", "replaced", "unchanged"] = (
            "added" if source in report.added else "replaced" if source in report.replaced else "unchanged"
        )
        info = self.document(report.ids[source])  # for identical content under another name: that document
        return UploadResult(
            filename=filename,
            saved_as=str(path.relative_to(self.settings.data_dir)),
            status=status,
            id=info.id,
            title=info.title,
            chunks=info.chunks,
        )

    def modes(self) -> list[str]:
        """The answer modes this service offers."""
        return sorted({"extractive", self._default_mode()})

    def health(self) -> dict[str, object]:
        """Index size, model, version."""
        return {
            "status": "ok",
            "version": __version__,
            "documents": self.catalog.count(),
            "chunks": self.vector.count(),
            "model": self.embedder.name,
            "fusion": self.settings.fusion,
            "modes": self.modes(),
        }

    def close(self) -> None:
        """Close the catalog and the Chroma client, and let another process open the directory. Safe twice."""
        for store in (getattr(self, "vector", None), getattr(self, "catalog", None)):
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
        if not doc_ids and not sources:
            return None
        allowed: set[str] = set(doc_ids or ())
        if sources:
            for entry in self.catalog.entries():
                if any(entry.source == s or entry.source.endswith("/" + s.lstrip("/")) for s in sources):
                    allowed.add(entry.id)
        return allowed

    def _require_documents(self) -> None:
        if self.catalog.count() == 0:
            raise EmptyIndex(f"no documents are indexed in {self.settings.data_dir}; run `assistant ingest PATH` first")

    def _document_names(self) -> DocumentNames:
        """What names each document, kept until the next write (``_commit`` drops it)."""
        names = self._names
        if names is None:
            names = self._names = DocumentNames(self.documents())
        return names

    def _info(self, entry: CatalogEntry) -> DocumentInfo:
        return DocumentInfo(
            id=entry.id,
            title=entry.title,
            source=entry.source,
            chunks=entry.chunks,
            ingested_at=entry.ingested_at,
            pages=entry.pages or 0,
        )

    def _ingest_file(self, path: Path, source: str, *, progress: bool = False) -> tuple[str, str]:
        """Index one file unless it is unchanged; returns (outcome, document id)."""
        chunking = self._chunking()
        fingerprint = _fingerprint(path, chunking)
        old = self.catalog.by_source(source)
        if old is not None and old.fingerprint == fingerprint:
            return "unchanged", old.id
        doc = read_document(path, source=source)
        if old is not None and old.id == doc.id:
            if _chunking_of(old.fingerprint) == chunking:  # only touched
                self.catalog.set_fingerprint(doc.id, fingerprint)
                return "unchanged", doc.id
            # same content, cut by another chunker version or other chunk settings: cut it again below
        elif (same := self.catalog.entry(doc.id)) is not None and same.state == "ready":
            return "unchanged", doc.id  # identical content is already indexed from another source
        if old is not None:
            self._drop(old.id)
        self._index_documents([doc], fingerprint=fingerprint, progress=progress)
        return ("added" if old is None else "replaced"), doc.id

    def _chunk_budget(self) -> int:
        """Word pieces per chunk: the setting, within the embedder's window."""
        return min(self.settings.chunk_tokens, self.embedder.max_tokens)

    def _chunking(self) -> str:
        """How documents are cut into chunks now: chunker version, token budget, overlap."""
        return f"chunks-v{CHUNKING_VERSION}:{self._chunk_budget()}:{self.settings.chunk_overlap}"

    def _index_documents(self, docs: Sequence[Document], *, fingerprint: str, progress: bool = False) -> None:
        """Chunk, embed and add ``docs`` (a big file shows its own embedding bar under the file bar)."""
        budget, overlap = self._chunk_budget(), self.settings.chunk_overlap
        chunked = [
            (doc, chunk_document(doc, self.embedder.count_tokens, max_tokens=budget, overlap=overlap)) for doc in docs
        ]
        with self.catalog.transaction():
            for doc, chunks in chunked:
                self.catalog.put(doc, chunks=len(chunks), fingerprint=fingerprint, state="pending")
        chunks = [c for _, cs in chunked for c in cs]
        if chunks:
            embeddings = self.embedder.embed([c.text for c in chunks], progress=progress and len(chunks) > 512)
            self.vector.add(chunks, embeddings)
            self.lexical.add(chunks)

    def _drop(self, doc_id: str) -> None:
        self.catalog.set_state(doc_id, "deleting")
        self.vector.delete(doc_id)
        self.lexical.delete(doc_id)

    def _commit(self) -> None:
        """Persist the lexical index, then mark what both indexes now hold as ready."""
        self._names = None
        self.lexical.commit()
        with self.catalog.transaction():
            for entry in self.catalog.unfinished():
                if entry.state == "pending":
                    self.catalog.set_state(entry.id, "ready")
                else:
                    self.catalog.remove(entry.id)

    def _prune(self, files: Sequence[Path], roots: Sequence[Path]) -> list[str]:
        present = {str(f.resolve()) for f in files}
        prefixes = [str(r.resolve()) for r in roots]
        removed: list[str] = []
        for entry in self.catalog.entries():
            under = any(entry.source == p or entry.source.startswith(p.rstrip("/") + "/") for p in prefixes)
            if under and entry.source not in present and not Path(entry.source).exists():
                self._drop(entry.id)
                removed.append(entry.source)
        return removed

    def _recover(self) -> None:
        """Roll back what an interrupted ingest or delete left half-done."""
        unfinished = self.catalog.unfinished()
        for entry in unfinished:
            log.warning("rolling back interrupted %s of %s", entry.state, entry.source)
            self.vector.delete(entry.id)
            self.lexical.delete(entry.id)
        ready = {e.id for e in self.catalog.entries()}
        stray = self.lexical.doc_ids() - ready
        for doc_id in stray:
            self.lexical.delete(doc_id)
        if unfinished or stray:
            self.lexical.commit()
            with self.catalog.transaction():
                for entry in unfinished:
                    self.catalog.remove(entry.id)

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
