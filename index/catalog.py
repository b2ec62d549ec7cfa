"""The document catalog: which documents are indexed, from which origin, in what state.

A small SQLite database beside the vector and lexical indexes. It is the
source of truth for incremental ingest and the journal that makes writes
crash-safe:

* a new document, or a new version of one, is written as ``pending`` before
  its chunks go into the indexes (a new version names the entry it
  ``replaces``, which stays ``ready`` meanwhile);
* at commit one transaction marks the pending entries ``ready`` and the
  entries they replace ``deleting``; a delete marks its entry ``deleting``;
* the chunks of ``deleting`` entries are dropped, then their rows;
* a ``ready`` entry that ``replaces`` itself is being cut into chunks again
  (same content, other chunk settings).

On open, ``pending`` is rolled back, ``deleting`` finished and a document cut
again rebuilt from its stored text, so a crash leaves every document either
its old or its new version.

Each row has three names: ``id`` (content id, salted with the origin when
another origin holds the same content), ``origin`` (what identifies it for
incremental ingest: the absolute path of a file, ``upload:<name>`` for an
upload) and ``source`` (what responses show: the path under the ingested
root, or the upload name). ``stored`` is the file name of an upload under
``<data dir>/uploads``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import Any

from assistant.types import Document, Page

_TABLES = """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    pages TEXT NOT NULL DEFAULT '[]',
    meta TEXT NOT NULL DEFAULT '{}',
    chunks INTEGER NOT NULL DEFAULT 0,
    fingerprint TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'pending',
    ingested_at TEXT NOT NULL,
    origin TEXT NOT NULL DEFAULT '',
    stored TEXT NOT NULL DEFAULT '',
    replaces TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# columns added after the first release, for catalogs written before them
_ADDED = {
    "origin": "TEXT NOT NULL DEFAULT ''",
    "stored": "TEXT NOT NULL DEFAULT ''",
    "replaces": "TEXT NOT NULL DEFAULT ''",
}
# the number of pages, computed (not stored) from the pages' JSON, so the listing index below can hold it
_PAGE_COUNT = "page_count INTEGER GENERATED ALWAYS AS (json_array_length(pages)) VIRTUAL"
# A listing reads the listing index alone: every column it shows is in it. Read from the table, each row's columns
# after ``text`` sit behind the document's text, and a listing of 50,000 documents read all 760 MB of them
# (0.79 s of CPU in SQLite, 0.26 s from the index; four listings at start-up and on the first question; docs/scale.md
# "Cold start"). The partial index finds the rows a write left half-done without reading the others.
_INDEXES = """
CREATE INDEX IF NOT EXISTS documents_source ON documents(source);
CREATE INDEX IF NOT EXISTS documents_origin ON documents(origin);
CREATE INDEX IF NOT EXISTS documents_stored ON documents(stored);
CREATE INDEX IF NOT EXISTS documents_listing ON documents(
    state, source, id, title, chunks, fingerprint, ingested_at, page_count, origin, stored, replaces, meta
);
CREATE INDEX IF NOT EXISTS documents_unfinished ON documents(source, id) WHERE state != 'ready' OR replaces = id;
"""
_COLUMNS = "id, source, title, chunks, fingerprint, state, ingested_at, page_count, origin, stored, replaces, meta"


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    source: str
    title: str
    chunks: int
    fingerprint: str
    state: str
    ingested_at: str
    pages: int
    origin: str = ""
    stored: str = ""
    replaces: str = ""
    meta: dict[str, Any] = field(default_factory=dict)  # the document's meta (entity, form, period, ...)


def _entry(row: tuple[Any, ...]) -> CatalogEntry:
    id_, source, title, chunks, fingerprint, state, ingested_at, pages, origin, stored, replaces, meta = row
    return CatalogEntry(
        id_,
        source,
        title,
        chunks,
        fingerprint,
        state,
        ingested_at,
        pages,
        origin,
        stored,
        replaces,
        json.loads(meta or "{}"),
    )


