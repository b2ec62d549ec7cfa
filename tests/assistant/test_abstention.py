"""Abstention that generalises: names found in a document's labels, tokenisation fragments that are no names,
answer types in the forms texts really use (real MiniLM model, made-up filings)."""

from __future__ import annotations

import pytest

from assistant.answer_types import AnswerType, expected_type, is_table_row, type_evidence
from assistant.extractive import ExtractiveAnswerer, _expansion, _question_terms
from assistant.types import Passage
from tests.assistant.filings import filing_passages


def _filing(doc_id: str, text: str, *, title: str = "Form 10-Q", context: str = "", **meta: str) -> list[Passage]:
    """One passage per three sentences of ``text``, as ingest makes them."""
    return filing_passages(doc_id, text, sentences=3, title=title, context=context, meta=meta)


# The cover page's first line is the title ("Form 10-Q"); only the context header names the company.
WE = (
    "Results of Operations. "
    "We reported total revenue of $48.2 million for the first quarter, up from $41.5 million a year earlier. "
    "The Company attributes the increase to higher shipments of industrial pumps. "
    "Our gross margin was stable at 37 percent. "
    "We expect shipments to remain strong in the coming months."
)
HEADER = "Northwind Traders Inc. · Form 10-Q · Q1 2024 · Management's Discussion and Analysis"


def test_a_company_named_only_in_the_context_header_is_in_the_documents(answerer: ExtractiveAnswerer) -> None:
    """A filing says "we" and "the Company": the company it is by is named by the header its chunks carry."""
    answer = answerer.answer("What was Northwind's revenue in Q1?", _filing("nw-q1", WE, context=HEADER))
    assert not answer.abstained, answer.meta.get("abstain_reason")
    assert "$48.2 million" in answer.citations[0].quote


def test_a_name_in_no_passage_and_no_label_still_abstains(answerer: ExtractiveAnswerer) -> None:
    """Labels excuse the document's own names, not others; fragments are not listed as missing names."""
    question = "What did the Halvorsen Foundation say about Northwind's R&D spending in Q1?"
    answer = answerer.answer(question, _filing("nw-q1", WE, context=HEADER))
    assert answer.abstained
    assert answer.meta["abstain_reason"] == "not in the documents: Halvorsen, Foundation"


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("What did the 10-Qs say about R&D spending?", set()),
        ("How did COVID-19 affect U.S. sales in Q1?", {"US"}),
        ("Did the S&P 500 rise in FY2023?", {"500"}),
        ("What is the capital expenditure (in USD millions) of Contoso?", {"Contoso"}),
        ("What did Orla Byrne say about the Biden-era rule?", {"Orla", "Byrne", "Biden"}),
        ("Can you pin a page for everyone? Explain your answer.", set()),  # capitalised as a sentence's first word
        ("Who is A. Writer?", {"Writer"}),  # an initial's dot ends no sentence
        ('How long is "section_10.md" compared with the Contoso guide?', {"Contoso"}),
    ],
)
def test_fragments_of_compounds_and_periods_are_not_names(question: str, names: set[str]) -> None:
    assert {t.surface for t in _question_terms(question, set()) if t.entity} == names


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("What share of revenue came from services in FY 2023?", {"2023"}),  # "FY": a period, written apart
        ("How did Contoso's sales change YoY and YTD?", {"Contoso"}),
        # a quarter glued to its year is a period too; a bare year and a model number stay names
        ("Which region of Contoso fell most in Q22023 and 3Q22?", {"Contoso"}),
        ("Did Contoso's A320 orders rise in Q2FY24 against 2023?", {"Contoso", "A320", "2023"}),
    ],
)
def test_period_abbreviations_are_not_names(question: str, names: set[str]) -> None:
    assert {t.surface for t in _question_terms(question, set()) if t.entity} == names


HARLOW = "Harlow & Harlow 10-K FY2023 · Part II › Results of Operations"


