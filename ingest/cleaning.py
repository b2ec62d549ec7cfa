"""Rule-based removal of page furniture from extracted text.

Scraped pages and exported documents carry text that is not part of the
content: cookie and consent banners, consent buttons, share bars, image
captions and photo credits, "X logo" lines, copyright lines, and a site's
about-blurb after its footer logo. ``clean_text`` drops such *lines* with a few
general rules (vocabulary, patterns, lines repeated in the document, a footer
zone at the end) and normalises whitespace: one space inside lines, paragraphs
separated by exactly one blank line. Content lines are kept verbatim apart
from that whitespace normalisation.

``clean_pages`` does the same for the pages of a PDF, where it also removes
page numbers and running headers/footers and re-flows hard-wrapped lines.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence

__all__ = ["clean_pages", "clean_text", "normalize_whitespace"]

# ---------------------------------------------------------------- whitespace

# Zero-width and format characters that only get in the way of matching/quoting.
_INVISIBLE = {ord(c): None for c in "\u200b\u2060\ufeff\u00ad"}
# Other C0/C1 control characters (tab and newline are handled as whitespace).
_CONTROLS = [*range(0x00, 0x09), *range(0x0E, 0x1C), 0x7F, *range(0x80, 0x85), *range(0x86, 0xA0)]
_INVISIBLE.update(dict.fromkeys(_CONTROLS))
_LINE_BREAKS = re.compile(r"\r\n|[\r\v\f\x85\u2028\u2029]")
_INLINE_SPACE = re.compile(r"[^\S\n]+")


def normalize_whitespace(text: str) -> list[str]:
    """NFC-normalise ``text`` and return its lines, each with whitespace collapsed and stripped."""
    text = unicodedata.normalize("NFC", _LINE_BREAKS.sub("\n", text)).translate(_INVISIBLE)
    return [_INLINE_SPACE.sub(" ", line).strip() for line in text.split("\n")]


# ---------------------------------------------------------------- vocabulary

# Interface labels that are never content when they make up a whole line
# (compared lower-cased, punctuation removed).
_UI_LABELS = frozenset(
    {
        "advertisement", "advertising", "ad", "sponsored", "sponsored content", "promoted", "paid content",
        "search", "search trends", "trending", "trending now", "trending topics", "hot topics",
        "share", "share this", "share this article", "share this story", "share article", "share on facebook",
        "share on twitter", "share on x", "share via email", "copy link", "link copied", "print", "email", "e-mail",
        "facebook", "twitter", "linkedin", "whatsapp", "reddit", "pinterest", "telegram", "weibo", "wechat",
        "read more", "read the full story", "continue reading", "see more", "show more", "load more", "view more",
        "more", "click here", "related", "related articles", "related stories", "related posts", "related news",
        "recommended", "recommended for you", "you may also like", "you might also like", "more stories",
        "more from this section", "most popular", "most read", "most viewed", "popular", "editors picks",
        "tags", "topics", "comments", "leave a comment", "leave a reply", "view comments", "show comments",
        "subscribe", "subscribe now", "newsletter", "sign up", "sign in", "log in", "login", "register",
        "menu", "main menu", "navigation", "skip to content", "skip to main content", "back to top",
        "scroll to top", "next article", "previous article", "next post", "previous post", "home", "loading",
        "follow us", "listen", "listen to this article", "watch", "play video", "hide caption",
        "toggle caption", "enlarge this image", "expand", "close", "image", "photo", "video", "audio",
    }
)  # fmt: skip

# Consent-banner buttons.
_CONSENT_BUTTONS = frozenset(
    {
        "i agree", "agree", "i accept", "accept", "accept all", "accept all cookies", "accept cookies",
        "allow", "allow all", "allow cookies", "allow all cookies", "reject", "reject all", "decline",
        "i decline", "ok", "okay", "got it", "ok got it", "agree and close", "accept and close",
        "accept and continue", "agree and continue", "manage cookies", "cookie settings", "cookie preferences",
        "manage preferences", "manage options", "manage settings", "customize", "customise", "more options",
        "necessary only", "only necessary", "necessary cookies only", "save preferences", "save settings",
        "dismiss", "continue", "confirm my choices", "reject non-essential", "accept necessary",
    }
)  # fmt: skip

# Labels that may arrive glued to the next line's text ("Search TrendsUS Refocuses ...").
_GLUED_LABELS = sorted(
    [
        "search trends", "trending now", "trending topics", "hot topics", "advertisement", "sponsored content",
        "sponsored", "read more", "continue reading", "related articles", "related stories", "related posts",
        "related news", "recommended for you", "you may also like", "you might also like", "most popular",
        "most read", "most viewed", "share this article", "share this story", "skip to content",
        "skip to main content", "listen to this article", "back to top", "trending",
    ],
    key=len,
    reverse=True,
)  # fmt: skip
_GLUED_PREFIX = re.compile(r"^(?i:" + "|".join(re.escape(x) for x in _GLUED_LABELS) + r")(?=[A-Z0-9\"'“‘])")
_GLUED_SUFFIX = re.compile(r"(?<=[.!?\"”’])\s*(?i:" + "|".join(re.escape(x) for x in _GLUED_LABELS) + r")$")

_COOKIE = re.compile(r"\bcookies?\b", re.IGNORECASE)
_CONSENT_CONTEXT = re.compile(
    r"\b(?:our|this) (?:web)?site\b|\byou (?:agree|consent|accept)\b|\bby (?:continuing|clicking|using|browsing)\b"
    r"|\bwe (?:and our partners )?use\b|\b(?:cookie|privacy) (?:policy|settings|preferences|statement|notice)\b"
    r"|\byour (?:browser|consent|preferences|choices)\b"
    r"|\bmanage (?:your )?(?:cookies|preferences|settings)\b|\bconsent\b",
    re.IGNORECASE,
)
_CONSENT_NO_COOKIE = re.compile(
    r"\b(?:we and our (?:\d+ )?partners|store and/or access information on a device|legitimate interest"
    r"|personali[sz]ed (?:ads|advertising) and content)\b",
    re.IGNORECASE,
)
_POLICY_HEADING = re.compile(
    r"\b(?:cookies?|privacy|consent|gdpr)\b.*\b(?:policy|policies|statement|notice|settings|preferences|banner)\b"
    r"|^(?:cookies?|privacy|cookie consent)$",
    re.IGNORECASE,
)
_COPYRIGHT = re.compile(r"^(?:©|\(c\)|copyright\b)|©\s*(?:\d{4}|[A-Z])|\ball rights reserved\b", re.IGNORECASE)
_LOGO = re.compile(r"^(?:[A-Z0-9][\w&.'’\-]*\s+){1,4}(?:[Ll]ogos?|LOGOS?)$")
_CAPTION = re.compile(
    r"^(?:photo|photos|image|images|picture|file photo|representative image|illustrative image|illustration"
    r"|graphic|photograph|photo credit|image credit|credit|credits|source|video|screenshot)\s*[:.|/\-–—]"
    r"|\((?:photo|image|picture|credit)s?\b[^)]*\)$"
    r"|\b(?:getty images|shutterstock|istock(?:photo)?|alamy|ap photo|afp photo|reuters/|xinhua/|photo by"
    r"|photograph by|image by|photo courtesy|image courtesy|courtesy photo)\b",
    re.IGNORECASE,
)
_CREDIT = re.compile(r"\s/\s?[A-Z][\w&.\-]*(?: [A-Z][\w&.\-]*){0,3}$")  # "... /VCG", "... / Xinhua"
_NAME = r"[A-Z][\w.'’\-]*(?: [A-Z][\w.'’\-]*){0,3}"
_BYLINE = re.compile(rf"^(?i:by|written by|reported by|words by|text by):? {_NAME}(?:(?:,| and| &) {_NAME})*$")
_BREADCRUMB_SEP = re.compile(r"\s*[›»•·]\s*")
_WELCOME = re.compile(r"^welcome to\b", re.IGNORECASE)
_BLURB = re.compile(
    r"^welcome to\b|\b(?:our|my) (?:aim|mission|vision|goal|team|readers|community|platform|site|website|magazine"
    r"|newsletter)\b|\bthis is the (?:largest|leading|best|premier|number one|official)\b"
    r"|\b(?:about|contact|follow|join) us\b|\bsubscribe to\b",
    re.IGNORECASE,
)
_FOOTER_LABELS = frozenset(
    {"about us", "contact us", "follow us", "privacy policy", "terms of use", "terms of service",
     "terms and conditions", "sitemap", "site map", "careers", "advertise with us", "connect with us"}
)  # fmt: skip
_PAGE_NUMBER = re.compile(r"^(?:page\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?$|^[-–—]\s*\d{1,4}\s*[-–—]$", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")
_TERMINAL = re.compile(r"[.!?:…。！？][\"'”’)\]]*$")

_SHORT_WORDS = 8
_SHORT_CHARS = 80
# The rules for short lines (captions, credits, bylines, logos, copyright, breadcrumbs, policy headings) count
# words; a line of few words can still be megabytes long, and some of those patterns rescan the rest of the line
# from every match start. Longer lines are never such furniture, and skipping them keeps cleaning linear.
_RULE_CHARS = 1000
_TAIL_SHARE = 0.3  # the footer zone is at most this share of the document's characters


def _key(line: str) -> str:
    """A line reduced to lower-case words: how labels and repeated lines are compared."""
    return " ".join(re.sub(r"[^\w\s-]", " ", line.lower()).replace("_", " ").split())


def _words(line: str) -> int:
    return len(line.split())


def _is_consent(line: str) -> bool:
    n = _words(line)
    if n > 120:
        return False
    if _COOKIE.search(line) and _CONSENT_CONTEXT.search(line):
        return True
    if _CONSENT_NO_COOKIE.search(line) and re.search(r"\bconsent\b", line, re.IGNORECASE):
        return True
    return n <= 10 and len(line) <= _RULE_CHARS and not _TERMINAL.search(line) and bool(_POLICY_HEADING.search(line))


def _is_breadcrumb(line: str) -> bool:
    parts = [p for p in _BREADCRUMB_SEP.split(line) if p]
    return len(parts) >= 2 and all(_words(p) <= 4 for p in parts)


def _is_furniture(line: str) -> bool:
    """Line-level rules that do not depend on the rest of the document."""
    key = _key(line)
    if not key:
        # punctuation-only lines ("***", "---", "|"): separators, not content
        return not any(ch.isalnum() for ch in line)
    if key in _UI_LABELS or key in _CONSENT_BUTTONS:
        return True
    if _is_consent(line):
        return True
    if len(line) > _RULE_CHARS:
        return False
    n = _words(line)
    if n <= 30 and _COPYRIGHT.search(line):
        return True
    if n <= 6 and _LOGO.match(line):
        return True
    if n <= 15 and (_CAPTION.search(line) or _CREDIT.search(line) or _BYLINE.match(line)):
        return True
    return n <= 20 and _is_breadcrumb(line)


def _is_footer_marker(line: str) -> bool:
    """Lines after which a page's remaining text is site boilerplate (when near the end)."""
    if len(line) > _RULE_CHARS:
        return False
    n = _words(line)
    return bool(
        (n <= 6 and _LOGO.match(line))
        or (n <= 30 and _COPYRIGHT.search(line))
        or _WELCOME.match(line)
        or _key(line) in _FOOTER_LABELS
    )


