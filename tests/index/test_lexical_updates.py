"""LexicalIndex updated in place: equal to a fresh build, to bm25s, crash-safe under SIGKILL, and migrating
the previous on-disk format."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import bm25s
import numpy as np
import pytest
import Stemmer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import index.lexical as lexical
from assistant.types import Chunk
from index.lexical import LexicalIndex
from tests.index.helpers import make_chunks

WORDS = "heron swallow nest river train station ferry harbour runner shoe marathon winter autumn fish".split()
REPO = Path(__file__).resolve().parents[2]
QUERIES = ["heron river", "train station ferry", "runner shoe marathon winter", "fish fish autumn", "nest"]


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _results(index: LexicalIndex, query: str, top_k: int = 1000, doc_ids: set[str] | None = None) -> dict[str, float]:
    return {p.chunk.id: p.score for p in index.search(query, top_k, doc_ids)}


# scores are float32 sums, and a segment's term-frequency components are recomputed only when the average chunk
# length has moved by more than lexical._DRIFT (set to 0 by the fixture ``exact``)
TOLERANCE = lexical._DRIFT + 1e-5


def _assert_same(index: LexicalIndex, fresh: LexicalIndex, rel: float = TOLERANCE) -> None:
    """Every query finds the same chunks with the same scores; the top 3 have the same scores in order."""
    assert index.count() == fresh.count()
    assert index.doc_ids() == fresh.doc_ids()
    for query in QUERIES:
        got, want = _results(index, query), _results(fresh, query)
        assert got.keys() == want.keys(), query
        for chunk_id, score in want.items():
            assert got[chunk_id] == pytest.approx(score, rel=rel), (query, chunk_id)
        top = [p.score for p in index.search(query, 3)]
        assert top == pytest.approx([p.score for p in fresh.search(query, 3)], rel=rel)


def _fresh(chunks: dict[str, Chunk]) -> LexicalIndex:
    fresh = LexicalIndex(None)
    fresh.add(list(chunks.values()))
    fresh.commit()
    return fresh


@st.composite
def _operations(draw: st.DrawFn) -> list[tuple[str, str, int, int]]:
    """(op, document, chunks, seed): add a version of a document, delete it, or commit."""
    ops = st.tuples(
        st.sampled_from(["add", "add", "delete", "commit"]),
        st.sampled_from([f"d{i}" for i in range(6)]),
        st.integers(1, 4),
        st.integers(0, 10_000),
    )
    return draw(st.lists(ops, min_size=1, max_size=25))


@pytest.fixture
def small_merges(monkeypatch: pytest.MonkeyPatch) -> None:
    """Merge (and expunge) early, so that short sequences go through merges."""
    monkeypatch.setattr(lexical, "_MERGE_FACTOR", 2)
    monkeypatch.setattr(lexical, "_MAX_MERGED", 12)


@pytest.fixture
def exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """Term-frequency components recomputed on every change of the average chunk length."""
    monkeypatch.setattr(lexical, "_DRIFT", 0.0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_operations())
def test_any_sequence_of_changes_equals_a_fresh_build(
    small_merges: None, exact: None, ops: list[tuple[str, str, int, int]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bm25"
        index = LexicalIndex(path)
        committed: dict[str, Chunk] = {}
        expected: dict[str, Chunk] = {}
        for op, doc, n, seed in ops:
            rng = random.Random(seed)
            if op == "add":
                # a document's chunks are replaced by id (the same ids 0..n-1), as a re-ingest does
                chunks = make_chunks(doc, [_text(rng, rng.randint(0, 12)) for _ in range(n)])
                index.add(chunks)
                expected.update({c.id: c for c in chunks})
            elif op == "delete":
                index.delete(doc)
                expected = {k: c for k, c in expected.items() if c.doc_id != doc}
            else:
                index.commit()
                committed = dict(expected)
            assert index.count() == len(expected)
            assert index.doc_ids() == {c.doc_id for c in expected.values()}
        assert _chunks_of(LexicalIndex(path), committed) == committed  # pending changes are not on disk
        index.commit()
        _assert_same(index, _fresh(expected), rel=1e-5)
        _assert_same(LexicalIndex(path), _fresh(expected), rel=1e-5)  # reopened from disk


def _chunks_of(index: LexicalIndex, candidates: dict[str, Chunk]) -> dict[str, Chunk]:
    found = {}
    for chunk_id in candidates:
        chunk = index.get(chunk_id)
        if chunk is not None:
            found[chunk_id] = chunk
    assert index.count() == len(found)
    return found


def test_scores_equal_a_bm25s_build() -> None:
    """The figures measured with bm25s (reports/) stay valid: same tokens, same formula, same scores."""
    rng = random.Random(7)
    chunks = [c for d in range(30) for c in make_chunks(f"doc{d}", [_text(rng, rng.randint(1, 30)) for _ in range(3)])]
    index = LexicalIndex(None)
    for start in range(0, len(chunks), 7):  # many commits: many segments
        index.add(chunks[start : start + 7])
        index.commit()
    stemmer = Stemmer.Stemmer("english")
    tokens = bm25s.tokenize([c.indexed_text for c in chunks], stopwords="en", stemmer=stemmer, show_progress=False)
    reference = bm25s.BM25()
    reference.index(tokens, show_progress=False)
    for query in QUERIES:
        query_tokens = bm25s.tokenize([query], stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)
        ids = reference.get_tokens_ids(query_tokens[0])
        scores = reference.get_scores_from_ids(ids)
        want = {chunks[i].id: float(scores[i]) for i in np.flatnonzero(scores > 0)}
        got = _results(index, query)
        assert got.keys() == want.keys()
        for chunk_id, score in want.items():
            assert got[chunk_id] == pytest.approx(score, rel=1e-5)


def test_doc_filter_after_updates(small_merges: None) -> None:
    rng = random.Random(3)
    index = LexicalIndex(None)
    for d in range(8):
        index.add(make_chunks(f"d{d}", [_text(rng, 10) for _ in range(3)]))
        index.commit()
    index.delete("d2")
    index.add(make_chunks("d5", ["heron heron river"]))  # replaces d5:0, and d5:1, d5:2 stay
    index.commit()
    everything = _results(index, "heron river")
    within = _results(index, "heron river", doc_ids={"d2", "d5", "d7"})
    assert within == {k: v for k, v in everything.items() if k.split(":")[0] in {"d5", "d7"}}
    assert within["d5:0"] == max(within.values())
    assert _results(index, "heron river", doc_ids={"d2"}) == {}
    assert [p.chunk.id for p in index.search("heron river", 2, doc_ids={"d5", "d7"})] == sorted(
        within, key=lambda k: -within[k]
    )[:2]


def test_segments_stay_few_and_reopen(tmp_path: Path) -> None:
    """Many small commits are merged: the segment count grows with the log of the index, not the commits."""
    path = tmp_path / "bm25"
    rng = random.Random(5)
    index = LexicalIndex(path)
    expected: dict[str, Chunk] = {}
    for d in range(150):
        chunks = make_chunks(f"d{d}", [_text(rng, 8) for _ in range(2)])
        index.add(chunks)
        expected.update({c.id: c for c in chunks})
        if d % 3 == 2:
            index.delete(f"d{d - 1}")
            expected = {k: c for k, c in expected.items() if c.doc_id != f"d{d - 1}"}
        index.commit()
    assert index.segments() <= 2 * (lexical._MERGE_FACTOR - 1) + 1
    reopened = LexicalIndex(path)
    assert reopened.segments() == index.segments()
    _assert_same(reopened, _fresh(expected))


# ---------------------------------------------------------------------------------------------- crash safety

WRITER = """
import sys, time
from pathlib import Path
from index.lexical import LexicalIndex
from tests.index.test_lexical_updates import generation_chunks

