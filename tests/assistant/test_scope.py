"""Which documents a question names, and whether it asks for a summary, a beginning or an end."""

from __future__ import annotations

import re

import pytest

from assistant.scope import (
    Focus,
    back_matter_start,
    describe,
    document_focus,
    is_back_matter,
    mentions_documents,
    named_documents,
    names_one,
    scope_of,
    wants_several,
)
from assistant.types import Answer, Chunk, DocumentInfo, Passage


def _info(doc_id: str, source: str, title: str) -> DocumentInfo:
    return DocumentInfo(id=doc_id, title=title, source=source, chunks=1, ingested_at="2026-01-01T00:00:00")


CGTN = _info("c", "/data/cgtn-us-chip-guidance-huawei.txt", "New U.S. chip guidance on Huawei reveals deeper fears")
TLG = _info("t", "/data/tlg-us-refocuses-ai-chip-restrictions.txt", "US Refocuses AI Chip Restrictions on China")
REPORT = _info("r", "/data/annual-report-2024.pdf", "Annual Report 2024")
LIBRARY = [CGTN, TLG, REPORT]


@pytest.mark.parametrize(
    ("question", "named"),
    [
        ("What does the CGTN commentary say?", ("c",)),  # in capitals
        ("summarize the tlg article", ("t",)),  # before a document noun
        ("What came before the guideline, according to cgtn?", ("c",)),
        ("according to the TLG, what changed?", ("t",)),
        ("What do CGTN and TLG disagree on?", ("c", "t")),
        ("What is in the annual report 2024 about revenue?", ("r",)),  # the title
        # words that are also what questions are about name nothing
        ("What does the Huawei guidance say about chips?", ()),
        ("What are the US restrictions on AI chips?", ()),  # "us" is in two file names, "AI" in a title
        ("What did the annual meeting decide?", ()),  # "annual" is in a title, and not before a noun
        ("Which report covers 2024?", ()),
    ],
)
def test_named_documents(question: str, named: tuple[str, ...]) -> None:
    assert named_documents(question, LIBRARY) == named


@pytest.mark.parametrize(
    ("question", "focus"),
    [
        ("summarize the article", Focus.SUMMARY),
        ("Give me a summary", Focus.SUMMARY),
        ("What are the main points of the reports?", Focus.SUMMARY),
        ("What is the commentary about?", Focus.SUMMARY),
        ("tl;dr", Focus.SUMMARY),
        ("How does the article end?", Focus.END),
        ("What question does the commentary end with?", Focus.END),
        ("what is the last paragraph of the report", Focus.END),
        ("How does the report conclude?", Focus.END),
        ("How does the article begin?", Focus.START),
        ("Who wrote the article?", Focus.AUTHOR),
        ("who is the author of the report", Focus.AUTHOR),
        ("What is the name of the author of the commentary?", Focus.AUTHOR),
        ("By whom was the essay written?", Focus.AUTHOR),
        ("Who wrote the rule?", None),  # a rule is not a document here
        ("What did the authors of the report find?", None),
        ("What is the opening paragraph of the story?", Focus.START),
        # facts, not places in a document
        ("summarise what the articles say about Huawei", None),
        ("What might the restrictions end up reinforcing?", None),
        ("When did the talks start?", None),
        ("What is the Diffusion Rule about?", None),
        ("Which company is the article about?", None),
        ("Who opened the conference?", None),
        ("What did the report say about revenue?", None),
        ("How close are the two sides to a deal, according to the article?", None),
        ("When will the talks end, according to the report?", None),
        ("Did the markets open higher, says the report?", None),
        ("What does the article open with?", Focus.START),
        ("What is at the end of the report?", Focus.END),
        ("How does the CGTN piece wrap up?", Focus.END),
        ("How did the markets open, according to the report?", None),
        ("What did the markets close on, says the report?", None),
    ],
)
def test_document_focus(question: str, focus: Focus | None) -> None:
    assert document_focus(question) == focus


