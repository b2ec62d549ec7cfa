"""CPU time per extractive answer on an index of long PDFs: sentence vectors kept at ingest against embedding the
retrieved sentences on every question, in the same run (``make bench-answer``).

The index holds Uber's 2021 10-K and the FinanceBench filings of the CI gate's 300-page subset
(``load_financebench`` with ``max_pages``), read through the PDF cache; it is built once into ``--index`` and reused.
When the service did not keep sentence vectors at ingest, they are filled in once from the indexed chunks
(``fill_sentence_vectors``: each sentence embedded on its own, as ingest would).

Every question of eval/uber_10k.jsonl and of FinanceBench on those filings is asked through ``Assistant.ask``
twice, by two extractive answerers in turn (which one goes first alternates from question to question):

* **kept**: sentence vectors read from the store (``index.sentence_vectors``), the model runs only on the question;
* **embedded**: no store, every retrieved sentence embedded when the question comes (the old path).

Each runs with one torch thread and with torch's default (one per core): on a shared machine a second thread that
waits for a core spins, and CPU time counts the spinning.

CPU time is ``getrusage(RUSAGE_SELF)`` user + system around each ask: every thread of the process, torch's
included. It does not depend on how busy the shared machine is, as wall time does (wall time is reported too).
The answers of the two paths are compared (answer text, abstention, cited spans). ``--profile`` adds the
functions that take the kept path's CPU time (cProfile). Writes ``reports/answer_speed.{json,md}``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import pstats
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from assistant.answerer import Answerer
from assistant.config import get_settings
from assistant.extractive import ExtractiveAnswerer, _segments
from assistant.service import Assistant
from assistant.types import Answer
from eval.filings import load_financebench, load_page_set
from eval.metrics import percentile
from index.embeddings import QUERY_CACHE
from index.sentence_vectors import SentenceVectors, encode_sentences, fill_sentence_vectors, store_path
from ingest.loaders import set_pdf_cache

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"
DEFAULT_INDEX = Path("/tmp/answer-speed-index")
DEFAULT_PDF_CACHE = Path("/work/cache/pdf")
DEFAULT_OUT = Path("reports") / "answer_speed"
UBER_SET = REPO / "eval" / "uber_10k.jsonl"
UBER_FILES = SHARED / "uber_10k_2021"
FINANCEBENCH = SHARED / "financebench"
MAX_PAGES = 300  # the CI gate's FinanceBench subset (7 filings, 15 questions)
KEPT, EMBEDDED = "kept", "embedded"


def cpu_s() -> float:
    """User + system CPU seconds of this process so far, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def build(index: Path, financebench: bool = True) -> Assistant:
    """The assistant over ``index``, with the Uber 10-K and the FinanceBench subset ingested (once)."""
    assistant = Assistant(get_settings(data_dir=index, parse_timeout_s=3600.0))
    if not assistant.documents():
        files = [UBER_FILES / "uber_2021.pdf"]
        if financebench:
            files += load_financebench(FINANCEBENCH, max_pages=MAX_PAGES).files
        for path in files:
            started = time.perf_counter()
            report = assistant.ingest([path])
            log.warning("ingested %s in %.0f s %s", path.name, time.perf_counter() - started, report.errors or "")
    return assistant


def questions(indexed: set[str], limit: int | None) -> list[str]:
    """The questions of the Uber set, then FinanceBench's, on the files the index holds (by file name; up to
    ``limit`` in all)."""
    sets = [load_page_set(UBER_SET, UBER_FILES), load_financebench(FINANCEBENCH, max_pages=MAX_PAGES)]
    asked = [q.question for s in sets for q in s.questions if Path(q.source).name in indexed]
    return asked[:limit] if limit else asked


def fill_asked(assistant: Assistant, store: SentenceVectors, asked: Sequence[str]) -> int:
    """Keep the sentence vectors of the chunks the questions are answered from (their passages), not of the whole
    index: a quicker fill for a measurement, with the same vectors; a sentence the kept path misses is embedded
    on the spot and counts in its time."""
    chunks = {
        p.chunk.id: p.chunk for q in asked for p in assistant._passages(q, top_k=None, doc_ids=None, sources=None)[0]
    }
    fresh = [c for c in chunks.values() if not store.get([c.text[a:b] for a, b in _segments(c)][:1])]
    store.add(encode_sentences(assistant.embedder, fresh, _segments))
    return len(fresh)


