"""The lexical index: BM25 over chunk texts (English stemming and stopwords), updated in place.

Every commit costs the chunks it adds and deletes, not the index. The index is a set of immutable
*segments* (postings of the chunks one commit added: term id -> (chunk, term frequency)) plus the chunk
table; a deleted chunk is a row gone from the chunk table, which its segment then skips. Collection
statistics (documents, total length, document frequency per term) are kept exactly, so a score is the one a
fresh bm25s build over the surviving chunks would give (method "lucene", k1 1.5, b 0.75: bm25s's defaults,
with which every figure in reports/ was measured). Small segments are merged (tiered, ``_MERGE_FACTOR`` of
one size class at a time), and a segment that is mostly deleted is rewritten, so the number of segments
stays logarithmic in the index size. Measurements: docs/lexical.md.

Storage: one SQLite database ``<path>/lexical.sqlite3`` (WAL, synchronous FULL) holding the chunks, the
vocabulary and the segments. ``add``/``delete`` are pending in memory; ``commit`` writes them, the new
segment and any merge in one transaction, so a crash at any point leaves the last committed state.

An index written by the previous format (``CURRENT`` naming a ``v-<id>/`` directory of bm25s arrays and
``chunks.jsonl``) is migrated on open: its chunks are indexed once and the old files removed.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import re
import shutil
import sqlite3
import tempfile
import threading
import weakref
import zipfile
import zlib
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
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

FORMAT = 2
K1 = 1.5  # bm25s.BM25 defaults: the figures in reports/ (e.g. SciFact BM25-only nDCG@10) were measured with them
B = 0.75
_DB = "lexical.sqlite3"
_MERGE_FACTOR = 10  # this many segments of one size class (a power of ten of live chunks) are merged into one
_MAX_MERGED = 250_000  # no merge makes a segment larger than this (bounds the cost of one commit)
_EXPUNGE = 0.3  # a segment with more than this fraction of deleted chunks is rewritten without them
# The term-frequency components are kept per posting for the average chunk length they were computed with and
# computed again when the average has moved by more than this fraction (a score then differs from the exact
# one by less than this fraction: d ln(tfc) / d ln(average) < 1). At 1M chunks one 20-page document moves the
# average by about 1e-5, so they are recomputed about once per hundred such documents.
_DRIFT = 1e-3
# A search restricted to at most this many live chunks of a segment looks each of them up in the postings of the
# query terms (binary search) instead of adding up all the postings: at 1M chunks (segments of 200k), per segment
# and query, 0.58 against 1.44 ms CPU for 300 chunks, 2.06 against 2.11 for 3,000, 4.57 against 2.55 for 10,000
# (docs/lexical.md, "Top k at 1M chunks").
_DIRECT = 2_000
# documents whose chunks are not one range of rows, above which opening reads every row instead of querying each
# document's (a query of one document's rows: ~25 us against 1.56 s for all 1M rows; _live_rows)
_SCATTERED_MAX = 20_000
_IN_BATCH = 500  # parameters per SQL IN (...)
_CACHE = 20_000  # parsed chunks kept for search results (by row)

# the previous format (read only, to migrate it)
_CURRENT = "CURRENT"
_CHUNKS = "chunks.jsonl"
_MANIFEST = "manifest.json"
_VERSION = re.compile(r"v-[0-9a-f]{32}")

_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE chunk(row INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, doc_id TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX chunk_doc ON chunk(doc_id);
CREATE TABLE term(tid INTEGER PRIMARY KEY, term TEXT NOT NULL UNIQUE);
CREATE TABLE segment(id INTEGER PRIMARY KEY, data BLOB NOT NULL);
"""


