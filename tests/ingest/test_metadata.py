"""Document metadata at ingest: title, entity, form, period and date from made-up cover pages, running lines,
press releases, news articles and Markdown files (``ingest.metadata.describe_document``, via ``read_document``)."""

from __future__ import annotations

from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from assistant.types import Page
from ingest.loaders import read_document
from ingest.metadata import describe_document

BODY = (
    "The Company designs and sells industrial widgets to distributors in North America and Europe. "
    "Northwind Widgets Corp. reported higher sales of precision widgets during the period."
)


def _ten_q(period_line: str, columns: str) -> str:
    """A 10-Q cover page as pypdf extracts one (capitals, a word broken across lines), then statements."""
    return "\n".join(
        [
            "UNITED STATES",
            "SECURITIES AND EXCHANGE COMMISSION",
            "Washington, D.C. 20549",
            "FORM 10-Q",
            "☒ QUARTERLY REPORT PURSUANT TO SECTION 13 OR 15(d) OF THE SECURITIES EXCHANGE ACT OF 1934",
            period_line,
            "OR",
            "☐ TRANSITION REPORT PURSUANT TO SECTION 13 OR 15(d) OF THE SECURITIES EXCHANGE ACT OF 1934",
            "Commission File Number 001-99999",
            "NORTHWIND WIDGETS CORP.",
            "(Exact name of registrant as specif",
            "ied in its charter)",
            "Delaware 12-3456789",
            "",
            "CONDENSED CONSOLIDATED STATEMENTS OF OPERATIONS",
            columns,
            "Net sales $ 1,204 $ 1,150 $ 3,610 $ 3,388",
            "",
            BODY,
            BODY,
        ]
    )


def test_ten_q_cover_gives_entity_form_fiscal_quarter_and_a_title() -> None:
    text = _ten_q(
        "For the quarterly period ended July 1, 2023",
        "Three Months Ended Nine Months Ended\nJuly 1, 2023 July 2, 2022 July 1, 2023 July 2, 2022\n"
        "Nine Months Ended July 1, 2023",
    )
    described = describe_document(text)
    assert described.meta == {
        "entity": "Northwind Widgets Corp.",  # as the body writes it, not the cover's capitals
        "form": "10-Q",
        "period": "Q3 2023",  # nine-month columns: a third quarter, of the fiscal year ending three months later
        "period_end": "2023-07-01",
    }
    assert described.title == "Northwind Widgets Corp. 10-Q Q3 2023"


def test_fiscal_quarter_comes_from_the_year_to_date_columns() -> None:
    second = _ten_q(
        "For the Quarterly Period Ended July 29, 2023",
        "Three Months Ended Six Months Ended\nSix Months Ended July 29, 2023",
    )
    # a fiscal year ending in January: the second quarter ending in July belongs to the fiscal year 2024
    assert describe_document(second).meta["period"] == "Q2 2024"
    first = _ten_q("For the quarterly period ended March 31, 2024", "Three Months Ended\nMarch 31, 2024 March 31, 2023")
    assert describe_document(first).meta["period"] == "Q1 2024"
    # no statements to tell the quarter by: the period as the cover states it
    bare = _ten_q("For the quarterly period ended March 31, 2024", "")
    assert describe_document(bare).meta["period"] == "quarter ended March 31, 2024"
    assert describe_document(bare).meta["period_end"] == "2024-03-31"


def test_ten_k_cover_with_one_word_per_line_and_a_fiscal_year_that_spills_into_january() -> None:
    words = (
        "UNITED STATES SECURITIES AND EXCHANGE COMMISSION Washington, D.C. 20549 FORM 10-K (Mark One) "
        "ANNUAL REPORT PURSUANT TO SECTION 13 OR 15(d) OF THE SECURITIES EXCHANGE ACT OF 1934 For the fiscal year "
        "ended January 1, 2022 Commission File Number 001-99998"
    )
    text = "\n".join(words.split()) + "\nBLUE HERON\nFOODS, INC.(Exact\nname\nof\nregistrant\nas\nspecified)\n\n"
    text += "Blue Heron Foods, Inc. sells frozen meals. Blue Heron Foods, Inc. operates two plants."
    described = describe_document(text)
    assert described.meta["entity"] == "Blue Heron Foods, Inc."
    assert described.meta["form"] == "10-K"
    assert described.meta["period"] == "FY2021"  # a 52/53-week year ending on January 1 is named after 2021
    assert described.meta["period_end"] == "2022-01-01"
    assert described.title == "Blue Heron Foods, Inc. 10-K FY2021"


