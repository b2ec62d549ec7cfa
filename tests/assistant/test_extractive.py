"""The extractive answerer with the real MiniLM model: answer types, context, abstention, verbatim citations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from assistant.answer_types import (
    AnswerType,
    as_statement,
    asks_for_explanation,
    cue_reference,
    expected_type,
    type_evidence,
    type_words,
)
from assistant.config import get_settings
from assistant.extractive import ABSTAIN_TEXT, ExtractiveAnswerer, _question_terms, content_stems
from assistant.scope import Focus
from assistant.service import Assistant
from assistant.types import Answer, Chunk, Document, Passage
from index.embeddings import Embedder
from ingest.chunking import split_sentences
from tests.assistant.filings import filing_passages
from tests.conftest import assert_verbatim_citations

FINAL_PUNCTUATION = re.compile(r"[.!?…][\"'”’»)\]]*$")


# ------------------------------------------------------------------ helpers


def _document(doc_id: str, text: str, title: str = "") -> Document:
    return Document(id=doc_id, title=title or doc_id, source=f"/docs/{doc_id}.txt", text=text)


def _passages(doc: Document, chunk_sentences: int = 3) -> list[Passage]:
    """Chunks of ``chunk_sentences`` sentences with their real document offsets, best first in text order."""
    spans = split_sentences(doc.text)
    passages: list[Passage] = []
    for k in range(0, len(spans), chunk_sentences):
        start, end = spans[k][0], spans[min(k + chunk_sentences, len(spans)) - 1][1]
        chunk = Chunk(
            id=f"{doc.id}:{k:04d}",
            doc_id=doc.id,
            text=doc.text[start:end],
            start=start,
            end=end,
            meta={"title": doc.title, "source": doc.source, "page": None},
        )
        passages.append(Passage(chunk=chunk, score=1.0 - 0.1 * len(passages)))
    return passages


def _check_verbatim(answer: Answer, docs: dict[str, Document]) -> None:
    assert_verbatim_citations(answer, lambda doc_id: docs[doc_id].text)
    for c in answer.citations:
        assert " ".join(c.quote.split()) in answer.answer


# ------------------------------------------------------------------ answer types (pure functions)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("When did the factory open?", AnswerType.DATE),
        ("On which day of the week was the vote held?", AnswerType.DATE),
        ("Since when has the bridge been closed?", AnswerType.DATE),
        ("For how long will the museum stay shut?", AnswerType.DURATION),
        ("How many people work at Zentrix?", AnswerType.NUMBER),
        ("how much money did the council spend on the bridge", AnswerType.MONEY),
        ("What was the company's annual revenue?", AnswerType.MONEY),
        ("What interest rate did the bank set?", AnswerType.PERCENT),
        ("Who designed the bridge?", AnswerType.PERSON),
        ("Which newspaper broke the story?", AnswerType.ORGANIZATION),
        ("Which countries signed the treaty?", AnswerType.LOCATION),
        ("Where did the meeting take place?", AnswerType.LOCATION),
        ("Why did the council drop the plan?", AnswerType.REASON),
        ("What replaced the parking scheme?", AnswerType.SUBSTITUTION),
        ("What did the mayor say about the bridge?", AnswerType.STATEMENT),
        ("Is the bridge open?", None),
        ("How was the bridge built?", None),
        ("What are parking restrictions becoming part of?", None),
    ],
)
def test_expected_answer_type(question: str, expected: AnswerType | None) -> None:
    assert expected_type(question) == expected


def test_type_evidence_finds_values_the_question_does_not_already_state() -> None:
    assert type_evidence("Work began on March 3, 2021.", AnswerType.DATE) == 1.0
    assert type_evidence("Work began after a long debate.", AnswerType.DATE) == 0.0
    assert type_evidence("The vote was held on Tuesday.", AnswerType.DATE) == 1.0
    assert type_evidence("Officials may announce it soon.", AnswerType.DATE) == 0.0  # the verb, not the month
    assert type_evidence("The chip rivals the H100 in speed.", AnswerType.NUMBER, exclude={"h100"}) == 0.0
    assert type_evidence("The chip has 80 billion transistors.", AnswerType.NUMBER, exclude={"h100"}) == 1.0
    assert type_evidence("Tariffs fall for 90 days.", AnswerType.DURATION) == 1.0
    assert type_evidence("It cost $4.5 million to build.", AnswerType.MONEY) == 1.0
    assert type_evidence("It cost 4,500 units of effort.", AnswerType.MONEY) == 0.0
    assert type_evidence("The rate rose to 4.5% in May.", AnswerType.PERCENT) == 1.0
    assert type_evidence("Instead, a new charge will apply.", AnswerType.SUBSTITUTION) == 1.0
    assert type_evidence("The charge applies to all vehicles.", AnswerType.SUBSTITUTION) == 0.0
    assert type_evidence("It was dropped because shops complained.", AnswerType.REASON) == 1.0
    assert type_evidence('"It will backfire," the spokesperson said.', AnswerType.STATEMENT) == 1.0


def test_a_value_in_an_aside_about_something_else_is_weaker_evidence() -> None:
    """A relative clause or participle phrase describes the noun before it: its date dates that thing, not
    the event the sentence reports, unless the question is about that thing."""
    levy = "The levy, which was due to start on June 1, covers imports."
    report = "The report, released by the ministry on Tuesday, warns of delays."
    announce = {"when", "did", "the", "council", "announce", "it", "would", "scrap", "tax"}
    assert type_evidence(levy, AnswerType.DATE, exclude=announce) == 0.6
    assert type_evidence(levy, AnswerType.DATE, exclude={"when", "was", "the", "levy", "due", "to", "start"}) == 1.0
    assert type_evidence(report, AnswerType.DATE, exclude=announce) == 0.6
    assert type_evidence(report, AnswerType.DATE, exclude={"on", "which", "day", "was", "the", "report", "out"}) == 1.0
    main_clause = "On June 3, the council said it would scrap the levy."
    assert type_evidence(main_clause, AnswerType.DATE, exclude=announce) == 1.0


def test_a_harm_a_decision_could_do_is_firmer_evidence_of_a_reason_than_a_word_of_risk() -> None:
    assert type_evidence("Keeping the levy could harm exporters and strain the budget.", AnswerType.REASON) == 0.8
    assert type_evidence("The levy is a burden on exporters.", AnswerType.REASON) == 0.6
    assert type_evidence("The levy was dropped because exporters complained.", AnswerType.REASON) == 1.0


def test_names_in_the_question_are_not_evidence_of_a_name() -> None:
    sentence = "Lin Jian spoke at the press conference."
    assert type_evidence(sentence, AnswerType.PERSON, exclude={"who", "spoke", "at", "the", "press"}) > 0
    assert type_evidence(sentence, AnswerType.PERSON, exclude={"lin", "jian"}) == 0.0
    assert type_evidence("Maria Delgado designed the steel arch.", AnswerType.PERSON, exclude={"designed"}) == 1.0


def test_type_words_are_not_terms_to_look_for() -> None:
    assert type_words("What replaced the parking scheme?", AnswerType.SUBSTITUTION) == {"replaced"}
    assert type_words("On which day of the week was it?", AnswerType.DATE) == {"day", "week"}
    assert type_words("Who designed the bridge?", AnswerType.PERSON) == set()


def test_content_stems_join_abbreviations_and_drop_possessives() -> None:
    assert content_stems("The U.S. Commerce Department's rule") == {"us", "commerc", "depart", "rule"}


# ------------------------------------------------------------------ hand-made passages, real model

BRIDGE = _document(
    "bridge",
    "The Orion bridge project was approved by the city council after a long public debate. "
    "Engineers spent two years testing the design of the Orion bridge in a wind tunnel. "
    "Construction of the Orion bridge began on March 3, 2021, according to the city. "
    "The Orion bridge spans the river with a single steel arch.",
)
BRIDGE_UNDATED = _document(
    "bridge-undated",
    "The Orion bridge project was approved by the city council after a long public debate. "
    "Construction of the Orion bridge began after the vote, according to the city. "
    "The Orion bridge spans the river with a single steel arch.",
)


def test_when_question_cites_the_sentence_with_the_date(answerer: ExtractiveAnswerer) -> None:
    answer = answerer.answer("When did construction of the Orion bridge begin?", _passages(BRIDGE))
    assert not answer.abstained
    assert answer.meta["answer_type"] == "date"
    assert any("March 3, 2021" in c.quote for c in answer.citations)
    assert all(type_evidence(c.quote, AnswerType.DATE) > 0 for c in answer.citations)
    _check_verbatim(answer, {BRIDGE.id: BRIDGE})


def test_when_question_abstains_without_any_date(answerer: ExtractiveAnswerer) -> None:
    passages = _passages(BRIDGE_UNDATED)
    answer = answerer.answer("When did construction of the Orion bridge begin?", passages)
    assert answer.abstained and answer.answer == ABSTAIN_TEXT
    assert "date" in answer.meta["abstain_reason"]
    assert answer.citations == () and answer.passages == tuple(passages)


def test_how_many_needs_a_number_that_the_question_does_not_give(answerer: ExtractiveAnswerer) -> None:
    with_number = _document(
        "zentrix",
        "Zentrix is a logistics company based in Rotterdam. Zentrix employs 4,200 people across Europe. "
        "The company moves containers by rail.",
    )
    without = _document(
        "zentrix-2",
        "Zentrix is a logistics company based in Rotterdam. Zentrix employs people across Europe. "
        "The company moves containers by rail.",
    )
    question = "How many people does Zentrix employ?"
    answered = answerer.answer(question, _passages(with_number))
    assert not answered.abstained and "4,200" in answered.answer
    abstained = answerer.answer(question, _passages(without))
    assert abstained.abstained and "number" in abstained.meta["abstain_reason"]


LEVY = _document(
    "levy",
    "The harbour levy on cargo ships has divided the port city for years. "
    "The levy, which was due to double on July 1, was meant to pay for dredging the harbour channel. "
    "On June 3, the port authority said it would abolish the harbour levy. "
    "Shipping firms welcomed the decision.",
)


def test_a_date_in_an_aside_answers_a_when_question_only_about_what_the_aside_describes(
    answerer: ExtractiveAnswerer,
) -> None:
    passages = _passages(LEVY, chunk_sentences=4)
    ended = answerer.answer("When did the port announce it was ending the charge on cargo vessels?", passages)
    assert [c.quote[:9] for c in ended.citations] == ["On June 3"]
    assert "July 1" not in ended.answer
    doubled = answerer.answer("When was the harbour levy due to double?", passages)
    assert doubled.citations[0].quote.startswith("The levy, which was due to double on July 1")


TARIFFS = _document(
    "tariffs",
    "The steel tariffs on high-end imports have hit the region's car makers, with the tariffs now costing "
    "them more than the levies of any year before. "
    "Officials expect the tariffs to stay in place through the winter. "
    "Over time, the tariffs may only reinforce the mills' reliance on recycled scrap.",
)


def test_catenative_verbs_are_not_what_a_question_asks_about(answerer: ExtractiveAnswerer) -> None:
    """In "end up reinforcing" the question asks about reinforcing: "end" must not make the sentence
    about "high-end imports" an answer; "want to" and "try to" likewise frame the verb after them."""
    answer = answerer.answer("What might the tariffs end up reinforcing?", _passages(TARIFFS))
    assert not answer.abstained
    assert answer.citations[0].quote.startswith("Over time, the tariffs may only reinforce")
    assert [t.stem for t in _question_terms("Why did officials want to drop the rule?", set())] == [
        "offici",
        "drop",
        "rule",
    ]
    assert "want" in [t.stem for t in _question_terms("What does the council want?", set())]


SCHEME = _document(
    "scheme",
    "In 2019 the city introduced the Green Parking Scheme to cut traffic in the centre. "
    "The scheme charged drivers by the hour and was unpopular with shop owners.\n\n"
    "Officials said that keeping the scheme would hurt local trade. "
    "Instead, a congestion charge will apply to all vehicles entering the ring road. "
    "Cycling lanes were also widened along the river.",
)


TOLLS = _document(
    "tolls",
    "Tensions between the province and its haulers have escalated over new charges on heavy trucks. "
    "The province introduced the tolls in March to pay for bridge repairs. "
    "Haulers have asked the courts to suspend the tolls. "
    "Officials in the province say the tolls raise about 40 million a year. "
    "A spokesman for the haulers called the tolls unfair. "
    "In practice, these charges may only deepen the region's reliance on rail freight. "
    "Rail operators have already added extra freight trains. "
    "The bridge repairs are due to finish in two years.",
)


def test_a_sentence_that_only_restates_what_the_question_takes_as_given_does_not_join(
    answerer: ExtractiveAnswerer,
) -> None:
    """ "The province's tolls" is given by the question; what it asks is what they deepen. A sentence that
    mentions the province and its tolls, and nothing of what is asked, adds nothing to the answer."""
    answer = answerer.answer("What might the province's tolls end up deepening?", _passages(TOLLS))
    assert [c.quote for c in answer.citations] == [
        "In practice, these charges may only deepen the region's reliance on rail freight."
    ]


def test_what_replaced_finds_the_successor_through_its_context(answerer: ExtractiveAnswerer) -> None:
    """The successor sentence never names the scheme: its cue ("Instead") and the sentence before it
    ("keeping the scheme") make it the answer."""
    answer = answerer.answer("What replaced the Green Parking Scheme?", _passages(SCHEME, chunk_sentences=5))
    assert not answer.abstained
    assert answer.meta["answer_type"] == "substitution"
    assert answer.citations[0].quote.startswith("Instead, a congestion charge")
    _check_verbatim(answer, {SCHEME.id: SCHEME})


CHARGE = _document(
    "charge",
    "The transport board has adopted a new congestion charge for all vehicles entering the ring road. "
    "Shop owners in the centre had complained about traffic for years. "
    "Traffic counts rose sharply in the spring. "
    "Cycling lanes were widened along the river.\n\n"
    "After scrapping the Green Parking Scheme last year, the city has now turned to this stricter approach. "
    "Critics say the charge will hurt small shops.",
)


class _Corpus:
    """Behaves like ``Assistant.chunks`` (every chunk of a document in reading order, [] for an unknown id) but
    with chunking the test controls; the demo tests below go through the real service."""

    def __init__(self, *docs: Document, chunk_sentences: int = 4) -> None:
        self.docs = {d.id: d for d in docs}
        self.chunk_sentences = chunk_sentences
        self.calls: list[str] = []

    def chunks(self, doc_id: str) -> list[Chunk]:
        self.calls.append(doc_id)
        doc = self.docs.get(doc_id)
        return [p.chunk for p in _passages(doc, chunk_sentences=self.chunk_sentences)] if doc else []


@pytest.fixture(scope="module")
def answerer_with_corpus(embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> ExtractiveAnswerer:
    return ExtractiveAnswerer(
        get_settings(data_dir=tmp_path_factory.mktemp("unused")), embedder, corpus=_Corpus(CHARGE, SCHEME)
    )


def test_cue_reference_finds_the_demonstrative_a_cue_points_to() -> None:
    sentence = "After scrapping the scheme, the city has now turned to this stricter approach."
    assert cue_reference(sentence, AnswerType.SUBSTITUTION) == "this stricter approach"
    assert cue_reference("The plan failed because of these rules.", AnswerType.REASON) == "these rules"
    assert cue_reference("Instead, a congestion charge will apply.", AnswerType.SUBSTITUTION) is None
    assert cue_reference("In practice, these efforts may only reinforce it.", AnswerType.SUBSTITUTION) is None
    assert cue_reference(sentence, AnswerType.DATE) is None
    # the phrase ends where a verb or preposition starts; a calendar phrase is no reference
    assert cue_reference("It failed because of these rules were too strict.", AnswerType.REASON) == "these rules"
    assert cue_reference("The city has now turned to this month of change.", AnswerType.SUBSTITUTION) is None


def test_successor_named_only_by_a_demonstrative_is_resolved_from_the_document(
    answerer_with_corpus: ExtractiveAnswerer, answerer: ExtractiveAnswerer
) -> None:
    """Only the chunk saying "turned to this stricter approach" is retrieved; the lead that introduced the new
    congestion charge is fetched from the corpus and quoted first, in reading order."""
    retrieved = _passages(CHARGE, chunk_sentences=4)[1:]
    answer = answerer_with_corpus.answer("What replaced the Green Parking Scheme?", retrieved)
    assert not answer.abstained
    quotes = [c.quote for c in answer.citations]
    assert quotes[0].startswith("The transport board has adopted a new congestion charge")
    assert quotes[1].startswith("After scrapping the Green Parking Scheme")
    assert answer.citations[0].chunk_id == f"{CHARGE.id}:0000"
    assert answer.meta["references"] == [{"citation": 2, "refers_to": 1, "phrase": "this stricter approach"}]
    _check_verbatim(answer, {CHARGE.id: CHARGE})
    # without access to the documents the answer stays within the retrieved passages
    alone = answerer.answer("What replaced the Green Parking Scheme?", retrieved)
    assert [c.quote for c in alone.citations][0].startswith("After scrapping")
    assert "references" not in alone.meta


@pytest.mark.parametrize(("filler", "resolved"), [(10, True), (30, False)])
def test_a_referent_is_looked_for_only_in_the_sentences_shortly_before(
    embedder: Embedder, tmp_path: Path, filler: int, resolved: bool
) -> None:
    """The "new congestion charge" lead, ``filler`` + 4 sentences before "this stricter approach": near enough
    to be its referent at 10, too far at 30."""
    text = " ".join(f"Shop number {k} on the high street reported its weekly takings." for k in range(filler))
    doc = _document(f"filler{filler}", CHARGE.text.replace("Cycling lanes", f"{text} Cycling lanes"))
    answerer = ExtractiveAnswerer(get_settings(data_dir=tmp_path), embedder, corpus=_Corpus(doc))
    retrieved = [p for p in _passages(doc, chunk_sentences=4) if "this stricter approach" in p.chunk.text]
    answer = answerer.answer("What replaced the Green Parking Scheme?", retrieved)
    quotes = [c.quote for c in answer.citations]
    assert any(q.startswith("After scrapping the Green Parking Scheme") for q in quotes)
    assert quotes[0].startswith("The transport board has adopted") is resolved
    assert ("references" in answer.meta) is resolved
    _check_verbatim(answer, {doc.id: doc})


def test_explained_demonstratives_and_other_answer_types_fetch_nothing(embedder: Embedder, tmp_path: Path) -> None:
    corpus = _Corpus(CHARGE, SCHEME)
    answerer = ExtractiveAnswerer(get_settings(data_dir=tmp_path), embedder, corpus=corpus)
    # "Instead, a congestion charge ..." names the successor itself
    answer = answerer.answer("What replaced the Green Parking Scheme?", _passages(SCHEME, chunk_sentences=5))
    assert "references" not in answer.meta
    # a date question does not look for a referent
    answer = answerer.answer("When did the city introduce the scheme?", _passages(SCHEME, chunk_sentences=5))
    assert "references" not in answer.meta and corpus.calls == []


@pytest.mark.parametrize(
    ("question", "statement"),
    [
        ("When did the city introduce the scheme?", "the city introduce the scheme"),
        ("What might the restrictions end up reinforcing in China?", "the restrictions end up reinforcing in China"),
        ("According to the mayor, what will the charge do?", "the charge do"),
        ("Which company has made the chips", "made the chips"),
        ("why did officials drop the rule", "officials drop the rule"),
        ("Is there any easing of trade tensions?", "Is there any easing of trade tensions"),  # yes/no: kept
        ("congestion charge start date", "congestion charge start date"),  # keywords: kept
    ],
)
def test_question_as_statement(question: str, statement: str) -> None:
    assert as_statement(question) == statement


@pytest.mark.parametrize(
    ("question", "explain"),
    [
        ("Explain how the bridge was built.", True),
        ("What are the advantages and disadvantages of the congestion charge?", True),
        ("What are the three main features of the scheme?", True),
        ("What did the city change, and how did shop owners react?", True),
        ("How does the congestion charge work?", True),
        ("When did the city introduce the scheme?", False),
        ("Who designed the bridge?", False),
        ("What did the scheme charge drivers for?", False),
        ("Is the bridge open?", False),
        ("what are shop owners worried about", False),
    ],
)
def test_asks_for_explanation(question: str, explain: bool) -> None:
    assert asks_for_explanation(question) is explain


KITE = _document(
    "kite",
    "The Kestrel kite generator produces electricity from high-altitude wind. "
    "A tethered wing flies figure-of-eight loops at an altitude of about 300 metres. "
    "Each loop pulls the tether off a drum on the ground, and the turning drum drives a generator. "
    "When the tether is fully unwound, the wing is turned edge-on to the wind and reeled back in with little force. "
    "The cycle then starts again, so the generator produces power in pulses. "
    "The company behind the Kestrel was founded in Delft.",
)


def test_an_explanation_question_gets_more_sentences_than_a_fact_question(answerer: ExtractiveAnswerer) -> None:
    passages = _passages(KITE, chunk_sentences=6)
    fact = answerer.answer("Where was the company behind the Kestrel founded?", passages)
    explain = answerer.answer("Explain how the Kestrel kite generator produces electricity.", passages)
    assert not fact.abstained and not explain.abstained
    assert len(fact.citations) == 1 and "Delft" in fact.answer
    assert 2 <= len(explain.citations) <= answerer.max_sentences
    assert "Delft" not in explain.answer
    _check_verbatim(explain, {KITE.id: KITE})


BAN = _document(
    "ban",
    "The new rule shows how difficult it is to enforce an export ban abroad. "
    "Persuading foreign governments to apply another country's law on their own soil poses serious "
    "diplomatic challenges. "
    "The agency that enforces the ban was founded in 1950 and has offices in four cities.",
)


def test_a_why_question_reads_on_to_the_reasons(answerer: ExtractiveAnswerer) -> None:
    answer = answerer.answer("Why is enforcing the export ban abroad difficult?", _passages(BAN, chunk_sentences=4))
    assert not answer.abstained and answer.meta["answer_type"] == "reason"
    assert len(answer.citations) >= 2
    assert "Persuading foreign governments" in answer.answer
    assert "1950" not in answer.answer
    _check_verbatim(answer, {BAN.id: BAN})


PERMIT = _document(
    "permit",
    "Dropping the old permit scheme was the council's most debated decision this year. "
    "After scrapping the permit scheme, the council turned to this stricter approach, which creates problems "
    "of its own. "
    "Council officials said that keeping the permit scheme could hurt local shops and strain the budget.",
)


def test_a_why_question_adds_no_sentence_with_weaker_evidence_of_a_reason(answerer: ExtractiveAnswerer) -> None:
    """ "Could hurt local shops" gives the reason; "problems of its own" is a word of risk about something
    else, however close the sentence is to the question's topic."""
    answer = answerer.answer("Why did council officials want to drop the permit scheme?", _passages(PERMIT, 4))
    assert [c.quote for c in answer.citations] == [
        "Council officials said that keeping the permit scheme could hurt local shops and strain the budget."
    ]


