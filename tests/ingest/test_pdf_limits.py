"""pypdf's safety limits: a valid PDF with an array over pypdf's default 100,000 elements is read; a corrupt
file is still refused in one line; the raised limits do not leak into other code."""

from __future__ import annotations

from pathlib import Path

import pypdf
import pytest

from ingest.errors import UnreadableFile
from ingest.loaders import read_document

ELEMENTS = 150_000  # over pypdf's default array_maximum_element_count (100,000), under ten times it


def _raw_pdf(content: bytes) -> bytes:
    """A one-page PDF (Helvetica) whose page content stream is ``content``, with a correct xref table."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >>"
        b" /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _big_array_pdf(path: Path) -> Path:
    """Readable text, then a TJ array of ``ELEMENTS`` elements (kerning numbers between empty strings)."""
    big = b"[" + b" ".join([b"()", b"0"] * (ELEMENTS // 2)) + b"] TJ"
    content = b"BT /F1 12 Tf 72 720 Td (Quarterly storage capacity grew in every region.) Tj " + big + b" ET"
    path.write_bytes(_raw_pdf(content))
    return path


def test_a_valid_pdf_with_an_array_over_pypdfs_default_limit_is_read(tmp_path: Path) -> None:
    doc = read_document(_big_array_pdf(tmp_path / "big-array.pdf"))
    assert "Quarterly storage capacity grew in every region." in doc.text
    assert [p.number for p in doc.pages] == [1]


def test_the_raised_limits_stay_inside_the_read(tmp_path: Path) -> None:
    read_document(_big_array_pdf(tmp_path / "big-array.pdf"))
    assert pypdf.get_configuration().array_maximum_element_count == 100_000
    reader = pypdf.PdfReader(tmp_path / "big-array.pdf")
    with pytest.raises(Exception, match="(?i)maximum"):
        reader.pages[0].extract_text()  # pypdf's own defaults outside our reads


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R", id="truncated"),
        pytest.param(b"%PDF-1.7\n" + bytes(range(256)) * 64, id="garbage"),
    ],
)
def test_a_corrupt_pdf_is_still_refused_in_one_line(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(data)
    with pytest.raises(UnreadableFile) as caught:
        read_document(path)
    message = str(caught.value)
    assert "\n" not in message and "broken.pdf" in message