@pytest.mark.parametrize(
    ("question", "context"),
    [
        ("What drove the change in HnH's selling expenses?", HARLOW),  # the capitals: initials
        ("What drove the change in HaHa's selling expenses?", HARLOW),
        ("What drove the change in NorTrade's selling expenses?", "Northwind Traders Inc. 10-Q Q1 2024"),
    ],
)
def test_an_abbreviation_of_the_entity_in_the_labels_is_in_the_documents(
    answerer: ExtractiveAnswerer, question: str, context: str
) -> None:
    """A question writes the entity short ("HnH", "NorTrade"); the labels spell it out. Each word of the full name
    gives the beginning of the short form."""
    text = (
        "Selling expenses decreased 4 percent because of lower freight costs. "
        "The Company opened two distribution centres in the year. "
        "Administrative expenses were flat."
    )
    answer = answerer.answer(question, _filing("hh", text, context=context))
    assert not answer.abstained, answer.meta.get("abstain_reason")
    assert "freight" in answer.citations[0].quote


def test_a_short_form_that_abbreviates_no_label_name_still_abstains(answerer: ExtractiveAnswerer) -> None:
    text = "Selling expenses decreased 4 percent because of lower freight costs. Administrative expenses were flat."
    answer = answerer.answer("What drove the change in KLM's selling expenses?", _filing("hh", text, context=HARLOW))
    assert answer.abstained
    assert answer.meta["abstain_reason"] == "not in the documents: KLM"


def test_fragments_do_not_make_the_answerer_abstain(answerer: ExtractiveAnswerer) -> None:
    text = (
        "Spending on research and development rose to $9.4 million in the quarter. "
        "The increase reflects new laboratories for industrial pumps. "
        "Selling expenses were flat."
    )
    answer = answerer.answer("How much did the 10-Qs report for R&D spending?", _filing("nw-rd", text))
    assert not answer.abstained, answer.meta.get("abstain_reason")
    assert "$9.4 million" in answer.answer


# ------------------------------------------------------------------ answer types


def test_a_question_about_a_change_wants_a_number_of_any_kind() -> None:
    assert expected_type("How much did the bakery cut its energy costs?") == AnswerType.NUMBER
    assert expected_type("By how much did prices fall?") == AnswerType.NUMBER
    assert expected_type("How much did the bakery spend on energy?") == AnswerType.MONEY


def test_the_sentence_that_asks_gives_the_answer_type() -> None:
    """A statement before the question is context: its "when" asks for no date."""
    assert (
        expected_type("The guide mentions the fee charged when billing late. What is this rate?") == AnswerType.PERCENT
    )
    assert expected_type("Can you pin a page for everyone? Explain your answer.") is None
    # an abbreviation's dot ends no sentence
    assert expected_type("What did the U.S. Department of Energy declare about the plant?") == AnswerType.STATEMENT


def test_a_percentage_answers_how_much_a_cost_was_cut(answerer: ExtractiveAnswerer) -> None:
    text = (
        "Lakeside Bakery replaced its gas ovens with heat pumps last spring. "
        "The switch cut its energy costs by roughly 35 percent, the owners said. "
        "The bakery now sells bread to three schools."
    )
    answer = answerer.answer("How much did Lakeside Bakery cut its energy costs?", _filing("bakery", text))
    assert not answer.abstained, answer.meta.get("abstain_reason")
    assert "35 percent" in answer.citations[0].quote


def test_money_and_rates_accept_the_forms_tables_use() -> None:
    row = "Total revenue (in thousands) — Three Months Ended March 31, 2024: 17,455; Three Months Ended 2023: 16,120"
    assert is_table_row(row)
    assert not is_table_row("We reported total revenue of $48.2 million — a record: up 12 percent.\nNext line")
    assert type_evidence(row, AnswerType.MONEY) > 0
    assert type_evidence("Revenue was 17,455 (in thousands).", AnswerType.MONEY) > 0
    assert type_evidence("Effective tax rate — 2024: 21.4; 2023: 19.8", AnswerType.PERCENT) > 0
    assert type_evidence("About 38 percent of revenue came from services.", AnswerType.MONEY) > 0
    assert type_evidence("It cost 4,500 units of effort.", AnswerType.MONEY) == 0.0  # still no money


