"""What a document says about itself: a title worth showing, who it is by or about, its form and period.

``describe_document`` is called by ``ingest.loaders.read_document`` for every file. Its ``meta`` keys
(all optional, all JSON scalars or lists of strings):

* ``entity``: the organisation the document is by or about ("Apple Inc."), from the cover page or the running
  headers/footers;
* ``form``: the kind of document when it states one ("10-K", "10-Q", "8-K", "annual report");
* ``period``: the period it covers, as a reader writes it ("Q3 2023", "FY2022");
* ``period_end``: that period's last day, ISO ("2023-07-01"), so documents can be ordered ("the latest 10-Q");
* ``date``: the date the document was issued or published, ISO, when it states one;
* ``ticker``: the exchange symbol the document states for its entity (a filing cover's "Trading Symbol(s)" row, a
  press release's "(NYSE: ACME)"), so a question can name the entity by it.

Everything is read from generic shapes of text: the cover page of a filing ("FORM 10-Q", "For the quarterly period
ended <date>", the line above "(Exact name of registrant as specified in its charter)", "Date of Report"), running
headers/footers ("<Company> | Q3 2023 Form 10-Q | 8"), a press release's headline ("<Company> reports ...") and a
news article's dateline. Cover-page phrases are matched on letters and digits only, because PDF text extraction
breaks words ("specif ied") and glues lines. When unsure, a key is left out: a wrong company or period misleads
retrieval more than a missing one. How often each key is found on real files: docs/metadata.md.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from assistant.types import Page
from ingest.periods import FY_LABEL as _FY_LABEL
from ingest.periods import quarter_labels as _quarter_labels
from ingest.periods import year_of as _year

__all__ = ["Described", "describe_document"]


@dataclass(frozen=True)
class Described:
    """A better title than the first line (None: keep the loader's), and the meta keys above."""

    title: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- dates

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"  # noqa: E501
# "July 1, 2023", "Jul. 1,2023", "JULY 1 2023"; "1 July 2023"; "2023-07-01" (the forms documents write dates in;
# all-numeric day/month orders are ambiguous and left out)
_DATE = re.compile(
    rf"\b(?:(?P<m1>{_MONTH})\.?\s*(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?\s*,?\s*(?P<y1>(?:19|20)\d\d)"
    rf"|(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<m2>{_MONTH})\.?,?\s+(?P<y2>(?:19|20)\d\d)"
    r"|(?P<y3>(?:19|20)\d\d)-(?P<m3>[01]\d)-(?P<d3>[0-3]\d))(?!\d)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Dated:
    """A date found in the text: its value and its spelling there (for titles)."""

    value: date
    written: str
    start: int


def _dates(text: str, start: int = 0) -> Iterable[_Dated]:
    for m in _DATE.finditer(text):
        if m.group("y1"):
            y, mo, d = int(m.group("y1")), _MONTHS[m.group("m1")[:3].lower()], int(m.group("d1"))
        elif m.group("y2"):
            y, mo, d = int(m.group("y2")), _MONTHS[m.group("m2")[:3].lower()], int(m.group("d2"))
        else:
            y, mo, d = int(m.group("y3")), int(m.group("m3")), int(m.group("d3"))
        try:
            value = date(y, mo, d)
        except ValueError:
            continue
        yield _Dated(value, " ".join(m.group().split()), start + m.start())


def _date_after(text: str, pos: int, *, within: int = 60) -> _Dated | None:
    """The first date starting at most ``within`` characters after ``pos`` (a cover-page phrase's end)."""
    for found in _dates(text[pos : pos + within + 40], pos):
        return found if found.start - pos <= within else None
    return None


# ---------------------------------------------------------------- phrases on broken text


class _Squashed:
    """Lower-case letters and digits of a text, with each one's offset in the text, to find phrases in text whose
    words PDF extraction broke ("specif ied") or glued ("ACT OF 1934For the fiscal year ended")."""

    def __init__(self, text: str) -> None:
        self.text = text
        kept = [(i, c.lower()) for i, c in enumerate(text) if c.isalnum()]
        self.offsets = [i for i, _ in kept]
        self.chars = "".join(c for _, c in kept)

    def find(self, phrase: str) -> Iterable[tuple[int, int]]:
        """(start, end) in the text of each occurrence of ``phrase`` (compared on letters and digits)."""
        key = "".join(c.lower() for c in phrase if c.isalnum())
        i = self.chars.find(key)
        while i >= 0:
            yield self.offsets[i], self.offsets[i + len(key) - 1] + 1
            i = self.chars.find(key, i + 1)


# ---------------------------------------------------------------- form and period

# "FORM 10-K", "Form 10-Q", "FORM\n8-K", "Form 20-F": the SEC's form codes, as a cover page or running line writes
_FORM = re.compile(r"\bform\s*(\d{1,2})\s*-\s*([a-z]{1,2})\b", re.IGNORECASE)
_ANNUAL = re.compile(r"\bannual\s+report\b", re.IGNORECASE)
_ANNUAL_YEAR = re.compile(
    r"\b(?:FY\s*)?((?:19|20)\d\d)\s+annual\s+report\b|\bannual\s+report\s+(?:for\s+)?(?:FY\s*)?((?:19|20)\d\d)\b",
    re.IGNORECASE,
)
_RELEASE = re.compile(
    r"\b(?:reports?|reported|announces?|announced|posts?|delivers?)\b[^\n]{0,120}\b(?:results|earnings)\b"
    r"|\b(?:earnings|results)\s+release\b",
    re.IGNORECASE,
)
_TODAY_RESULTS = re.compile(
    r"\btoday\s+(?:announced|reported|released)\b[^\n.]{0,80}?\b(?:results|earnings)\b", re.IGNORECASE
)
# how far into the text a 10-Q's statement columns and an entity's mentions are looked for (its first 15-20 pages)
_LABEL_SPAN = 60_000
# a 52/53-week fiscal year that ends in the first days of January is named after the year before
_SPILL_DAYS = 7


def _fiscal_year(end: date) -> int:
    return end.year - 1 if end.month == 1 and end.day <= _SPILL_DAYS else end.year


@dataclass(frozen=True)
class _Period:
    """A period as a reader writes it ("Q3 2023", "FY2022"), and its last day when the document states it."""

    label: str
    end: date | None = None


# How a 10-Q's statements name its year-to-date column tells which fiscal quarter it covers: "Nine Months Ended" (or
# 39 weeks) only in a third-quarter report, "Six Months Ended" (26 weeks) in a second-quarter one, neither in a first.
_YEAR_TO_DATE = (
    (3, ("nine months ended", "39 weeks ended", "thirty-nine weeks ended")),
    (2, ("six months ended", "26 weeks ended", "twenty-six weeks ended")),
)
_QUARTER_ONLY = ("three months ended", "13 weeks ended", "thirteen weeks ended")
_MIN_YTD = 2  # year-to-date headings seen at least this often (a stray mention in a note is not a column)


def _add_months(day: date, months: int) -> date:
    y, m = divmod(day.month - 1 + months, 12)
    return date(day.year + y, m + 1, min(day.day, 28))


def _fiscal_quarter(body: _Squashed, end: date) -> str | None:
    """The "Q<n> <fiscal year>" of a quarterly report ending on ``end``, from its year-to-date columns; the fiscal
    year is the one the quarter's fiscal year ends in (three months per quarter still to come). None: no columns."""
    quarter = None
    for q, phrases in _YEAR_TO_DATE:
        if sum(1 for phrase in phrases for _ in body.find(phrase)) >= _MIN_YTD:
            quarter = q
            break
    if quarter is None and any(True for phrase in _QUARTER_ONLY for _ in body.find(phrase)):
        quarter = 1
    if quarter is None:
        return None
    return f"Q{quarter} {_fiscal_year(_add_months(end, 3 * (4 - quarter)))}"


def _period_from_cover(head: _Squashed, body: _Squashed) -> _Period | None:
    """The period a cover page states: "For the fiscal year ended <date>", "For the quarterly period ended <date>"
    (the first of them on the cover; later pages cite other reports' periods)."""
    found: list[tuple[int, str, _Dated]] = []
    for phrase, kind in (("fiscal year ended", "year"), ("quarterly period ended", "quarter")):
        for _, end in head.find(phrase):
            dated = _date_after(head.text, end)
            if dated is not None:
                found.append((end, kind, dated))
                break
    if not found:
        return None
    _, kind, dated = min(found, key=lambda f: f[0])
    if kind == "year":
        return _Period(f"FY{_fiscal_year(dated.value)}", dated.value)
    label = _fiscal_quarter(body, dated.value)
    return _Period(label or f"quarter ended {dated.written}", dated.value)


def _period_from_release(lines: Sequence[str]) -> _Period | None:
    """The quarter or fiscal year a press release's headline names ("Reports Fourth-Quarter 2022 Results")."""
    headline = "\n".join(lines[:4])
    quarters = _quarter_labels(headline) or _quarter_labels("\n".join(lines[:40]))
    if quarters:
        (q, y), _ = quarters.most_common(1)[0]
        return _Period(f"Q{q} {y}")
    fy = _FY_LABEL.search(headline) or re.search(r"\b(?:full[\s-]+year|annual)\s+((?:19|20)\d\d)\b", headline, re.I)
    return _Period(f"FY{_year(fy.group(1))}") if fy else None


def _period_from_running(running: Sequence[str]) -> _Period | None:
    """A quarter or fiscal year that a running header/footer names ("Q3 2023 Form 10-Q", "FY2022 Annual Report")."""
    for line in running:
        quarters = _quarter_labels(line)
        if quarters:
            (q, y), _ = quarters.most_common(1)[0]
            return _Period(f"Q{q} {y}")
        fy = _FY_LABEL.search(line)
        if fy:
            return _Period(f"FY{_year(fy.group(1))}")
    return None


def _form_in(text: str) -> str | None:
    m = _FORM.search(text)
    return f"{m.group(1)}-{m.group(2).upper()}" if m else None


# ---------------------------------------------------------------- entity

# Words that end an organisation's name: a line ending in one of them is a company's name
_ORG_SUFFIX = re.compile(
    r"(?:\b(?:inc|incorporated|corp|corporation|company|co|plc|ltd|limited|llc|lp|l\.p|n\.v|s\.a|se|ag|sa|nv|"
    r"holdings?|group|bancorp|trust)\.?)[\s,.*\d]*$",
    re.IGNORECASE,
)
_REGISTRANT = ("exact name of registrant", "exact name of the registrant", "exact names of registrants")
_LABEL_WORDS = re.compile(
    r"commission|file number|identification|jurisdiction|incorporation|address|telephone|securities|exchange act|"
    r"pursuant|registrant|\bform\b|quarterly|annual|report|period|section|☐|☒|\(",
    re.IGNORECASE,
)
_HEADLINE_SUBJECT = re.compile(
    r"^(?P<name>[A-Z0-9][\w&.,'’-]*(?:\s+(?:&\s+)?[A-Z0-9&][\w&.,'’-]*){0,5})\s+"
    r"(?i:reports?|announces?|posts?|delivers?|declares?)\b"
)
_SUBSIDIARIES = re.compile(r"\s+and\s+(?:its\s+)?(?:consolidated\s+)?subsidiar(?:y|ies)(?:\s+companies)?\s*$", re.I)
_RUNNING_SPLIT = re.compile(r"\s*(?:\||•|·|–|—|\s-\s)\s*")
_MAX_NAME_WORDS = 8
_NOT_NAME = re.compile(
    r"\bform\s*\d{1,2}\s*-\s*[a-z]{1,2}\b|\bQ[1-4]\s*(?:FY)?'?\d{2,4}\b|\bFY\s*'?\d{2,4}\b|\bpage\s+\d+\b", re.I
)
_PAGE_EDGE = re.compile(r"^\s*\d+\s+|\s+\d+\s*$")
_NAME_SMALL_WORDS = frozenset({"&", "and", "of", "de", "du", "la", "von", "van", "der", "for", "the"})


def _clean_name(name: str) -> str:
    return " ".join(name.replace("’", "'").split()).strip(" ,;:*")


def _name_like(line: str) -> bool:
    """A short line that could be an organisation's name (not a cover-page label, a date or a number)."""
    words = line.split()
    if not 1 <= len(words) <= _MAX_NAME_WORDS or not re.search(r"[^\W\d_]{2,}", line):
        return False
    if _LABEL_WORDS.search(line) or _DATE.search(line) or line.endswith((".", ":")) and not _ORG_SUFFIX.search(line):
        return False
    return all(w[:1].isupper() or w[:1].isdigit() or w in _NAME_SMALL_WORDS or _ORG_SUFFIX.fullmatch(w) for w in words)


def _name_part(line: str) -> bool:
    """A line that can be (part of) a name on a cover page: not a label, a number, a date or a rule."""
    return bool(re.search(r"[^\W\d_]", line)) and not _LABEL_WORDS.search(line) and not _DATE.search(line)


def _entity_from_cover(head: _Squashed) -> str | None:
    """The registrant's name: the line(s) just above "(Exact name of registrant as specified in its charter)".

    Covers whose extraction put each word on a line of its own ("SQUARE,\nINC.(Exact name") are joined back, up to
    ``_MAX_NAME_WORDS`` words and stopping at a label ("Commission File Number"), a number or a blank line.
    """
    text = head.text
    for phrase in _REGISTRANT:
        for start, _ in head.find(phrase):
            line_start = text.rfind("\n", 0, start) + 1
            parts: list[str] = []
            same_line = text[line_start:start].rstrip(" (\t")
            if same_line.strip():
                parts.append(same_line.strip())
            for line in reversed(text[max(0, line_start - 400) : max(0, line_start - 1)].split("\n")):
                line = line.strip()
                if not line:
                    if parts:
                        break
                    continue
                if not _name_part(line) or len(" ".join([line, *parts]).split()) > _MAX_NAME_WORDS:
                    break
                parts.insert(0, line)
            name = _clean_name(" ".join(parts))
            if name and _name_like(name.replace(" .", ".")):
                return name.replace(" .", ".")
    return None


def _entity_from_running(running: Sequence[str]) -> str | None:
    """An organisation named by a running header/footer: the part that is not a form, period or page number."""
    for line in running:
        parts = [_clean_name(_SUBSIDIARIES.sub("", p)) for p in _RUNNING_SPLIT.split(line)]
        for part in parts:
            if _FORM.search(part) or _quarter_labels(part) or _FY_LABEL.search(part) or _DATE.search(part):
                continue
            if _ORG_SUFFIX.search(part) and _name_like(part):
                return part
        if len(parts) > 1 and any(_FORM.search(p) or _quarter_labels(p) for p in parts):
            rest = [p for p in parts if _name_like(p) and not (_FORM.search(p) or _quarter_labels(p))]
            if rest:
                return rest[0]
        # no separators ("Acme Inc. Q3 2023 Form 10-Q 8"): what is left without the form, period and page number
        bare = _clean_name(_PAGE_EDGE.sub("", _NOT_NAME.sub(" ", line)))
        if bare != _clean_name(line) and _ORG_SUFFIX.search(bare) and _name_like(bare):
            return bare
    return None


def _entity_from_suffix(head: str) -> str | None:
    """The first short line of the cover that ends like a company's name ("ACME WIDGETS CORPORATION")."""
    for line in head.split("\n")[:80]:
        line = _clean_name(line)
        if _ORG_SUFFIX.search(line) and _name_like(line) and len(line.split()) >= 2:
            return line
    return None


# a mixed-case organisation name in running text: capitalised words ending in a company suffix ("Acme Widgets Inc.")
_ORG_MENTION = re.compile(
    r"\b(?:The\s+)?(?!(?:The|Our|This|That|Each|Such|An?|Its|Their|Parent|Holding|Operating)\b)"
    r"[A-Z][\w&'.-]*(?:,?\s+(?:&\s+)?[A-Z][\w&'.-]*){0,4},?\s+"
    r"(?:Inc\.|Incorporated|Corporation|Company|Corp\.|plc|PLC|Ltd\.|Limited|LLC|N\.V\.|S\.A\.|AG|SE)(?!\w)"
)
_MIN_MENTIONS = 2


def _entity_from_mentions(text: str) -> str | None:
    """The organisation a filing names most (``_MIN_MENTIONS`` times or more, more than any other): its filer, when
    the cover names it only in an image."""
    counts = Counter(" ".join(m.group().split()) for m in _ORG_MENTION.finditer(text)).most_common(2)
    if not counts:
        return None
    name, n = counts[0]
    clear = len(counts) == 1 or counts[1][1] < n
    return name if n >= _MIN_MENTIONS and clear and _name_like(name) else None


def _entity_from_headline(first_lines: Sequence[str]) -> str | None:
    """The subject of a press release's headline: "<Company> reports ...", "<Company> announces ..."."""
    for line in first_lines[:3]:
        m = _HEADLINE_SUBJECT.match(line)
        if m:
            return _clean_name(m.group("name"))
    return None


def _as_written(name: str, text: str) -> str:
    """A name the cover writes in capitals ("ACME WIDGETS, INC.") or with broken words ("ACME W IDGETS") as the
    text writes it in mixed case most often ("Acme Widgets, Inc."), when it does; else as found."""
    if not name.isupper() and " ".join(name.split()) == name and not re.search(r"\b[^\W\d_]\b", name):
        return name
    chars = [c for c in name if c.isalnum()]
    if not chars:
        return name
    # the same letters and digits, with at most a few spaces or punctuation marks between them, on one line
    pattern = re.compile(
        r"(?<![^\W_])"
        + r"[^\w\n]{0,3}".join(re.escape(c) for c in chars)
        + r"(?![^\W_])"
        + (r"\.?" if name.endswith(".") else ""),
        re.IGNORECASE,
    )
    variants = Counter(m.group() for m in pattern.finditer(text) if not m.group().isupper())
    variants = Counter({" ".join(v.split()): n for v, n in variants.items() if v.count(" ") <= name.count(" ")})
    # the same words first: extraction also glues words ("AcmeWidgets, Inc.")
    same = Counter({v: n for v, n in variants.items() if v.count(" ") == name.count(" ")})
    return (same or variants).most_common(1)[0][0] if variants else name


# "Acme Widgets, Inc. (NYSE: ACME)", "(NASDAQ: WIDG)": the company a press release is by
_TICKER = re.compile(r"\((?:NYSE|NASDAQ|Nasdaq|NYSE American|NYSE Arca|TSX|LSE|ASX|OTC\w*)\s*:\s*[A-Z.]{1,6}\)")
_LEAD_IN = re.compile(r".*(?:--|–|—|\s-\s|\)|\n|\bby\s)", re.DOTALL)


def _entity_from_ticker(head: str) -> str | None:
    """The name just before the first exchange ticker ("– Acme Widgets, Inc. (NYSE: ACME) today reported")."""
    m = _TICKER.search(head)
    if m is None:
        return None
    before = head[max(0, m.start() - 100) : m.start()]
    name = _clean_name(_LEAD_IN.sub("", before))
    return name if _name_like(name) else None


# a cover page's table of listed securities: "Title of each class  Trading Symbol(s)  Name of each exchange ...",
# then "Common Stock, par value $0.01 per share  ACME  New York Stock Exchange" (its first row: the common stock)
_TRADING_SYMBOL = re.compile(r"trading\s+symbols?(?:\s*\(s\))?", re.IGNORECASE)
_LISTED = re.compile(
    r"(?<![\w/$.,%-])([A-Z]{1,5}(?:\.[A-Z])?)\s+(?:The\s+)?(?:New\s+York\s+Stock\s+Exchange|NYSE|Nasdaq|NASDAQ|Cboe|"
    r"Chicago\s+Stock\s+Exchange)\b"
)
_SYMBOL_SPAN = 600  # characters after "Trading Symbol(s)" in which its first row is looked for


def _ticker(head: str, release: bool) -> str | None:
    """The exchange symbol the document states for itself: its cover's first "Trading Symbol(s)" row, or a
    press release's first "(NYSE: ACME)"."""
    heading = _TRADING_SYMBOL.search(head)
    if heading is not None:
        listed = _LISTED.search(head, heading.end(), heading.end() + _SYMBOL_SPAN)
        return listed.group(1) if listed else None
    if release:
        m = _TICKER.search(head[:_RELEASE_CHARS])
        return m.group(0).split(":")[1].strip(" )").rstrip(".") if m else None
    return None


# ---------------------------------------------------------------- dates of issue


_PUBLISHED = re.compile(
    r"^(?:(?:published|posted|updated|last updated|date|released?)\b[:\s]*(?:on\s+)?)?"
    r"(?:(?:mon|tues?|wed(?:nes)?|thu(?:rs)?|fri|sat(?:ur)?|sun)(?:day)?\.?,?\s*)?$",
    re.IGNORECASE,
)
# what follows a date in a dateline: "... March 3, 2024 -- Acme ...", "(March 3, 2024) –", "March 3, 2024 /PRNewswire/"
_DATELINE_TAIL = re.compile(r"^\s*(?:--|[-–—/)])")
_DATELINE_HEAD = re.compile(r"(?:,|\(|--|[-–—])\s*$")
_DATE_LINES = 12
_DATELINE_DATES = 20  # dates looked at (a table of dates on the first page is not a dateline)
_DATELINE_CHARS = 120  # a dateline's date comes after at most a place name
_RELEASE_DATE_LINES = 40  # a press release's dateline follows its headline and highlights


def _issue_date(head: _Squashed, lines: Sequence[str], *, dateline: bool, release: bool = False) -> _Dated | None:
    """When the document says it was issued: "Date of Report ...: <date>", a "Dated:" line, and (``dateline``:
    not on a filing's cover, whose lone dates are period ends) a date line or dateline near the start."""
    for _, end in head.find("date of report"):
        found = _date_after(head.text, end)
        if found is not None:
            return found
    for m in re.finditer(r"(?im)^[ \t]*dated?[ \t]*(?:as of)?[ \t]*:?[ \t]*", head.text):
        found = _date_after(head.text, m.end(), within=2)
        if found is not None:
            return found
    if not dateline:
        return None
    opening = "\n".join(lines[: _DATE_LINES if not release else _RELEASE_DATE_LINES])
    for n, found in enumerate(_dates(opening)):
        line_start = opening.rfind("\n", 0, found.start) + 1
        if n >= _DATELINE_DATES:
            break
        if found.start - line_start > _DATELINE_CHARS:
            continue  # a date inside a paragraph, not a dateline
        before = opening[line_start : found.start]
        end = found.start + len(found.written)
        raw_end = end
        while raw_end < len(opening) and len(" ".join(opening[found.start : raw_end].split())) < len(found.written):
            raw_end += 1
        rest = opening[raw_end:]
        line_rest = rest.split("\n", 1)[0]
        alone = _PUBLISHED.match(before.strip()) is not None and len(line_rest.split()) <= 4  # "May 12, 2025 10:30"
        dated_line = (alone or _DATELINE_HEAD.search(before)) and (alone or _DATELINE_TAIL.match(rest))
        if dated_line:
            return found
    return None


# ---------------------------------------------------------------- titles

_BOILERPLATE_LINE = re.compile(
    r"^(?:united states|securities and exchange commission|washington,? d\.?\s?c\.?.*|table of contents|contents|"
    r"index|confidential|draft|privileged.*|for immediate release|news release|press release|exhibit [\d.]+|"
    r"form \S+|\(mark one\)|page \d+.*|home|menu|skip to .*|advertisement|share|print|subscribe.*|sign in|log in|"
    r".*cookie.*|.*privacy policy.*|.*pursuant to .*|.*☐.*|.*☒.*|for the (?:fiscal )?(?:year|quarter|quarterly period|"
    r"transition period)\b.*|commission file.*|\(?exact name of .*)$",
    re.IGNORECASE,
)
_TITLE_WORDS = (2, 20)
_TITLE_CHARS = 120  # as the loader truncates its first-line titles
_TITLE_LINES = 25


_ADDRESS = re.compile(r"[^\s@]{1,64}@[^\s@]{1,253}\.\w|://|^www\.")  # bounded: linear on long lines


def _bad_title(line: str) -> bool:
    """A first line no reader wants as a title: cover-page boilerplate, a date, a number, an address."""
    bare = line.strip(" #*>-•:|")
    if not re.search(r"[^\W\d_]{2,}", bare) or _BOILERPLATE_LINE.match(bare):
        return True
    dated = _DATE.search(bare)
    return bool(dated and len(bare) - len(dated.group()) < 8) or bool(_ADDRESS.search(bare))


def _title_like(line: str) -> bool:
    words = line.split()
    if not _TITLE_WORDS[0] <= len(words) <= _TITLE_WORDS[1] or _bad_title(line):
        return False
    if line.startswith(("(", "•", "·", "-", "–", "*", "▪")) or line.endswith((",", ";", ":")):
        return False
    letters = sum(c.isalpha() for c in line)
    return letters >= 0.6 * len(line.replace(" ", "")) and not re.search(r"[.!?]\s+[A-Z]", line)


def _first_lines(text: str, limit: int = _TITLE_LINES * 2) -> list[str]:
    lines: list[str] = []
    for raw in text.split("\n"):
        line = " ".join(raw.split())
        if line:
            lines.append(line)
            if len(lines) >= limit:
                break
    return lines


def _heuristic_title(lines: Sequence[str], *, first_bad: bool = True) -> str | None:
    """The first title-like line near the start when the first line (the loader's fallback) is boilerplate;
    None keeps the loader's title. ``first_bad=False``: the declared title is the boilerplate, so any line may do."""
    if first_bad and (not lines or not _bad_title(lines[0])):
        return None
    return next((line for line in lines[:_TITLE_LINES] if _title_like(line)), None)


def _filing_title(entity: str, form: str | None, period: _Period | None, issued: _Dated | None) -> str:
    when = period.label if period is not None else (issued.written if issued is not None else None)
    return " ".join(part for part in (entity, form, when) if part)


_DANGLING = re.compile(r"\b(?:a|an|the|of|and|or|to|in|on|for|with|from|by|at|as|full-year|fiscal)$", re.IGNORECASE)
_HEADLINE_WORDS = 25
_SHORT_TAIL = 2
_WRAPPED_WORDS = 8  # a headline's next line of at most this many words is its wrapped end ("... Raises\nGuidance")


def _release_headline(opening: Sequence[str]) -> str | None:
    """A press release's headline ("Acme Reports Fourth-Quarter 2023 Results"), with its wrapped second line."""
    for i, line in enumerate(opening[:3]):
        nxt = opening[i + 1] if i + 1 < len(opening) else ""
        joined = f"{line} {nxt}".strip()
        if len(line.split()) > _HEADLINE_WORDS or _DATE.search(line):
            continue  # a dateline's first sentence, not a headline
        if _RELEASE.search(line) and not line.startswith(("•", "-", "*")):
            # the next line continues it, unless it is a bullet, a dateline or a (reflowed) sentence of its own
            wrapped = nxt and not nxt.startswith(("•", "-", "*")) and not _DATE.search(nxt) and not _RELEASE.search(nxt)
            wrapped = wrapped and len(nxt.split()) <= _WRAPPED_WORDS
            if wrapped and (_DANGLING.search(line) or len(nxt.split()) <= _SHORT_TAIL):
                return joined
            return line
        if nxt and _RELEASE.search(joined) and not _RELEASE.search(nxt):
            return joined
    return None


def _truncate(line: str, limit: int = _TITLE_CHARS) -> str:
    line = " ".join(line.split())
    if len(line) <= limit:
        return line
    return (line[:limit].rsplit(" ", 1)[0] or line[:limit]).rstrip(" ,;:-–—") + "…"


# ---------------------------------------------------------------- entry point

_HEAD_PAGES = 3
_HEAD_CHARS = 20_000
_COVER_LINES = 15  # a filing's form code sits in the first lines of its cover ("FORM 10-Q")
_RELEASE_CHARS = 3000  # a press release says who reports what in its first paragraph


def _head(text: str, pages: Sequence[Page]) -> str:
    """The first pages (the cover and what follows it), at most ``_HEAD_CHARS`` characters."""
    end = pages[min(_HEAD_PAGES, len(pages)) - 1].end if pages else _HEAD_CHARS
    return text[: min(end, _HEAD_CHARS)]


def describe_document(
    text: str,
    *,
    pages: Sequence[Page] = (),
    running: Sequence[str] = (),
    title: str | None = None,
    source: str = "",
) -> Described:
    """Work out title, entity, form, period and date from the text's first pages and its running lines.

    ``title`` is the title the file itself declares (PDF metadata, HTML <title>, a Markdown heading), if any.
    A filing (a form code on its cover or running lines, and an entity) is titled "<entity> <form> <period>";
    otherwise the declared title is kept, and a first line that is boilerplate ("UNITED STATES", "Table of
    Contents", a date) gives way to the first title-like line after it.
    """
    head_text = _head(text, pages)
    head = _Squashed(head_text)
    body = _Squashed(text[:_LABEL_SPAN])
    lines = _first_lines(head_text)
    opening = [line for line in lines if not _bad_title(line)]

    cover_form = _form_in("\n".join(lines[:_COVER_LINES]))
    form = cover_form or _form_in("\n".join(running))
    release = cover_form is None and bool(
        _RELEASE.search("\n".join(opening[:4])) or _TODAY_RESULTS.search(head_text[:_RELEASE_CHARS])
    )
    if form is None and release:
        form = "earnings release"
    if form is None and _ANNUAL.search("\n".join(lines[:8])):
        form = "annual report"

    # a cover's "for the fiscal year ended" is the document's period; elsewhere it is often another report's
    period = _period_from_release(opening) if release else None
    if period is None and (cover_form is not None or form == "annual report"):
        period = _period_from_cover(head, body)
    if period is None and form == "annual report":
        year = _ANNUAL_YEAR.search("\n".join(lines[:8]))
        period = _Period(f"FY{_year(year.group(1) or year.group(2))}") if year else None
    # a quarter a running line states ("Q3 2023 Form 10-Q") wins over one derived from the statements' columns
    from_running = _period_from_running(running)
    if from_running is not None and (period is None or from_running.label.startswith("Q")):
        period = _Period(from_running.label, period.end if period is not None else None)

    entity = _entity_from_cover(head) or _entity_from_running(running)
    if entity is None and cover_form is not None:
        entity = _entity_from_suffix(head_text) or _entity_from_mentions(body.text)
    if entity is None and form == "annual report":
        entity = _entity_from_suffix("\n".join(lines[:8]))
    if entity is None and release:
        entity = _entity_from_ticker(head_text[:_RELEASE_CHARS]) or _entity_from_headline(opening)
    if entity is not None:
        entity = _as_written(entity, text)

    issued = _issue_date(head, lines, dateline=cover_form is None, release=release)
    meta: dict[str, Any] = {}
    if entity:
        meta["entity"] = entity
    if form:
        meta["form"] = form
    if period is not None:
        meta["period"] = period.label
        if period.end is not None:
            meta["period_end"] = period.end.isoformat()
    if issued is not None:
        meta["date"] = issued.value.isoformat()
    ticker = _ticker(head_text, release) if entity else None
    if ticker:
        meta["ticker"] = ticker

    described_title: str | None = None
    headline = _release_headline(opening) if release else None
    if entity and cover_form:
        described_title = _filing_title(entity, form, period, issued)
    elif headline:
        described_title = _truncate(headline)
    elif release and entity and period is not None:
        described_title = f"{entity} {period.label} results"
    elif title is None:
        described_title = _heuristic_title(lines)
    elif _bad_title(title):
        described_title = _heuristic_title(lines, first_bad=False)
    return Described(_truncate(described_title) if described_title else None, meta)