def test_a_named_document_counts_as_a_document_mentioned() -> None:
    assert document_focus("How does CGTN end?") is None
    assert document_focus("How does CGTN end?", names={"cgtn"}) == Focus.END
    scope = scope_of("summarise CGTN", LIBRARY)
    assert scope.doc_ids == ("c",) and scope.focus == Focus.SUMMARY
    scope = scope_of("What does CGTN say about Ascend chips?", LIBRARY)
    assert scope.doc_ids == ("c",) and scope.focus is None


def test_one_or_several_documents() -> None:
    assert names_one("How does the article end?") and not wants_several("How does the article end?")
    assert wants_several("What are the main points of both articles?")
    assert wants_several("Summarise the reports") and not names_one("Summarise the reports")
    assert not names_one("Give me a summary")


@pytest.mark.parametrize(
    ("question", "mentions"),
    [
        ("How does the article end?", True),
        ("What does CGTN say?", True),
        ("according to cgtn, who spoke?", True),
        ("summarise", True),
        ("when did the rule take effect", False),
    ],
)
def test_mentions_documents_is_a_superset_test(question: str, mentions: bool) -> None:
    assert mentions_documents(question) is mentions
    if not mentions:
        assert scope_of(question, LIBRARY).doc_ids == () and scope_of(question, LIBRARY).focus is None


@pytest.mark.parametrize(
    ("line", "back"),
    [
        ("References", True),
        ("7 Acknowledgements", True),
        ("Appendix A", True),
        ("BIBLIOGRAPHY", True),
        ("References to the rule were made.", False),
        ("Related work", False),
    ],
)
def test_is_back_matter(line: str, back: bool) -> None:
    assert is_back_matter(line) is back


def test_back_matter_start_is_the_first_such_heading_line() -> None:
    text = "We conclude that it works.\n\nReferences\n\n1. Smith (2020).\n\nAppendix A\n\nTables."
    assert back_matter_start(text) == text.index("References")
    assert back_matter_start("No references here. References are below.") is None


def _passage(doc_id: str, title: str) -> Passage:
    chunk = Chunk(id=f"{doc_id}:0", doc_id=doc_id, text="Text.", start=0, end=5, meta={"title": title})
    return Passage(chunk=chunk, score=1.0)


def test_describe_says_what_part_of_the_library_an_answer_comes_from() -> None:
    both = (_passage("c", "CGTN piece"), _passage("t", "TLG article"), _passage("c", "CGTN piece"))
    answer = Answer(question="q", answer="a", abstained=False, passages=both)
    assert describe(answer) is None
    assert describe(answer.model_copy(update={"meta": {"focus": "summary"}})) == (
        "Summary of “CGTN piece” and “TLG article”"
    )
    assert describe(answer.model_copy(update={"meta": {"focus": "author"}})) == (
        "Author line of “CGTN piece” and “TLG article”"
    )
    assert describe(answer.model_copy(update={"meta": {"named_documents": ["t"]}})) == "Searched only “TLG article”"
    assert describe(answer.model_copy(update={"meta": {"named_documents": ["gone"]}})) is None


def test_a_file_name_written_out_names_its_document() -> None:
    docs = [
        _info("a", "help/section_1.md", "Starring a doc"),
        _info("b", "help/section_12.md", "Installing Packs"),
        _info("c", "q3-report.pdf", "Quarterly report"),
    ]
    assert scope_of('What does "section_12.md" say about Packs?', docs).doc_ids == ("b",)
    assert scope_of("what is in section_1.md", docs).doc_ids == ("a",)
    assert scope_of("Summarise Q3-Report.PDF", docs).doc_ids == ("c",)
    # a file name no document has, or a bare number, names nothing
    assert scope_of("What does section_7.md say?", docs).doc_ids == ()
    assert scope_of("What does section 12 say?", docs).doc_ids == ()


def test_a_file_name_two_documents_share_names_neither() -> None:
    docs = [_info("a", "2023/notes.md", "One"), _info("b", "2024/notes.md", "Two")]
    assert scope_of("What do the notes.md say?", docs).doc_ids == ()


