"""HTML for the chat UI: answers with clickable ``[n]`` markers and the sources panel.

Pure functions over our own types (no Gradio here), so they are easy to test.
Every piece of document or user text is HTML-escaped; ``{``, ``}`` and ``$`` are
escaped too because Gradio's HTML component renders its value through a template.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path

from assistant.scope import describe
from assistant.types import Answer, Citation, Passage

NOT_FOUND = "Not found in these documents"
_MARKER = re.compile(r"\[(\d+)\]")
_CONTEXT_CHARS = 450  # passage text kept on each side of the quote

EMPTY_PANEL = (
    '<div class="sources-empty">Sources appear here. Click a <span class="cite-sample">[n]</span> marker '
    "in an answer to jump to the passage it quotes.</div>"
)


def escape(text: str) -> str:
    """HTML-escape ``text`` (and template characters)."""
    return html.escape(text, quote=True).replace("{", "&#123;").replace("}", "&#125;").replace("$", "&#36;")


def cite_id(turn: int, n: int) -> str:
    return f"cite-{turn}-{n}"


def render_answer_text(text: str, turn: int, citations: Sequence[Citation] = ()) -> str:
    """The answer with each ``[n]`` turned into a link to its source card."""
    titles = {c.n: c.title for c in citations}

    def link(m: re.Match[str]) -> str:
        n = int(m.group(1))
        title = escape(titles.get(n, f"source {n}"))
        return f'<a class="cite" href="#{cite_id(turn, n)}" data-cite="{n}" title="{title}">[{n}]</a>'

    return _MARKER.sub(link, escape(" ".join(text.split())))


def render_answer(answer: Answer, turn: int) -> str:
    """A chat message for a finished answer; abstentions get a distinct notice. An answer taken from named
    documents or by position (a summary, how a document ends) says so first."""
    note = describe(answer)
    scope = f'<div class="answer-scope">{escape(note)}</div>' if note else ""
    return scope + _render_answer(answer, turn)


def _render_answer(answer: Answer, turn: int) -> str:
    if answer.abstained:
        nearest = len(answer.passages[:3])
        hint = f" The {nearest} nearest passages are shown in the sources panel." if nearest else ""
        return (
            f'<div class="abstain-notice"><strong>{NOT_FOUND}.</strong> '
            f"<span>{escape(answer.answer)}{escape(hint)}</span></div>"
        )
    return render_answer_text(answer.answer, turn, answer.citations)


def render_error(message: str) -> str:
    return f'<div class="error-notice"><strong>Could not answer.</strong> <span>{escape(message)}</span></div>'


def _locate(passage: str, quote: str) -> tuple[int, int] | None:
    start = passage.find(quote)
    if start >= 0:
        return start, start + len(quote)
    words = quote.split()
    if not words:
        return None
    m = re.search(r"\s+".join(re.escape(w) for w in words), passage)
    return (m.start(), m.end()) if m else None


def highlight(passage: str, quote: str) -> str:
    """The passage (trimmed around the quote) with the quote inside ``<mark>``."""
    span = _locate(passage, quote)
    if span is None:
        body = escape(passage[: 2 * _CONTEXT_CHARS]) + ("…" if len(passage) > 2 * _CONTEXT_CHARS else "")
        return f'<mark class="quote">{escape(quote)}</mark><br><span class="context">{body}</span>'
    start, end = span
    lo = max(0, start - _CONTEXT_CHARS)
    hi = min(len(passage), end + _CONTEXT_CHARS)
    if lo > 0:  # start and end the context on word boundaries
        space = passage.find(" ", lo, start)
        lo = space + 1 if space >= 0 else lo
    if hi < len(passage):
        space = passage.rfind(" ", end, hi)
        hi = space if space > end else hi
    before = ("…" if lo > 0 else "") + passage[lo:start]
    after = passage[end:hi] + ("…" if hi < len(passage) else "")
    return f'{escape(before)}<mark class="quote">{escape(passage[start:end])}</mark>{escape(after)}'


def _where(source: str, page: int | None) -> str:
    name = Path(source).name if source else ""
    return name + (f", p. {page}" if page else "")


def render_citation(c: Citation, turn: int, referent: tuple[int, str] | None = None) -> str:
    """One source card; ``referent`` = (n, phrase) when citation [n] calls this quote "phrase"."""
    note = f'<p class="source-note">What [{referent[0]}] calls “{escape(referent[1])}”</p>' if referent else ""
    return (
        f'<article class="source-card" id="{cite_id(turn, c.n)}" data-cite="{c.n}">'
        f'<header><span class="cite-badge">[{c.n}]</span> '
        f'<strong class="source-title">{escape(c.title)}</strong></header>'
        f'<div class="source-meta"><span class="source-file" title="{escape(c.source)}">'
        f"{escape(_where(c.source, c.page))}</span> · "
        f'<span class="source-score">score {c.score:.2f}</span></div>'
        f'<blockquote class="source-passage">{highlight(c.passage or c.quote, c.quote)}</blockquote>'
        f"{note}</article>"
    )


def render_nearest(p: Passage, i: int) -> str:
    meta = p.chunk.meta
    title = str(meta.get("title", "")) or p.chunk.doc_id
    page = meta.get("page")
    text = " ".join(p.chunk.text.split())
    snippet = text[:400] + ("…" if len(text) > 400 else "")
    return (
        f'<article class="source-card nearest" data-nearest="{i}">'
        f'<header><span class="cite-badge muted">({i})</span> <strong class="source-title">{escape(title)}</strong>'
        f'</header><div class="source-meta"><span class="source-file">'
        f"{escape(_where(str(meta.get('source', '')), page if isinstance(page, int) else None))}</span> · "
        f'<span class="source-score">score {p.score:.2f}</span></div>'
        f'<blockquote class="source-passage">{escape(snippet)}</blockquote></article>'
    )


def render_sources(answer: Answer, turn: int) -> str:
    """The sources panel section of one answer."""
    head = f'<h4 class="turn-head">Answer {turn}: <span>{escape(answer.question)}</span></h4>'
    if answer.abstained:
        cards = "".join(render_nearest(p, i) for i, p in enumerate(answer.passages[:3], start=1))
        body = f'<p class="nearest-head">{NOT_FOUND}. Nearest passages:</p>{cards or "<p>(none)</p>"}'
        return f'<section class="turn abstained" data-turn="{turn}">{head}{body}</section>'
    referents = answer.referents()
    cards = "".join(render_citation(c, turn, referents.get(c.n)) for c in answer.citations)
    return f'<section class="turn" data-turn="{turn}">{head}{cards}</section>'


def render_panel(sections: Sequence[str]) -> str:
    """All answers' sources, newest first."""
    if not sections:
        return EMPTY_PANEL
    return '<div class="sources-list">' + "".join(reversed(sections)) + "</div>"