def test_the_same_sentence_in_two_documents_is_quoted_once(answerer: ExtractiveAnswerer) -> None:
    copy = _document("scheme-copy", SCHEME.text)
    passages = _passages(SCHEME, chunk_sentences=5) + _passages(copy, chunk_sentences=5)
    answer = answerer.answer("What replaced the Green Parking Scheme?", passages)
    quotes = [c.quote for c in answer.citations]
    assert quotes and len(quotes) == len(set(quotes))


def test_a_name_the_passages_never_mention_means_abstaining(answerer: ExtractiveAnswerer) -> None:
    answer = answerer.answer("What did the Kessler Institute report about the Orion bridge?", _passages(BRIDGE))
    assert answer.abstained
    assert "Kessler" in answer.meta["abstain_reason"]


def test_headings_and_fragments_are_not_quoted(answerer: ExtractiveAnswerer) -> None:
    doc = _document(
        "otters",
        "Sea Otters Hold Hands While Sleeping\n\n"
        "Sea otters hold hands while they sleep so that they do not drift apart. "
        "A group of resting otters is called a raft.",
    )
    answer = answerer.answer("Why do sea otters hold hands while sleeping?", _passages(doc))
    assert not answer.abstained
    assert all(FINAL_PUNCTUATION.search(c.quote) for c in answer.citations)
    assert "drift apart" in answer.answer


