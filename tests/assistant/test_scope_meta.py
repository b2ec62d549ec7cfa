"""Questions that name a document's entity, form or period, or want each of several documents, on look-alike
filings: two made-up companies x two quarters (and one annual report), the same wording but for names and
numbers. Real MiniLM, real Chroma, real BM25."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.config import get_settings
from assistant.scope import DocumentNames, Focus, Scope, asks_each_document, periods_in, scope_of, wants_several
from assistant.service import Assistant
from assistant.types import Document, DocumentInfo
from index.embeddings import Embedder

NORTHWIND = "Northwind Widgets Corp."
SOUTHWIND = "Southwind Widgets Inc."


def _filing(doc_id: str, entity: str, form: str, period: str, period_end: str, revenue: int, stores: int) -> Document:
    """A filing that, like a real one, says "the Company" and never its own name: only its meta names it."""
    span = "quarter" if form == "10-Q" else "year"
    text = (
        "Quarterly and Annual Reporting\n\nResults of Operations\n\n"
        f"Net revenue for the {span} was ${revenue} million, "
        "reflecting higher unit volumes in the widget segment and steady pricing.\n\n"
        f"Gross margin improved as freight costs eased during the {span}.\n\nStores\n\n"
        f"The Company opened {stores} new stores during the {span} and closed two older locations.\n\n"
        "Risk Factors\n\nSupply of components may be disrupted by events outside the Company's control, "
        "including storms, strikes and export rules.\n"
    )
    meta = {"entity": entity, "form": form, "period": period, "period_end": period_end}
    return Document(id=doc_id, title="Report to shareholders", source=f"filing-{doc_id}.txt", text=text, meta=meta)


FILINGS = [
    _filing("n2", NORTHWIND, "10-Q", "Q2 2023", "2023-07-01", 412, 12),
    _filing("n3", NORTHWIND, "10-Q", "Q3 2023", "2023-09-30", 436, 9),
    _filing("s2", SOUTHWIND, "10-Q", "Q2 2023", "2023-07-01", 298, 4),
    _filing("s3", SOUTHWIND, "10-Q", "Q3 2023", "2023-09-30", 305, 6),
    # an annual report newer than every 10-Q: "the latest 10-Q" must not pick it, "the latest filing" must
    _filing("nk", NORTHWIND, "10-K", "FY2023", "2023-12-31", 1650, 40),
    _filing("nj", NORTHWIND, "10-K", "FY2022", "2022-12-31", 1510, 35),
]
NORTHWIND_IDS = {"n2", "n3", "nk", "nj"}


@pytest.fixture(scope="module")
def filings(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Assistant]:
    svc = Assistant(get_settings(data_dir=tmp_path_factory.mktemp("filings")), embedder=embedder)
    svc.ingest_documents(FILINGS)
    yield svc
    svc.close()


def _docs(svc: Assistant, question: str) -> list[str]:
    return [p.chunk.doc_id for p in svc.ask(question).passages]


def test_a_named_entity_restricts_to_all_of_its_documents(filings: Assistant) -> None:
    answer = filings.ask("What was Northwind's net revenue?")
    assert set(answer.meta["named_documents"]) == NORTHWIND_IDS
    assert {p.chunk.doc_id for p in answer.passages} <= NORTHWIND_IDS
    # lower case: the name counts before a form
    assert set(filings.ask("northwind 10-q net revenue").meta["named_documents"]) == {"n2", "n3"}


def test_a_named_quarter_narrows_to_that_quarters_document(filings: Assistant) -> None:
    answer = filings.ask("What was Northwind's net revenue in Q3 2023?")
    assert answer.meta["named_documents"] == ["n3"]
    assert {p.chunk.doc_id for p in answer.passages} == {"n3"}
    assert filings.ask("How many stores did Southwind open in the second quarter of 2023?").meta["named_documents"] == [
        "s2"
    ]


def test_a_named_year_prefers_that_years_document_without_excluding_the_others(filings: Assistant) -> None:
    docs = _docs(filings, "How many stores did Northwind open in fiscal 2022?")
    first = docs.index(next(d for d in docs if d != "nj"))  # another Northwind filing keeps a place ...
    assert first >= 1 and set(docs[:first]) == {"nj"}  # ... after the FY2022 report's passages
    assert "nj" not in docs[first:] and set(docs[first:]) <= NORTHWIND_IDS


def test_the_passages_of_the_preferred_years_document_say_so(filings: Assistant) -> None:
    """The answerer is told which passages are of the named year's document (it quotes them first)."""
    answer = filings.ask("How many stores did Northwind open in fiscal 2022?")
    marked = {p.chunk.doc_id for p in answer.passages if p.meta.get("preferred")}
    assert marked == {"nj"}
    assert any(p.chunk.doc_id != "nj" and not p.meta.get("preferred") for p in answer.passages)


