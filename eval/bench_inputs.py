"""Hostile-input benchmark: what reading and chunking cost on inputs built to be slow.

``python -m eval.bench_inputs`` builds, in a temporary directory, the inputs of
issue #14 that once took minutes or hours: DOCX files of 22,795 and 200,000
empty paragraphs, a 5 MB text that is one line with no sentence end, a 5 MB
text of short lines, a 5 MB Markdown line of unclosed marks and a 300-page
text PDF. Each is read with
``read_document`` and cut with ``chunk_document`` as the service does (the
settings' caps on characters, parse time and chunks; the real MiniLM
tokenizer's ``count_tokens``; the settings' chunk budget and overlap), and the
report records per input: its bytes, the outcome (characters and chunks, or
the error class and message) and the read and chunk times (medians of
``--repeats`` runs), as ``reports/inputs.json`` and ``reports/inputs.md``.

The builders are also what ``tests/ingest/test_hostile_inputs.py`` uses.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import re
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ingest.chunking import chunk_document
from ingest.errors import IngestError
from ingest.loaders import read_document

DEFAULT_OUT = Path("reports") / "inputs.md"
_WORDS = (
    "the wind farm output rose by a fifth in the quarter while turbine availability stayed high across"
    " northern sites and grid operators reported fewer curtailments than expected"
).split()


# --------------------------------------------------------------------------- builders


def empty_paragraphs_docx(path: Path, paragraphs: int, *, tail: str | None = None) -> Path:
    """A DOCX whose body is ``paragraphs`` empty paragraphs (then one paragraph of ``tail``, if given).

    Built from python-docx's default template with the body written directly (fast for any size).
    """
    import docx

    template = io.BytesIO()
    docx.Document().save(template)
    body = "<w:p/>" * paragraphs
    if tail is not None:
        body += f"<w:p><w:r><w:t>{tail}</w:t></w:r></w:p>"
    with zipfile.ZipFile(template) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "word/document.xml":
                xml = data.decode("utf-8")
                xml = re.sub(r"<w:body>.*?(?=<w:sectPr)", lambda _m: "<w:body>" + body, xml, count=1, flags=re.S)
                data = xml.encode("utf-8")
            out.writestr(item, data)
    return path


def words(chars: int, *, seed: int = 1) -> str:
    """About ``chars`` characters of words separated by single spaces, with no sentence end."""
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(_WORDS)
        parts.append(word)
        size += len(word) + 1
    return " ".join(parts)[:chars].strip()


def one_line_text(path: Path, chars: int) -> Path:
    """A text file that is a single line of ``chars`` characters with no sentence terminator."""
    path.write_text(words(chars), encoding="utf-8")
    return path


def short_lines_text(path: Path, chars: int, *, width: int = 40) -> Path:
    """A text file of about ``chars`` characters (line ends included) in lines of ``width`` characters."""
    text = words(chars * width // (width + 1), seed=2)
    path.write_text("\n".join(text[i : i + width] for i in range(0, len(text), width)), encoding="utf-8")
    return path


def unclosed_markdown(path: Path, chars: int) -> Path:
    """A Markdown file that is one line of unclosed bold, links, images and comments (``**a [b ![c <!--d``)."""
    unit = "**wind [farm ![output <!--rose "
    path.write_text(unit * (chars // len(unit)), encoding="utf-8")
    return path


def text_pdf(path: Path, pages: int, *, lines: Callable[[int], Sequence[str]] | None = None) -> Path:
    """A PDF with a text layer: ``pages`` pages of ``lines(page number)`` (default: numbered prose lines)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    def prose(number: int) -> list[str]:
        rng = random.Random(number)
        return [" ".join(rng.choice(_WORDS) for _ in range(11)).capitalize() + f" on page {number}." for _ in range(40)]

    make = lines or prose
    pdf = canvas.Canvas(str(path), pagesize=A4)
    for number in range(1, pages + 1):
        y = 800
        for line in make(number):
            pdf.drawString(50, y, line)
            y -= 18
        pdf.showPage()
    pdf.save()
    return path


# --------------------------------------------------------------------------- measuring


def build_inputs(root: Path, only: Sequence[str] | None = None) -> list[tuple[str, Path]]:
    """The benchmark's inputs, built under ``root``: (name, path); with ``only``, those whose name contains one."""
    builders: list[tuple[str, Callable[[], Path]]] = [
        ("docx_22795_empty_paragraphs", lambda: empty_paragraphs_docx(root / "empty-22795.docx", 22_795)),
        ("docx_200000_empty_paragraphs", lambda: empty_paragraphs_docx(root / "empty-200000.docx", 200_000)),
        ("text_one_line_5mb", lambda: one_line_text(root / "one-line.txt", 5_000_000)),
        ("text_short_lines_5mb", lambda: short_lines_text(root / "short-lines.txt", 5_000_000)),
        ("markdown_unclosed_marks_5mb", lambda: unclosed_markdown(root / "unclosed.md", 5_000_000)),
        ("pdf_300_pages", lambda: text_pdf(root / "300-pages.pdf", 300)),
    ]
    return [(name, build()) for name, build in builders if not only or any(part in name for part in only)]


def measure(
    path: Path,
    count_tokens: Callable[[str], int],
    *,
    max_tokens: int,
    overlap: int,
    max_chars: int | None,
    timeout_s: float | None,
    max_chunks: int | None,
    repeats: int = 3,
) -> dict[str, Any]:
    """Read and chunk ``path`` ``repeats`` times: bytes, outcome and median read/chunk seconds."""
    read_s: list[float] = []
    chunk_s: list[float] = []
    row: dict[str, Any] = {"bytes": path.stat().st_size}
    for _ in range(repeats):
        times = read_s
        start = time.perf_counter()
        try:
            doc = read_document(path, source=path.name, max_chars=max_chars, timeout_s=timeout_s)
            read_s.append(time.perf_counter() - start)
            times = chunk_s
            start = time.perf_counter()
            chunks = chunk_document(doc, count_tokens, max_tokens=max_tokens, overlap=overlap, max_chunks=max_chunks)
            chunk_s.append(time.perf_counter() - start)
            row.update(outcome="ingested", chars=len(doc.text), chunks=len(chunks))
        except IngestError as exc:
            times.append(time.perf_counter() - start)  # the time until the error, in the step that raised it
            row.update(outcome=type(exc).__name__, error=str(exc))
    row["read_s"] = round(statistics.median(read_s), 3) if read_s else None
    row["chunk_s"] = round(statistics.median(chunk_s), 3) if chunk_s else None
    row["total_s"] = round((row["read_s"] or 0.0) + (row["chunk_s"] or 0.0), 3)
    return row


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def to_markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    lines = [
        "# Hostile inputs: read and chunk",
        "",
        f"Caps: {meta['max_chars']:,} characters, {meta['timeout_s']:g} s parse time, {meta['max_chunks']:,} chunks;"
        f" chunks of {meta['max_tokens']} word pieces (overlap {meta['overlap']}), MiniLM tokenizer;"
        f" medians of {meta['repeats']} runs. `python -m eval.bench_inputs`",
        "",
        "| input | bytes | outcome | chars | chunks | read s | chunk s |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for name, row in report["inputs"].items():
        lines.append(
            f"| {name} | {row['bytes']:,} | {row['outcome']} | {row.get('chars', '')} | {row.get('chunks', '')}"
            f" | {_seconds(row['read_s'])} | {_seconds(row['chunk_s'])} |"
        )
    errors = [(name, row["error"]) for name, row in report["inputs"].items() if "error" in row]
    if errors:
        lines += ["", "Errors:", ""] + [f"- {name}: {message}" for name, message in errors]
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m eval.bench_inputs", description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="runs per input (medians are reported)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown report; JSON goes next to it")
    p.add_argument("--only", action="append", default=None, help="run only inputs whose name contains this")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from assistant.config import get_settings
    from index.embeddings import Embedder

    args = _parser().parse_args(argv)
    settings = get_settings()
    embedder = Embedder(settings.embed_model, batch_size=settings.embed_batch_size)
    caps: dict[str, Any] = {
        "max_chars": settings.max_document_chars,
        "timeout_s": settings.parse_timeout_s,
        "max_chunks": settings.max_chunks_per_document,
    }
    budget = min(settings.chunk_tokens, embedder.max_tokens)
    report: dict[str, Any] = {
        "meta": {**caps, "max_tokens": budget, "overlap": settings.chunk_overlap, "repeats": args.repeats},
        "inputs": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-inputs-") as tmp:
        for name, path in build_inputs(Path(tmp), args.only):
            row = measure(
                path, embedder.count_tokens, max_tokens=budget, overlap=settings.chunk_overlap,
                repeats=args.repeats, **caps,
            )  # fmt: skip
            report["inputs"][name] = row
            sys.stderr.write(f"{name}: {json.dumps(row)}\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(to_markdown(report), encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(to_markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
