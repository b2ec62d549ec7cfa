"""The one service object used by the CLI, the API, the UI and the eval runner."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from assistant.config import Settings
from assistant.types import Answer, DocumentInfo, IngestReport


class Assistant:
    """Owns the embedder, the indexes and the answerers. No FastAPI or Gradio here."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def ask(
        self,
        question: str,
        *,
        top_k: int | None = None,
        doc_ids: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
        history: Sequence[tuple[str, str]] = (),
        mode: str | None = None,
    ) -> Answer:
        """Answer with citations, or abstain. Raises InvalidQuestion, EmptyIndex."""
        raise NotImplementedError

    def stream(
        self,
        question: str,
        *,
        top_k: int | None = None,
        doc_ids: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
        history: Sequence[tuple[str, str]] = (),
        mode: str | None = None,
    ) -> Iterator[str | Answer]:
        """Like ``ask`` but yields answer text pieces, then the final ``Answer``."""
        raise NotImplementedError

    def ingest(self, paths: Sequence[Path], *, prune: bool = False, progress: bool = False) -> IngestReport:
        """Ingest files/directories incrementally; bad files are reported in ``errors``."""
        raise NotImplementedError

    def documents(self) -> list[DocumentInfo]:
        raise NotImplementedError

    def document(self, doc_id: str) -> DocumentInfo:
        """Raises DocumentNotFound."""
        raise NotImplementedError

    def delete(self, doc_id: str) -> None:
        """Remove a document and its chunks from both indexes. Raises DocumentNotFound."""
        raise NotImplementedError

    def health(self) -> dict[str, object]:
        """Index size, model, version."""
        raise NotImplementedError