@dataclass(frozen=True)
class _Segment:
    """Postings of a set of chunks; local document ``i`` is chunk row ``rows[i]``."""

    id: int
    rows: np.ndarray  # int64, ascending
    lengths: np.ndarray  # int32: tokens per chunk
    tids: np.ndarray  # int32, ascending: the terms with postings here
    offsets: np.ndarray  # int64, len(tids) + 1: postings of tids[j] are [offsets[j], offsets[j + 1])
    docs: np.ndarray  # int32: local document of each posting
    tfs: np.ndarray  # uint16: term frequency of each posting
    alive: np.ndarray  # bool per local document (replaced, never changed in place: searches may be reading it)
    # each posting's term-frequency component tf / (tf + k1 (1 - b + b len / average)), for ``average``
    tfc: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    average: float = math.nan

    def scored_for(self, average: float) -> _Segment:
        """This segment with ``tfc`` for the average chunk length ``average`` (itself when that is within
        ``_DRIFT`` of the one it has)."""
        if abs(self.average - average) <= _DRIFT * average or average <= 0:  # 0: no chunk has a token
            return self
        # tf / (tf + norm), in place in one array (three temporaries of a posting each took twice the time at
        # 1M chunks: 118M postings, docs/lexical.md "Opening"); the same float32 operations, so the same values
        norm = (K1 * (1 - B) + (K1 * B / average) * self.lengths.astype(np.float32))[self.docs]
        np.add(norm, self.tfs, out=norm, casting="unsafe")
        np.divide(self.tfs, norm, out=norm, casting="unsafe")
        return replace(self, tfc=norm, average=average)

    @property
    def live(self) -> int:
        return int(self.alive.sum())

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            rows=self.rows,
            lengths=self.lengths,
            tids=self.tids,
            offsets=self.offsets,
            docs=self.docs,
            tfs=self.tfs,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, seg_id: int, data: bytes, live_rows: np.ndarray) -> _Segment:
        arrays = _npz_arrays(data, ("rows", "lengths", "tids", "offsets", "docs", "tfs"))
        n = len(arrays["rows"])
        if len(arrays["lengths"]) != n or len(arrays["offsets"]) != len(arrays["tids"]) + 1:
            raise ValueError(f"segment {seg_id} has inconsistent arrays")
        if int(arrays["offsets"][-1]) != len(arrays["docs"]) or len(arrays["docs"]) != len(arrays["tfs"]):
            raise ValueError(f"segment {seg_id} has inconsistent postings")
        return cls(id=seg_id, alive=_member(arrays["rows"], live_rows), **arrays)


def _npz_arrays(data: bytes, names: Sequence[str]) -> dict[str, Any]:
    """The arrays ``names`` of an uncompressed ``np.savez`` archive, read straight from ``data`` with each
    member's CRC checked (``np.load`` reads them through zipfile's streams: 2.0 s of CPU at 1M chunks for the
    720 MB of postings, docs/lexical.md "Opening"); ``np.load`` for anything else."""
    arrays: dict[str, Any] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in names:
            info = archive.getinfo(f"{name}.npy")
            start = info.header_offset
            if info.compress_type != zipfile.ZIP_STORED or data[start : start + 4] != b"PK\x03\x04":
                break
            name_len, extra_len = (
                int.from_bytes(data[start + 26 : start + 28], "little"),
                int.from_bytes(data[start + 28 : start + 30], "little"),
            )
            body = start + 30 + name_len + extra_len
            header = io.BytesIO(data[body : body + min(info.file_size, 65_536)])
            version = np.lib.format.read_magic(header)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(header)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(header)
            else:
                break
            count = int(np.prod(shape, dtype=np.int64))
            size = header.tell() + count * dtype.itemsize
            if fortran or dtype.hasobject or len(shape) != 1 or size != info.file_size:
                break
            if zlib.crc32(memoryview(data)[body : body + info.file_size]) != info.CRC:  # as zipfile checks it
                raise ValueError(f"member {name} of a segment fails its CRC")
            # copied out (aligned and writable, as np.load gives them; a view at the archive's offsets is
            # misaligned and made searches 10-30 % slower)
            arrays[name] = np.frombuffer(data, dtype=dtype, count=count, offset=body + header.tell()).copy()
        else:
            return arrays
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k: npz[k] for k in names}


def _live_rows(conn: sqlite3.Connection, spans: Sequence[tuple[str, int, int, int]]) -> np.ndarray:
    """Every stored chunk's row, ascending, from each document's (doc_id, count, min row, max row).

    A commit gives a document's chunks consecutive rows, so a document whose rows span exactly its count is a range
    and only the others are read row by row. Reading every row (``SELECT row FROM chunk``) walked the chunk table,
    which holds the chunks' text: 1.56 s of CPU at 1M chunks, against 0.3 s for the spans (docs/scale.md "Cold
    start")."""
    ranged = [(int(lo), int(n)) for _, n, lo, hi in spans if int(hi) - int(lo) + 1 == int(n)]
    scattered = [d for d, n, lo, hi in spans if int(hi) - int(lo) + 1 != int(n)]
    if len(scattered) > _SCATTERED_MAX:  # as many queries as that cost more than one pass over the table
        return np.fromiter((r for (r,) in conn.execute("SELECT row FROM chunk ORDER BY row")), dtype=np.int64)
    starts = np.array([lo for lo, _ in ranged], dtype=np.int64)
    counts = np.array([n for _, n in ranged], dtype=np.int64)
    offsets = np.cumsum(counts) - counts  # where each range starts among the rows
    rows = [np.repeat(starts - offsets, counts) + np.arange(int(counts.sum()), dtype=np.int64)]
    for doc_id in scattered:
        rows.append(np.array([r for (r,) in conn.execute("SELECT row FROM chunk WHERE doc_id = ?", (doc_id,))]))
    return np.sort(np.concatenate(rows).astype(np.int64))


