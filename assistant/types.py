"""The project's own small, frozen data types.

These are the only types that cross module boundaries: llama-index and
chromadb objects are converted to and from them at the edges.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Page(_Frozen):
    """A page of a paginated source, as a character range of the document text."""

    number: int
    start: int
    end: int


class Document(_Frozen):
    """A cleaned source document.

    ``id`` is derived from the content hash of ``text`` (salted with its origin
    when another file or upload holds the same text); ``source`` is what
    responses show: the path under the directory it was ingested from (a file
    given by itself: its name), or the name it was uploaded with.
    """

    id: str
    title: str
    source: str
    text: str
    pages: tuple[Page, ...] = ()
    # ``ingest.metadata`` keys: entity (who the document is by or about), form ("10-Q"), period ("Q3 2023",
    # "FY2022"), period_end / date (ISO dates), running (running header/footer lines removed from the pages)
    meta: dict[str, Any] = Field(default_factory=dict)

    def page_at(self, offset: int) -> int | None:
        for page in self.pages:
            if page.start <= offset < page.end:
                return page.number
        return None


class Chunk(_Frozen):
    """A contiguous span of a document's text: ``doc.text[start:end] == text``.

    ``meta`` keys set at ingest: ``title`` (its document's), ``section`` (the heading path it sits under,
    " › "-joined), ``context`` (the one-line header indexed with it: document title, period, section),
    ``kind`` ("table" for serialised table rows), ``boilerplate`` (the kind of boilerplate it is, e.g.
    "certification"; absent for ordinary text).
    """

    id: str
    doc_id: str
    text: str
    start: int
    end: int
    meta: dict[str, Any] = Field(default_factory=dict)

    @property
    def indexed_text(self) -> str:
        """What the dense and lexical indexes see: the context header (if any), then the text.

        Citations and quotes always come from ``text``; the header only helps find the chunk.
        """
        context = str(self.meta.get("context") or "").strip()
        return f"{context}\n{self.text}" if context else self.text


class Passage(_Frozen):
    """A chunk retrieved for a query, with its fused ``score`` (higher is better)."""

    chunk: Chunk
    score: float
    meta: dict[str, Any] = Field(default_factory=dict)


class Citation(_Frozen):
    """A quoted sentence backing a ``[n]`` marker in an answer.

    ``start``/``end`` are character offsets of ``quote`` in the document text.
    """

    n: int
    doc_id: str
    title: str
    source: str
    chunk_id: str
    start: int
    end: int
    quote: str
    score: float
    page: int | None = None
    passage: str = ""
    supported: bool = True


class Answer(_Frozen):
    """What ``ask`` returns; serialised as the JSON of the CLI and the API."""

    question: str
    answer: str
    abstained: bool
    citations: tuple[Citation, ...] = ()
    passages: tuple[Passage, ...] = ()
    timings_ms: dict[str, float] = Field(default_factory=dict)
    meta: dict[str, Any] = Field(default_factory=dict)

    def referents(self) -> dict[int, tuple[int, str]]:
        """Citations quoted because another one refers to them: ``{n: (citing n, phrase)}``.

        From ``meta["references"]`` (``{"citation": 2, "refers_to": 1, "phrase": "this ..."}`` items): [1] is
        what [2] calls "this ...".
        """
        out: dict[int, tuple[int, str]] = {}
        for ref in self.meta.get("references", ()):
            out[int(ref["refers_to"])] = (int(ref["citation"]), str(ref["phrase"]))
        return out


class IngestReport(_Frozen):
    """The outcome of one ingest call: what was added, replaced, skipped, failed."""

    added: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    errors: dict[str, str] = Field(default_factory=dict)
    # origin (a file's absolute path, or upload:<name>) -> document id, for what is indexed; the lists above
    # name origins too
    ids: dict[str, str] = Field(default_factory=dict)


class DocumentInfo(_Frozen):
    """A row of the documents listing."""

    id: str
    title: str
    source: str
    chunks: int
    ingested_at: str
    pages: int = 0
    # what ingest found out about the document (``ingest.metadata``): entity, form, period, period_end, date, ...
    meta: dict[str, Any] = Field(default_factory=dict)


class UploadResult(_Frozen):
    """The outcome of one uploaded file."""

    filename: str = Field(description="the name the file was uploaded with")
    saved_as: str | None = Field(default=None, description="where it was stored under the data directory")
    status: Literal["added", "replaced", "unchanged", "error"]
    id: str | None = None
    title: str | None = None
    chunks: int | None = None
    error: str | None = None
