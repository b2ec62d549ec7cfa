"""Sentence vectors of indexed chunks, computed once at ingest and kept on disk.

The extractive answerer scores every sentence of the retrieved passages by its cosine to the question. Embedding
those sentences when the question comes runs the model over every retrieved token again: most of the CPU time of
an answer on filings (docs/answer-speed.md). Kept here, a sentence's vector is read instead.

Two ways to compute them at ingest, both measured (docs/answer-speed.md):

* ``encode_sentences``: each sentence embedded on its own, the very vector the answerer would compute; it runs
  the model over the chunk's tokens a second time (the measured reason: answers unchanged, CPU per question
  down by the share that sentence embedding took).
* ``encode_chunks``: from the chunk's own embedding pass, the mean of the token vectors inside each sentence
  (no token embedded twice). These vectors carry the chunk's context (cosine 0.81 to the sentence's own vector
  at the median on the demo corpus) and the answers got worse on the demo gate, so it is not used.

``SentenceVectors`` keeps them in a SQLite file, keyed by the sentence's text (a SHA-1 of it) and by the chunk
that holds it, so a document's delete removes its rows and a sentence seen in two overlapping chunks is found
under either. A text it does not hold is simply missing: the caller embeds it the old way.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from assistant.types import Chunk
from index.embeddings import Embedder

__all__ = [
    "SentenceRow",
    "SentenceVectors",
    "embed_with_sentences",
    "encode_chunks",
    "encode_sentences",
    "fill_sentence_vectors",
    "pool_spans",
    "store_path",
    "text_key",
]

# vectors are stored as float16: half the disk of float32, and cosines move by < 1e-3 (docs/answer-speed.md)
_DTYPE = np.float16


def text_key(text: str) -> bytes:
    """The key a sentence is stored under: the SHA-1 of its text."""
    return hashlib.sha1(text.encode("utf-8")).digest()


def pool_spans(token_vectors: np.ndarray, offsets: np.ndarray, spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """One unit vector per character span: the mean of the token vectors whose characters lie inside it.

    ``token_vectors`` is (tokens, dim), ``offsets`` (tokens, 2) the character range of each token in the text
    that was embedded (special tokens have an empty range and never count). A span with no token inside (cut off by
    the model's window) gets a zero row.
    """
    dim = token_vectors.shape[1]
    out = np.zeros((len(spans), dim), dtype=np.float32)
    if len(offsets) == 0:
        return out
    starts, ends = offsets[:, 0], offsets[:, 1]
    real = ends > starts
    for i, (lo, hi) in enumerate(spans):
        inside = real & (starts >= lo) & (ends <= hi)
        if not inside.any():
            continue
        v = token_vectors[inside].mean(axis=0)
        norm = float(np.linalg.norm(v))
        if norm > 0:
            out[i] = v / norm
    return out


def embed_with_sentences(
    model: Any, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], *, batch_size: int = 32
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Embed ``texts`` once with a sentence-transformers ``model``: their (n, dim) unit vectors, as ``encode``
    gives them, and for each text the pooled vectors of its ``spans`` (character ranges in that text)."""
    if not texts:
        return np.zeros((0, int(model.get_embedding_dimension())), dtype=np.float32), []
    outputs = model.encode(list(texts), batch_size=batch_size, output_value=None, show_progress_bar=False)
    window = int(model.max_seq_length)
    encoded = model.tokenizer(
        list(texts), return_offsets_mapping=True, truncation=True, max_length=window, verbose=False
    )
    vectors = np.stack([np.asarray(o["sentence_embedding"].float().cpu()) for o in outputs]).astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)
    pooled: list[np.ndarray] = []
    for output, offsets, text_spans in zip(outputs, encoded["offset_mapping"], spans, strict=True):
        tokens = np.asarray(output["token_embeddings"].float().cpu())
        ranges = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)[: len(tokens)]
        pooled.append(pool_spans(tokens[: len(ranges)], ranges, text_spans))
    return vectors, pooled


class SentenceRow(NamedTuple):
    """A sentence of an indexed chunk and its pooled vector."""

    chunk_id: str
    doc_id: str
    text: str
    vector: np.ndarray


def encode_chunks(
    embedder: Embedder, chunks: Sequence[Chunk], spans_of: Callable[[Chunk], Sequence[tuple[int, int]]]
) -> tuple[np.ndarray, list[SentenceRow]]:
    """The vectors of ``chunks`` (of their ``indexed_text``, as ``Embedder.embed`` gives them) and, from the same
    pass, a row for each sentence ``spans_of(chunk)`` finds in ``chunk.text``."""
    texts = [c.indexed_text for c in chunks]
    shifts = [len(t) - len(c.text) for t, c in zip(texts, chunks, strict=True)]  # the context header before the text
    spans = [[(a + d, b + d) for a, b in spans_of(c)] for c, d in zip(chunks, shifts, strict=True)]
    vectors, pooled = embed_with_sentences(embedder._model, texts, spans, batch_size=embedder.batch_size)
    rows = [
        SentenceRow(c.id, c.doc_id, c.text[a - d : b - d], v)
        for c, d, text_spans, sentence_vectors in zip(chunks, shifts, spans, pooled, strict=True)
        for (a, b), v in zip(text_spans, sentence_vectors, strict=True)
    ]
    return vectors, rows


