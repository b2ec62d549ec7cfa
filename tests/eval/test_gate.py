"""The CI quality gate: the demo eval set scored end to end on the real service."""

from __future__ import annotations

from collections.abc import Collection

import pytest

from assistant.service import Assistant
from assistant.types import Passage
from eval.commands import DEMO_SET
from eval.datasets import load_eval_set
from eval.gate import check_thresholds, load_thresholds
from eval.runner import run_eval_set


@pytest.fixture(scope="module")
def questions():  # type: ignore[no-untyped-def]
    return load_eval_set(DEMO_SET)


def test_demo_eval_meets_the_gate(demo_assistant: Assistant, questions) -> None:  # type: ignore[no-untyped-def]
    report = run_eval_set(demo_assistant, questions, top_k=5, name="demo")
    failures = check_thresholds(report.metrics, load_thresholds("demo"))
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
    failures = check_thresholds(report.metrics, load_thresholds("demo"))
    assert any(f.startswith("hit@") or f.startswith("mrr@") for f in failures), failures
