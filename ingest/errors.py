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
