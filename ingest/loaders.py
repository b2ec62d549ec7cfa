"""Finding and reading source files into cleaned ``Document`` objects.

Supported: plain text and Markdown (UTF-8 with a fallback decode), HTML (main
content via trafilatura), PDF (pypdf text layer, page ranges kept) and DOCX
(python-docx). Every failure surfaces as an ``IngestError`` subclass with a
one-line message naming the file; library exceptions never escape.
"""

from __future__ import annotations

import bisect
import codecs
import contextlib
import copy
import hashlib
import io
import json
import logging
import os
import re
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from assistant.types import Document, Page
from ingest.cleaning import clean_pages, clean_text
from ingest.errors import (
    DocumentTooLarge,
    IngestError,
    MislabelledFile,
    ParseTimeout,
    UnreadableFile,
    UnsupportedFileType,
)
from ingest.metadata import describe_document

__all__ = ["SUPPORTED_SUFFIXES", "discover", "document_id", "read_document", "title_from_text"]

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".docx")

_TITLE_CHARS = 120
_MEANINGFUL = re.compile(r"[^\W\d_]{2,}")
_KINDS = {".txt": "text", ".md": "Markdown", ".html": "HTML", ".htm": "HTML", ".pdf": "PDF", ".docx": "DOCX"}


# ---------------------------------------------------------------- discovery


def _unsupported(path: Path) -> str:
    suffix = path.suffix or "(none)"
    return f"unsupported file type {suffix!r} (supported: {', '.join(SUPPORTED_SUFFIXES)})"


def _hidden(name: str) -> bool:
    return name.startswith(".") or name.startswith("~$")  # dotfiles, Office lock files


def discover(paths: Sequence[Path]) -> tuple[list[Path], dict[str, str]]:
    """Expand files and directories into the supported files to read.

    Directories are walked recursively in sorted order, skipping hidden files
    and directories. Returns the files (each once, in argument order) and
    ``{path: one-line reason}`` for missing paths and unsupported files.
    """
    files: list[Path] = []
    errors: dict[str, str] = {}
    seen: set[Path] = set()

    def add(path: Path) -> None:
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            errors[str(path)] = _unsupported(path)
            return
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            files.append(path)

    def walk_error(err: OSError) -> None:
        errors[str(err.filename)] = f"cannot read directory: {err.strerror or err}"

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, names in os.walk(path, onerror=walk_error):
                dirs[:] = sorted(d for d in dirs if not _hidden(d))
                for name in sorted(names):
                    if not _hidden(name):
                        add(Path(root) / name)
        elif path.is_file():
            add(path)
        elif path.exists():
            errors[str(path)] = "not a regular file or directory"
        else:
            errors[str(path)] = "no such file or directory"
    return files, errors


# ---------------------------------------------------------------- helpers


class _Loaded(NamedTuple):
    text: str
    title: str | None
    pages: tuple[Page, ...] = ()
    running: tuple[str, ...] = ()  # running headers/footers removed from the pages (one example each)


def document_id(text: str) -> str:
    """The content id of a cleaned text: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _truncate(line: str, limit: int = _TITLE_CHARS) -> str:
    line = " ".join(line.split())
    if len(line) <= limit:
        return line
    cut = line[:limit].rsplit(" ", 1)[0] or line[:limit]
    return cut.rstrip(" ,;:-–—") + "…"


def _meaningful(line: str | None) -> str | None:
    if not line:
        return None
    line = " ".join(line.split())
    return _truncate(line) if _MEANINGFUL.search(line) else None


_DANGLING = frozenset({"a", "an", "the", "of", "and", "or", "to", "in", "on", "for", "with", "from", "by", "at", "as",
                       "via", "into", "towards", "toward", "about", "between", "versus", "vs"})  # fmt: skip


def title_from_text(text: str) -> str | None:
    """The first meaningful line of ``text`` (one with a word of two letters or more), truncated.

    A line that ends in a dangling word ("... towards") is joined with the next one.
    """
    lines = [line.strip() for line in text.split("\n")]
    for i, line in enumerate(lines):
        line = line.lstrip("#>*-• ").strip()
        if not _MEANINGFUL.search(line):
            continue
        if line.split()[-1].lower() in _DANGLING and i + 1 < len(lines) and lines[i + 1]:
            line = f"{line} {lines[i + 1]}"
        return _meaningful(line)
    return None


def _one_line(exc: BaseException) -> str:
    message = " ".join(str(exc).split())
    if len(message) > 200:
        message = message[:200].rstrip() + "…"
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


def _decode(data: bytes) -> str:
    """UTF-8 (BOM optional) or UTF-16 with a BOM; otherwise Windows-1252, then Latin-1 (never fails)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _looks_binary(data: bytes) -> bool:
    head = data[:8192]
    return b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))


