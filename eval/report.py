"""The outcome of one eval run: metrics, context and per-question rows, as JSON or Markdown."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_COUNTS = frozenset({"questions", "documents", "queries", "examples"})
BASELINE = "baseline_"  # metrics of the plain llama-index pipeline, run in the same command on the same data


def format_value(name: str, value: float) -> str:
    """Milliseconds and seconds with one decimal, counts as integers, ratios with three decimals."""
    if name.endswith("_ms") or name.endswith("_s"):
        return f"{value:.1f}"
    if name in _COUNTS:
        return str(round(value))
    return f"{value:.3f}"


def _cell(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return " ".join(str(text).split()).replace("|", "\\|")


def _has_baseline(metrics: dict[str, float]) -> bool:
    return any(name.startswith(BASELINE) for name in metrics)


def _values(metrics: dict[str, float]) -> list[str]:
    lines = ["| metric | value |", "| --- | --- |"]
    return lines + [f"| {name} | {format_value(name, value)} |" for name, value in metrics.items()]


def _comparison(metrics: dict[str, float]) -> list[str]:
    """One row per metric: ours beside the plain llama-index pipeline's (``baseline_<metric>``) where it has one."""
    lines = ["| metric | ours | plain llama-index |", "| --- | --- | --- |"]
    for name, value in metrics.items():
        if name.startswith(BASELINE):
            continue
        other = metrics.get(BASELINE + name)
        cell = "–" if other is None else format_value(name, other)
        lines.append(f"| {name} | {format_value(name, value)} | {cell} |")
    return lines


def _groups(groups: object, label: str) -> list[str]:
    """A metric × group table (per split, per kind); a baseline's value follows ours after a slash."""
    if not isinstance(groups, dict) or not groups:
        return []
    names = list(groups)
    lines = ["", f"| metric (by {label}) | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    metrics = list(dict.fromkeys(m for n in names for m in groups[n] if not m.startswith(BASELINE)))
    baseline = any(_has_baseline(groups[n]) for n in names)
    if baseline:
        lines[1:1] = [f"Per {label}: ours / plain llama-index.", ""]
    for metric in metrics:
        cells = []
        for n in names:
            ours, other = groups[n].get(metric), groups[n].get(BASELINE + metric)
            cell = "" if ours is None else format_value(metric, float(ours))
            if other is not None:
                cell += f" / {format_value(metric, float(other))}"
            cells.append(cell)
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    return lines


class EvalReport(BaseModel):
    """Metrics of one run (``metrics``), what was run (``meta``) and one row per question (``rows``)."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: Literal["eval_set", "beir", "llama", "pages"]
    metrics: dict[str, float]
    meta: dict[str, Any] = Field(default_factory=dict)
    rows: list[dict[str, Any]] = Field(default_factory=list)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    def to_markdown(self, *, max_problems: int = 50) -> str:
        lines = [f"## {self.name} ({self.kind})", ""]
        context = {k: v for k, v in self.meta.items() if not isinstance(v, dict | list)}
        if context:
            lines += [", ".join(f"{k}: {v}" for k, v in context.items()), ""]
        lines += _comparison(self.metrics) if _has_baseline(self.metrics) else _values(self.metrics)
        for group in ("split", "kind"):
            lines += _groups(self.meta.get(f"by_{group}"), group)
        by_tag = self.meta.get("by_tag")
        if isinstance(by_tag, dict) and by_tag:
            columns = sorted({c for stats in by_tag.values() for c in stats})
            lines += ["", "| tag | " + " | ".join(columns) + " |", "| --- |" + " --- |" * len(columns)]
            for tag, stats in by_tag.items():
                cells = ["" if stats.get(c) is None else format_value(c, float(stats[c])) for c in columns]
                lines.append(f"| {tag} | " + " | ".join(cells) + " |")
        problems = [row for row in self.rows if row.get("problems")]
        if problems:
            lines += ["", f"### Problems ({len(problems)} of {len(self.rows)})", "", "| id | question | problems |"]
            lines.append("| --- | --- | --- |")
            for row in problems[:max_problems]:
                lines.append(
                    f"| {_cell(row.get('id', ''))} | {_cell(row.get('question', ''))} | "
                    f"{_cell('; '.join(row['problems']))} |"
                )
            if len(problems) > max_problems:
                lines.append(f"| … | {len(problems) - max_problems} more in the JSON report | |")
        return "\n".join(lines) + "\n"
