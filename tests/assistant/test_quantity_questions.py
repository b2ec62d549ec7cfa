"""Quantity questions with a period before the noun asked about and instructions after the question: "the year end
number of ..." asks for a number, and the instructions' words do not choose the quote (real MiniLM model, made-up
text)."""

from __future__ import annotations

import pytest

from assistant.answer_types import AnswerType, expected_type
from assistant.config import get_settings
from assistant.extractive import ExtractiveAnswerer, ExtractiveTuning
from index.embeddings import Embedder
from tests.assistant.test_abstention import _filing


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What was the year end number of depots run by the co-op?", AnswerType.NUMBER),
        ("What is the month ending count of open tickets?", AnswerType.NUMBER),
        ("Which year ended with a loss?", AnswerType.DATE),  # "ended" is the verb here
        ("What year did the depot open?", AnswerType.DATE),
    ],
)
def test_a_time_noun_before_end_names_a_period(question: str, expected: AnswerType) -> None:
    assert expected_type(question) == expected


QUESTION = (
    "How many depots did the Tarnwick co-op run in 2023? "
    "Write the count in digits; the membership ledger and the auditors' notes are the sources to weigh."
)
TEXT = (
    "At the close of 2023 the co-op had 58 depots. "
    "The auditors' notes weigh 3 sources against the membership ledger. "
    "Members elect the board every spring."
)


def test_instructions_after_the_question_do_not_choose_the_quote(answerer: ExtractiveAnswerer) -> None:
    answer = answerer.answer(QUESTION, _filing("tarnwick", TEXT, context="Tarnwick Co-op · Yearbook 2023"))
    assert not answer.abstained, answer.meta.get("abstain_reason")
    assert "58 depots" in answer.citations[0].quote


def test_counting_the_instructions_words_quotes_the_sentence_that_repeats_them(
    embedder: Embedder, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The weight is what decides: at 1.0 (every term counted) the sentence about the ledger wins."""
    counted = ExtractiveAnswerer(
        get_settings(data_dir=tmp_path_factory.mktemp("unused")), embedder, tuning=ExtractiveTuning(after_question=1.0)
    )
    answer = counted.answer(QUESTION, _filing("tarnwick", TEXT, context="Tarnwick Co-op · Yearbook 2023"))
    assert "membership ledger" in answer.citations[0].quote
    assert ExtractiveTuning().after_question < 1.0
