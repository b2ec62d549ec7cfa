"""A real `chroma run` server on a loopback port, for the tests of server mode."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.loopback import free_port, wait_for_http

__all__ = ["ChromaServer", "free_port"]

CHROMA = Path(sys.executable).parent / "chroma"


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
        problem = wait_for_http(self._proc, f"{self.url}/api/v2/heartbeat", timeout=timeout, interval=0.2)
        if problem is not None:
            self.stop()
            raise RuntimeError(f"chroma {problem}: {self.log.read_text()[-2000:]}")

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
