"""Quotes from the text of PDF pages: a sentence the reader glued to the next one ("... $85 million.The table
...") is quoted alone, and "what did X pay for Y" asks for a sum (real MiniLM model, made-up text)."""

from __future__ import annotations

from assistant.answer_types import AnswerType, expected_type
from assistant.extractive import ExtractiveAnswerer, _segments
from assistant.types import Chunk, Passage

# a page as a PDF reader returns it: the spaces after two sentence stops are lost
PAGE = (
    "Harbour Bridge Renewal\n"
    "The council approved the renewal of the harbour bridge in 2022 after a two-year review.The renewal was paid "
    "for with a bond issue of $85 million.The table below lists the contractors by phase (in thousands) : Phase"
)


def _passage(text: str, *, page: int | None) -> Passage:
    meta: dict[str, object] = {"title": "Annual Report", "source": "/docs/city.pdf"}
    if page is not None:
        meta["page"] = page
    chunk = Chunk(id="city:0000", doc_id="city", text=text, start=0, end=len(text), meta=meta)
    return Passage(chunk=chunk, score=1.0)


def test_a_page_sentence_glued_to_the_next_is_cut_at_its_stop() -> None:
    chunk = _passage(PAGE, page=7).chunk
    sentences = [chunk.text[a:b] for a, b in _segments(chunk)]
    assert "The renewal was paid for with a bond issue of $85 million." in sentences
    assert sentences[-1].startswith("The table below lists")


def test_text_not_from_a_page_is_not_cut() -> None:
    """Help pages write formulas such as "thisRow.Name": only a page's text (``meta["page"]``) is cut."""
    text = "Use thisRow.Name in the formula to read the cell.Then press Enter."
    chunk = _passage(text, page=None).chunk
    assert [chunk.text[a:b] for a, b in _segments(chunk)] == [text]


def test_the_glued_sentence_with_the_figure_is_quoted_alone(answerer: ExtractiveAnswerer) -> None:
    """Glued, the figure's sentence ran on into a table caption without a final stop and was quoted with its
    neighbours, as a heading; cut, it is quoted whole and alone."""
    answer = answerer.answer("How much did the council pay for the harbour bridge renewal?", [_passage(PAGE, page=7)])
    assert not answer.abstained, answer.meta.get("abstain_reason")
    assert answer.citations[0].quote == "The renewal was paid for with a bond issue of $85 million."


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
    passage = _passage(text, page=None)
    answer = answerer.answer("What did the museum pay for the medieval tapestry?", [passage])
    assert not answer.abstained, answer.meta.get("abstain_reason")
    assert "$3.1 million" in answer.citations[0].quote
