"""Runs the assistant over an eval set, a BEIR dataset or a LlamaIndex RAG dataset and scores it.

The runner only talks to the service interface (``ask``, ``retrieve``, ``ingest``,
``ingest_documents``), described by the protocols below; it never prints.
See eval/README.md for what each metric means.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from assistant.types import Answer, Citation, Document, IngestReport, Passage
from eval.datasets import EvalQuestion, LlamaExample, load_beir, load_llama_dataset
from eval.errors import EvalError
from eval.filings import Baseline
from eval.gate import check_thresholds as check_thresholds
from eval.metrics import (
    Evidence,
    abstention_precision_recall,
    citation_matches,
    citation_precision,
    citation_recall,
    doc_ranking,
    hit_at_k,
    key_fact_coverage,
    key_term_recall,
    mean,
    mrr_at_k,
    ndcg_at_k,
    overlaps,
    percentile,
    recall_at_k,
    token_f1,
)
from eval.report import EvalReport as EvalReport

log = logging.getLogger(__name__)


class Asker(Protocol):
    def ask(self, question: str, *, top_k: int | None = None, mode: str | None = None) -> Answer: ...


class DocumentRetriever(Protocol):
    def ingest_documents(self, docs: Sequence[Document], *, progress: bool = False) -> IngestReport: ...

    def retrieve(self, query: str, *, top_k: int | None = None) -> list[Passage]: ...


class FileAsker(Asker, Protocol):
    def ingest(self, paths: Sequence[Path], *, progress: bool = False) -> IngestReport: ...


def _close(assistant: object) -> None:
    close = getattr(assistant, "close", None)
    if callable(close):
        close()


def _latency_ms(answer: Answer, started: float) -> float:
    total = answer.timings_ms.get("total")
    return float(total) if total is not None else (time.perf_counter() - started) * 1000


def _latency_metrics(values: Sequence[float], prefix: str) -> dict[str, float]:
    if not values:
        return {}
    return {f"{prefix}_p50_ms": percentile(values, 50), f"{prefix}_p95_ms": percentile(values, 95)}


def _passage_evidence(passage: Passage) -> Evidence:
    source = passage.chunk.meta.get("source")
    return (str(source), passage.chunk.text) if source else passage.chunk.text


def _citation_evidence(citation: Citation, *, passage: bool) -> Evidence:
    text = (citation.passage or citation.quote) if passage else citation.quote
    return (citation.source, text) if citation.source else text


def _answer_text(answer: Answer) -> str:
    """What the answer asserts: nothing when it abstained."""
    return "" if answer.abstained else answer.answer


# --------------------------------------------------------------------------- eval sets


def _score_question(q: EvalQuestion, answer: Answer, top_k: int) -> dict[str, Any]:
    gold: list[Evidence] = [(g.source, g.quote) for g in q.gold]
    passages = answer.passages[:top_k]
    row: dict[str, Any] = {
        "id": q.id,
        "question": q.question,
        "answerable": q.answerable,
        "abstained": answer.abstained,
        "answer": answer.answer,
        "tags": list(q.tags),
        "split": q.split,
        "cited": [f"{Path(c.source).name}: {c.quote}" for c in answer.citations],
    }
    problems: list[str] = []
    if not q.answerable:
        if not answer.abstained:
            problems.append("answered an unanswerable question")
        row["problems"] = problems
        return row

    # retrieval: a passage is relevant when some gold quote overlaps it (same file)
    evidence = [_passage_evidence(p) for p in passages]
    ranked = [str(i) for i in range(len(passages))]
    relevant = {str(i) for i, e in enumerate(evidence) if any(citation_matches(e, g) for g in gold)}
    row["hit"] = hit_at_k(ranked, relevant, top_k) if ranked else 0.0
    row["rr"] = mrr_at_k(ranked, relevant, top_k) if ranked else 0.0
    row["recall"] = citation_recall(evidence, gold)  # share of gold quotes found in the top-k passages

    text = _answer_text(answer)
    quotes = [_citation_evidence(c, passage=False) for c in answer.citations]
    chunks = [_citation_evidence(c, passage=True) for c in answer.citations]
    row["key_fact_coverage"] = key_fact_coverage(text, q.key_facts)
    row["token_f1"] = token_f1(text, q.reference)
    row["citation_recall"] = citation_recall(quotes, gold) if not answer.abstained else 0.0
    row["citation_recall_passage"] = citation_recall(chunks, gold) if not answer.abstained else 0.0
    if not answer.abstained:
        row["citation_precision"] = citation_precision(quotes, gold)
        row["citation_precision_passage"] = citation_precision(chunks, gold)

    if answer.abstained:
        problems.append("abstained")
    if not row["hit"]:
        problems.append(f"no gold passage in the top {top_k}")
    if not answer.abstained:
        missing = [f for f in q.key_facts if key_fact_coverage(text, [f]) < 1]
        if missing:
            problems.append("missing key facts: " + ", ".join(missing))
        if row["citation_precision"] < 1:
            problems.append(f"citation precision {row['citation_precision']:.2f}")
    row["problems"] = problems
    return row


def _by_tag(rows: Sequence[dict[str, Any]], top_k: int) -> dict[str, dict[str, float | None]]:
    tags = sorted({t for row in rows for t in row["tags"]})
    out: dict[str, dict[str, float | None]] = {}
    for tag in tags:
        group = [r for r in rows if tag in r["tags"]]
        answerable = [r for r in group if r["answerable"]]
        unanswerable = [r for r in group if not r["answerable"]]
        out[tag] = {
            "questions": float(len(group)),
            f"hit@{top_k}": mean([r["hit"] for r in answerable]) if answerable else None,
            "key_fact_coverage": mean([r["key_fact_coverage"] for r in answerable]) if answerable else None,
            "abstained_unanswerable": mean([float(r["abstained"]) for r in unanswerable]) if unanswerable else None,
        }
    return out


def _quality_metrics(rows: Sequence[dict[str, Any]], top_k: int) -> dict[str, float]:
    """Retrieval, answer, citation and abstention metrics over scored rows (answers and citations over the
    answerable questions, citation precision over the answered ones, abstention over all)."""
    answerable = [r for r in rows if r["answerable"]]
    answered = [r for r in answerable if not r["abstained"]]
    a_precision, a_recall = abstention_precision_recall(
        [r["abstained"] for r in rows], [not r["answerable"] for r in rows]
    )
    metrics: dict[str, float] = {}
    if answerable:
        metrics |= {
            **{f"hit@{k}": mean([float(r["rr"] >= 1 / k) for r in answerable]) for k in (1, 3) if k < top_k},
            f"hit@{top_k}": mean([r["hit"] for r in answerable]),
            f"recall@{top_k}": mean([r["recall"] for r in answerable]),
            f"mrr@{top_k}": mean([r["rr"] for r in answerable]),
            "key_fact_coverage": mean([r["key_fact_coverage"] for r in answerable]),
            "token_f1": mean([r["token_f1"] for r in answerable]),
            "citation_precision": mean([r["citation_precision"] for r in answered]),
            "citation_recall": mean([r["citation_recall"] for r in answerable]),
            "citation_precision_passage": mean([r["citation_precision_passage"] for r in answered]),
            "citation_recall_passage": mean([r["citation_recall_passage"] for r in answerable]),
            "answer_rate": len(answered) / len(answerable),
        }
    return metrics | {"abstention_precision": a_precision, "abstention_recall": a_recall}


def run_eval_set(
    assistant: Asker,
    questions: Sequence[EvalQuestion],
    *,
    top_k: int = 5,
    mode: str | None = None,
    name: str = "eval_set",
    progress: bool = False,
) -> EvalReport:
    """Ask every question once and score retrieval, answers, citations, abstention and latency.

    Retrieval is scored on ``Answer.passages`` (the top ``top_k``), answers and
    citations over the answerable questions, abstention over all of them.
    """
    if not questions:
        raise EvalError("the eval set is empty")
    rows: list[dict[str, Any]] = []
    latencies: list[float] = []
    retrieve_ms: list[float] = []
    supported: list[float] = []
    for q in tqdm(questions, desc=name, unit="q", disable=not progress, leave=False):
        started = time.perf_counter()
        answer = assistant.ask(q.question, top_k=top_k, mode=mode)
        latency = _latency_ms(answer, started)
        latencies.append(latency)
        if "retrieve" in answer.timings_ms:
            retrieve_ms.append(float(answer.timings_ms["retrieve"]))
        supported.extend(float(c.supported) for c in answer.citations)
        row = _score_question(q, answer, top_k)
        row["latency_ms"] = round(latency, 1)
        rows.append(row)

    metrics = _quality_metrics(rows, top_k)
    if supported:
        metrics["citations_supported"] = mean(supported)
    metrics |= _latency_metrics(latencies, "latency") | _latency_metrics(retrieve_ms, "retrieval")
    answerable = sum(1 for r in rows if r["answerable"])
    meta: dict[str, Any] = {
        "questions": len(rows),
        "answerable": answerable,
        "unanswerable": len(rows) - answerable,
        "top_k": top_k,
        "mode": mode or "default",
        "by_tag": _by_tag(rows, top_k),
    }
    splits = sorted({str(r["split"]) for r in rows if r["split"]})
    if splits:
        meta["by_split"] = {s: _quality_metrics([r for r in rows if r["split"] == s], top_k) for s in splits}
    return EvalReport(name=name, kind="eval_set", metrics=metrics, meta=meta, rows=rows)


# --------------------------------------------------------------------------- BEIR


def beir_documents(corpus: dict[str, tuple[str, str]]) -> list[Document]:
    """One ``Document`` per BEIR document: id ``_id``, source ``beir:<_id>``, text title + blank line + text."""
    docs: list[Document] = []
    for doc_id, (title, text) in corpus.items():
        body = "\n\n".join(part for part in (title.strip(), text.strip()) if part)
        if body:
            docs.append(Document(id=doc_id, title=title.strip(), source=f"beir:{doc_id}", text=body))
    return docs


def run_beir(
    assistant_factory: Callable[[], DocumentRetriever],
    dir: Path,
    split: str = "test",
    *,
    retrieve_k: int = 100,
    max_queries: int | None = None,
    progress: bool = False,
) -> EvalReport:
    """Index a BEIR corpus into the fresh assistant ``assistant_factory()`` returns, then retrieve for
    every judged query and score the document ranking (each document at its best chunk).

    The assistant is closed at the end when it has a ``close`` method.
    """
    dataset = load_beir(dir, split)
    docs = beir_documents(dataset.corpus)
    assistant = assistant_factory()
    try:
        started = time.perf_counter()
        ingested = assistant.ingest_documents(docs, progress=progress)
        ingest_s = time.perf_counter() - started
        if ingested.errors:
            raise EvalError(f"{len(ingested.errors)} BEIR documents failed to index: {ingested.errors}")
        log.info("indexed %d BEIR documents in %.1f s", len(docs), ingest_s)
        qids = list(dataset.queries)[: max_queries or None]
        rows: list[dict[str, Any]] = []
        timings: list[float] = []
        depth: list[int] = []
        for qid in tqdm(qids, desc=dataset.name, unit="q", disable=not progress, leave=False):
            t0 = time.perf_counter()
            passages = assistant.retrieve(dataset.queries[qid], top_k=retrieve_k)
            timings.append((time.perf_counter() - t0) * 1000)
            ranking = doc_ranking([p.chunk.doc_id for p in passages])
            depth.append(len(ranking))
            qrels = dataset.qrels[qid]
            rows.append(
                {
                    "id": qid,
                    "question": dataset.queries[qid],
                    "ndcg@10": ndcg_at_k(ranking, qrels, 10),
                    "recall@10": recall_at_k(ranking, qrels, 10),
                    "recall@100": recall_at_k(ranking, qrels, 100),
                    "mrr@10": mrr_at_k(ranking, qrels, 10),
                    "top": ranking[:10],
                    "problems": [] if hit_at_k(ranking, qrels, 10) else ["no relevant document in the top 10"],
                }
            )
    finally:
        _close(assistant)
    metrics = {name: mean([r[name] for r in rows]) for name in ("ndcg@10", "recall@100", "mrr@10", "recall@10")}
    metrics |= {"ingest_s": ingest_s} | _latency_metrics(timings, "retrieval")
    meta = {
        "split": split,
        "documents": len(docs),
        "queries": len(rows),
        "retrieve_k": retrieve_k,
        "mean_documents_retrieved": round(mean([float(d) for d in depth]), 1),
    }
    return EvalReport(name=dataset.name, kind="beir", metrics=metrics, meta=meta, rows=rows)


# --------------------------------------------------------------------------- LlamaIndex RAG datasets


def _score_llama_baseline(
    baseline: Baseline,
    files: Sequence[Path],
    examples: Sequence[LlamaExample],
    rows: list[dict[str, Any]],
    top_k: int,
) -> dict[str, float]:
    """Run the plain llama-index pipeline over the same files and queries; score its context hits like ours
    (a retrieved text overlapping a reference context), adding ``baseline_hit`` to each row."""
    run = baseline(list(files), [ex.query for ex in examples], top_k=top_k)
    if len(run.retrieved) != len(examples):
        raise EvalError(f"the baseline answered {len(run.retrieved)} of {len(examples)} queries")
    hits: list[float] = []
    ranks: list[float] = []
    for ex, row, retrieved in zip(examples, rows, run.retrieved, strict=True):
        top = list(retrieved)[:top_k]
        ranked = [str(j) for j in range(len(top))]
        relevant = {str(j) for j, r in enumerate(top) if any(overlaps(c, r.text) for c in ex.reference_contexts)}
        row["baseline_hit"] = hit_at_k(ranked, relevant, top_k) if ranked else 0.0
        hits.append(row["baseline_hit"])
        ranks.append(mrr_at_k(ranked, relevant, top_k) if ranked else 0.0)
    return {
        f"baseline_hit@{top_k}": mean(hits),
        f"baseline_mrr@{top_k}": mean(ranks),
        "baseline_ingest_s": float(run.ingest_s),
    } | _latency_metrics(list(run.latencies_ms), "baseline_latency")


def run_llama_dataset(
    assistant_factory: Callable[[], FileAsker],
    dir: Path,
    *,
    top_k: int = 5,
    mode: str | None = None,
    max_examples: int | None = None,
    baseline: Baseline | None = None,
    progress: bool = False,
) -> EvalReport:
    """Ingest the dataset's source files into a fresh assistant, ask every query, and score
    context hits in the top ``top_k`` passages, token F1 and key-term recall against the reference answers.

    A passage is a hit when it and a reference context overlap by at least half
    of the shorter one's tokens (``eval.metrics.overlaps``). With ``baseline`` (the plain llama-index pipeline
    of eval/baseline.py), its retrieval over the same files and queries is scored the same way
    (``baseline_hit@k``, ``baseline_mrr@k``).
    """
    dataset = load_llama_dataset(dir)
    assistant = assistant_factory()
    try:
        started = time.perf_counter()
        ingested = assistant.ingest(list(dataset.files), progress=progress)
        ingest_s = time.perf_counter() - started
        if not (ingested.added or ingested.replaced or ingested.unchanged):
            raise EvalError(f"none of the source files of {dir} could be ingested: {ingested.errors}")
        examples = dataset.examples[: max_examples or None]
        rows: list[dict[str, Any]] = []
        latencies: list[float] = []
        for i, ex in enumerate(tqdm(examples, desc=dataset.name, unit="q", disable=not progress, leave=False)):
            t0 = time.perf_counter()
            answer = assistant.ask(ex.query, top_k=top_k, mode=mode)
            latencies.append(_latency_ms(answer, t0))
            passages = answer.passages[:top_k]
            ranked = [str(j) for j in range(len(passages))]
            relevant = {
                str(j) for j, p in enumerate(passages) if any(overlaps(c, p.chunk.text) for c in ex.reference_contexts)
            }
            hit = hit_at_k(ranked, relevant, top_k) if ranked else 0.0
            problems = [] if hit else [f"no reference context in the top {top_k}"]
            if answer.abstained:
                problems.append("abstained")
            rows.append(
                {
                    "id": str(i),
                    "question": ex.query,
                    "abstained": answer.abstained,
                    "hit": hit,
                    "rr": mrr_at_k(ranked, relevant, top_k) if ranked else 0.0,
                    "token_f1": token_f1(_answer_text(answer), ex.reference_answer),
                    "key_term_recall": key_term_recall(_answer_text(answer), ex.reference_answer),
                    "answer": answer.answer,
                    "problems": problems,
                }
            )
    finally:
        _close(assistant)
    if not rows:
        raise EvalError(f"{dir} has no examples")
    metrics = {
        f"hit@{top_k}": mean([r["hit"] for r in rows]),
        f"mrr@{top_k}": mean([r["rr"] for r in rows]),
        "token_f1": mean([r["token_f1"] for r in rows]),
        "key_term_recall": mean([r["key_term_recall"] for r in rows]),
        "answer_rate": mean([0.0 if r["abstained"] else 1.0 for r in rows]),
        "ingest_s": ingest_s,
    } | _latency_metrics(latencies, "latency")
    if baseline is not None:
        metrics |= _score_llama_baseline(baseline, dataset.files, examples, rows, top_k)
    meta: dict[str, Any] = {
        "examples": len(rows),
        "files": [p.name for p in dataset.files],
        "top_k": top_k,
        "mode": mode or "default",
    }
    return EvalReport(name=dataset.name, kind="llama", metrics=metrics, meta=meta, rows=rows)


__all__ = [
    "Asker",
    "DocumentRetriever",
    "EvalReport",
    "FileAsker",
    "beir_documents",
    "check_thresholds",
    "run_beir",
    "run_eval_set",
    "run_llama_dataset",
]
