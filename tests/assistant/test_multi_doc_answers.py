"""Multi-document answers: a question about what each document says gets the best sentence of each relevant
document, in the order of the periods they report on (real MiniLM model, made-up quarterly reports)."""

from __future__ import annotations

import pytest

from assistant.config import get_settings
from assistant.extractive import ExtractiveAnswerer
from assistant.types import Chunk, Passage
from index.embeddings import Embedder

# (doc id, period end, revenue sentence): three quarterly reports of one company
QUARTERS = [
    ("nw-q3", "2024-09-30", "Northwind reported revenue of $52.9 million for the quarter, driven by pump shipments."),
    ("nw-q1", "2024-03-31", "Northwind reported revenue of $48.2 million for the quarter, driven by pump shipments."),
    ("nw-q2", "2024-06-30", "Northwind reported revenue of $50.6 million for the quarter, driven by pump shipments."),
]
FILLER = (
    "The board met twice during the period. "
    "Headcount at the Leeds site was unchanged. "
    "The annual meeting will take place in the spring."
)


def _report(doc_id: str, period_end: str, sentence: str, rank: int) -> Passage:
    text = f"{sentence} {FILLER}"
    chunk = Chunk(
        id=f"{doc_id}:0000",
        doc_id=doc_id,
        text=text,
        start=0,
        end=len(text),
        meta={
            "title": f"Northwind quarterly report {period_end}",
            "source": f"/docs/{doc_id}.pdf",
            "period_end": period_end,
        },
    )
    return Passage(chunk=chunk, score=1.0 - 0.1 * rank)


def test_each_document_is_quoted_once_in_period_order(answerer: ExtractiveAnswerer) -> None:
    """Near-identical sentences that report other figures are not repetitions; the quotes follow the periods,
    not the retrieval rank."""
    passages = [_report(*q, rank=k) for k, q in enumerate(QUARTERS)]
    answer = answerer.answer("What revenue did Northwind report according to each of the reports?", passages)
    assert not answer.abstained, answer.meta.get("abstain_reason")
    assert [c.doc_id for c in answer.citations] == ["nw-q1", "nw-q2", "nw-q3"]
    assert ["$48.2" in answer.answer, "$50.6" in answer.answer, "$52.9" in answer.answer] == [True] * 3


def test_more_documents_than_answer_sentences_are_each_quoted(
    embedder: Embedder, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Up to one quote per retrieved passage, even past ``answer_sentences``."""
    short = ExtractiveAnswerer(get_settings(data_dir=tmp_path_factory.mktemp("unused"), answer_sentences=2), embedder)
    passages = [_report(*q, rank=k) for k, q in enumerate(QUARTERS)]
    answer = short.answer("What revenue did Northwind report according to each of the reports?", passages)
    assert len(answer.citations) == 3


def test_the_same_sentence_in_two_documents_is_still_quoted_once(answerer: ExtractiveAnswerer) -> None:
    same = QUARTERS[1][2]
    passages = [_report("a", "2024-03-31", same, 0), _report("b", "2024-06-30", same, 1)]
    answer = answerer.answer("What revenue did Northwind report according to each of the reports?", passages)
    assert len(answer.citations) == 1


def test_a_single_fact_question_keeps_rank_order(answerer: ExtractiveAnswerer) -> None:
    """Without a question about each document, one document's best sentence answers."""
    passages = [_report(*q, rank=k) for k, q in enumerate(QUARTERS)]
    answer = answerer.answer("What revenue did Northwind report for the quarter ended September 30?", passages)
    assert answer.citations and answer.citations[0].doc_id == "nw-q3"


def test_the_period_may_come_with_the_passage(answerer: ExtractiveAnswerer) -> None:
    """The service marks passages with their document's ``period_end``; the chunks need not carry it."""
    passages = []
    for k, (doc_id, end, sentence) in enumerate(QUARTERS):
        p = _report(doc_id, end, sentence, k)
        chunk = p.chunk.model_copy(update={"meta": {k: v for k, v in p.chunk.meta.items() if k != "period_end"}})
        passages.append(Passage(chunk=chunk, score=p.score, meta={"period_end": end}))
    answer = answerer.answer("What revenue did Northwind report according to each of the reports?", passages)
    assert [c.doc_id for c in answer.citations] == ["nw-q1", "nw-q2", "nw-q3"]
