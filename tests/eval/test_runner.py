"""Runner plumbing with scripted fakes that return real Answer/Passage/Citation objects from the demo text.

These check how answers become metrics; the end-to-end gate on the real
assistant lives with the service tests.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from eval.baseline import Retrieved
from eval.datasets import EvalQuestion, GoldQuote, load_eval_set
from eval.gate import THRESHOLDS_FILE, check_thresholds, load_thresholds
from eval.runner import beir_documents, run_beir, run_eval_set, run_llama_dataset
from tests.eval.fakes import FakeAssistant, FakeRetriever, Script

REPO = Path(__file__).resolve().parents[2]
DEMO_DIR = REPO / "data" / "demo"
CGTN = "cgtn-us-chip-guidance-huawei.txt"
TLG = "tlg-us-refocuses-ai-chip-restrictions.txt"

T6 = (
    "Instead, the revised policy will directly address the use of Huawei’s semiconductors and tighten oversight "
    "on the deployment of American-made AI chips in training Chinese models, warning companies of potential "
    "consequences for non-compliance."
)
C910 = "the company invited select Chinese tech companies to test its most powerful processor yet, the Ascend 910D"
C2019 = "Since coming under U.S. sanctions in 2019, the company has made notable advances in AI and chip development."
MINISTRY = (
    "The Chinese Foreign Ministry has repeatedly criticized the U.S. crackdown on China's semiconductor industry."
)
TRUMP = "The Trump Administration will pursue a bold, inclusive strategy"


def _q(
    qid: str, answerable: bool, gold: Sequence[tuple[str, str]] = (), key_facts: tuple[str, ...] = ()
) -> EvalQuestion:
    return EvalQuestion(
        id=qid,
        question=f"question {qid}",
        answerable=answerable,
        reference="The revised policy targets semiconductors." if answerable else "",
        key_facts=key_facts,
        gold=tuple(GoldQuote(source=s, quote=t) for s, t in gold),
        tags=("answerable",) if answerable else ("unanswerable",),
    )


@dataclass(frozen=True)
class _BaselineRun:
    retrieved: list[list[Retrieved]]
    ingest_s: float
    latencies_ms: list[float]


@pytest.fixture
def fake() -> FakeAssistant:
    return FakeAssistant.from_files(sorted(DEMO_DIR.glob("*.txt")))


def test_run_eval_set_metrics_by_hand(fake: FakeAssistant) -> None:
    questions = [
        _q("q1", True, [(TLG, T6)], ("Huawei", "non-compliance")),
        _q("q2", True, [(CGTN, MINISTRY)], ("Foreign Ministry",)),
        _q("q3", False),
        _q("q4", False),
        _q("q5", True, [(TLG, T6), (CGTN, C910)], ("Huawei", "Ascend 910D")),
    ]
    fake.scripts = {
        # gold passage at rank 2, the gold sentence cited
        "question q1": Script(passages=[TRUMP, T6], cite=[T6], total_ms=100),
        # abstains, nothing relevant retrieved
        "question q2": Script(passages=[TRUMP], abstain=True, total_ms=200),
        "question q3": Script(passages=[TRUMP], abstain=True, total_ms=300),  # right to abstain
        "question q4": Script(passages=[TRUMP], cite=[TRUMP], total_ms=400),  # should have abstained
        # both gold passages at ranks 1-2; one right citation, one from the right passage but the wrong sentence
        "question q5": Script(passages=[T6, C910, TRUMP], cite=[T6, C2019], total_ms=500),
    }
    report = run_eval_set(fake, questions, top_k=5, mode="extractive", name="hand")
    m = report.metrics
    assert [a[1:] for a in fake.asked] == [(5, "extractive")] * 5
    # answerable: q1, q2, q5
    assert m["hit@5"] == pytest.approx(2 / 3)
    assert m["mrr@5"] == pytest.approx((1 / 2 + 0 + 1) / 3)
    assert m["recall@5"] == pytest.approx((1 + 0 + 1) / 3)
    assert m["key_fact_coverage"] == pytest.approx((1 + 0 + 1 / 2) / 3)
    assert m["answer_rate"] == pytest.approx(2 / 3)
    # precision over the answered answerable questions (q1, q5); recall over all answerable ones
    assert m["citation_precision"] == pytest.approx((1 + 1 / 2) / 2)
    assert m["citation_recall"] == pytest.approx((1 + 0 + 1 / 2) / 3)
    # passage level: q5's second citation comes from the passage that holds the Ascend 910D gold quote
    assert m["citation_precision_passage"] == pytest.approx(1.0)
    assert m["citation_recall_passage"] == pytest.approx((1 + 0 + 1) / 3)
    # abstained on q2 (wrong) and q3 (right); unanswerable q3 (caught) and q4 (missed)
    assert m["abstention_precision"] == pytest.approx(1 / 2)
    assert m["abstention_recall"] == pytest.approx(1 / 2)
    # totals 100..500 ms: p50 = 300, p95 at position 3.8 = 400 + 0.8 * 100
    assert m["latency_p50_ms"] == pytest.approx(300)
    assert m["latency_p95_ms"] == pytest.approx(480)
    assert m["retrieval_p50_ms"] == pytest.approx(150)
    assert 0 < m["token_f1"] < 1

    rows = {r["id"]: r for r in report.rows}
    assert rows["q4"]["problems"] == ["answered an unanswerable question"]
    assert rows["q3"]["problems"] == []
    assert "abstained" in rows["q2"]["problems"]
    assert any("Ascend 910D" in p for p in rows["q5"]["problems"])
    assert report.meta["questions"] == 5 and report.meta["answerable"] == 3
    assert report.meta["by_tag"]["unanswerable"]["abstained_unanswerable"] == pytest.approx(1 / 2)
    assert "by_split" not in report.meta  # no question says which split it is in


def test_metrics_per_split(fake: FakeAssistant) -> None:
    """Every quality metric is also given per split: here a perfect tuning half and a failing held-out half."""
    questions = [
        _q("q1", True, [(TLG, T6)], ("Huawei",)).model_copy(update={"split": "tune"}),
        _q("q3", False).model_copy(update={"split": "tune"}),
        _q("q2", True, [(CGTN, MINISTRY)], ("Foreign Ministry",)).model_copy(update={"split": "heldout"}),
        _q("q4", False).model_copy(update={"split": "heldout"}),
        _q("q5", True, [(CGTN, C910)], ("Ascend 910D",)),  # in no split: counted only overall
    ]
    fake.scripts = {
        "question q1": Script(passages=[T6], cite=[T6]),
        "question q3": Script(passages=[TRUMP], abstain=True),
        "question q2": Script(passages=[TRUMP], cite=[TRUMP]),
        "question q4": Script(passages=[TRUMP], cite=[TRUMP]),
        "question q5": Script(passages=[C910], cite=[C910]),
    }
    report = run_eval_set(fake, questions, top_k=5, name="split")
    tune, heldout = report.meta["by_split"]["tune"], report.meta["by_split"]["heldout"]
    assert set(report.meta["by_split"]) == {"tune", "heldout"}
    assert tune["hit@5"] == tune["key_fact_coverage"] == tune["citation_precision"] == 1.0
    assert tune["abstention_recall"] == 1.0
    assert heldout["hit@5"] == heldout["key_fact_coverage"] == heldout["citation_precision"] == 0.0
    assert heldout["abstention_recall"] == 0.0
    assert report.metrics["key_fact_coverage"] == pytest.approx(2 / 3)
    markdown = report.to_markdown()
    assert "| metric (by split) | heldout | tune |" in markdown
    assert "| key_fact_coverage | 0.000 | 1.000 |" in markdown


def test_passage_from_another_file_is_not_a_hit(fake: FakeAssistant) -> None:
    # the gold quote's text is right, but it is attributed to the wrong file
    question = _q("q1", True, [(CGTN, T6)], ("Huawei",))
    fake.scripts = {"question q1": Script(passages=[T6], cite=[T6])}
    m = run_eval_set(fake, [question], top_k=5).metrics
    assert m["hit@5"] == 0.0 and m["citation_precision"] == 0.0 and m["key_fact_coverage"] == 1.0


def _oracle(fake: FakeAssistant, questions: list[EvalQuestion]) -> None:
    """Script the fake to retrieve and quote exactly the gold, and to abstain on the rest."""
    for q in questions:
        if q.answerable:
            fake.scripts[q.question] = Script(passages=[g.quote for g in q.gold], cite=[g.quote for g in q.gold])
        else:
            fake.scripts[q.question] = Script(passages=[TRUMP], abstain=True)


def test_an_oracle_scores_perfectly_on_the_demo_set(fake: FakeAssistant) -> None:
    questions = load_eval_set(REPO / "eval" / "demo.jsonl")
    _oracle(fake, questions)
    report = run_eval_set(fake, questions, top_k=5, name="demo")
    for name in (
        "hit@5",
        "recall@5",
        "mrr@5",
        "key_fact_coverage",
        "citation_precision",
        "citation_recall",
        "answer_rate",
        "abstention_precision",
        "abstention_recall",
    ):
        assert report.metrics[name] == pytest.approx(1.0), name
    assert 0 < report.metrics["token_f1"] < 1
    assert not [r for r in report.rows if r["problems"]]
    # the gate's metric names for this set are ones the runner reports
    assert set(load_thresholds("demo")) <= set(report.metrics)


def test_report_json_and_markdown(fake: FakeAssistant) -> None:
    questions = load_eval_set(REPO / "eval" / "demo.jsonl")[:6]
    _oracle(fake, questions)
    fake.scripts[questions[0].question] = Script(passages=[TRUMP], abstain=True)
    report = run_eval_set(fake, questions, top_k=3, name="demo")
    data = json.loads(report.to_json())
    assert data["metrics"] == report.metrics and data["name"] == "demo" and len(data["rows"]) == 6
    md = report.to_markdown()
    assert "| metric | value |" in md
    assert f"| hit@3 | {report.metrics['hit@3']:.3f} |" in md
    assert questions[0].id in md and "abstained" in md  # listed under problems


def _beir_dir(tmp_path: Path) -> Path:
    root = tmp_path / "tinybeir"
    (root / "qrels").mkdir(parents=True)
    docs = [{"_id": f"d{i}", "title": f"Title {i}", "text": f"text {i}"} for i in range(1, 6)]
    docs.append({"_id": "d6", "title": "", "text": "untitled"})
    (root / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in docs))
    (root / "queries.jsonl").write_text(
        json.dumps({"_id": "1", "text": "first"}) + "\n" + json.dumps({"_id": "2", "text": "second"}) + "\n"
    )
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\td1\t2\n1\td3\t1\n2\td5\t1\n")
    return root


def test_run_beir_by_hand(tmp_path: Path) -> None:
    fake = FakeRetriever(
        rankings={
            # chunks of d2, d1, d1 (a second chunk), d3: documents d2, d1, d3
            "first": ["d2", "d1", "d1", "d3"],
            "second": ["d4"],
        }
    )
    report = run_beir(lambda: fake, _beir_dir(tmp_path), "test", retrieve_k=100)
    assert fake.closed
    assert [q for q, _ in fake.retrieved] == ["first", "second"] and {k for _, k in fake.retrieved} == {100}
    d1 = next(d for d in fake.docs if d.id == "d1")
    assert (d1.title, d1.source, d1.text) == ("Title 1", "beir:d1", "Title 1\n\ntext 1")
    assert next(d for d in fake.docs if d.id == "d6").text == "untitled"
    # query 1: d1 (2) at rank 2, d3 (1) at rank 3
    # DCG = 2/log2(3) + 1/log2(4) = 1.261860 + 0.5; IDCG = 2 + 1/log2(3) = 2.630930
    ndcg1 = (1.261860 + 0.5) / 2.630930
    assert report.metrics["ndcg@10"] == pytest.approx((ndcg1 + 0) / 2, abs=1e-6)
    assert report.metrics["mrr@10"] == pytest.approx((1 / 2 + 0) / 2)
    assert report.metrics["recall@100"] == pytest.approx((1 + 0) / 2)
    assert report.meta["documents"] == 6 and report.meta["queries"] == 2
    assert report.metrics["ingest_s"] >= 0 and "retrieval_p95_ms" in report.metrics
    assert set(load_thresholds("scifact")) <= set(report.metrics)


def test_beir_documents_skip_empty_documents() -> None:
    docs = beir_documents({"a": ("", ""), "b": ("T", "")})
    assert [(d.id, d.text) for d in docs] == [("b", "T")]


def test_run_llama_dataset_by_hand(tmp_path: Path) -> None:
    root = tmp_path / "llama"
    root.mkdir()
    paragraphs = [
        "Solana orders transactions with Proof of History, a verifiable sequence of hashes over time.",
        "Bitcoin introduced the blockchain in 2009 as a peer-to-peer electronic cash system.",
        "Ethereum added smart contracts that run on every node of the network.",
    ]
    (root / "paper.txt").write_text("\n\n".join(paragraphs))
    examples = [
        {
            "query": "What is Proof of History?",
            "reference_answer": "A verifiable sequence of hashes.",
            # the context is longer than the passage and holds all of it
            "reference_contexts": ["Intro. " + paragraphs[0] + " More text follows here."],
        },
        {
            "query": "When was Bitcoin introduced?",
            "reference_answer": "In 2009.",
            "reference_contexts": [paragraphs[1]],
        },
    ]
    (root / "rag_dataset.json").write_text(json.dumps({"examples": examples}))
    fake = FakeAssistant(chunks=[])
    fake.scripts = {
        "What is Proof of History?": Script(passages=[paragraphs[2], paragraphs[0]], cite=[paragraphs[0]]),
        "When was Bitcoin introduced?": Script(passages=[paragraphs[2]], abstain=True),
    }
    asked: list[tuple[list[str], list[str], int]] = []

    def baseline(files: Sequence[Path], queries: Sequence[str], *, top_k: int) -> _BaselineRun:
        asked.append(([p.name for p in files], list(queries), top_k))
        return _BaselineRun(
            retrieved=[
                [Retrieved("paper.txt", None, paragraphs[1])],  # a miss
                [Retrieved("paper.txt", None, paragraphs[2]), Retrieved("paper.txt", None, paragraphs[1])],
            ],
            ingest_s=2.0,
            latencies_ms=[1.0, 3.0],
        )

    report = run_llama_dataset(lambda: fake, root, top_k=5, baseline=baseline)
    assert fake.closed and fake.chunks  # the source file was ingested through the assistant
    assert report.metrics["hit@5"] == pytest.approx(1 / 2)
    assert report.metrics["mrr@5"] == pytest.approx((1 / 2 + 0) / 2)
    assert report.metrics["answer_rate"] == pytest.approx(1 / 2)
    assert 0 < report.metrics["token_f1"] < 1
    # "verifiable", "sequence", "hashes" all in the first answer; the abstention has none
    assert report.metrics["key_term_recall"] == pytest.approx(1 / 2)
    assert asked == [(["paper.txt"], [ex["query"] for ex in examples], 5)]
    assert report.metrics["baseline_hit@5"] == pytest.approx(1 / 2)
    assert report.metrics["baseline_mrr@5"] == pytest.approx((0 + 1 / 2) / 2)
    assert report.metrics["baseline_latency_p50_ms"] == pytest.approx(2.0)
    assert [r["baseline_hit"] for r in report.rows] == [0.0, 1.0]
    assert "| hit@5 | 0.500 | 0.500 |" in report.to_markdown()
    assert set(load_thresholds("blockchain_solana")) <= set(report.metrics)


def test_check_thresholds() -> None:
    metrics = {"hit@5": 0.8, "latency_p95_ms": 900.0, "token_f1": 0.3}
    assert check_thresholds(metrics, {"hit@5": 0.8, "latency_p95_ms": {"max": 1000}}) == []
    failures = check_thresholds(
        metrics,
        {"hit@5": {"min": 0.9}, "latency_p95_ms": {"max": 500}, "mrr@5": 0.5, "token_f1": "TODO", "x": {"avg": 1}},
    )
    assert len(failures) == 5
    assert failures[0].startswith("hit@5 = 0.8000 is below the minimum 0.9000")
    assert "above the maximum" in failures[1]
    assert "missing" in failures[2] and "not set" in failures[3] and "x: threshold must be" in failures[4]


def test_thresholds_file_is_well_formed() -> None:
    data = json.loads(THRESHOLDS_FILE.read_text(encoding="utf-8"))
    assert {"demo", "scifact", "blockchain_solana"} <= set(data)
    assert load_thresholds("no-such-eval") == {}
    assert "_comment" not in load_thresholds("demo")
