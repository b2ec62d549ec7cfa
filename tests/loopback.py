"""Real servers on 127.0.0.1 for the tests: a free port, and waiting until a started server answers."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(
    proc: subprocess.Popen[bytes],
    url: str,
    *,
    timeout: float,
    interval: float = 0.5,
    headers: dict[str, str] | None = None,
) -> str | None:
    """Poll ``url`` until it answers 200 (None) or the process exits or ``timeout`` seconds pass (what went
    wrong, e.g. "exited with 1", for the caller's message; the caller stops the process)."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            return f"exited with {proc.returncode}"
        try:
            if httpx.get(url, headers=headers, timeout=2.0).status_code == 200:
                return None
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            return f"did not answer {url} within {timeout:.0f} s"
        time.sleep(interval)


@contextmanager
def serve_app(app: Any, **config: Any) -> Iterator[str]:
    """``app`` served by a real uvicorn in a thread on a free loopback port (``config``: more uvicorn.Config
    options); yields its base URL and stops the server afterwards."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config))
    thread = threading.Thread(target=server.run, name="test-server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail("the server did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
