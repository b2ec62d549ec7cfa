"""The calibration table of docs/abstention.md from calibrate.py's rows.

usage: python docs/abstention_measure/table.py NAME[:SPLIT]=ROWS.jsonl ...

Each cell: wrongful abstention (answerable questions abstained on) / abstention recall (unanswerable ones
abstained on) at that threshold; a question abstains when a rule made it abstain or, unless it was answered by
position (``focus``), when its best score is below the threshold.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

THRESHOLDS = [0.25, 0.30, 0.32, 0.33, 0.34, 0.35, 0.38, 0.40, 0.45]


def abstains(row: dict[str, Any], threshold: float) -> bool:
    return bool(row["reason"]) or (row["focus"] is None and (row["best"] or 0.0) < threshold)


def line(name: str, rows: list[dict[str, Any]]) -> str:
    answerable = [r for r in rows if r["answerable"]]
    negatives = [r for r in rows if not r["answerable"]]
    scores = sorted((r["best"] or 0.0) for r in answerable if not r["reason"] and r["focus"] is None)

    def at(q: float) -> float:
        return scores[min(len(scores) - 1, int(q * len(scores)))]

    cells = []
    for t in THRESHOLDS:
        wrongful = sum(abstains(r, t) for r in answerable) / len(answerable)
        recall = sum(abstains(r, t) for r in negatives) / len(negatives) if negatives else None
        cells.append(f"{wrongful:.3f} / {recall:.2f}" if recall is not None else f"{wrongful:.3f}")
    ruled = sum(bool(r["reason"]) for r in answerable)
    return (
        f"| {name} | {len(answerable)} / {len(negatives)} | {at(0):.3f} / {at(0.05):.3f} / {at(0.5):.3f} "
        f"| {ruled}/{len(answerable)} | " + " | ".join(cells) + " |"
    )


def main(argv: list[str]) -> None:
    for spec in argv:
        name, path = spec.split("=", 1)
        rows = [json.loads(x) for x in Path(path).read_text(encoding="utf-8").splitlines() if x.strip()]
        if ":" in name:
            name, split = name.split(":", 1)
            rows = [r for r in rows if r["split"] in (split, "extra")]
            name = f"{name} ({split})"
        sys.stdout.write(line(name, rows) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