index = LexicalIndex(Path(sys.argv[1]))
stall = sys.argv[2]  # stop for a while at the first statement of a commit starting with this (a kill lands there)
generation = index.count() and max(int(d[1:]) for d in index.doc_ids())
first = generation + 1

def trace(statement):
    if stall and generation > first and statement.upper().startswith(stall):
        print(f"at {statement[:20]}", flush=True)
        time.sleep(5)

index._conn.set_trace_callback(trace)
while True:
    generation += 1
    index.add(generation_chunks(generation))
    index.delete(f"g{generation - 2}")
    print(f"committing {generation}", flush=True)
    index.commit()
    print(f"committed {generation}", flush=True)
"""


def generation_chunks(generation: int) -> list[Chunk]:
    """The chunks commit number ``generation`` of the writer adds (deterministic, a few hundred)."""
    rng = random.Random(generation)
    return make_chunks(f"g{generation}", [_text(rng, rng.randint(5, 60)) for _ in range(400)])


def _expected_after(generation: int) -> dict[str, Chunk]:
    return {c.id: c for g in (generation - 1, generation) if g >= 1 for c in generation_chunks(g)}


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[tuple[Path, list[subprocess.Popen[str]]]]:
    procs: list[subprocess.Popen[str]] = []
    yield tmp_path / "bm25", procs
    for proc in procs:
        proc.kill()
        proc.wait()


def _kill_and_check(path: Path, procs: list[subprocess.Popen[str]], stall: str, delay: float) -> None:
    """Start the writer, SIGKILL it (at the stall point, or ``delay`` seconds into its second commit), check the
    index on disk is the state after the last commit that returned or after the one in flight, and searches like a
    fresh build of its chunks."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), stall], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    procs.append(proc)
    assert proc.stdout is not None
    lines: list[str] = []
    ready = (lambda line: line.startswith("at ")) if stall else (lambda line: line.startswith("committing"))
    while not any(ready(line) for line in lines[1:]):
        lines.append(proc.stdout.readline().strip())
        assert lines[-1], f"the writer stopped: {proc.wait()}"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    rest, _ = proc.communicate()
    lines += rest.splitlines()
    done = max(int(line.split()[1]) for line in lines if line.startswith("committed"))
    index = LexicalIndex(path)
    candidates = {**_expected_after(done), **_expected_after(done + 1)}
    on_disk = _chunks_of(index, candidates)
    if stall:
        assert on_disk == _expected_after(done), f"killed at {stall} after commit {done}"
    else:
        assert on_disk in (_expected_after(done), _expected_after(done + 1)), f"killed after commit {done}"
    _assert_same(index, _fresh(on_disk))
    index.close()


