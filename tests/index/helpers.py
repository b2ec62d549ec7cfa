"""Small builders shared by the index tests."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from assistant.types import Chunk, Passage


def make_chunks(doc_id: str, texts: Iterable[str], **meta: Any) -> list[Chunk]:
    """Consecutive chunks of one document (offsets as if the texts were joined by one space)."""
    chunks: list[Chunk] = []
    offset = 0
    for i, text in enumerate(texts):
        chunks.append(
            Chunk(
                id=f"{doc_id}:{i}",
                doc_id=doc_id,
                text=text,
                start=offset,
                end=offset + len(text),
                meta={"title": doc_id.title(), "source": f"/data/{doc_id}.txt", "page": None, **meta},
            )
        )
        offset += len(text) + 1
    return chunks


def passage(chunk_id: str, score: float) -> Passage:
    doc_id = chunk_id.split(":")[0]
    return Passage(chunk=Chunk(id=chunk_id, doc_id=doc_id, text=chunk_id, start=0, end=len(chunk_id)), score=score)