class Catalog:
    """Persistent registry of documents; one row per document id."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_TABLES)
        self._migrate()
        self._db.executescript(_INDEXES)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # settings the index was built with (e.g. the embedding model)
    def setting(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", (key, value))

    # rows
    def put(
        self,
        doc: Document,
        *,
        chunks: int,
        fingerprint: str,
        state: str = "pending",
        origin: str | None = None,
        stored: str = "",
        replaces: str = "",
        ingested_at: str = "",
    ) -> None:
        """Write a row (replacing one of the same id). ``origin`` defaults to ``doc.source``, ``ingested_at`` to
        now."""
        now = ingested_at or datetime.now(UTC).isoformat(timespec="seconds")
        pages = json.dumps([p.model_dump() for p in doc.pages])
        self._db.execute(
            "INSERT OR REPLACE INTO documents(id, source, title, text, pages, meta, chunks, fingerprint, state,"
            " ingested_at, origin, stored, replaces) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                doc.id,
                doc.source,
                doc.title,
                doc.text,
                pages,
                json.dumps(doc.meta),
                chunks,
                fingerprint,
                state,
                now,
                doc.source if origin is None else origin,
                stored,
                replaces,
            ),
        )

    def set_state(self, doc_id: str, state: str) -> None:
        self._db.execute("UPDATE documents SET state = ? WHERE id = ?", (state, doc_id))

    def set_fingerprint(self, doc_id: str, fingerprint: str) -> None:
        self._db.execute("UPDATE documents SET fingerprint = ? WHERE id = ?", (fingerprint, doc_id))

    def set_replaces(self, doc_id: str, replaces: str) -> None:
        self._db.execute("UPDATE documents SET replaces = ? WHERE id = ?", (replaces, doc_id))

    def set_origin(self, doc_id: str, *, origin: str, source: str, stored: str) -> None:
        self._db.execute(
            "UPDATE documents SET origin = ?, source = ?, stored = ? WHERE id = ?", (origin, source, stored, doc_id)
        )

    def remove(self, doc_id: str) -> None:
        self._db.execute("DELETE FROM documents WHERE id = ?", (doc_id,))

    def entry(self, doc_id: str) -> CatalogEntry | None:
        rows = self._entries("WHERE id = ?", (doc_id,))
        return rows[0] if rows else None

    def by_origin(self, origin: str) -> CatalogEntry | None:
        """The ready entry of ``origin`` (a file's absolute path, ``upload:<name>``), or None."""
        rows = self._entries("WHERE origin = ? AND state = 'ready'", (origin,))
        return rows[0] if rows else None

    def by_stored(self, stored: str, state: str | None = "ready") -> list[CatalogEntry]:
        """The entries whose upload is stored as ``stored`` (any state with ``state`` None)."""
        if state is None:
            return self._entries("WHERE stored = ?", (stored,))
        return self._entries("WHERE stored = ? AND state = ?", (stored, state))

    def stored_names(self) -> set[str]:
        """Every stored upload file name some row (in any state) refers to."""
        return {str(r[0]) for r in self._db.execute("SELECT DISTINCT stored FROM documents WHERE stored != ''")}

    def entries(self, state: str | None = "ready") -> list[CatalogEntry]:
        if state is None:
            return self._entries("", ())
        return self._entries("WHERE state = ?", (state,))

    def ids(self, state: str = "ready") -> set[str]:
        """The ids of the entries in ``state``."""
        return {str(r[0]) for r in self._db.execute("SELECT id FROM documents WHERE state = ?", (state,))}

    def with_origin_under(self, folder: str) -> list[CatalogEntry]:
        """The entries (in any state) whose origin is a path under ``folder``; a range of the origin index."""
        prefix = folder.rstrip("/") + "/"
        return self._entries("WHERE origin >= ? AND origin < ?", (prefix, prefix[:-1] + chr(ord("/") + 1)))

    def unfinished(self) -> list[CatalogEntry]:
        """Rows a write left half-done: pending, deleting, or ready and being cut again."""
        return self._entries("WHERE state != 'ready' OR replaces = id", ())

    def document(self, doc_id: str) -> Document | None:
        row = self._db.execute(
            "SELECT id, title, source, text, pages, meta FROM documents WHERE id = ?", (doc_id,)
        ).fetchone()
        if row is None:
            return None
        pages = tuple(Page(**p) for p in json.loads(row[4]))
        return Document(id=row[0], title=row[1], source=row[2], text=row[3], pages=pages, meta=json.loads(row[5]))

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM documents WHERE state = 'ready'").fetchone()[0])

    def has_ready(self) -> bool:
        """Whether any document is ready: stops at the first, where ``count`` reads every row (the rows hold the
        documents' text: 415 ms of CPU per question at 50,000 documents, docs/scale.md "1M chunks")."""
        return self._db.execute("SELECT EXISTS (SELECT 1 FROM documents WHERE state = 'ready')").fetchone()[0] == 1

    def _has_column(self, name: str) -> bool:
        # table_xinfo: table_info leaves generated columns out
        return any(str(r[1]) == name for r in self._db.execute("PRAGMA table_xinfo(documents)"))

    def _entries(self, where: str, args: tuple[str, ...]) -> list[CatalogEntry]:
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM documents {where} ORDER BY source, id", args).fetchall()
        return [_entry(row) for row in rows]

    def _migrate(self) -> None:
        """Catalogs written before origins: add the columns; the origin is the old (absolute) source, and what is
        shown becomes the file name. Catalogs written before the listing index: add the page count it holds."""
        if not self._has_column("page_count"):
            with self.transaction():
                if not self._has_column("page_count"):  # another process may have added it meanwhile
                    self._db.execute(f"ALTER TABLE documents ADD COLUMN {_PAGE_COUNT}")
        have = {str(r[1]) for r in self._db.execute("PRAGMA table_info(documents)")}
        missing = [name for name in _ADDED if name not in have]
        if not missing:
            return
        with self.transaction():
            for name in missing:
                self._db.execute(f"ALTER TABLE documents ADD COLUMN {name} {_ADDED[name]}")
            rows = self._db.execute("SELECT id, source FROM documents WHERE origin = ''").fetchall()
            for doc_id, source in rows:
                shown = PurePath(source).name if PurePath(source).is_absolute() else source
                self._db.execute("UPDATE documents SET origin = ?, source = ? WHERE id = ?", (source, shown, doc_id))