def _is_tail_boilerplate(line: str) -> bool:
    """In the footer zone: site names and links (short, unpunctuated), about-blurbs, footer markers."""
    return (
        _is_footer_marker(line)
        or (_words(line) <= _SHORT_WORDS and not _TERMINAL.search(line))
        or bool(_BLURB.search(line))
    )


def _strip_glued_labels(line: str) -> str:
    m = _GLUED_PREFIX.match(line)
    if m and line[m.end() - 1].islower():
        line = line[m.end() :].lstrip()
    m = _GLUED_SUFFIX.search(line)
    if m and m.start() > 0:
        line = line[: m.start()].rstrip()
    return line


def _filter(lines: list[str], *, repeated: bool, footer: bool) -> list[str]:
    """Replace furniture lines by blank lines (so they also end the paragraph they were in)."""
    lines = [_strip_glued_labels(line) if line else line for line in lines]
    keep = [bool(line) and not _is_furniture(line) for line in lines]

    if repeated:
        counts = Counter(
            _key(line) for line in lines if line and _words(line) <= _SHORT_WORDS and len(line) <= _SHORT_CHARS
        )
        counts = Counter({k: c for k, c in counts.items() if c >= 2 and k})
        if counts:
            first = next((i for i, ok in enumerate(keep) if ok), -1)
            for i, line in enumerate(lines):
                if keep[i] and _key(line) in counts and _words(line) <= _SHORT_WORDS and len(line) <= _SHORT_CHARS:
                    # a title echoed as a heading keeps its first occurrence
                    keep[i] = i == first and _words(line) >= 3

    if footer:
        total = sum(len(line) + 1 for line in lines)
        tail = 0
        cut = None
        for i in range(len(lines) - 1, 0, -1):
            tail += len(lines[i]) + 1
            if tail > _TAIL_SHARE * total:
                break
            if lines[i] and _is_footer_marker(lines[i]):
                cut = i
        if cut is not None and any(keep[:cut]):
            for i in range(cut, len(lines)):
                keep[i] = keep[i] and not _is_tail_boilerplate(lines[i])

    return [line if ok else "" for line, ok in zip(lines, keep, strict=True)]


