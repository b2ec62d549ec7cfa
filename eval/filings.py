"""Page-gold eval sets over long filings: FinanceBench and our own PAGE_SETS.md JSONL sets.

Both load into one question type (``PageQuestion``: a gold file, gold 1-based pages, gold numbers, a reference
answer). ``run_page_set`` ingests the set's files into a fresh assistant, asks every question, and scores document
and page hits, citation precision, wrongful abstention, gold numbers, token F1 and latency; with a baseline (the
plain llama-index pipeline of eval/baseline.py) it scores the same retrieval metrics for it over the same files and
questions, in the same run. See eval/README.md ("Page-gold sets") for the definitions.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path, PurePath
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from tqdm import tqdm

from assistant.types import Answer, Document, IngestReport, Passage
from eval.baseline import Retrieved
from eval.datasets import _read_jsonl
from eval.errors import DatasetError, EvalError
from eval.metrics import mean, percentile, token_f1
from eval.report import EvalReport

log = logging.getLogger(__name__)

Split = Literal["tune", "heldout"]


# --------------------------------------------------------------------------- questions


@dataclass(frozen=True)
class PageQuestion:
    """One question of a page-gold set.

    ``source`` is the gold file's name, ``gold_pages`` its 1-based pages that hold the answer, ``gold_numbers``
    the numbers a correct answer states (as written; compared after ``normalise_number``). ``single_number`` marks
    a question answered by one number stated on one page (the issue's "one number on one page" questions).
    """

    id: str
    question: str
    answerable: bool
    source: str
    gold_pages: tuple[int, ...]
    gold_numbers: tuple[str, ...] = ()
    reference: str = ""
    kind: str | None = None
    tags: tuple[str, ...] = ()
    split: Split | None = None
    single_number: bool = False


@dataclass(frozen=True)
class PageSet:
    """Questions plus the files they are asked over (every file is ingested, gold or not)."""

    name: str
    questions: tuple[PageQuestion, ...]
    files: tuple[Path, ...]


# --------------------------------------------------------------------------- numbers

# a number as filings and answers write it: 1,577 / 1577.00 / 0.5 / (496) / $1,577 / 23% (sign, $, % are dropped)
_NUMBER = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?![\d,]\d)")
_YEAR = re.compile(r"(19|20)\d\d")
# a month name right before a number makes it a day of a date ("January 28, 2023")
_MONTH_BEFORE = re.compile(r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s*$", re.IGNORECASE)


def normalise_number(text: str) -> str | None:
    """The canonical form of one written number: no grouping commas, no sign, currency or percent, no trailing
    decimal zeros ("$1,577" ≈ "1577.00" ≈ "1,577" → "1577"; "(496)" → "496"; "23%" → "23"). None if no number."""
    m = _NUMBER.search(text.replace("\u2212", "-"))
    if not m:
        return None
    return _canonical(m.group(1), m.group(2))


def _canonical(whole: str, fraction: str | None) -> str | None:
    try:
        value = Decimal(whole.replace(",", "") + (fraction or ""))
    except InvalidOperation:
        return None
    text = format(value.normalize(), "f")
    return text


def numbers_in(text: str, *, skip_dates: bool = False) -> list[str]:
    """The normalised numbers written in ``text``, in order. With ``skip_dates``, the parts of dates are left out
    (labels, not figures): a bare four-digit integer 1900-2099 not preceded by a currency sign (a year), and an
    integer right after a month name (the day of "August 30, 2023")."""
    found: list[str] = []
    for m in _NUMBER.finditer(text):
        whole, fraction = m.group(1), m.group(2)
        before = text[: m.start()]
        if skip_dates and not fraction:
            if _YEAR.fullmatch(whole) and not before.rstrip().endswith("$"):
                continue
            if _MONTH_BEFORE.search(before[-12:]):
                continue
        value = _canonical(whole, fraction)
        if value is not None:
            found.append(value)
    return found


def numbers_found(gold: Sequence[str], texts: Iterable[str]) -> float:
    """Share of the gold numbers (as written) that some text states, compared normalised; 1.0 for no gold."""
    wanted = [n for n in (normalise_number(g) for g in gold) if n is not None]
    if not wanted:
        return 1.0
    present = {n for t in texts for n in numbers_in(t)}
    return sum(1 for n in wanted if n in present) / len(wanted)


# --------------------------------------------------------------------------- splits and subsets


def company_split(company: str) -> Split:
    """FinanceBench's split, by company so that look-alike filings of one company stay in one half:
    sha1(company) even → tune, odd → heldout."""
    return "tune" if int(hashlib.sha1(company.encode("utf-8")).hexdigest(), 16) % 2 == 0 else "heldout"


@dataclass(frozen=True)
class Candidate:
    """A document that a subset may take: its name, company, page count and number of questions on it."""

    name: str
    company: str
    pages: int
    questions: int


def select_documents(
    documents: Sequence[Candidate], *, max_documents: int | None = None, max_pages: int | None = None
) -> list[str]:
    """A deterministic subset: whole companies (look-alike filings of a company always together), the companies
    with the most questions per page first (ties: sha1(company)), each taken when all its documents still fit
    ``max_documents`` and ``max_pages``. No limit: every document, in input order."""
    if max_documents is None and max_pages is None:
        return [d.name for d in documents]
    for label, limit in (("--max-documents", max_documents), ("--max-pages", max_pages)):
        if limit is not None and limit < 1:
            raise DatasetError(f"{label} must be at least 1, not {limit}")
    by_company: dict[str, list[Candidate]] = {}
    for doc in documents:
        by_company.setdefault(doc.company, []).append(doc)

    def cost(company: str) -> tuple[float, str]:
        docs = by_company[company]
        per_question = sum(d.pages for d in docs) / max(sum(d.questions for d in docs), 1)
        return per_question, hashlib.sha1(company.encode("utf-8")).hexdigest()

    chosen: list[str] = []
    page_count = 0
    for company in sorted(by_company, key=cost):
        docs = by_company[company]
        extra = sum(d.pages for d in docs)
        if max_documents is not None and len(chosen) + len(docs) > max_documents:
            continue
        if max_pages is not None and page_count + extra > max_pages:
            continue
        chosen += [d.name for d in docs]
        page_count += extra
    if not chosen:
        raise DatasetError("no company's documents fit the subset limits; raise --max-documents / --max-pages")
    return chosen


# --------------------------------------------------------------------------- loaders


def _pdf_pages(path: Path) -> int:
    from pypdf import PdfReader

    return len(PdfReader(path).pages)


def load_financebench(
    dir: Path, *, max_documents: int | None = None, max_pages: int | None = None, name: str | None = None
) -> PageSet:
    """FinanceBench's questions.jsonl / documents.jsonl / pdfs/ as a page set: source ``doc_name + ".pdf"``,
    gold pages the evidence pages + 1 (``evidence_page_num`` is 0-based), gold numbers those of ``answer``
    (dates left out), split by company (``company_split``). With limits, only the chosen documents
    (``select_documents``) and the questions on them."""
    dir = Path(dir)
    if not dir.is_dir():
        raise DatasetError(f"no such FinanceBench directory: {dir}")
    docs = _read_jsonl(dir / "documents.jsonl")
    rows = _read_jsonl(dir / "questions.jsonl")
    try:
        listed = [(str(d["doc_name"]), str(d["company"])) for d in docs]
    except KeyError as exc:
        raise DatasetError(f"{dir / 'documents.jsonl'}: a document has no {exc.args[0]}") from None
    pdfs = {n: dir / "pdfs" / f"{n}.pdf" for n, _ in listed}
    missing = [str(p) for p in pdfs.values() if not p.is_file()]
    if missing:
        raise DatasetError(f"{len(missing)} FinanceBench PDFs are missing, e.g. {missing[0]}")
    limited = max_documents is not None or max_pages is not None
    asked = Counter(str(r.get("doc_name")) for r in rows)
    candidates = [Candidate(n, c, _pdf_pages(pdfs[n]) if limited else 0, asked[n]) for n, c in listed]
    chosen = set(select_documents(candidates, max_documents=max_documents, max_pages=max_pages))
    questions: list[PageQuestion] = []
    for number, row in enumerate(rows, start=1):
        try:
            questions_doc = str(row["doc_name"])
            if questions_doc not in chosen:
                continue
            evidence = [e for e in row["evidence"] if str(e.get("doc_name", questions_doc)) == questions_doc]
            gold_pages = tuple(sorted({int(e["evidence_page_num"]) + 1 for e in evidence}))
            answer = str(row["answer"])
            gold_numbers = tuple(dict.fromkeys(numbers_in(answer, skip_dates=True)))
            stated = {n for e in evidence for n in numbers_in(str(e.get("evidence_text_full_page") or ""))}
            questions.append(
                PageQuestion(
                    id=str(row["financebench_id"]),
                    question=str(row["question"]),
                    answerable=True,
                    source=f"{questions_doc}.pdf",
                    gold_pages=gold_pages,
                    gold_numbers=gold_numbers,
                    reference=answer,
                    tags=tuple(str(t) for t in (row.get("question_type"), row.get("question_reasoning")) if t),
                    split=company_split(str(row["company"])),
                    single_number=len(gold_numbers) == 1 and len(gold_pages) == 1 and gold_numbers[0] in stated,
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(f"{dir / 'questions.jsonl'}:{number}: malformed question ({exc})") from None
    if not questions:
        raise DatasetError(f"no FinanceBench question is on the chosen documents of {dir}")
    files = tuple(pdfs[n] for n, _ in listed if n in chosen)
    label = name or ("financebench_subset" if limited else "financebench")
    return PageSet(name=label, questions=tuple(questions), files=files)


class _PageSetLine(BaseModel):
    """One line of a PAGE_SETS.md JSONL set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    question: str
    answerable: bool
    source: str
    gold_pages: tuple[int, ...]
    gold_numbers: tuple[str, ...] = ()
    reference: str = ""
    kind: Literal["table", "text"] | None = None
    tags: tuple[str, ...] = ()
    split: Split | None = None

    @model_validator(mode="after")
    def _consistent(self) -> _PageSetLine:
        if not self.id.strip() or not self.question.strip():
            raise ValueError("id and question must not be blank")
        if self.answerable and (not self.gold_pages or not self.source.strip()):
            raise ValueError("an answerable question needs a source and at least one gold page")
        if any(p < 1 for p in self.gold_pages):
            raise ValueError("gold pages are 1-based")
        if any(normalise_number(n) is None for n in self.gold_numbers):
            raise ValueError("every gold number must contain a number")
        return self


def load_page_set(path: Path, files: Path) -> PageSet:
    """A PAGE_SETS.md JSONL set over the files in ``files`` (a directory: its PDFs and other files, recursively;
    or one file). Every question's source must be one of those files."""
    path, files = Path(path), Path(files)
    if not path.is_file():
        raise DatasetError(f"missing page set {path}")
    if files.is_dir():
        paths = tuple(sorted(p for p in files.rglob("*") if p.is_file() and p.suffix.lower() != ".json"))
    elif files.is_file():
        paths = (files,)
    else:
        raise DatasetError(f"no such file or directory: {files}")
    names = {p.name for p in paths}
    questions: list[PageQuestion] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = _PageSetLine.model_validate_json(line)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "line"
            raise DatasetError(f"{path}:{number}: {where}: {first['msg']}") from None
        if row.id in seen:
            raise DatasetError(f"{path}:{number}: duplicate id {row.id!r}")
        if row.answerable and row.source not in names:
            raise DatasetError(f"{path}:{number}: source {row.source!r} is not among the files of {files}")
        seen.add(row.id)
        questions.append(
            PageQuestion(
                id=row.id,
                question=row.question,
                answerable=row.answerable,
                source=row.source,
                gold_pages=row.gold_pages,
                gold_numbers=row.gold_numbers,
                reference=row.reference,
                kind=row.kind,
                tags=row.tags,
                split=row.split,
                single_number=len(row.gold_numbers) == 1 and len(row.gold_pages) == 1,
            )
        )
    if not questions:
        raise DatasetError(f"{path} holds no questions")
    return PageSet(name=path.stem, questions=tuple(questions), files=paths)


# --------------------------------------------------------------------------- the systems


class PageAsker(Protocol):
    """What the runner needs of the assistant: ingest files, ask, and a document's page ranges."""

    def ingest(self, paths: Sequence[Path], *, progress: bool = False) -> IngestReport: ...

    def ask(self, question: str, *, top_k: int | None = None, mode: str | None = None) -> Answer: ...

    def document_text(self, doc_id: str) -> Document: ...


class BaselineResult(Protocol):
    """What eval/baseline.py's run returns: per question, its ranked ``Retrieved`` rows; timings."""

    @property
    def retrieved(self) -> Sequence[Sequence[Retrieved]]: ...

    @property
    def ingest_s(self) -> float: ...

    @property
    def latencies_ms(self) -> Sequence[float]: ...


class Baseline(Protocol):
    """The plain llama-index pipeline over files: ``run_baseline_files`` of eval/baseline.py."""

    def __call__(self, files: Sequence[Path], questions: Sequence[str], /, *, top_k: int) -> BaselineResult: ...


def load_baseline() -> Baseline:
    """eval/baseline.py's ``run_baseline_files``; EvalError in one line when it is not there."""
    try:
        from eval import baseline
    except ImportError as exc:  # pragma: no cover - the module is part of the package
        raise EvalError(f"the plain llama-index baseline cannot be imported: {exc}") from None
    run = getattr(baseline, "run_baseline_files", None)
    if not callable(run):
        raise EvalError("eval/baseline.py has no run_baseline_files; run with --no-baseline")
    return run


# --------------------------------------------------------------------------- scoring


def _name(source: str) -> str:
    return PurePath(source).name


def pages_of(doc: Document, start: int, end: int) -> frozenset[int]:
    """The 1-based pages that the span [start, end) of ``doc.text`` touches (a chunk spanning pages: all)."""
    return frozenset(p.number for p in doc.pages if p.start < max(end, start + 1) and start < p.end)


def page_hit(hits: Sequence[tuple[str, frozenset[int]]], source: str, gold_pages: Iterable[int], k: int) -> float:
    """1.0 when one of the first ``k`` (file name, pages) hits is in the gold file and touches a gold page."""
    gold = set(gold_pages)
    return 1.0 if any(_name(s) == _name(source) and pages & gold for s, pages in hits[:k]) else 0.0


def doc_hit(sources: Sequence[str], source: str, k: int) -> float:
    """1.0 when one of the first ``k`` sources is the gold file (compared by file name)."""
    return 1.0 if any(_name(s) == _name(source) for s in sources[:k]) else 0.0


@dataclass
class _Pages:
    """Page ranges of the indexed documents, fetched once per document."""

    assistant: PageAsker
    cache: dict[str, Document]

    def of(self, doc_id: str, start: int, end: int, fallback: object = None) -> frozenset[int]:
        if doc_id not in self.cache:
            self.cache[doc_id] = self.assistant.document_text(doc_id)
        found = pages_of(self.cache[doc_id], start, end)
        if not found and isinstance(fallback, int):
            return frozenset({fallback})
        return found


def _passage_hit(passage: Passage, pages: _Pages) -> tuple[str, frozenset[int]]:
    chunk = passage.chunk
    return str(chunk.meta.get("source", "")), pages.of(chunk.doc_id, chunk.start, chunk.end, chunk.meta.get("page"))


def _score_ours(q: PageQuestion, answer: Answer, pages: _Pages, top_k: int) -> dict[str, Any]:
    hits = [_passage_hit(p, pages) for p in answer.passages[:top_k]]
    sources = [s for s, _ in hits]
    cited = [(c.source, pages.of(c.doc_id, c.start, c.end, c.page)) for c in answer.citations]
    text = "" if answer.abstained else answer.answer
    row: dict[str, Any] = {
        "top": [f"{_name(s)} p. {','.join(map(str, sorted(p))) or '?'}" for s, p in hits],
        "cited": [
            f"{_name(c.source)} p. {','.join(map(str, sorted(p))) or '?'}: {c.quote}"
            for c, (_, p) in zip(answer.citations, cited, strict=True)
        ],
        "abstained": answer.abstained,
        "answer": answer.answer,
    }
    if not q.answerable:
        return row
    gold = set(q.gold_pages)
    row |= {
        "doc_hit@1": doc_hit(sources, q.source, 1),
        f"doc_hit@{top_k}": doc_hit(sources, q.source, top_k),
        "page_hit@1": page_hit(hits, q.source, gold, 1),
        f"page_hit@{top_k}": page_hit(hits, q.source, gold, top_k),
        "token_f1": token_f1(text, q.reference),
    }
    if q.gold_numbers:
        quotes = [c.quote for c in answer.citations] if not answer.abstained else []
        row["numbers_found"] = numbers_found(q.gold_numbers, [text, *quotes]) if not answer.abstained else 0.0
    if not answer.abstained and cited:
        row["citation_precision"] = mean([float(_name(s) == _name(q.source)) for s, _ in cited])
        row["citation_precision_page"] = mean([float(_name(s) == _name(q.source) and bool(p & gold)) for s, p in cited])
    elif not answer.abstained:
        row["citation_precision"] = row["citation_precision_page"] = 0.0
    return row


def _score_baseline(q: PageQuestion, retrieved: Sequence[Retrieved], top_k: int) -> dict[str, Any]:
    hits = [(r.source, frozenset({r.page}) if r.page is not None else frozenset()) for r in retrieved[:top_k]]
    sources = [s for s, _ in hits]
    row: dict[str, Any] = {"baseline_top": [f"{_name(r.source)} p. {r.page}" for r in retrieved[:top_k]]}
    if q.answerable:
        row |= {
            "baseline_doc_hit@1": doc_hit(sources, q.source, 1),
            f"baseline_doc_hit@{top_k}": doc_hit(sources, q.source, top_k),
            "baseline_page_hit@1": page_hit(hits, q.source, q.gold_pages, 1),
            f"baseline_page_hit@{top_k}": page_hit(hits, q.source, q.gold_pages, top_k),
        }
    return row


def _mean_of(rows: Sequence[dict[str, Any]], key: str) -> float | None:
    values = [float(r[key]) for r in rows if key in r]
    return mean(values) if values else None


def page_metrics(rows: Sequence[dict[str, Any]], top_k: int) -> dict[str, float]:
    """Aggregate scored rows: retrieval, numbers and F1 over the answerable questions, citation precision over the
    answered ones, ``answered_on_gold``/``answered_on_gold_page`` = the same over every answerable question (an
    abstention counts 0: withholding answers cannot raise them), ``abstention_rate`` = abstentions on answerable
    questions, ``abstention_recall`` on the
    unanswerable ones (when there are any), and the baseline's retrieval with the margin ``doc_hit@k_margin``."""
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    single = [r for r in answerable if r["single_number"]]
    out: dict[str, float] = {}
    keys = [
        "doc_hit@1",
        f"doc_hit@{top_k}",
        "page_hit@1",
        f"page_hit@{top_k}",
        "citation_precision",
        "citation_precision_page",
        "numbers_found",
        "token_f1",
    ]
    for key in keys:
        value = _mean_of(answerable, key)
        if value is not None:
            out[key] = value
    if single:
        out["numbers_found_single"] = mean([float(r.get("numbers_found", 0.0)) for r in single])
    if answerable:
        out["abstention_rate"] = mean([float(r["abstained"]) for r in answerable])
        # citation precision rises when answers are withheld; these do not: each answerable question counts, an
        # abstention (or an answer without citations) as 0
        pairs = (("citation_precision", "answered_on_gold"), ("citation_precision_page", "answered_on_gold_page"))
        for key, name in pairs:
            if any(key in r for r in answerable):
                out[name] = mean([float(r.get(key) or 0.0) for r in answerable])
    if unanswerable:
        out["abstention_recall"] = mean([float(r["abstained"]) for r in unanswerable])
    for key in keys[:4]:
        value = _mean_of(answerable, f"baseline_{key}")
        if value is not None:
            out[f"baseline_{key}"] = value
    if f"baseline_doc_hit@{top_k}" in out and f"doc_hit@{top_k}" in out:
        out[f"doc_hit@{top_k}_margin"] = out[f"doc_hit@{top_k}"] - out[f"baseline_doc_hit@{top_k}"]
    return out


def _latencies(values: Sequence[float], prefix: str) -> dict[str, float]:
    if not values:
        return {}
    return {f"{prefix}_p50_ms": percentile(values, 50), f"{prefix}_p95_ms": percentile(values, 95)}


def _problems(q: PageQuestion, row: dict[str, Any], top_k: int) -> list[str]:
    if not q.answerable:
        return [] if row["abstained"] else ["answered an unanswerable question"]
    problems = ["abstained"] if row["abstained"] else []
    if not row[f"doc_hit@{top_k}"]:
        problems.append(f"gold document not in the top {top_k}")
    elif not row[f"page_hit@{top_k}"]:
        problems.append(f"gold page not in the top {top_k}")
    if row.get("numbers_found", 1.0) < 1:
        problems.append("gold numbers missing: " + ", ".join(q.gold_numbers))
    if row.get("citation_precision_page", 1.0) < 1:
        problems.append(f"page-level citation precision {row['citation_precision_page']:.2f}")
    return problems


def run_page_set(
    assistant_factory: Callable[[], PageAsker],
    page_set: PageSet,
    *,
    top_k: int = 5,
    mode: str | None = None,
    baseline: Baseline | None = None,
    progress: bool = False,
) -> EvalReport:
    """Ingest the set's files into a fresh assistant, ask every question, score (``page_metrics``), and with
    ``baseline`` score the plain llama-index pipeline's retrieval over the same files and questions.

    The assistant is closed at the end when it has a ``close`` method.
    """
    if not page_set.questions:
        raise EvalError("the page set is empty")
    questions = page_set.questions
    assistant = assistant_factory()
    try:
        started = time.perf_counter()
        ingested = assistant.ingest(list(page_set.files), progress=progress)
        ingest_s = time.perf_counter() - started
        if ingested.errors:
            log.warning("%d files failed to ingest: %s", len(ingested.errors), ingested.errors)
        if not (ingested.added or ingested.replaced or ingested.unchanged):
            raise EvalError(f"none of the files of {page_set.name} could be ingested: {ingested.errors}")
        pages = _Pages(assistant, {})
        rows: list[dict[str, Any]] = []
        latencies: list[float] = []
        for q in tqdm(questions, desc=page_set.name, unit="q", disable=not progress, leave=False):
            t0 = time.perf_counter()
            answer = assistant.ask(q.question, top_k=top_k, mode=mode)
            total = answer.timings_ms.get("total")
            latencies.append(float(total) if total is not None else (time.perf_counter() - t0) * 1000)
            row: dict[str, Any] = {
                "id": q.id,
                "question": q.question,
                "answerable": q.answerable,
                "split": q.split,
                "kind": q.kind,
                "tags": list(q.tags),
                "source": q.source,
                "gold_pages": list(q.gold_pages),
                "gold_numbers": list(q.gold_numbers),
                "single_number": q.single_number,
                "latency_ms": round(latencies[-1], 1),
            }
            row |= _score_ours(q, answer, pages, top_k)
            row["problems"] = _problems(q, row, top_k)
            rows.append(row)
    finally:
        close = getattr(assistant, "close", None)
        if callable(close):
            close()
    meta: dict[str, Any] = {
        "questions": len(rows),
        "answerable": sum(1 for q in questions if q.answerable),
        "single_number_questions": sum(1 for q in questions if q.answerable and q.single_number),
        "files": len(page_set.files),
        "ingest_errors": len(ingested.errors),
        "top_k": top_k,
        "mode": mode or "default",
    }
    extra: dict[str, float] = {"ingest_s": ingest_s}
    if baseline is not None:
        run = baseline(list(page_set.files), [q.question for q in questions], top_k=top_k)
        if len(run.retrieved) != len(questions):
            raise EvalError(f"the baseline answered {len(run.retrieved)} of {len(questions)} questions")
        for q, row, retrieved in zip(questions, rows, run.retrieved, strict=True):
            row |= _score_baseline(q, retrieved, top_k)
        extra |= {"baseline_ingest_s": float(run.ingest_s)} | _latencies(list(run.latencies_ms), "baseline_latency")
        meta["baseline"] = "plain llama-index (eval/baseline.py)"
    metrics = page_metrics(rows, top_k) | _latencies(latencies, "latency") | extra
    for group in ("split", "kind"):
        values = sorted({str(r[group]) for r in rows if r[group]})
        if values:
            meta[f"by_{group}"] = {v: page_metrics([r for r in rows if r[group] == v], top_k) for v in values}
    return EvalReport(name=page_set.name, kind="pages", metrics=metrics, meta=meta, rows=rows)


__all__ = [
    "Baseline",
    "BaselineResult",
    "PageAsker",
    "PageQuestion",
    "PageSet",
    "company_split",
    "doc_hit",
    "load_baseline",
    "load_financebench",
    "load_page_set",
    "normalise_number",
    "numbers_found",
    "numbers_in",
    "page_hit",
    "page_metrics",
    "pages_of",
    "run_page_set",
    "select_documents",
    "Candidate",
]