def test_latest_form_picks_the_newest_period_of_that_form(filings: Assistant) -> None:
    answer = filings.ask("What was Northwind's net revenue in its latest 10-Q?")
    assert answer.meta["named_documents"] == ["n3"] and set(_docs(filings, "Southwind's latest 10-Q revenue")) == {"s3"}
    assert set(_docs(filings, "What does Northwind's most recent filing say about stores?")) == {"nk"}


def test_across_quarters_gets_every_quarter_of_the_company_in_period_order(filings: Assistant) -> None:
    answer = filings.ask("How did Northwind's net revenue change across quarters?")
    docs = [p.chunk.doc_id for p in answer.passages]
    assert set(docs) == {"n2", "n3"}  # both quarters, not the annual reports, not Southwind
    assert docs == sorted(docs, key=["n2", "n3"].index)  # Q2 before Q3
    assert [p.meta["period_end"] for p in answer.passages] == sorted(p.meta["period_end"] for p in answer.passages)
    # two companies compared by name: each one's documents are represented
    compared = _docs(filings, "Compare Northwind and Southwind net revenue in Q3 2023")
    assert set(compared) == {"n3", "s3"}


def test_a_question_naming_nothing_is_retrieved_as_before(filings: Assistant) -> None:
    question = "What may disrupt the supply of components?"
    answer = filings.ask(question)
    assert "named_documents" not in answer.meta
    plain = filings.retrieve(question)
    assert [p.chunk.id for p in answer.passages] == [p.chunk.id for p in plain]
    ends = {f.id: f.meta["period_end"] for f in FILINGS}
    assert all(p.meta["period_end"] == ends[p.chunk.doc_id] for p in answer.passages)  # for ordering quotes


def _info(doc_id: str, entity: str, period: str = "", period_end: str = "", form: str = "10-Q") -> DocumentInfo:
    meta = {"entity": entity, "form": form, "period": period, "period_end": period_end}
    return DocumentInfo(id=doc_id, title="Report", source=f"{doc_id}.pdf", chunks=1, ingested_at="x", meta=meta)


def test_a_word_several_entities_share_names_none_of_them() -> None:
    names = DocumentNames([_info("a", "Northwind Widgets Corp."), _info("b", "Northwind Foods Ltd.")])
    assert scope_of("What did Northwind report about costs?", names).doc_ids == ()
    assert scope_of("What did Northwind Foods report about costs?", names).doc_ids == ("b",)
    library = DocumentNames([_info(f.id, f.meta["entity"]) for f in FILINGS])
    assert scope_of("What did Widgets report about costs?", library).doc_ids == ()  # in both names
    assert set(scope_of("What did Southwind report about costs?", library).doc_ids) == {"s2", "s3"}


