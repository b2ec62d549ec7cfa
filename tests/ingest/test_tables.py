"""Tables in PDFs come out as rows that carry their column headers and the table's caption, on the right page."""

from __future__ import annotations

from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from ingest.loaders import read_document

CAPTION = "CONSOLIDATED STATEMENTS OF HARVEST"
UNITS = "(In thousands of tonnes)"
PROSE = [
    "The cooperative reports its harvest each year to the regional board.",
    "Weather in the spring decided most of the change between the two seasons.",
]
ROWS = [
    ["", "Year Ended June 30,", ""],
    ["", "2020", "2021"],
    ["Wheat", "$ 1,250", "$ 1,875"],
    ["Barley", "430", "512"],
    ["Oats", "—", "96"],
    ["Rye", "210", "185"],
    ["Sorghum", "75", "88"],
    ["Millet", "12", "19"],
    ["Total grain", "1,977", "2,775"],
]


def _table(rows: list[list[str]], *, grid: bool) -> Table:
    table = Table(rows, colWidths=[200, 110, 110])
    style = [("ALIGN", (1, 0), (-1, -1), "RIGHT"), ("SPAN", (1, 0), (2, 0)), ("ALIGN", (1, 0), (2, 0), "CENTER")]
    if grid:
        style.append(("GRID", (0, 0), (-1, -1), 0.5, colors.black))
    table.setStyle(TableStyle(style))
    return table


def _pdf(path: Path, *, grid: bool = True, pages_before: int = 1) -> Path:
    styles = getSampleStyleSheet()
    story: list[object] = []
    for n in range(pages_before):
        story += [Paragraph(f"Chapter {n + 1}", styles["Heading2"]), *(Paragraph(p, styles["Normal"]) for p in PROSE)]
        story.append(PageBreak())
    story += [
        Paragraph(CAPTION, styles["Heading3"]),
        Paragraph(UNITS, styles["Normal"]),
        Spacer(1, 6),
        _table(ROWS, grid=grid),
        Spacer(1, 12),
        Paragraph("Harvests are measured at the silo after drying.", styles["Normal"]),
    ]
    SimpleDocTemplate(str(path), pagesize=A4).build(story)  # type: ignore[arg-type]
    return path


def _line_with(text: str, needle: str) -> str:
    return next(line for line in text.split("\n") if needle in line)


def test_a_row_carries_its_column_headers_and_the_block_its_caption(tmp_path: Path) -> None:
    doc = read_document(_pdf(tmp_path / "harvest.pdf"))
    row = _line_with(doc.text, "Barley")
    assert "2020: 430" in row and "2021: 512" in row
    assert "Year Ended June 30," in row
    assert row.index("Barley") < row.index("2020: 430") < row.index("2021: 512")
    block = doc.text[doc.text.rfind("\n\n", 0, doc.text.index(row)) :]
    assert block.lstrip().startswith(f"{CAPTION} {UNITS}")


def test_a_question_about_a_period_finds_the_figure_on_the_row_line(tmp_path: Path) -> None:
    """Lexically: the line naming wheat names 2021 and its value (in pypdf's text the header is lines away)."""
    doc = read_document(_pdf(tmp_path / "harvest.pdf"))
    row = _line_with(doc.text, "Wheat")
    assert "2021: $1,875" in row
    assert "2020: $1,250" in row
    assert _line_with(doc.text, "Oats").endswith("2020: —; 2021: 96")  # nil cells kept as written


def test_the_row_is_on_its_page_and_its_figures_are_not_indexed_twice(tmp_path: Path) -> None:
    doc = read_document(_pdf(tmp_path / "harvest.pdf", pages_before=2))
    offset = doc.text.index("Total grain — Year Ended June 30, 2020: 1,977; 2021: 2,775")
    assert doc.page_at(offset) == 3
    assert doc.text.count("2,775") == 1
    page = doc.pages[-1]
    assert page.number == 3 and page.start <= offset < page.end
    assert "Harvests are measured at the silo after drying." in doc.text[page.start : page.end]


def test_a_table_without_lines_is_left_as_text(tmp_path: Path) -> None:
    """pdfplumber's ruling-line detection needs lines: an unruled table keeps pypdf's text (documented limit)."""
    doc = read_document(_pdf(tmp_path / "plain.pdf", grid=False))
    assert "1,875" in doc.text and "Wheat" in doc.text


def test_a_pdf_without_tables_reads_as_before(tmp_path: Path) -> None:
    """Figures in prose (enough to pass the gate) but no table: pypdf's text, unchanged."""
    styles = getSampleStyleSheet()
    path = tmp_path / "prose.pdf"
    numbers = " ".join(f"In {1990 + k} the yield was {k * 7 + 3} tonnes." for k in range(30))
    SimpleDocTemplate(str(path), pagesize=A4).build([Paragraph(numbers, styles["Normal"])])
    from pypdf import PdfReader

    raw = PdfReader(path).pages[0].extract_text()
    doc = read_document(path)
    assert " ".join(doc.text.split()) == " ".join(raw.split())


def test_table_spans_find_the_block_for_the_chunker(tmp_path: Path) -> None:
    from ingest.tables import table_spans

    doc = read_document(_pdf(tmp_path / "harvest.pdf"))
    spans = table_spans(doc.text)
    assert len(spans) == 1
    block = doc.text[spans[0][0] : spans[0][1]]
    assert block.startswith(CAPTION) and block.endswith("2021: 2,775")
    assert "Harvests are measured" not in block and "The cooperative reports" not in block