def _member(rows: np.ndarray, sorted_rows: np.ndarray) -> np.ndarray:
    """For each of ``rows``: is it in ``sorted_rows`` (ascending)?"""
    if len(sorted_rows) == 0:
        return np.zeros(len(rows), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_rows, rows), len(sorted_rows) - 1)
    return np.asarray(sorted_rows[at] == rows)


def _local(segment: _Segment, rows: np.ndarray) -> np.ndarray:
    """Local indices in ``segment`` of those of ``rows`` it holds."""
    if len(segment.rows) == 0 or len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    at = np.minimum(np.searchsorted(segment.rows, rows), len(segment.rows) - 1)
    return np.asarray(at[segment.rows[at] == rows])


def _postings(n_docs: int, tids: np.ndarray, docs: np.ndarray, tfs: np.ndarray) -> tuple[np.ndarray, ...]:
    """(tids, offsets, docs, tfs) sorted by term then document, from unsorted triples."""
    key = tids.astype(np.int64) * max(n_docs, 1) + docs
    order = np.argsort(key, kind="stable")
    tids, docs, tfs = tids[order], docs[order], tfs[order]
    unique, starts = np.unique(tids, return_index=True)
    offsets = np.append(starts, len(tids)).astype(np.int64)
    return unique.astype(np.int32), offsets, docs.astype(np.int32), tfs.astype(np.uint16)


def _new_segment(seg_id: int, rows: np.ndarray, token_ids: Sequence[np.ndarray]) -> _Segment:
    """A segment of chunks ``rows`` (ascending) with their term ids (one array per chunk)."""
    n = len(rows)
    lengths = np.array([len(t) for t in token_ids], dtype=np.int32)
    flat = np.concatenate(token_ids).astype(np.int64) if n and lengths.sum() else np.zeros(0, dtype=np.int64)
    doc_of = np.repeat(np.arange(n, dtype=np.int64), lengths)
    pairs, counts = np.unique(flat * max(n, 1) + doc_of, return_counts=True)
    tids, offsets, docs, tfs = _postings(
        n, pairs // max(n, 1), pairs % max(n, 1), np.minimum(counts, np.iinfo(np.uint16).max)
    )
    return _Segment(seg_id, rows, lengths, tids, offsets, docs, tfs, np.ones(n, dtype=bool))


def _merged(seg_id: int, segments: Sequence[_Segment]) -> _Segment:
    """One segment holding the live chunks of ``segments``."""
    rows = np.concatenate([s.rows[s.alive] for s in segments])
    lengths = np.concatenate([s.lengths[s.alive] for s in segments])
    order = np.argsort(rows, kind="stable")
    rows, lengths = rows[order], lengths[order]
    new_of_old = np.empty(len(order), dtype=np.int64)
    new_of_old[order] = np.arange(len(order))
    tids, docs, tfs = [], [], []
    base = 0
    for s in segments:
        local = np.full(len(s.rows), -1, dtype=np.int64)
        live = np.flatnonzero(s.alive)
        local[live] = new_of_old[base : base + len(live)]
        base += len(live)
        keep = s.alive[s.docs]
        tids.append(np.repeat(s.tids, np.diff(s.offsets))[keep])
        docs.append(local[s.docs[keep]])
        tfs.append(s.tfs[keep])
    p_tids, offsets, p_docs, p_tfs = _postings(
        len(rows), np.concatenate(tids), np.concatenate(docs), np.concatenate(tfs)
    )
    return _Segment(seg_id, rows, lengths, p_tids, offsets, p_docs, p_tfs, np.ones(len(rows), dtype=bool))


def _size_class(live: int) -> int:
    return int(math.log10(live)) if live > 0 else 0


def _plan(segments: Sequence[_Segment]) -> list[_Segment]:
    """The segments to merge next (none when the layout is fine): a mostly deleted one, alone, or
    ``_MERGE_FACTOR`` of one size class."""
    for s in segments:
        if len(s.rows) and 1 - s.live / len(s.rows) > _EXPUNGE:
            return [s]
    by_class: dict[int, list[_Segment]] = {}
    for s in segments:
        by_class.setdefault(_size_class(s.live), []).append(s)
    for size_class in sorted(by_class):
        members = sorted(by_class[size_class], key=lambda s: s.live)
        if len(members) < _MERGE_FACTOR:
            continue
        chosen: list[_Segment] = []
        total = 0
        for s in members:
            if total + s.live > _MAX_MERGED and len(chosen) >= 2:
                break
            chosen.append(s)
            total += s.live
        if len(chosen) >= 2 and total <= _MAX_MERGED:
            return chosen
    return []


