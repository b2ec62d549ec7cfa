"""VectorIndex at scale: writes in batches within the client's max_batch_size, and the HNSW settings of the
collection (read back from Chroma's configuration), on embedded Chroma and on a real `chroma run` server."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
import pytest
from chromadb.config import Settings as ChromaSettings

from index.vector import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M, VectorIndex
from tests.index.conftest import VectorBackend
from tests.index.helpers import make_chunks


def _client(backend: VectorBackend) -> Any:
    settings = ChromaSettings(anonymized_telemetry=False)
    if backend.server is not None:
        return chromadb.HttpClient(host="127.0.0.1", port=backend.server.port, settings=settings)
    backend.path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(backend.path), settings=settings)


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.normal(size=(n, 384)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_a_new_collection_gets_the_hnsw_settings(backend: VectorBackend) -> None:
    hnsw = backend.open().hnsw()
    assert hnsw["space"] == "cosine"
    assert hnsw["max_neighbors"] == HNSW_M
    assert hnsw["ef_construction"] == HNSW_EF_CONSTRUCTION
    assert hnsw["ef_search"] == HNSW_EF_SEARCH
    # as Chroma itself reports it to any client
    stored = _client(backend).get_collection(backend.collection).configuration["hnsw"]
    assert (stored["max_neighbors"], stored["ef_construction"], stored["ef_search"]) == (
        HNSW_M,
        HNSW_EF_CONSTRUCTION,
        HNSW_EF_SEARCH,
    )


def test_ef_search_is_set_on_every_open(backend: VectorBackend) -> None:
    index = backend.open(ef_search=37)
    assert index.hnsw()["ef_search"] == 37
    index.close()
    assert _client(backend).get_collection(backend.collection).configuration["hnsw"]["ef_search"] == 37
    again = backend.open()
    assert again.hnsw()["ef_search"] == HNSW_EF_SEARCH
    assert again.hnsw()["max_neighbors"] == HNSW_M  # fixed at creation; unchanged by the reopen
    with pytest.raises(ValueError, match="ef_search"):
        backend.open(ef_search=0)


def test_a_collection_built_before_the_settings_keeps_opening(backend: VectorBackend) -> None:
    """An older collection (other M, default ef) opens with its chunks and graph; only ef_search is updated."""
    client = _client(backend)
    old = client.create_collection(
        backend.collection,
        configuration={"hnsw": {"space": "cosine", "max_neighbors": 8, "ef_construction": 50}},
        embedding_function=None,
    )
    rng = np.random.default_rng(1)
    legacy_index = backend.open(ef_search=HNSW_EF_SEARCH + 1)  # writes through our own format
    chunks = make_chunks("old", [f"old text {i}" for i in range(40)])
    vectors = _unit(rng, len(chunks))
    legacy_index.add(chunks, vectors)
    legacy_index.close()
    assert old.count() == 40
    index = backend.open()
    hnsw = index.hnsw()
    assert (hnsw["max_neighbors"], hnsw["ef_construction"]) == (8, 50)
    assert hnsw["ef_search"] == HNSW_EF_SEARCH
    assert index.count() == 40
    assert index.search(vectors[7], 1)[0].chunk == chunks[7]


def test_adds_beyond_the_clients_max_batch_size(backend: VectorBackend) -> None:
    """More chunks than one Chroma call may take go in several calls, each within the client's limit."""
    index = backend.open(batch_size=10**9)
    limit = int(_client(backend).get_max_batch_size())
    assert limit > 0
    assert index.batch_size == limit
    n = limit + 123
    chunks = [c for d in range(-(-n // 500)) for c in make_chunks(f"doc{d}", [f"t{d}-{i}" for i in range(500)])][:n]
    vectors = _unit(np.random.default_rng(2), n)
    index.add(chunks, vectors)
    assert index.count() == n
    for i in (0, limit - 1, limit, n - 1):  # both sides of the batch boundary
        assert index.search(vectors[i], 1)[0].chunk.id == chunks[i].id
    assert backend.open(batch_size=100).batch_size == 100


def test_setting_ef_search_waits_for_a_write_lock_held_a_moment(tmp_path: Path) -> None:
    """Another connection holding the embedded store's SQLite write lock for a moment (as a service over the same
    directory may, closing on a loaded machine) delays the open; it does not fail it."""
    VectorIndex(tmp_path / "chroma", ef_search=37).close()
    lock = sqlite3.connect(tmp_path / "chroma" / "chroma.sqlite3", timeout=0, check_same_thread=False)
    lock.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(2.0, lock.commit)
    release.start()
    try:
        index = VectorIndex(tmp_path / "chroma", ef_search=53)
        assert index.hnsw()["ef_search"] == 53
        index.close()
    finally:
        release.join()
        lock.close()