def _assemble(lines: Sequence[str]) -> str:
    """Join lines, with exactly one blank line between paragraphs."""
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        if line:
            current.append(line)
        elif current:
            paragraphs.append("\n".join(current))
            current = []
    if current:
        paragraphs.append("\n".join(current))
    return "\n\n".join(paragraphs)


def _no_check() -> None:
    return None


def clean_text(text: str, *, check: Callable[[], None] | None = None) -> str:
    """Drop page furniture from plain (or HTML-extracted) text and normalise its whitespace.

    Whitespace runs inside a line become one space, lines are stripped, and
    paragraphs are separated by exactly one blank line. Lines that are
    furniture are removed: cookie/consent notices and their buttons, interface
    labels ("Share", "Advertisement", "Read more", "Search Trends", also when
    glued to the next title), captions and photo credits, "By <Name>" bylines, short lines repeated
    in the document, "X logo" lines, copyright lines, and the site boilerplate
    (site name, links, about-blurb) that follows a footer logo/copyright/
    "Welcome to ..." line near the end; real sentences there are kept.
    ``check`` is called between the cleaning steps (a deadline check may raise from it).
    """
    tick = check or _no_check
    lines = normalize_whitespace(text)
    tick()
    lines = _filter(lines, repeated=True, footer=True)
    tick()
    return _assemble(lines)