def encode_sentences(
    embedder: Embedder, chunks: Sequence[Chunk], spans_of: Callable[[Chunk], Sequence[tuple[int, int]]]
) -> list[SentenceRow]:
    """A row for each sentence ``spans_of(chunk)`` finds in ``chunk.text``, each sentence embedded on its own (each
    distinct text once)."""
    found = [(c, c.text[a:b]) for c in chunks for a, b in spans_of(c)]
    texts = list(dict.fromkeys(t for _, t in found))
    vectors = dict(zip(texts, embedder.embed(texts), strict=True))
    return [SentenceRow(c.id, c.doc_id, t, vectors[t]) for c, t in found]


class SentenceVectors:
    """Sentence vectors by sentence text, grouped by the chunk they came from (a SQLite file).

    The file is created by the first write; until it exists, reads find nothing (so an answerer can hold a store
    of an index that has none yet without creating files).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _open(self, *, create: bool) -> sqlite3.Connection | None:
        """The connection (call with the lock held); None when the file does not exist and ``create`` is off."""
        if self._db is None and (create or self.path.is_file()):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False)
            with db:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS sentence (key BLOB NOT NULL, chunk_id TEXT NOT NULL,"
                    " doc_id TEXT NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (chunk_id, key))"
                )
                db.execute("CREATE INDEX IF NOT EXISTS sentence_key ON sentence (key)")
                db.execute("CREATE INDEX IF NOT EXISTS sentence_doc ON sentence (doc_id)")
            self._db = db
        return self._db

    def add(self, rows: Iterable[SentenceRow]) -> None:
        """Keep these rows (one whose vector is zero is skipped: no token of it was pooled)."""
        values = [
            (text_key(r.text), r.chunk_id, r.doc_id, np.asarray(r.vector, dtype=_DTYPE).tobytes())
            for r in rows
            if np.any(r.vector)
        ]
        with self._lock:
            db = self._open(create=True)
            assert db is not None
            with db:
                db.executemany(
                    "INSERT OR REPLACE INTO sentence (key, chunk_id, doc_id, vector) VALUES (?, ?, ?, ?)", values
                )

    def get(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The float32 vectors of those ``texts`` that are kept."""
        keys = {text_key(t): t for t in dict.fromkeys(texts)}
        found: dict[str, np.ndarray] = {}
        items = list(keys)
        with self._lock:
            db = self._open(create=False)
            if db is None:
                return found
            for i in range(0, len(items), 500):
                part = items[i : i + 500]
                marks = ",".join("?" * len(part))
                for key, blob in db.execute(f"SELECT key, vector FROM sentence WHERE key IN ({marks})", part):
                    found.setdefault(keys[bytes(key)], np.frombuffer(blob, dtype=_DTYPE).astype(np.float32))
        return found

    def delete(self, doc_id: str) -> None:
        """Forget the sentences of a document's chunks."""
        with self._lock:
            db = self._open(create=False)
            if db is not None:
                with db:
                    db.execute("DELETE FROM sentence WHERE doc_id = ?", (doc_id,))

    def holds(self, doc_id: str) -> bool:
        """Whether any sentence of ``doc_id`` is kept."""
        with self._lock:
            db = self._open(create=False)
            return (
                db is not None
                and db.execute("SELECT 1 FROM sentence WHERE doc_id = ? LIMIT 1", (doc_id,)).fetchone() is not None
            )

    def count(self) -> int:
        with self._lock:
            db = self._open(create=False)
            return 0 if db is None else int(db.execute("SELECT COUNT(*) FROM sentence").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def store_path(data_dir: Path) -> Path:
    """Where an index directory keeps its sentence vectors."""
    return Path(data_dir) / "sentence_vectors.sqlite"


def fill_sentence_vectors(
    store: SentenceVectors,
    embedder: Embedder,
    doc_ids: Sequence[str],
    chunks_of: Callable[[str], Sequence[Chunk]],
    spans_of: Callable[[Chunk], Sequence[tuple[int, int]]],
) -> int:
    """Keep the sentence vectors (``encode_sentences``) of the documents that have none yet (an index built before
    they were kept); the number of chunks whose sentences were embedded."""
    done = 0
    for doc_id in doc_ids:
        if store.holds(doc_id):
            continue
        chunks = list(chunks_of(doc_id))
        if chunks:
            store.add(encode_sentences(embedder, chunks, spans_of))
            done += len(chunks)
    return done
