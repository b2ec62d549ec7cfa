"""``assistant eval`` as the CLI runs it: a real service on a small BEIR set, with and without the reranker."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from eval.commands import run_eval_command

DOCS = {
    "tides": ("Tides", "Ocean tides are caused mainly by the gravitational pull of the Moon on the Earth's oceans."),
    "bread": ("Bread", "Sourdough bread rises because wild yeast and lactic acid bacteria ferment the dough."),
    "volcano": ("Volcanoes", "A volcano erupts when pressure from magma and dissolved gases breaks through the crust."),
}
QUERIES = {"q1": "What causes the tides in the sea?", "q2": "Why does sourdough rise?"}
QRELS = {"q1": "tides", "q2": "bread"}


def _beir(root: Path) -> Path:
    root.mkdir()
    (root / "qrels").mkdir()
    (root / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": k, "title": t, "text": x}) + "\n" for k, (t, x) in DOCS.items()), encoding="utf-8"
    )
    (root / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": k, "text": q}) + "\n" for k, q in QUERIES.items()), encoding="utf-8"
    )
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, d in QRELS.items()), encoding="utf-8"
    )
    return root


def _args(beir: Path, out: Path) -> argparse.Namespace:
    return argparse.Namespace(
        beir=beir, split="test", llama_dataset=None, eval_set=None, top_k=5, mode=None, data_dir=None, out=out
    )


@pytest.mark.parametrize("reranker", ["", "onnx-cross-encoder"])
def test_beir_eval_writes_reports_that_say_how_it_retrieved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reranker: str
) -> None:
    monkeypatch.setenv("ASSISTANT_RERANKER", reranker)
    report, failures = run_eval_command(_args(_beir(tmp_path / "beir"), tmp_path / "out"))
    assert report.metrics["ndcg@10"] == pytest.approx(1.0)
    assert report.meta["queries"] == 2 and report.meta["documents"] == 3
    assert report.meta["retrieval"].startswith("convex (alpha 0.5)")
    assert ("reranker onnx-cross-encoder (depth 20, weight 0.7)" in report.meta["retrieval"]) == bool(reranker)
    written = json.loads((tmp_path / "out" / f"{report.name}.json").read_text(encoding="utf-8"))
    assert written["meta"]["retrieval"] == report.meta["retrieval"]
    assert report.meta["retrieval"] in (tmp_path / "out" / f"{report.name}.md").read_text(encoding="utf-8")
    assert failures == []  # no thresholds are set for this set
