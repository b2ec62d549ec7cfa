"""eval.bench_scale: the synthetic corpus, exact search, and the whole benchmark on a tiny index, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eval import bench_scale
from eval.bench_scale import (
    CHUNKS_PER_DOC,
    Corpus,
    exact_top,
    hnsw_m_sweep,
    near_queries,
    random_unit_vectors,
    synthetic_document,
)
from eval.errors import EvalError
from index.catalog import Catalog
from index.lexical import LexicalIndex
from index.vector import HNSW_EF_SEARCH, VectorIndex


@pytest.fixture(scope="module")
def pool() -> list[str]:
    """The shared corpora's sentences; the tests that need them skip, like the other data-set tests, in a checkout
    with no ``../shared`` beside it."""
    try:
        return bench_scale.sentence_pool()
    except EvalError as exc:
        pytest.skip(f"the shared corpora are not present: {exc}")


def test_synthetic_documents_are_real_text_with_exact_offsets(pool: list[str]) -> None:
    doc, chunks = synthetic_document(pool, 3)
    assert len(chunks) == CHUNKS_PER_DOC
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.doc_id == doc.id and chunk.text
    assert synthetic_document(pool, 3) == (doc, chunks)  # the same in every run
    assert synthetic_document(pool, 4)[0].id != doc.id


def test_random_vectors_are_unit_and_positional() -> None:
    whole = random_unit_vectors(0, 10_000, 8)
    assert np.allclose(np.linalg.norm(whole, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(random_unit_vectors(4090, 20, 8), whole[4090:4110])  # across a generator block


def test_exact_top_is_the_brute_force_top_k() -> None:
    rng = np.random.default_rng(0)
    real = rng.normal(size=(50, 8)).astype(np.float32)
    real /= np.linalg.norm(real, axis=1, keepdims=True)
    corpus = Corpus(pool=[], real=real, dim=8)
    queries = corpus.vectors(0, 300)[[3, 60, 299]]
    found = exact_top(corpus, 300, queries, k=10, block=64)  # several blocks
    scores = queries @ corpus.vectors(0, 300).T
    for row, want in zip(found, np.argsort(-scores, axis=1)[:, :10], strict=True):
        assert set(row.tolist()) == set(want.tolist())


def test_near_queries_lie_near_distinct_stored_real_vectors() -> None:
    rng = np.random.default_rng(1)
    real = rng.normal(size=(40, 16)).astype(np.float32)
    real /= np.linalg.norm(real, axis=1, keepdims=True)
    corpus = Corpus(pool=[], real=real, dim=16)
    queries = near_queries(corpus, 30, noise=0.03)
    assert queries.shape == (30, 16) and np.allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-5)
    nearest = np.argmax(queries @ real.T, axis=1)
    assert len(set(nearest.tolist())) == 30  # each near its own stored vector
    assert float(np.min(np.max(queries @ real.T, axis=1))) > 0.9
    assert np.array_equal(near_queries(corpus, 30, noise=0.03), queries)  # seeded


def test_hnsw_m_sweep_measures_each_setting_against_exact_search() -> None:
    rng = np.random.default_rng(2)
    real = rng.normal(size=(200, 16)).astype(np.float32)
    real /= np.linalg.norm(real, axis=1, keepdims=True)
    corpus = Corpus(pool=[], real=real, dim=16)
    queries = near_queries(corpus, 8)
    truth = exact_top(corpus, 400, queries)
    rows = hnsw_m_sweep(corpus, 400, queries, truth, [(8, 50), (16, 100)], [10, 100])
    assert [(r["M"], r["ef_search"]) for r in rows] == [(8, 10), (8, 100), (16, 10), (16, 100)]
    assert all(0.0 <= r["recall_at_10"] <= 1.0 and r["cpu_p50_ms"] >= 0 for r in rows)
    assert rows[-1]["recall_at_10"] >= 0.9  # 400 vectors at ef_search 100: the exact top-10 is found


@pytest.mark.slow
@pytest.mark.usefixtures("pool")
def test_the_benchmark_runs_end_to_end_on_a_tiny_index(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    work = tmp_path / "work"
    argv = ["--sizes", "300", "--sample", "200", "--asks", "3", "--recall-queries", "10"]
    argv += ["--ef-search", f"10,{HNSW_EF_SEARCH}", "--work", str(work), "--out", str(out)]
    assert bench_scale.main(argv) == 0

    report = json.loads((out / "scale.json").read_text())
    assert report["real_sample"] == 200
    (row,) = report["sizes"]
    assert row["size"] == 300
    for key in ("retrieve_p50_ms", "retrieve_p95_ms", "ask_p50_ms", "ask_p95_ms", "cold_start_s", "add_pdf_s"):
        assert row[key] > 0, key
    cpu_keys = ("retrieve_cpu_p50_ms", "ask_cpu_p50_ms", "ask_repeat_cpu_p50_ms", "cold_start_cpu_s", "add_pdf_cpu_s")
    for key in (*cpu_keys, "pdf_embed_cpu_s"):
        assert row[key] > 0, key  # CPU time beside wall time
    assert row["cold_start_cpu_s"] < row["cold_start_s"] * 2 + 5  # the server's own CPU, not the machine's
    assert row["retrieve_p95_ms"] >= row["retrieve_p50_ms"]
    assert row["ask_p95_ms"] >= row["ask_p50_ms"]
    assert row["delete_pdf_s"] >= 0
    assert row["serve_rss_mb"] > 100  # the serve process holds the model: not a stray pid's RSS
    assert row["disk_mb"] > 0
    assert row["pdf_chunks"] > 20  # twenty pages of text
    assert 0.0 <= row["dense_recall_at_10"] <= 1.0
    assert 0.0 <= row["dense_recall_at_10_questions"] <= 1.0
    assert row["hnsw"]["ef_search"] == HNSW_EF_SEARCH
    for key in ("hnsw_sweep_near", "hnsw_sweep_questions"):
        assert [s["ef_search"] for s in row[key]] == [10, HNSW_EF_SEARCH]
        assert all(s["applied"] == s["ef_search"] for s in row[key])
    # the exact top-10 of the 300 vectors is found at the index's ef_search
    assert row["dense_recall_at_10"] >= 0.9
    md = (out / "scale.md").read_text()
    assert "| 300 |" in md and "dense recall@10 (near stored)" in md and "CPU" in md
    for name in report["plots"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(report["plots"]) == len(bench_scale.FIGURES)

    # the directory is a normal index: the catalog, Chroma and BM25 agree, and the PDF added through the
    # service was deleted again
    data_dir = work / "index-300"
    ids = json.loads((work / "index-300.ids.json").read_text())
    catalog = Catalog(data_dir / "catalog.sqlite")
    try:
        assert catalog.count() == 300 // CHUNKS_PER_DOC
        assert not catalog.unfinished()
        doc_ids = {e.id for e in catalog.entries()}
    finally:
        catalog.close()
    vector = VectorIndex(data_dir / "chroma")
    try:
        assert vector.count() == len(ids) == 300
        assert vector.doc_ids() == doc_ids
    finally:
        vector.close()
    lexical = LexicalIndex(data_dir / "bm25")
    assert lexical.count() == 300
    assert lexical.doc_ids() == doc_ids


def test_a_stopped_build_continues_from_its_last_checkpoint(
    pool: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build interrupted between checkpoints, then run again, leaves what one clean build leaves."""
    real = np.random.default_rng(3).normal(size=(30, 8)).astype(np.float32)
    real /= np.linalg.norm(real, axis=1, keepdims=True)
    corpus = Corpus(pool=pool, real=real, dim=8)
    size = 10 * CHUNKS_PER_DOC
    clean = tmp_path / "clean" / "index"
    bench_scale.build_index(clean, size, corpus, "m", batch_docs=2, checkpoint_batches=2)
    want_ids = json.loads((clean.parent / "index.ids.json").read_text())

    stopped = tmp_path / "stopped" / "index"
    real_documents = bench_scale.documents
    calls = {"n": 0}

    def documents_failing_on_the_fourth_batch(*args: object) -> object:
        calls["n"] += 1
        if calls["n"] == 4:  # after the checkpoint at batch 2 and batch 3's writes
            raise KeyboardInterrupt
        return real_documents(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(bench_scale, "documents", documents_failing_on_the_fourth_batch)
    with pytest.raises(KeyboardInterrupt):
        bench_scale.build_index(stopped, size, corpus, "m", batch_docs=2, checkpoint_batches=2)
    progress = json.loads((stopped / bench_scale.BUILD_PROGRESS).read_text())
    assert progress["docs"] == 4 and progress["position"] == 4 * CHUNKS_PER_DOC
    assert not (stopped.parent / "index.ids.json").exists()

    monkeypatch.setattr(bench_scale, "documents", real_documents)
    calls["n"] = 0
    bench_scale.build_index(stopped, size, corpus, "m", batch_docs=2, checkpoint_batches=2)
    assert json.loads((stopped.parent / "index.ids.json").read_text()) == want_ids
    assert not (stopped / bench_scale.BUILD_PROGRESS).exists()
    for directory in (clean, stopped):
        catalog = Catalog(directory / "catalog.sqlite")
        vector = VectorIndex(directory / "chroma")
        lexical = LexicalIndex(directory / "bm25")
        try:
            assert catalog.count() == 10 and not catalog.unfinished()
            assert vector.count() == size and lexical.count() == size
            assert {e.id for e in catalog.entries()} == vector.doc_ids() == lexical.doc_ids()
        finally:
            vector.close()
            lexical.close()
            catalog.close()


def test_rows_of_sizes_not_measured_now_are_kept_with_their_command(tmp_path: Path) -> None:
    earlier = {"command": "python -m eval.bench_scale --sizes 300,600", "sizes": [{"size": 300}, {"size": 600}]}
    path = tmp_path / "scale.json"
    path.write_text(json.dumps(earlier))
    kept = bench_scale.kept_rows(path, [600, 900])
    assert kept == [{"size": 300, "command": "python -m eval.bench_scale --sizes 300,600"}]
    assert bench_scale.kept_rows(tmp_path / "none.json", [300]) == []
    path.write_text("{not json")
    with pytest.raises(EvalError):
        bench_scale.kept_rows(path, [300])
