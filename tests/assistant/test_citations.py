"""Citation parsing and checking on hand-written answers, with the real MiniLM embedder and demo-corpus passages."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.citations import (
    ABSTAIN_TEXT,
    check_citations,
    is_abstention,
    parse_markers,
    split_answer,
    strip_markers,
)
from assistant.types import Chunk, Citation, Document, Passage
from index.embeddings import Embedder

DEMO_DIR = Path(__file__).resolve().parents[2] / "data" / "demo"
RULE_DOC = DEMO_DIR / "tlg-us-refocuses-ai-chip-restrictions.txt"
HUAWEI_DOC = DEMO_DIR / "cgtn-us-chip-guidance-huawei.txt"


def demo_document(path: Path) -> Document:
    text = path.read_text(encoding="utf-8")
    title = text.strip().splitlines()[0].strip()
    return Document(id=hashlib.sha256(text.encode()).hexdigest()[:16], title=title, source=str(path), text=text)


def demo_passages(path: Path, *, containing: tuple[str, ...] = (), limit: int = 4) -> list[Passage]:
    """One real Chunk per substantial paragraph of a demo document (``doc.text[start:end] == text``).

    ``containing`` picks the paragraphs that hold those strings first, in that order.
    """
    doc = demo_document(path)
    paragraphs = [m for m in re.finditer(r"[^\n]+", doc.text) if len(m.group(0).split()) >= 25]
    chosen = [next(m for m in paragraphs if needle in m.group(0)) for needle in containing]
    chosen += [m for m in paragraphs if m not in chosen]
    passages = []
    for rank, m in enumerate(chosen[:limit]):
        chunk = Chunk(
            id=f"{doc.id}:{m.start()}",
            doc_id=doc.id,
            text=m.group(0),
            start=m.start(),
            end=m.end(),
            meta={"title": doc.title, "source": doc.source},
        )
        passages.append(Passage(chunk=chunk, score=1.0 - rank / 10))
    return passages


def documents() -> dict[str, str]:
    return {demo_document(p).id: demo_document(p).text for p in (RULE_DOC, HUAWEI_DOC)}


def assert_resolves(text: str, citations: Sequence[Citation]) -> None:
    """Every [n] of the text is a citation, citations are 1..m in order of first appearance, quotes are real."""
    numbers = [n for m in parse_markers(text) for n in m.numbers]
    assert set(numbers) == {c.n for c in citations}
    assert [c.n for c in citations] == list(range(1, len(citations) + 1))
    assert list(dict.fromkeys(numbers)) == [c.n for c in citations]
    texts = documents()
    for c in citations:
        assert texts[c.doc_id][c.start : c.end] == c.quote
        assert c.quote and c.quote in c.passage


@pytest.fixture(scope="module")
def passages() -> list[Passage]:
    """[1] the rule paragraph (May 12 / May 15), [2] the Huawei-scrutiny paragraph, [3] the other document."""
    rule = demo_passages(RULE_DOC, containing=("scheduled to take effect", "Ascend chips"), limit=2)
    other = demo_passages(HUAWEI_DOC, limit=1)
    return rule + other


# ---------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Paris [1].", [(1,)]),
        ("Paris [1, 2].", [(1, 2)]),
        ("Paris [1][2].", [(1,), (2,)]),
        ("Paris [1] [3].", [(1,), (3,)]),
        ("Paris [2-4].", [(2, 3, 4)]),
        ("Paris [Passage 3] and [1; 2].", [(3,), (1, 2)]),
        ("Paris [a] (1) [].", []),
    ],
)
def test_parse_markers(text: str, expected: list[tuple[int, ...]]) -> None:
    markers = parse_markers(text)
    assert [m.numbers for m in markers] == expected
    for m in markers:
        assert text[m.start] == "[" and text[m.end - 1] == "]"


def test_split_answer_attaches_markers_to_their_sentence() -> None:
    text = "The U.S. rule took effect [1]. It was rolled back. [2][3]\nA new paragraph [4].\n[5]"
    sentences = split_answer(text)
    assert [s.text for s in sentences] == [
        "The U.S. rule took effect.",
        "It was rolled back.",
        "A new paragraph.",
    ]
    assert [s.numbers for s in sentences] == [(1,), (2, 3), (4, 5)]
    for s in sentences:
        assert strip_markers(text[s.start : s.end]) == s.text


def test_is_abstention() -> None:
    assert is_abstention(ABSTAIN_TEXT)
    assert is_abstention("The passages do not mention the boiling point of mercury.")
    assert not is_abstention("The rule was scheduled to take effect on May 15.")


# ---------------------------------------------------------------------------- checking


def test_valid_citation_is_quoted_with_document_span(passages: list[Passage], embedder: Embedder) -> None:
    result = check_citations("The AI Diffusion Rule was scheduled to take effect on May 15 [1].", passages, embedder)
    assert not result.abstained
    assert result.checks == {"valid": 1, "invalid": 0, "unsupported": 0}
    assert result.text.endswith("[1].")
    (citation,) = result.citations
    assert citation.supported
    assert citation.chunk_id == passages[0].chunk.id
    assert "May 15" in citation.quote  # the best-supporting sentence, not the whole passage
    assert len(citation.quote) < len(passages[0].chunk.text)
    assert citation.title == passages[0].chunk.meta["title"]
    assert citation.source == passages[0].chunk.meta["source"]
    assert citation.passage == passages[0].chunk.text
    assert_resolves(result.text, result.citations)


def test_out_of_range_numbers_are_removed_and_counted(passages: list[Passage], embedder: Embedder) -> None:
    text = "The rule was scheduled to take effect on May 15 [1, 9]. Huawei's Ascend chips drew concern [0][2]."
    result = check_citations(text, passages, embedder)
    assert result.checks["invalid"] == 2
    assert result.checks["valid"] == 2
    assert "9]" not in result.text and "[0]" not in result.text
    assert_resolves(result.text, result.citations)
    assert len(result.citations) == 2


def test_unsupported_sentence_is_flagged_or_dropped(passages: list[Passage], embedder: Embedder) -> None:
    text = "The rule was scheduled to take effect on May 15 [1]. Bananas are rich in potassium [2]."
    lenient = check_citations(text, passages, embedder)
    assert lenient.checks == {"valid": 2, "invalid": 0, "unsupported": 1}
    assert [u["sentence"] for u in lenient.unsupported] == ["Bananas are rich in potassium."]
    assert [c.supported for c in lenient.citations] == [True, False]
    assert "Bananas" in lenient.text
    assert_resolves(lenient.text, lenient.citations)

    strict = check_citations(text, passages, embedder, strict=True)
    assert "Bananas" not in strict.text
    assert strict.dropped == ("Bananas are rich in potassium.",)
    assert all(c.supported for c in strict.citations) and len(strict.citations) == 1
    assert strict.checks == lenient.checks
    assert_resolves(strict.text, strict.citations)


def test_a_number_the_passage_lacks_makes_a_sentence_unsupported(passages: list[Passage], embedder: Embedder) -> None:
    result = check_citations(
        "The rule was scheduled to take effect on May 15 [1]. It was first introduced in 2019 [1].",
        passages,
        embedder,
    )
    assert result.checks["unsupported"] == 1
    assert result.unsupported[0]["missing_numbers"] == ["2019"]


def test_mixed_answer_renumbers_in_order_of_first_appearance(passages: list[Passage], embedder: Embedder) -> None:
    text = (
        "Huawei's powerful Ascend chips have drawn concern from US regulators [2][7]. "
        "The Commerce Department said on May 12 it would roll back the AI Diffusion Rule [1, 2]. "
        "The moon is made of cheese [3]. "
        "This sentence cites nothing at all."
    )
    result = check_citations(text, passages, embedder)
    assert result.checks["invalid"] == 1
    assert result.checks["valid"] == 4  # (s1, 2), (s2, 1), (s2, 2), (s3, 3)
    unsupported = [u["sentence"] for u in result.unsupported]
    assert "The moon is made of cheese." in unsupported
    assert "This sentence cites nothing at all." in unsupported
    assert result.checks["unsupported"] == len(unsupported)
    first = result.citations[0]
    assert first.n == 1 and first.chunk_id == passages[1].chunk.id  # passage 2 is cited first
    assert result.text.startswith("Huawei's powerful Ascend chips have drawn concern from US regulators [1].")
    assert_resolves(result.text, result.citations)


def test_group_and_adjacent_markers_give_the_same_citations(passages: list[Passage], embedder: Embedder) -> None:
    claim = "On May 12 the US Commerce Department said it would roll back the AI Diffusion Rule"
    grouped = check_citations(f"{claim} [3, 1].", passages, embedder)
    adjacent = check_citations(f"{claim} [3][1].", passages, embedder)
    for result in (grouped, adjacent):
        assert result.checks["valid"] == 2
        assert_resolves(result.text, result.citations)
    assert [(c.chunk_id, c.supported) for c in grouped.citations] == [
        (c.chunk_id, c.supported) for c in adjacent.citations
    ]
    assert grouped.citations[0].chunk_id == passages[2].chunk.id  # [3] came first, so it is now [1]
    assert any(c.supported and c.chunk_id == passages[0].chunk.id for c in grouped.citations)


def test_no_supported_sentence_abstains(passages: list[Passage], embedder: Embedder) -> None:
    result = check_citations("The moon is made of cheese [1]. Cats can fly [5].", passages, embedder)
    assert result.abstained
    assert result.text == ABSTAIN_TEXT
    assert result.citations == ()
    assert result.meta["abstain_reason"] == "unsupported"
    assert result.checks == {"valid": 1, "invalid": 1, "unsupported": 2}


def test_model_abstention_phrase_abstains(passages: list[Passage], embedder: Embedder) -> None:
    result = check_citations(ABSTAIN_TEXT, passages, embedder)
    assert result.abstained and result.meta["abstain_reason"] == "model"
    assert result.citations == ()


_CLAIMS = [
    "The AI Diffusion Rule was scheduled to take effect on May 15",
    "Huawei's Ascend chips have drawn concern from US regulators",
    "The Commerce Department would roll back the AI Diffusion Rule",
    "Bananas are rich in potassium",
    "The moon is made of cheese",
]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    parts=st.lists(
        st.tuples(
            st.sampled_from(_CLAIMS),
            st.lists(st.lists(st.integers(0, 6), min_size=1, max_size=3), max_size=2),
        ),
        min_size=1,
        max_size=4,
    ),
    strict=st.booleans(),
)
def test_every_marker_resolves_whatever_the_answer(
    passages: list[Passage], embedder: Embedder, parts: list[tuple[str, list[list[int]]]], strict: bool
) -> None:
    text = " ".join(
        claim + "".join(f"[{', '.join(map(str, group))}]" for group in groups) + "." for claim, groups in parts
    )
    result = check_citations(text, passages, embedder, strict=strict)
    written = [n for _, groups in parts for group in groups for n in dict.fromkeys(group)]
    assert result.checks["invalid"] == sum(1 for n in written if not 1 <= n <= len(passages))
    if result.abstained:
        assert result.text == ABSTAIN_TEXT and result.citations == ()
        return
    assert_resolves(result.text, result.citations)
    assert re.search(r"\[\s*[0-9]", strip_markers(result.text)) is None
    if strict:
        assert all(c.supported for c in result.citations)
        assert len(split_answer(result.text)) == len(split_answer(text)) - len(result.dropped)