TABLE = (
    "Condensed Consolidated Statements of Operations\n"
    "Total revenue (in thousands) — Three Months Ended March 31, 2024: 17,455; Three Months Ended March 31, 2023: "
    "16,120\n"
    "Effective tax rate — Three Months Ended March 31, 2024: 21.4; Three Months Ended March 31, 2023: 19.8\n"
    "Liquidity and Capital Resources\n"
    "We believe our cash will be sufficient for the next twelve months."
)


@pytest.mark.parametrize(
    ("question", "row"),
    [
        ("What was total revenue in the three months ended March 31, 2024?", "Total revenue"),
        ("What was the effective tax rate in the quarter?", "Effective tax rate"),
    ],
)
def test_a_table_row_is_a_sentence_that_answers_a_number_question(
    answerer: ExtractiveAnswerer, question: str, row: str
) -> None:
    answer = answerer.answer(question, _filing("nw-table", TABLE))
    assert not answer.abstained, answer.meta.get("abstain_reason")
    quote = answer.citations[0].quote
    assert quote.startswith(row) and "\n" not in quote  # the row alone, not glued to the heading after it


# ------------------------------------------------------------------ a year the labels name


@pytest.mark.parametrize(
    "question",
    [
        "What were Northwind's merchandise inventories at the end of fiscal 2023?",
        "What were Northwind's merchandise inventories at the end of FY 2023?",
        "What were the merchandise inventories of Northwind in 2023?",
    ],
)
def test_a_year_named_by_the_documents_period_label_is_in_the_documents(
    answerer: ExtractiveAnswerer, question: str
) -> None:
    """The report never writes its own year in the passage; its labels say "FY2023". The question's "2023" is
    that year, not a name missing from the documents."""
    text = "Merchandise inventories were $5.9 billion at the end of the fiscal year. The board met five times."
    passages = _filing("nw-annual", text, title="Northwind Traders Inc. 10-K FY2023", context="Part II › Inventories")
    answer = answerer.answer(question, passages)
    assert not answer.abstained, answer.meta.get("abstain_reason")
    assert "$5.9 billion" in answer.citations[0].quote


def test_a_year_no_label_names_is_still_missing(answerer: ExtractiveAnswerer) -> None:
    text = "Merchandise inventories were $5.9 billion at the end of the fiscal year. The board met five times."
    passages = _filing("nw-annual", text, title="Northwind Traders Inc. 10-K FY2023", context="Part II › Inventories")
    answer = answerer.answer("What were Northwind's merchandise inventories at the end of fiscal 2031?", passages)
    assert answer.abstained
    assert answer.meta["abstain_reason"] == "not in the documents: 2031"


# ------------------------------------------------------------------ names outside the sentence that asks

RATIO = (
    "Accounts payable were $412 million at the end of the year, up from $388 million. "
    "Cost of sales was $2,950 million. "
    "Inventories were $610 million."
)


def test_a_definition_or_instruction_after_the_question_names_nothing_to_find(answerer: ExtractiveAnswerer) -> None:
    """Only the sentence that asks names what the passages must mention: the formula and the instruction around
    it ("365", "COGS", "Round") do not; an acronym the question spells out ("accounts payable turnover (APT)") is
    not a name either."""
    question = (
        "What is Northwind's FY2023 accounts payable turnover (APT)? APT is defined as: 365 * (FY2023 COGS + "
        "change in inventory) / (average accounts payable). Round your answer to two decimal places."
    )
    passages = _filing("nw-annual", RATIO, title="Northwind Traders Inc. 10-K FY2023", context="Balance Sheets")
    answer = answerer.answer(question, passages)
    # whether the figures answer a computed ratio is the threshold's call; no name is missing
    assert not str(answer.meta.get("abstain_reason", "")).startswith("not in the documents"), answer.meta
    assert _question_terms(question, set())  # the instruction's names are still terms (they count for coverage)


