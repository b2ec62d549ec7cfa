"""The streamed ingest (assistant/pipeline.py): reading overlaps embedding, commits come every N documents, a bad
file is reported while its neighbours are indexed, and a real `assistant ingest` killed with SIGKILL continues
where its last commit left it, ending with the same index as a clean build."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from assistant.service import Assistant
from assistant.types import Document
from tests.assistant.conftest import consistent
from tests.conftest import REPO

MakeAssistant = Callable[..., Assistant]

_TOPICS = ["harbour", "bridge", "library", "station", "market", "orchard", "quarry", "mill", "ferry", "tower"]


def _note(k: int) -> str:
    topic = _TOPICS[k % len(_TOPICS)]
    paragraphs = [
        f"The {topic} number {k} was inspected in week {j + 3} and the inspectors wrote that its {topic} wall {j} "
        f"needed {k % 7 + j} new stones before the winter of year {2000 + k}."
        for j in range(3)
    ]
    return f"Note {k} on the {topic}\n\n" + "\n\n".join(paragraphs) + "\n"


def _corpus(folder: Path, files: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(files):
        (folder / f"note-{k:03d}.txt").write_text(_note(k), encoding="utf-8")
    return folder


def _count(db: Path, where: str) -> int:
    """Catalog rows matching ``where``, read through a connection of its own (as another process would)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM documents WHERE {where}").fetchone()[0])
    except sqlite3.Error:
        return 0


def _index_ids(svc: Assistant) -> dict[str, list[str]]:
    """Each document's id with its chunk ids, as the vector index holds them, after checking that the catalog,
    Chroma and the lexical index agree."""
    consistent(svc)
    assert not svc.catalog.unfinished()
    return {d.id: [c.id for c in svc.chunks(d.id)] for d in svc.documents()}


