"""Loading real files of every supported type, generated inside the tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import docx
import pytest
from reportlab.lib.pagesizes import A4
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.pdfgen import canvas

from ingest.errors import IngestError, MislabelledFile, UnreadableFile, UnsupportedFileType
from ingest.loaders import SUPPORTED_SUFFIXES, discover, read_document

PAGE_ONE = [
    "Battery storage on the grid",
    "Lithium-ion batteries store surplus solar power during the day.",
    "They release it in the evening when demand peaks.",
]
PAGE_TWO = [
    "Pumped hydro remains the largest form of storage worldwide.",
    "It moves water uphill when power is cheap.",
]


def _pdf(path: Path, pages: list[list[str]], *, title: str | None = None, **kwargs: object) -> Path:
    c = canvas.Canvas(str(path), pagesize=A4, **kwargs)  # type: ignore[arg-type]
    if title:
        c.setTitle(title)
    for number, lines in enumerate(pages, start=1):
        for i, line in enumerate(lines):
            c.drawString(72, 800 - 20 * i, line)
        c.drawString(300, 40, str(number))  # a page number in the footer
        c.showPage()
    c.save()
    return path


def _assert_one_line_naming(exc: IngestError, name: str) -> None:
    message = str(exc)
    assert "\n" not in message
    assert name in message
    assert "Traceback" not in message


# ---------------------------------------------------------------- PDF


def test_pdf_pages_are_character_ranges_of_the_text(tmp_path: Path) -> None:
    doc = read_document(_pdf(tmp_path / "storage.pdf", [PAGE_ONE, PAGE_TWO], title="Grid Storage Report"))
    assert doc.title == "Grid Storage Report"
    assert [p.number for p in doc.pages] == [1, 2]
    one, two = doc.pages
    assert 0 == one.start < one.end < two.start < two.end == len(doc.text)
    for line in PAGE_ONE:
        assert line in doc.text[one.start : one.end]
    for line in PAGE_TWO:
        assert line in doc.text[two.start : two.end]
        assert doc.page_at(doc.text.index(line)) == 2
    assert doc.page_at(doc.text.index(PAGE_ONE[1])) == 1
    # the footer page numbers are gone
    assert not any(line.strip() in {"1", "2"} for line in doc.text.split("\n"))
    assert doc.meta == {"suffix": ".pdf", "bytes": (tmp_path / "storage.pdf").stat().st_size}
    assert doc.id == hashlib.sha256(doc.text.encode()).hexdigest()[:16]


def test_pdf_without_metadata_title_uses_first_line(tmp_path: Path) -> None:
    doc = read_document(_pdf(tmp_path / "untitled.pdf", [PAGE_ONE]))
    assert doc.title == PAGE_ONE[0]


def test_encrypted_pdf_is_unreadable_with_a_clear_reason(tmp_path: Path) -> None:
    path = _pdf(tmp_path / "secret.pdf", [PAGE_ONE], encrypt=StandardEncryption("userpw", "ownerpw"))
    with pytest.raises(UnreadableFile) as info:
        read_document(path)
    _assert_one_line_naming(info.value, "secret.pdf")
    assert "encrypted" in str(info.value)


def test_textless_pdf_is_unreadable_with_a_clear_reason(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    c = canvas.Canvas(str(path), pagesize=A4)
    c.rect(100, 100, 300, 400, fill=1)
    c.showPage()
    c.save()
    with pytest.raises(UnreadableFile) as info:
        read_document(path)
    _assert_one_line_naming(info.value, "scan.pdf")
    assert "no text layer" in str(info.value)


def test_corrupt_pdf_raises_ingest_error_not_library_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ngarbage that is not a pdf\n")
    with pytest.raises(UnreadableFile) as info:
        read_document(path)
    assert type(info.value) is UnreadableFile
    _assert_one_line_naming(info.value, "broken.pdf")


# ---------------------------------------------------------------- DOCX


def test_docx_title_from_core_properties_and_paragraphs(tmp_path: Path) -> None:
    d = docx.Document()
    d.core_properties.title = "Wind Review Q3"
    d.add_heading("Quarterly Wind Review", level=1)
    d.add_paragraph("Offshore wind output rose by a fifth in the quarter.")
    d.add_paragraph("")
    d.add_paragraph("Turbine availability   stayed above 95 percent.")
    table = d.add_table(rows=2, cols=2)
    for (r, c), value in {(0, 0): "Site", (0, 1): "Output", (1, 0): "North", (1, 1): "12 GWh"}.items():
        table.cell(r, c).text = value
    d.save(str(tmp_path / "wind.docx"))
    doc = read_document(tmp_path / "wind.docx")
    assert doc.title == "Wind Review Q3"
    assert doc.text.split("\n\n") == [
        "Quarterly Wind Review",
        "Offshore wind output rose by a fifth in the quarter.",
        "Turbine availability stayed above 95 percent.",
        "Site | Output\nNorth | 12 GWh",
    ]
    assert doc.pages == ()


def test_docx_title_falls_back_to_first_heading(tmp_path: Path) -> None:
    d = docx.Document()
    d.core_properties.title = ""
    d.add_paragraph("Draft for internal review")
    d.add_heading("Solar Tender Results", level=1)
    d.add_paragraph("Twelve bids were received for the tender.")
    d.save(str(tmp_path / "tender.docx"))
    assert read_document(tmp_path / "tender.docx").title == "Solar Tender Results"


def test_corrupt_docx_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "broken.docx"
    path.write_bytes(b"PK\x03\x04 this is not a real zip archive")
    with pytest.raises(UnreadableFile) as info:
        read_document(path)
    _assert_one_line_naming(info.value, "broken.docx")


# ---------------------------------------------------------------- HTML

ARTICLE_PARAGRAPHS = [
    "Solar panels are built from photovoltaic cells made of silicon. When sunlight strikes a cell, photons knock"
    " electrons loose and create a direct current.",
    "An inverter converts that direct current into the alternating current used by household appliances."
    " Dr. Jane Smith of the U.S. Department of Energy said efficiency has improved steadily.",
    "Panels installed today typically convert 20 to 22 percent of incoming light into electricity, a figure that"
    " was closer to 15 percent a decade ago.",
]
HTML = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Solar Panels Explained | Example News</title></head>
<body>
<div id="cookie-banner" class="cookie-consent"><p>We use cookies to improve your experience on our site.
By continuing to browse you agree to our cookie policy.</p><button>Accept all</button></div>
<nav><ul><li><a href="/">Home</a></li><li><a href="/world">World news desk</a></li>
<li><a href="/tech">Technology section</a></li></ul></nav>
<main><article>
<h1>How solar panels turn light into power</h1>
{"".join(f"<p>{p}</p>" for p in ARTICLE_PARAGRAPHS)}
</article></main>
<footer><p>Copyright 2024 Example News Ltd. All rights reserved.</p>
<a href="/privacy">Privacy policy</a> <a href="/contact">Contact the newsroom</a></footer>
</body></html>"""