def test_a_name_in_the_sentence_that_asks_is_still_required(answerer: ExtractiveAnswerer) -> None:
    question = "What is the Halvorsen ratio of Northwind for FY2023? It is defined as payables over cost of sales."
    passages = _filing("nw-annual", RATIO, title="Northwind Traders Inc. 10-K FY2023", context="Balance Sheets")
    answer = answerer.answer(question, passages)
    assert answer.abstained
    assert answer.meta["abstain_reason"] == "not in the documents: Halvorsen"


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("What was on the agenda of the meeting dated 1st July 2022?", {"July", "2022"}),
        ("Who finished 22nd in the Northwind rally?", {"Northwind"}),
    ],
)
def test_ordinals_are_not_names(question: str, names: set[str]) -> None:
    """The day of a date or a rank: texts write "July 1" or "twenty-second"."""
    assert {t.surface for t in _question_terms(question, set()) if t.entity} == names


@pytest.mark.parametrize(
    ("short", "written", "found"),
    [
        ("R&D", "Research and development expenses rose to $12 million.", True),
        ("R&D", "Our R & D spending rose.", True),
        ("PP&E", "Property, plant and equipment, net was $4.1 billion.", True),
        ("SG&A", "Selling, general and administrative costs fell.", True),
        ("COGS", "The cost of goods sold rose by 3 percent.", True),
        ("EBITDA", "Earnings before interest, taxes, depreciation and amortization improved.", True),
        ("SBC", "Stock-based compensation was $9 million.", True),
        ("SBC", "The board and committee met twice.", False),  # initials in order, but not consecutive words
        ("R&D", "Research or development spending rose.", False),  # an ampersand stands for "and"
        ("AI", "Artificial intelligence is a growing field.", False),  # two capitals: too many word pairs match
    ],
)
def test_an_abbreviation_matches_the_words_it_stands_for(short: str, written: str, found: bool) -> None:
    pattern = _expansion(short)
    assert (pattern is not None and pattern.search(written) is not None) is found


def test_an_ampersand_abbreviation_is_one_term_not_its_letters() -> None:
    stems = [t.stem for t in _question_terms("What was R&D expense in 2023?", set())]
    assert "r&d" in stems
    assert "r" not in stems and "d" not in stems


def test_a_row_that_spells_out_the_asked_abbreviation_is_quoted(answerer: ExtractiveAnswerer) -> None:
    """A statement writes "Research and development" where the question says "R&D": of the rows with an amount,
    the one that spells the abbreviation out answers (without the expansion another row won on similarity)."""
    text = (
        "Our R&D teams grew in 2023 as we expanded mapping and payments work across the marketplace.\n"
        "Sales and marketing — Year Ended December 31, 2022: $1,210; 2023: $1,340.\n"
        "Research and development — Year Ended December 31, 2022: $2,480; 2023: $2,615.\n"
        "General and administrative — Year Ended December 31, 2022: $905; 2023: $960."
    )
    answer = answerer.answer("How much did Northwind spend on R&D in 2023?", _filing("nw-10k", text, context=HEADER))
    assert not answer.abstained, answer.meta.get("abstain_reason")
    assert answer.citations[0].quote.startswith("Research and development")


def test_a_spelled_out_acronym_in_the_passages_keeps_the_answerer_from_abstaining(answerer: ExtractiveAnswerer) -> None:
    """ "SBC" is named nowhere, but the passages say "stock-based compensation": the acronym is in the documents."""
    text = (
        "Stock-based compensation expense was $84 million for the quarter, compared with $71 million a year earlier. "
        "The increase reflects new grants to engineering staff."
    )
    answer = answerer.answer(
        "How much SBC expense did Northwind record in the quarter?", _filing("nw", text, context=HEADER)
    )
    assert not answer.abstained, answer.meta.get("abstain_reason")
    assert "$84 million" in answer.citations[0].quote
