"""The plain llama-index pipeline that bench-quality compares against, run over the same files.

``SimpleDirectoryReader`` (llama-index's default file readers: a PDF is one document per page), the default
``SentenceSplitter``, a ``VectorStoreIndex`` in memory, the same all-MiniLM-L6-v2 embedder, no LLM: what a new
user of llama-index gets by following its starter example. Its results are returned as ``Retrieved`` rows so
that they are scored by the same functions as ours.

What the reader does with each file type (llama-index-core 0.14 defaults):

* **PDF**: one ``Document`` per page, text from pypdf's ``extract_text``, metadata ``page_label`` and
  ``file_name``. That is ``llama_index.readers.file.PDFReader``, which ``SimpleDirectoryReader`` uses when the
  ``llama-index-readers-file`` package is installed. The package is *not* a dependency: its 0.7.0 release (the
  newest) pins ``pypdf<7`` and ``pandas<3``, and installing it would downgrade the project's pypdf 7 (whose
  configurable parser limits the ingest code relies on) and gradio's pandas 3. ``_PdfPages`` below (ours)
  gives the same documents as that reader (one per page, same metadata); it is passed as ``file_extractor``
  for ``.pdf``; without it
  ``SimpleDirectoryReader`` would decode the PDF bytes as text.
* **Markdown, HTML, text**: no default reader, so the whole file is read as text, one ``Document`` per file
  (HTML tags and all: that is what the starter example indexes).

Embedded metadata: ``SimpleDirectoryReader`` excludes file name, type, size and dates from the embedded text but
keeps ``file_path`` (the path exactly as passed in), and the PDF reader adds ``page_label``; the default
``MetadataMode.EMBED`` puts both in front of every chunk's text before embedding. ``embed_file_metadata=True``
(the default) keeps that llama-index default; ``False`` also excludes ``file_path`` (``page_label`` stays), for a
baseline that cannot match a question against words in the file's path. The issue measured FinanceBench
document hit@5 0.81 with the path embedded and 0.77 without.

Pages: ``Retrieved.page`` is the 1-based position of the page in its PDF (the reader's documents come in page
order), which is what our pipeline and the page-gold sets count; it equals ``page_label`` unless the PDF
defines its own page labels ("i", "F-1", ...). Unpaginated files have ``page=None``.

Nothing here calls an LLM or the network: the index and the retriever are given the embedding model
explicitly, and llama-index's global ``Settings`` (whose lazily built LLM and embedder are OpenAI's) are never
read or changed. The tokenizer of the splitter is the one cached inside llama-index-core.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from index.embeddings import Embedder

__all__ = ["BaselineRun", "Retrieved", "run_baseline_files"]

log = logging.getLogger(__name__)

# metadata that SimpleDirectoryReader's default metadata function adds about the file itself (it already keeps all
# but file_path out of the embedded text)
_FILE_METADATA = (
    "file_path",
    "file_name",
    "file_type",
    "file_size",
    "creation_date",
    "last_modified_date",
    "last_accessed_date",
)


class Retrieved(NamedTuple):
    """One retrieved passage, for scoring: the file name it came from (no directories), its 1-based page
    (None for unpaginated files) and its text."""

    source: str
    page: int | None
    text: str


@dataclass(frozen=True)
class BaselineRun:
    """What the baseline retrieved and what it cost.

    ``retrieved`` has one ranked list (best first, at most ``top_k`` rows) per question, in question order;
    ``ingest_s`` is the wall time of reading, splitting and embedding the files; ``latencies_ms`` the retrieval
    time of each question; ``chunks`` the number of nodes indexed; ``unreadable`` the files the reader skipped
    (``SimpleDirectoryReader`` prints the error and goes on, as it does by default).
    """

    retrieved: list[list[Retrieved]]
    ingest_s: float
    latencies_ms: list[float]
    chunks: int
    unreadable: tuple[str, ...] = ()


def _pdf_reader() -> Any:
    """A ``BaseReader`` equivalent to ``llama_index.readers.file.PDFReader()`` (see the module docstring)."""
    from llama_index.core import Document as LlamaDocument
    from llama_index.core.readers.base import BaseReader

    class _PdfPages(BaseReader):
        """One document per page: pypdf's text, ``page_label`` and ``file_name`` metadata plus ``extra_info``."""

        def load_data(self, file: Path, extra_info: dict[str, Any] | None = None, **_: Any) -> list[LlamaDocument]:
            import pypdf

            path = Path(file)
            with path.open("rb") as fp:
                pdf = pypdf.PdfReader(fp)
                docs: list[LlamaDocument] = []
                for number in range(len(pdf.pages)):
                    metadata: dict[str, Any] = {"page_label": pdf.page_labels[number], "file_name": path.name}
                    if extra_info is not None:
                        metadata.update(extra_info)
                    docs.append(LlamaDocument(text=pdf.pages[number].extract_text(), metadata=metadata))
            return docs

    return _PdfPages()