def test_eight_k_is_dated_by_its_date_of_report() -> None:
    text = (
        "UNITED STATES\nSECURITIES AND EXCHANGE COMMISSION\nWashington, D.C. 20549\nFORM 8-K\nCURRENT REPORT\n"
        "Date of Report (Date of earliest event reported): May 20, 2022\nNORTHWIND WIDGETS CORP.\n"
        "(Exact name of registrant as specified in its charter)\nItem 8.01 Other Events.\n" + BODY
    )
    described = describe_document(text)
    assert described.meta == {"entity": "Northwind Widgets Corp.", "form": "8-K", "date": "2022-05-20"}
    assert described.title == "Northwind Widgets Corp. 8-K May 20, 2022"


def test_running_footers_name_entity_form_and_period() -> None:
    text = "Management's Discussion and Analysis\n\n" + BODY
    running = ["Northwind Widgets Corp. | Q2 2024 Form 10-Q | 7", "PART I"]
    described = describe_document(text, running=running)
    assert described.meta == {"entity": "Northwind Widgets Corp.", "form": "10-Q", "period": "Q2 2024"}
    no_bars = describe_document(text, running=["Northwind Widgets Corp. Q2 2024 Form 10-Q 7"])
    assert no_bars.meta == {"entity": "Northwind Widgets Corp.", "form": "10-Q", "period": "Q2 2024"}
    # a running header that is only a company's name (written in mixed case as the body writes it)
    for header in ("NORTHWIND WIDGETS CORP.", "Northwind Widgets Corp. and Subsidiaries"):
        assert describe_document(text, running=[header]).meta == {"entity": "Northwind Widgets Corp."}


def test_press_release_headline_dateline_and_ticker() -> None:
    text = (
        "FOR IMMEDIATE RELEASE\n"
        "Northwind Widgets Reports Third-Quarter 2023\nResults\n"
        "• Net sales up 5%\n"
        "SPRINGFIELD, Ill., October 26, 2023 -- Northwind Widgets Corp. (NYSE: NWW) today reported results for "
        "the third quarter of 2023.\n" + BODY
    )
    described = describe_document(text)
    assert described.meta == {
        "entity": "Northwind Widgets Corp.",
        "form": "earnings release",
        "period": "Q3 2023",
        "date": "2023-10-26",
        "ticker": "NWW",  # the symbol the release states for its company
    }
    assert described.title == "Northwind Widgets Reports Third-Quarter 2023 Results"
    # a next line that is a sentence of its own is not the headline's wrapped end
    reflowed = text.replace(
        "2023\nResults\n", "2023 Results; Raises Full-Year\nGuidance Reported Third-Quarter Results\n"
    )
    assert describe_document(reflowed).title == "Northwind Widgets Reports Third-Quarter 2023 Results; Raises Full-Year"


def test_annual_report_names_its_year_and_company() -> None:
    text = "Annual Report 2022\nHarbourside Energy plc\n\nOur year in review: output rose and costs fell."
    described = describe_document(text)
    assert described.meta == {"entity": "Harbourside Energy plc", "form": "annual report", "period": "FY2022"}
    assert described.title is None  # its first line is a fine title


def test_news_article_keeps_its_title_and_gets_its_dateline_only() -> None:
    text = (
        "Harbour Levy Divides Port City\n\nBy Jane Doe\n\nMarch 6, 2024 10:30 AM\n\n"
        "The city council voted on Tuesday to raise the harbour levy. The port authority reported revenue of "
        "$12 million for the fiscal year ended June 30, 2023, and Acme Shipping Inc. said it would appeal."
    )
    described = describe_document(text)
    assert described.title is None  # the loader's first line stays
    assert described.meta == {"date": "2024-03-06"}  # no entity, form or period from a passing mention


def test_boilerplate_first_line_gives_way_to_a_title_like_line() -> None:
    text = "Table of Contents\n\n3\n\nGrid Battery Field Trial\n\nThe trial ran for six months at two substations."
    assert describe_document(text).title == "Grid Battery Field Trial"
    # a declared title that is boilerplate is replaced, a meaningful one kept (None: the loader keeps it)
    assert describe_document(text, title="Table of Contents").title == "Grid Battery Field Trial"
    assert describe_document(text, title="Field Trial Report").title is None