def test_stream_yields_the_pieces_of_the_final_answer(answerer: ExtractiveAnswerer) -> None:
    pieces = list(answerer.stream("When did construction of the Orion bridge begin?", _passages(BRIDGE)))
    final = pieces[-1]
    assert isinstance(final, Answer) and all(isinstance(p, str) for p in pieces[:-1])
    assert "".join(p for p in pieces[:-1] if isinstance(p, str)) == final.answer


def test_no_passages_abstains(answerer: ExtractiveAnswerer) -> None:
    answer = answerer.answer("When did construction of the Orion bridge begin?", [])
    assert answer.abstained and answer.citations == () and answer.passages == ()


_WORDS_POOL = (
    "the bridge council vote March 2021 opened closed Zentrix employs 4,200 people because instead new rule "
    "replaced why when how many who which Huawei U.S. 12% $5 million Tuesday it they this — “quoted” café"
).split()


@given(
    paragraphs=st.lists(
        st.lists(st.lists(st.sampled_from(_WORDS_POOL), min_size=1, max_size=14), min_size=1, max_size=4),
        min_size=1,
        max_size=3,
    ),
    enders=st.sampled_from([". ", "? ", "! ", "\n", " "]),
    question=st.lists(st.sampled_from(_WORDS_POOL), min_size=0, max_size=8).map(" ".join),
    chunk_sentences=st.integers(min_value=1, max_value=4),
    retrieved=st.integers(min_value=1, max_value=4),
    with_corpus=st.booleans(),
    referring=st.booleans(),
)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_text_and_question_give_an_answer_or_an_abstention_with_verbatim_citations(
    embedder: Embedder,
    tmp_path: Path,
    paragraphs: list[list[list[str]]],
    enders: str,
    question: str,
    chunk_sentences: int,
    retrieved: int,
    with_corpus: bool,
    referring: bool,
) -> None:
    """With or without the whole document at hand (references resolved from chunks that were not retrieved);
    ``referring`` frames the random text with a successor given only as "this ..." and a question about it."""
    text = "\n\n".join(enders.join(" ".join(words) for words in sentences) for sentences in paragraphs).strip()
    if referring:
        text = f"The council adopted a new toll for the bridge. {text}\n\nAfter dropping the old parking scheme, "
        text += "the council has now turned to this stricter approach."
        question = "What replaced the old parking scheme?"
    doc = _document("prop", text or "empty")
    corpus = _Corpus(doc, chunk_sentences=chunk_sentences) if with_corpus else None
    answerer = ExtractiveAnswerer(get_settings(data_dir=tmp_path), embedder, corpus=corpus)
    passages = _passages(doc, chunk_sentences=chunk_sentences)
    answer = answerer.answer(question, passages[-retrieved:])
    event("reference resolved" if answer.meta.get("references") else "no reference")
    if answer.abstained:
        assert answer.citations == () and answer.answer == ABSTAIN_TEXT
    else:
        assert 1 <= len(answer.citations) <= answerer.max_sentences
        _check_verbatim(answer, {doc.id: doc})


