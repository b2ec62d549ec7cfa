"""The outcome of one eval run: metrics, context and per-question rows, as JSON or Markdown."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_COUNTS = frozenset({"questions", "documents", "queries", "examples"})


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


class EvalReport(BaseModel):
    """Metrics of one run (``metrics``), what was run (``meta``) and one row per question (``rows``)."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: Literal["eval_set", "beir", "llama"]
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
        lines += ["| metric | value |", "| --- | --- |"]
        lines += [f"| {name} | {format_value(name, value)} |" for name, value in self.metrics.items()]
        by_split = self.meta.get("by_split")
        if isinstance(by_split, dict) and by_split:
            names = list(by_split)
            lines += ["", "| metric (by split) | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
            for metric in by_split[names[0]]:
                cells = [
                    format_value(metric, float(by_split[n][metric])) if metric in by_split[n] else "" for n in names
                ]
                lines.append(f"| {metric} | " + " | ".join(cells) + " |")
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
