"""Periods as texts write them — quarters and (fiscal) years — read one way for questions and documents alike.

``period_spans`` finds "Q3 2022", "Q2 of FY2024", "Q3 FY23", "3Q22", "third quarter of fiscal 2023", "2022
fourth-quarter", "2021 Q1", a quarter without a year ("Q3", "the third quarter") and a year ("FY2021", "fiscal
2021", "in 2022", "FY21"). ``assistant.scope`` reads the periods a question names with it, ``ingest.metadata`` the
quarter a document's headline or running lines name (``quarter_labels``) and its fiscal-year labels
(``FY_LABEL``).
"""

from __future__ import annotations

import re
from collections import Counter

__all__ = ["FY_LABEL", "ORDINAL", "Period", "period_spans", "periods_in", "quarter_labels", "year_of"]

Period = tuple[int | None, int | None]  # (year, quarter); a year alone is a fiscal or calendar year
ORDINAL = {"first": 1, "second": 2, "third": 3, "fourth": 4, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4}
_Y4 = r"((?:19|20)\d{2})"
_ORDINALS = r"(first|second|third|fourth|1st|2nd|3rd|4th)"
# quarters with a year, quarter first; group 1 the quarter, group 2 the year (two or four digits)
_QUARTERS = (
    # "Q3 2022", "Q2 of FY2024", "Q22023", "Q2'2023", "q3 fiscal 2021"; "Q3 FY23", "Q3 '23" (two digits only after
    # FY or an apostrophe: "Q2 10-Q" is no year)
    re.compile(rf"\bq([1-4])\s*(?:of\s+)?(?:(?:fy|fiscal(?:\s+year)?)\s*'?|')?\s*{_Y4}\b", re.IGNORECASE),
    re.compile(r"\bq([1-4])\s*(?:of\s+)?(?:fy\s*'?|fiscal\s*'?|')(\d{2})\b", re.IGNORECASE),
    # "3Q22", "3Q 2022", "3Q FY23"
    re.compile(r"\b([1-4])q\s*(?:fy|fiscal\s*)?'?((?:19|20)\d{2}|\d{2})\b", re.IGNORECASE),
    # "third quarter of 2023", "second fiscal quarter of fiscal year 2023", "fourth-quarter 2022", "first quarter of
    # the fiscal year 2024"
    re.compile(
        rf"\b{_ORDINALS}[\s-]+(?:fiscal\s+)?quarter\s+(?:of\s+)?(?:the\s+)?(?:fiscal\s+)?(?:year\s+)?(?:fy\s*)?{_Y4}\b",
        re.IGNORECASE,
    ),
)
# quarters with a year, year first; group 1 the year, group 2 the quarter: "2021 Q1", "FY2023Q1", "2022 fourth-quarter"
_YEAR_FIRST = (
    re.compile(rf"\b(?:fy\s*)?{_Y4}\s*q([1-4])\b", re.IGNORECASE),
    re.compile(rf"\b{_Y4}\s+(?:fiscal\s+)?(first|second|third|fourth)[\s-]+quarter\b", re.IGNORECASE),
)
_BARE_QUARTER = re.compile(r"\bq([1-4])\b|\b(first|second|third|fourth)\s+(?:fiscal\s+)?quarter\b", re.IGNORECASE)
_YEAR = re.compile(rf"\b(?:fy\s*'?|fiscal\s+(?:year\s+)?)?{_Y4}\b|\bfy\s*'?(\d{{2}})\b", re.IGNORECASE)
# a fiscal year as a label: "FY2022", "FY '23", "fiscal year 2021", "fiscal 2021"
FY_LABEL = re.compile(r"\b(?:FY\s*'?|fiscal\s+(?:year\s+)?)((?:19|20)\d\d|\d\d)\b", re.IGNORECASE)


def year_of(two_or_four: str) -> int:
    """A year written with two or four digits ("23" -> 2023)."""
    year = int(two_or_four)
    return year if year >= 100 else 2000 + year


def _quarter(word: str) -> int:
    return ORDINAL.get(word.lower()) or int(word)


def period_spans(text: str) -> list[tuple[int, int, Period]]:
    """The periods ``text`` names, in order, with where it names them: quarters as (year, quarter), a quarter
    without a year as (None, quarter), a year as (year, None). Where two readings overlap, the longer kind wins
    (a quarter with its year over a bare quarter or a bare year)."""
    found: list[tuple[int, int, Period]] = []

    def free(m: re.Match[str]) -> bool:
        return all(m.end() <= a or m.start() >= b for a, b, _ in found)

    for pattern in _QUARTERS:
        for m in pattern.finditer(text):
            if free(m):
                found.append((*m.span(), (year_of(m.group(2)), _quarter(m.group(1)))))
    for pattern in _YEAR_FIRST:
        for m in pattern.finditer(text):
            if free(m):
                found.append((*m.span(), (year_of(m.group(1)), _quarter(m.group(2)))))
    for m in _BARE_QUARTER.finditer(text):
        if free(m):
            found.append((*m.span(), (None, _quarter(m.group(1) or m.group(2)))))
    for m in _YEAR.finditer(text):
        if free(m):
            found.append((*m.span(), (year_of(m.group(1) or m.group(2)), None)))
    return sorted(found)


def periods_in(text: str) -> list[Period]:
    """The periods ``text`` names, in order (see ``period_spans``)."""
    return [p for _, _, p in period_spans(text)]


def quarter_labels(text: str) -> Counter[tuple[int, int]]:
    """How often each (quarter, year) is named in ``text`` (quarters with a year only)."""
    return Counter((q, y) for _, _, (y, q) in period_spans(text) if y is not None and q is not None)