# ------------------------------------------------------------------ whole documents (passages marked by the service)


ESSAY = _document(
    "essay",
    "The Harbour Essay\n\nBy A. Writer\n\n"
    "The harbour reopened to ships in spring after a long dredging project. "
    "Dredgers removed two metres of silt from the channel. "
    "The work took eleven months.\n\n"
    "Fishermen welcomed the deeper water. Ferries returned to their old timetable.\n\n"
    "Costs ran above the budget. The council blamed the wet winter for the delays.\n\n"
    "Engineers expect another dredge within ten years.\n\n"
    "Whether the harbour will silt up again is the question now. Nobody can yet say.",
    title="The Harbour Essay",
)


def _marked(passages: list[Passage], focus: Focus) -> list[Passage]:
    return [p.model_copy(update={"meta": {**p.meta, "focus": focus.value}}) for p in passages]


def test_a_beginning_or_an_end_is_quoted_by_position_within_its_paragraph(answerer: ExtractiveAnswerer) -> None:
    """The title and the byline are not sentences; the first paragraph gives two of its three sentences; the
    last paragraph is two sentences and the one before it is not joined to them."""
    passages = _passages(ESSAY, chunk_sentences=20)
    start = answerer.answer("How does the essay begin?", _marked(passages, Focus.START))
    assert [c.quote for c in start.citations] == [
        "The harbour reopened to ships in spring after a long dredging project.",
        "Dredgers removed two metres of silt from the channel.",
    ]
    assert start.meta["focus"] == "start"
    end = answerer.answer("How does the essay end?", _marked(passages, Focus.END))
    assert [c.quote for c in end.citations] == [
        "Whether the harbour will silt up again is the question now.",
        "Nobody can yet say.",
    ]
    _check_verbatim(start, {ESSAY.id: ESSAY})
    _check_verbatim(end, {ESSAY.id: ESSAY})


