"""The `assistant` command as a user runs it: a real process, real model, real index."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.assistant.conftest import one_line_error, run
from tests.chroma_server import ChromaServer
from tests.conftest import DEMO_DIR, REPO
from tests.loopback import free_port


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("cli-index")
    result = run(data_dir, "ingest", str(DEMO_DIR))
    assert result.returncode == 0, result.stderr
    assert "added 2" in result.stdout
    return data_dir


def test_ask_human_readable(indexed: Path) -> None:
    result = run(indexed, "ask", "What replaced the Diffusion Rule?")
    assert result.returncode == 0, result.stderr
    answer, _, sources = result.stdout.partition("Sources:")
    assert "[1]" in answer and "Diffusion Rule" in answer and "Ascend" in answer
    assert "[1]" in sources and "“" in sources
    # the lead sentence is listed with the phrase of the sentence that refers to it
    lead = sources.index("issued new guidance declaring")
    assert sources.index("(what [2] calls “this more aggressive interpretation”)") > lead


def test_ask_about_a_named_document_says_so_first(indexed: Path) -> None:
    result = run(indexed, "ask", "What question does the CGTN commentary end with?")
    assert result.returncode == 0, result.stderr
    first, answer = result.stdout.split("\n", 2)[:2]
    assert first == "(How “New U.S. chip guidance on Huawei reveals deeper fears, tougher realities” ends)"
    assert answer.endswith("innovate faster? [1]")


def test_ask_json_and_stdin_batch(indexed: Path) -> None:
    single = run(indexed, "ask", "--json", "What replaced the Diffusion Rule?")
    assert single.returncode == 0, single.stderr
    answer = json.loads(single.stdout)
    assert {"answer", "abstained", "citations", "timings_ms"} <= set(answer)
    assert answer["citations"] and not answer["abstained"]
    for citation in answer["citations"]:
        assert " ".join(citation["quote"].split()) in answer["answer"]

    questions = "What replaced the Diffusion Rule?\n\nWho won the 2022 FIFA World Cup?\n"
    batch = run(indexed, "ask", "--json", "-", stdin=questions)
    assert batch.returncode == 0, batch.stderr
    lines = [json.loads(line) for line in batch.stdout.splitlines()]
    assert [a["abstained"] for a in lines] == [False, True]


def test_docs_and_delete(indexed: Path, tmp_path: Path) -> None:
    listing = run(indexed, "docs", "--json")
    docs = json.loads(listing.stdout)
    assert len(docs) == 2
    unknown = one_line_error(run(indexed, "delete", "0123456789abcdef"))
    assert "0123456789abcdef" in unknown


def test_delete_then_gone(tmp_path: Path) -> None:
    data_dir = tmp_path / "idx"
    assert run(data_dir, "ingest", str(DEMO_DIR / "cgtn-us-chip-guidance-huawei.txt")).returncode == 0
    doc_id = json.loads(run(data_dir, "docs", "--json").stdout)[0]["id"]
    assert run(data_dir, "delete", doc_id).returncode == 0
    assert json.loads(run(data_dir, "docs", "--json").stdout) == []


def test_errors_are_one_line(indexed: Path, tmp_path: Path) -> None:
    assert "empty" in one_line_error(run(indexed, "ask", "   "))
    assert "no such file" in one_line_error(run(tmp_path / "x", "ingest", str(tmp_path / "missing")))
    assert "ingest" in one_line_error(run(tmp_path / "empty-index", "ask", "What replaced the Diffusion Rule?"))
    bad = tmp_path / "bad.xyz"
    bad.write_text("?")
    result = run(tmp_path / "y", "ingest", str(bad))
    assert result.returncode != 0 and "bad.xyz" in result.stderr and "Traceback" not in result.stderr


def test_bad_settings_are_one_line_errors_and_leave_the_index_alone(indexed: Path) -> None:
    question = "What replaced the Diffusion Rule?"
    assert one_line_error(run(indexed, "ask", question, env={"ASSISTANT_TOP_K": "0"})) == (
        "error: invalid setting ASSISTANT_TOP_K=0: Input should be greater than or equal to 1"
    )
    line = one_line_error(run(indexed, "docs", env={"ASSISTANT_FUSION": "sum", "ASSISTANT_RERANK_WEIGHT": "x"}))
    assert "ASSISTANT_FUSION=sum" in line and "ASSISTANT_RERANK_WEIGHT=x" in line
    unknown = run(indexed, "ask", question, env={"ASSISTANT_RERANKER": "nope"})
    assert "unknown reranker 'nope'" in one_line_error(unknown)
    assert "lacks model.onnx" in one_line_error(
        run(indexed, "ask", question, env={"ASSISTANT_RERANKER": "onnx-cross-encoder:/nonexistent"})
    )
    listing = run(indexed, "docs", "--json")
    assert listing.returncode == 0 and len(json.loads(listing.stdout)) == 2


def test_two_data_directories_on_one_chroma_collection(tmp_path: Path, chroma_server: ChromaServer) -> None:
    on_server = {
        "ASSISTANT_CHROMA_URL": chroma_server.url,
        "ASSISTANT_COLLECTION": "cli-shared",
        "ASSISTANT_SHARED": "false",
    }
    first = run(tmp_path / "first", "ingest", str(DEMO_DIR), env=on_server)
    assert first.returncode == 0 and "added 2" in first.stdout, first.stderr
    line = one_line_error(run(tmp_path / "second", "ingest", str(DEMO_DIR), env=on_server))
    assert line == (
        f"error: the Chroma collection 'cli-shared' at {chroma_server.url} holds the index of another data "
        f"directory, not {tmp_path / 'second'}; give this one its own ASSISTANT_COLLECTION, or use the data "
        "directory that built it"
    )
    asked = run(tmp_path / "first", "ask", "What replaced the Diffusion Rule?", env=on_server)
    assert asked.returncode == 0 and "[1]" in asked.stdout, asked.stderr


# ---------------------------------------------------------------- refusals that come before the model loads

NO_MODEL = {"ASSISTANT_EMBED_MODEL": "/nonexistent/embedding-model"}  # loading it would fail with its own error
HOLD = (
    "import sys, time; from pathlib import Path; from index.lock import DirectoryLock; "
    "lock = DirectoryLock(Path(sys.argv[1])); lock.acquire(); print('held', flush=True); time.sleep(600)"
)


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port with a listening test socket on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def held_dir(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """An index directory whose lock another process holds (its pid), until the test ends."""
    data_dir = tmp_path / "held"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(data_dir)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield data_dir, proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_serve_on_a_taken_port_is_one_line_and_starts_nothing(tmp_path: Path, taken_port: int) -> None:
    data_dir = tmp_path / "never"
    for args, env in (
        (["serve", "--port", str(taken_port)], NO_MODEL),
        (["serve"], {**NO_MODEL, "ASSISTANT_PORT": str(taken_port)}),  # ASSISTANT_PORT is the default
        (["serve", "--host", "127.0.0.1", "--port", str(taken_port), "--check"], {}),
    ):
        line = one_line_error(run(data_dir, *args, env=env))
        assert line == (
            f"error: cannot serve on 127.0.0.1:{taken_port}: the port is already in use; "
            "choose another with --port, ASSISTANT_PORT or `make run PORT=...`"
        )
    assert not data_dir.exists()  # no index opened, so no model loaded either


def test_port_flag_overrides_assistant_port(tmp_path: Path, taken_port: int) -> None:
    free = run(
        tmp_path / "never", "serve", "--check", "--port", str(free_port()), env={"ASSISTANT_PORT": str(taken_port)}
    )
    assert free.returncode == 0 and free.stdout == free.stderr == ""
    bad = one_line_error(run(tmp_path / "never", "serve", "--check", "--host", "no-such-host.invalid", "--port", "80"))
    assert bad.startswith("error: cannot serve on no-such-host.invalid:80: no such address")
    assert "0-65535" in one_line_error(run(tmp_path / "never", "serve", "--check", "--port", "70000"))
    assert not (tmp_path / "never").exists()


def test_make_run_fails_at_once_on_a_taken_port(taken_port: int) -> None:
    """`make run PORT=...` checks the address before installing, indexing or loading anything."""
    made = subprocess.run(
        ["make", "--no-print-directory", "run", f"PORT={taken_port}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode != 0 and made.stdout == ""
    ours = [line for line in made.stderr.splitlines() if not re.match(r"make(\[\d+\])?: ", line)]
    assert ours == [
        f"error: cannot serve on 127.0.0.1:{taken_port}: the port is already in use; "
        "choose another with --port, ASSISTANT_PORT or `make run PORT=...`"
    ]


def test_a_held_index_is_reported_before_the_model_loads(held_dir: tuple[Path, int], tmp_path: Path) -> None:
    """With an embedding model that cannot load, a busy index still says "in use": the model was never reached."""
    data_dir, holder = held_dir
    for args in (
        ["ask", "What replaced the Diffusion Rule?"],
        ["docs"],
        ["delete", "0123456789abcdef"],
        ["ingest", str(DEMO_DIR)],
        ["serve", "--port", str(free_port())],
    ):
        line = one_line_error(run(data_dir, *args, env=NO_MODEL))
        assert line.startswith(f"error: the index in {data_dir} is in use by process {holder} "), (args, line)
        assert line.endswith("stop it first, or ask and add documents through its API")
    # the control: the same setting on a free directory does reach the model, and says so
    unheld = one_line_error(run(tmp_path / "free", "docs", env=NO_MODEL))
    assert "cannot load the embedding model '/nonexistent/embedding-model'" in unheld


def test_a_closed_pipe_ends_quietly(indexed: Path) -> None:
    """`assistant docs | head -1` and the like: output into a pipe nobody reads ends with no traceback."""
    for args in (["docs"], ["docs", "--json"], ["ask", "--json", "-"], ["--help"]):
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader is gone before the command writes a byte
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "assistant.cli", *args],
                input="What replaced the Diffusion Rule?\n",
                stdout=write_end,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "ASSISTANT_DATA_DIR": str(indexed)},
                cwd=REPO,
                timeout=300,
            )
        finally:
            os.close(write_end)
        assert proc.stderr == "", (args, proc.stderr)
        # 141: as a shell reports a command ended by SIGPIPE; argparse itself ignores a failed --help write
        assert proc.returncode == (0 if args == ["--help"] else 141), args
