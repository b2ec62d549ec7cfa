"""Fixtures for the index tests: the two vector backends (embedded, and the session's real Chroma server)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from index.vector import VectorIndex
from tests.chroma_server import ChromaServer, free_port
from tests.index.reopen import snapshot

__all__ = ["ChromaServer", "VectorBackend", "free_port"]

REPO = Path(__file__).resolve().parents[2]


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
