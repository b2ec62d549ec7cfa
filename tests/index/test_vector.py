"""VectorIndex behaviour, shared by embedded Chroma and a real Chroma server (the ``backend`` fixture)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.types import Chunk
from index.embeddings import Embedder
from index.errors import ChromaUnavailable
from index.vector import VectorIndex
from tests.index.conftest import ChromaServer, VectorBackend, free_port
from tests.index.helpers import make_chunks

ALPHA = make_chunks(
    "alpha",
    [
        "The lighthouse keeper lit the lamp every evening at dusk.",
        "Storms on the coast wrecked three fishing boats last winter.",
        "The harbour master keeps a log of every ship entering port.",
    ],
)
BETA = make_chunks(
    "beta",
    [
        "Sourdough bread needs a starter culture of wild yeast.",
        "Knead the dough for ten minutes, then let it rise overnight.",
    ],
    page=3,
)
GAMMA = make_chunks("gamma", ["Volcanic eruptions can cool the climate for several years."], tags=["geo", "climate"])
ALL = ALPHA + BETA + GAMMA


@pytest.fixture(scope="module")
def vectors(embedder: Embedder) -> dict[str, np.ndarray]:
    return {c.id: v for c, v in zip(ALL, embedder.embed([c.text for c in ALL]), strict=True)}


def _fill(index: VectorIndex, vectors: dict[str, np.ndarray], chunks: list[Chunk] = ALL) -> None:
    index.add(chunks, np.stack([vectors[c.id] for c in chunks]))


def test_add_and_search_scores_are_cosine_best_first(
    backend: VectorBackend, embedder: Embedder, vectors: dict[str, np.ndarray]
) -> None:
    index = backend.open()
    _fill(index, vectors)
    assert index.count() == len(ALL)
    assert index.doc_ids() == {"alpha", "beta", "gamma"}
    query = embedder.embed_query("How long should bread dough rise?")
    hits = index.search(query, 4)
    assert len(hits) == 4
    assert hits[0].chunk == BETA[1]  # the whole chunk comes back, meta included
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    for hit in hits:
        assert hit.score == pytest.approx(float(vectors[hit.chunk.id] @ query), abs=1e-4)


def test_search_more_than_stored_and_empty_index(backend: VectorBackend, vectors: dict[str, np.ndarray]) -> None:
    index = backend.open()
    assert index.search(vectors[ALPHA[0].id], 5) == []
    _fill(index, vectors, GAMMA)
    hits = index.search(vectors[ALPHA[0].id], 50)
    assert [h.chunk.id for h in hits] == [GAMMA[0].id]


def test_doc_filter_happens_in_chroma(backend: VectorBackend, vectors: dict[str, np.ndarray]) -> None:
    index = backend.open()
    _fill(index, vectors)
    query = vectors[BETA[0].id]  # closest to beta, but beta is filtered out
    only_alpha = index.search(query, 10, doc_ids={"alpha"})
    assert {h.chunk.doc_id for h in only_alpha} == {"alpha"}
    assert len(only_alpha) == len(ALPHA)
    two = index.search(query, 10, doc_ids=["alpha", "gamma", "missing"])
    assert {h.chunk.doc_id for h in two} == {"alpha", "gamma"}
    assert index.search(query, 10, doc_ids=[]) == []
    assert index.search(query, 10, doc_ids={"missing"}) == []


def test_meta_survives_the_round_trip(backend: VectorBackend, vectors: dict[str, np.ndarray]) -> None:
    index = backend.open()
    _fill(index, vectors)
    assert index.chunks("beta") == BETA  # page=3, title, source
    assert index.chunks("gamma") == GAMMA  # a list in meta
    assert index.chunks("alpha")[0].meta["page"] is None


def test_chunks_are_ordered_by_start(backend: VectorBackend, vectors: dict[str, np.ndarray]) -> None:
    index = backend.open()
    _fill(index, vectors, list(reversed(ALPHA)))
    assert [c.id for c in index.chunks("alpha")] == [c.id for c in ALPHA]
    assert index.chunks("missing") == []


def test_delete_removes_one_document(backend: VectorBackend, vectors: dict[str, np.ndarray]) -> None:
    index = backend.open()
    _fill(index, vectors)
    index.delete("alpha")
    assert index.count() == len(BETA) + len(GAMMA)
    assert index.doc_ids() == {"beta", "gamma"}
    assert all(h.chunk.doc_id != "alpha" for h in index.search(vectors[ALPHA[0].id], 10))
    index.delete("alpha")  # deleting again is harmless
    index.delete("never-there")
    assert index.count() == len(BETA) + len(GAMMA)


def test_adding_a_chunk_id_again_replaces_it(
    backend: VectorBackend, embedder: Embedder, vectors: dict[str, np.ndarray]
) -> None:
    index = backend.open()
    _fill(index, vectors)
    new_text = "Glass lenses focus the beam of the lighthouse."
    changed = ALPHA[0].model_copy(update={"text": new_text, "end": len(new_text)})
    index.add([changed], embedder.embed([new_text]))
    assert index.count() == len(ALL)
    assert index.chunks("alpha")[0] == changed
    hit = index.search(embedder.embed_query("lens that focuses a light beam"), 1)[0]
    assert hit.chunk == changed


def test_replacing_a_document_by_delete_then_add(
    backend: VectorBackend, embedder: Embedder, vectors: dict[str, np.ndarray]
) -> None:
    index = backend.open()
    _fill(index, vectors)
    version2 = make_chunks("alpha", ["The lighthouse was automated in 1990 and the keeper retired."])
    index.delete("alpha")
    index.add(version2, embedder.embed([c.text for c in version2]))
    assert index.chunks("alpha") == version2
    assert index.count() == len(version2) + len(BETA) + len(GAMMA)


def test_large_adds_are_batched(backend: VectorBackend) -> None:
    index = backend.open(batch_size=7)
    rng = np.random.default_rng(0)
    chunks = [c for d in range(5) for c in make_chunks(f"doc{d}", [f"text {d} {i}" for i in range(6)])]
    embeddings = rng.normal(size=(len(chunks), 384)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    index.add(chunks, embeddings)
    assert index.count() == 30
    assert index.doc_ids() == {f"doc{d}" for d in range(5)}
    assert index.search(embeddings[17], 1)[0].chunk == chunks[17]


def test_add_rejects_mismatched_embeddings(backend: VectorBackend, vectors: dict[str, np.ndarray]) -> None:
    index = backend.open()
    with pytest.raises(ValueError, match="embeddings"):
        index.add(ALPHA, np.stack([vectors[c.id] for c in BETA]))
    assert index.count() == 0


@pytest.mark.slow
def test_contents_persist_across_reopen(backend: VectorBackend, vectors: dict[str, np.ndarray]) -> None:
    index = backend.open()
    _fill(index, vectors)
    index.delete("gamma")
    query = vectors[ALPHA[2].id]
    before = index.search(query, 3)
    index.close()  # as when the process that wrote it ends: embedded Chroma is one process at a time
    index.close()
    after = backend.snapshot_after_reopen(query, 3)
    assert after["count"] == len(ALPHA) + len(BETA)
    assert after["doc_ids"] == ["alpha", "beta"]
    assert [hit[0] for hit in after["search"]] == [h.chunk.id for h in before]
    assert [hit[1] for hit in after["search"]] == pytest.approx([h.score for h in before], abs=1e-4)
    assert [Chunk(**c) for c in after["chunks"]["beta"]] == BETA


def test_unreachable_server_is_reported() -> None:
    with pytest.raises(ChromaUnavailable, match="cannot reach the Chroma server"):
        VectorIndex(url=f"http://127.0.0.1:{free_port()}")


def test_constructor_needs_exactly_one_location(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        VectorIndex()
    with pytest.raises(ValueError):
        VectorIndex(tmp_path, url="http://127.0.0.1:8000")
    with pytest.raises(ValueError, match="URL"):
        VectorIndex(url="127.0.0.1:8000")


@pytest.mark.slow
def test_server_going_away_is_reported(tmp_path: Path, vectors: dict[str, np.ndarray]) -> None:
    server = ChromaServer(tmp_path / "data", free_port())
    server.start()
    try:
        index = VectorIndex(url=server.url, collection="gone")
        _fill(index, vectors, GAMMA)
        assert index.count() == 1
    finally:
        server.stop()
    with pytest.raises(ChromaUnavailable, match="lost the Chroma server"):
        index.search(vectors[GAMMA[0].id], 1)


def test_reading_imports_no_llama_index_until_the_first_write(tmp_path: Path) -> None:
    """Opening and searching an index (what `assistant serve` does at start) leaves llama-index unimported; the
    first write imports it and writes llama-index's node format, which the reads then return whole."""
    import subprocess
    import sys

    script = """
import sys
from pathlib import Path
import numpy as np
from index.vector import VectorIndex
from tests.index.helpers import make_chunks

path, mode = Path(sys.argv[1]), sys.argv[2]
chunks = make_chunks("doc", ["first chunk", "second chunk"], page=2)
vectors = np.eye(2, 8, dtype=np.float32)
index = VectorIndex(path)
if mode == "write":
    index.add(chunks, vectors)
else:
    hits = index.search(vectors[1], 2)
    assert [h.chunk for h in hits] == [chunks[1], chunks[0]], hits
    assert index.chunks("doc") == chunks
    print("after reads:", any(m.startswith("llama_index") for m in sys.modules))
    index.delete("doc")
    print("after a write:", any(m.startswith("llama_index") for m in sys.modules))
    assert index.count() == 0
index.close()
"""
    root = Path(__file__).resolve().parents[2]
    for mode in ("write", "read"):  # each in a fresh process
        done = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "chroma"), mode],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=root,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    assert "after reads: False" in done.stdout
    assert "after a write: True" in done.stdout