@pytest.mark.parametrize("stall", ["DELETE FROM CHUNK", "INSERT INTO CHUNK", "INSERT INTO SEGMENT", "COMMIT"])
def test_sigkill_inside_the_commit_leaves_the_last_committed_state(
    writer: tuple[Path, list[subprocess.Popen[str]]], stall: str
) -> None:
    """A real writer process (each commit adds 400 chunks and deletes 400) SIGKILLed inside a commit's
    transaction, at a chosen statement: the index on disk is the one before that commit."""
    path, procs = writer
    _kill_and_check(path, procs, stall, 0.1)
    _kill_and_check(path, procs, stall, 0.1)  # and again on the index the first kill left


def test_sigkill_at_random_moments_leaves_a_committed_state(writer: tuple[Path, list[subprocess.Popen[str]]]) -> None:
    path, procs = writer
    rng = random.Random(11)
    for _ in range(3):
        _kill_and_check(path, procs, "", rng.uniform(0.0, 0.5))


# ---------------------------------------------------------------------------------------------- migration


def _write_previous_format(path: Path, chunks: list[Chunk]) -> str:
    """An index as the previous version wrote it: CURRENT -> v-<id>/ with bm25s arrays, chunks.jsonl, manifest."""
    name = f"v-{uuid.uuid4().hex}"
    version = path / name
    version.mkdir(parents=True)
    stemmer = Stemmer.Stemmer("english")
    reference = bm25s.BM25()
    reference.index(
        bm25s.tokenize([c.indexed_text for c in chunks], stopwords="en", stemmer=stemmer, show_progress=False),
        show_progress=False,
    )
    reference.save(str(version), show_progress=False)
    with open(version / "chunks.jsonl", "w", encoding="utf-8") as fh:
        for chunk in chunks:
            fh.write(chunk.model_dump_json() + "\n")
    (version / "manifest.json").write_text(json.dumps({"format": 1, "chunks": len(chunks), "bm25": True}))
    (path / "CURRENT").write_text(name + "\n")
    return name


def test_the_previous_format_is_migrated_once(tmp_path: Path) -> None:
    path = tmp_path / "bm25"
    rng = random.Random(9)
    chunks = [c for d in range(5) for c in make_chunks(f"d{d}", [_text(rng, 12) for _ in range(3)])]
    name = _write_previous_format(path, chunks)
    (path / ".tmp-v-deadbeef").mkdir()  # litter of a commit the previous version had killed
    index = LexicalIndex(path)
    assert not (path / "CURRENT").exists() and not (path / name).exists()
    assert not (path / ".tmp-v-deadbeef").exists()
    _assert_same(index, _fresh({c.id: c for c in chunks}))
    index.delete("d0")
    index.commit()
    reopened = LexicalIndex(path)
    assert reopened.doc_ids() == {"d1", "d2", "d3", "d4"}
    assert reopened.get(chunks[-1].id) == chunks[-1]


