"""Page-gold sets: the FinanceBench and PAGE_SETS.md loaders, number normalisation, the page-hit metric, the
deterministic subset, the report, the CLI's one-line errors, and one end-to-end run of the real assistant over a
made-up three-page PDF."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.config import get_settings
from assistant.service import Assistant
from assistant.types import Document, Page
from eval.baseline import Retrieved
from eval.errors import DatasetError
from eval.filings import (
    Candidate,
    PageQuestion,
    PageSet,
    company_split,
    doc_hit,
    load_financebench,
    load_page_set,
    normalise_number,
    numbers_found,
    numbers_in,
    page_hit,
    page_metrics,
    pages_of,
    run_page_set,
    select_documents,
)
from index.embeddings import Embedder
from tests.conftest import SHARED
from tests.pdfs import lines_pdf

FINANCEBENCH = SHARED / "datasets" / "financebench"

PAGE_FACTS = [
    [
        "Northwind Cooperative annual report 2021",
        "The cooperative runs three bakeries in the valley.",
        "Its members elect a board of seven people every year.",
    ],
    [
        "Production",
        "The Lisbon bakery baked 4,210 loaves of rye bread in 2021.",
        "Flour came from mills within fifty kilometres.",
    ],
    [
        "Energy",
        "The cooperative cut its electricity use by 18% after installing heat pumps.",
        "Solar panels on the roof now cover the summer demand.",
    ],
]
_TOPICS = ["membership and governance", "ovens, recipes and deliveries", "heating, lighting and insulation"]
# each page long enough (about 300 word pieces) to be cut into chunks of its own
PAGES = [
    facts + [f"Note {i} on {topic}: the staff reviewed item {i} of the {topic} plan in detail." for i in range(1, 17)]
    for facts, topic in zip(PAGE_FACTS, _TOPICS, strict=True)
]




# --------------------------------------------------------------------------- numbers


def test_numbers_normalise_to_one_form() -> None:
    assert normalise_number("$1,577") == normalise_number("1577.00") == normalise_number("1,577") == "1577"
    assert normalise_number("(496)") == "496"
    assert normalise_number("23%") == "23"
    assert normalise_number("0.50") == "0.5"
    assert normalise_number("no figure") is None
    assert numbers_in("FY2018 capex was $1577.00 in 2018, up 1,234,567.80 from Q1") == [
        "1577",
        "2018",
        "1234567.8",
    ]
    assert numbers_in("capex of $2019 million in 2019", skip_dates=True) == ["2019"]  # a $ amount is no year
    assert numbers_in("from Aug. 30, 2023 on, 12 months ended January 28", skip_dates=True) == ["12"]


def test_numbers_found_compares_normalised() -> None:
    assert numbers_found(["1,577"], ["Capital expenditure was $1577.00 million."]) == 1.0
    assert numbers_found(["1,577", "(496)"], ["it was 1577 and 495"]) == 0.5
    assert numbers_found(["15.77"], ["1577"]) == 0.0
    assert numbers_found([], ["anything"]) == 1.0


# --------------------------------------------------------------------------- pages


def test_a_chunk_spanning_pages_counts_on_each_page() -> None:
    doc = Document(
        id="d",
        title="t",
        source="a.pdf",
        text="x" * 30,
        pages=(Page(number=1, start=0, end=10), Page(number=2, start=10, end=20), Page(number=3, start=20, end=30)),
    )
    assert pages_of(doc, 5, 15) == {1, 2}
    assert pages_of(doc, 10, 20) == {2}
    assert pages_of(doc, 25, 25) == {3}  # an empty span sits on its page
    hits = [("dir/a.pdf", frozenset({1, 2})), ("b.pdf", frozenset({3}))]
    assert page_hit(hits, "a.pdf", [2], 1) == 1.0  # the spanning chunk touches gold page 2
    assert page_hit(hits, "a.pdf", [3], 5) == 0.0  # page 3 of another file is no hit
    assert page_hit(hits, "b.pdf", [3], 1) == 0.0 and page_hit(hits, "b.pdf", [3], 2) == 1.0
    assert doc_hit(["x/b.pdf", "a.pdf"], "a.pdf", 1) == 0.0 and doc_hit(["x/b.pdf", "a.pdf"], "a.pdf", 2) == 1.0


# --------------------------------------------------------------------------- subsets and splits


def test_subset_takes_whole_companies_most_questions_per_page_first() -> None:
    docs = [
        Candidate("A1", "Acme", 100, 1),
        Candidate("A2", "Acme", 100, 1),  # 100 pages per question
        Candidate("B1", "Bolt", 30, 3),  # 10
        Candidate("C1", "Cog", 50, 1),
        Candidate("C2", "Cog", 40, 1),  # 45
    ]
    assert select_documents(docs) == ["A1", "A2", "B1", "C1", "C2"]
    assert select_documents(docs, max_pages=120) == ["B1", "C1", "C2"]
    assert select_documents(docs, max_pages=100) == ["B1"]  # Cog's two filings do not fit: neither is taken
    assert select_documents(docs, max_documents=2) == ["B1"]
    assert select_documents(docs, max_documents=3) == ["B1", "C1", "C2"]
    assert select_documents(docs, max_documents=2, max_pages=1000) == ["B1"]
    with pytest.raises(DatasetError, match="fit"):
        select_documents(docs, max_pages=10)
    with pytest.raises(DatasetError, match="at least 1"):
        select_documents(docs, max_documents=0)


def test_company_split_is_deterministic_and_splits() -> None:
    names = [f"company {i}" for i in range(40)]
    splits = [company_split(n) for n in names]
    assert splits == [company_split(n) for n in names]
    assert {"tune", "heldout"} == set(splits)


# --------------------------------------------------------------------------- loaders


def _financebench(root: Path) -> Path:
    (root / "pdfs").mkdir(parents=True)
    lines_pdf(root / "pdfs" / "ACME_2021_10K.pdf", PAGES)
    lines_pdf(root / "pdfs" / "ACME_2022_10K.pdf", PAGE_FACTS[:1])
    lines_pdf(root / "pdfs" / "BOLT_2022_8K.pdf", PAGE_FACTS[:2])
    docs = [("ACME_2021_10K", "Acme"), ("ACME_2022_10K", "Acme"), ("BOLT_2022_8K", "Bolt")]
    (root / "documents.jsonl").write_text("".join(json.dumps({"doc_name": d, "company": c}) + "\n" for d, c in docs))
    questions = [
        {
            "financebench_id": "q1",
            "company": "Acme",
            "doc_name": "ACME_2021_10K",
            "question_type": "metrics-generated",
            "question": "How many loaves of rye did Lisbon bake in FY2021?",
            "answer": "$4210.00",
            "evidence": [{"doc_name": "ACME_2021_10K", "evidence_page_num": 1, "evidence_text_full_page": "4,210"}],
        },
        {
            "financebench_id": "q2",
            "company": "Bolt",
            "doc_name": "BOLT_2022_8K",
            "question": "By how much did 2022 sales grow?",
            "answer": "Sales grew 12% in 2022, to 3.4 billion",  # two numbers (the year is left out)
            "evidence": [
                {"doc_name": "BOLT_2022_8K", "evidence_page_num": 0, "evidence_text_full_page": "12%"},
                {"doc_name": "BOLT_2022_8K", "evidence_page_num": 1, "evidence_text_full_page": ""},
            ],
        },
    ]
    (root / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    return root


def test_load_financebench(tmp_path: Path) -> None:
    fb = load_financebench(_financebench(tmp_path / "fb"))
    assert fb.name == "financebench"
    assert [p.name for p in fb.files] == ["ACME_2021_10K.pdf", "ACME_2022_10K.pdf", "BOLT_2022_8K.pdf"]
    q1, q2 = fb.questions
    assert (q1.source, q1.gold_pages, q1.gold_numbers, q1.reference) == (
        "ACME_2021_10K.pdf",
        (2,),
        ("4210",),
        "$4210.00",
    )
    assert q1.single_number and q1.answerable and q1.split == company_split("Acme")
    assert q1.tags == ("metrics-generated",)
    assert (q2.gold_pages, q2.gold_numbers, q2.single_number) == ((1, 2), ("12", "3.4"), False)

    sub = load_financebench(tmp_path / "fb", max_pages=3)  # Acme has 4 pages, Bolt 2
    assert sub.name == "financebench_subset"
    assert [p.name for p in sub.files] == ["BOLT_2022_8K.pdf"] and [q.id for q in sub.questions] == ["q2"]
    with pytest.raises(DatasetError, match="no such FinanceBench directory"):
        load_financebench(tmp_path / "nowhere")


@pytest.mark.skipif(not FINANCEBENCH.is_dir(), reason="FinanceBench is not in ../shared/datasets")
def test_load_the_shared_financebench() -> None:
    fb = load_financebench(FINANCEBENCH)
    assert (len(fb.questions), len(fb.files)) == (127, 73)
    first = fb.questions[0]
    assert first.source == "3M_2018_10K.pdf" and first.gold_numbers == ("1577",)
    assert all(q.gold_pages and min(q.gold_pages) >= 1 for q in fb.questions)
    assert {q.split for q in fb.questions} == {"tune", "heldout"}
    assert 20 < sum(q.single_number for q in fb.questions) < 127


def _line(**fields: object) -> str:
    row = {
        "id": "u1",
        "question": "How many loaves of rye did the Lisbon bakery bake in 2021?",
        "answerable": True,
        "source": "report.pdf",
        "gold_pages": [2],
        "gold_numbers": ["4,210"],
        "reference": "4,210 loaves.",
        "kind": "text",
        "tags": ["period-named"],
        "split": "tune",
    }
    return json.dumps(row | fields) + "\n"


def test_load_page_set_and_its_errors(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    lines_pdf(files / "report.pdf", PAGES)
    path = tmp_path / "set.jsonl"
    path.write_text(_line() + _line(id="u2", gold_numbers=["4,210", "18%"]))
    ps = load_page_set(path, files)
    assert ps.name == "set" and [p.name for p in ps.files] == ["report.pdf"]
    assert ps.questions[0].single_number and not ps.questions[1].single_number
    assert ps.questions[0].gold_pages == (2,) and ps.questions[0].kind == "text"
    for bad, message in [
        (_line(source="other.pdf"), "not among the files"),
        (_line(gold_pages=[0]), "1-based"),
        (_line(gold_pages=[]), "gold page"),
        (_line(gold_numbers=["n/a"]), "number"),
        (_line(split="train"), "split"),
        (_line() + _line(), "duplicate id"),
    ]:
        path.write_text(bad)
        with pytest.raises(DatasetError, match=message):
            load_page_set(path, files)


# --------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["eval", "--page-set", "eval/demo.jsonl"], "--page-set and --files go together"),
        (["eval", "--financebench", "nowhere"], "--financebench: no such file or directory: nowhere"),
        (["eval", "--max-documents", "3"], "--max-documents only applies to --financebench"),
        (["eval", "--financebench", ".", "--max-pages", "0"], "--max-pages must be at least 1"),
        (["eval", "--financebench", ".", "--beir", "."], "choose one of --beir, --financebench"),
        (["eval", "--financebench", "."], "missing file"),
    ],
)
def test_eval_cli_refuses_bad_input_in_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


# --------------------------------------------------------------------------- end to end


@dataclass(frozen=True)
class _Run:
    retrieved: list[list[Retrieved]]
    ingest_s: float
    latencies_ms: list[float]


def test_run_page_set_end_to_end(tmp_path: Path, embedder: Embedder) -> None:
    """The real assistant over a made-up 3-page filing; a scripted baseline finds the right page once."""
    files = tmp_path / "files"
    files.mkdir()
    pdf = lines_pdf(files / "report.pdf", PAGES)
    questions = (
        PageQuestion(
            id="rye",
            question="How many loaves of rye bread did the Lisbon bakery bake in 2021?",
            answerable=True,
            source="report.pdf",
            gold_pages=(2,),
            gold_numbers=("4,210",),
            reference="The Lisbon bakery baked 4,210 loaves of rye bread.",
            kind="text",
            split="tune",
            single_number=True,
        ),
        PageQuestion(
            id="power",
            question="By how much did the cooperative cut its electricity use after installing heat pumps?",
            answerable=True,
            source="report.pdf",
            gold_pages=(3,),
            gold_numbers=("18%",),
            reference="By 18%.",
            kind="table",
            split="heldout",
            single_number=True,
        ),
    )
    calls: list[tuple[list[str], list[str], int]] = []

    def baseline(files: Sequence[Path], asked: Sequence[str], *, top_k: int) -> _Run:
        calls.append(([p.name for p in files], list(asked), top_k))
        wrong, right = Retrieved("report.pdf", 1, "x"), Retrieved("report.pdf", 2, "y")
        return _Run(retrieved=[[wrong, right], [Retrieved("other.pdf", 3, "z")]], ingest_s=1.5, latencies_ms=[4, 6])

    def factory() -> Assistant:
        return Assistant(get_settings(data_dir=tmp_path / "index"), embedder=embedder)

    report = run_page_set(factory, PageSet("tiny", questions, (pdf,)), top_k=5, baseline=baseline)
    m = report.metrics
    assert calls == [(["report.pdf"], [q.question for q in questions], 5)]
    # ours: the right file and page first for both, the gold numbers in the answer or its quotes, cited from it
    assert (m["doc_hit@1"], m["page_hit@1"], m["page_hit@5"]) == (1.0, 1.0, 1.0)
    assert m["abstention_rate"] == 0.0
    assert m["numbers_found"] == m["numbers_found_single"] == 1.0
    assert m["citation_precision"] == 1.0 and m["citation_precision_page"] > 0
    assert 0 < m["token_f1"] <= 1 and m["latency_p95_ms"] >= m["latency_p50_ms"] > 0
    # the baseline: page 2 at rank 2 for the first question, another file for the second
    assert (m["baseline_doc_hit@1"], m["baseline_doc_hit@5"]) == (0.5, 0.5)
    assert (m["baseline_page_hit@1"], m["baseline_page_hit@5"]) == (0.0, 0.5)
    assert m["doc_hit@5_margin"] == pytest.approx(0.5) and m["baseline_ingest_s"] == 1.5
    assert report.meta["by_split"]["heldout"]["baseline_doc_hit@5"] == 0.0
    assert set(report.meta["by_kind"]) == {"table", "text"}
    rows = {r["id"]: r for r in report.rows}
    assert rows["rye"]["top"][0].startswith("report.pdf p. ") and "3" not in rows["rye"]["top"][0]  # not all pages
    assert rows["rye"]["baseline_top"][1] == "report.pdf p. 2"
    md = report.to_markdown()
    assert "| metric | ours | plain llama-index |" in md
    assert "| page_hit@5 | 1.000 | 0.500 |" in md and "| citation_precision | 1.000 | – |" in md
    assert "| doc_hit@5 | 1.000 / 0.000 | 1.000 / 1.000 |" in md  # per split (heldout, tune): ours / baseline


def test_quality_summary_puts_ours_beside_the_baseline(tmp_path: Path) -> None:
    from eval.quality import main as quality_main

    page = {
        "metrics": {"page_hit@5": 0.75, "baseline_page_hit@5": 0.5, "abstention_rate": 0.1},
        "meta": {"by_split": {"tune": {"page_hit@5": 1.0}, "heldout": {"page_hit@5": 0.5}}},
    }
    (tmp_path / "financebench.json").write_text(json.dumps(page))
    llama = {"metrics": {"hit@5": 0.96, "baseline_hit@5": 0.9, "key_term_recall": 0.4}, "meta": {}}
    (tmp_path / "covidqa.json").write_text(json.dumps(llama))
    assert quality_main([str(tmp_path)]) == 0
    md = (tmp_path / "quality.md").read_text()
    assert "| FinanceBench (73 filings, 127 questions) | page_hit@5 | 0.750 | 0.500 |" in md
    assert "| FinanceBench (73 filings, 127 questions) | abstention_rate | 0.100 | – |" in md
    assert "| FinanceBench (73 filings, 127 questions), held-out half | page_hit@5 | 0.500 | – |" in md
    assert "| CovidQA (LlamaIndex) | hit@5 | 0.960 | 0.900 |" in md and "key_term_recall | 0.400 | – |" in md
    assert "Not run: SciFact test (BEIR) (`scifact`)" in md
    assert quality_main([str(tmp_path / "none")]) == 2


def test_eval_command_loads_the_page_set_it_names(tmp_path: Path) -> None:
    import argparse

    from eval.commands import _page_set

    files = tmp_path / "files"
    files.mkdir()
    lines_pdf(files / "report.pdf", PAGE_FACTS)
    (files / "card.json").write_text("{}")  # dataset descriptions are not ingested
    path = tmp_path / "uber_like.jsonl"
    path.write_text(_line())
    args = argparse.Namespace(financebench=None, page_set=path, files=files, name=None)
    loaded = _page_set(args)
    assert loaded is not None and loaded.name == "uber_like" and [p.name for p in loaded.files] == ["report.pdf"]
    renamed = _page_set(argparse.Namespace(financebench=None, page_set=path, files=files, name="mine"))
    assert renamed is not None and renamed.name == "mine" and renamed.questions == loaded.questions
    fb = _page_set(argparse.Namespace(financebench=_financebench(tmp_path / "fb"), max_documents=1, max_pages=None))
    assert fb is not None and fb.name == "financebench_subset" and [q.id for q in fb.questions] == ["q2"]
    assert _page_set(argparse.Namespace(financebench=None, page_set=None)) is None


def test_answered_on_gold_counts_abstentions_as_misses() -> None:
    """Withholding a wrong answer raises citation precision but not answered_on_gold."""

    def row(abstained: bool, precision: float | None) -> dict[str, object]:
        r: dict[str, object] = {"answerable": True, "single_number": False, "abstained": abstained}
        if precision is not None:
            r["citation_precision"] = precision
            r["citation_precision_page"] = precision / 2
        return r

    answering = page_metrics([row(False, 1.0), row(False, 1.0), row(False, 0.0), row(False, 1.0)], 5)
    withholding = page_metrics([row(False, 1.0), row(False, 1.0), row(True, None), row(False, 1.0)], 5)
    assert withholding["citation_precision"] > answering["citation_precision"]
    assert withholding["answered_on_gold"] == answering["answered_on_gold"] == 0.75
    assert answering["answered_on_gold_page"] == 0.375


def _eval_stderr(tmp_path: Path, *, terminal: bool) -> tuple[int, str]:
    """``assistant eval`` of a one-question page set in a real subprocess, its stderr a terminal or a pipe."""
    files = tmp_path / "files"
    files.mkdir(exist_ok=True)
    lines_pdf(files / "report.pdf", PAGES)
    path = tmp_path / "bakery.jsonl"
    path.write_text(_line())
    argv = [sys.executable, "-m", "assistant.cli", "eval", "--page-set", str(path), "--files", str(files)]
    argv += ["--no-baseline", "--out", str(tmp_path / "out")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    if not terminal:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600, check=False)
        return done.returncode, done.stderr
    primary, secondary = pty.openpty()
    # a new pseudo-terminal is 0 columns wide, and a progress bar fits nothing into it: give it a window's size
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=secondary, env=env)
    os.close(secondary)
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(primary, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(primary)
    return proc.wait(timeout=600), b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.slow
def test_eval_shows_its_progress_on_a_terminal_and_not_in_a_pipe(tmp_path: Path) -> None:
    code, shown = _eval_stderr(tmp_path, terminal=True)
    assert code == 0, shown
    assert "ingest" in shown and "bakery:" in shown and "1/1" in shown
    code, piped = _eval_stderr(tmp_path, terminal=False)
    assert code == 0, piped
    assert "bakery:" not in piped and "1/1" not in piped
