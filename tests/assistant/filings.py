"""Made-up filing passages for the answerer's tests: a text cut into passages of a few sentences, each chunk
titled and carrying a context header in its meta as ingest makes them (the header is indexed, never quoted)."""

from __future__ import annotations

from collections.abc import Mapping

from assistant.types import Chunk, Passage
from ingest.chunking import split_sentences


def filing_passages(
    doc_id: str,
    text: str,
    *,
    sentences: int = 3,
    title: str = "Form 10-Q",
    context: str = "",
    meta: Mapping[str, str] | None = None,
    passage_meta: Mapping[str, str] | None = None,
) -> list[Passage]:
    """One passage per ``sentences`` sentences of ``text``, scored 1.0, 0.9, ... in order; ``meta`` goes into
    each chunk's meta, ``passage_meta`` into each passage's (as the service may attach it)."""
    spans = split_sentences(text)
    out: list[Passage] = []
    for k in range(0, len(spans), sentences):
        start, end = spans[k][0], spans[min(k + sentences, len(spans)) - 1][1]
        chunk = Chunk(
            id=f"{doc_id}:{k:04d}",
            doc_id=doc_id,
            text=text[start:end],
            start=start,
            end=end,
            meta={"title": title, "source": f"/docs/{doc_id}.pdf", "context": context, **(meta or {})},
        )
        out.append(Passage(chunk=chunk, score=1.0 - 0.1 * len(out), meta=dict(passage_meta or {})))
    return out
