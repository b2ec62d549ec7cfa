"""The extractive answerer's model calls: sentences batched to pad least, with the answers of fixed batches.

Real MiniLM model, made-up passages: one long sentence among short ones, where a fixed batch pads every short
sentence to the long one. The calls are recorded by wrapping ``Embedder.embed``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from assistant.config import get_settings
from assistant.extractive import ExtractiveAnswerer, ExtractiveTuning
from assistant.types import Answer, Chunk, Passage
from index.embeddings import Embedder
from ingest.chunking import split_sentences

TEXT = (
    "The Lantern Street tram depot opened in 1911. "
    "Trams ran every ten minutes. "
    "In 1958 the depot's owners, after a long and bitterly fought dispute with the city council over the cost of "
    "replacing the worn overhead wires, the rising price of electricity and the falling number of passengers on "
    "the evening routes, closed the depot and sold the last eleven trams to a museum in the hills. "
    "Buses replaced them. "
    "The depot became a market. "
    "Fruit is sold there now. "
    "The roof leaks. "
    "Pigeons nest above the gate."
)
QUESTIONS = [
    "What happened to the tram depot in 1958?",
    "When did the Lantern Street tram depot open?",
    "What is sold at the old depot?",
]


def _passages() -> list[Passage]:
    spans = split_sentences(TEXT)
    passages: list[Passage] = []
    for k in range(0, len(spans), 4):
        start, end = spans[k][0], spans[min(k + 4, len(spans)) - 1][1]
        chunk = Chunk(id=f"depot:{k}", doc_id="depot", text=TEXT[start:end], start=start, end=end, meta={})
        passages.append(Passage(chunk=chunk, score=1.0 - 0.1 * len(passages)))
    return passages


@pytest.fixture
def calls(embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """The texts of each call to the model (the question's own vectors included)."""
    made: list[list[str]] = []
    embed = embedder.embed

    def recording(texts: list[str], *, progress: bool = False) -> np.ndarray:
        made.append(list(texts))
        return embed(texts, progress=progress)

    monkeypatch.setattr(embedder, "embed", recording)
    embedder.forget_queries()
    yield made
    embedder.forget_queries()


def _answer(embedder: Embedder, tmp_path: Path, question: str, call_cost: int) -> Answer:
    settings = get_settings(data_dir=tmp_path)
    tuning = ExtractiveTuning(vector_batch=0, call_cost=call_cost)  # every sentence embedded
    return ExtractiveAnswerer(settings, embedder, tuning=tuning).answer(question, _passages())


def _shape(answer: Answer) -> tuple[object, ...]:
    spans = tuple((c.chunk_id, c.start, c.end, c.score) for c in answer.citations)
    return answer.answer, answer.abstained, spans, answer.meta.get("best_score"), answer.meta.get("abstain_reason")


def _padded(embedder: Embedder, calls: list[list[str]]) -> int:
    """Word pieces the model runs over: each call pads its texts to its longest."""
    return sum(len(c) * max(embedder.count_tokens_batch(c)) for c in calls if c)


@pytest.mark.parametrize("question", QUESTIONS)
def test_least_padding_gives_the_answers_of_fixed_batches(
    question: str, embedder: Embedder, calls: list[list[str]], tmp_path: Path
) -> None:
    fixed = _answer(embedder, tmp_path, question, call_cost=0)
    fixed_calls = [c for c in calls if all(t in TEXT for t in c)]  # not the question's own vectors
    calls.clear()
    cut = _answer(embedder, tmp_path, question, call_cost=ExtractiveTuning().call_cost)
    cut_calls = [c for c in calls if all(t in TEXT for t in c)]
    assert _shape(cut) == _shape(fixed)
    assert sorted(t for c in cut_calls for t in c) == sorted(t for c in fixed_calls for t in c)  # each once
    tuning = ExtractiveTuning()
    assert all(len(c) <= tuning.embed_batch for c in cut_calls)
    # the long sentence is embedded alone: fixed batches pad three short sentences to it
    long = max((t for c in cut_calls for t in c), key=len)
    assert [long] in cut_calls and [long] not in fixed_calls
    assert _padded(embedder, cut_calls) < _padded(embedder, fixed_calls)


def test_a_single_sentence_is_one_call(embedder: Embedder, calls: list[list[str]], tmp_path: Path) -> None:
    settings = get_settings(data_dir=tmp_path)
    answerer = ExtractiveAnswerer(settings, embedder)
    sentence = "Pigeons nest above the gate."
    calls.clear()
    vector = answerer._model([sentence])
    assert calls == [[sentence]]
    assert np.array_equal(vector[0], embedder.embed([sentence])[0])
