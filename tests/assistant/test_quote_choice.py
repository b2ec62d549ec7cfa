"""Which sentence gets quoted when documents of several periods answer alike: the one of the document the question
prefers (of the year it names), unless another document's sentence is clearly better (real MiniLM model, made-up
filings)."""

from __future__ import annotations

import pytest

from assistant.config import get_settings
from assistant.extractive import ExtractiveAnswerer, ExtractiveTuning
from assistant.types import Passage
from index.embeddings import Embedder
from tests.assistant.filings import filing_passages
from tests.assistant.test_abstention import _filing

QUESTION = "What were Northwind's total merchandise inventories at the end of FY2023?"
# the later annual report says it with more of the question's words; the FY2023 report says it a little less well
LATER = "Merchandise inventories at the end of the fiscal year were $5,204 million.\nThe board met four times."
EARLIER = "Merchandise inventories came to $5,870 million at the close of the year.\nThe board met five times."


def _passages(*, preferred: bool = True) -> list[Passage]:
    later = _filing("nw-2024", LATER, context="Northwind Traders Inc. · Form 10-K · FY2024")
    earlier = _filing("nw-2023", EARLIER, context="Northwind Traders Inc. · Form 10-K · FY2023")
    if preferred:
        earlier = [p.model_copy(update={"meta": {**p.meta, "preferred": True}}) for p in earlier]
    return [*later, *earlier]


def test_the_preferred_documents_sentence_is_quoted(answerer: ExtractiveAnswerer) -> None:
    answer = answerer.answer(QUESTION, _passages())
    assert not answer.abstained, answer.meta.get("abstain_reason")
    assert answer.citations[0].doc_id == "nw-2023" and "$5,870 million" in answer.citations[0].quote


def test_without_a_preference_the_better_sentence_wins(answerer: ExtractiveAnswerer) -> None:
    """The same passages unmarked (no year named, or one document only): similarity decides, as before."""
    answer = answerer.answer(QUESTION, _passages(preferred=False))
    assert answer.citations[0].doc_id == "nw-2024"


def test_the_preference_is_a_measured_weight_that_can_be_turned_off(
    embedder: Embedder, tmp_path_factory: pytest.TempPathFactory
) -> None:
    off = ExtractiveAnswerer(
        get_settings(data_dir=tmp_path_factory.mktemp("unused")), embedder, tuning=ExtractiveTuning(other_document=1.0)
    )
    assert off.answer(QUESTION, _passages()).citations[0].doc_id == "nw-2024"
    assert ExtractiveTuning().other_document < 1.0


def test_a_row_of_other_years_gives_way_to_the_row_of_the_asked_year(answerer: ExtractiveAnswerer) -> None:
    """A goodwill roll-forward: the opening balance row says "December 31" as the question does, but of the year
    before; the closing row names the asked year in other words (without the discount the opening row wins)."""
    text = (
        "Goodwill by segment.\n"
        "Balance as of December 31, 2022 — Retail: $310; Wholesale: $95; Total Goodwill: $405\n"
        "Acquisitions — Retail: $42; Wholesale: $—; Total Goodwill: $42\n"
        "Balance at year end 2023 — Retail: $352; Wholesale: $95; Total Goodwill: $447"
    )
    answer = answerer.answer("goodwill balance december 31 2023", _filing("nw", text, context="Northwind Inc. · 10-K"))
    assert not answer.abstained, answer.meta.get("abstain_reason")
    assert answer.citations[0].quote.startswith("Balance at year end 2023")


def test_rows_are_not_discounted_when_the_question_names_no_year(answerer: ExtractiveAnswerer) -> None:
    rows = "Revenue — 2022: $1,210; 2023: $1,340\nThe company sells garden tools."
    answer = answerer.answer("What was Northwind's revenue?", _filing("nw", rows, context="Northwind Inc. · 10-K"))
    assert answer.citations and answer.citations[0].quote.startswith("Revenue")


# a note whose prose talks about the question's topic without its figure, and a table of the figures by fleet
FUEL = (
    "Fuel Costs. "
    "Hedging gains on the renewed fuel contracts for the long-haul trucks were not material in 2022 and 2023. "
    "The following table summarizes fuel expense by fleet (in millions):\n"
    "Coastal barges — Year Ended December 31, 2022: 38; 2023: 44\n"
    "Long-haul trucks — Year Ended December 31, 2022: 262; 2023: 291\n"
    "Regional vans — Year Ended December 31, 2022: 97; 2023: 103\n"
    "We expect fuel expense to grow as we add routes."
)
FUEL_QUESTION = "How much fuel expense was recorded for the long-haul trucks in 2023?"


def _fuel() -> list[Passage]:
    header = "Northwind Freight Inc. · Form 10-K · FY2023 · Notes to Financial Statements"
    return filing_passages("nw", FUEL, sentences=2, context=header, meta={"period_end": "2023-12-31"})


def _rows_preferred(
    embedder: Embedder, tmp_path_factory: pytest.TempPathFactory, **settings: object
) -> ExtractiveAnswerer:
    """An answerer with the row preference at the weight it was measured at (it is off by default)."""
    return ExtractiveAnswerer(
        get_settings(data_dir=tmp_path_factory.mktemp("unused"), **settings),
        embedder,
        tuning=ExtractiveTuning(row_label=0.2),
    )


def test_the_row_the_question_names_is_quoted_with_its_figure(
    embedder: Embedder, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A quantity question naming a row's label and a year of its columns: the row is quoted, whole, so the figure
    is in the quote (without the preference the prose sentence about the topic wins: it states no such figure)."""
    answer = _rows_preferred(embedder, tmp_path_factory).answer(FUEL_QUESTION, _fuel())
    assert not answer.abstained, answer.meta.get("abstain_reason")
    assert answer.citations[0].quote.startswith("Long-haul trucks — ")
    assert "2023: 291" in answer.citations[0].quote


def test_the_row_preference_is_off_by_default(answerer: ExtractiveAnswerer) -> None:
    """Measured on a second held-out set it gained nothing (docs/numbers.md): by default the prose sentence wins."""
    assert ExtractiveTuning().row_label == 0.0
    assert answerer.answer(FUEL_QUESTION, _fuel()).citations[0].quote.startswith("Hedging gains")


def test_no_row_is_preferred_for_a_question_that_asks_for_no_quantity(
    answerer: ExtractiveAnswerer, embedder: Embedder, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A question asking why gets no row preference: it asks for a reason, not a quantity."""
    question = "Why was fuel expense for the long-haul trucks higher in 2023?"
    on = _rows_preferred(embedder, tmp_path_factory, abstain_threshold=0.0).answer(question, _fuel())
    settings = get_settings(data_dir=tmp_path_factory.mktemp("unused"), abstain_threshold=0.0)
    off = ExtractiveAnswerer(settings, embedder, tuning=ExtractiveTuning(row_label=0.0)).answer(question, _fuel())
    assert [c.quote for c in on.citations] == [c.quote for c in off.citations]