def test_the_ends_of_several_documents_stay_within_the_answer_length(answerer: ExtractiveAnswerer) -> None:
    """Two documents that each end in a two-sentence paragraph: one sentence of each, not four."""
    copy = _document("essay-copy", ESSAY.text, title="The Harbour Essay")
    passages = _marked(_passages(ESSAY, chunk_sentences=20) + _passages(copy, chunk_sentences=20), Focus.END)
    answer = answerer.answer("How do the two essays end?", passages)
    assert [(c.doc_id, c.quote) for c in answer.citations] == [
        (ESSAY.id, "Nobody can yet say."),
        (copy.id, "Nobody can yet say."),
    ]


def test_a_summary_quotes_the_lead_and_the_most_central_sentences_in_reading_order(
    answerer: ExtractiveAnswerer,
) -> None:
    answer = answerer.answer("Summarise the essay", _marked(_passages(ESSAY, chunk_sentences=4), Focus.SUMMARY))
    assert not answer.abstained and answer.meta["focus"] == "summary"
    quotes = [c.quote for c in answer.citations]
    assert quotes[0] == "The harbour reopened to ships in spring after a long dredging project."
    assert 2 <= len(quotes) <= answerer.max_sentences and len(set(quotes)) == len(quotes)
    assert [c.start for c in answer.citations] == sorted(c.start for c in answer.citations)
    assert all(FINAL_PUNCTUATION.search(q) for q in quotes)
    _check_verbatim(answer, {ESSAY.id: ESSAY})