def test_a_short_form_of_an_entitys_words_names_it() -> None:
    """ "NOWI" and "NorTrade" are beginnings of the words of one entity's name; "Northwind" alone is shared; a
    finance abbreviation that abbreviates no entity's words names none."""
    names = DocumentNames(
        [
            _info("w", "Northwind Widgets Corp."),
            _info("t", "Northwind Traders Inc."),
            _info("h", "Harbor Logistics Ltd."),
        ]
    )
    assert scope_of("What was NOWI's operating margin in 2022?", names).doc_ids == ("w",)
    assert scope_of("Did NorTrade pay a dividend?", names).doc_ids == ("t",)
    assert scope_of("What is HarLog's largest liability?", names).doc_ids == ("h",)
    assert scope_of("What was the EBITDA margin?", names).doc_ids == ()
    assert scope_of("Did NOTR pay a dividend?", names).doc_ids == ("t",)


@pytest.mark.parametrize(
    ("text", "periods"),
    [
        ("Q3 2022", [(2022, 3)]),
        ("Q2 of FY2024", [(2024, 2)]),
        ("3Q22 and 2021 Q1", [(2022, 3), (2021, 1)]),
        ("third quarter of 2023", [(2023, 3)]),
        ("second fiscal quarter of 2023", [(2023, 2)]),
        ("fiscal 2021", [(2021, None)]),
        ("between FY20 and FY21", [(2020, None), (2021, None)]),
        ("in 2022", [(2022, None)]),
        ("the Q3 10-Q", [(None, 3)]),
        ("10-Qs of the R&D unit", []),  # a form and fragments are no period
    ],
)
def test_periods_in(text: str, periods: list[tuple[int | None, int | None]]) -> None:
    assert periods_in(text) == periods


@pytest.mark.parametrize(
    "question",
    [
        "How has revenue changed across quarters?",
        "How did margins move over the last three quarters?",
        "What did each company report?",
        "How did revenue change between 2021 and 2022?",
        "Revenue in Q3 2022 vs Q3 2023",
    ],
)
def test_multi_document_questions(question: str) -> None:
    assert asks_each_document(question) and wants_several(question)


@pytest.mark.parametrize(
    "question",
    [
        "How does the Chinese chatbot compare with American rivals on price?",
        "What was revenue in 2022?",
        "How much does it pay each year?",
    ],
)
def test_single_document_questions(question: str) -> None:
    assert not asks_each_document(question)


def test_words_naming_a_document_by_its_meta_count_for_a_summary_or_an_end() -> None:
    library = [_info(f.id, f.meta["entity"], f.meta["period"], f.meta["period_end"], f.meta["form"]) for f in FILINGS]
    summary = scope_of("Summarise Northwind's latest 10-Q", library)
    assert summary.doc_ids == ("n3",) and summary.focus == Focus.SUMMARY
    end = scope_of("How does Southwind's Q3 2023 10-Q end?", library)
    assert end.doc_ids == ("s3",) and end.focus == Focus.END


def test_latest_without_an_entity_asks_for_the_best_ranked_documents_entity() -> None:
    library = [_info(f.id, f.meta["entity"], f.meta["period"], f.meta["period_end"], f.meta["form"]) for f in FILINGS]
    assert scope_of("What was revenue in the latest 10-Q?", library).wants_entity
    assert scope_of("What was revenue in the latest 10-Q?", library, entity_of="s2").doc_ids == ("s3",)
    assert scope_of("What came before the latest guideline?", library) == Scope()  # "latest" of something else


def test_scope_of_is_cheap_for_a_thousand_documents() -> None:
    library = [
        _info(f"d{i}", f"Company{i // 4} Holdings Inc.", f"Q{i % 4 + 1} 2023", f"2023-{(i % 4 + 1) * 3:02d}-28")
        for i in range(1000)
    ]
    names = DocumentNames(library)
    questions = ["What was Company17's revenue in Q3 2023?", "What did the latest 10-Q say?", "What is a widget?"]
    t0 = time.perf_counter()
    for _ in range(20):
        for q in questions:
            scope_of(q, names)
    per_question = (time.perf_counter() - t0) / 60
    assert scope_of(questions[0], names).doc_ids == ("d70",)
    assert per_question < 0.005  # measured ~0.1 ms (docs/scope.md); a linear scan per word would be far slower