class _Limits:
    """The caps of one read: extracted characters and a deadline for reading and cleaning."""

    def __init__(self, source: str, max_chars: int | None, timeout_s: float | None) -> None:
        self.source = source
        self.max_chars = max_chars
        self.timeout_s = timeout_s
        self.deadline = None if timeout_s is None else time.monotonic() + timeout_s
        self.chars = 0

    def check(self) -> None:
        """Raise ``ParseTimeout`` once the deadline has passed (called between pages, blocks and steps)."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise ParseTimeout(
                f"{self.source}: reading and cleaning the file took longer than {self.timeout_s:g} s"
                " (setting ASSISTANT_PARSE_TIMEOUT_S)"
            )

    def add(self, chars: int, *, so_far: bool = True) -> None:
        """Count ``chars`` more extracted characters; raise ``DocumentTooLarge`` once over the cap."""
        self.chars += chars
        if self.max_chars is not None and self.chars > self.max_chars:
            found = f"at least {self.chars:,}" if so_far else f"{self.chars:,}"
            raise DocumentTooLarge(
                f"{self.source}: the file holds {found} characters of text, over the cap of {self.max_chars:,}"
                " (setting ASSISTANT_MAX_DOCUMENT_CHARS)"
            )
        self.check()


# ---------------------------------------------------------------- content sniffing

# Leading bytes of binary formats that are never text, and what to call them.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "a PDF"),
    (b"PK\x03\x04", "a ZIP archive (DOCX, XLSX, ...)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office file (.doc, .xls, .ppt)"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x28\xb5\x2f\xfd", "a zstd archive"),
    (b"\x7fELF", "an ELF executable"),
    (b"MZ\x90\x00", "a Windows executable"),
    (b"\xca\xfe\xba\xbe", "a Java class or Mach-O file"),
    (b"\xcf\xfa\xed\xfe", "a Mach-O executable"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x00asm", "a WebAssembly module"),
    (b"OggS", "an Ogg media file"),
    (b"fLaC", "a FLAC audio file"),
    (b"ID3", "an MP3 audio file"),
    (b"wOFF", "a WOFF font"),
    (b"wOF2", "a WOFF2 font"),
)
# Control characters (not tab, line feed, vertical tab, form feed, carriage return), C1 controls and U+FFFD:
# what binary bytes become when decoded as text. Genuine text (cp1252 and Latin-1 included) has next to none.
_CONTROL_CHARS = dict.fromkeys([*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F, *range(0x80, 0xA0), 0xFFFD])
_MAX_CONTROL_SHARE = 0.05


def _magic(data: bytes) -> str | None:
    """What the leading bytes say the content is, for known binary formats."""
    for prefix, what in _MAGIC:
        if data.startswith(prefix):
            return what
    if data[:4] == b"RIFF" and len(data) >= 12:
        return "a RIFF media file (WAV, AVI, WebP)"
    if data[4:8] == b"ftyp":
        return "an MP4/QuickTime media file"
    return None


def _mislabelled(source: str, suffix: str, what: str) -> MislabelledFile:
    return MislabelledFile(f"{source}: the name says {_KINDS[suffix]} ({suffix}) but the content looks like {what}")


def _text_of(data: bytes, source: str, suffix: str) -> str:
    """The decoded text of a file named as text, Markdown or HTML; ``MislabelledFile`` if it is not text."""
    what = _magic(data)
    if what is not None:
        raise _mislabelled(source, suffix, what)
    if _looks_binary(data):
        raise _mislabelled(source, suffix, "binary data (it contains NUL bytes)")
    text = _decode(data)
    controls = len(text) - len(text.translate(_CONTROL_CHARS))
    if controls > _MAX_CONTROL_SHARE * len(text):
        share = 100 * controls / len(text)
        raise _mislabelled(source, suffix, f"binary data ({share:.0f}% control or undecodable characters)")
    return text


def _content_kind(data: bytes) -> str:
    """A short description of content that is not what its name says (for messages)."""
    what = _magic(data)
    if what is not None:
        return what
    if _looks_binary(data):
        return "binary data"
    text = _decode(data[:65536])
    controls = len(text) - len(text.translate(_CONTROL_CHARS))
    return "binary data" if controls > _MAX_CONTROL_SHARE * max(len(text), 1) else "text"


# ---------------------------------------------------------------- text and Markdown


def _load_text(data: bytes, source: str, limits: _Limits) -> _Loaded:
    decoded = _text_of(data, source, ".txt")
    limits.add(len(decoded), so_far=False)
    text = clean_text(decoded, check=limits.check)
    return _Loaded(text, None)


_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_FM_TITLE = re.compile(r"^title:\s*(.+?)\s*$", re.MULTILINE | re.IGNORECASE)
# Markdown rules, applied in order. Every one is linear in the text: a rule whose match can fail after scanning to
# the end of a line (an unclosed comment, link or bold) has a second alternative that consumes exactly the
# stretch where every later start would fail the same way, and keeps it as it is (``_keep_unless``); headings
# and setext titles are found without nested quantifiers. Each gives what the plain regular expression gave.


def _keep_unless(group: int, repl: str) -> Callable[[re.Match[str]], str]:
    """A replacement: ``repl`` expanded when group ``group`` took part in the match, else the text unchanged."""

    def replace(m: re.Match[str]) -> str:
        return m.expand(repl) if m.group(group) is not None else m.group()

    return replace


def _rule(pattern: str, repl: str | Callable[[re.Match[str]], str], flags: int = 0) -> Callable[[str], str]:
    compiled = re.compile(pattern, flags)
    return lambda text: compiled.sub(repl, text)


_ATX_LINE = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.*)$", re.MULTILINE)
_ATX_LINE_NONEMPTY = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.+)$", re.MULTILINE)


def _atx_content(rest: str, *, nonempty: bool) -> str:
    """The text of an ATX heading from what follows ``#... ``: without trailing spaces and closing hashes."""
    bare = rest.rstrip(" \t")
    unhashed = bare.rstrip("#")
    if unhashed != bare and unhashed[-1:] in (" ", "\t"):
        content = unhashed.rstrip(" \t")
        if content:
            return content
    # whitespace only: empty, or (when the content may not be empty) the one space the regex left it
    return bare if bare or not nonempty else rest