def test_passages_not_all_marked_for_one_focus_are_answered_from_the_question(answerer: ExtractiveAnswerer) -> None:
    passages = _passages(ESSAY, chunk_sentences=4)
    mixed = _marked(passages[:1], Focus.END) + passages[1:]
    answer = answerer.answer("What did the council blame for the delays?", mixed)
    assert "focus" not in answer.meta
    assert answer.citations[0].quote == "The council blamed the wet winter for the delays."


def test_the_author_line_answers_who_wrote_it_and_lends_nothing_to_the_lead(answerer: ExtractiveAnswerer) -> None:
    passages = _passages(ESSAY, chunk_sentences=4)
    author = answerer.answer("Who wrote the essay?", _marked(passages, Focus.AUTHOR))
    assert [c.quote for c in author.citations] == ["By A. Writer"]
    _check_verbatim(author, {ESSAY.id: ESSAY})
    # the name is only in the author line: that is all the essay says of A. Writer (the lead under it says
    # nothing of them)
    who = answerer.answer("Who is A. Writer?", passages)
    assert [c.quote for c in who.citations] == ["By A. Writer"] and who.meta["focus"] == "author"
    no_byline = _document("plain", "The Harbour Essay\n\nThe harbour reopened to ships in spring.")
    none = answerer.answer("Who wrote the essay?", _marked(_passages(no_byline), Focus.AUTHOR))
    assert none.abstained and none.meta["abstain_reason"] == "no author line"


