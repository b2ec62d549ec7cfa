"""The exception family of the index package (embeddings, Chroma, lexical index, rerankers)."""

from __future__ import annotations


class IndexStoreError(Exception):
    """Base class for every error raised by the index package."""


class ChromaUnavailable(IndexStoreError):
    """A configured Chroma server cannot be reached."""


class ModelUnavailable(IndexStoreError):
    """An embedding or reranking model cannot be found or loaded."""


class IndexInUse(IndexStoreError):
    """Another process (or service object) has the index directory open."""
