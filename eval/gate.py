"""The quality gate: minimum (or maximum) values per metric, kept in eval/thresholds.json."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from eval.errors import ThresholdError

THRESHOLDS_FILE = Path(__file__).with_name("thresholds.json")


def load_thresholds(name: str, path: Path = THRESHOLDS_FILE) -> dict[str, object]:
    """The thresholds of one eval (``demo``, ``scifact``, ...); empty when the file has none for it.

    Keys starting with ``_`` are comments.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ThresholdError(f"missing thresholds file {path}") from None
    except json.JSONDecodeError as exc:
        raise ThresholdError(f"{path}: not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ThresholdError(f"{path}: expected an object of evals")
    section = data.get(name, {})
    if not isinstance(section, dict):
        raise ThresholdError(f"{path}: {name!r} must map metric names to thresholds")
    return {k: v for k, v in section.items() if not k.startswith("_")}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def check_thresholds(metrics: Mapping[str, float], thresholds: Mapping[str, object]) -> list[str]:
    """Failures, one message each; an empty list means the gate passes.

    A threshold is a number (a minimum) or ``{"min": x}`` / ``{"max": y}`` / both.
    A metric that is missing, or whose threshold is not a number yet (the
    ``"TODO"`` placeholders), is a failure: an unset gate never passes silently.
    """
    failures: list[str] = []
    for name, spec in thresholds.items():
        bounds = spec if isinstance(spec, Mapping) else {"min": spec}
        unknown = set(bounds) - {"min", "max"}
        if unknown or not bounds:
            failures.append(f"{name}: threshold must be a number or {{'min': x, 'max': y}}, not {spec!r}")
            continue
        limits = {kind: _number(value) for kind, value in bounds.items()}
        unset = [kind for kind, value in limits.items() if value is None]
        if unset:
            failures.append(f"{name}: {'/'.join(unset)} threshold not set ({spec!r}); set it in eval/thresholds.json")
            continue
        if name not in metrics:
            failures.append(f"{name}: metric missing from the report")
            continue
        value = float(metrics[name])
        low, high = limits.get("min"), limits.get("max")
        if low is not None and value < low:
            failures.append(f"{name} = {value:.4f} is below the minimum {low:.4f}")
        if high is not None and value > high:
            failures.append(f"{name} = {value:.4f} is above the maximum {high:.4f}")
    return failures


def report_failures(
    name: str, metrics: Mapping[str, float], meta: Mapping[str, object], path: Path = THRESHOLDS_FILE
) -> list[str]:
    """Gate failures of a report: its metrics against section ``name``, and each split's metrics
    (``meta["by_split"]``) against section ``name.split`` when there is one (e.g. ``demo.heldout``)."""
    failures = check_thresholds(metrics, load_thresholds(name, path))
    by_split = meta.get("by_split")
    if isinstance(by_split, Mapping):
        for split, split_metrics in by_split.items():
            thresholds = load_thresholds(f"{name}.{split}", path)
            failures += [f"{split} split: {f}" for f in check_thresholds(split_metrics, thresholds)]
    return failures
