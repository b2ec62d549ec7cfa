"""The CI quality gate: the demo eval set scored end to end on the real service."""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path

import pytest

from assistant.service import Assistant
from assistant.types import Passage
from eval.commands import DEMO_SET
from eval.datasets import load_eval_set
from eval.gate import load_thresholds, report_failures
from eval.runner import run_eval_set


@pytest.fixture(scope="module")
def questions():  # type: ignore[no-untyped-def]
    return load_eval_set(DEMO_SET)


def test_demo_eval_meets_the_gate(demo_assistant: Assistant, questions) -> None:  # type: ignore[no-untyped-def]
    report = run_eval_set(demo_assistant, questions, top_k=5, name="demo")
    assert load_thresholds("demo.heldout"), "the held-out half has its own floor"
    failures = report_failures("demo", report.metrics, report.meta)
    assert failures == [], "\n".join(failures) + "\n" + report.to_markdown()


def test_a_broken_retriever_fails_the_gate(
    demo_assistant: Assistant,
    questions,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    real = demo_assistant.retriever.retrieve

    def worst_first(query: str, top_k: int, doc_ids: Collection[str] | None = None) -> list[Passage]:
        """Returns the least relevant passages of the index instead of the most relevant."""
        ranked = real(query, 50, doc_ids=doc_ids)
        return list(reversed(ranked))[:top_k]

    monkeypatch.setattr(demo_assistant.retriever, "retrieve", worst_first)
    report = run_eval_set(demo_assistant, questions, top_k=5, name="demo")
    failures = report_failures("demo", report.metrics, report.meta)
    assert any(f.startswith("hit@") or f.startswith("mrr@") for f in failures), failures
    assert any(f.startswith("heldout split: hit@") for f in failures), failures


def test_each_split_is_held_to_its_own_section(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps({"demo": {"hit@3": 0.5}, "demo.heldout": {"hit@3": 0.9}}), encoding="utf-8")
    meta = {"by_split": {"tune": {"hit@3": 0.95}, "heldout": {"hit@3": 0.85}}}
    assert report_failures("demo", {"hit@3": 0.9}, meta, path) == [
        "heldout split: hit@3 = 0.8500 is below the minimum 0.9000"
    ]
    assert report_failures("demo", {"hit@3": 0.9}, {}, path) == []  # a report without splits
    assert report_failures("demo", {"hit@3": 0.4}, meta | {"by_split": {}}, path) == [
        "hit@3 = 0.4000 is below the minimum 0.5000"
    ]
