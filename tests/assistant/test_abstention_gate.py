"""The score the abstention threshold compares: period codes no passage writes ("FY24") and the words of an
instruction beside the asking sentence ("... then please state that and explain why") weigh nothing there, while
the quotes are chosen as before (real MiniLM model, made-up filing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import get_settings
from assistant.extractive import ExtractiveAnswerer, ExtractiveTuning
from assistant.types import Passage
from index.embeddings import Embedder
from tests.assistant.filings import filing_passages

TEXT = (
    "Segment Performance. "
    "In our domestic segment, appliances revenue grew 9 percent in the second quarter of 2024. "
    "The Company's international segment revenue declined 3 percent because of weaker demand for televisions. "
    "Our domestic comparable sales were flat overall."
)
HEADER = "Varnholt Appliances Inc. · Form 10-Q · Q2 2024 · Management's Discussion and Analysis"
OLD = ExtractiveTuning(gate_periods=False, gate_instructions=True)  # the threshold saw the quotes' own score


def _passages() -> list[Passage]:
    return filing_passages("v", TEXT, sentences=2, context=HEADER)


def _answerer(
    embedder: Embedder, tmp: Path, threshold: float, tuning: ExtractiveTuning | None = None
) -> ExtractiveAnswerer:
    settings = get_settings(data_dir=tmp, abstain_threshold=threshold)
    return ExtractiveAnswerer(settings, embedder, tuning=tuning)


@pytest.mark.parametrize(
    "question",
    [
        # "FY24" is in no passage: the header's "Q2 2024" names its year
        "How much did appliances revenue of Varnholt grow in the domestic segment in FY24?",
        # an instruction after the question that asks
        "What drove the decline in Varnholt's international segment revenue? If segment revenue is not a useful "
        "measure for a company like this, then please state that and explain why.",
    ],
)
def test_the_threshold_sees_past_period_codes_and_instructions(
    embedder: Embedder, tmp_path: Path, question: str
) -> None:
    old = _answerer(embedder, tmp_path, 0.0, OLD).answer(question, _passages())
    new = _answerer(embedder, tmp_path, 0.0).answer(question, _passages())
    assert new.meta["best_score"] > old.meta["best_score"] + 0.01
    assert [c.quote for c in new.citations] == [c.quote for c in old.citations]  # the same quotes
    # a threshold between the two: the old score abstained, the gate answers
    between = (new.meta["best_score"] + old.meta["best_score"]) / 2
    assert _answerer(embedder, tmp_path, between, OLD).answer(question, _passages()).abstained
    assert not _answerer(embedder, tmp_path, between).answer(question, _passages()).abstained


def test_a_question_without_codes_or_instructions_has_the_same_score(embedder: Embedder, tmp_path: Path) -> None:
    question = "How much did appliances revenue of Varnholt grow in the domestic segment in 2024?"
    old = _answerer(embedder, tmp_path, 0.0, OLD).answer(question, _passages())
    new = _answerer(embedder, tmp_path, 0.0).answer(question, _passages())
    assert new.meta["best_score"] == old.meta["best_score"]


# an annual report of one fiscal year: its rows give that year and the year before; a note names a later year only
# as the name of a debt
ANNUAL = (
    "Results of Operations. "
    "Total revenue grew 11 percent as more customers renewed their subscriptions.\n"
    "Total revenue — Year Ended December 31, 2022: $1,210; 2023: $1,340\n"
    "Cost of revenue — Year Ended December 31, 2022: $530; 2023: $566\n"
    "Our 2026 Notes bear interest at 4 percent and mature in June."
)
ANNUAL_HEADER = "Northwind Traders Inc. · Form 10-K · FY2023 · Management's Discussion and Analysis"


def _annual() -> list[Passage]:
    return filing_passages("nw", ANNUAL, sentences=2, context=ANNUAL_HEADER, meta={"period_end": "2023-12-31"})


def test_a_period_the_passages_state_nothing_of_lowers_the_gate(embedder: Embedder, tmp_path: Path) -> None:
    """A quarter of a later year: the passages state figures of other years only (and name that year only as the
    name of the notes), so the score the threshold compares drops below the threshold; without the check it
    answered from the row of other years."""
    question = "What was Northwind's total revenue in the first quarter of 2026?"
    off = ExtractiveTuning(other_period_gate=1.0)
    assert not _answerer(embedder, tmp_path, 0.32, off).answer(question, _annual()).abstained
    answer = _answerer(embedder, tmp_path, 0.32).answer(question, _annual())
    assert answer.abstained and answer.meta["abstain_reason"] == "below threshold"


def test_the_asked_period_keeps_its_score_and_quotes(embedder: Embedder, tmp_path: Path) -> None:
    """The year the report is labelled with, and the year before that its rows state: same score, same quotes."""
    off = ExtractiveTuning(other_period_gate=1.0)
    for question in ("What was Northwind's total revenue in 2023?", "What was Northwind's total revenue in FY2022?"):
        old = _answerer(embedder, tmp_path, 0.0, off).answer(question, _annual())
        new = _answerer(embedder, tmp_path, 0.32).answer(question, _annual())
        assert not new.abstained and new.meta["best_score"] == old.meta["best_score"]
        assert [c.quote for c in new.citations] == [c.quote for c in old.citations]