def _atx_headings(text: str) -> str:
    return _ATX_LINE.sub(lambda m: _atx_content(m.group(1), nonempty=False), text)


def _first_heading(text: str) -> str | None:
    m = _ATX_LINE_NONEMPTY.search(text)
    return _atx_content(m.group(1), nonempty=True) if m else None


_SETEXT_RULE = re.compile(r"^[ \t]*=+[ \t]*$", re.MULTILINE)
_WORD_CHAR = re.compile(r"[^\W_]")


def _first_setext(text: str) -> str | None:
    """The first line with a letter or digit that is underlined with ``=``."""
    for m in _SETEXT_RULE.finditer(text):
        if m.start() == 0:
            continue
        start = text.rfind("\n", 0, m.start() - 1) + 1
        line = text[start : m.start() - 1]
        if _WORD_CHAR.search(line):
            return line
    return None


_STRONG_OPEN = re.compile(r"(\*\*|__)(?=\S)")


def _strong(text: str) -> str:
    """``**bold**`` and ``__bold__`` to their text, as ``(\\*\\*|__)(?=\\S)(.+?)(?<=\\S)\\1`` would, in n log n."""
    if "**" not in text and "__" not in text:
        return text
    out: list[str] = []
    for line in text.split("\n"):
        if "**" not in line and "__" not in line:
            out.append(line)
            continue
        closers = {d: [c for c in _positions(line, d) if c > 0 and not line[c - 1].isspace()] for d in ("**", "__")}
        parts: list[str] = []
        pos = 0
        m = _STRONG_OPEN.search(line, pos)
        while m:
            d, p = m.group(1), m.start()
            ends = closers[d]
            k = bisect.bisect_left(ends, p + 3)
            if k < len(ends):
                c = ends[k]
                parts.append(line[pos:p])
                parts.append(line[p + 2 : c])
                pos = c + 2
                m = _STRONG_OPEN.search(line, pos)
            else:
                m = _STRONG_OPEN.search(line, p + 1)
        parts.append(line[pos:])
        out.append("".join(parts))
    return "\n".join(out)


def _positions(line: str, needle: str) -> list[int]:
    """Every start of ``needle`` in ``line``, overlapping ones included ("***" holds "**" twice)."""
    found: list[int] = []
    i = line.find(needle)
    while i >= 0:
        found.append(i)
        i = line.find(needle, i + 1)
    return found


