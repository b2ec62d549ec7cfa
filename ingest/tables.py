"""Tables in PDF pages: found with pdfplumber, written out as one self-contained line per row.

pypdf's text layer keeps a table's numbers but not which column (period) each belongs to: the headers sit
lines away and a row's values are glued to the next row's label. Here a page that looks tabular (many numeric
tokens in its pypdf text, ``looks_tabular``) is handed to pdfplumber, whose ``find_tables`` finds ruled or
shaded table regions. Each region is rebuilt from the page's words: lines by their vertical position, value
columns by the right edges of the numbers (figures are right-aligned), column headers from the lines above the
first body row (stacked headers joined, a header spanning several columns given to each), and a caption from
the nearest title-like lines above the table (a units line such as "(In millions)" kept). Each body row becomes

    Revenue — Year Ended December 31, 2019: $13,000; 2020: $11,139; 2021: $17,455

(row label, then the headers the columns share, then ``header: value`` pairs; cells as written, "—" kept), and a
table becomes a block: the caption line, then one line per row (``Table.block``). ``replace_tables`` takes the
table's own lines out of pypdf's page text (so numbers are not indexed twice) and leaves a placeholder line
where the block goes; the loader swaps the block in after cleaning, so the cleaner's line joining never merges
two rows. The choice of pdfplumber over PyMuPDF, the gate and their cost are measured in docs/tables.md.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Table", "looks_tabular", "page_tables", "placeholder", "put_tables", "replace_tables", "table_spans"]

# A value cell: a figure with its currency sign, sign, parentheses, percent or multiplier, or a nil dash.
_NUMBER = re.compile(r"^[(\[]?[-+−]?[$€£¥]?\s?[(]?\d[\d,.]*\)?\s?(?:%|pts?|bps|x)?[)\]]?\*?$|^[—–-]+$", re.IGNORECASE)
_YEAR = re.compile(r"^(?:19|20)\d\d$")
_NUMERIC_TOKEN = re.compile(r"(?<![\w.])[($]*\d[\d,]*(?:\.\d+)?\)?%?(?![\w])")
_UNITS = re.compile(r"^[($]?\s*(?:in\b|\$|dollars|amounts|millions|thousands|billions).{0,90}$", re.IGNORECASE)
_SCALE = re.compile(r"\b(?:thousands|millions|billions)\b", re.IGNORECASE)
_CURRENCY = frozenset("$€£¥")
_SUFFIXES = frozenset({"%", ")", "%)", "pts", "bps"})

# Gate: a page whose pypdf text has at least this many numeric tokens goes to the table extractor
# (docs/tables.md: on 441 sampled FinanceBench pages it keeps 75 % of pages and 123 of the 124 with tables).
MIN_NUMERIC_TOKENS = 12
# Vertical gap (points) up to which two table regions pdfplumber returns are one table (alternate-row
# shading makes pdfplumber return every shaded band as a table of its own).
_MERGE_GAP = 30.0
_SEGMENT_GAP = 6.0  # a horizontal gap wider than this (points) separates two cells on one line
_LINE_TOLERANCE = 3.0
_HEADER_REACH = 60.0  # header lines sit at most this far above the first body row (points)
_CAPTION_REACH = 90.0
_CAPTION_LINES = 4
# Share of a table's figures that the pypdf lines taken out must hold for the block to replace them (the last
# row is often glued to the next paragraph's first words and stays): below it the block goes after the page text.
_TAKEN_SHARE = 0.6
_PAD = "zqpad"  # the stand-in word for a table line taken out of the page text (see replace_tables)


@dataclass(frozen=True)
class Table:
    """A table as text: its caption line (may be empty) and one line per body row, where it sits on the page."""

    caption: str
    rows: tuple[str, ...]
    top: float
    bottom: float
    source: str  # the region's words (caption, headers, rows) in reading order, without spaces, lower case
    values: int  # how many value cells it holds

    @property
    def block(self) -> str:
        """The caption line (when there is one), then one line per row."""
        return "\n".join([self.caption, *self.rows] if self.caption else self.rows)


def looks_tabular(text: str) -> bool:
    """Whether a page's plain text holds enough numeric tokens to be worth running the table extractor on."""
    return len(_NUMERIC_TOKEN.findall(text)) >= MIN_NUMERIC_TOKENS


def placeholder(page_index: int, table_index: int) -> str:
    """A line that stands for a table block in the page text until cleaning is done (letters only: no rule
    treats it as a page number or a running header, which compare lines with their digits normalised)."""
    return f"zqtablez{_letters(page_index)}q{_letters(table_index)}"


