"""The hostile-input benchmark writes its report (on a small selection, with the real tokenizer)."""

from __future__ import annotations

import json
from pathlib import Path

from eval.bench_inputs import build_inputs, main, measure, to_markdown


def test_build_inputs_selects_by_name(tmp_path: Path) -> None:
    built = build_inputs(tmp_path, ["docx_22795", "pdf_300"])
    assert [name for name, _ in built] == ["docx_22795_empty_paragraphs", "pdf_300_pages"]
    assert all(path.is_file() and path.stat().st_size > 0 for _, path in built)


def test_measure_records_an_error_and_an_ingest(tmp_path: Path) -> None:
    (tmp_path / "ok.txt").write_text("Wind output rose. Turbines stayed available.", encoding="utf-8")
    (tmp_path / "big.txt").write_text("word " * 3000, encoding="utf-8")

    def count(text: str) -> int:
        return len(text.split()) + 2

    common = {"max_tokens": 50, "overlap": 1, "timeout_s": 60.0, "max_chunks": 100, "repeats": 2}
    ok = measure(tmp_path / "ok.txt", count, max_chars=1_000, **common)  # type: ignore[arg-type]
    assert ok["outcome"] == "ingested" and ok["chunks"] == 1 and ok["chunk_s"] is not None
    big = measure(tmp_path / "big.txt", count, max_chars=1_000, **common)  # type: ignore[arg-type]
    assert big["outcome"] == "DocumentTooLarge" and "ASSISTANT_MAX_DOCUMENT_CHARS" in big["error"]
    assert big["read_s"] is not None and big["chunk_s"] is None
    report = {"meta": {"max_chars": 1_000, "timeout_s": 60.0, "max_chunks": 100, "max_tokens": 50, "overlap": 1,
                       "repeats": 2}, "inputs": {"ok": ok, "big": big}}  # fmt: skip
    md = to_markdown(report)
    assert "| ok | " in md and "DocumentTooLarge" in md


def test_main_writes_json_and_markdown(tmp_path: Path) -> None:
    out = tmp_path / "inputs.md"
    assert main(["--only", "docx_22795", "--repeats", "1", "--out", str(out)]) == 0
    report = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    row = report["inputs"]["docx_22795_empty_paragraphs"]
    assert row["bytes"] > 0 and row["outcome"] == "UnreadableFile"
    assert "docx_22795_empty_paragraphs" in out.read_text(encoding="utf-8")
