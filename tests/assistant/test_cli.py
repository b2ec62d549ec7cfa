"""The `assistant` command as a user runs it: a real process, real model, real index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.assistant.conftest import one_line_error, run
from tests.chroma_server import ChromaServer
from tests.conftest import DEMO_DIR


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
    on_server = {"ASSISTANT_CHROMA_URL": chroma_server.url, "ASSISTANT_COLLECTION": "cli-shared"}
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
