"""Sentence vectors of indexed chunks, computed once at ingest and kept on disk.

The extractive answerer scores every sentence of the retrieved passages by its cosine to the question. Embedding
those sentences when the question comes runs the model over every retrieved token again: most of the CPU time of
an answer on filings (docs/answer-speed.md). Kept here, a sentence's vector is read instead.

``encode_sentences`` embeds each sentence on its own, the very vector the answerer computes. (Pooling the chunk's
own token vectors over each sentence was measured and rejected: cosine 0.81 to the sentence's own vector at the
median, and the demo gate failed; docs/answer-speed.md.) The answerer fills the store as questions come, so ingest
embeds each token once.

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
from typing import NamedTuple

import numpy as np

from assistant.types import Chunk
from index.embeddings import Embedder

__all__ = [
    "SentenceRow",
    "SentenceVectors",
    "encode_sentences",
    "fill_sentence_vectors",
    "store_path",
    "text_key",
]

# vectors are stored as float16: half the disk of float32, and cosines move by < 1e-3 (docs/answer-speed.md)
_DTYPE = np.float16


def text_key(text: str) -> bytes:
    """The key a sentence is stored under: the SHA-1 of its text."""
    return hashlib.sha1(text.encode("utf-8")).digest()


class SentenceRow(NamedTuple):
    """A sentence of an indexed chunk and its pooled vector."""

    chunk_id: str
    doc_id: str
    text: str
    vector: np.ndarray


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