def _present(segment: _Segment, query_tids: np.ndarray) -> np.ndarray:
    """Indices into ``query_tids`` of the terms with postings in ``segment``, in query order."""
    if len(segment.tids) == 0:
        return np.zeros(0, dtype=np.int64)
    query_tids = query_tids.astype(segment.tids.dtype)  # searchsorted would otherwise convert all of tids
    at = np.minimum(np.searchsorted(segment.tids, query_tids), len(segment.tids) - 1)
    return np.flatnonzero(segment.tids[at] == query_tids)


def _slots(segment: _Segment, query_tids: np.ndarray) -> np.ndarray:
    return np.searchsorted(segment.tids, query_tids.astype(segment.tids.dtype))


def _scored(
    segment: _Segment, query_tids: np.ndarray, idf: np.ndarray, allowed: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, rows) of every live (allowed) chunk of ``segment`` with a positive score: the exhaustive
    search, one ``bincount`` over the postings of the query terms (in query order)."""
    nothing = (np.zeros(0), np.zeros(0, dtype=np.int64))
    present = _present(segment, query_tids)
    if len(present) == 0 or not segment.alive.any():
        return nothing
    offsets, docs, tfc = segment.offsets, segment.docs, segment.tfc
    slots = _slots(segment, query_tids[present])
    doc_parts = [docs[offsets[t] : offsets[t + 1]] for t in slots]
    value_parts = [tfc[offsets[t] : offsets[t + 1]] * np.float32(idf[j]) for t, j in zip(slots, present, strict=True)]
    scores = np.bincount(np.concatenate(doc_parts), weights=np.concatenate(value_parts), minlength=len(segment.rows))
    keep = segment.alive
    if allowed is not None:
        keep = np.zeros(len(segment.rows), dtype=bool)
        keep[_local(segment, allowed)] = True
        keep &= segment.alive
    candidates = np.flatnonzero((scores > 0) & keep)
    return scores[candidates], segment.rows[candidates]


def _exact(segment: _Segment, local: np.ndarray, slots: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Scores of the local documents ``local`` (int32, ascending) over the terms at ``slots`` with idf
    ``weights`` (float32), added term by term in that order: the very sums ``_scored``'s ``bincount`` makes."""
    scores = np.zeros(len(local))
    if len(local) == 0:
        return scores
    for slot, weight in zip(slots, weights, strict=True):
        lo, hi = int(segment.offsets[slot]), int(segment.offsets[slot + 1])
        docs = segment.docs[lo:hi]
        at = np.minimum(np.searchsorted(docs, local), hi - lo - 1)
        hit = docs[at] == local
        scores[hit] += segment.tfc[lo + at[hit]] * weight
    return scores


def _kth(values: np.ndarray, k: int) -> float:
    """The ``k``-th largest of ``values`` (0 when there are fewer)."""
    if len(values) < k:
        return 0.0
    return float(np.partition(values, len(values) - k)[len(values) - k])