def test_a_migration_interrupted_after_its_commit_is_not_repeated(tmp_path: Path) -> None:
    """Killed between committing the migrated chunks and removing the old files: the next open only cleans up
    (a document deleted since is not brought back)."""
    path = tmp_path / "bm25"
    chunks = make_chunks("d0", ["heron river"]) + make_chunks("d1", ["train station"])
    name = _write_previous_format(path, chunks)
    LexicalIndex(path)
    (path / name).mkdir()
    (path / "CURRENT").write_text(name + "\n")  # as if the removal had not happened
    index = LexicalIndex(path)
    assert index.doc_ids() == {"d0", "d1"} and not (path / "CURRENT").exists()
    index.delete("d0")
    index.commit()
    (path / "CURRENT").write_text(name + "\n")
    assert LexicalIndex(path).doc_ids() == {"d1"}


def test_a_corrupt_previous_format_raises_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bm25"
    name = _write_previous_format(path, make_chunks("d0", ["heron river"]))
    (path / name / "chunks.jsonl").write_text('{"id": "d0:0", "doc_id": \n')
    with pytest.raises(lexical.IndexStoreError, match=r"corrupt.*re-ingest"):
        LexicalIndex(path)
    (path / "CURRENT").write_text("../../etc\n")
    with pytest.raises(lexical.IndexStoreError, match="not a version directory"):
        LexicalIndex(path)


# ---------------------------------------------------------------- the search returns the exhaustive search's
# A vocabulary where a few words are in most chunks and most words in few (as in real text), with repeated chunks
# (ties), across segments and deletes.
ZIPF = [f"w{i}" for i in range(300)]
ZIPF_WEIGHTS = [1 / (i + 1) for i in range(300)]


def _zipf_text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choices(ZIPF, ZIPF_WEIGHTS, k=n))


def _hits(index: LexicalIndex, query: str, top_k: int, doc_ids: set[str] | None, exhaustive: bool) -> list:
    return [(p.chunk.id, p.score) for p in index._search(query, top_k, doc_ids, exhaustive)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 10_000),
    docs=st.integers(1, 30),
    commits=st.integers(1, 4),
    direct=st.sampled_from([0, 20_000]),
)
def test_search_returns_the_exhaustive_passages_and_scores(
    monkeypatch: pytest.MonkeyPatch, seed: int, docs: int, commits: int, direct: int
) -> None:
    """Same chunks, same order (a tie to the earlier chunk), bit-identical scores as scoring every chunk with a
    query term and sorting them all, for any top_k, restriction to documents (looked up one by one, or not),
    deleted chunks and number of segments."""
    monkeypatch.setattr(lexical, "_DIRECT", direct)
    rng = random.Random(seed)
    index = LexicalIndex(None)
    for d in range(docs):
        texts = [_zipf_text(rng, rng.randint(0, 40)) for _ in range(rng.randint(1, 30))]
        texts += texts[: rng.randint(0, 3)]  # the same text again: tied scores
        index.add(make_chunks(f"d{d}", texts))
        if rng.random() < commits / docs:
            index.commit()
    for d in rng.sample(range(docs), docs // 4):
        index.delete(f"d{d}")
    index.commit()
    for _ in range(12):
        query = _zipf_text(rng, rng.randint(1, 9))
        top_k = rng.choice([1, 2, 5, 10, 50, 1000])
        some = None if rng.random() < 0.6 else {f"d{rng.randrange(docs)}" for _ in range(rng.randint(1, 5))}
        assert _hits(index, query, top_k, some, False) == _hits(index, query, top_k, some, True), (query, top_k)


def test_reopening_finds_the_rows_of_documents_whose_chunks_are_not_one_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening reads each document's rows as a range when they are one; chunks of documents added interleaved,
    or a document re-added in part, are read row by row, and both ways give the same index."""
    path = tmp_path / "bm25"
    index = LexicalIndex(path)
    a = make_chunks("a", ["heron river nest", "train station", "ferry harbour"])
    b = make_chunks("b", ["runner shoe", "marathon winter"])
    index.add([a[0], b[0], a[1], b[1], a[2]])  # one commit, the documents' rows interleaved
    index.commit()
    c = make_chunks("c", ["fish autumn", "heron fish", "nest nest"])
    index.add(c)
    index.commit()
    index.add(make_chunks("c", ["swallow river"]))  # c's first chunk again: a row after the others
    index.commit()
    expected = {ch.id: ch for ch in [*a, *b, *c[1:], *make_chunks("c", ["swallow river"])]}
    reopened = LexicalIndex(path)
    _assert_same(reopened, _fresh(expected), rel=1e-5)
    monkeypatch.setattr(lexical, "_SCATTERED_MAX", 0)  # every row read from the table instead
    _assert_same(LexicalIndex(path), reopened, rel=0)
    reopened.delete("a")
    reopened.commit()
    expected = {k: ch for k, ch in expected.items() if ch.doc_id != "a"}
    _assert_same(LexicalIndex(path), _fresh(expected), rel=1e-5)