PAPER = _document(
    "paper",
    "A Study of Harbours\nNorthern Europe\nJane Smith and Tom Lee\n\n"
    "Abstract. We study how harbours silt up. Dredging is the usual remedy.\n\n"
    "Silt builds up fastest in sheltered basins.\n\n"
    "We conclude that regular dredging pays for itself.\n\n"
    "References\n\n"
    "1. Smith, J.: Harbours of the north (2020).\n\n"
    "2. Lee, T.: Silt and sand in Baltic ports (2021).",
    title="A Study of Harbours Northern Europe",
)


def test_a_paper_ends_before_its_references_and_its_title_is_no_author_line(answerer: ExtractiveAnswerer) -> None:
    passages = _passages(PAPER, chunk_sentences=20)
    end = answerer.answer("How does the paper end?", _marked(passages, Focus.END))
    assert [c.quote for c in end.citations] == ["We conclude that regular dredging pays for itself."]
    author = answerer.answer("Who wrote the paper?", _marked(passages, Focus.AUTHOR))
    assert [c.quote for c in author.citations] == ["Jane Smith and Tom Lee"]  # not the title's second line
    _check_verbatim(end, {PAPER.id: PAPER})


def test_a_fragment_split_by_a_page_break_is_not_quoted_by_position(answerer: ExtractiveAnswerer) -> None:
    doc = _document(
        "broken",
        "Harbours\n\nThe harbour reopened in spring. Ships returned to the quay.\n\n"
        "the silt was cleared by dredgers working through the winter months.",
    )
    end = answerer.answer("How does it end?", _marked(_passages(doc, chunk_sentences=20), Focus.END))
    assert [c.quote for c in end.citations] == ["The harbour reopened in spring.", "Ships returned to the quay."]


