"""What ``assistant eval`` runs (the CLI in assistant/cli.py parses the arguments and prints).

Each run writes ``<out>/<name>.json`` and ``<out>/<name>.md`` and returns the report
with the gate failures for ``eval/thresholds.json``'s section ``<name>``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from eval.datasets import load_eval_set
from eval.errors import EvalError
from eval.filings import Baseline, PageSet, load_baseline, load_financebench, load_page_set, run_page_set
from eval.gate import report_failures
from eval.report import EvalReport
from eval.runner import run_beir, run_eval_set, run_llama_dataset

if TYPE_CHECKING:
    from assistant.service import Assistant

REPO = Path(__file__).resolve().parents[1]
DEMO_SET = Path(__file__).with_name("demo.jsonl")
DEMO_CORPUS = REPO / "data" / "demo"


# An eval measures answers, not how fast a busy machine reads: a long filing (a 500-page 10-K, its tables extracted)
# is never skipped because reading it took longer than the interactive limit (Settings.parse_timeout_s, 120 s).
EVAL_PARSE_TIMEOUT_S = 3600.0


@contextmanager
def _fresh_factory() -> Iterator[Callable[[], Assistant]]:
    """Assistants over throw-away index directories, removed afterwards; files may take up to
    ``EVAL_PARSE_TIMEOUT_S`` to read."""
    from assistant.config import get_settings
    from assistant.service import Assistant

    with tempfile.TemporaryDirectory(prefix="assistant-eval-") as tmp:
        count = 0

        def make() -> Assistant:
            nonlocal count
            count += 1
            return Assistant(get_settings(data_dir=Path(tmp) / f"index{count}", parse_timeout_s=EVAL_PARSE_TIMEOUT_S))

        yield make


def _baseline(args: argparse.Namespace) -> Baseline | None:
    """The plain llama-index pipeline to run beside ours, unless ``--no-baseline``."""
    return None if getattr(args, "no_baseline", False) else load_baseline()


def _page_set(args: argparse.Namespace) -> PageSet | None:
    """The page-gold set the arguments name: FinanceBench (optionally a subset) or a PAGE_SETS.md JSONL set."""
    financebench = getattr(args, "financebench", None)
    page_set = getattr(args, "page_set", None)
    if financebench:
        return load_financebench(
            financebench,
            max_documents=getattr(args, "max_documents", None),
            max_pages=getattr(args, "max_pages", None),
            name=getattr(args, "name", None),
        )
    if page_set:
        files = getattr(args, "files", None)
        if files is None:
            raise EvalError("--page-set needs --files (the directory or file its questions are asked over)")
        loaded = load_page_set(page_set, files)
        name = getattr(args, "name", None)
        return PageSet(name=name, questions=loaded.questions, files=loaded.files) if name else loaded
    return None


def _run(args: argparse.Namespace) -> EvalReport:
    top_k = args.top_k
    # a long run (the whole FinanceBench takes an hour or more) shows its progress on a terminal, as ingest does;
    # written to stderr, so a --json report on stdout stays one object
    progress = bool(getattr(args, "verbose", False)) or sys.stderr.isatty()
    pages = _page_set(args)
    if pages is not None:
        baseline = _baseline(args)
        with _fresh_factory() as factory:
            return run_page_set(factory, pages, top_k=top_k, mode=args.mode, baseline=baseline, progress=progress)
    if args.beir:
        with _fresh_factory() as factory:
            return run_beir(factory, args.beir, args.split, progress=progress)
    if args.llama_dataset:
        baseline = _baseline(args)
        with _fresh_factory() as factory:
            return run_llama_dataset(
                factory, args.llama_dataset, top_k=top_k, mode=args.mode, baseline=baseline, progress=progress
            )
    path = args.eval_set or DEMO_SET
    questions = load_eval_set(path)
    if path.resolve() == DEMO_SET.resolve():
        # the demo set is always scored on a fresh index of the bundled demo corpus
        with _fresh_factory() as factory:
            assistant = factory()
            try:
                assistant.ingest([DEMO_CORPUS])
                return run_eval_set(assistant, questions, top_k=top_k, mode=args.mode, name=path.stem)
            finally:
                assistant.close()
    # any other set is scored against the index the user configured (its corpus must be ingested there)
    from assistant.config import get_settings
    from assistant.service import Assistant

    overrides = {"data_dir": Path(args.data_dir)} if args.data_dir else {}
    assistant = Assistant(get_settings(**overrides))
    try:
        return run_eval_set(assistant, questions, top_k=top_k, mode=args.mode, name=path.stem)
    finally:
        assistant.close()


def run_eval_command(args: argparse.Namespace) -> tuple[EvalReport, list[str]]:
    """Run the eval the arguments select, write its reports, check its thresholds."""
    from assistant.config import get_settings
    from ingest.loaders import set_pdf_cache

    settings = get_settings()
    set_pdf_cache(getattr(args, "pdf_cache", None))
    try:
        report = _run(args)
    finally:
        set_pdf_cache(None)
    retrieval = f"{settings.fusion} (alpha {settings.alpha})"
    if settings.reranker:
        retrieval += f", reranker {settings.reranker} (depth {settings.rerank_depth}, weight {settings.rerank_weight})"
    report = report.model_copy(update={"meta": {**report.meta, "retrieval": retrieval}})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{report.name}.json").write_text(report.to_json() + "\n", encoding="utf-8")
    (out / f"{report.name}.md").write_text(report.to_markdown(), encoding="utf-8")
    return report, report_failures(report.name, report.metrics, report.meta)
