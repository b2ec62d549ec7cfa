"""Our page-gold sets over Uber's 2021 Form 10-K, schema in eval/PAGE_SETS.md, written up in docs/uber-set.md:
eval/uber_10k.jsonl (tune/held-out halves by id hash) and eval/uber_10k_heldout2.jsonl (a second set, all held out,
written after the first set's held-out half was used to choose a weight). For each: the schema of every line, the mix
of kinds, splits and question forms, and every gold number on a gold page of the real PDF as pypdf reads it (the page
numbering the assistant cites); and the second set asks about other facts than the first."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pypdf import PdfReader

REPO = Path(__file__).resolve().parents[2]
UBER_SET = REPO / "eval" / "uber_10k.jsonl"
UBER_HELDOUT2 = REPO / "eval" / "uber_10k_heldout2.jsonl"
UBER_PDF = REPO.parent / "shared" / "datasets" / "uber_10k_2021" / "uber_2021.pdf"

needs_pdf = pytest.mark.skipif(not UBER_PDF.is_file(), reason="uber_2021.pdf is not in ../shared/datasets")

_PERIOD = re.compile(r"\b(?:19|20)\d\d\b|\bQ[1-4]\b", re.IGNORECASE)
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")


@dataclass(frozen=True)
class SetSpec:
    """What one set file must satisfy: its size, and how its questions are split."""

    path: Path
    id_prefix: str
    min_lines: int
    min_answerable: int
    split: Literal["id-hash", "heldout"]  # id-hash: tune/held-out halves by sha1(id); heldout: every line held out


FIRST = SetSpec(UBER_SET, "uber-", min_lines=48, min_answerable=40, split="id-hash")
HELDOUT2 = SetSpec(UBER_HELDOUT2, "uber2-", min_lines=30, min_answerable=24, split="heldout")
SETS = pytest.mark.parametrize("spec", [FIRST, HELDOUT2], ids=["uber_10k", "uber_10k_heldout2"])


class UberLine(BaseModel):
    """One line of eval/PAGE_SETS.md, strict: no unknown fields, answerable lines carry their gold."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: str = Field(min_length=1)
    question: str = Field(min_length=8)
    answerable: bool
    source: str
    gold_pages: tuple[int, ...]
    gold_numbers: tuple[str, ...]
    reference: str
    kind: Literal["table", "text"]
    tags: tuple[str, ...]
    split: Literal["tune", "heldout"]

    @model_validator(mode="after")
    def _gold_matches_answerability(self) -> UberLine:
        if self.answerable:
            assert self.gold_pages and self.reference.strip(), "answerable lines need gold pages and a reference"
            assert all(p >= 1 for p in self.gold_pages), "pages are 1-based"
            assert list(self.gold_pages) == sorted(set(self.gold_pages)), "gold pages sorted, no repeats"
        else:
            assert not self.gold_pages and not self.gold_numbers and self.reference == "", "unanswerable: no gold"
            assert "unanswerable" in self.tags
        return self


@cache
def _lines(path: Path) -> tuple[UberLine, ...]:
    rows = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    # strict mode: JSON arrays come in as lists, so parse the JSON first and validate in python ("lax" only there)
    return tuple(UberLine.model_validate(json.loads(row), strict=False) for row in rows)


def _squeezed(text: str) -> str:
    """Text compared without whitespace or dollar signs: pypdf glues and splits words at line ends ("$ 17,455",
    "$394million"), so a number as the page writes it is found regardless of spacing."""
    return re.sub(r"\s+", "", text).replace("$", "")


@cache
def _reader() -> PdfReader:
    return PdfReader(UBER_PDF)


@cache
def _page_text(page: int) -> str:
    """pypdf's text of the 1-based ``page`` (``reader.pages[page - 1]``), read once; the sets cite ~100 of 307 pages."""
    return _reader().pages[page - 1].extract_text() or ""


@SETS
def test_every_line_parses_and_ids_are_unique(spec: SetSpec) -> None:
    lines = _lines(spec.path)
    assert len(lines) >= spec.min_lines
    ids = [q.id for q in lines]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    assert all(i.startswith(spec.id_prefix) for i in ids)
    assert {q.source for q in lines} == {"uber_2021.pdf"}


