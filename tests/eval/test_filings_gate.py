"""The CI quality gate on the filing sets: our Uber 10-K page set and the FinanceBench subset, end to end.

Each runs ``assistant eval ... --gate`` as a real subprocess (fresh index, the real model, the plain llama-index
baseline beside ours) and holds it to its sections of ``eval/thresholds.json`` (and the held-out half's).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eval.gate import load_thresholds
from tests.conftest import REPO, SHARED

pytestmark = pytest.mark.slow

UBER = SHARED / "datasets" / "uber_10k_2021"
FINANCEBENCH = SHARED / "datasets" / "financebench"


def _gate(args: list[str], out: Path) -> dict[str, object]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "eval", *args, "--gate", "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return dict(json.loads(next(out.glob("*.json")).read_text(encoding="utf-8")))


@pytest.mark.skipif(not (UBER / "uber_2021.pdf").is_file(), reason="the Uber 10-K is not in ../shared/datasets")
def test_uber_page_set_meets_the_gate(tmp_path: Path) -> None:
    assert load_thresholds("uber_10k") and load_thresholds("uber_10k.heldout")
    report = _gate(["--page-set", str(REPO / "eval" / "uber_10k.jsonl"), "--files", str(UBER)], tmp_path)
    assert report["name"] == "uber_10k"


@pytest.mark.skipif(not (UBER / "uber_2021.pdf").is_file(), reason="the Uber 10-K is not in ../shared/datasets")
def test_second_held_out_uber_set_meets_the_gate(tmp_path: Path) -> None:
    assert load_thresholds("uber_10k_heldout2")
    report = _gate(["--page-set", str(REPO / "eval" / "uber_10k_heldout2.jsonl"), "--files", str(UBER)], tmp_path)
    assert report["name"] == "uber_10k_heldout2"


@pytest.mark.skipif(not FINANCEBENCH.is_dir(), reason="FinanceBench is not in ../shared/datasets")
def test_financebench_subset_meets_the_gate(tmp_path: Path) -> None:
    assert load_thresholds("financebench_subset")
    report = _gate(["--financebench", str(FINANCEBENCH), "--max-pages", "300"], tmp_path)
    assert report["name"] == "financebench_subset"