def test_only_headings_means_abstaining(answerer: ExtractiveAnswerer) -> None:
    doc = _document("headings", "The Harbour Essay\n\nBy A. Writer\n\nPart One")
    answer = answerer.answer("How does it end?", _marked(_passages(doc), Focus.END))
    assert answer.abstained and answer.meta["abstain_reason"] == "no sentences in the passages"


# ------------------------------------------------------------------ the demo corpus


def _demo_docs(svc: Assistant) -> dict[str, Document]:
    return {d.id: svc.document_text(d.id) for d in svc.documents()}


def test_diffusion_rule_answer_names_the_successor_from_both_articles(demo_assistant: Assistant) -> None:
    answer = demo_assistant.ask("What replaced the Diffusion Rule?")
    assert not answer.abstained
    assert "Huawei" in answer.answer
    sources = {Path(c.source).name for c in answer.citations}
    assert sources == {"cgtn-us-chip-guidance-huawei.txt", "tlg-us-refocuses-ai-chip-restrictions.txt"}
    tlg = [c.quote for c in answer.citations if "tlg" in c.source]
    assert any(q.startswith("Instead, the revised policy") for q in tlg)
    # "pivoted toward this more aggressive interpretation" is resolved to the CGTN lead, which is not among
    # the retrieved passages: the new guidance on Huawei's Ascend chips, cited before the sentence naming it
    cgtn = [c for c in answer.citations if "cgtn" in c.source]
    assert [c.quote[:40] for c in cgtn] == [
        "The U.S. Department of Commerce has issu",
        "After walking back the previously announ",
    ]
    assert "Ascend" in cgtn[0].quote and cgtn[0].start < cgtn[1].start
    assert cgtn[0].chunk_id not in {p.chunk.id for p in answer.passages}
    numbers = [c.n for c in cgtn]
    assert answer.meta["references"] == [
        {"citation": numbers[1], "refers_to": numbers[0], "phrase": "this more aggressive interpretation"}
    ]
    _check_verbatim(answer, _demo_docs(demo_assistant))


def test_acronym_and_weekday(demo_assistant: Assistant) -> None:
    """The acronym BIS stands for the Bureau of Industry and Security, and "which day of the week" wants a weekday."""
    answer = demo_assistant.ask("On which day of the week did the BIS put out its statement?")
    assert not answer.abstained and "Tuesday" in answer.answer


@pytest.mark.parametrize(
    "question",
    [
        "When was the AI Diffusion Rule scheduled to take effect?",
        "Who testified on Capitol Hill urging lawmakers to streamline AI policy?",
        "For how long did the US and China agree to reduce tariffs?",
        "What did the Chinese Foreign Ministry accuse the US of?",
        "Why did US officials want to drop the diffusion rule?",
    ],
)
def test_demo_citations_are_verbatim_sentences(demo_assistant: Assistant, question: str) -> None:
    answer = demo_assistant.ask(question)
    assert not answer.abstained
    assert 1 <= len(answer.citations) <= demo_assistant.settings.answer_sentences
    assert all(FINAL_PUNCTUATION.search(c.quote) for c in answer.citations)
    _check_verbatim(answer, _demo_docs(demo_assistant))


def test_a_bulleted_statement_without_a_final_stop_is_no_heading(answerer: ExtractiveAnswerer) -> None:
    """A release lists its figures as bullets without final stops: such a line states a fact, so it is scored as a
    sentence, not discounted as a heading (before, the prose sentence stating another figure won)."""
    text = (
        "Northwind Opens Its Third Plant.\n\n"
        "• The new plant adds 40,000 tons of yearly capacity and 1,200 jobs in the river valley\n\n"
        "• Capital spending plan for the year raised to $650 million\n\n"
        "Northwind said the third plant opened after two years of building. "
        "The plant will be reported in the industrial segment, where its capacity adds about $90 million of sales "
        "in the fourth quarter."
    )
    passages = filing_passages("nw", text, sentences=2, context="Northwind Mills Inc. · Form 8-K · 2024")
    question = "How much yearly capacity does Northwind's third plant add?"
    answer = answerer.answer(question, passages)
    assert not answer.abstained, answer.meta.get("abstain_reason")
    assert answer.citations[0].quote.startswith("• The new plant adds 40,000 tons")
