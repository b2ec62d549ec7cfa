"""The chunk settings of a shared index are checked across processes, as its embedding model is: the first process
records them on the shared collection; one with other settings (which would give other chunk ids) is refused with
one line, by the service, `assistant ingest` and `assistant serve` (real `chroma run`, real MiniLM)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.errors import IndexMismatch
from assistant.service import Assistant
from tests.chroma_server import ChromaServer, free_port
from tests.scaleout.test_shared import ORCHARD
from tests.scaleout.test_shared_ingest import CANAL, shared_cli

MakeAssistant = Callable[..., Assistant]


def _refusal(stderr: str) -> str:
    """The one error line of a refused command (and nothing like a traceback)."""
    assert "Traceback" not in stderr, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr[-3000:]
    return errors[0]


def test_other_chunk_settings_are_refused(
    tmp_path: Path, make_assistant: MakeAssistant, chroma_server: ChromaServer
) -> None:
    collection = f"chunking-{uuid.uuid4().hex[:10]}"

    def shared(name: str, **settings: object) -> Assistant:
        return make_assistant(
            tmp_path / name,
            chroma_url=chroma_server.url,
            collection=collection,
            shared=True,
            follow_interval_s=3600,
            **settings,
        )

    first = shared("first")
    first.upload("orchard.txt", io.BytesIO(ORCHARD.encode()))
    assert first.library is not None
    recorded = first.library.setting("chunking")
    assert recorded is not None and recorded.endswith(":200:1")

    with pytest.raises(IndexMismatch, match=r"cut into chunks of 200 word pieces, overlap 1 sentence.*of 120 word"):
        shared("fewer-tokens", chunk_tokens=120)
    with pytest.raises(IndexMismatch, match=r"overlap 1 sentence.*overlap 0 sentence.*ASSISTANT_CHUNK_OVERLAP"):
        shared("no-overlap", chunk_overlap=0)
    assert shared("same").documents()[0].source == "orchard.txt"  # the same settings join

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "canal.txt").write_text(CANAL)
    ingest = shared_cli(tmp_path / "cli", chroma_server.url, collection, "ingest", str(corpus), chunk_tokens="120")
    assert ingest.returncode == 1
    assert "is cut into chunks of 200 word pieces" in _refusal(ingest.stderr)
    serve = shared_cli(
        tmp_path / "serve", chroma_server.url, collection, "serve", "--port", str(free_port()), chunk_overlap="2"
    )
    assert serve.returncode == 1
    assert "this process cuts chunks of 200 word pieces, overlap 2 sentence(s)" in _refusal(serve.stderr)

    assert first.library.setting("chunking") == recorded
    assert [d.source for d in first.documents()] == ["orchard.txt"]
    assert first.library.count() == 1  # nothing written by the refused ones