_MD_RULES: list[Callable[[str], str]] = [
    _rule(r"<!--(?:.*?(-->)|.*)", _keep_unless(1, ""), re.DOTALL),  # comments (an unclosed one stays)
    _rule(r"^[ \t]*(?:```|~~~).*$", "", re.MULTILINE),  # code fences (content kept)
    _rule(r"^[ \t]*\[[^\]\n]+\]:[ \t]*\S+.*$", "", re.MULTILINE),  # link reference definitions
    _rule(r"!\[[^\]\n]*\]\([^)\n]*(\))?|!\[[^\]\n]*", _keep_unless(1, "")),  # images
    _rule(r"\[([^\]\n]+)\]\([^)\n]*(\))?|\[[^\]\n]*", _keep_unless(2, r"\1")),  # inline links
    _rule(r"\[([^\]\n]+)\]\[[^\]\n]*(\])?|\[[^\]\n]*", _keep_unless(2, r"\1")),  # reference links
    _atx_headings,  # ATX headings
    _rule(r"^[ \t]{0,3}(?:>[ \t]?)+", "", re.MULTILINE),  # block quotes
    _strong,
    _rule(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])", r"\1"),  # emphasis
    _rule(r"(?<!\w)_(?=\S)([^_\n]+?)(?<=\S)_(?!\w)", r"\1"),
    _rule(r"`([^`\n]+)`", r"\1"),  # inline code
]


def _markdown_to_text(markdown: str) -> tuple[str, str | None]:
    markdown = markdown.replace("\r\n", "\n").replace("\r", "\n")
    title: str | None = None
    fm = _FRONT_MATTER.match(markdown)
    if fm:
        t = _FM_TITLE.search(fm.group(1))
        if t:
            title = t.group(1).strip("\"' ")
        markdown = markdown[fm.end() :]
    if title is None:
        title = _first_heading(markdown)
        if title is None:
            title = _first_setext(markdown)
    for rule in _MD_RULES:
        markdown = rule(markdown)
    if title is not None:
        for rule in _MD_RULES[3:]:
            title = rule(title)
    return markdown, title


def _load_markdown(data: bytes, source: str, limits: _Limits) -> _Loaded:
    decoded = _text_of(data, source, ".md")
    limits.add(len(decoded), so_far=False)
    markdown, title = _markdown_to_text(decoded)
    limits.check()
    return _Loaded(clean_text(markdown, check=limits.check), title)


# ---------------------------------------------------------------- HTML

_BLOCK_TAGS = frozenset({"p", "head", "code", "item", "row"})
_LOWER = "translate({}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
_FURNITURE_XPATH = (
    "//script | //style | //noscript | //template | //svg | //iframe | //form | //button | //nav | //aside"
    " | //footer | //header[not(ancestor::article or ancestor::main)]"
    " | //*[@role='navigation' or @role='banner' or @role='contentinfo' or @role='dialog' or @aria-modal='true']"
    " | //*[contains({id}, 'cookie') or contains({cls}, 'cookie') or contains({id}, 'consent')"
    " or contains({cls}, 'consent') or contains({id}, 'gdpr') or contains({cls}, 'gdpr')]"
).format(id=_LOWER.format("@id"), cls=_LOWER.format("@class"))
_HTML_BLOCKS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "pre", "blockquote", "tr", "dt", "dd", "td", "th")


