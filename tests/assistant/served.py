"""A real `assistant serve` process over a data directory, for the bad-input corpus and the schemathesis run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.assistant.conftest import run
from tests.conftest import DEMO_DIR, REPO
from tests.loopback import free_port, wait_for_http

# settings of the developer's shell that would change what these servers do
_CLEARED = ("ASSISTANT_API_KEY", "ASSISTANT_LLM_BASE_URL", "ASSISTANT_ALLOWED_HOSTS", "ASSISTANT_CHROMA_URL")


def ingest_demo(data_dir: Path, docs_root: Path) -> None:
    """Copy the demo corpus under ``docs_root`` and ingest it into ``data_dir`` with the CLI."""
    copy = docs_root / "demo"
    shutil.copytree(DEMO_DIR, copy)
    result = run(data_dir, "ingest", str(copy))
    assert result.returncode == 0, result.stderr


@dataclass(frozen=True)
class Served:
    url: str
    data_dir: Path
    log: Path  # the server's stdout and stderr


@contextmanager
def serving(data_dir: Path, **settings: str) -> Iterator[Served]:
    """`assistant serve` on a free loopback port over ``data_dir``, with ``ASSISTANT_<NAME>`` settings; yields it
    and stops the process afterwards."""
    port = free_port()
    env = {name: value for name, value in os.environ.items() if name not in _CLEARED}
    env.update(
        {f"ASSISTANT_{name.upper()}": value for name, value in settings.items()},
        ASSISTANT_DATA_DIR=str(data_dir),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
    )
    log_path = data_dir.parent / f"{data_dir.name}-serve-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "assistant.cli", "serve", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    key = settings.get("api_key")
    try:
        problem = wait_for_http(proc, f"{url}/health", timeout=300, headers={"X-API-Key": key} if key else None)
        if problem is not None:
            pytest.fail(f"`assistant serve` {problem}:\n{log_path.read_text()[-3000:]}")
        yield Served(url=url, data_dir=data_dir, log=log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
