"""Made-up PDFs for tests: one line of text per entry, one page per list (reportlab)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas


def lines_pdf(path: Path, pages: Sequence[Sequence[str]]) -> Path:
    """Write ``pages`` (each a list of lines, drawn top down) to ``path`` and return it."""
    c = canvas.Canvas(str(path), pagesize=A4)
    for lines in pages:
        for i, line in enumerate(lines):
            c.drawString(72, 800 - 20 * i, line)
        c.showPage()
    c.save()
    return path
