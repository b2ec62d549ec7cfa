"""The document catalog: which documents are indexed, from which source, in what state.

A small SQLite database beside the vector and lexical indexes. It is the
source of truth for incremental ingest and the journal that makes ingest
crash-safe: a document is written as ``pending`` before its chunks go into
the indexes and marked ``ready`` once both indexes hold them; a delete marks
it ``deleting`` first. Anything not ``ready`` on open is rolled back.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from assistant.types import Document, Page

_SCHEMA = """
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
    ingested_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_source ON documents(source);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


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


class Catalog:
    """Persistent registry of documents; one row per document id."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

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
    def put(self, doc: Document, *, chunks: int, fingerprint: str, state: str = "pending") -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        pages = json.dumps([p.model_dump() for p in doc.pages])
        self._db.execute(
            "INSERT OR REPLACE INTO documents(id, source, title, text, pages, meta, chunks, fingerprint, state,"
            " ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (doc.id, doc.source, doc.title, doc.text, pages, json.dumps(doc.meta), chunks, fingerprint, state, now),
        )

    def set_state(self, doc_id: str, state: str) -> None:
        self._db.execute("UPDATE documents SET state = ? WHERE id = ?", (state, doc_id))

    def set_fingerprint(self, doc_id: str, fingerprint: str) -> None:
        self._db.execute("UPDATE documents SET fingerprint = ? WHERE id = ?", (fingerprint, doc_id))

    def remove(self, doc_id: str) -> None:
        self._db.execute("DELETE FROM documents WHERE id = ?", (doc_id,))

    def entry(self, doc_id: str) -> CatalogEntry | None:
        rows = self._entries("WHERE id = ?", (doc_id,))
        return rows[0] if rows else None

    def by_source(self, source: str) -> CatalogEntry | None:
        rows = self._entries("WHERE source = ? AND state = 'ready'", (source,))
        return rows[0] if rows else None

    def entries(self, state: str | None = "ready") -> list[CatalogEntry]:
        if state is None:
            return self._entries("", ())
        return self._entries("WHERE state = ?", (state,))

    def unfinished(self) -> list[CatalogEntry]:
        return self._entries("WHERE state != 'ready'", ())

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

    def _entries(self, where: str, args: tuple[str, ...]) -> list[CatalogEntry]:
        rows = self._db.execute(
            "SELECT id, source, title, chunks, fingerprint, state, ingested_at, json_array_length(pages)"
            f" FROM documents {where} ORDER BY source, id",
            args,
        ).fetchall()
        return [CatalogEntry(*row) for row in rows]