def _outlook_library() -> list[Document]:
    """A company's FY2023 10-K of many passages, its FY2022 10-K whose words echo the question, and its fourth-quarter
    2022 release, the only one to state the outlook for fiscal 2023."""
    topics = ["stores", "freight", "pensions", "leases", "tax", "warranties"]
    k23 = "\n\n".join(
        f"{topic.title()}\n\nAdjusted earnings per share in fiscal 2023 reflected {topic} costs. "
        + f"The Company reviewed its {topic} arrangements with each supplier and each region during the year. " * 6
        for topic in topics
    )
    k22 = (
        "Results\n\nGrowth in adjusted earnings per share: was it expected to accelerate? Growth in adjusted earnings "
        "per share accelerated in fiscal 2021 and was expected to accelerate again, as growth in adjusted earnings "
        "per share had accelerated before.\n"
    )
    q22 = (
        "Outlook\n\nFor fiscal 2023 the Company guides to adjusted earnings per share of $7.40, up 8 percent, after "
        "3 percent in fiscal 2022: management anticipates faster growth next year.\n"
    )

    def doc(doc_id: str, text: str, form: str, period: str, end: str) -> Document:
        meta = {"entity": NORTHWIND, "form": form, "period": period, "period_end": end}
        return Document(id=doc_id, title="Report", source=f"{doc_id}.txt", text=text, meta=meta)

    return [
        doc("k23", k23, "10-K", "FY2023", "2023-12-31"),
        doc("k22", k22, "10-K", "FY2022", "2022-12-31"),
        doc("q22", q22, "earnings release", "Q4 2022", "2022-12-31"),
    ]


def test_a_named_year_prefers_by_score_and_leaves_places_to_other_documents(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> None:
    # the year's document (six passages) no longer takes four of five places: the release before the year, which
    # holds its outlook, is among the five although the previous 10-K echoes the question's words more
    svc = Assistant(get_settings(data_dir=tmp_path_factory.mktemp("outlook")), embedder=embedder)
    try:
        svc.ingest_documents(_outlook_library())
        question = "Is growth in Northwind's adjusted earnings per share expected to accelerate in fiscal 2023?"
        docs = _docs(svc, question)
        assert len(docs) == 5 and set(docs) == {"k23", "k22", "q22"}  # the named year's 10-K keeps places, not all
    finally:
        svc.close()


def test_a_named_fiscal_year_prefers_the_annual_report_over_that_years_quarters(filings: Assistant) -> None:
    """ "fiscal 2023" is the year the annual report covers; the 10-Qs of 2023 each cover a quarter of it."""
    answer = filings.ask("How many stores did Northwind open in fiscal 2023?")
    marked = {p.chunk.doc_id for p in answer.passages if p.meta.get("preferred")}
    assert marked == {"nk"}  # not the quarters of 2023, which the answerer would quote as readily
    assert "nk" in {p.chunk.doc_id for p in answer.passages}


def test_passages_carry_their_documents_ticker(tmp_path: Path, embedder: Embedder) -> None:
    """Chunks do not carry a ticker; the service passes the document's on, so the answerer's name check can see it."""
    doc = _filing("t1", "Eastwind Kites Inc.", "10-Q", "Q1 2024", "2024-03-31", 77, 3)
    doc = doc.model_copy(update={"meta": {**doc.meta, "ticker": "EWKT"}})
    svc = Assistant(get_settings(data_dir=tmp_path), embedder=embedder)
    try:
        svc.ingest_documents([doc])
        answer = svc.ask("How many stores did EWKT open in the quarter?")
    finally:
        svc.close()
    assert answer.passages and all(p.meta.get("ticker") == "EWKT" for p in answer.passages)
    assert not answer.abstained, answer.meta.get("abstain_reason")


def test_two_named_years_take_each_years_annual_report_not_its_quarters(filings: Assistant) -> None:
    answer = filings.ask("How did Northwind's net revenue change between fiscal 2022 and fiscal 2023?")
    assert set(answer.meta["named_documents"]) == {"nj", "nk"}
    assert {p.chunk.doc_id for p in answer.passages} == {"nj", "nk"}