def test_reading_the_next_file_overlaps_embedding(
    tmp_path: Path, make_assistant: MakeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the first file's chunks are being embedded, the reader reads the next file. Both sides wait for the
    other, by events, not by timing: the second read waits until an embedding has begun, and the first embedding
    call waits (up to 30 s) for a read to happen while it is in progress. A pipeline that reads the next file only
    after embedding the last one sees no read inside an embedding call."""
    corpus = _corpus(tmp_path / "corpus", 6)
    svc = make_assistant(commit_every_docs=1)  # every document is embedded (and committed) before the next
    events: list[str] = []
    changed = threading.Condition()
    read, embed = svc._read, svc.embedder.embed

    def reads() -> int:
        return events.count("read")

    def recorded_read(path: Path, source: str) -> Document:
        with changed:
            if reads() >= 1:  # the second file on: not before an embedding has begun
                changed.wait_for(lambda: "embed start" in events, timeout=30)
        doc = read(path, source)
        with changed:
            events.append("read")
            changed.notify_all()
        return doc

    def recorded_embed(texts: object, **kwargs: object) -> np.ndarray:
        with changed:
            before = reads()
            events.append("embed start")
            changed.notify_all()
            if before < 6:  # let the reader read another file while this call is in progress
                changed.wait_for(lambda: reads() > before, timeout=30)
        vectors = embed(texts, **kwargs)  # type: ignore[arg-type]
        with changed:
            events.append("embed end")
        return vectors

    monkeypatch.setattr(svc, "_read", recorded_read)
    monkeypatch.setattr(svc.embedder, "embed", recorded_embed)
    report = svc.ingest([corpus])
    monkeypatch.undo()
    assert len(report.added) == 6 and not report.errors
    first = events.index("embed start")
    assert "read" in events[first : events.index("embed end")], events
    assert len(_index_ids(svc)) == 6


def test_commits_come_every_n_documents(
    tmp_path: Path, make_assistant: MakeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``commit_every_docs=10``, 25 new files are committed as 10, 20, then all 25: each commit is visible to
    another connection to the catalog at once, and no document is left pending between commits beyond ten."""
    corpus = _corpus(tmp_path / "corpus", 25)
    data_dir = tmp_path / "index"
    svc = make_assistant(data_dir, commit_every_docs=10, commit_every_s=3600)
    db = data_dir / "catalog.sqlite"
    seen: list[tuple[int, int]] = []  # (pending before, ready after) at each commit
    commit = svc._commit

    def counted_commit() -> None:
        pending = _count(db, "state = 'pending'")
        commit()
        seen.append((pending, _count(db, "state = 'ready'")))

    monkeypatch.setattr(svc, "_commit", counted_commit)
    report = svc.ingest([corpus])
    monkeypatch.undo()
    assert len(report.added) == 25
    assert seen == [(10, 10), (10, 20), (5, 25)]
    assert len(_index_ids(svc)) == 25

    # the time limit: with a tiny interval every document is committed on its own
    more = _corpus(tmp_path / "more", 4)
    timed = make_assistant(tmp_path / "timed", commit_every_docs=1000, commit_every_s=1e-6)
    calls: list[int] = []

    def counted() -> None:
        calls.append(1)
        Assistant._commit(timed)

    monkeypatch.setattr(timed, "_commit", counted)
    timed.ingest([more])
    monkeypatch.undo()
    assert len(calls) == 4 + 1  # one per document, and the final one
    assert len(_index_ids(timed)) == 4


def test_a_bad_file_among_good_ones_is_reported_and_the_rest_indexed(
    tmp_path: Path, make_assistant: MakeAssistant
) -> None:
    corpus = _corpus(tmp_path / "corpus", 6)
    (corpus / "note-002b.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (corpus / "note-004b.txt").write_text("   \n")
    (corpus / "note-005b.md").write_bytes(b"\x00\x01\x02binary" * 50)
    svc = make_assistant(commit_every_docs=2)
    report = svc.ingest([corpus])
    assert len(report.added) == 6
    assert {Path(p).name for p in report.errors} == {"note-002b.pdf", "note-004b.txt", "note-005b.md"}
    assert all("\n" not in reason and reason for reason in report.errors.values())
    assert len(_index_ids(svc)) == 6
    again = svc.ingest([corpus])
    assert len(again.unchanged) == 6 and set(again.errors) == set(report.errors)


@pytest.mark.slow
def test_a_killed_ingest_continues_where_it_stopped(tmp_path: Path, make_assistant: MakeAssistant) -> None:
    """`assistant ingest` SIGKILLed after its second commit: the rerun finds what was committed unchanged, adds
    only the rest, and the index equals a clean build (document ids, chunk ids; catalog, Chroma, BM25 agree)."""
    files, every = 120, 10
    corpus = _corpus(tmp_path / "corpus", files)
    data_dir = tmp_path / "index"
    db = data_dir / "catalog.sqlite"
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(data_dir), "ASSISTANT_COMMIT_EVERY_DOCS": str(every)}
    command = [sys.executable, "-m", "assistant.cli", "ingest", "--json", str(corpus)]
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed = False
    try:
        deadline = time.monotonic() + 600
        while proc.poll() is None and time.monotonic() < deadline:
            if _count(db, "state = 'ready'") >= 2 * every:
                proc.send_signal(signal.SIGKILL)
                killed = True
                break
            time.sleep(0.005)
    finally:
        if proc.poll() is None and not killed:
            proc.kill()
        proc.wait()
    assert killed, "the ingest finished before the kill"
    committed = _count(db, "state = 'ready'")
    lost = _count(db, "state = 'pending'")
    assert 2 * every <= committed < files
    assert committed % every == 0  # only whole commit intervals became ready
    assert lost <= every  # what the kill cost: at most one interval's documents

    rerun = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    assert len(report["unchanged"]) == committed
    assert len(report["added"]) == files - committed
    resumed = make_assistant(data_dir)
    clean = make_assistant(tmp_path / "clean")
    assert len(clean.ingest([corpus]).added) == files
    assert _index_ids(resumed) == _index_ids(clean)