def _inline_text(el: Any) -> str:
    """Text of an element, with <lb/> (line breaks) kept as newlines."""
    parts: list[str] = [el.text or ""]
    for child in el:
        if child.tag == "lb":
            parts.append("\n")
        else:
            parts.append(_inline_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _xml_blocks(el: Any, out: list[str]) -> None:
    """Walk trafilatura's XML output: one paragraph per block, table rows as cells joined by ' | '."""
    for child in el:
        tag = child.tag
        if tag in ("comments", "graphic", "fw", "note"):
            continue
        if tag == "row":
            cells = [" ".join(_inline_text(c).split()) for c in child if c.tag == "cell"]
            out.append(" | ".join(c for c in cells if c))
        elif tag in _BLOCK_TAGS and not any(c.tag in ("p", "list", "table", "item") for c in child):
            out.append(_inline_text(child))
        elif tag == "table":
            rows: list[str] = []
            _xml_blocks(child, rows)
            out.append("\n".join(r for r in rows if r.strip()))
        else:
            _xml_blocks(child, out)


def _strip_furniture(tree: Any) -> None:
    """Remove navigation, headers/footers, sidebars, forms and cookie/consent elements in place."""
    for el in tree.xpath(_FURNITURE_XPATH):
        if el.getparent() is not None:
            el.drop_tree()


def _plain_blocks(tree: Any) -> str:
    """The text of the innermost block elements, one paragraph each (when trafilatura finds nothing)."""
    blocks: list[str] = []
    for el in tree.iter(*_HTML_BLOCKS):
        if not any(d.tag in _HTML_BLOCKS for d in el.iterdescendants()):
            blocks.append(el.text_content())
    if not blocks:
        body = tree.find("body")
        blocks.append((body if body is not None else tree).text_content())
    return "\n\n".join(blocks)


def _html_title(tree: Any) -> str | None:
    import trafilatura

    metadata = trafilatura.extract_metadata(copy.deepcopy(tree))
    title = getattr(metadata, "title", None) if metadata is not None else None
    if title:
        return str(title)
    found = tree.xpath("//title/text()")
    return str(found[0]) if found else None


def _load_html(data: bytes, source: str, limits: _Limits) -> _Loaded:
    import trafilatura
    from lxml import etree

    _text_of(data, source, ".html")  # refuse binary and mislabelled content before parsing it
    tree = trafilatura.load_html(data)
    if tree is None:
        raise UnreadableFile(f"{source}: cannot parse the file as HTML")
    limits.check()
    title = _html_title(tree)
    _strip_furniture(tree)
    limits.check()
    xml = trafilatura.extract(
        copy.deepcopy(tree), output_format="xml", include_comments=False, include_tables=True, include_images=False
    )
    blocks: list[str] = []
    if xml:
        root = etree.fromstring(xml.encode("utf-8"))
        main = root.find("main")
        _xml_blocks(main if main is not None else root, blocks)
    text = "\n\n".join(b for b in blocks if b.strip())
    if not text.strip():
        log.debug("trafilatura found no main content in %s; using the plain block fallback", source)
        limits.check()
        text = _plain_blocks(tree)
    limits.add(len(text), so_far=False)
    return _Loaded(clean_text(text, check=limits.check), title)


# ---------------------------------------------------------------- PDF

_JUNK_PDF_TITLE = re.compile(
    r"^(?:untitled|title|document\d*|slide \d+|microsoft (?:word|powerpoint) - .*|.*\.(?:docx?|pdf|tex|dvi|ps|pptx?))$",
    re.IGNORECASE,
)


# pypdf's safety limits (element counts of arrays and dictionaries, the parsing budget of a content stream)
# stop at 100,000 elements: real filings exceed that (a 72-page 10-Q with a larger array was rejected as
# corrupt). They are raised this many times, for our reads only (pypdf keeps its configuration in a context
# variable, so other code in the process keeps the defaults); the characters cap and the parse deadline still
# bound the work a hostile file can cause.
_PYPDF_LIMIT_FACTOR = 10
_PYPDF_LIMITS = ("array_maximum_element_count", "dictionary_maximum_element_count", "stream_parsing_work_maximum_count")


def _pypdf_limits() -> contextlib.AbstractContextManager[Any]:
    """A context in which pypdf reads with its element-count limits raised (pypdf 7's configuration)."""
    import pypdf

    apply = getattr(pypdf, "apply_configuration", None)
    if apply is None:  # an older pypdf: its limits are module constants, left alone
        return contextlib.nullcontext()
    current = pypdf.get_configuration()
    raised = {name: _PYPDF_LIMIT_FACTOR * getattr(current, name) for name in _PYPDF_LIMITS if hasattr(current, name)}
    return apply(**raised)


def _load_pdf(data: bytes, source: str, limits: _Limits) -> _Loaded:
    if b"%PDF-" not in data[:1024]:
        raise _mislabelled(source, ".pdf", _content_kind(data))
    with _pypdf_limits():
        return _read_pdf(data, source, limits)


_TABLE_TIME_SHARE = 0.5


def _page_tables(data: bytes, raw: list[str], limits: _Limits) -> dict[int, list[tuple[str, str]]]:
    """Tables of the pages whose text looks tabular: page index -> [(placeholder token, table block)].

    The table's own lines in ``raw`` are replaced by stand-ins (``ingest.tables.replace_tables``). The
    table extractor is a second parser: when it fails on a page (or on the file) that page keeps pypdf's text.
    """
    from ingest.tables import looks_tabular, page_tables, placeholder, replace_tables

    gated = [i for i, text in enumerate(raw) if looks_tabular(text)]
    if not gated:
        return {}
    import pdfplumber

    found: dict[int, list[tuple[str, str]]] = {}
    try:
        pdf = pdfplumber.open(io.BytesIO(data), pages=[i + 1 for i in gated])
    except Exception as exc:
        log.debug("no tables read: pdfplumber cannot open the file (%s)", _one_line(exc))
        return {}
    # tables are an improvement, never a reason to refuse a file: they may use half of the time left
    budget = (
        None if limits.deadline is None else time.monotonic() + _TABLE_TIME_SHARE * (limits.deadline - time.monotonic())
    )
    with pdf:
        for index, page in zip(gated, pdf.pages, strict=True):
            limits.check()
            if budget is not None and time.monotonic() > budget:
                log.info("tables read on the pages before page %d only: the parse deadline is near", index + 1)
                break
            try:
                tables = [t for t in page_tables(page) if t.rows]
            except Exception as exc:
                log.debug("no tables read on page %d (%s)", index + 1, _one_line(exc))
                continue
            finally:
                page.close()
            if not tables:
                continue
            marks = [placeholder(index, k) for k in range(len(tables))]
            raw[index], tokens = replace_tables(raw[index], tables, marks)
            found[index] = [(token, table.block) for token, table in zip(tokens, tables, strict=True)]
            limits.add(sum(len(table.block) for table in tables))
    return found


# What the PDF parsers made of a file's pages (pypdf's text, pdfplumber's tables) can be kept on disk and reused
# when the same bytes are read again: eval runs read the same long filings many times, and extraction is most of
# their cost (docs/tables.md). Off unless a directory is given (``set_pdf_cache``); an entry is keyed by the
# file's SHA-256 and EXTRACTION_VERSION, which changes whenever the extraction (not the cleaning after it) does.
EXTRACTION_VERSION = 1
_pdf_cache_dir: Path | None = None


def set_pdf_cache(directory: Path | None) -> None:
    """Keep PDF extraction results in ``directory`` (None: off), for every later read in this process."""
    global _pdf_cache_dir
    _pdf_cache_dir = None if directory is None else Path(directory)


def _cache_path(data: bytes) -> Path | None:
    if _pdf_cache_dir is None:
        return None
    return _pdf_cache_dir / f"{hashlib.sha256(data).hexdigest()}-x{EXTRACTION_VERSION}.json"


def _cache_get(data: bytes) -> tuple[list[str], dict[int, list[tuple[str, str]]]] | None:
    path = _cache_path(data)
    if path is None or not path.exists():
        return None
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        tables = {int(k): [(str(t), str(b)) for t, b in v] for k, v in stored["tables"].items()}
        return [str(t) for t in stored["raw"]], tables
    except (OSError, ValueError, KeyError, TypeError) as exc:  # a damaged entry is read again, not trusted
        log.debug("ignoring the PDF cache entry %s (%s)", path, _one_line(exc))
        return None


def _cache_put(data: bytes, raw: list[str], tables: dict[int, list[tuple[str, str]]]) -> None:
    path = _cache_path(data)
    if path is None:
        return
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"raw": raw, "tables": tables}), encoding="utf-8")
        os.replace(tmp, path)


