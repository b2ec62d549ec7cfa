"""The side-by-side benchmark (eval/bench.py): subset selection, and both pipelines on a tiny SciFact subset."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from eval.bench import (
    BASELINE,
    OURS,
    RATIO_KEYS,
    load_bench_data,
    main,
    run_bench,
    sample_evenly,
    select_subset,
    to_markdown,
    write_report,
)
from eval.datasets import BeirDataset
from eval.errors import EvalError
from index.embeddings import Embedder

REPO = Path(__file__).resolve().parents[2]
SCIFACT = REPO.parent / "shared" / "datasets" / "scifact"


def _dataset() -> BeirDataset:
    corpus = {f"d{i}": (f"title {i}", f"text of document {i}") for i in range(6)}
    corpus["empty"] = ("", "")
    return BeirDataset(
        name="toy",
        split="test",
        corpus=corpus,
        queries={"q1": "one", "q2": "two", "q3": "three"},
        qrels={"q1": {"d4": 1}, "q2": {"d2": 1, "d5": 1}, "q3": {"d1": 1, "missing": 1}},
    )


def test_subset_takes_judged_documents_first_then_file_order() -> None:
    data = select_subset(_dataset(), 4)
    assert [d.id for d in data.docs] == ["d4", "d2", "d5", "d1"]
    # q3 has a relevant document that is not in the corpus, so it can never be fully covered
    assert list(data.queries) == ["q1", "q2"]
    assert data.qrels["q2"] == {"d2": 1, "d5": 1}

    bigger = select_subset(_dataset(), 100)
    assert [d.id for d in bigger.docs] == ["d4", "d2", "d5", "d1", "d0", "d3"]  # empty documents are skipped


def test_subset_keeps_only_fully_covered_queries() -> None:
    data = select_subset(_dataset(), 2)
    assert [d.id for d in data.docs] == ["d4", "d2"]
    assert list(data.queries) == ["q1"]
    with pytest.raises(EvalError):
        select_subset(_dataset(), 0)


def test_sample_evenly_spreads_and_caps() -> None:
    items = [str(i) for i in range(10)]
    assert sample_evenly(items, 5) == ["0", "2", "4", "6", "8"]
    assert sample_evenly(items, 30) == items
    assert sample_evenly(items, 0) == []


@pytest.mark.slow
@pytest.mark.skipif(not (SCIFACT / "corpus.jsonl").is_file(), reason="SciFact is not in ../shared/datasets")
def test_both_pipelines_retrieve_relevant_documents(embedder: Embedder, tmp_path: Path) -> None:
    data = load_bench_data(SCIFACT, n_docs=40)
    assert len(data.docs) == 40
    ids = {d.id for d in data.docs}
    assert data.queries and all(set(data.qrels[q]) <= ids for q in data.queries)

    report = run_bench(data, embedder, repeats=1, top_k=10, ask_sample=3)

    ours, baseline = report["pipelines"][OURS], report["pipelines"][BASELINE]
    assert ours["ndcg@10"] > 0
    assert baseline["ndcg@10"] > 0
    assert ours["chunks"] >= len(data.docs) and baseline["chunks"] >= len(data.docs)
    assert "ask_p50_ms" in ours and "ask_p50_ms" not in baseline
    # ours embeds every word piece; llama-index's 1,024-token chunks lose their tails to MiniLM's 256-piece window
    assert ours["truncated_tokens"] == 0 and ours["embedded_tokens"] > 0
    assert baseline["truncated_tokens"] > 0 and baseline["embedded_tokens"] > 0
    assert ours["embedded_tokens_per_s"] == pytest.approx(ours["embedded_tokens"] / ours["ingest_s"])
    assert set(RATIO_KEYS) <= set(report["ratios"])
    assert report["ratios"]["ndcg@10"] == pytest.approx(ours["ndcg@10"] / baseline["ndcg@10"])
    assert report["documents"] == 40 and report["queries"] == len(data.queries) and report["repeats"] == 1

    md_path, json_path = write_report(report, tmp_path / "out" / "bench.md")
    saved = json.loads(json_path.read_text(encoding="utf-8"))
    assert set(RATIO_KEYS) <= set(saved["ratios"])
    assert saved["pipelines"][OURS]["ndcg@10"] == pytest.approx(ours["ndcg@10"])
    table = md_path.read_text(encoding="utf-8")
    assert table == to_markdown(report)
    assert "| nDCG@10 |" in table and "ours / llama-index" in table


@pytest.fixture(autouse=True)
def _keep_torch_threads() -> Iterator[None]:
    """``main`` sets torch's thread count for the whole process; give the rest of the session its own back."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
@pytest.mark.skipif(not (SCIFACT / "corpus.jsonl").is_file(), reason="SciFact is not in ../shared/datasets")
def test_command_line_writes_both_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What `make bench` runs, on a tiny subset."""
    out = tmp_path / "bench.md"
    argv = ["--docs", "30", "--repeats", "1", "--top-k", "5", "--ask-sample", "2", "--threads", "1", "--quiet"]
    assert main([*argv, "--out", str(out)]) == 0
    saved = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert saved["documents"] == 30 and saved["repeats"] == 1 and saved["top_k"] == 5
    assert out.read_text(encoding="utf-8") == to_markdown(saved)
    assert "| nDCG@10 |" in capsys.readouterr().out


def test_command_line_reports_a_missing_dataset_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dataset", str(tmp_path / "nowhere"), "--out", str(tmp_path / "b.md"), "--threads", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench: ") and "nowhere" in err and "\n" not in err
    assert not (tmp_path / "b.md").exists()


def test_bench_embed_profile_splits_stages_by_this_projects_functions(embedder: Embedder) -> None:
    """eval.bench_embed's stage split: the embed call is found in index/embeddings.py, chunking is not run."""
    import cProfile
    import pstats

    from eval.bench_embed import stage_seconds

    profile = cProfile.Profile()
    profile.enable()
    embedder.embed(["The cat sat on the mat.", "Revenue rose."])
    embedder.count_tokens("The cat sat on the mat.")
    profile.disable()
    stages = stage_seconds(pstats.Stats(profile))
    assert stages["embedding"] > 0
    assert stages["  of which token counting"] > 0
    assert stages["chunking"] == 0 and stages["Chroma add"] == 0


def test_bench_embed_report_names_the_fastest_agreeing_backend() -> None:
    from eval.bench_embed import to_markdown

    report = {
        "backends": {
            "texts": 3,
            "batch_size": 32,
            "fastest_agreeing": "onnx-O3",
            "backends": {
                "torch": {"seconds": 10.0, "vs_torch": 1.0, "min_cosine": 1.0, "agrees": True},
                "onnx-O3": {"seconds": 7.4, "vs_torch": 0.74, "min_cosine": 0.99999, "agrees": True},
                "onnx-int8": {"seconds": 6.9, "vs_torch": 0.69, "min_cosine": 0.98668, "agrees": False},
                "openvino": {"error": "ModuleNotFoundError: No module named 'optimum'"},
            },
        }
    }
    table = to_markdown(report)
    assert "| onnx-O3 | 7.4 | 0.74 | 0.99999 | fastest agreeing |" in table
    assert "| onnx-int8 | 6.9 | 0.69 | 0.98668 | no |" in table
    assert "| openvino | | | | unavailable: ModuleNotFoundError" in table
