"""The name check of the extractive answerer in general terms: a capitalised common word standing alone, a country
code, a ticker or initials found only in a document's metadata, an N read as "and" (real MiniLM model, made-up
filings; every case abstained before)."""

from __future__ import annotations

import pytest

from assistant.extractive import ExtractiveAnswerer, _expansion, _question_terms
from assistant.types import Passage
from tests.assistant.filings import filing_passages


def _filing(doc_id: str, text: str, *, context: str, passage_meta: dict[str, str] | None = None) -> list[Passage]:
    """One passage per two sentences, titled "Form 10-Q" (a cover page's first line), the context header naming
    the company; ``passage_meta`` as the service may attach it."""
    return filing_passages(doc_id, text, sentences=2, context=context, passage_meta=passage_meta)


SEGMENTS = (
    "Segment Performance. "
    "In our domestic segment, appliances revenue grew 9 percent in the second quarter of 2024. "
    "The Company's international segment revenue declined 3 percent on weaker demand for televisions. "
    "Our domestic comparable sales were flat overall."
)
HEADER = "Varnholt Appliances Inc. · Form 10-Q · Q2 2024 · Management's Discussion and Analysis"


@pytest.mark.parametrize(
    ("question", "names"),
    [
        # a capitalised common word alone, and a three-letter country code: texts say "domestic segment", "German"
        ("Which Varnholt category grew most in the domestic (DEU) Market in Q2?", {"Varnholt"}),
        ("What did the Company say about Segment margins?", set()),
        # next to another capitalised word, common words are part of a name
        ("Who is the Secretary of Commerce of Varnholt?", {"Secretary", "Commerce", "Varnholt"}),
        ("What did the Eastern Union say about Varnholt?", {"Eastern", "Union", "Varnholt"}),
        # a word the dictionary capitalises, or lacks, stays a name
        ("What did Amazon say about Varnholt?", {"Amazon", "Varnholt"}),
        ("What did Halvorsen say about the Market?", {"Halvorsen"}),
    ],
)
def test_common_words_and_country_codes_alone_are_not_names(question: str, names: set[str]) -> None:
    assert {t.surface for t in _question_terms(question, set()) if t.entity} == names


def test_a_country_code_and_a_capitalised_common_word_do_not_make_the_answerer_abstain(
    answerer: ExtractiveAnswerer,
) -> None:
    """The filing says "our domestic segment" and "the Company"; the question "the domestic (DEU) Market"."""
    answer = answerer.answer(
        "How much did appliances revenue of Varnholt grow in the domestic (DEU) Market in Q2 2024?",
        _filing("varnholt-q2", SEGMENTS, context=HEADER),
    )
    assert not answer.abstained, answer.meta.get("abstain_reason")
    assert "appliances revenue grew" in answer.citations[0].quote


def test_a_missing_name_of_several_common_words_still_abstains(answerer: ExtractiveAnswerer) -> None:
    answer = answerer.answer(
        "What did the Eastern Union say about Varnholt's domestic segment?",
        _filing("varnholt-q2", SEGMENTS, context=HEADER),
    )
    assert answer.abstained
    assert answer.meta["abstain_reason"] == "not in the documents: Eastern, Union"


def test_a_ticker_in_the_document_metadata_only_is_in_the_documents(answerer: ExtractiveAnswerer) -> None:
    """No passage and no header writes "VHLT"; the document's meta (as the service passes it on) does."""
    question = "How much did appliances revenue of VHLT grow in the domestic segment in Q2 2024?"
    passages = _filing("varnholt-q2", SEGMENTS, context=HEADER, passage_meta={"ticker": "VHLT"})
    answer = answerer.answer(question, passages)
    assert not answer.abstained, answer.meta.get("abstain_reason")
    assert "appliances revenue grew" in answer.citations[0].quote
    unlabelled = answerer.answer(question, _filing("varnholt-q2", SEGMENTS, context=HEADER))
    assert unlabelled.abstained
    assert unlabelled.meta["abstain_reason"] == "not in the documents: VHLT"


HARLOW = "Harlow & Harlow 10-K FY2023 · Part II › Results of Operations"
SELLING = (
    "Selling expenses decreased 4 percent in 2023 because of lower freight costs and fewer trade shows. "
    "Administrative expenses were flat."
)


def test_initials_with_an_n_for_and_name_the_entity_of_the_labels(answerer: ExtractiveAnswerer) -> None:
    """ "HNH" (all capitals, N for "and") is "Harlow & Harlow", as "HnH" and "H&H" are."""
    answer = answerer.answer("What drove the change in HNH's selling expenses?", _filing("hh", SELLING, context=HARLOW))
    assert not answer.abstained, answer.meta.get("abstain_reason")
    other = answerer.answer("What drove the change in HNK's selling expenses?", _filing("hh", SELLING, context=HARLOW))
    assert other.abstained
    assert other.meta["abstain_reason"] == "not in the documents: HNK"


@pytest.mark.parametrize(
    ("short", "written", "found"),
    [
        ("RNDE", "Research and development expense", True),  # N for "and"
        ("RNDE", "research & development expenses", True),
        ("PNL", "the profit and loss statement", True),
        ("RNDE", "research or development expense", False),
        ("NPV", "net present value", True),  # a first N is an N
    ],
)
def test_an_n_between_letters_may_stand_for_and(short: str, written: str, found: bool) -> None:
    pattern = _expansion(short)
    assert (pattern is not None and pattern.search(written) is not None) is found