def _read_pdf(data: bytes, source: str, limits: _Limits) -> _Loaded:
    from pypdf import PasswordType, PdfReader

    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        try:
            decrypted = reader.decrypt("")
        except Exception as exc:  # unsupported algorithm or missing crypto backend
            raise UnreadableFile(f"{source}: the PDF is encrypted and cannot be opened ({_one_line(exc)})") from exc
        if decrypted == PasswordType.NOT_DECRYPTED:
            raise UnreadableFile(f"{source}: the PDF is encrypted (password-protected); decrypt it first")
    cached = _cache_get(data)
    raw: list[str] = [] if cached is None else cached[0]
    if cached is not None:
        limits.add(sum(len(text) for text in raw))
    for page in reader.pages if cached is None else ():  # stops at the cap or the deadline, not after the last page
        limits.check()
        raw.append(page.extract_text() or "")
        limits.add(len(raw[-1]))
    if not raw:
        raise UnreadableFile(f"{source}: the PDF has no pages")
    if not any(page_text.strip() for page_text in raw):
        raise UnreadableFile(
            f"{source}: the PDF has no text layer ({len(raw)} page(s) of images or scans?); run OCR on it first"
        )
    if cached is None:
        tables = _page_tables(data, raw, limits)
        _cache_put(data, raw, tables)
    else:
        tables = cached[1]
    running: list[str] = []
    cleaned = clean_pages(raw, check=limits.check, running_out=running)
    if tables:
        from ingest.tables import put_tables

        cleaned = [put_tables(text, tables[i]) if i in tables else text for i, text in enumerate(cleaned)]
    parts: list[str] = []
    pages: list[Page] = []
    offset = 0
    for number, page_text in enumerate(cleaned, start=1):
        if not page_text:
            continue
        if parts:
            offset += 2
        pages.append(Page(number=number, start=offset, end=offset + len(page_text)))
        parts.append(page_text)
        offset += len(page_text)
    text = "\n\n".join(parts)
    if not text.strip():
        raise UnreadableFile(
            f"{source}: no text left after removing page numbers, running headers and other page furniture"
            f" from {len(raw)} page(s)"
        )
    title: str | None = None
    try:
        meta_title = reader.metadata.title if reader.metadata is not None else None
    except Exception:  # broken metadata must not block reading the text
        meta_title = None
    if meta_title and _MEANINGFUL.search(str(meta_title)) and not _JUNK_PDF_TITLE.match(str(meta_title).strip()):
        title = str(meta_title)
    return _Loaded(text, title, tuple(pages), tuple(running))


