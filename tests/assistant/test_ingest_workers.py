"""Ingest fanned out (assistant/workers.py): `assistant ingest --workers 2` and the same fan-out as Ray tasks on a
local Ray give the document and chunk ids of a single-process ingest, report bad files the same way, commit every N
documents, and find everything unchanged when run again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant import workers
from assistant.service import Assistant
from tests.assistant.conftest import consistent
from tests.conftest import REPO

MakeAssistant = Callable[..., Assistant]

_PLACES = ["lighthouse", "granary", "ferry slip", "signal box", "tannery", "boathouse", "kiln", "weir"]


def survey_corpus(folder: Path, files: int) -> Path:
    """``files`` made-up notes of different lengths, two of them with the same text (their ids are salted by
    origin), and three files that cannot be read."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(files):
        place = _PLACES[k % len(_PLACES)]
        paragraphs = [
            f"The {place} of parish {k} was surveyed in month {j + 1}; the surveyor counted {3 * k + j} loose slates "
            f"and noted that the {place} roof beam {j} had shifted by {k % 5 + j} fingers since the last visit."
            for j in range(1 + k % 9)  # 1 to 9 paragraphs: one chunk or several
        ]
        (folder / f"survey-{k:03d}.txt").write_text(f"Survey {k}: the {place}\n\n" + "\n\n".join(paragraphs) + "\n")
    (folder / "copy-of-survey-001.txt").write_text((folder / "survey-001.txt").read_text())
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not a real pdf at all")
    (folder / "blank.txt").write_text("  \n\n ")
    (folder / "binary.md").write_bytes(b"\x00\x01\x02\x03binary" * 40)
    return folder


def indexed_ids(svc: Assistant) -> dict[str, list[str]]:
    """Each document's id with its chunk ids (catalog, Chroma and BM25 checked to agree first)."""
    consistent(svc)
    assert not svc.catalog.unfinished()
    return {d.id: [c.id for c in svc.chunks(d.id)] for d in svc.documents()}


def _cli(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", "ingest", "--json", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "ASSISTANT_DATA_DIR": str(data_dir), **(env or {})},
        cwd=REPO,
        timeout=1800,
    )


def _names(errors: dict[str, str]) -> set[str]:
    return {Path(p).name for p in errors}


def test_two_local_workers_give_the_ids_of_one_process(tmp_path: Path, make_assistant: MakeAssistant) -> None:
    """A real `assistant ingest --workers 2` (two spawned processes read, cut and embed; the command's process
    writes) against the streamed single-process ingest of the same folder: same document ids, same chunk ids, the
    same vectors to within float noise, the same three files reported; the rerun finds every file unchanged."""
    corpus = survey_corpus(tmp_path / "corpus", 40)
    single = make_assistant(tmp_path / "single")
    one = single.ingest([corpus])
    assert len(one.added) == 41 and _names(one.errors) == {"broken.pdf", "blank.txt", "binary.md"}

    fanned = _cli(tmp_path / "fanned", "--workers", "2", str(corpus), env={"ASSISTANT_COMMIT_EVERY_DOCS": "7"})
    assert fanned.returncode == 0, fanned.stderr[-2000:]
    report = json.loads(fanned.stdout)
    assert sorted(report["added"]) == sorted(one.added)
    assert report["ids"] == one.ids
    assert _names(report["errors"]) == _names(one.errors)
    assert all(reason and "\n" not in reason for reason in report["errors"].values())

    again = _cli(tmp_path / "fanned", "--workers", "2", str(corpus))
    assert again.returncode == 0, again.stderr[-2000:]
    assert len(json.loads(again.stdout)["unchanged"]) == 41

    other = make_assistant(tmp_path / "fanned")
    assert indexed_ids(other) == indexed_ids(single)
    # the vectors the workers made: each chunk's own text finds that text first in both indexes, at the same score
    # (a same-text copy may come first instead: its chunks have the same text and vector)
    for doc_id in list(one.ids.values())[:6]:
        for chunk in single.chunks(doc_id):
            query = single.embedder.embed([chunk.indexed_text])[0]
            a, b = single.vector.search(query, 1)[0], other.vector.search(query, 1)[0]
            assert a.chunk.text == b.chunk.text == chunk.text
            assert abs(a.score - b.score) < 1e-3, (a.score, b.score)


def test_the_writer_commits_every_n_documents(
    tmp_path: Path, make_assistant: MakeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fanned out, the one writer keeps the commit rule: 23 new readable files with ``commit_every_docs=10`` are
    committed as 10, 20, then all 23 (seen through the catalog at each commit)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for k in range(23):
        text = f"Entry {k}\n\nThe {_PLACES[k % 8]} ledger line {k} reads {k * 7}.\n"
        (corpus / f"entry-{k:02d}.txt").write_text(text)
    svc = make_assistant(tmp_path / "index", commit_every_docs=10, commit_every_s=3600)
    seen: list[int] = []
    commit = svc._commit

    def counted() -> None:
        commit()
        seen.append(svc.catalog.count())

    monkeypatch.setattr(svc, "_commit", counted)
    report = workers.ingest(svc, [corpus], workers=2)
    monkeypatch.undo()
    assert len(report.added) == 23 and not report.errors
    assert seen == [10, 20, 23]  # the last: the ingest's closing commit
    assert len(indexed_ids(svc)) == 23


@pytest.mark.slow
def test_ray_tasks_on_a_local_ray_give_the_ids_of_one_process(tmp_path: Path, make_assistant: MakeAssistant) -> None:
    """`assistant ingest --ray auto --workers 2`: a local Ray with 2 CPUs runs the tasks (the files travel as
    bytes; 44 files are two tasks of ``TASK_FILES``, one per worker); same document and chunk ids as the
    single-process ingest, same errors."""
    assert workers.TASK_FILES < 44
    corpus = survey_corpus(tmp_path / "corpus", 40)
    single = make_assistant(tmp_path / "single")
    one = single.ingest([corpus])
    done = _cli(tmp_path / "ray", "--ray", "auto", "--workers", "2", str(corpus))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["ids"] == one.ids
    assert _names(report["errors"]) == _names(one.errors)
    assert indexed_ids(make_assistant(tmp_path / "ray")) == indexed_ids(single)
