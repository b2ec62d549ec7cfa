"""Fixtures for the index tests: a real Chroma server, and the two vector backends."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from index.vector import VectorIndex
from tests.index.reopen import snapshot

REPO = Path(__file__).resolve().parents[2]
CHROMA = Path(sys.executable).parent / "chroma"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ChromaServer:
    """`chroma run` on a directory and port of its own; restartable on the same data."""

    def __init__(self, path: Path, port: int) -> None:
        self.path = path
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = path.parent / f"chroma-{port}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        assert CHROMA.exists(), f"the chroma CLI is missing at {CHROMA}"
        with open(self.log, "ab") as log:
            self._proc = subprocess.Popen(
                [str(CHROMA), "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"chroma exited with {self._proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/api/v2/heartbeat", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"chroma did not answer its heartbeat within {timeout}s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=15)
        self._proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """A real Chroma server for the whole session (tests use collections of their own)."""
    server = ChromaServer(tmp_path_factory.mktemp("chroma-server") / "data", free_port())
    server.start()
    yield server
    server.stop()


class VectorBackend:
    """Opens VectorIndex objects on one backend and re-opens them as a fresh process would see them."""

    def __init__(self, kind: str, tmp_path: Path, server: ChromaServer | None) -> None:
        self.kind = kind
        self.path = tmp_path / "chroma"
        self.server = server
        self.collection = f"c{uuid.uuid4().hex[:12]}"

    def open(self, **kwargs: Any) -> VectorIndex:
        if self.server is not None:
            return VectorIndex(url=self.server.url, collection=self.collection, **kwargs)
        return VectorIndex(self.path, collection=self.collection, **kwargs)

    def snapshot_after_reopen(self, query: np.ndarray, top_k: int) -> dict[str, Any]:
        """count/doc_ids/search/chunks as seen after a restart (server) or from a new process (embedded)."""
        if self.server is not None:
            self.server.restart()
            return snapshot(self.open(), query, top_k)
        query_file = self.path.parent / "query.json"
        query_file.write_text(json.dumps([float(x) for x in query]))
        out = subprocess.run(
            [sys.executable, "-m", "tests.index.reopen", str(self.path), self.collection, str(query_file), str(top_k)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        return result


@pytest.fixture(params=["embedded", "server"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> VectorBackend:
    """Each shared VectorIndex test runs on embedded Chroma and on a real Chroma server."""
    server = request.getfixturevalue("chroma_server") if request.param == "server" else None
    return VectorBackend(request.param, tmp_path, server)
