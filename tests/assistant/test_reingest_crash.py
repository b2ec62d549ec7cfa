"""Re-ingesting changed files is crash-safe: killed at any moment, every document is its old or its new version.

A real `assistant ingest` process is SIGKILLed at moments picked by watching its catalog (while new versions
are pending, while old ones are deleted, while documents are cut again); afterwards the service opens on the
directory and every document must be one of its two versions, with the catalog, Chroma and BM25 agreeing.
In-process, a simulated power cut at each step of the commit checks the same.
"""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.service import Assistant
from tests.assistant.conftest import consistent
from tests.conftest import REPO

MakeAssistant = Callable[..., Assistant]

FILES = 200
CHANGED = 60
_TOPICS = ["harbour", "bridge", "library", "station", "market", "orchard", "quarry", "mill", "ferry", "tower"]
_VERSION = re.compile(r"Revision marker (\d+) of note (\d+)\.")


def _text(k: int, version: int) -> str:
    """A note of a few chunks; every paragraph names its version, so any chunk tells which version it is from."""
    topic = _TOPICS[k % len(_TOPICS)]
    paragraphs = [
        f"Revision marker {version} of note {k}. The {topic} number {k} was inspected in week {j + version} "
        f"and the inspectors wrote that its {topic} wall {j} needed {k % 7 + j} new stones before the winter. "
        f"They counted {k * 3 + j + version} visitors on the day and asked for {j + 2} more lamps along the path."
        for j in range(6)
    ]
    return f"Note {k} on the {topic}\n\n" + "\n\n".join(paragraphs) + "\n"


def _write(corpus: Path, versions: dict[int, int]) -> None:
    for k, v in versions.items():
        (corpus / f"note-{k:03d}.txt").write_text(_text(k, v), encoding="utf-8")


def _indexed_versions(svc: Assistant) -> dict[int, int]:
    """Check the index is whole and agrees with itself; return {note: version} of what it holds."""
    consistent(svc)
    assert not svc.catalog.unfinished()
    docs = svc.documents()
    versions: dict[int, int] = {}
    for d in docs:
        marks = {(int(v), int(k)) for v, k in _VERSION.findall(svc.document_text(d.id).text)}
        assert len(marks) == 1, (d.source, marks)  # one version, whole
        [(version, k)] = marks
        chunks = svc.chunks(d.id)
        assert len(chunks) == d.chunks > 1
        assert all({(int(v), int(n)) for v, n in _VERSION.findall(c.text)} <= {(version, k)} for c in chunks)
        assert k not in versions, f"note {k} is indexed twice"
        versions[k] = version
    return versions


def _count(db: Path, where: str) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM documents WHERE {where}").fetchone()[0])
    except sqlite3.Error:
        return 0