def _filing(doc_id: str, entity: str) -> DocumentInfo:
    return DocumentInfo(
        id=doc_id,
        title=f"{entity} 10-K FY2023",
        source=f"{doc_id}.pdf",
        chunks=1,
        ingested_at="2026-01-01T00:00:00",
        meta={"entity": entity, "form": "10-K", "period": "FY2023", "period_end": "2023-12-31"},
    )


def test_an_entitys_initials_name_it() -> None:
    docs = [
        _filing("h", "Harlow & Harlow"),
        _filing("n", "Northwind Widgets Corp."),
        _filing("a", "Acme Metal Devices"),
    ]
    for question in (
        "What drove HnH's margin?",
        "Did H&H grow in 2023?",
        "How big is AMD's debt?",
    ):
        assert len(scope_of(question, docs).doc_ids) == 1, question
    assert scope_of("Did H&H grow in 2023?", docs).doc_ids == ("h",)
    assert scope_of("How big is AMD's debt?", docs).doc_ids == ("a",)
    assert scope_of("What did NW spend?", docs).doc_ids == ("n",)
    # initials no entity has, or that are words of the question, name nothing
    assert scope_of("How much did R&D cost?", docs).doc_ids == ()
    assert scope_of("What was the EPS?", docs).doc_ids == ()


def test_the_end_of_a_period_is_not_the_end_of_a_document() -> None:
    docs = [_filing("h", "Harlow & Harlow"), _filing("n", "Northwind Widgets Corp.")]
    for question in (
        "What were Harlow's total assets at the end of 2023?",
        "How many employees did Harlow have at the end of FY2023?",
        "What did Northwind hold at the start of 2023?",
    ):
        scope = scope_of(question, docs)
        assert len(scope.doc_ids) == 1 and scope.focus is None, question
    # the document's own end or start still is one
    assert scope_of("How does Harlow's FY2023 10-K end?", docs).focus == Focus.END


def _ticked(doc_id: str, entity: str, ticker: str) -> DocumentInfo:
    info = _filing(doc_id, entity)
    return info.model_copy(update={"meta": {**info.meta, "ticker": ticker}})


def test_a_ticker_the_documents_state_names_their_entity() -> None:
    # tickers that are not initials ("NWW" is, "BLUH" and "ZAP" are not) name an entity only when its documents state
    # them (meta["ticker"], read at ingest); written in capitals, possessive or not
    docs = [
        _ticked("h", "Blue Heron Foods, Inc.", "BLUH"),
        _ticked("n", "Northwind Widgets Corp.", "NWW"),
        _filing("a", "Acme Metal Devices"),
    ]
    assert scope_of("What was BLUH's operating margin in FY2023?", docs).doc_ids == ("h",)
    assert scope_of("Did BLUH grow?", docs).doc_ids == ("h",)
    assert scope_of("How did NWW fund its capex?", docs).doc_ids == ("n",)
    # a ticker no document states, or one written as an ordinary word, names nothing
    assert scope_of("How much did ZAP spend?", docs).doc_ids == ()
    assert scope_of("What does bluh mean?", docs).doc_ids == ()
    # one ticker stated for two entities names neither
    shared = [_ticked("x", "Blue Heron Foods, Inc.", "BLUH"), _ticked("y", "Bluhm Holdings Inc.", "BLUH")]
    assert scope_of("Did BLUH grow?", shared).doc_ids == ()


@pytest.mark.parametrize(
    "source",
    [
        "notes.txt",
        "reports/q3-2024 Review.PDF",
        ".env",
        "dir/.hidden",
        "archive.tar.gz",
        "dir/sub/",
        "no_suffix",
        "a/b.c/d",
        "x..y",
        "trailing.",
    ],
)
def test_file_names_read_without_paths_are_the_paths_names(source: str) -> None:
    from pathlib import PurePath

    from assistant.scope import _file_name, _name_tokens

    info = DocumentInfo(id="d", title="T", source=source, chunks=1, ingested_at="")
    stem = PurePath(source).stem.lower()
    assert _file_name(source) == PurePath(source).name
    assert _name_tokens(info) == {t for t in re.split(r"[^a-z0-9]+", stem) if len(t) >= 2 and not t.isdigit()}