def _letters(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 26)
        out = chr(ord("a") + r) + out
        if n == 0:
            return out


# ---------------------------------------------------------------- geometry


@dataclass(frozen=True)
class _Segment:
    x0: float
    x1: float
    text: str

    @property
    def numeric(self) -> bool:
        return bool(_NUMBER.match(self.text.replace(" ", "")))


@dataclass(frozen=True)
class _Line:
    top: float
    bottom: float
    segments: tuple[_Segment, ...]

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments)


def _lines(words: Sequence[dict[str, Any]]) -> list[_Line]:
    """Words grouped into lines (by vertical position) and each line into cells (by horizontal gaps)."""
    rows: list[list[dict[str, Any]]] = []
    for w in sorted(words, key=lambda w: (round(float(w["top"])), float(w["x0"]))):
        if rows and abs(float(w["top"]) - float(rows[-1][0]["top"])) <= _LINE_TOLERANCE:
            rows[-1].append(w)
        else:
            rows.append([w])
    lines: list[_Line] = []
    for row in rows:
        row.sort(key=lambda w: float(w["x0"]))
        segments: list[_Segment] = []
        for w in row:
            x0, x1, text = float(w["x0"]), float(w["x1"]), str(w["text"])
            if segments and x0 - segments[-1].x1 <= _SEGMENT_GAP:
                last = segments[-1]
                segments[-1] = _Segment(last.x0, x1, f"{last.text} {text}")
            else:
                segments.append(_Segment(x0, x1, text))
        lines.append(_Line(min(float(w["top"]) for w in row), max(float(w["bottom"]) for w in row), tuple(segments)))
    return lines


def _values(segments: Sequence[_Segment]) -> list[_Segment]:
    """Value cells of a line: a lone currency sign joins the figure after it, a lone "%" or ")" the one before."""
    out: list[_Segment] = []
    pending: _Segment | None = None
    for s in segments:
        text = s.text.strip()
        if text in _CURRENCY:
            pending = s
            continue
        if text in _SUFFIXES and out:
            last = out[-1]
            out[-1] = _Segment(last.x0, s.x1, f"{last.text}{text}")
            continue
        if pending is not None:
            s = _Segment(pending.x0, s.x1, f"{pending.text.strip()}{text}")
            pending = None
        elif text[:1] in _CURRENCY:
            s = _Segment(s.x0, s.x1, text[:1] + text[1:].lstrip())  # "$ 1,250" as "$1,250"
        out.append(s)
    return out


@dataclass(frozen=True)
class _Row:
    label: str
    values: tuple[_Segment, ...]


def _split_row(line: _Line, label_edge: float) -> _Row:
    """A line as (label, value cells): text left of ``label_edge`` is the label, figures right of it values."""
    label = [s.text for s in line.segments if s.x1 <= label_edge + 1 and not s.numeric]
    rest = [s for s in line.segments if not (s.x1 <= label_edge + 1 and not s.numeric)]
    return _Row(" ".join(label), tuple(_values(rest)))


def _is_body(line: _Line, left: float, width: float) -> bool:
    """A table body line: it starts with a text label near the left edge (a row with or without figures)."""
    first = line.segments[0]
    if first.x0 > left + 0.3 * width or first.numeric:
        return False
    if _is_units(first.text):
        return False
    return any(ch.isalpha() for ch in first.text)


def _is_units(text: str) -> bool:
    """A units line such as "(In millions, except per share amounts)" or "$ in millions"."""
    return bool(_UNITS.match(text) and _SCALE.search(text))


def _has_figures(line: _Line) -> bool:
    return any(s.numeric and not _YEAR.match(s.text.strip()) for s in _values(line.segments[1:]))


def _columns(values: Sequence[_Segment]) -> list[tuple[float, float, float]]:
    """Value columns as (x0, x1, median right edge): figures whose extents overlap share a column."""
    columns: list[list[_Segment]] = []
    right = -1e9
    for s in sorted(values, key=lambda s: s.x0):
        if columns and s.x0 < right - 1:
            columns[-1].append(s)
            right = max(right, s.x1)
        else:
            columns.append([s])
            right = s.x1
    return [(min(s.x0 for s in c), max(s.x1 for s in c), statistics.median(s.x1 for s in c)) for c in columns]


