"""Questions about what was paid: "what did X pay for Y" asks for a sum (real MiniLM model, made-up text)."""

from __future__ import annotations

from assistant.answer_types import AnswerType, expected_type
from assistant.extractive import ExtractiveAnswerer
from assistant.types import Chunk, Passage


def _passage(text: str) -> Passage:
    meta: dict[str, object] = {"title": "Annual Report", "source": "/docs/museum.txt"}
    chunk = Chunk(id="museum:0000", doc_id="museum", text=text, start=0, end=len(text), meta=meta)
    return Passage(chunk=chunk, score=1.0)


def test_what_did_someone_pay_asks_for_a_sum() -> None:
    assert expected_type("What did the museum pay for the tapestry?") == AnswerType.MONEY
    assert expected_type("What will the new wing cost?") == AnswerType.MONEY
    assert expected_type("What did the museum buy at the auction?") is None  # a thing bought, not a sum


def test_the_sentence_with_the_sum_answers_what_was_paid(answerer: ExtractiveAnswerer) -> None:
    """Untyped, the sentence that repeats the question's words without a sum is quoted."""
    text = (
        "The museum acquired the medieval tapestry for its textile gallery after a long campaign. "
        "The purchase price of the tapestry was $3.1 million. "
        "The gallery reopens in the spring."
    )
    passage = _passage(text)
    answer = answerer.answer("What did the museum pay for the medieval tapestry?", [passage])
    assert not answer.abstained, answer.meta.get("abstain_reason")
    assert "$3.1 million" in answer.citations[0].quote
