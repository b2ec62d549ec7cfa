"""The PDF extraction cache: a second read of the same bytes reuses what the parsers extracted, and gives the
same document; a damaged entry is read again and
written anew."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest import loaders
from ingest.loaders import read_document, set_pdf_cache
from tests.pdfs import lines_pdf

_TABLE = [
    "Revenue by segment (in millions)",
    "Segment 2021 2020 2019",
    "Mobility 6,953 6,089 10,622",
    "Delivery 8,362 3,904 1,401",
    "Freight 2,132 1,011 731",
    "Total 17,455 11,139 13,000",
]


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "cache"
    set_pdf_cache(folder)
    yield folder
    set_pdf_cache(None)


def test_second_read_reuses_the_extraction(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pdf = lines_pdf(tmp_path / "report.pdf", [["Annual report of the example company."], _TABLE])
    first = read_document(pdf)
    assert len(list(cache.glob("*.json"))) == 1

    def no_parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the tables were extracted again")

    monkeypatch.setattr(loaders, "_page_tables", no_parse)
    second = read_document(pdf)
    assert second == first


def test_a_damaged_entry_is_read_again(tmp_path: Path, cache: Path) -> None:
    pdf = lines_pdf(tmp_path / "report.pdf", [["Annual report of the example company."], _TABLE])
    first = read_document(pdf)
    (entry,) = cache.glob("*.json")
    entry.write_text("{not json", encoding="utf-8")
    assert read_document(pdf) == first
    assert entry.read_text(encoding="utf-8").startswith('{"raw"')  # and written anew


def test_off_by_default(tmp_path: Path) -> None:
    pdf = lines_pdf(tmp_path / "report.pdf", [["Annual report of the example company."]])
    read_document(pdf)
    assert loaders._pdf_cache_dir is None