def test_markdown_file_declared_title_kept_and_date_found(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text(
        "# Heat Pumps in Cold Climates\n\nPublished: 12 March 2024\n\nModern heat pumps work well below freezing.\n",
        encoding="utf-8",
    )
    doc = read_document(path)
    assert doc.title == "Heat Pumps in Cold Climates"
    assert doc.meta["date"] == "2024-03-12"
    assert "entity" not in doc.meta and "form" not in doc.meta


def _paged(parts: list[str]) -> tuple[str, list[Page]]:
    pages, offset = [], 0
    for number, part in enumerate(parts, start=1):
        pages.append(Page(number=number, start=offset, end=offset + len(part)))
        offset += len(part) + 2
    return "\n\n".join(parts), pages


def test_pages_bound_the_cover() -> None:
    """Only the first pages are read as a cover: a 10-Q quoted on page 5 does not make a report a filing."""
    filler = [f"Page {i} discusses widget demand in detail. " * 5 for i in range(1, 5)]
    cover = "FORM 10-Q\nFor the quarterly period ended July 1, 2023\nACME CORP.\n(Exact name of registrant)"
    text, pages = _paged([cover, *filler])
    assert describe_document(text, pages=pages).meta["entity"] == "ACME CORP."
    text, pages = _paged(["Widget Market Review 2024", *filler, cover])
    described = describe_document(text, pages=pages)
    assert "entity" not in described.meta and "period" not in described.meta


def _footer_pdf(path: Path) -> Path:
    """A three-page 10-Q whose pages carry the running footer "<Company> | Q2 2024 Form 10-Q | <n>"."""
    c = canvas.Canvas(str(path), pagesize=A4)
    cover = [
        "UNITED STATES",
        "SECURITIES AND EXCHANGE COMMISSION",
        "Washington, D.C. 20549",
        "FORM 10-Q",
        "For the quarterly period ended June 29, 2024",
        "NORTHWIND WIDGETS CORP.",
        "(Exact name of registrant as specified in its charter)",
    ]
    pages = [
        cover,
        ["Results of Operations", "Net sales of precision widgets rose in the quarter.", BODY[:90]],
        ["Liquidity", "Cash provided by operations funded the new plant.", BODY[90:]],
    ]
    for number, lines in enumerate(pages, start=1):
        for i, line in enumerate(lines):
            c.drawString(72, 800 - 20 * i, line)
        c.drawString(72, 40, f"Northwind Widgets Corp. | Q2 2024 Form 10-Q | {number}")
        c.showPage()
    c.save()
    return path


def test_pdf_running_footer_becomes_document_metadata(tmp_path: Path) -> None:
    doc = read_document(_footer_pdf(tmp_path / "nww-10q.pdf"))
    assert "Form 10-Q | 2" not in doc.text  # the footer left the passages ...
    assert doc.meta["entity"] == "Northwind Widgets Corp."  # ... but what it says is kept
    assert doc.meta["form"] == "10-Q"
    assert doc.meta["period"] == "Q2 2024"
    assert doc.meta["period_end"] == "2024-06-29"
    assert doc.title == "Northwind Widgets Corp. 10-Q Q2 2024"
    assert doc.title != "UNITED STATES"


def test_a_cover_pages_trading_symbol_is_the_entitys_ticker() -> None:
    # the first row of the cover's table of listed securities (the common stock), as pypdf extracts it: a note row
    # after it has a symbol of its own
    rows = (
        "Securities registered pursuant to Section 12(b) of the Act:\nTitle of each class  Trading Symbol(s)  \n"
        "Name of each exchange on which\nregistered\nCommon Stock, par value $0.01 per share  BLUH  New York Stock "
        "Exchange\n1.125% Senior Notes Due 2027  BLUH/27  New York Stock Exchange\n"
    )
    text = _ten_q("For the quarterly period ended March 31, 2024", "Three Months Ended\nMarch 31, 2024")
    text = text.replace("Delaware 12-3456789\n", "Delaware 12-3456789\n" + rows)
    assert describe_document(text).meta["ticker"] == "BLUH"
    # glued onto one line with the exchange's short name
    glued = text.replace(rows, "Title of Each Class Trading Symbol(s) Name of Each Exchange Common Stock BLUH Nasdaq\n")
    assert describe_document(glued).meta["ticker"] == "BLUH"
    # no table of listed securities: no ticker (a symbol in passing is not the document's)
    plain = text.replace(rows, "Our peer BLUH New York Stock Exchange listed.\n")
    assert "ticker" not in describe_document(plain).meta
