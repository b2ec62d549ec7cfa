"""A stand-in for the assistant that returns real Answer/Passage/Citation objects built from the demo text.

Only for checking the metric plumbing of eval.runner: what it retrieves and
cites is scripted by each test, so the expected metrics can be worked out by hand.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistant.answerer import ABSTAIN_TEXT as ABSTAIN
from assistant.types import Answer, Chunk, Citation, Document, IngestReport, Passage


def paragraph_chunks(doc_id: str, source: str, title: str, text: str) -> list[Chunk]:
    """One chunk per blank-line separated paragraph, with exact offsets."""
    chunks: list[Chunk] = []
    for m in re.finditer(r"\S(?:.*\S)?(?:\n(?!\s*\n).*\S)*", text):
        chunks.append(
            Chunk(
                id=f"{doc_id}:{len(chunks)}",
                doc_id=doc_id,
                text=m.group(0),
                start=m.start(),
                end=m.end(),
                meta={"source": source, "title": title},
            )
        )
    return chunks


@dataclass
class Script:
    """What the fake answers to one question: passages (by the text they must contain) and quotes to cite."""

    passages: Sequence[str]
    cite: Sequence[str] = ()
    abstain: bool = False
    total_ms: float = 10.0


@dataclass
class FakeAssistant:
    """Answers from scripted passages of the demo corpus; ``chunks`` are paragraphs of the files."""

    chunks: list[Chunk]
    scripts: dict[str, Script] = field(default_factory=dict)
    asked: list[tuple[str, int | None, str | None]] = field(default_factory=list)
    closed: bool = False

    @classmethod
    def from_files(cls, paths: Sequence[Path]) -> FakeAssistant:
        chunks: list[Chunk] = []
        for i, path in enumerate(paths):
            chunks += paragraph_chunks(f"doc{i}", str(path.resolve()), path.stem, path.read_text(encoding="utf-8"))
        return cls(chunks)

    def chunk_with(self, text: str) -> Chunk:
        found = [c for c in self.chunks if text in c.text]
        assert len(found) == 1, f"{len(found)} chunks contain {text!r}"
        return found[0]

    def ask(self, question: str, *, top_k: int | None = None, mode: str | None = None) -> Answer:
        self.asked.append((question, top_k, mode))
        script = self.scripts[question]
        passages = tuple(Passage(chunk=self.chunk_with(t), score=1.0 - 0.1 * r) for r, t in enumerate(script.passages))
        timings = {"retrieve": script.total_ms / 2, "total": script.total_ms}
        if script.abstain:
            return Answer(question=question, answer=ABSTAIN, abstained=True, passages=passages, timings_ms=timings)
        citations: list[Citation] = []
        for n, quote in enumerate(script.cite, start=1):
            chunk = self.chunk_with(quote)
            start = chunk.start + chunk.text.index(quote)
            citations.append(
                Citation(
                    n=n,
                    doc_id=chunk.doc_id,
                    title=str(chunk.meta["title"]),
                    source=str(chunk.meta["source"]),
                    chunk_id=chunk.id,
                    start=start,
                    end=start + len(quote),
                    quote=quote,
                    score=0.9,
                    passage=chunk.text,
                )
            )
        text = " ".join(f"{c.quote} [{c.n}]" for c in citations)
        return Answer(
            question=question,
            answer=text,
            abstained=False,
            citations=tuple(citations),
            passages=passages,
            timings_ms=timings,
        )

    # the LlamaIndex runner ingests files
    def ingest(self, paths: Sequence[Path], *, progress: bool = False) -> IngestReport:
        fresh = FakeAssistant.from_files(paths)
        self.chunks = fresh.chunks
        return IngestReport(added=tuple(str(p) for p in paths))

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeRetriever:
    """A document index for run_beir: ``rankings`` maps a query to the doc ids of its chunks, best first."""

    rankings: dict[str, list[str]]
    docs: list[Document] = field(default_factory=list)
    retrieved: list[tuple[str, int | None]] = field(default_factory=list)
    closed: bool = False

    def ingest_documents(self, docs: Sequence[Document], *, progress: bool = False) -> IngestReport:
        self.docs = list(docs)
        return IngestReport(added=tuple(d.source for d in docs))

    def retrieve(self, query: str, *, top_k: int | None = None) -> list[Passage]:
        self.retrieved.append((query, top_k))
        by_id = {d.id: d for d in self.docs}
        out: list[Passage] = []
        for rank, doc_id in enumerate(self.rankings.get(query, [])[:top_k]):
            doc = by_id[doc_id]
            chunk = Chunk(id=f"{doc_id}:{rank}", doc_id=doc_id, text=doc.text, start=0, end=len(doc.text))
            out.append(Passage(chunk=chunk, score=1.0 / (rank + 1)))
        return out

    def close(self) -> None:
        self.closed = True