def _top(
    segment: _Segment,
    query_tids: np.ndarray,
    idf: np.ndarray,
    top_k: int,
    allowed: np.ndarray | None,
    best: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, rows) of the live (allowed) chunks of ``segment`` that may be among the ``top_k`` best, each with
    its exhaustive score (``_scored``'s): this segment's ``top_k`` best and every chunk tied with the last of them
    (a tie goes to the earlier chunk, across segments), none below ``best``'s ``top_k``-th (the scores found in
    the segments searched before). A search restricted to few chunks looks them up (``_exact``)."""
    nothing = (np.zeros(0), np.zeros(0, dtype=np.int64))
    present = _present(segment, query_tids)
    if len(present) == 0 or not segment.alive.any():
        return nothing
    slots = _slots(segment, query_tids[present])
    weights = idf[present].astype(np.float32)
    keep = segment.alive
    if allowed is not None:
        local = _local(segment, allowed)
        local = local[segment.alive[local]].astype(segment.docs.dtype)
        if len(local) <= _DIRECT:
            scores = _exact(segment, local, slots, weights)
            found = np.flatnonzero(scores > 0)
            return scores[found], segment.rows[local[found]]
        keep = np.zeros(len(segment.rows), dtype=bool)
        keep[local] = True
    offsets, docs, tfc = segment.offsets, segment.docs, segment.tfc
    scores = np.bincount(
        np.concatenate([docs[offsets[t] : offsets[t + 1]] for t in slots]),
        weights=np.concatenate([tfc[offsets[t] : offsets[t + 1]] * w for t, w in zip(slots, weights, strict=True)]),
        minlength=len(segment.rows),
    )
    found = np.flatnonzero((scores > 0) & keep)
    if len(found) > top_k:
        found = found[scores[found] >= max(_kth(scores[found], top_k), _kth(best, top_k))]
    return scores[found], segment.rows[found]


@dataclass(frozen=True)
class _Snapshot:
    """What queries read: the committed segments and collection statistics (immutable)."""

    segments: tuple[_Segment, ...] = ()
    df: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # chunks containing each term id
    n_docs: int = 0
    total_length: int = 0


def _connect(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA journal_size_limit=67108864")  # the WAL is cut back to 64 MB after a large merge
    return conn


def _batches(items: Sequence[object]) -> Iterable[Sequence[object]]:
    for i in range(0, len(items), _IN_BATCH):
        yield items[i : i + _IN_BATCH]


class LexicalIndex:
    """BM25 over chunks; ``path`` None keeps it in a temporary directory removed with the object."""

    def __init__(self, path: Path | None) -> None:
        if path is None:
            path = Path(tempfile.mkdtemp(prefix="lexical-"))
            weakref.finalize(self, shutil.rmtree, path, True)
        self._path = path
        self._lock = threading.RLock()  # writes, pending state and the writer connection
        self._read_lock = threading.Lock()  # the reader connection and the cache
        self._cache: dict[int, Chunk] = {}
        self._local = threading.local()  # one stemmer per thread: PyStemmer stemmers are not thread-safe
        # committed state
        self._vocab: dict[str, int] = {}
        self._doc_counts: dict[str, int] = {}  # committed chunks per document
        self._committed = 0
        self._next_row = 1
        self._next_seg = 1
        self._snap = _Snapshot()
        # pending changes
        self._added: dict[str, tuple[Chunk, list[str]]] = {}  # chunk id -> (chunk, tokens)
        self._added_by_doc: dict[str, set[str]] = {}
        self._gone: dict[str, tuple[int, str]] = {}  # committed chunk id -> (row, doc id) removed by pending ops
        self._deleted_docs: set[str] = set()
        self._dirty = False
        self._extra_meta: list[tuple[str, str]] = []  # meta rows the next commit writes
        try:
            path.mkdir(parents=True, exist_ok=True)
            self._conn = _connect(path / _DB)
            self._reader = _connect(path / _DB)
            self._open()
        except IndexStoreError:
            raise
        except Exception as exc:  # sqlite3, zipfile (a segment), numpy, ValueError from the checks above
            raise IndexStoreError(
                f"the lexical index in {path} is corrupt or unreadable ({type(exc).__name__}: {exc}); "
                f"delete {path} and re-ingest"
            ) from exc
        self._migrate()

    # ------------------------------------------------------------------ writes (pending until commit)

    def add(self, chunks: Sequence[Chunk]) -> None:
        """Add chunks; a chunk id already present is replaced."""
        if not chunks:
            return
        tokens = self._tokenize([c.indexed_text for c in chunks])
        with self._lock:
            for chunk, toks in zip(chunks, tokens, strict=True):
                previous = self._added.pop(chunk.id, None)
                if previous is not None:
                    self._added_by_doc[previous[0].doc_id].discard(chunk.id)
                self._added[chunk.id] = (chunk, toks)
                self._added_by_doc.setdefault(chunk.doc_id, set()).add(chunk.id)
                if chunk.id not in self._gone:
                    found = self._conn.execute("SELECT row, doc_id FROM chunk WHERE id = ?", (chunk.id,)).fetchone()
                    if found is not None:
                        self._gone[chunk.id] = (int(found[0]), str(found[1]))
            self._dirty = True

    def delete(self, doc_id: str) -> None:
        """Remove every chunk of ``doc_id`` (nothing happens if there is none)."""
        with self._lock:
            for chunk_id in self._added_by_doc.pop(doc_id, set()):
                del self._added[chunk_id]
                self._dirty = True
            if doc_id in self._deleted_docs or doc_id not in self._doc_counts:
                return
            self._deleted_docs.add(doc_id)
            for row, chunk_id in self._conn.execute("SELECT row, id FROM chunk WHERE doc_id = ?", (doc_id,)):
                self._gone.setdefault(chunk_id, (int(row), doc_id))
            self._dirty = True

    def commit(self) -> None:
        """Write the pending changes in one transaction (their cost, not the index's) and publish them."""
        with self._lock:
            if not self._dirty:
                return
            try:
                self._commit()
            except Exception as exc:
                with contextlib.suppress(sqlite3.Error):
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                raise IndexStoreError(f"cannot write the lexical index to {self._path}: {exc}") from exc

    # ------------------------------------------------------------------ reads

    def search(self, query: str, top_k: int, doc_ids: Collection[str] | None = None) -> list[Passage]:
        """The ``top_k`` chunks with the highest BM25 score for ``query``, best first (a tie goes to the earlier
        chunk); zero scores dropped."""
        return self._search(query, top_k, doc_ids, exhaustive=False)

    def _search(self, query: str, top_k: int, doc_ids: Collection[str] | None, exhaustive: bool) -> list[Passage]:
        """``search``; ``exhaustive`` keeps every chunk with a query term until the end (the reference the search
        is tested against: the same passages and scores)."""
        if top_k <= 0 or (doc_ids is not None and len(doc_ids) == 0):
            return []
        if self._dirty:
            self.commit()
        snap = self._snap
        if not snap.segments or snap.n_docs == 0:
            return []
        terms = Counter(self._vocab.get(t, -1) for t in self._tokenize([query])[0])
        terms.pop(-1, None)
        query_tids = np.array([t for t in terms if t < len(snap.df) and snap.df[t] > 0], dtype=np.int64)
        if len(query_tids) == 0:
            return []
        weights = np.array([terms[int(t)] for t in query_tids], dtype=np.float64)
        df = snap.df[query_tids].astype(np.float64)
        idf = np.log(1.0 + (snap.n_docs - df + 0.5) / (df + 0.5)) * weights  # a repeated query term counts again
        allowed = None
        if doc_ids is not None:
            allowed = self._rows_of(list(doc_ids))
            if len(allowed) == 0:
                return []
        found: list[tuple[np.ndarray, np.ndarray]] = []
        if exhaustive:
            found = [_scored(segment, query_tids, idf, allowed) for segment in snap.segments]
        else:
            best = np.zeros(0)  # the best scores found so far (at most top_k), a bound for the next segments
            for segment in snap.segments:
                found.append(_top(segment, query_tids, idf, top_k, allowed, best))
                best = np.concatenate([best, found[-1][0]])
                if len(best) > top_k:
                    best = np.partition(best, len(best) - top_k)[len(best) - top_k :]
        if not found:
            return []
        scores = np.concatenate([f[0] for f in found])
        rows = np.concatenate([f[1] for f in found])
        order = np.lexsort((rows, -scores))[:top_k]  # best first; a tie goes to the earlier chunk
        chunks = self._chunks_at([int(r) for r in rows[order]])
        return [Passage(chunk=chunks[int(rows[i])], score=float(scores[i])) for i in order if int(rows[i]) in chunks]

    def count(self) -> int:
        """Chunks held (pending changes included)."""
        with self._lock:
            return self._committed - len(self._gone) + len(self._added)

    def doc_ids(self) -> set[str]:
        """Ids of the documents that have chunks here (pending changes included)."""
        with self._lock:
            gone = Counter(doc for _, doc in self._gone.values())
            docs = {d for d, n in self._doc_counts.items() if n > gone.get(d, 0)}
            return docs | {d for d, ids in self._added_by_doc.items() if ids}

    def get(self, chunk_id: str) -> Chunk | None:
        with self._lock:
            added = self._added.get(chunk_id)
            if added is not None:
                return added[0]
            if chunk_id in self._gone:
                return None
            found = self._conn.execute("SELECT body FROM chunk WHERE id = ?", (chunk_id,)).fetchone()
        return None if found is None else Chunk.model_validate_json(found[0])

    def segments(self) -> int:
        """Committed segments (for benchmarks and tests)."""
        return len(self._snap.segments)

    def close(self) -> None:
        """Close the database (pending changes are dropped)."""
        with self._lock, self._read_lock:
            self._conn.close()
            self._reader.close()

    # ------------------------------------------------------------------ internals

    def _tokenize(self, texts: list[str]) -> list[list[str]]:
        stemmer = getattr(self._local, "stemmer", None)
        if stemmer is None:
            stemmer = self._local.stemmer = Stemmer.Stemmer("english")
        result = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)
        return [list(tokens) for tokens in result]

    def _rows_of(self, doc_ids: list[str]) -> np.ndarray:
        rows: list[int] = []
        with self._read_lock:
            for batch in _batches(doc_ids):
                marks = ",".join("?" * len(batch))
                rows.extend(
                    r for (r,) in self._reader.execute(f"SELECT row FROM chunk WHERE doc_id IN ({marks})", batch)
                )
        return np.array(sorted(rows), dtype=np.int64)

    def _chunks_at(self, rows: list[int]) -> dict[int, Chunk]:
        """Committed chunks by row (a row a commit removed meanwhile is missing). A row's chunk never changes
        (a replaced chunk gets a new row), so parsed chunks are cached."""
        with self._read_lock:
            cache = self._cache
            found = {row: cache[row] for row in rows if row in cache}
            missing = [row for row in rows if row not in found]
            for batch in _batches(missing):
                marks = ",".join("?" * len(batch))
                for row, body in self._reader.execute(f"SELECT row, body FROM chunk WHERE row IN ({marks})", batch):
                    found[int(row)] = cache[int(row)] = Chunk.model_validate_json(body)
            while len(cache) > _CACHE:
                cache.pop(next(iter(cache)))  # the oldest entries
        return found

    def _open(self) -> None:
        conn = self._conn
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "meta" not in tables:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if not {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.executemany(
                        "INSERT INTO meta VALUES (?, ?)",
                        [("format", str(FORMAT)), ("next_row", "1"), ("next_seg", "1")],
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("format") != str(FORMAT):
            raise ValueError(f"unsupported format {meta.get('format')!r}")
        self._next_row, self._next_seg = int(meta["next_row"]), int(meta["next_seg"])
        self._vocab = {term: int(tid) for tid, term in conn.execute("SELECT tid, term FROM term")}
        spans = conn.execute("SELECT doc_id, count(*), min(row), max(row) FROM chunk GROUP BY doc_id").fetchall()
        self._doc_counts = {d: int(n) for d, n, _, _ in spans}
        self._committed = sum(self._doc_counts.values())
        live = _live_rows(conn, spans)
        segments = tuple(
            _Segment.from_bytes(int(seg_id), data, live)
            for seg_id, data in conn.execute("SELECT id, data FROM segment ORDER BY id")
        )
        df = np.zeros(len(self._vocab), dtype=np.int64)
        total = 0
        for s in segments:
            if len(s.tids) and int(s.tids[-1]) >= len(df):
                raise ValueError(f"segment {s.id} names term ids beyond the vocabulary")
            if len(s.tids):
                if s.alive.all():  # no deleted chunk: every posting counts (skips a pass over all postings)
                    per_term = np.diff(s.offsets)
                else:
                    per_term = np.add.reduceat(s.alive[s.docs].astype(np.int64), s.offsets[:-1])
                np.add.at(df, s.tids, per_term)
            total += int(s.lengths[s.alive].sum())
        covered = sum(s.live for s in segments)
        if covered != self._committed:
            raise ValueError(f"{self._committed} chunks stored, {covered} of them in the postings")
        if self._committed:
            segments = tuple(s.scored_for(total / self._committed) for s in segments)
        self._snap = _Snapshot(segments=segments, df=df, n_docs=self._committed, total_length=total)

    def _commit(self) -> None:
        snap = self._snap
        gone = sorted(self._gone.values())
        gone_rows = np.array([row for row, _ in gone], dtype=np.int64)
        # the statistics the removed chunks contributed (re-tokenised: their cost, not the index's)
        removed = self._committed_chunks([row for row, _ in gone])
        removed_tokens = self._tokenize([c.indexed_text for c in removed])
        # the new chunks, their rows and term ids
        added = list(self._added.values())
        rows = np.arange(self._next_row, self._next_row + len(added), dtype=np.int64)
        new_terms: dict[str, int] = {}
        token_ids: list[np.ndarray] = []
        for _, tokens in added:
            ids = []
            for t in tokens:
                tid = self._vocab.get(t)
                if tid is None:
                    tid = new_terms.setdefault(t, len(self._vocab) + len(new_terms))
                ids.append(tid)
            token_ids.append(np.array(ids, dtype=np.int64))
        next_seg = self._next_seg
        segments = []
        changed: list[_Segment] = []
        for s in snap.segments:
            local = _local(s, gone_rows)
            if len(local):
                alive = s.alive.copy()
                alive[local] = False
                s = replace(s, alive=alive)
            segments.append(s)
        if added:
            fresh = _new_segment(next_seg, rows, token_ids)
            next_seg += 1
            segments.append(fresh)
            changed.append(fresh)
        dropped: list[int] = []
        while plan := _plan(segments):
            merged = _merged(next_seg, plan)
            next_seg += 1
            merged_ids = {s.id for s in plan}
            segments = [s for s in segments if s.id not in merged_ids]
            changed = [s for s in changed if s.id not in merged_ids]
            dropped.extend(i for i in merged_ids if i < self._next_seg)
            if len(merged.rows):
                segments.append(merged)
                changed.append(merged)
        segments.sort(key=lambda s: s.id)
        # statistics
        df = np.zeros(len(self._vocab) + len(new_terms), dtype=np.int64)
        df[: len(snap.df)] = snap.df
        for chunk_tids in token_ids:
            np.add.at(df, np.unique(chunk_tids), 1)
        for tokens in removed_tokens:
            np.subtract.at(df, np.unique([self._vocab[t] for t in tokens]).astype(np.int64), 1)
        total = snap.total_length + sum(len(t) for _, t in added) - sum(len(t) for t in removed_tokens)
        n_docs = snap.n_docs + len(added) - len(removed)
        if n_docs:
            segments = [s.scored_for(total / n_docs) for s in segments]
        # one transaction
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        for batch in _batches(gone_rows.tolist()):
            conn.execute(f"DELETE FROM chunk WHERE row IN ({','.join('?' * len(batch))})", batch)
        conn.executemany(
            "INSERT INTO chunk(row, id, doc_id, body) VALUES (?, ?, ?, ?)",
            ((int(r), c.id, c.doc_id, c.model_dump_json()) for r, (c, _) in zip(rows, added, strict=True)),
        )
        conn.executemany("INSERT INTO term(tid, term) VALUES (?, ?)", ((i, t) for t, i in new_terms.items()))
        for batch in _batches(dropped):
            conn.execute(f"DELETE FROM segment WHERE id IN ({','.join('?' * len(batch))})", batch)
        conn.executemany("INSERT INTO segment(id, data) VALUES (?, ?)", ((s.id, s.to_bytes()) for s in changed))
        conn.executemany(
            "UPDATE meta SET value = ? WHERE key = ?",
            [(str(self._next_row + len(added)), "next_row"), (str(next_seg), "next_seg")],
        )
        conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", self._extra_meta)
        conn.execute("COMMIT")
        # published only now that it is on disk
        self._vocab.update(new_terms)
        for _, doc in gone:
            self._doc_counts[doc] -= 1
            if self._doc_counts[doc] == 0:
                del self._doc_counts[doc]
        for chunk, _ in added:
            self._doc_counts[chunk.doc_id] = self._doc_counts.get(chunk.doc_id, 0) + 1
        self._committed = n_docs
        self._next_row += len(added)
        self._next_seg = next_seg
        self._snap = _Snapshot(segments=tuple(segments), df=df, n_docs=n_docs, total_length=total)
        self._added.clear()
        self._added_by_doc.clear()
        self._gone.clear()
        self._deleted_docs.clear()
        self._dirty = False

    def _committed_chunks(self, rows: list[int]) -> list[Chunk]:
        found: list[Chunk] = []
        for batch in _batches(rows):
            marks = ",".join("?" * len(batch))
            found.extend(
                Chunk.model_validate_json(body)
                for (body,) in self._conn.execute(f"SELECT body FROM chunk WHERE row IN ({marks})", batch)
            )
        if len(found) != len(rows):
            raise ValueError(f"{len(rows) - len(found)} chunks to delete are missing")
        return found

    # ------------------------------------------------------------------ the previous format

    def _migrate(self) -> None:
        """Index the chunks of a previous-format index once, then remove its files."""
        path = self._path
        current = path / _CURRENT
        if not current.exists():
            return
        try:
            name = current.read_text(encoding="utf-8").strip()
            if not _VERSION.fullmatch(name):
                raise ValueError(f"{_CURRENT} names {name[:80]!r}, not a version directory")
            done = self._conn.execute("SELECT value FROM meta WHERE key = 'migrated'").fetchone()
            if done is None or done[0] != name:
                if self._committed:
                    raise ValueError(f"it holds chunks and an unmigrated previous version {name}")
                manifest = json.loads((path / name / _MANIFEST).read_text(encoding="utf-8"))
                if manifest.get("format") != 1:
                    raise ValueError(f"unsupported format {manifest.get('format')!r}")
                with open(path / name / _CHUNKS, encoding="utf-8") as fh:
                    chunks = [Chunk.model_validate_json(line) for line in fh if line.strip()]
                if len(chunks) != manifest["chunks"]:
                    raise ValueError(f"{len(chunks)} chunks stored, the manifest says {manifest['chunks']}")
                log.info("migrating the lexical index in %s (%d chunks) to format %d", path, len(chunks), FORMAT)
                self._extra_meta = [("migrated", name)]  # in the same transaction as the chunks
                try:
                    self.add(chunks)
                    self._dirty = True
                    self.commit()
                finally:
                    self._extra_meta = []
        except IndexStoreError:
            raise
        except (ValueError, KeyError, OSError, sqlite3.Error) as exc:
            raise IndexStoreError(
                f"the lexical index in {path} is corrupt or unreadable ({type(exc).__name__}: {exc}); "
                f"delete {path} and re-ingest"
            ) from exc
        for item in path.iterdir():
            if item.name.startswith(("v-", ".tmp-")) and item.is_dir():
                shutil.rmtree(item, ignore_errors=True)
            elif item.name.startswith(f".{_CURRENT}."):
                item.unlink(missing_ok=True)
        current.unlink(missing_ok=True)