def _fingerprint(answer: Answer) -> tuple[Any, ...]:
    return (answer.answer, answer.abstained, tuple((c.chunk_id, c.start, c.end) for c in answer.citations))


class Path_(NamedTuple):
    """One way to answer: an answerer, the torch threads it runs with, the torch threads of question embedding
    (``Embedder.query_threads``; 0: the same as ``threads``) and whether query vectors are kept
    (``Embedder``'s LRU; emptied before every ask, so a path never profits from another's asks)."""

    answerer: Answerer
    threads: int
    query_threads: int = 0
    query_cache: bool = True


def _ask(assistant: Assistant, path: Path_, question: str) -> tuple[Answer, float, float]:
    import torch

    torch.set_num_threads(path.threads)
    embedder = assistant.embedder
    embedder.query_threads = path.query_threads or path.threads
    embedder._query_cache = QUERY_CACHE if path.query_cache else 0
    embedder.forget_queries()
    assistant._answerers["extractive"] = path.answerer
    cpu, wall = cpu_s(), time.perf_counter()
    answer = assistant.ask(question, mode="extractive")
    return answer, (cpu_s() - cpu) * 1000, (time.perf_counter() - wall) * 1000


def _summary(values: Sequence[float]) -> dict[str, float]:
    return {"p50": round(percentile(values, 50), 1), "p95": round(percentile(values, 95), 1)}


def measure(assistant: Assistant, paths: dict[str, Path_], asked: Sequence[str], warmup: int = 2) -> dict[str, Any]:
    """Ask every question on every path, alternating which goes first; CPU and wall ms per ask, and agreement."""
    names = list(paths)
    for question in asked[:warmup]:  # model, caches and lazy indexes warmed on both paths
        for name in names:
            _ask(assistant, paths[name], question)
    cpu: dict[str, list[float]] = {n: [] for n in names}
    wall: dict[str, list[float]] = {n: [] for n in names}
    same = 0
    for i, question in enumerate(asked):
        order = names if i % 2 == 0 else names[::-1]
        answers: dict[str, Answer] = {}
        for name in order:
            answers[name], c, w = _ask(assistant, paths[name], question)
            cpu[name].append(c)
            wall[name].append(w)
        same += len({_fingerprint(a) for a in answers.values()}) == 1
    result: dict[str, Any] = {
        n: {"cpu_ms": _summary(cpu[n]), "wall_ms": _summary(wall[n]), "cpu_ms_per_ask": cpu[n]} for n in names
    }
    result["paths"] = names
    result["questions"] = len(asked)
    result["same_answers"] = same
    return result


