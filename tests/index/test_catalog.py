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
