"""The ingest area's exceptions: one family, rooted at ``IngestError``.

Every message is a single line that names the file it is about, so that it can
be shown as-is in an ingest report, the CLI or an HTTP error body.
"""

from __future__ import annotations


class IngestError(Exception):
    """Base class of every error raised while discovering, loading or chunking documents."""


class UnsupportedFileType(IngestError):
    """The file's type (suffix) is not one the loaders can read."""


class UnreadableFile(IngestError):
    """The file is missing, corrupt, encrypted, empty or holds no extractable text."""


class DocumentTooLarge(IngestError):
    """The file yields more text or chunks than the settings allow (``max_document_chars``,
    ``max_chunks_per_document``)."""


class ParseTimeout(UnreadableFile):
    """Reading and cleaning the file took longer than ``parse_timeout_s``."""


class MislabelledFile(UnsupportedFileType):
    """The file's content is not of the type its name says (a PDF named .txt, binary bytes named .md)."""