def profile(assistant: Assistant, path: Path_, asked: Sequence[str], top: int = 30) -> str:
    """cProfile of the asks on one path: the functions with the most cumulative time."""
    import torch

    torch.set_num_threads(path.threads)
    assistant._answerers["extractive"] = path.answerer
    profiler = cProfile.Profile()
    profiler.enable()
    for question in asked:
        assistant.ask(question, mode="extractive")
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def report_md(result: dict[str, Any], meta: dict[str, Any]) -> str:
    lines = [
        "# Extractive answer: CPU time per question",
        "",
        f"Index: {meta['documents']} documents, {meta['chunks']} chunks ({meta['index']}); "
        f"{result['questions']} questions (eval/uber_10k.jsonl, FinanceBench on the indexed filings); "
        f"torch's default threads: {meta['torch_default_threads']}.",
        f"Sentence vectors kept: {meta['sentences_kept']} (filled for {meta['fill']} chunks).",
        "CPU time: getrusage(RUSAGE_SELF) user + system around `Assistant.ask`, all threads.",
        "",
        "| path | CPU ms p50 | CPU ms p95 | wall ms p50 | wall ms p95 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in result["paths"]:
        r = result[name]
        cpu, wall = r["cpu_ms"], r["wall_ms"]
        lines.append(f"| {name} | {cpu['p50']} | {cpu['p95']} | {wall['p50']} | {wall['p95']} |")
    base = result[result["paths"][-1]]["cpu_ms"]["p50"]
    ratios = ", ".join(f"{n}: {result[n]['cpu_ms']['p50'] / max(base, 1e-9):.2f}" for n in result["paths"])
    lines += [
        "",
        f"CPU p50 against the last row: {ratios}. The same answer (text, abstention, cited spans) on every path: "
        f"{result['same_answers']} of {result['questions']} questions.",
    ]
    lines += [
        "",
        "kept: sentence vectors computed at ingest and read from index/sentence_vectors.py; embedded: every retrieved "
        "sentence embedded on each question (the old path).",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.bench_answer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=DEFAULT_INDEX, help="index directory (built once, reused)")
    parser.add_argument("--pdf-cache", type=Path, default=DEFAULT_PDF_CACHE)
    parser.add_argument("--questions", type=int, default=None, help="ask only the first N questions")
    parser.add_argument("--kept-only", action="store_true", help="measure only the kept path")
    parser.add_argument(
        "--fill",
        choices=("all", "asked"),
        default="all",
        help="sentence vectors missing from the store: of every chunk, or of the chunks the questions reach",
    )
    parser.add_argument("--one-thread-only", action="store_true", help="measure only with one torch thread")
    parser.add_argument(
        "--query-paths",
        action="store_true",
        help="measure the kept path with torch's default threads and question embedding on 1 or on the default "
        "threads, with and without the query-vector cache",
    )
    parser.add_argument("--no-financebench", action="store_true", help="index the Uber 10-K only")
    parser.add_argument("--profile", action="store_true", help="add a cProfile of the kept path to the report")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="report path without extension")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    import torch

    default_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # building the index too: a spinning second thread only slows a shared machine
    set_pdf_cache(args.pdf_cache)
    assistant = build(args.index, financebench=not args.no_financebench)
    try:
        store = SentenceVectors(store_path(args.index))
        docs = assistant.documents()
        asked = questions({Path(d.source).name for d in docs}, args.questions)
        if args.fill == "all":
            filled = fill_sentence_vectors(store, assistant.embedder, [d.id for d in docs], assistant.chunks, _segments)
        else:
            filled = fill_asked(assistant, store, asked)
        if filled:
            log.warning("filled sentence vectors of %d chunks", filled)
        answerers: dict[str, Answerer] = {
            KEPT: ExtractiveAnswerer(assistant.settings, assistant.embedder, corpus=assistant, sentence_vectors=store)
        }
        if not args.kept_only and not args.query_paths:
            answerers[EMBEDDED] = ExtractiveAnswerer(assistant.settings, assistant.embedder, corpus=assistant)
        counts = [1] if args.one_thread_only or default_threads == 1 else [1, default_threads]
        if args.query_paths:
            paths = {
                f"kept, torch {default_threads} threads, questions on {q}, {'kept' if c else 'no'} query vectors": (
                    Path_(answerers[KEPT], default_threads, q, c)
                )
                for q in dict.fromkeys([1, default_threads])
                for c in (True, False)
            }
        else:
            paths = {
                f"{name}, {n} thread{'s' if n > 1 else ''}": Path_(a, n)
                for n in counts
                for name, a in answerers.items()
            }
        result = measure(assistant, paths, asked)
        meta = {
            "index": str(args.index),
            "documents": len(docs),
            "chunks": sum(d.chunks for d in docs),
            "sentences_kept": store.count(),
            "fill": args.fill,
            "torch_default_threads": default_threads,
        }
        text = report_md(result, meta)
        if args.profile:
            text += "\n## cProfile of the kept path, one thread (cumulative)\n\n```\n"
            text += profile(assistant, Path_(answerers[KEPT], 1), asked)
            text += "```\n"
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, **result}, indent=1) + "\n")
        args.out.with_suffix(".md").write_text(text)
        sys.stdout.write(text)
        store.close()
    finally:
        assistant.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