def run_baseline_files(
    files: Sequence[Path],
    questions: Sequence[str],
    *,
    top_k: int,
    embed_file_metadata: bool = True,
    embedder: Embedder | None = None,
    progress: bool = False,
) -> BaselineRun:
    """Index ``files`` with the plain llama-index pipeline and retrieve ``top_k`` passages for each question.

    ``embedder`` is our all-MiniLM-L6-v2 ``Embedder`` (one is loaded when not given; pass the one already loaded
    to share it); ``embed_file_metadata`` is explained in the module docstring; ``progress`` shows tqdm bars for
    embedding and for the questions.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, not {top_k}")
    if not files:
        raise ValueError("the baseline needs at least one file")
    from llama_index.core import SimpleDirectoryReader, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from tqdm import tqdm

    from eval.bench import llama_embedding
    from index.embeddings import Embedder

    # on its own, the baseline embeds as a llama-index user's pipeline would: sentence-transformers on torch
    embed_model = llama_embedding(embedder if embedder is not None else Embedder(backend="torch"))
    paths = [Path(f) for f in files]
    t0 = time.perf_counter()
    reader = SimpleDirectoryReader(input_files=[str(p) for p in paths], file_extractor={".pdf": _pdf_reader()})
    docs = reader.load_data(show_progress=progress)
    # where each document came from: the file name and, for the reader's per-page documents, the page position
    origin: dict[str, tuple[str, int | None]] = {}
    pages_seen: dict[str, int] = {}
    for doc in docs:
        name = Path(str(doc.metadata.get("file_path") or doc.metadata["file_name"])).name
        page: int | None = None
        if "page_label" in doc.metadata:
            page = pages_seen[name] = pages_seen.get(name, 0) + 1
        origin[doc.id_] = (name, page)
        if not embed_file_metadata:
            doc.excluded_embed_metadata_keys = list(dict.fromkeys([*doc.excluded_embed_metadata_keys, *_FILE_METADATA]))
    loaded = {str(doc.metadata.get("file_path")) for doc in docs}
    unreadable = tuple(p.name for p in paths if str(p) not in loaded)
    if unreadable:
        log.warning("llama-index baseline: %d file(s) gave no document: %s", len(unreadable), ", ".join(unreadable))
    index = VectorStoreIndex.from_documents(
        docs, embed_model=embed_model, transformations=[SentenceSplitter()], show_progress=progress
    )
    ingest_s = time.perf_counter() - t0
    chunks = len(index.index_struct.nodes_dict)
    log.info(
        "llama-index baseline: %d files, %d documents, %d chunks in %.1f s", len(paths), len(docs), chunks, ingest_s
    )
    retriever = index.as_retriever(similarity_top_k=top_k)
    retrieved: list[list[Retrieved]] = []
    latencies_ms: list[float] = []
    for question in tqdm(questions, desc="llama-index baseline", unit="q", disable=not progress):
        q0 = time.perf_counter()
        hits = retriever.retrieve(question)
        latencies_ms.append((time.perf_counter() - q0) * 1000.0)
        rows: list[Retrieved] = []
        for hit in hits:
            name, page = origin[hit.node.ref_doc_id or ""]
            rows.append(Retrieved(source=name, page=page, text=hit.node.get_content()))
        retrieved.append(rows)
    return BaselineRun(
        retrieved=retrieved, ingest_s=ingest_s, latencies_ms=latencies_ms, chunks=chunks, unreadable=unreadable
    )
