"""LexicalIndex: BM25 search, persistence, atomic commits, corruption."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from index.errors import IndexStoreError
from index.lexical import LexicalIndex
from index.vector import VectorIndex
from tests.index.helpers import make_chunks

BIRDS = make_chunks(
    "birds",
    [
        "Swallows migrate south in autumn and return to the same nests.",
        "The heron stood motionless in the shallow water, waiting for fish.",
    ],
)
RUNNING = make_chunks(
    "running",
    [
        "She runs every morning; running keeps her calm.",
        "Marathon runners need shoes with good cushioning.",
    ],
)
TRAINS = make_chunks("trains", ["The night train to Vienna departs at ten and arrives at dawn."])
ALL = BIRDS + RUNNING + TRAINS


def _filled(path: Path | None) -> LexicalIndex:
    index = LexicalIndex(path)
    index.add(ALL)
    index.commit()
    return index


def test_search_ranks_by_bm25_with_stemming() -> None:
    index = _filled(None)
    hits = index.search("running shoes", 10)
    assert [h.chunk.doc_id for h in hits] == ["running", "running"]
    assert hits[0].score >= hits[1].score > 0
    # "migrating swallow" matches "migrate" and "Swallows" only through the English stemmer
    assert index.search("migrating swallow", 3)[0].chunk == BIRDS[0]


def test_stopwords_and_unknown_terms_match_nothing() -> None:
    index = _filled(None)
    assert index.search("the and of to", 5) == []
    assert index.search("xylophone", 5) == []
    assert index.search("", 5) == []


def test_zero_score_hits_are_dropped_and_top_k_applies() -> None:
    index = _filled(None)
    hits = index.search("train", 10)
    assert [h.chunk for h in hits] == TRAINS
    assert len(index.search("running runners runs heron train", 2)) == 2


def test_doc_filter() -> None:
    index = _filled(None)
    query = "heron runners train"
    assert {h.chunk.doc_id for h in index.search(query, 10)} == {"birds", "running", "trains"}
    assert {h.chunk.doc_id for h in index.search(query, 10, doc_ids={"birds", "trains"})} == {"birds", "trains"}
    assert index.search(query, 10, doc_ids=set()) == []
    assert index.search(query, 10, doc_ids={"missing"}) == []


def test_delete_and_replace() -> None:
    index = _filled(None)
    index.delete("birds")
    assert index.search("heron", 5) == []
    assert index.doc_ids() == {"running", "trains"}
    changed = TRAINS[0].model_copy(update={"text": "The ferry to Helsinki leaves at noon."})
    index.add([changed])
    assert index.count() == len(RUNNING) + 1
    assert index.search("train", 5) == []
    assert index.search("ferry", 5)[0].chunk == changed
    assert index.get(changed.id) == changed
    assert index.get("birds:0") is None


def test_uncommitted_changes_are_searched_and_committed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    index = LexicalIndex(None)
    commits = 0
    real_commit = index._commit

    def counting_commit() -> None:
        nonlocal commits
        commits += 1
        real_commit()

    monkeypatch.setattr(index, "_commit", counting_commit)
    index.add(BIRDS)
    index.add(RUNNING)
    index.delete("birds")
    assert commits == 0  # changes wait for commit
    assert index.search("runners", 3)[0].chunk == RUNNING[1]  # searching commits first
    for _ in range(3):
        index.search("marathon", 3)
    index.commit()  # nothing pending: nothing written
    assert commits == 1


def test_persists_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "bm25"
    first = _filled(path)
    expected = [(h.chunk, h.score) for h in first.search("running heron train", 10)]
    second = LexicalIndex(path)
    assert second.count() == len(ALL)
    assert second.doc_ids() == {"birds", "running", "trains"}
    assert [(h.chunk, h.score) for h in second.search("running heron train", 10)] == expected
    assert second.get(BIRDS[1].id) == BIRDS[1]


def test_search_with_pending_changes_persists_them(tmp_path: Path) -> None:
    path = tmp_path / "bm25"
    index = LexicalIndex(path)
    index.add(TRAINS)
    assert index.search("vienna", 1)
    assert LexicalIndex(path).get(TRAINS[0].id) == TRAINS[0]


def test_uncommitted_changes_are_not_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "bm25"
    index = _filled(path)
    index.delete("trains")
    assert LexicalIndex(path).doc_ids() == {"birds", "running", "trains"}
    index.commit()
    assert LexicalIndex(path).doc_ids() == {"birds", "running"}


def test_empty_index_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "bm25"
    index = _filled(path)
    for doc in ("birds", "running", "trains"):
        index.delete(doc)
    index.commit()
    reopened = LexicalIndex(path)
    assert reopened.count() == 0
    assert reopened.search("heron", 5) == []
    assert LexicalIndex(tmp_path / "never-written").count() == 0


@pytest.mark.parametrize("fail_at", ["delete", "insert", "commit"])
def test_a_failing_commit_leaves_the_previous_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: str
) -> None:
    """An error at any statement of the commit's transaction: the last committed index stays, on disk and in the
    object, and the changes stay pending (the next commit writes them)."""
    path = tmp_path / "bm25"
    index = _filled(path)
    index.delete("birds")
    index.add(make_chunks("ships", ["The container ship docked at the harbour."]))
    real = index._conn

    class Failing:
        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

        def execute(self, sql: str, *args: Any) -> object:
            if sql.upper().startswith(fail_at.upper()):
                raise sqlite3.OperationalError(f"simulated crash during {fail_at}")
            return real.execute(sql, *args)

        def executemany(self, sql: str, *args: Any) -> object:
            if sql.upper().startswith(fail_at.upper()):
                raise sqlite3.OperationalError(f"simulated crash during {fail_at}")
            return real.executemany(sql, *args)

    monkeypatch.setattr(index, "_conn", Failing())
    with pytest.raises(IndexStoreError, match="simulated crash"):
        index.commit()
    monkeypatch.undo()
    assert index.search("heron", 1) == [] and index.search("harbour", 1)  # pending: search commits it now
    survivor = LexicalIndex(path)
    assert survivor.doc_ids() == {"running", "trains", "ships"}
    assert survivor.search("harbour", 1)[0].chunk.doc_id == "ships"


def test_an_error_before_commit_leaves_nothing_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bm25"
    index = _filled(path)
    index.delete("birds")
    monkeypatch.setattr("index.lexical._new_segment", lambda *a: (_ for _ in ()).throw(MemoryError("simulated")))
    index.add(make_chunks("ships", ["The container ship docked at the harbour."]))
    with pytest.raises(IndexStoreError, match="simulated"):
        index.commit()
    assert LexicalIndex(path).doc_ids() == {"birds", "running", "trains"}
    monkeypatch.undo()
    assert index.doc_ids() == {"running", "trains", "ships"}  # still pending
    index.commit()
    assert LexicalIndex(path).doc_ids() == {"running", "trains", "ships"}


def test_corrupt_index_raises_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bm25"
    _filled(path)
    db = path / "lexical.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("UPDATE segment SET data = substr(data, 1, 40)")
    conn.commit()
    conn.close()
    with pytest.raises(IndexStoreError, match=r"corrupt.*re-ingest"):
        LexicalIndex(path)
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM segment")
    conn.commit()
    conn.close()
    with pytest.raises(IndexStoreError, match="corrupt.*in the postings"):
        LexicalIndex(path)
    for name in ("lexical.sqlite3-wal", "lexical.sqlite3-shm"):
        (path / name).unlink(missing_ok=True)
    db.write_bytes(b"not a database" * 100)
    with pytest.raises(IndexStoreError, match="corrupt"):
        LexicalIndex(path)


def test_concurrent_searches_during_commits() -> None:
    index = _filled(None)
    errors: list[BaseException] = []

    def search() -> None:
        try:
            for _ in range(200):
                hits = index.search("running heron", 5)
                assert hits and all(h.score > 0 for h in hits)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=search) for _ in range(3)]
    for thread in threads:
        thread.start()
    for i in range(20):
        index.add(make_chunks(f"extra{i}", [f"Extra chunk {i} about swallows and trains."]))
        index.commit()
    for thread in threads:
        thread.join()
    assert errors == []
    assert index.count() == len(ALL) + 20


def test_stays_in_step_with_the_vector_index(tmp_path: Path) -> None:
    """The same add / replace / delete sequence leaves both indexes holding the same chunks."""
    vector = VectorIndex(tmp_path / "chroma")
    lexical = LexicalIndex(tmp_path / "bm25")
    rng = np.random.default_rng(1)

    def add(chunks: list) -> None:
        embeddings = rng.normal(size=(len(chunks), 8)).astype(np.float32)
        vector.add(chunks, embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True))
        lexical.add(chunks)

    def delete(doc_id: str) -> None:
        vector.delete(doc_id)
        lexical.delete(doc_id)

    add(ALL)
    add([RUNNING[0].model_copy(update={"text": "Jogging slowly is still running."})])
    delete("birds")
    add(make_chunks("birds", ["Owls hunt at night."]))
    delete("trains")
    delete("nothing")
    lexical.commit()
    reopened = LexicalIndex(tmp_path / "bm25")
    assert vector.doc_ids() == lexical.doc_ids() == reopened.doc_ids() == {"birds", "running"}
    assert vector.count() == lexical.count() == reopened.count() == 3
    for doc_id in vector.doc_ids():
        for chunk in vector.chunks(doc_id):
            assert reopened.get(chunk.id) == chunk


def test_chunks_without_a_single_token(tmp_path: Path) -> None:
    """Chunks of stopwords only: indexed and counted, never found (their average length is 0)."""
    index = LexicalIndex(tmp_path / "bm25")
    index.add(make_chunks("empty", ["the and of", "to be or not to be"]))
    index.commit()
    assert index.count() == 2 and index.search("the", 5) == [] and index.search("heron", 5) == []
    index.add(BIRDS)
    index.commit()
    assert index.search("heron", 5)[0].chunk == BIRDS[1]
    assert LexicalIndex(tmp_path / "bm25").count() == 4


def test_segment_arrays_are_read_as_np_load_reads_them() -> None:
    import io

    from index.lexical import _npz_arrays

    arrays: dict[str, Any] = {
        "rows": np.arange(5, 905, 3, dtype=np.int64),
        "docs": np.arange(1000, dtype=np.int32) % 7,
        "tfs": np.arange(777, dtype=np.uint16),
    }
    for save in (np.savez, np.savez_compressed):  # the compressed one falls back to np.load
        buffer = io.BytesIO()
        save(buffer, **arrays)
        found = _npz_arrays(buffer.getvalue(), list(arrays))
        for name, want in arrays.items():
            assert found[name].dtype == want.dtype and np.array_equal(found[name], want), name
            assert found[name].flags.writeable and found[name].flags.aligned


def test_a_changed_byte_in_a_segment_is_found_on_open(tmp_path: Path) -> None:
    path = tmp_path / "bm25"
    _filled(path)
    db = path / "lexical.sqlite3"
    conn = sqlite3.connect(db)
    seg_id, data = conn.execute("SELECT id, data FROM segment ORDER BY length(data) DESC").fetchone()
    at = data.index(b"docs.npy") + 200  # inside the postings' document numbers
    changed = data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]
    conn.execute("UPDATE segment SET data = ? WHERE id = ?", (changed, seg_id))
    conn.commit()
    conn.close()
    with pytest.raises(IndexStoreError, match="corrupt.*CRC"):
        LexicalIndex(path)
