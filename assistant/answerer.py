"""The answering step: turn a question and retrieved passages into a cited ``Answer``.

Answerers are registered by name in one registry; the service picks one per
request (``mode``). The extractive answerer needs no LLM and is the default.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol

from assistant.config import Settings
from assistant.types import Answer, Chunk, Passage

# What every answerer says when the passages do not answer the question (one wording everywhere).
ABSTAIN_TEXT = "The documents do not contain an answer to this question."


class Answerer(Protocol):
    """Writes a cited answer from passages (already retrieved, best first)."""

    name: str

    def answer(self, question: str, passages: Sequence[Passage]) -> Answer: ...

    def stream(self, question: str, passages: Sequence[Passage]) -> Iterator[str | Answer]:
        """Yield answer text pieces as they are produced, then the final ``Answer`` last."""
        ...


class Corpus(Protocol):
    """Read access to the indexed documents beyond the retrieved passages (the service provides it)."""

    def chunks(self, doc_id: str) -> Sequence[Chunk]:
        """The chunks of ``doc_id`` in reading order (empty when the document is not indexed)."""
        ...


def final_answer(pieces: Iterable[str | Answer]) -> Answer:
    """Drain a stream of answer pieces and return the ``Answer`` it ends with."""
    final: Answer | None = None
    for piece in pieces:
        if isinstance(piece, Answer):
            final = piece
    if final is None:
        raise RuntimeError("the answer stream ended without an Answer")
    return final


# factory(settings, embedder, corpus) -> Answerer; embedder is an index.embeddings.Embedder, corpus may be None
AnswererFactory = Callable[[Settings, object, Corpus | None], Answerer]

_REGISTRY: dict[str, AnswererFactory] = {}
# built-in answerers register themselves when their module is imported
_BUILTIN = {"extractive": "assistant.extractive", "generative": "assistant.generative"}


def register_answerer(name: str) -> Callable[[AnswererFactory], AnswererFactory]:
    def decorator(factory: AnswererFactory) -> AnswererFactory:
        _REGISTRY[name] = factory
        return factory

    return decorator


def answerer_names() -> list[str]:
    return sorted(set(_REGISTRY) | set(_BUILTIN))


def create_answerer(name: str, settings: Settings, embedder: object, corpus: Corpus | None = None) -> Answerer:
    if name not in _REGISTRY and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown answer mode {name!r}; known: {', '.join(answerer_names())}") from None
    return factory(settings, embedder, corpus)
