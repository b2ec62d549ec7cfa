"""The plain llama-index pipeline that bench-quality compares against, run over the same files.

``SimpleDirectoryReader`` (llama-index's default file readers: a PDF is one document per page), the default
``SentenceSplitter``, a ``VectorStoreIndex`` in memory, the same all-MiniLM-L6-v2 embedder, no LLM: what a new
user of llama-index gets by following its starter example. Its results are returned as ``Retrieved`` rows so
that they are scored by the same functions as ours.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Retrieved"]


class Retrieved(NamedTuple):
    """One retrieved passage, for scoring: the file name it came from (no directories), its 1-based page
    (None for unpaginated files) and its text."""

    source: str
    page: int | None
    text: str