def _column_of(s: _Segment, columns: Sequence[tuple[float, float, float]]) -> int:
    overlapping = [i for i, (c0, c1, _) in enumerate(columns) if min(c1, s.x1) - max(c0, s.x0) > 0]
    if overlapping:
        return overlapping[0]
    return min(range(len(columns)), key=lambda i: abs(columns[i][2] - s.x1))


def _title_like(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    if not letters or len(text) > 120 or text.rstrip().endswith((".", ":", ";")):
        return False
    if sum(ch.isupper() for ch in letters) >= 0.6 * len(letters):
        return True
    words = [w for w in re.findall(r"[^\W\d_]+", text) if len(w) > 3]
    return bool(words) and sum(w[0].isupper() for w in words) >= 0.6 * len(words) and len(text.split()) <= 14


# ---------------------------------------------------------------- regions


def _regions(found: Sequence[Any]) -> list[tuple[float, float, float, float]]:
    """Table bounding boxes, with vertically adjacent boxes over the same columns merged into one."""
    boxes = sorted((tuple(float(v) for v in t.bbox) for t in found), key=lambda b: b[1])
    merged: list[list[float]] = []
    for x0, top, x1, bottom in boxes:
        if merged:
            m = merged[-1]
            overlap = min(m[2], x1) - max(m[0], x0)
            if top - m[3] <= _MERGE_GAP and overlap >= 0.5 * min(m[2] - m[0], x1 - x0):
                m[0], m[1], m[2], m[3] = min(m[0], x0), min(m[1], top), max(m[2], x1), max(m[3], bottom)
                continue
        merged.append([x0, top, x1, bottom])
    return [(m[0], m[1], m[2], m[3]) for m in merged]


def page_tables(page: Any) -> list[Table]:
    """The tables with figures on a pdfplumber page, top to bottom."""
    found = page.find_tables()
    if not found:
        return []
    lines = _lines(page.extract_words())
    tables: list[Table] = []
    claimed = -1.0  # bottom of the previous table: a caption or header is never taken from inside it
    for x0, top, x1, bottom in _regions(found):
        table = _table(lines, x0, top, x1, bottom, claimed)
        if table is not None:
            tables.append(table)
            claimed = table.bottom
    return tables


def _table(lines: Sequence[_Line], x0: float, top: float, x1: float, bottom: float, claimed: float) -> Table | None:
    """One table region rebuilt from the page's lines; ``None`` when it holds no figures."""
    width = max(x1 - x0, 1.0)

    def inside(line: _Line) -> bool:
        mid = (line.top + line.bottom) / 2
        return top - 1 <= mid <= bottom + 1 and line.segments[-1].x1 >= x0 and line.segments[0].x0 <= x1

    region = [i for i, line in enumerate(lines) if inside(line)]
    if not region:
        return None
    first, last = region[0], region[-1]
    # rows just below the region (unshaded last rows) that carry figures
    while last + 1 < len(lines) and lines[last + 1].top - lines[last].bottom <= 8 and _has_figures(lines[last + 1]):
        last += 1
    body_start = next((i for i in range(first, last + 1) if _is_body(lines[i], x0, width)), None)
    if body_start is None:
        return None
    body = [lines[i] for i in range(body_start, last + 1) if lines[i].segments[0].x0 >= x0 - 5]
    figures = [s for line in body for s in _values(line.segments[1:]) if s.numeric]
    if not figures:
        return None
    columns = _columns(figures)
    label_edge = min(c[0] for c in columns) - 1
    # headers: lines above the first body row (inside the region or just above it) with text over the columns
    headers: list[_Line] = []
    units: list[str] = []
    i = body_start - 1

    def on_left(s: _Segment) -> bool:  # the label column's text (units, a caption, a paragraph), not a header
        return s.x0 < label_edge - 1 and (s.x1 <= label_edge + 1 or s.x0 < x0 + 0.5 * (label_edge - x0))

    while i >= 0 and lines[i].top > claimed and lines[body_start].top - lines[i].bottom <= _HEADER_REACH:
        line = lines[i]
        left = [s for s in line.segments if on_left(s)]
        over = tuple(s for s in line.segments if not on_left(s))
        if left and not all(_is_units(s.text) for s in left):
            # a caption or a paragraph ends here; a short header on its right still belongs to the table
            if over and all(len(s.text.split()) <= 6 for s in over):
                headers.insert(0, _Line(line.top, line.bottom, over))
            break
        units.extend(s.text for s in left)
        headers.insert(0, _Line(line.top, line.bottom, over))
        i -= 1
    caption = _caption(lines, i, lines[body_start].top, claimed, units)
    column_headers = _assign_headers(headers, columns)
    rows = _rows(body, label_edge, columns, column_headers)
    source = _squash(" ".join(line.text for line in [*lines[i + 1 : body_start], *body]))
    return Table(
        caption,
        tuple(rows),
        lines[body_start].top,
        body[-1].bottom,
        _squash(caption) + source,
        sum(any(ch.isdigit() for ch in s.text) for s in figures),
    )


def _assign_headers(headers: Sequence[_Line], columns: Sequence[tuple[float, float, float]]) -> list[list[str]]:
    """Each column's header texts, top to bottom.

    A header wider than any column, above the bottom header line, is a group header ("Year Ended December 31,",
    "As of December 31, 2020"): every column takes the nearest group header of that line, so a centred group
    header reaches the columns at its edges. Other headers go to the columns they overlap (or the nearest one).
    """
    widest = max(c1 - c0 for c0, c1, _ in columns)
    found: list[list[str]] = [[] for _ in columns]

    def distance(s: _Segment, k: int) -> float:
        c0, c1, _ = columns[k]
        return max(c0 - s.x1, s.x0 - c1, 0.0)

    for n, line in enumerate(headers):
        last = n == len(headers) - 1  # the bottom header line names single columns, however wide its words
        spanning = [] if last else [s for s in line.segments if s.x1 - s.x0 > 1.2 * widest]
        for k in range(len(columns)) if spanning else ():
            found[k].append(min(spanning, key=lambda s: distance(s, k)).text)
        for s in line.segments:
            if s in spanning:
                continue
            hit = [k for k in range(len(columns)) if distance(s, k) < 2]
            for k in hit or [min(range(len(columns)), key=lambda k: distance(s, k))]:
                found[k].append(s.text)
    return found


def _caption(lines: Sequence[_Line], i: int, body_top: float, claimed: float, units: list[str]) -> str:
    """The title-like lines nearest above the table (up to a few), with the units line(s) kept."""
    titles: list[str] = []
    while i >= 0 and len(titles) < _CAPTION_LINES and lines[i].top > claimed:
        if body_top - lines[i].bottom > _CAPTION_REACH:
            break
        text = lines[i].text
        if _is_units(text) or (_SCALE.search(text) and len(text) <= 120 and not text.endswith(".")):
            units.insert(0, text)
        elif _title_like(text):
            titles.insert(0, text)
        elif titles:
            break
        else:
            break
        i -= 1
    seen: set[str] = set()
    parts = [t for t in [*titles, *units] if not (t in seen or seen.add(t))]  # type: ignore[func-returns-value]
    return " ".join(parts)


def _rows(
    body: Sequence[_Line], label_edge: float, columns: Sequence[tuple[float, float, float]], headers: list[list[str]]
) -> list[str]:
    """One line per body row: label, then the headers all columns share, then header: value pairs."""
    shared: list[str] = []
    filled = [h for h in headers if h]
    if filled:
        for depth in range(min(len(h) for h in filled)):
            if all(h[depth] == filled[0][depth] for h in filled) and len(filled) > 1:
                shared.append(filled[0][depth])
            else:
                break
    own = [" ".join(h[len(shared) :]) if h else "" for h in headers]
    out: list[str] = []
    pending_label = ""
    for line in body:
        row = _split_row(line, label_edge)
        if not row.values:
            label = row.label
            if pending_label and label[:1].islower():
                pending_label = f"{pending_label} {label}"  # a label wrapped over two lines
            else:
                if pending_label:
                    out.append(pending_label)
                pending_label = label
            continue
        label = row.label
        if pending_label:
            if not label or label[:1].islower():
                label = f"{pending_label} {label}".strip()
            else:
                out.append(pending_label)
            pending_label = ""
        cells: dict[int, list[str]] = {}
        for s in row.values:
            cells.setdefault(_column_of(s, columns), []).append(s.text)
        pairs = [f"{own[k]}: {' '.join(v)}" if own[k] else " ".join(v) for k, v in sorted(cells.items())]
        lead = " ".join(shared)
        values = "; ".join(pairs)
        text = f"{lead} {values}" if lead else values
        out.append(f"{label} — {text}" if label else text)
    if pending_label:
        out.append(pending_label)
    return out


# ---------------------------------------------------------------- page text


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


def _seeded(run: Sequence[str], source: str) -> bool:
    """Whether one to three consecutive lines of ``run`` holding two figures or more appear, in order, in the
    table's text (pypdf writes a row on one line, or each cell on a line of its own)."""
    for k in range(len(run)):
        for width in (1, 2, 3):
            window = run[k : k + width]
            if len(window) == width and len(_NUMERIC_TOKEN.findall(" ".join(window))) >= 2:
                if _squash("".join(window)) in source:
                    return True
                break
    return False


def _pad(token: str, length: int) -> str:
    return token + "q" * max(0, length - len(token))


def replace_tables(page_text: str, tables: Sequence[Table], marks: Sequence[str]) -> tuple[str, list[str]]:
    """``page_text`` with each table's own lines replaced by stand-ins; returns it and each table's token.

    A pypdf line belongs to a table when every token of it is part of the table's text (pypdf splits and glues
    words differently: "dep" + "reciation", "below6,061") and it sits in a run of such lines one of which
    appears whole, in order, in the table's text. Each line taken out is replaced by a one-word stand-in of the
    same length (the first by the table's token, the others by ``_PAD`` words), so the cleaner's line rules see
    the same line lengths and page layout as before (its paragraph joining depends on the document's line
    widths: text away from the tables comes out as it did). ``put_tables`` swaps the tokens for the blocks
    after cleaning. When the lines taken out do not hold enough of the table's figures (``_TAKEN_SHARE``), the
    text is left as it was and the token goes after it instead: the figures are then indexed twice, never lost.
    """
    lines = page_text.split("\n")
    tokens: list[str] = []
    for table, mark in zip(tables, marks, strict=True):
        covered = [bool(line.split()) and all(_squash(t) in table.source for t in line.split()) for line in lines]
        runs: list[tuple[int, int]] = []
        start = None
        for k, ok in enumerate([*covered, False]):
            if ok and start is None:
                start = k
            elif not ok and start is not None:
                runs.append((start, k))
                start = None
        # a run is the table's when a few of its lines with figures appear whole, in order, in the table's text
        # (another table's lines on the same page share words and figures, but not their sequence)
        runs = [(a, b) for a, b in runs if _seeded(lines[a:b], table.source)]
        taken = sum(len(_NUMERIC_TOKEN.findall(line)) for a, b in runs for line in lines[a:b])
        if runs and taken >= _TAKEN_SHARE * table.values:
            drop = [k for a, b in runs for k in range(a, b)]
            token = _pad(mark, len(lines[drop[0]]))
            for k in drop:
                lines[k] = token if k == drop[0] else _pad(_PAD, len(lines[k]))
        else:
            token = mark
            lines = [*lines, "", token]
        tokens.append(token)
    return "\n".join(lines), tokens


_PADS = re.compile(rf"(?<!\S){_PAD}q*(?!\S)")


def put_tables(page_text: str, blocks: Sequence[tuple[str, str]]) -> str:
    """A cleaned page with each (token, block): the token and the stand-ins after it become the block, a
    paragraph of its own; stand-ins left elsewhere are dropped (a token the cleaner lost: block at the end)."""
    for token, block in blocks:
        m = re.search(rf"\s*{re.escape(token)}(?!\S)(?:\s+{_PAD}q*(?!\S))*\s*", page_text)
        if m is None:
            page_text = f"{page_text}\n\n{block}" if page_text.strip() else block
            continue
        before, after = page_text[: m.start()], page_text[m.end() :]
        page_text = f"{before}{chr(10) * 2 if before else ''}{block}{chr(10) * 2 if after else ''}{after}"
    if _PAD in page_text:
        lines = [" ".join(_PADS.sub("", line).split()) if _PAD in line else line for line in page_text.split("\n")]
        page_text = re.sub(r"\n{3,}", "\n\n", "\n".join(line for line in lines if line is not None)).strip()
    return page_text


_ROW_LINE = re.compile(r"^\S.* — \S.*(?:: |; )\S")


def table_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of the table blocks in a document's text: paragraphs most of whose lines are rows.

    For the chunker: a block may be split only between lines, and a piece after the first should repeat the
    block's first line (the caption) as context; a row line is never split.
    """
    spans: list[tuple[int, int]] = []
    for m in re.finditer(r"[^\n](?:.|\n(?!\n))*", text):
        lines = m.group().split("\n")
        rows = sum(bool(_ROW_LINE.match(line)) for line in lines)
        if rows >= 1 and rows >= 0.5 * (len(lines) - 1):
            spans.append((m.start(), m.end()))
    return spans
