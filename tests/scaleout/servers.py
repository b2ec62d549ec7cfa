"""Real `assistant serve` processes in shared mode over one `chroma run` server, for the scale-out tests and
eval/bench_scaleout.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.loopback import free_port, wait_for_http

REPO = Path(__file__).resolve().parents[2]


def shared_env(data_dir: Path, chroma_url: str, collection: str, **settings: str) -> dict[str, str]:
    """This environment without the developer's ``ASSISTANT_*`` settings, for a process on ``collection`` of the
    Chroma server at ``chroma_url`` (shared mode by default) with its caches under ``data_dir``; ``settings`` as
    ``ASSISTANT_<NAME>``."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("ASSISTANT_")}
    env.update(
        {f"ASSISTANT_{name.upper()}": value for name, value in settings.items()},
        ASSISTANT_DATA_DIR=str(data_dir),
        ASSISTANT_CHROMA_URL=chroma_url,
        ASSISTANT_COLLECTION=collection,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
    )
    return env


class SharedServer:
    """`assistant serve` on a Chroma server (shared mode by default: ASSISTANT_SHARED is left unset) on a free
    loopback port; its caches under ``data_dir``."""

    def __init__(self, data_dir: Path, chroma_url: str, collection: str, **settings: str) -> None:
        self.data_dir = data_dir
        self.env = shared_env(data_dir, chroma_url, collection, **settings)
        self.port = 0
        self.url = ""
        self.log = data_dir.parent / f"{data_dir.name}-serve.log"  # named by port once launched
        self._proc: subprocess.Popen[bytes] | None = None

    def launch(self) -> None:
        """Start the process (``wait`` until it answers)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.data_dir.parent / f"{self.data_dir.name}-serve-{self.port}.log"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "assistant.cli", "serve", "--port", str(self.port)],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def wait(self, timeout: float = 300.0) -> None:
        assert self._proc is not None
        problem = wait_for_http(self._proc, f"{self.url}/health", timeout=timeout)
        if problem is not None:
            self.stop()
            raise RuntimeError(f"`assistant serve` {problem}:\n{self.log.read_text()[-3000:]}")

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def kill(self) -> None:
        """SIGKILL, as a crash: no shutdown code runs."""
        if self._proc is not None:
            os.kill(self._proc.pid, signal.SIGKILL)
            self._proc.wait(timeout=30)
            self._proc = None

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=30)
        self._proc = None


def start_all(servers: list[SharedServer], timeout: float = 300.0) -> None:
    """Launch ``servers`` together (the model loads in each at once) and wait for every one."""
    for server in servers:
        server.launch()
    try:
        for server in servers:
            server.wait(timeout)
    except BaseException:
        for server in servers:
            server.stop()
        raise
