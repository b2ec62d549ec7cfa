"""Fixtures for the API tests: one service over the demo corpus, a TestClient, a live server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from assistant.api import create_app
from assistant.config import get_settings
from assistant.extractive import ExtractiveAnswerer
from assistant.service import Assistant
from index.embeddings import Embedder
from tests.conftest import DEMO_DIR, REPO

# TestClient sends `Host: testserver`: the tests allow it explicitly (the default allows loopback names only).
TEST_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]

SSEvent = tuple[str | None, Any]  # (event name or None, decoded JSON data or the raw "[DONE]")


def parse_sse(lines: Iterable[str]) -> list[SSEvent]:
    """Decode a text/event-stream body into (event, data) pairs."""
    events: list[SSEvent] = []
    name: str | None = None
    data: list[str] = []
    for line in [*lines, ""]:
        if line == "":
            if data:
                raw = "\n".join(data)
                events.append((name, raw if raw == "[DONE]" else json.loads(raw)))
            name, data = None, []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    return events


def run(
    data_dir: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`assistant ARGS` in a real process on ``data_dir``, with ``env`` on top of this one's environment."""
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(data_dir), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The error line of a failed command, checked to be its only output on stderr and no traceback."""
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def consistent(svc: Assistant) -> set[str]:
    """Check the catalog, the vector index and the lexical index hold the same documents and chunks; their ids."""
    ids = {d.id for d in svc.documents()}
    assert svc.vector.doc_ids() == ids
    assert svc.lexical.doc_ids() == ids
    assert svc.vector.count() == svc.lexical.count() == sum(d.chunks for d in svc.documents())
    return ids


@pytest.fixture(scope="session")
def sse() -> Callable[[Iterable[str]], list[SSEvent]]:
    return parse_sse


@pytest.fixture(scope="session")
def api_service(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Assistant]:
    """One service over the demo corpus for the API tests (they may add and remove their own files)."""
    svc = Assistant(get_settings(data_dir=tmp_path_factory.mktemp("api-index")), embedder=embedder)
    report = svc.ingest([DEMO_DIR])
    assert len(report.added) == 2, report
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def client(api_service: Assistant) -> Iterator[TestClient]:
    """The full app (API and UI) over ``api_service``, without an API key."""
    settings = api_service.settings.model_copy(update={"allowed_hosts": TEST_HOSTS})
    with TestClient(create_app(api_service, settings)) as c:
        yield c


@pytest.fixture
def make_client(api_service: Assistant) -> Iterator[Callable[..., TestClient]]:
    """API-only apps over ``api_service`` with other settings (API key, CORS, upload limit)."""
    opened: list[TestClient] = []

    def make(service: Assistant | None = None, **overrides: object) -> TestClient:
        svc = service or api_service
        settings = svc.settings.model_copy(update={"allowed_hosts": TEST_HOSTS, **overrides})
        c = TestClient(create_app(svc, settings, ui=False))
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.close()


@dataclass(frozen=True)
class LiveServer:
    url: str
    api_key: str
    data_dir: Path

    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real `assistant serve` process on a free loopback port, with an API key and a 1 MB upload limit."""
    from tests.assistant.served import serving  # served.py uses this module's `run`

    data_dir = tmp_path_factory.mktemp("serve-index")
    key = "test-key-" + os.urandom(6).hex()
    with serving(data_dir, api_key=key, max_upload_mb="1") as served:
        yield LiveServer(url=served.url, api_key=key, data_dir=data_dir)


@pytest.fixture(scope="module")
def answerer(embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> ExtractiveAnswerer:
    """The extractive answerer with default settings and no corpus (for tests that hand it passages)."""
    return ExtractiveAnswerer(get_settings(data_dir=tmp_path_factory.mktemp("unused")), embedder)