# ---------------------------------------------------------------- PDF pages


def _drop_page_numbers(lines: list[str]) -> list[str]:
    content = [i for i, line in enumerate(lines) if line]
    for i in content[:1] + content[-1:]:
        if _PAGE_NUMBER.match(lines[i]):
            lines[i] = ""
    return lines


def _page_key(line: str) -> str:
    """How running headers/footers are compared across pages: the line's key with digits normalised."""
    return _DIGITS.sub("#", _key(line))


def _zone(lines: list[str]) -> list[int]:
    """Indices of the lines where running headers and footers sit: the first and last two with text."""
    content = [i for i, line in enumerate(lines) if line]
    return sorted(set(content[:2] + content[-2:]))


def _running_lines(pages: list[list[str]]) -> set[str]:
    """Keys of header/footer lines repeated at the top or bottom of several pages.

    A key that also fills the body of the pages it sits on (table rows, list items that differ only in their
    numbers) is content, not a running header.
    """
    if len(pages) < 2:
        return set()
    seen: Counter[str] = Counter()
    in_body: Counter[str] = Counter()
    for lines in pages:
        zone = _zone(lines)
        keys = {_page_key(lines[i]) for i in zone if _words(lines[i]) <= 15}
        keys.discard("")
        seen.update(keys)
        if keys:
            body = {_page_key(line) for i, line in enumerate(lines) if line and i not in zone}
            in_body.update(keys & body)
    return {k for k, c in seen.items() if c >= 2 and c >= 0.3 * len(pages) and in_body[k] <= 0.2 * c}