def _ingest_killed(
    data_dir: Path, corpus: Path, where: str, at_least: int, env: dict[str, str] | None = None
) -> tuple[bool, int]:
    """Run `assistant ingest CORPUS` and SIGKILL it once ``at_least`` catalog rows match ``where``.

    Returns (killed, rows seen); killed is False when the process finished first.
    """
    # one commit, at the end (as before commits every N documents or T seconds): the moments below are in it
    env = {
        **os.environ,
        "ASSISTANT_DATA_DIR": str(data_dir),
        "ASSISTANT_COMMIT_EVERY_DOCS": "100000",
        "ASSISTANT_COMMIT_EVERY_S": "100000",
        **(env or {}),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant.cli", "ingest", str(corpus)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = data_dir / "catalog.sqlite"
    deadline = time.monotonic() + 600
    seen = 0
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            seen = _count(db, where)
            if seen >= at_least:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return True, seen
            time.sleep(0.005)
        assert proc.poll() is not None, "the ingest did not finish"
        return False, seen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_killed_reingest_leaves_each_document_old_or_new(tmp_path: Path, make_assistant: MakeAssistant) -> None:
    rng = random.Random(14)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    data_dir = tmp_path / "index"
    on_disk = dict.fromkeys(range(FILES), 0)
    _write(corpus, on_disk)
    svc = make_assistant(data_dir)
    assert len(svc.ingest([corpus]).added) == FILES
    indexed = _indexed_versions(svc)
    svc.close()

    # (catalog rows to wait for, how many) before the kill: new versions pending; old versions deleting
    moments = [
        ("state = 'pending'", rng.randint(1, 15)),
        ("state = 'pending'", rng.randint(30, CHANGED - 5)),
        ("state = 'deleting'", 1),
    ]
    killed = 0
    for trial, (where, at_least) in enumerate(moments, start=1):
        for k in rng.sample(range(FILES), CHANGED):
            on_disk[k] = trial
        _write(corpus, on_disk)
        stopped, seen = _ingest_killed(data_dir, corpus, where, at_least)
        killed += stopped
        reopened = make_assistant(data_dir)
        now = _indexed_versions(reopened)
        assert set(now) == set(range(FILES))  # no document lost, none doubled
        assert all(now[k] in (indexed[k], on_disk[k]) for k in now)
        if stopped and where == "state = 'pending'":  # killed before the commit: the old versions, all of them
            assert now == indexed, f"trial {trial}: killed with {seen} pending"
        indexed = now
        reopened.close()
    assert killed >= 2  # the pending moments last seconds; the deleting one may be missed

    # documents cut again (same content, other chunk settings), killed half-way: each still whole and findable
    stopped, _ = _ingest_killed(data_dir, corpus, "replaces = id", rng.randint(5, 40), {"ASSISTANT_CHUNK_TOKENS": "96"})
    assert stopped
    reopened = make_assistant(data_dir)
    assert _indexed_versions(reopened) == indexed
    reopened.close()

    # the next ingest completes it; the one after has nothing to do
    final = make_assistant(data_dir)
    report = final.ingest([corpus])
    assert not report.errors and not report.added
    assert _indexed_versions(final) == on_disk
    again = final.ingest([corpus])
    assert len(again.unchanged) == FILES
    hit = final.ask(
        f"What is revision marker {on_disk[7]} of note 7 about?",
        doc_ids=[report.ids[str((corpus / "note-007.txt").resolve())]],
    )
    assert hit.passages


class PowerCut(BaseException):
    """Stops a write where it is, like a crash: not an Exception, so no in-process rollback runs."""


def _cut(*args: object, **kwargs: object) -> None:
    raise PowerCut


@pytest.mark.parametrize(
    ("step", "survivor"),
    [
        ("before the swap", "old"),  # the new chunks persisted, the catalog not yet switched
        ("after the swap", "new"),  # new ready, old deleting, the old chunks still in both indexes
        ("before the old rows go", "new"),  # old chunks dropped from both indexes, their rows still there
    ],
)
def test_a_power_cut_at_each_step_of_the_commit(
    tmp_path: Path, make_assistant: MakeAssistant, monkeypatch: pytest.MonkeyPatch, step: str, survivor: str
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    data_dir = tmp_path / "index"
    _write(corpus, dict.fromkeys(range(6), 0))
    svc = make_assistant(data_dir)
    svc.ingest([corpus])
    old = _indexed_versions(svc)
    new = {**old, 1: 1, 4: 1}
    _write(corpus, {1: 1, 4: 1})
    if step == "before the swap":
        commit = svc.lexical.commit

        def commit_then_cut() -> None:
            commit()
            raise PowerCut

        monkeypatch.setattr(svc.lexical, "commit", commit_then_cut)
    elif step == "after the swap":
        monkeypatch.setattr(svc, "_finish_deletes", _cut)
    else:
        monkeypatch.setattr(svc.catalog, "remove", _cut)
    with pytest.raises(PowerCut):
        svc.ingest([corpus])
    monkeypatch.undo()
    svc.close()

    reopened = make_assistant(data_dir)
    assert _indexed_versions(reopened) == (old if survivor == "old" else new)
    reopened.ingest([corpus])
    assert _indexed_versions(reopened) == new


def test_a_failed_write_is_rolled_back_at_once(
    tmp_path: Path, make_assistant: MakeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error (not a crash) half-way through a re-ingest: the old versions stay, and the next write in the same
    process does not commit what the failed one left."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    _write(corpus, dict.fromkeys(range(4), 0))
    svc = make_assistant()
    svc.ingest([corpus])
    old = _indexed_versions(svc)
    _write(corpus, {0: 1, 1: 1, 2: 1})
    calls = 0
    add = svc.lexical.add

    def fail_first(chunks: object) -> None:  # the new versions' chunks are in Chroma, not yet in BM25
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("disk full")
        add(chunks)  # type: ignore[arg-type]

    monkeypatch.setattr(svc.lexical, "add", fail_first)
    with pytest.raises(RuntimeError):
        svc.ingest([corpus])
    monkeypatch.undo()
    assert _indexed_versions(svc) == old
    svc.delete(svc.documents()[-1].id)  # another write commits nothing the failed one left
    assert len(_indexed_versions(svc)) == 3
