"""The UI's HTML rendering: markers become links, quotes are marked inside their passage, text is escaped."""

from __future__ import annotations

import re

from assistant.types import Answer, Chunk, Citation, Passage
from ui.render import (
    EMPTY_PANEL,
    NOT_FOUND,
    highlight,
    render_answer,
    render_answer_text,
    render_panel,
    render_sources,
)

PASSAGE = (
    "The escalating tech tensions have entered a new phase. On May 12, the Commerce Department\n"
    "revealed it would roll back the rule. Instead, the revised policy targets Huawei."
)
QUOTE = "On May 12, the Commerce Department\nrevealed it would roll back the rule."


def _citation(n: int = 1, **update: object) -> Citation:
    c = Citation(
        n=n,
        doc_id="d1",
        title="US <Refocuses> AI Chip Restrictions",
        source="/data/demo/tlg.txt",
        chunk_id="d1:0",
        start=10,
        end=20,
        quote=QUOTE,
        score=0.8123,
        page=3,
        passage=PASSAGE,
    )
    return c.model_copy(update=update)


def _answer(**update: object) -> Answer:
    a = Answer(
        question="What was rolled back?",
        answer="On May 12, the Commerce Department revealed it would roll back the rule. [1]",
        abstained=False,
        citations=(_citation(),),
    )
    return a.model_copy(update=update)


def test_markers_become_links_to_their_cards() -> None:
    html = render_answer(_answer(), turn=4)
    assert re.search(r'<a class="cite" href="#cite-4-1"[^>]*>\[1\]</a>$', html)
    panel = render_sources(_answer(), turn=4)
    assert 'id="cite-4-1"' in panel and "tlg.txt, p. 3" in panel and "score 0.81" in panel


def test_quote_is_marked_inside_its_passage() -> None:
    html = highlight(PASSAGE, " ".join(QUOTE.split()))  # whitespace differs from the passage
    before, marked, after = re.split(r'<mark class="quote">|</mark>', html)
    assert " ".join(marked.split()) == " ".join(QUOTE.split())
    assert before.endswith("new phase. ") and after.startswith(" Instead")


def test_long_passages_are_trimmed_around_the_quote() -> None:
    passage = "lead " * 400 + QUOTE + " tail" * 400
    html = highlight(passage, QUOTE)
    assert html.startswith("…") and html.endswith("…") and len(html) < len(passage)
    assert f'<mark class="quote">{QUOTE}</mark>' in html


def test_document_text_is_escaped() -> None:
    evil = _citation(title="<script>alert(1)</script>", passage="x <img src=x onerror=alert(1)> " + QUOTE)
    panel = render_sources(_answer(citations=(evil,)), turn=1)
    assert "<script>" not in panel and "<img" not in panel and "&lt;script&gt;" in panel
    assert "${" not in render_answer_text("costs ${HOME} and {{x}} [1]", 1)


def test_abstention_is_a_distinct_notice_with_nearest_passages() -> None:
    chunk = Chunk(
        id="c", doc_id="d", text="Some nearby text.", start=0, end=17, meta={"title": "Near", "source": "/a/b.txt"}
    )
    answer = _answer(answer="No answer.", abstained=True, citations=(), passages=(Passage(chunk=chunk, score=0.2),))
    html = render_answer(answer, turn=2)
    assert 'class="abstain-notice"' in html and NOT_FOUND in html and "cite" not in html
    panel = render_sources(answer, turn=2)
    assert "nearest" in panel and "Near" in panel and "b.txt" in panel and "<mark" not in panel


def test_panel_lists_newest_first() -> None:
    assert render_panel([]) == EMPTY_PANEL
    panel = render_panel(["<section>one</section>", "<section>two</section>"])
    assert panel.index("two") < panel.index("one")


def test_a_quote_another_one_refers_to_says_so_on_its_card() -> None:
    answer = _answer(
        citations=(_citation(1), _citation(2, quote="Instead, the revised policy targets Huawei.")),
        meta={"references": [{"citation": 2, "refers_to": 1, "phrase": "this <bold> approach"}]},
    )
    assert answer.referents() == {1: (2, "this <bold> approach")}
    panel = render_sources(answer, turn=3)
    first, second = panel.split('id="cite-3-2"')
    assert "What [2] calls “this &lt;bold&gt; approach”" in first
    assert "source-note" not in second
    assert "source-note" not in render_sources(_answer(), turn=3)


def test_an_answer_from_named_or_positioned_passages_says_where_it_comes_from() -> None:
    chunk = Chunk(
        id="d1:0", doc_id="d1", text=PASSAGE, start=0, end=len(PASSAGE), meta={"title": "US <Refocuses> AI Chips"}
    )
    passages = (Passage(chunk=chunk, score=1.0, meta={"focus": "end"}),)
    ended = render_answer(_answer(passages=passages, meta={"focus": "end"}), turn=1)
    assert ended.startswith('<div class="answer-scope">How “US &lt;Refocuses&gt; AI Chips” ends</div>')
    named = render_answer(_answer(passages=passages, meta={"named_documents": ["d1"]}), turn=1)
    assert "Searched only “US &lt;Refocuses&gt; AI Chips”" in named
    assert "answer-scope" not in render_answer(_answer(passages=passages), turn=1)
