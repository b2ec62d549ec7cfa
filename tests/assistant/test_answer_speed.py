"""eval.bench_answer on the demo corpus: kept sentence vectors answer as the old path does; CPU time is measured."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from assistant.extractive import ExtractiveAnswerer
from assistant.service import Assistant
from eval.bench_answer import Path_, fill_asked, measure
from index.sentence_vectors import SentenceVectors, store_path

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"
QUESTIONS = ["What replaced the Diffusion Rule?", "Who won the 2022 FIFA World Cup?", "When was the guidance issued?"]


def test_kept_vectors_answer_like_the_old_path(make_assistant: Callable[..., Assistant], tmp_path: Path) -> None:
    assistant = make_assistant()
    assistant.ingest([DEMO])
    store = SentenceVectors(store_path(tmp_path / "kept"))
    assert fill_asked(assistant, store, QUESTIONS) > 0
    assert fill_asked(assistant, store, QUESTIONS) == 0  # kept already
    kept = ExtractiveAnswerer(assistant.settings, assistant.embedder, corpus=assistant, sentence_vectors=store)
    embedded = ExtractiveAnswerer(assistant.settings, assistant.embedder, corpus=assistant)
    result = measure(assistant, {"kept": Path_(kept, 1), "embedded": Path_(embedded, 1)}, QUESTIONS, warmup=1)
    assert result["questions"] == 3 and result["same_answers"] == 3
    for name in ("kept", "embedded"):
        assert len(result[name]["cpu_ms_per_ask"]) == 3 and all(c > 0 for c in result[name]["cpu_ms_per_ask"])
    # how much less the kept path costs is the benchmark's to say (make bench-answer), not a test's
    store.close()
