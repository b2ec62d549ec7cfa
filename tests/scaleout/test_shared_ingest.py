"""Distributed ingest into a shared index: a real `assistant ingest --workers 2` (two spawned worker processes read,
cut and embed; the command's process writes) over a real `chroma run` in shared mode, followed by another service
with a data directory of its own, through the change log (real MiniLM, real Chroma, real lexical index)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from assistant.service import Assistant
from tests.assistant.test_ingest_workers import indexed_ids, survey_corpus
from tests.chroma_server import ChromaServer
from tests.conftest import REPO
from tests.scaleout.servers import shared_env

MakeAssistant = Callable[..., Assistant]

# a made-up note with a word no other file has
CANAL = (
    "The Quillmere canal lock\n\n"
    "When the Quillmere canal lock began to leak, the lock keeper sealed its oak gates with vantrelium putty, "
    "a grey paste that hardens under water within a single night. Barges waited two days at the upper basin "
    "while the putty set, and the keeper wrote the repair into the canal company's ledger.\n"
)


def shared_cli(
    data_dir: Path, chroma_url: str, collection: str, *args: str, **settings: str
) -> subprocess.CompletedProcess[str]:
    """`assistant ARGS` in shared mode on ``collection``, its caches under ``data_dir``."""
    env = shared_env(data_dir, chroma_url, collection, **{"shared": "true", **settings})
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=1800,
    )


def test_workers_ingest_into_a_shared_index(
    tmp_path: Path, make_assistant: MakeAssistant, chroma_server: ChromaServer
) -> None:
    corpus = survey_corpus(tmp_path / "corpus", 30)
    (corpus / "canal.txt").write_text(CANAL)
    single = make_assistant(tmp_path / "single")
    one = single.ingest([corpus])
    assert len(one.added) == 32

    collection = f"fanned-{uuid.uuid4().hex[:10]}"
    # the follower is up before the ingest starts, so it learns of every document through the change log
    follower = make_assistant(
        tmp_path / "follower", chroma_url=chroma_server.url, collection=collection, shared=True, follow_interval_s=3600
    )
    assert follower.documents() == []

    done = shared_cli(
        tmp_path / "writer",
        chroma_server.url,
        collection,
        "ingest",
        "--json",
        "--workers",
        "2",
        str(corpus),
        commit_every_docs="7",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["ids"] == one.ids
    assert sorted(report["added"]) == sorted(one.added)

    assert follower.follow() == 32  # not a full comparison: the change log alone
    assert indexed_ids(follower) == indexed_ids(single)
    canal = one.ids[str((corpus / "canal.txt").resolve())]
    assert [p.chunk.doc_id for p in follower.retriever.lexical.search("vantrelium", 5)] == [canal]
    dense = follower.vector.search(follower.embedder.embed_query("What did the keeper seal the leaking gates with?"), 3)
    assert dense[0].chunk.doc_id == canal
    answer = follower.ask("What did the keeper seal the leaking canal gates with?")
    assert {c.doc_id for c in answer.citations} == {canal}

    # the same command again: every file unchanged, nothing new in the log for the follower
    again = shared_cli(
        tmp_path / "writer", chroma_server.url, collection, "ingest", "--json", "--workers", "2", str(corpus)
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(json.loads(again.stdout)["unchanged"]) == 32
    assert follower.follow(full=True) == 0
