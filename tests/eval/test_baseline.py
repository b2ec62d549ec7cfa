"""The plain llama-index baseline (eval.baseline) on made-up files: a 3-page PDF, Markdown and HTML."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from eval.baseline import BaselineRun, Retrieved, run_baseline_files
from index.embeddings import Embedder
from tests.pdfs import lines_pdf

os.environ["HF_HUB_OFFLINE"] = "1"

PAGES = [
    [
        "Battery storage on the grid",
        "Lithium-ion batteries store surplus solar power during the day.",
        "They release it in the evening when household demand peaks.",
    ],
    [
        "Pumped hydro",
        "Pumped hydro stations move water uphill into a reservoir when power is cheap,",
        "and let it run down through turbines when power is expensive.",
    ],
    [
        "Volcanic soils",
        "Farmers on the slopes of volcanoes grow coffee in ash-rich soil.",
        "Volcanic ash weathers into minerals that keep the soil fertile.",
    ],
]
MARKDOWN = """# Baking sourdough bread

Feed the starter with flour and water the night before. Knead the dough, let it rise slowly,
then bake the loaf in a hot oven until the crust is dark brown.
"""
HTML = """<html><head><title>Tides</title></head><body><h1>Tides</h1>
<p>The moon's gravity pulls the oceans, raising high tides twice a day on most coasts.</p></body></html>
"""




@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "collection"
    folder.mkdir()
    md = folder / "sourdough.md"
    md.write_text(MARKDOWN, encoding="utf-8")
    html = folder / "tides.html"
    html.write_text(HTML, encoding="utf-8")
    return [lines_pdf(folder / "energy.pdf", PAGES), md, html]


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a network connection fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the baseline tried to open a network connection: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _recording(embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every text the baseline embeds (the real model still embeds it)."""
    seen: list[str] = []
    real = embedder.embed

    def embed(texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        seen.extend(texts)
        return real(texts, progress=progress)

    monkeypatch.setattr(embedder, "embed", embed)
    return seen


def test_the_matching_page_or_file_comes_first(files: list[Path], embedder: Embedder, offline: None) -> None:
    questions = [
        "How do batteries store solar power for the evening?",
        "How does pumped hydro use a reservoir and turbines?",
        "Why is volcanic ash soil good for growing coffee?",
        "How do I bake a sourdough loaf?",
        "What causes high tides?",
    ]
    run = run_baseline_files(files, questions, top_k=3, embedder=embedder)
    assert isinstance(run, BaselineRun)
    firsts = [rows[0][:2] for rows in run.retrieved]
    assert firsts == [
        ("energy.pdf", 1),
        ("energy.pdf", 2),
        ("energy.pdf", 3),
        ("sourdough.md", None),
        ("tides.html", None),
    ]
    assert "pumped hydro" in run.retrieved[1][0].text.lower()
    # one ranked list per question, at most top_k rows each, one latency per question
    assert [len(rows) for rows in run.retrieved] == [3] * len(questions)
    assert len(run.latencies_ms) == len(questions) and all(ms > 0 for ms in run.latencies_ms)
    assert run.chunks == 5  # three pages and two short files, each one chunk with the default splitter
    assert run.ingest_s > 0 and run.unreadable == ()
    rows = [row for ranked in run.retrieved for row in ranked]
    assert all(isinstance(row, Retrieved) for row in rows)
    assert {row.source for row in rows} <= {"energy.pdf", "sourdough.md", "tides.html"}  # bare names
    assert {row.page for row in rows if row.source == "energy.pdf"} <= {1, 2, 3}


def test_it_never_resolves_llama_index_global_llm_or_embedder(files: list[Path], embedder: Embedder) -> None:
    from llama_index.core import Settings

    run_baseline_files(files, ["tides"], top_k=1, embedder=embedder)
    assert Settings._llm is None  # resolving it would build OpenAI's client (or fail without a key)
    assert Settings._embed_model is None


def test_file_path_is_embedded_by_default_and_can_be_kept_out(
    files: list[Path], embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _recording(embedder, monkeypatch)
    run_baseline_files(files, ["tides"], top_k=1, embedder=embedder)
    chunk_texts = [t for t in seen if "Pumped hydro stations" in t]
    assert len(chunk_texts) == 1
    assert f"file_path: {files[0]}" in chunk_texts[0] and "page_label: 2" in chunk_texts[0]
    assert not any("file_size" in t or "last_modified_date" in t for t in seen)

    seen.clear()
    run = run_baseline_files(files, ["tides"], top_k=1, embedder=embedder, embed_file_metadata=False)
    chunk_texts = [t for t in seen if "Pumped hydro stations" in t]
    assert len(chunk_texts) == 1
    assert "page_label: 2" in chunk_texts[0]
    assert not any("collection" in t or "file_path" in t or "file_name" in t for t in seen)
    assert run.retrieved[0][0].source == "tides.html"  # sources still known without the metadata embedded


def test_an_unreadable_file_is_skipped_and_reported(files: list[Path], embedder: Embedder, tmp_path: Path) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nthis is not a PDF body\n")
    run = run_baseline_files([*files, broken], ["How do I bake a sourdough loaf?"], top_k=2, embedder=embedder)
    assert run.unreadable == ("broken.pdf",)
    assert run.retrieved[0][0].source == "sourdough.md"


def test_arguments_are_checked(files: list[Path]) -> None:
    with pytest.raises(ValueError, match="top_k"):
        run_baseline_files(files, ["q"], top_k=0)
    with pytest.raises(ValueError, match="at least one file"):
        run_baseline_files([], ["q"], top_k=1)
