"""index.changelog on a real `chroma run`: document records, and change numbers two writers take without a lock."""

from __future__ import annotations

import uuid

import pytest

from assistant.types import Document, Page
from index import changelog
from index.changelog import DocumentRecord, SharedLibrary
from tests.chroma_server import ChromaServer


def _record(doc_id: str, text: str) -> DocumentRecord:
    doc = Document(
        id=doc_id,
        title="A made-up note",
        source=f"{doc_id}.txt",
        text=text,
        pages=(Page(number=1, start=0, end=len(text)),),
        meta={"tags": ["x", "y"], "year": 2031},
    )
    return DocumentRecord(
        document=doc,
        chunks=3,
        fingerprint="10:20|chunks-v1:200:1",
        origin=f"upload:{doc_id}.txt",
        ingested_at="2031-01-02T03:04:05+00:00",
    )


def test_records_round_trip(chroma_server: ChromaServer) -> None:
    library = SharedLibrary(chroma_server.url, f"log-{uuid.uuid4().hex[:10]}")
    big = "The canal keeper's long report. " * 40_000  # about 1.3 MB of text in one record
    library.put([_record("d1", "short"), _record("d2", big)])
    got = library.records(["d1", "d2", "missing"])
    assert set(got) == {"d1", "d2"} and got["d2"].document.text == big
    assert got["d1"] == _record("d1", "short")
    assert library.ids() == {"d1", "d2"}
    library.remove(["d1"])
    assert library.ids() == {"d2"}
    library.set_setting("embed_model", "made-up-model")
    assert SharedLibrary(chroma_server.url, library_name(library)).setting("embed_model") == "made-up-model"


def library_name(library: SharedLibrary) -> str:
    return str(library._docs.name).removesuffix("-documents")


def test_two_writers_number_changes_without_a_lock(
    chroma_server: ChromaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"log-{uuid.uuid4().hex[:10]}"
    one, two = SharedLibrary(chroma_server.url, name), SharedLibrary(chroma_server.url, name)
    assert one.writer != two.writer
    for i in range(5):
        one.append([("put", f"a{i}")])
        two.append([("put", f"b{i}"), ("delete", f"c{i}")])
    changes = one.since(0)
    assert len(changes) == 15 and len({c.id for c in changes}) == 15
    assert [c.seq for c in changes] == sorted(c.seq for c in changes)
    for writer in (one.writer, two.writer):
        mine = [c.seq for c in changes if c.writer == writer]
        assert mine == sorted(set(mine))  # each writer's numbers increase
    # a writer whose clock is behind still numbers after every change it has seen
    top = changes[-1].seq
    monkeypatch.setattr(changelog.time, "time_ns", lambda: 1_000)
    late = SharedLibrary(chroma_server.url, name)
    late.since(0)
    assert late.append([("put", "z")]) == top + 1
    assert [c.doc_id for c in one.since(top + 1)] == ["z"]
    assert one.changes() == 16
