"""The extractive answerer embeds only the sentences whose score can matter, and answers as if it embedded all.

Real MiniLM model, made-up documents. The sentences the model is asked for are counted by wrapping
``Embedder.embed`` (the question and its statement form are embedded by ``embed_query`` and not counted here).
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

HARBOUR = (
    "The Verdant Isles Harbour Board met on Tuesday in the old customs house. "
    "Members discussed the colour of the new ferry benches at some length. "
    "The board restored 14 lighthouses along the northern coast in 2019. "
    "That work was paid for by a levy on visiting yachts. "
    "A brass band played outside while the meeting went on. "
    "The chair thanked the volunteers who repainted the pier railings. "
    "Several residents asked about the noise from the fish market. "
    "The harbour master said the tides had been unusually calm this spring. "
    "Because the breakwater had cracked, the board closed the eastern quay in March 2021. "
    "Repairs are expected to take most of the summer. "
    "The next meeting will be held in the library annex. "
    "Tea and scones were served afterwards."
)
ORCHARD = (
    "Quillon Orchard Cooperative grows pears on terraced slopes above the river. "
    "Its founder, Marta Ellery, planted the first trees in 1987. "
    "The cooperative sold 3,200 crates of pears last autumn. "
    "Frost damaged some blossoms, so the harvest came late. "
    "Visitors can walk the terraces on weekends. "
    "A small shop sells jam, cider and dried fruit. "
    "The orchard's bees are kept by a neighbouring farm. "
    "Rain in August made the paths muddy."
)
QUESTIONS = [
    "How many lighthouses did the harbour board restore in 2019?",
    "When did the board close the eastern quay?",
    "Why did the board close the eastern quay?",
    "Who founded Quillon Orchard Cooperative?",
    "How many crates of pears did the cooperative sell?",
    "What was served after the harbour board meeting?",
    "What do the harbour board and the orchard cooperative each say about repairs?",
    "How many submarines did the harbour board buy?",
]


def _passages(doc_id: str, text: str, per_chunk: int = 3) -> list[Passage]:
    spans = split_sentences(text)
    passages: list[Passage] = []
    for k in range(0, len(spans), per_chunk):
        start, end = spans[k][0], spans[min(k + per_chunk, len(spans)) - 1][1]
        chunk = Chunk(id=f"{doc_id}:{k}", doc_id=doc_id, text=text[start:end], start=start, end=end, meta={})
        passages.append(Passage(chunk=chunk, score=1.0 - 0.05 * len(passages)))
    return passages


PASSAGES = _passages("harbour", HARBOUR) + _passages("orchard", ORCHARD)
SENTENCES = {passage.chunk.text[a:b] for passage in PASSAGES for a, b in split_sentences(passage.chunk.text)}


CALLS: list[list[str]] = []  # the sentences of each model call


@pytest.fixture
def counted(embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every sentence of the passages that the model is asked to embed, in order (``CALLS``: call by call)."""
    asked: list[str] = []
    embed = embedder.embed
    CALLS.clear()

    def counting(texts: list[str], *, progress: bool = False) -> np.ndarray:
        asked.extend(t for t in texts if t in SENTENCES)
        CALLS.append([t for t in texts if t in SENTENCES])
        return embed(texts, progress=progress)

    monkeypatch.setattr(embedder, "embed", counting)
    yield asked


def _answerer(embedder: Embedder, tmp_path: Path, batch: int, embed_batch: int = 0) -> ExtractiveAnswerer:
    settings = get_settings(data_dir=tmp_path)
    return ExtractiveAnswerer(settings, embedder, tuning=ExtractiveTuning(vector_batch=batch, embed_batch=embed_batch))


def _shape(answer: Answer) -> tuple[object, ...]:
    spans = tuple((c.chunk_id, c.start, c.end, c.score) for c in answer.citations)
    return answer.answer, answer.abstained, spans, answer.meta.get("best_score"), answer.meta.get("abstain_reason")


@pytest.mark.parametrize("question", QUESTIONS)
def test_same_answer_as_with_every_vector(
    question: str, embedder: Embedder, counted: list[str], tmp_path: Path
) -> None:
    every = _answerer(embedder, tmp_path, 0).answer(question, PASSAGES)
    assert sorted(counted) == sorted(SENTENCES)  # batch 0: every sentence, each once
    for batch in (1, 4):
        counted.clear()
        bounded = _answerer(embedder, tmp_path, batch).answer(question, PASSAGES)
        assert _shape(bounded) == _shape(every), batch
        assert len(counted) == len(set(counted)) <= len(SENTENCES)  # never a sentence twice


def test_a_number_question_embeds_fewer_sentences(embedder: Embedder, counted: list[str], tmp_path: Path) -> None:
    answer = _answerer(embedder, tmp_path, 4).answer(QUESTIONS[0], PASSAGES)
    assert not answer.abstained and "14 lighthouses" in answer.answer
    # sentences without a number cannot be quoted for "how many": only those with one, and their neighbours, are read
    assert "Tea and scones were served afterwards." not in counted
    assert len(counted) < len(SENTENCES) / 2, (len(counted), len(SENTENCES))


def test_kept_vectors_are_not_embedded_again(embedder: Embedder, counted: list[str], tmp_path: Path) -> None:
    answerer = _answerer(embedder, tmp_path, 4)
    first = answerer.answer(QUESTIONS[2], PASSAGES)
    before = len(counted)
    assert answerer.answer(QUESTIONS[2], PASSAGES) == first
    assert len(counted) == before


def test_sentences_are_embedded_a_few_at_a_time_longest_first(
    embedder: Embedder, counted: list[str], tmp_path: Path
) -> None:
    question = QUESTIONS[5]  # untyped: every sentence can matter, so every one is embedded
    whole = _answerer(embedder, tmp_path, 0).answer(question, PASSAGES)
    assert [len(c) for c in CALLS if c] == [len(SENTENCES)]  # one call, padded to the longest sentence
    CALLS.clear()
    assert _shape(_answerer(embedder, tmp_path, 0, embed_batch=3).answer(question, PASSAGES)) == _shape(whole)
    calls = [c for c in CALLS if c]
    assert sorted(t for c in calls for t in c) == sorted(SENTENCES)
    assert all(len(c) <= 3 for c in calls)
    lengths = [len(t) for c in calls for t in c]
    assert lengths == sorted(lengths, reverse=True)


def test_the_defaults_bound_and_batch(embedder: Embedder, counted: list[str], tmp_path: Path) -> None:
    settings = get_settings(data_dir=tmp_path)
    answer = ExtractiveAnswerer(settings, embedder).answer(QUESTIONS[1], PASSAGES)
    assert not answer.abstained and "March 2021" in answer.answer
    tuning = ExtractiveTuning()
    assert 0 < len(counted) < len(SENTENCES)
    assert all(len(c) <= tuning.embed_batch for c in CALLS)