def test_a_malformed_line_is_rejected() -> None:
    """The schema check above can fail: missing gold, unknown kind and gold on an unanswerable line are refused."""
    good = json.loads(UBER_SET.read_text(encoding="utf-8").splitlines()[0])
    assert good["answerable"]
    UberLine.model_validate(good, strict=False)
    for broken in (
        {**good, "gold_pages": []},
        {**good, "reference": ""},
        {**good, "kind": "chart"},
        {**good, "split": "test"},
        {**good, "answerable": False},
        {**good, "extra": 1},
    ):
        with pytest.raises(ValueError):
            UberLine.model_validate(broken, strict=False)


@SETS
def test_size_and_mix(spec: SetSpec) -> None:
    lines = _lines(spec.path)
    answerable = [q for q in lines if q.answerable]
    assert len(answerable) >= spec.min_answerable
    kinds = Counter(q.kind for q in answerable)
    assert abs(kinds["table"] - kinds["text"]) <= 4, kinds
    unanswerable = [q for q in lines if not q.answerable]
    assert 5 <= len(unanswerable) <= 8
    tags = Counter(t for q in lines for t in q.tags)
    for tag in ("period-named", "compare-years", "two-pages", "table-column", "lowercase", "keyword"):
        assert tags[tag] >= 2, tag
    for tag in ("how-much", "how-many", "percentage"):
        assert tags[tag] >= 5, tag


@SETS
def test_tags_describe_the_question(spec: SetSpec) -> None:
    for q in _lines(spec.path):
        if "lowercase" in q.tags:
            assert q.question == q.question.lower(), q.id
        if "period-named" in q.tags:
            assert _PERIOD.search(q.question), q.id
        if "compare-years" in q.tags:
            years = {m.group(0) for m in _YEAR.finditer(q.question)}
            assert len(years) >= 2 and len(q.gold_numbers) >= 2, q.id
        if "two-pages" in q.tags:
            assert len(q.gold_pages) >= 2, q.id
        if q.answerable:  # an answer's number is on a few pages, not all over the filing
            assert len(q.gold_pages) <= 8, q.id


@SETS
def test_splits(spec: SetSpec) -> None:
    """The first set's split is fixed by the id (sha1 hex last digit even → tune), so no question is placed by hand;
    the second set is held out as a whole. Either way each held-out group holds both kinds and unanswerable lines."""
    lines = _lines(spec.path)
    if spec.split == "id-hash":
        for q in lines:
            expected = "tune" if int(hashlib.sha1(q.id.encode()).hexdigest()[-1], 16) % 2 == 0 else "heldout"
            assert q.split == expected, q.id
        splits = Counter(q.split for q in lines)
        assert set(splits) == {"tune", "heldout"}
        assert abs(splits["tune"] - splits["heldout"]) <= len(lines) // 5, splits
    else:
        assert {q.split for q in lines} == {"heldout"}
    for split in {q.split for q in lines}:
        group = [q for q in lines if q.split == split]
        assert {q.kind for q in group if q.answerable} == {"table", "text"}
        assert any(not q.answerable for q in group)


def test_the_second_set_asks_about_other_facts() -> None:
    """No question of the second set repeats one of the first, and none has a gold number of the first on a shared
    gold page (the same fact asked in other words)."""
    first = _lines(UBER_SET)
    questions = {q.question.lower() for q in first}
    for new in _lines(UBER_HELDOUT2):
        assert new.question.lower() not in questions, new.id
        for old in first:
            same_number = set(new.gold_numbers) & set(old.gold_numbers)
            assert not (same_number and set(new.gold_pages) & set(old.gold_pages)), (new.id, old.id, same_number)


@needs_pdf
@SETS
def test_every_gold_number_is_on_one_of_its_gold_pages(spec: SetSpec) -> None:
    assert len(_reader().pages) == 307
    for q in _lines(spec.path):
        assert all(p <= 307 for p in q.gold_pages), q.id
        texts = [_squeezed(_page_text(p)) for p in q.gold_pages]
        for number in q.gold_numbers:
            assert any(_squeezed(number) in t for t in texts), f"{q.id}: {number!r} on none of pages {q.gold_pages}"


@needs_pdf
def test_the_number_check_would_catch_a_wrong_page() -> None:
    """Guard for the check above: the revenue figure is on the income statement, not on the cover page."""
    revenue = next(q for q in _lines(UBER_SET) if q.id == "uber-revenue-2021")
    assert "17,455" in revenue.gold_numbers and 77 in revenue.gold_pages
    assert "17,455" in _squeezed(_page_text(77)) and "17,455" not in _squeezed(_page_text(1))