@pytest.mark.parametrize("suffix", [".html", ".htm"])
def test_html_keeps_the_article_and_drops_nav_cookie_and_footer(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"solar{suffix}"
    path.write_text(HTML, encoding="utf-8")
    doc = read_document(path)
    assert doc.title in {"How solar panels turn light into power", "Solar Panels Explained"}
    paragraphs = doc.text.split("\n\n")
    for paragraph in ARTICLE_PARAGRAPHS:
        assert paragraph in paragraphs
    for furniture in ["cookie", "Accept all", "World news desk", "Technology section", "Copyright",
                      "All rights reserved", "Contact the newsroom"]:  # fmt: skip
        assert furniture not in doc.text, furniture


def test_tiny_html_page_without_main_content_still_drops_navigation(tmp_path: Path) -> None:
    path = tmp_path / "tiny.html"
    path.write_text(
        "<html><head><title>Tiny page</title></head><body><nav>Menu stuff here</nav>"
        "<p>Short text only.</p><footer>Footer words</footer></body></html>",
        encoding="utf-8",
    )
    doc = read_document(path)
    assert doc.text == "Short text only."
    assert doc.title == "Tiny page"


# ---------------------------------------------------------------- text and Markdown


def test_markdown_title_and_markup(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text(
        "# Heat Pumps in Cold Climates\n\nModern heat pumps work **well** below freezing, "
        "see [the field study](https://example.org/study).\n\n![diagram](img.png)\n\n"
        "## Costs\n\n- Installation is *expensive*.\n- Running costs are low.\n",
        encoding="utf-8",
    )
    doc = read_document(path)
    assert doc.title == "Heat Pumps in Cold Climates"
    assert doc.text.split("\n\n") == [
        "Heat Pumps in Cold Climates",
        "Modern heat pumps work well below freezing, see the field study.",
        "Costs",
        "- Installation is expensive.\n- Running costs are low.",
    ]


def test_markdown_front_matter_title(tmp_path: Path) -> None:
    path = tmp_path / "post.md"
    path.write_text('---\ntitle: "Grid Notes"\ndate: 2024-01-01\n---\nPlain body text here.\n', encoding="utf-8")
    doc = read_document(path)
    assert doc.title == "Grid Notes"
    assert doc.text == "Plain body text here."


def test_text_file_decoding_and_source(tmp_path: Path) -> None:
    utf8 = tmp_path / "utf8.txt"
    utf8.write_bytes("\ufeffCafé notes\n\nThe café opened in 1920.".encode())
    doc = read_document(utf8)
    assert doc.text == "Café notes\n\nThe café opened in 1920."
    assert doc.title == "Café notes"
    assert doc.source == str(utf8)
    legacy = tmp_path / "legacy.txt"
    legacy.write_bytes("Café notes\n\nThe café opened in 1920.".encode("cp1252"))
    same = read_document(legacy, source="upload/legacy.txt")
    assert same.text == doc.text and same.id == doc.id  # same content, same id
    assert same.source == "upload/legacy.txt"


def test_title_falls_back_to_file_stem_and_is_truncated(tmp_path: Path) -> None:
    numbers = tmp_path / "readings-2024.txt"
    numbers.write_text("12 14 15\n\n16 18", encoding="utf-8")
    assert read_document(numbers).title == "readings-2024"
    long_line = tmp_path / "long.txt"
    long_line.write_text(" ".join(["word"] * 80) + ".\n\nBody.", encoding="utf-8")
    title = read_document(long_line).title
    assert len(title) <= 121 and title.endswith("…")


# ---------------------------------------------------------------- errors


def test_unsupported_type(tmp_path: Path) -> None:
    path = tmp_path / "data.xyz"
    path.write_text("some text", encoding="utf-8")
    with pytest.raises(UnsupportedFileType) as info:
        read_document(path)
    assert isinstance(info.value, IngestError)
    _assert_one_line_naming(info.value, "data.xyz")
    assert ".xyz" in str(info.value)


@pytest.mark.parametrize("content", [b"", b"  \n\n "])
def test_empty_text_is_unreadable(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(UnreadableFile) as info:
        read_document(path)
    _assert_one_line_naming(info.value, "empty.txt")


def test_binary_bytes_named_text_are_mislabelled(tmp_path: Path) -> None:
    path = tmp_path / "binary.txt"
    path.write_bytes(b"\x00\x01\x02binary\x00")
    with pytest.raises(MislabelledFile) as info:
        read_document(path)
    _assert_one_line_naming(info.value, "binary.txt")
    assert "binary data" in str(info.value)


def test_missing_file_and_source_in_messages(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile) as info:
        read_document(tmp_path / "gone.txt", source="report.txt")
    _assert_one_line_naming(info.value, "report.txt")


def test_only_furniture_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "banner.txt"
    path.write_text("Accept all\n\nShare\n\nAdvertisement\n", encoding="utf-8")
    with pytest.raises(UnreadableFile):
        read_document(path)


# ---------------------------------------------------------------- discover


def test_discover_walks_a_tree_sorted_and_skips_hidden(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    for rel in ["b.txt", "a.md", "sub/z.pdf", "sub/deeper/c.docx", "sub/page.HTML", "x.htm",
                ".hidden.txt", ".git/config.txt", "sub/.cache/d.txt", "~$lock.docx", "img.png", "notes"]:  # fmt: skip
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x", encoding="utf-8")
    single = tmp_path / "single.txt"
    single.write_text("y", encoding="utf-8")
    missing = tmp_path / "missing.md"

    files, errors = discover([root, single, missing, root / "b.txt"])
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        "corpus/a.md",
        "corpus/b.txt",
        "corpus/x.htm",
        "corpus/sub/page.HTML",
        "corpus/sub/z.pdf",
        "corpus/sub/deeper/c.docx",
        "single.txt",
    ]
    assert set(errors) == {str(root / "img.png"), str(root / "notes"), str(missing)}
    assert "no such file" in errors[str(missing)]
    assert ".png" in errors[str(root / "img.png")]
    assert all("\n" not in reason for reason in errors.values())
    assert {f.suffix.lower() for f in files} <= set(SUPPORTED_SUFFIXES)