# ---------------------------------------------------------------- DOCX


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _paragraph_styles(document: Any) -> tuple[dict[str, str], str]:
    """``{style id: style name}`` of the paragraph styles, and the default paragraph style's name.

    Built once per document: python-docx's ``Paragraph.style`` searches the styles part for every paragraph,
    which made a small file of many empty paragraphs take minutes.
    """
    from docx.enum.style import WD_STYLE_TYPE

    names: dict[str, str] = {}
    for style in document.styles:
        if style.type == WD_STYLE_TYPE.PARAGRAPH and style.style_id is not None:
            names.setdefault(style.style_id, style.name or "")
    default = document.styles.default(WD_STYLE_TYPE.PARAGRAPH)
    return names, (default.name or "") if default is not None else ""


def _paragraph_text(p: Any) -> str:
    return str(p.text)


def _table_rows(tbl: Any) -> list[str]:
    """Rows of a table as cells joined by ' | ' (merged cells once), reading each cell once.

    A cell that continues a vertical merge shows the text of the cell above it at the same grid column
    (as python-docx does, but without walking up the rows again for every row).
    """
    rows: list[str] = []
    above: dict[int, str] = {}  # grid column -> text of the cell starting there in the previous row
    for tr in tbl.iterchildren(f"{_W}tr"):
        offset = tr.grid_before
        here: dict[int, str] = {}
        cells: list[str] = []
        for tc in tr.iterchildren(f"{_W}tc"):
            if tc.vMerge == "continue":
                value = above.get(offset, "")
            else:
                value = " ".join("\n".join(_paragraph_text(p) for p in tc.iterchildren(f"{_W}p")).split())
            here[offset] = value
            if value and (not cells or cells[-1] != value):  # merged cells repeat
                cells.append(value)
            offset += tc.grid_span
        above = here
        if cells:
            rows.append(" | ".join(cells))
    return rows


def _docx_blocks(document: Any, limits: _Limits) -> Iterable[tuple[str, str]]:
    """(style name, text) of the body's paragraphs and tables, in document order, in one pass over the XML."""
    names, default = _paragraph_styles(document)
    for element in document.element.body.iterchildren(f"{_W}p", f"{_W}tbl"):
        limits.check()
        if element.tag == f"{_W}tbl":
            rows = _table_rows(element)
            if rows:
                text = "\n".join(rows)
                limits.add(len(text))
                yield "Table", text
        else:
            style_id = element.style
            text = _paragraph_text(element)
            limits.add(len(text))
            yield names.get(style_id, default) if style_id is not None else default, text


