"""The one-page summary of ``make bench-quality``: every set's headline metrics, ours beside the plain llama-index
pipeline's, from the JSON reports the runs wrote (``reports/<name>.json``) into ``reports/quality.md``.

Run: ``python -m eval.quality [REPORTS_DIR]``. A set whose report is missing is listed as not run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.report import BASELINE, format_value

# (report name, what it is, the metrics shown) in the order of the summary
SETS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("scifact", "SciFact test (BEIR)", ("ndcg@10", "recall@100", "retrieval_p50_ms", "retrieval_p95_ms")),
    (
        "blockchain_solana",
        "BlockchainSolana (LlamaIndex)",
        ("hit@5", "token_f1", "key_term_recall", "answer_rate", "latency_p50_ms", "latency_p95_ms"),
    ),
    (
        "braintrust_coda",
        "Braintrust Coda help desk (LlamaIndex; hit@5 = reference-context hit)",
        ("hit@5", "token_f1", "key_term_recall", "answer_rate", "latency_p50_ms", "latency_p95_ms"),
    ),
    (
        "covidqa",
        "CovidQA (LlamaIndex)",
        ("hit@5", "key_term_recall", "token_f1", "answer_rate", "latency_p50_ms", "latency_p95_ms"),
    ),
)
PAGE_METRICS = (
    "doc_hit@1",
    "doc_hit@5",
    "page_hit@1",
    "page_hit@5",
    "citation_precision",
    "citation_precision_page",
    "abstention_rate",
    "numbers_found",
    "numbers_found_single",
    "token_f1",
    "latency_p50_ms",
    "latency_p95_ms",
)
PAGE_SETS: tuple[tuple[str, str], ...] = (
    ("uber_10k", "Uber 10-K 2021 (our page-gold set)"),
    ("uber_10k_heldout2", "Uber 10-K 2021, second held-out set (30 new questions)"),
    ("financebench", "FinanceBench (73 filings, 127 questions)"),
    ("financebench_subset", "FinanceBench subset (the CI gate's)"),
)


def _rows(label: str, metrics: dict[str, Any], names: Sequence[str]) -> list[str]:
    lines: list[str] = []
    for name in names:
        if name not in metrics:
            continue
        other = metrics.get(BASELINE + name)
        theirs = "–" if other is None else format_value(name, float(other))
        lines.append(f"| {label} | {name} | {format_value(name, float(metrics[name]))} | {theirs} |")
    return lines


def summarise(reports: Path) -> str:
    """The Markdown summary of the reports in ``reports``."""
    lines = [
        "# Quality: ours vs the plain llama-index pipeline",
        "",
        "Written by `make bench-quality` (`python -m eval.quality`) from the reports beside this file; each set's "
        "plain llama-index figures come from the same command, on the same files and questions "
        "(eval/baseline.py). Latency: ours is the whole `ask`, the baseline's is retrieval only. SciFact has no "
        "file-based baseline run (its corpus is not files); the published all-MiniLM-L6-v2 nDCG@10 is 0.645.",
        "",
        "| set | metric | ours | plain llama-index |",
        "| --- | --- | --- | --- |",
    ]
    missing: list[str] = []
    entries = [(n, label, names) for n, label, names in SETS] + [(n, label, PAGE_METRICS) for n, label in PAGE_SETS]
    for name, label, names in entries:
        path = reports / f"{name}.json"
        if not path.is_file():
            missing.append(f"{label} (`{name}`)")
            continue
        report = json.loads(path.read_text(encoding="utf-8"))
        metrics = report.get("metrics", {})
        lines += _rows(label, metrics, names)
        for split, split_metrics in (report.get("meta", {}).get("by_split") or {}).items():
            if split == "heldout":
                lines += _rows(f"{label}, held-out half", split_metrics, names)
    if missing:
        lines += ["", "Not run: " + ", ".join(missing) + "."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.quality", description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="?", type=Path, default=Path("reports"))
    args = parser.parse_args(argv)
    if not args.reports.is_dir():
        sys.stderr.write(f"error: no such reports directory: {args.reports}\n")
        return 2
    out = args.reports / "quality.md"
    out.write_text(summarise(args.reports), encoding="utf-8")
    sys.stdout.write(f"{out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
