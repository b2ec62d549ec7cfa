"""The shared library of a scaled-out index: document records and a change log, in Chroma beside the chunks.

With a Chroma server and ``ASSISTANT_SHARED`` (docs/scale-out.md) the Chroma server is the source of truth
for everything several processes must agree on:

* the chunk collection (``index.vector``): chunk texts, metadata and embeddings, as in every mode;
* ``<collection>-documents``: one record per ready document (its text, pages, meta, origin, fingerprint and
  chunk count): the catalog every process reads;
* ``<collection>-changes``: the change log. A writer appends one record per document it made ready or
  removed; each carries a sequence number ``seq``.

What a process keeps locally (the SQLite catalog, the lexical index, sentence vectors) is a cache derived
from these and rebuilt from them.

Sequence numbers need no lock server: a writer takes ``max(now in microseconds, the highest seq it has
seen + 1)``, and the record id is ``<seq>-<writer id>``, so two writers never write the same record and
each writer's numbers increase. Two writers' numbers may tie or arrive out of order (a writer slow between
taking a number and writing the record). A change is only a hint ("document X changed"): a reader
reconciles X with its record, whatever the order of the hints, so reading a change twice or late is
harmless. Readers re-read from ``LAG_US`` before their checkpoint each time, which covers late arrivals
within that window, and compare the set of record ids with their own now and then
(``FULL_SYNC_S``), which covers the rest (a writer killed between its record and its change).

Writers compact the log (``compact``, at most once an interval each): changes older than the kept window
(``ASSISTANT_CHANGELOG_KEEP_S``) are deleted below a horizon kept in the log itself. A reader whose window
reaches below the horizon (offline longer than that) cannot know what it missed from the log, and compares
every record's chunk count and chunking with its cache instead (``versions``).

A duplicate upload is a no-op by construction: a document's id is its content hash, its chunk ids are
``<doc id>:<position>`` and its record id is its id, so a second writer writes the same rows again.

chromadb objects stay inside this module: callers see ``DocumentRecord`` and ``Change``.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import chromadb
from chromadb.config import Settings as ChromaSettings

from assistant.types import Document, Page
from index.vector import chroma_errors

log = logging.getLogger(__name__)

# a reader re-reads the changes of this window before its checkpoint, for changes written late (a writer
# paused between taking its number and writing its record); a change later than that is found by the id
# comparison every FULL_SYNC_S seconds
LAG_US = 30_000_000
FULL_SYNC_S = 60.0
_PAGE = 1000  # records per get() page
# records of these collections are never searched by similarity; Chroma still wants a vector
_DUMMY: list[Sequence[float]] = [[1.0]]
SHARED_OWNER = "shared"  # the chunk collection's owner (index.vector's set_owner) when its index is shared
# the change log's horizon: the one entry of kind COMPACTED, numbered with the horizon; every change numbered below
# it may have been deleted (``SharedLibrary.compact``), so a reader that gets it from ``since`` has a gap to fill
COMPACTED = "compacted"
_HORIZON_ID = "compacted"


@dataclass(frozen=True)
class DocumentRecord:
    """A ready document as every process sees it."""

    document: Document
    chunks: int
    fingerprint: str
    origin: str
    ingested_at: str

    @property
    def id(self) -> str:
        return self.document.id


@dataclass(frozen=True)
class Change:
    """One entry of the change log: ``kind`` ("put" or "delete") of ``doc_id``, numbered ``seq``."""

    id: str
    seq: int
    doc_id: str
    kind: str
    writer: str


def _record_meta(record: DocumentRecord) -> dict[str, Any]:
    doc = record.document
    return {
        "source": doc.source,
        "title": doc.title,
        "pages": json.dumps([p.model_dump() for p in doc.pages]),
        "meta": json.dumps(doc.meta, ensure_ascii=False),
        "chunks": record.chunks,
        "fingerprint": record.fingerprint,
        "origin": record.origin,
        "ingested_at": record.ingested_at,
    }


def _record(doc_id: str, text: str, meta: dict[str, Any]) -> DocumentRecord:
    pages = tuple(Page(**p) for p in json.loads(str(meta.get("pages") or "[]")))
    doc = Document(
        id=doc_id,
        title=str(meta.get("title") or ""),
        source=str(meta.get("source") or ""),
        text=text,
        pages=pages,
        meta=json.loads(str(meta.get("meta") or "{}")),
    )
    return DocumentRecord(
        document=doc,
        chunks=int(meta.get("chunks") or 0),
        fingerprint=str(meta.get("fingerprint") or ""),
        origin=str(meta.get("origin") or doc.source),
        ingested_at=str(meta.get("ingested_at") or ""),
    )


class SharedLibrary:
    """The document records and the change log of the collection ``collection`` on the Chroma server ``url``."""

    def __init__(self, url: str, collection: str, *, writer: str | None = None) -> None:
        self._where = url
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"not a Chroma server URL: {url!r} (expected http://HOST:PORT)")
        port = parsed.port or (443 if parsed.scheme == "https" else 8000)
        self.writer = writer or uuid.uuid4().hex[:12]
        self._last = 0  # the highest seq this process has taken or seen
        self._compacted = 0  # when this process last compacted the change log (microseconds)
        with self._guard():
            client = chromadb.HttpClient(
                host=parsed.hostname,
                port=port,
                ssl=parsed.scheme == "https",
                settings=ChromaSettings(anonymized_telemetry=False),
            )
            self._docs = client.get_or_create_collection(name=f"{collection}-documents", embedding_function=None)
            self._changes = client.get_or_create_collection(name=f"{collection}-changes", embedding_function=None)
        self._client: Any = client

    def close(self) -> None:
        client, self._client = self._client, None
        close = getattr(client, "close", None)
        if close is not None:
            with self._guard():
                close()

    @property
    def identity(self) -> str:
        """What names this library's incarnation: the ids of its collections (new ones if they were recreated)."""
        return f"{self._docs.id}/{self._changes.id}"

    # ------------------------------------------------------------------ settings shared by every process

    def setting(self, key: str) -> str | None:
        with self._guard():
            value = (self._docs.metadata or {}).get(key)
        return None if value is None else str(value)

    def set_setting(self, key: str, value: str) -> None:
        with self._guard():
            self._docs.modify(metadata={**(self._docs.metadata or {}), key: value})

    # ------------------------------------------------------------------ document records

    def put(self, records: Sequence[DocumentRecord]) -> None:
        """Write (or overwrite) the records of ready documents."""
        for i in range(0, len(records), 100):
            part = records[i : i + 100]
            with self._guard():
                self._docs.upsert(
                    ids=[r.id for r in part],
                    embeddings=_DUMMY * len(part),
                    documents=[r.document.text for r in part],
                    metadatas=[_record_meta(r) for r in part],
                )

    def remove(self, doc_ids: Collection[str]) -> None:
        if doc_ids:
            with self._guard():
                self._docs.delete(ids=sorted(doc_ids))

    def records(self, doc_ids: Collection[str]) -> dict[str, DocumentRecord]:
        """The records of those of ``doc_ids`` that are ready."""
        found: dict[str, DocumentRecord] = {}
        ids = sorted(doc_ids)
        for i in range(0, len(ids), 100):
            with self._guard():
                rows = self._docs.get(ids=ids[i : i + 100], include=["documents", "metadatas"])
            for doc_id, text, meta in zip(rows["ids"], rows["documents"] or [], rows["metadatas"] or [], strict=True):
                found[doc_id] = _record(doc_id, text or "", dict(meta or {}))
        return found

    def ids(self) -> set[str]:
        """The ids of every ready document."""
        found: set[str] = set()
        offset = 0
        while True:
            with self._guard():
                rows = self._docs.get(include=[], limit=_PAGE, offset=offset)
            found.update(rows["ids"])
            if len(rows["ids"]) < _PAGE:
                return found
            offset += _PAGE

    def count(self) -> int:
        with self._guard():
            return int(self._docs.count())

    def versions(self) -> dict[str, tuple[int, str]]:
        """Every ready document's id with its chunk count and fingerprint (no texts): what a reader compares
        with its cache when the change log cannot tell it what it missed."""
        found: dict[str, tuple[int, str]] = {}
        offset = 0
        while True:
            with self._guard():
                rows = self._docs.get(include=["metadatas"], limit=_PAGE, offset=offset)
            for doc_id, meta in zip(rows["ids"], rows["metadatas"] or [], strict=True):
                m: dict[str, Any] = dict(meta or {})
                found[doc_id] = (int(m.get("chunks") or 0), str(m.get("fingerprint") or ""))
            if len(rows["ids"]) < _PAGE:
                return found
            offset += _PAGE

    # ------------------------------------------------------------------ the change log

    def append(self, changes: Sequence[tuple[str, str]]) -> int:
        """Append ``(kind, doc_id)`` changes, numbered in order; the last number (0 for none)."""
        if not changes:
            return 0
        numbered: list[tuple[int, str, str]] = []
        for kind, doc_id in changes:
            self._last = max(time.time_ns() // 1000, self._last + 1)
            numbered.append((self._last, kind, doc_id))
        with self._guard():
            self._changes.add(
                ids=[f"{seq:019d}-{self.writer}" for seq, _, _ in numbered],
                embeddings=_DUMMY * len(numbered),
                metadatas=[
                    {"seq": seq, "kind": kind, "doc_id": doc_id, "writer": self.writer}
                    for seq, kind, doc_id in numbered
                ],
            )
        return self._last

    def since(self, seq: int) -> list[Change]:
        """The changes numbered ``seq`` or later, in order (ties by writer); the horizon among them (kind
        ``COMPACTED``) when the log was compacted past ``seq``: changes before it may be gone."""
        found: list[Change] = []
        where: Any = {"seq": {"$gte": int(seq)}}
        offset = 0
        while True:
            with self._guard():
                rows = self._changes.get(
                    where=where, include=["metadatas"], limit=_PAGE, offset=offset
                )
            for change_id, meta in zip(rows["ids"], rows["metadatas"] or [], strict=True):
                m: dict[str, Any] = dict(meta or {})
                found.append(
                    Change(
                        id=change_id,
                        seq=int(m.get("seq") or 0),
                        doc_id=str(m.get("doc_id") or ""),
                        kind=str(m.get("kind") or ""),
                        writer=str(m.get("writer") or ""),
                    )
                )
            if len(rows["ids"]) < _PAGE:
                break
            offset += _PAGE
        found.sort(key=lambda c: (c.seq, c.id))
        if found:
            self._last = max(self._last, found[-1].seq)
        return found

    def changes(self) -> int:
        """How many entries the log holds (the horizon, once compacted, among them)."""
        with self._guard():
            return int(self._changes.count())

    def compact(self, keep_us: int, *, every_us: int = 0) -> int:
        """Delete the changes numbered more than ``keep_us`` before now, unless this library compacted less than
        ``every_us`` ago; the horizon (0: nothing done).

        The horizon entry is raised first and raised again after the delete (another writer compacting at the
        same moment may have lowered it), so every deleted change is numbered below the horizon a reader finds;
        a reader whose window reaches below it gets the horizon from ``since`` and compares every record instead.
        """
        now = time.time_ns() // 1000
        if now - self._compacted < every_us:
            return 0
        self._compacted = now
        horizon = now - keep_us
        if horizon <= 0:
            return 0
        self._raise_horizon(horizon)
        older: Any = {"$and": [{"seq": {"$lt": horizon}}, {"kind": {"$ne": COMPACTED}}]}
        with self._guard():
            self._changes.delete(where=older)
        self._raise_horizon(horizon)
        return horizon

    def horizon(self) -> int:
        """Changes numbered below this may have been compacted away (0: never compacted)."""
        with self._guard():
            rows = self._changes.get(ids=[_HORIZON_ID], include=["metadatas"])
        metas = rows["metadatas"] or []
        meta: dict[str, Any] = dict(metas[0] or {}) if metas else {}
        return int(meta.get("seq") or 0)

    def _raise_horizon(self, horizon: int) -> None:
        if self.horizon() < horizon:
            with self._guard():
                self._changes.upsert(
                    ids=[_HORIZON_ID],
                    embeddings=_DUMMY,
                    metadatas=[{"seq": horizon, "kind": COMPACTED, "doc_id": "", "writer": self.writer}],
                )

    # ------------------------------------------------------------------ internals

    def _guard(self) -> AbstractContextManager[None]:
        """Report Chroma failures as IndexStoreError (ChromaUnavailable when the server is unreachable)."""
        return chroma_errors(self._where, remote=True)