def _load_docx(data: bytes, source: str, limits: _Limits) -> _Loaded:
    import docx

    if not data.startswith(b"PK\x03\x04"):
        raise _mislabelled(source, ".docx", _content_kind(data))
    try:
        infos = {info.filename: info for info in zipfile.ZipFile(io.BytesIO(data)).infolist()}
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UnreadableFile(f"{source}: cannot read this DOCX file; is it corrupt? ({_one_line(exc)})") from exc
    body = infos.get("word/document.xml")
    if body is None and "[Content_Types].xml" in infos:
        other = next((kind for name, kind in _OTHER_ZIPS if name in infos), "a ZIP archive without a Word document")
        raise _mislabelled(source, ".docx", other)
    if body is not None and limits.max_chars is not None and body.file_size > _DOCX_XML_PER_CHAR * limits.max_chars:
        raise DocumentTooLarge(
            f"{source}: the DOCX's document.xml unpacks to {body.file_size:,} bytes, more than"
            f" {_DOCX_XML_PER_CHAR} bytes per character of the cap of {limits.max_chars:,}"
            " (setting ASSISTANT_MAX_DOCUMENT_CHARS)"
        )
    document = docx.Document(io.BytesIO(data))
    limits.check()
    blocks = list(_docx_blocks(document, limits))
    text = clean_text("\n\n".join(t for _, t in blocks if t.strip()), check=limits.check)
    title: str | None = _meaningful(document.core_properties.title)
    if title is None:
        title = next(
            (t for s, t in blocks if t.strip() and (s == "Title" or s.startswith("Heading")) and _meaningful(t)),
            None,
        )
    return _Loaded(text, title)


# Markup per character of text above which a DOCX is refused before its XML is parsed (a "zip bomb" of a
# document.xml that unpacks to gigabytes); real documents carry a few bytes of markup per character.
_DOCX_XML_PER_CHAR = 20

# ZIP-based formats by a member that marks them (for the message about a ZIP named .docx)
_OTHER_ZIPS = (
    ("xl/workbook.xml", "an Excel workbook (XLSX)"),
    ("ppt/presentation.xml", "a PowerPoint presentation (PPTX)"),
    ("content.xml", "an OpenDocument file"),
)


# ---------------------------------------------------------------- entry point

_LOADERS: dict[str, Callable[[bytes, str, _Limits], _Loaded]] = {
    ".txt": _load_text,
    ".md": _load_markdown,
    ".html": _load_html,
    ".htm": _load_html,
    ".pdf": _load_pdf,
    ".docx": _load_docx,
}


def read_document(
    path: Path,
    *,
    source: str | None = None,
    max_chars: int | None = None,
    timeout_s: float | None = None,
) -> Document:
    """Load, clean and identify one file.

    ``source`` (default ``str(path)``) is what the document records as its
    origin and what error messages name (uploads pass the original file name).
    Raises ``UnsupportedFileType`` for an unknown suffix, ``MislabelledFile``
    when the content is not what the suffix says (a PDF named .txt, binary
    bytes named .md, a .docx that is not a ZIP), and ``UnreadableFile`` for a
    missing, corrupt, encrypted, empty or text-less file.

    Caps (``None``: none): more than ``max_chars`` characters of extracted text
    raises ``DocumentTooLarge`` (PDF pages and DOCX paragraphs stop being read
    once over it), and reading plus cleaning that passes ``timeout_s`` seconds
    raises ``ParseTimeout`` (checked between pages, paragraphs and cleaning
    steps, in this thread: a single slow library call is not interrupted).
    """
    path = Path(path)
    source = str(path) if source is None else source
    suffix = path.suffix.lower()
    if suffix not in _LOADERS:
        raise UnsupportedFileType(f"{source}: {_unsupported(path)}")
    if path.is_dir():
        raise UnreadableFile(f"{source}: is a directory, not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(f"{source}: cannot read the file ({exc.strerror or _one_line(exc)})") from exc
    if not data.strip():
        raise UnreadableFile(f"{source}: the file is empty")
    limits = _Limits(source, max_chars, timeout_s)
    try:
        loaded = _LOADERS[suffix](data, source, limits)
    except IngestError:
        raise
    except Exception as exc:
        raise UnreadableFile(
            f"{source}: cannot read this {_KINDS[suffix]} file; is it corrupt? ({_one_line(exc)})"
        ) from exc
    if not loaded.text.strip():
        raise UnreadableFile(f"{source}: no text left after extraction and cleaning")
    fallback = _meaningful(loaded.title) or title_from_text(loaded.text) or path.stem
    described = describe_document(
        loaded.text, pages=loaded.pages, running=loaded.running, title=_meaningful(loaded.title), source=source
    )
    meta: dict[str, object] = {"suffix": suffix, "bytes": len(data), **described.meta}
    if loaded.running:
        meta["running"] = list(loaded.running)
    return Document(
        id=document_id(loaded.text),
        title=described.title or fallback,
        source=source,
        text=loaded.text,
        pages=loaded.pages,
        meta=meta,
    )
