"""Periods read one way for questions and documents (``ingest.periods``), and both readers using it: the scope of
a question (``assistant.scope.periods_in``) and a document's period (``ingest.metadata.describe_document``)."""

from __future__ import annotations

import pytest

from assistant.scope import periods_in as question_periods
from ingest.metadata import describe_document
from ingest.periods import period_spans, periods_in, quarter_labels


@pytest.mark.parametrize(
    ("text", "periods"),
    [
        ("Q3 2022", [(2022, 3)]),
        ("Q2 of FY2024", [(2024, 2)]),
        ("Q3 FY23 and Q4 '22", [(2023, 3), (2022, 4)]),
        ("3Q22 versus 3Q 2021", [(2022, 3), (2021, 3)]),
        ("the second fiscal quarter of fiscal year 2023", [(2023, 2)]),
        ("Third-Quarter 2023 Results", [(2023, 3)]),
        ("the first quarter of the fiscal year 2024", [(2024, 1)]),
        ("its 2022 fourth-quarter results", [(2022, 4)]),
        ("2021 Q1 and FY2023Q1", [(2021, 1), (2023, 1)]),
        ("in the third quarter", [(None, 3)]),
        ("FY2021, fiscal 2020, FY21 and in 2019", [(2021, None), (2020, None), (2021, None), (2019, None)]),
        ("our Q2 10-Q", [(None, 2)]),  # "10" of a form is no year
        ("revenue of 2,000 units", []),
    ],
)
def test_periods_in_questions_and_documents_alike(text: str, periods: list[tuple[int | None, int | None]]) -> None:
    assert periods_in(text) == periods
    assert question_periods(text) == periods  # the scope of a question reads them the same way


def test_spans_cover_the_whole_period() -> None:
    text = "What was revenue in Q2 of FY2024?"
    ((start, end, period),) = period_spans(text)
    assert text[start:end] == "Q2 of FY2024" and period == (2024, 2)


def test_quarter_labels_count_quarters_with_a_year_only() -> None:
    counts = quarter_labels("Q3 2023 results. Third quarter of 2023. In the third quarter, in 2023, Q4 FY22.")
    assert counts == {(3, 2023): 2, (4, 2022): 1}


def test_a_document_headline_and_a_question_name_the_same_quarter() -> None:
    # a release headline written "Q2 of FY2024" (read as the fiscal year alone by the document reader before the
    # two readers were one) and a question written "2024 second-quarter" name the same quarter
    text = (
        "Northwind Widgets Reports Results for Q2 of FY2024\n"
        "SPRINGFIELD, Ill., July 26, 2024 -- Northwind Widgets Corp. today reported results.\n"
        "The Company designs and sells industrial widgets. Northwind Widgets Corp. sells widgets."
    )
    assert describe_document(text).meta["period"] == "Q2 2024"
    assert question_periods("What were sales in the 2024 second-quarter?") == [(2024, 2)]