def _drop_running(lines: list[str], running: set[str]) -> list[str]:
    """Blank the running header/footer lines at the top and bottom of a page; never all of a page's text."""
    dropped = [i for i in _zone(lines) if _page_key(lines[i]) in running]
    if not dropped or len(dropped) == sum(1 for line in lines if line):
        return lines
    out = list(lines)
    for i in dropped:
        out[i] = ""
    return out


def _reflow(lines: list[str], width: float) -> list[str]:
    """Join hard-wrapped lines into paragraphs; short lines end a paragraph or are headings."""
    out: list[str] = []
    parts: list[str] = []  # the current paragraph's lines and separators (joined once: linear in the page)
    last = ""  # the previous physical line
    for line in lines:
        if not line:
            if parts:
                out.extend(["".join(parts), ""])
                parts = []
            continue
        if not parts:
            parts = [line]
            last = line
            continue
        full = len(last) >= 0.75 * width
        if full and last.endswith("-") and len(last) > 1 and last[-2].isalpha() and line[:1].islower():
            parts[-1] = parts[-1][:-1]  # de-hyphenate "in-\ntegrity"
            parts.append(line)
        elif full:
            parts.extend([" ", line])
        elif _TERMINAL.search(last):
            out.extend(["".join(parts), ""])
            parts = [line]
        else:
            parts.extend(["\n", line])
        last = line
    if parts:
        out.append("".join(parts))
    return "\n".join(out).split("\n")


def clean_pages(
    pages: Sequence[str], *, check: Callable[[], None] | None = None, running_out: list[str] | None = None
) -> list[str]:
    """Clean the text of each page of a paginated document (one string per input page).

    Besides the line rules of ``clean_text`` (without the repeated-line and
    footer-zone rules, which misfire on pages), page numbers and running
    headers/footers (lines at the top or bottom of many pages that differ at most
    in their digits, and do not also fill the pages' bodies) are removed, and
    hard-wrapped lines are joined into paragraphs (de-hyphenating words split at
    a line end). A page with text never loses all of it to the running-line rule.
    ``check`` is called between pages (a deadline check may raise from it). ``running_out``, when given,
    receives one example of each running header/footer removed (its first occurrence, as written): what
    they say (company, form, period) is document metadata even though it is not body text.
    """
    tick = check or _no_check
    split: list[list[str]] = []
    for page in pages:
        split.append(_drop_page_numbers(normalize_whitespace(page)))
        tick()
    running = _running_lines(split)
    lengths = sorted(len(line) for lines in split for line in lines if line)
    width = float(lengths[int(0.9 * (len(lengths) - 1))]) if lengths else 0.0
    cleaned: list[str] = []
    examples: dict[str, str] = {}
    for lines in split:
        if running:
            if running_out is not None:
                for i in _zone(lines):
                    key = _page_key(lines[i])
                    if key in running and key not in examples:
                        examples[key] = lines[i].strip()
            lines = _drop_running(lines, running)
        cleaned.append(_assemble(_filter(_reflow(lines, width), repeated=False, footer=False)))
        tick()
    if running_out is not None:
        running_out.extend(examples.values())
    return cleaned
