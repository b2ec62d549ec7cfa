"""The lexical index: BM25 over chunk texts (bm25s, English stemming and stopwords), persisted atomically.

Changes (``add``/``delete``) are pending until ``commit``, which rebuilds the
BM25 matrix once and writes a complete new version of the index to disk:

    <path>/CURRENT        name of the live version directory
    <path>/v-<id>/        bm25s arrays + chunks.jsonl + manifest.json

A version is written into a ``.tmp-<id>`` directory, flushed, renamed to
``v-<id>`` and only then published by atomically replacing ``CURRENT``; a
crash at any point leaves the previous version live and intact.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
import Stemmer

from assistant.types import Chunk, Passage
from index.errors import IndexStoreError

log = logging.getLogger(__name__)
# bm25s pins its logger to DEBUG on import; let the application's logging configuration decide instead
logging.getLogger("bm25s").setLevel(logging.NOTSET)

FORMAT = 1
_CURRENT = "CURRENT"
_CHUNKS = "chunks.jsonl"
_MANIFEST = "manifest.json"
_STALE_TMP_SECONDS = 600.0
_VERSION = re.compile(r"v-[0-9a-f]{32}")


@dataclass(frozen=True)
class _Built:
    """An immutable snapshot searched by queries: row i of the matrix is ``chunks[i]``."""

    chunks: tuple[Chunk, ...] = ()
    doc_of_row: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    bm25: Any = None  # bm25s.BM25, or None when nothing is indexed


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem allows fsync on a directory
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_tree(path: Path) -> None:
    for item in path.iterdir():
        if item.is_file():
            with open(item, "rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(path)


class LexicalIndex:
    """BM25 over chunks; ``path`` None keeps it in memory only."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._lock = threading.RLock()
        self._local = threading.local()  # one stemmer per thread: PyStemmer stemmers are not thread-safe
        self._chunks: dict[str, Chunk] = {}  # everything, pending changes included
        self._tokens: dict[str, list[str]] = {}  # stemmed tokens per chunk id (cache)
        self._dirty = False
        self._built = _Built()
        if path is not None:
            self._load(path)

    # ------------------------------------------------------------------ writes (pending until commit)

    def add(self, chunks: Sequence[Chunk]) -> None:
        """Add chunks; a chunk id already present is replaced."""
        if not chunks:
            return
        tokens = self._tokenize([c.indexed_text for c in chunks])
        with self._lock:
            for chunk, toks in zip(chunks, tokens, strict=True):
                self._chunks[chunk.id] = chunk
                self._tokens[chunk.id] = toks
            self._dirty = True

    def delete(self, doc_id: str) -> None:
        """Remove every chunk of ``doc_id`` (nothing happens if there is none)."""
        with self._lock:
            gone = [cid for cid, c in self._chunks.items() if c.doc_id == doc_id]
            for cid in gone:
                del self._chunks[cid]
                self._tokens.pop(cid, None)
            if gone:
                self._dirty = True

    def commit(self) -> None:
        """Rebuild BM25 once for all pending changes and, if persistent, publish it atomically."""
        with self._lock:
            if not self._dirty:
                return
            built = self._build()
            if self._path is not None:
                self._write(self._path, built)
            self._built = built
            self._dirty = False

    # ------------------------------------------------------------------ reads

    def search(self, query: str, top_k: int, doc_ids: Collection[str] | None = None) -> list[Passage]:
        """The ``top_k`` chunks with the highest BM25 score for ``query``, best first; zero scores dropped."""
        if top_k <= 0 or (doc_ids is not None and len(doc_ids) == 0):
            return []
        if self._dirty:
            self.commit()
        built = self._built
        if built.bm25 is None or not built.chunks:
            return []
        token_ids = built.bm25.get_tokens_ids(self._tokenize([query])[0])
        if not token_ids:
            return []
        mask = None
        if doc_ids is not None:
            mask = np.isin(built.doc_of_row, list(doc_ids)).astype(np.float32)
            if not mask.any():
                return []
        scores = np.asarray(built.bm25.get_scores_from_ids(token_ids, weight_mask=mask), dtype=np.float64)
        positive = np.flatnonzero(scores > 0)
        if positive.size > top_k:
            positive = positive[np.argpartition(-scores[positive], top_k - 1)[:top_k]]
        order = positive[np.lexsort((positive, -scores[positive]))]
        return [Passage(chunk=built.chunks[i], score=float(scores[i])) for i in order]

    def count(self) -> int:
        """Chunks held (pending changes included)."""
        with self._lock:
            return len(self._chunks)

    def doc_ids(self) -> set[str]:
        """Ids of the documents that have chunks here (pending changes included)."""
        with self._lock:
            return {c.doc_id for c in self._chunks.values()}

    def get(self, chunk_id: str) -> Chunk | None:
        with self._lock:
            return self._chunks.get(chunk_id)

    # ------------------------------------------------------------------ internals

    def _tokenize(self, texts: list[str]) -> list[list[str]]:
        stemmer = getattr(self._local, "stemmer", None)
        if stemmer is None:
            stemmer = self._local.stemmer = Stemmer.Stemmer("english")
        result = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)
        return [list(tokens) for tokens in result]

    def _build(self) -> _Built:
        chunks = tuple(self._chunks.values())
        if not chunks:
            return _Built()
        missing = [c for c in chunks if c.id not in self._tokens]  # e.g. chunks loaded from disk
        if missing:
            tokens = self._tokenize([c.indexed_text for c in missing])
            self._tokens.update(zip((c.id for c in missing), tokens, strict=True))
        vocab: dict[str, int] = {}
        corpus_ids: list[list[int]] = []
        for chunk in chunks:
            corpus_ids.append([vocab.setdefault(t, len(vocab)) for t in self._tokens[chunk.id]])
        doc_of_row = np.array([c.doc_id for c in chunks], dtype=object)
        if not vocab:
            return _Built(chunks=chunks, doc_of_row=doc_of_row)
        bm25 = bm25s.BM25()
        bm25.index((corpus_ids, vocab), show_progress=False)
        return _Built(chunks=chunks, doc_of_row=doc_of_row, bm25=bm25)

    def _write(self, path: Path, built: _Built) -> None:
        path.mkdir(parents=True, exist_ok=True)
        name = f"v-{uuid.uuid4().hex}"
        tmp = path / f".tmp-{name}"
        try:
            tmp.mkdir()
            if built.bm25 is not None:
                built.bm25.save(str(tmp), show_progress=False)
            with open(tmp / _CHUNKS, "w", encoding="utf-8") as fh:
                for chunk in built.chunks:
                    fh.write(chunk.model_dump_json() + "\n")
            manifest = {"format": FORMAT, "chunks": len(built.chunks), "bm25": built.bm25 is not None}
            (tmp / _MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
            _fsync_tree(tmp)
            os.rename(tmp, path / name)
            pointer = path / f".{_CURRENT}.{name}"
            pointer.write_text(name + "\n", encoding="utf-8")
            with open(pointer, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(pointer, path / _CURRENT)
            _fsync_dir(path)
        except Exception as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise IndexStoreError(f"cannot write the lexical index to {path}: {exc}") from exc
        self._clean(path, keep=name)

    def _clean(self, path: Path, *, keep: str) -> None:
        """Remove superseded versions, and temp dirs and pointer files left by crashed commits."""
        now = time.time()
        for item in path.iterdir():
            if item.name in (keep, _CURRENT):
                continue
            try:
                stale = now - item.stat().st_mtime > _STALE_TMP_SECONDS
            except OSError:
                continue
            superseded = item.name.startswith("v-") or (stale and item.name.startswith(".tmp-"))
            if superseded and item.is_dir():
                shutil.rmtree(item, ignore_errors=True)
            elif stale and item.name.startswith(f".{_CURRENT}.") and item.is_file():
                item.unlink(missing_ok=True)

    def _load(self, path: Path) -> None:
        current = path / _CURRENT
        if not current.exists():
            return  # never committed (a first commit that crashed before publishing leaves only litter)
        try:
            name = current.read_text(encoding="utf-8").strip()
            if not _VERSION.fullmatch(name):
                raise ValueError(f"{_CURRENT} names {name[:80]!r}, not a version directory")
            version = path / name
            manifest = json.loads((version / _MANIFEST).read_text(encoding="utf-8"))
            if manifest.get("format") != FORMAT:
                raise ValueError(f"unsupported format {manifest.get('format')!r}")
            with open(version / _CHUNKS, encoding="utf-8") as fh:
                chunks = tuple(Chunk.model_validate_json(line) for line in fh if line.strip())
            if len(chunks) != manifest["chunks"]:
                raise ValueError(f"{len(chunks)} chunks stored, the manifest says {manifest['chunks']}")
            bm25 = None
            if manifest["bm25"]:
                bm25 = bm25s.BM25.load(str(version), load_corpus=False, mmap=False, show_progress=False)
                if int(bm25.scores["num_docs"]) != len(chunks):
                    raise ValueError(f"the BM25 matrix has {bm25.scores['num_docs']} rows for {len(chunks)} chunks")
        except Exception as exc:
            raise IndexStoreError(
                f"the lexical index in {path} is corrupt or unreadable ({type(exc).__name__}: {exc}); "
                f"delete {path} and re-ingest"
            ) from exc
        self._chunks = {c.id: c for c in chunks}
        self._built = _Built(chunks=chunks, doc_of_row=np.array([c.doc_id for c in chunks], dtype=object), bm25=bm25)
