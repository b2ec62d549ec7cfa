"""Loaders for the eval data: BEIR retrieval sets, LlamaIndex RAG datasets, our JSONL eval sets.

Each loader returns small frozen objects local to this package; nothing here
talks to the assistant.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from eval.errors import DatasetError

# File types a LlamaIndex dataset directory may carry as its source documents.
SOURCE_SUFFIXES = frozenset({".pdf", ".txt", ".md", ".html", ".htm", ".docx"})
# Files of a downloaded LlamaIndex dataset that describe the dataset rather than being part of it.
_LLAMA_METADATA = frozenset({"rag_dataset.json", "card.json", "readme.md", "llamaindex_baseline.py"})


# --------------------------------------------------------------------------- BEIR


@dataclass(frozen=True)
class BeirDataset:
    """A BEIR retrieval dataset restricted to one split.

    ``corpus`` maps a document id to ``(title, text)``; ``queries`` holds only the
    queries that have judgements in the split; ``qrels`` maps a query id to
    ``{doc_id: grade}`` (grades as given, 0 included).
    """

    name: str
    split: str
    corpus: dict[str, tuple[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DatasetError(f"missing file {path}")
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{number}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise DatasetError(f"{path}:{number}: expected a JSON object")
            rows.append(row)
    return rows


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    if not path.is_file():
        raise DatasetError(f"missing qrels file {path}")
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        for number, row in enumerate(reader, start=1):
            if not row or not "".join(row).strip():
                continue
            if number == 1 and row[0].strip().lower() in {"query-id", "query_id", "qid"}:
                continue  # header
            if len(row) < 3:
                raise DatasetError(f"{path}:{number}: expected query-id, corpus-id, score")
            qid, doc_id, grade = row[0].strip(), row[1].strip(), row[-1].strip()
            try:
                qrels.setdefault(qid, {})[doc_id] = int(float(grade))
            except ValueError:
                raise DatasetError(f"{path}:{number}: score {grade!r} is not a number") from None
    return qrels


def load_beir(dir: Path, split: str = "test") -> BeirDataset:
    """Load ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/{split}.tsv`` from a BEIR directory."""
    dir = Path(dir)
    corpus: dict[str, tuple[str, str]] = {}
    for row in _read_jsonl(dir / "corpus.jsonl"):
        if "_id" not in row:
            raise DatasetError(f"{dir / 'corpus.jsonl'}: a document has no _id")
        corpus[str(row["_id"])] = (str(row.get("title") or ""), str(row.get("text") or ""))
    qrels = _read_qrels(dir / "qrels" / f"{split}.tsv")
    all_queries = {str(row["_id"]): str(row.get("text") or "") for row in _read_jsonl(dir / "queries.jsonl")}
    missing = sorted(set(qrels) - set(all_queries))
    if missing:
        raise DatasetError(f"{len(missing)} judged queries are missing from queries.jsonl, e.g. {missing[0]!r}")
    queries = {qid: all_queries[qid] for qid in all_queries if qid in qrels}
    return BeirDataset(name=dir.name, split=split, corpus=corpus, queries=queries, qrels=qrels)


# --------------------------------------------------------------------------- LlamaIndex


@dataclass(frozen=True)
class LlamaExample:
    """One labelled example of a ``LabelledRagDataset``."""

    query: str
    reference_answer: str
    reference_contexts: tuple[str, ...]


@dataclass(frozen=True)
class LlamaDataset:
    """A LlamaIndex ``LabelledRagDataset`` directory: examples plus the source files they came from."""

    name: str
    examples: tuple[LlamaExample, ...]
    files: tuple[Path, ...]


def load_llama_dataset(dir: Path) -> LlamaDataset:
    """Load ``rag_dataset.json`` and list the source documents in ``dir`` (recursively).

    Source documents are files with a suffix in ``SOURCE_SUFFIXES``, except the
    dataset's own description files (README.md, card.json, ...).
    """
    dir = Path(dir)
    path = dir / "rag_dataset.json"
    if not path.is_file():
        raise DatasetError(f"missing file {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: not JSON ({exc.msg})") from None
    raw = data.get("examples") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        raise DatasetError(f"{path}: expected an object with an 'examples' list")
    examples: list[LlamaExample] = []
    for i, ex in enumerate(raw):
        if not isinstance(ex, dict) or not isinstance(ex.get("query"), str):
            raise DatasetError(f"{path}: example {i} has no query")
        contexts = ex.get("reference_contexts") or []
        examples.append(
            LlamaExample(
                query=ex["query"],
                reference_answer=str(ex.get("reference_answer") or ""),
                reference_contexts=tuple(str(c) for c in contexts),
            )
        )
    files = tuple(
        sorted(
            p
            for p in dir.rglob("*")
            if p.is_file() and p.suffix.lower() in SOURCE_SUFFIXES and p.name.lower() not in _LLAMA_METADATA
        )
    )
    if not files:
        raise DatasetError(f"no source documents ({', '.join(sorted(SOURCE_SUFFIXES))}) in {dir}")
    return LlamaDataset(name=dir.name, examples=tuple(examples), files=files)


# --------------------------------------------------------------------------- our JSONL eval sets


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GoldQuote(_Frozen):
    """A verbatim span of a source file that supports the answer."""

    source: str  # the file name, e.g. "tlg-us-refocuses-ai-chip-restrictions.txt"
    quote: str

    @field_validator("source", "quote")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class EvalQuestion(_Frozen):
    """One line of an eval set (see eval/README.md for the schema)."""

    id: str
    question: str
    answerable: bool
    reference: str = ""
    key_facts: tuple[str, ...] = ()
    gold: tuple[GoldQuote, ...] = ()
    tags: tuple[str, ...] = ()
    # "tune": weights and rules were fitted on it; "heldout": kept aside to estimate the error on new questions
    split: Literal["tune", "heldout"] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> EvalQuestion:
        if not self.id.strip() or not self.question.strip():
            raise ValueError("id and question must not be blank")
        if self.answerable and (not self.reference.strip() or not self.gold):
            raise ValueError("an answerable question needs a reference answer and at least one gold quote")
        if not self.answerable and (self.reference or self.gold or self.key_facts):
            raise ValueError("an unanswerable question has an empty reference, no key facts and no gold quotes")
        if any(not fact.strip() for fact in self.key_facts):
            raise ValueError("key facts must not be blank")
        return self


def load_eval_set(path: Path) -> list[EvalQuestion]:
    """Read a JSONL eval set; raises DatasetError naming the line of any bad or duplicate entry."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"missing eval set {path}")
    questions: list[EvalQuestion] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                question = EvalQuestion.model_validate_json(line)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "line"
                raise DatasetError(f"{path}:{number}: {where}: {first['msg']}") from None
            if question.id in seen:
                raise DatasetError(f"{path}:{number}: duplicate id {question.id!r}")
            seen.add(question.id)
            questions.append(question)
    if not questions:
        raise DatasetError(f"{path} holds no questions")
    return questions
