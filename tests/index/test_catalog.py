"""index.catalog: whether any document is ready, asked without reading every row."""

from __future__ import annotations

from pathlib import Path

from assistant.types import Document
from index.catalog import Catalog


def test_has_ready_follows_the_ready_rows_only(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    try:
        assert not catalog.has_ready()
        doc = Document(id="d1", title="Notes", source="notes.txt", text="Widgets ship in May. " * 50)
        catalog.put(doc, chunks=1, fingerprint="f")  # pending: an ingest in flight is not an index to ask
        assert not catalog.has_ready() and catalog.count() == 0
        catalog.set_state("d1", "ready")
        assert catalog.has_ready() and catalog.count() == 1
        catalog.remove("d1")
        assert not catalog.has_ready()
    finally:
        catalog.close()


def _doc(doc_id: str, source: str, pages: int = 0) -> Document:
    from assistant.types import Page

    text = f"Text of {doc_id}. " * 40
    step = len(text) // max(pages, 1)
    return Document(
        id=doc_id,
        title=doc_id.title(),
        source=source,
        text=text,
        pages=tuple(Page(number=i + 1, start=i * step, end=(i + 1) * step) for i in range(pages)),
        meta={"entity": "Northwind Widgets"},
    )


def test_listing_reads_the_listing_index_not_the_documents_text(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    try:
        catalog.put(_doc("d1", "a.pdf", pages=3), chunks=4, fingerprint="f", state="ready")
        catalog.put(_doc("d2", "b.txt"), chunks=1, fingerprint="g", state="ready")
        catalog.put(_doc("d3", "c.txt"), chunks=1, fingerprint="h")  # pending
        entries = catalog.entries()
        assert [(e.id, e.pages, e.chunks, e.meta) for e in entries] == [
            ("d1", 3, 4, {"entity": "Northwind Widgets"}),
            ("d2", 0, 1, {"entity": "Northwind Widgets"}),
        ]
        assert catalog.ids() == {"d1", "d2"} and catalog.ids("pending") == {"d3"}
        assert [e.id for e in catalog.unfinished()] == ["d3"]
        from index.catalog import _COLUMNS

        plan = catalog._db.execute(
            f"EXPLAIN QUERY PLAN SELECT {_COLUMNS} FROM documents WHERE state = ? ORDER BY source, id", ("ready",)
        ).fetchall()
        # SQLite names it "USING INDEX" (not "COVERING") for the generated page count, and still reads it from the
        # index: a listing of 50,000 documents went from 0.79 to 0.21 s of CPU (docs/scale.md "Cold start")
        assert any("INDEX documents_listing" in str(row[-1]) for row in plan), plan
    finally:
        catalog.close()


def test_a_catalog_from_before_the_listing_index_gains_it(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "catalog.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        """CREATE TABLE documents (id TEXT PRIMARY KEY, source TEXT NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL,
        pages TEXT NOT NULL DEFAULT '[]', meta TEXT NOT NULL DEFAULT '{}', chunks INTEGER NOT NULL DEFAULT 0,
        fingerprint TEXT NOT NULL DEFAULT '', state TEXT NOT NULL DEFAULT 'pending', ingested_at TEXT NOT NULL,
        origin TEXT NOT NULL DEFAULT '', stored TEXT NOT NULL DEFAULT '', replaces TEXT NOT NULL DEFAULT '');
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);"""
    )
    old.execute(
        "INSERT INTO documents(id, source, title, text, pages, state, ingested_at, origin)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            "d1",
            "a.pdf",
            "A",
            "text",
            '[{"number": 1, "start": 0, "end": 2}, {"number": 2, "start": 2, "end": 4}]',
            "ready",
            "2026-01-01T00:00:00+00:00",
            "/data/a.pdf",
        ),
    )
    old.commit()
    old.close()
    for _ in range(2):  # opened twice: the migration runs once
        catalog = Catalog(path)
        try:
            [entry] = catalog.entries()
            assert (entry.id, entry.pages, entry.origin) == ("d1", 2, "/data/a.pdf")
        finally:
            catalog.close()


def test_origins_under_a_folder_are_a_range_of_paths(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    try:
        origins = {
            "d1": "/data/up/a.pdf",
            "d2": "/data/up/sub/b.pdf",
            "d3": "/data/upx/c.pdf",  # a sibling whose name starts with the folder's
            "d4": "/data/up",  # the folder itself
            "d5": "/data/up-0/d.pdf",
            "d6": "upload:e.pdf",
        }
        for doc_id, origin in origins.items():
            catalog.put(_doc(doc_id, origin.rsplit("/", 1)[-1]), chunks=1, fingerprint="f", origin=origin)
        assert {e.id for e in catalog.with_origin_under("/data/up")} == {"d1", "d2"}
        assert {e.id for e in catalog.with_origin_under("/data/up/")} == {"d1", "d2"}
    finally:
        catalog.close()
