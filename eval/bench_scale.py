"""Scale benchmark: indexes of 10k, 100k and 1M chunks, and what each costs to search, answer, serve and change.

``python -m eval.bench_scale --sizes 10000,100000,1000000`` (or ``make bench-scale``) builds, per size, a data
directory that ``assistant serve`` opens as a normal index, then measures:

* retrieval p50/p95 (``Assistant.retrieve``: the HybridRetriever, dense + BM25 + fusion) and extractive ask
  p50/p95, in process, over real questions of the shared eval sets;
* dense recall@10 of Chroma's HNSW search against exact search (numpy over the same vectors), and its query
  latency, at several ``ef_search`` values (the index's own value is the headline figure);
* a real ``assistant serve`` subprocess on 127.0.0.1 over the directory: cold start (process start to the first
  answer), RSS from /proc after the asks, the time to upload a 20-page PDF and to delete it through the API,
  beside the time the PDF's own reading and embedding take in process;
* the directory's size on disk.

The text is real: chunks are recombined from sentences of the shared corpora (SciFact, COVID-QA, Coda, Solana,
the demo), so BM25 sees real vocabulary and term statistics. The dense side has real embeddings of the first
``--sample`` chunks and random unit vectors for the rest (embedding a million texts would take days on two
cores); the questions' nearest neighbours are therefore mostly in the real sample, while the random vectors
fill the graph that HNSW has to search. Building does not embed: catalog rows, chunks and vectors are written
through ``Catalog``, ``VectorIndex`` and ``LexicalIndex`` (add/commit only) in batches, as the service does.

Writes ``reports/scale.json``, ``reports/scale.md`` and one PNG per figure against index size.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from assistant.config import get_settings
from assistant.service import Assistant
from assistant.types import Chunk, Document
from eval.errors import EvalError
from eval.metrics import percentile
from index.catalog import Catalog
from index.embeddings import Embedder
from index.lexical import LexicalIndex
from index.sentence_vectors import store_path
from index.vector import VectorIndex

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
CHUNKS_PER_DOC = 20  # chunks of one synthetic document
BUILD_PROGRESS = "build-progress.json"  # an unfinished build's last checkpoint, in its data directory
SENTENCES = (3, 7)  # sentences per chunk (inclusive range)
MAX_CHUNK_CHARS = 1200
SEED = 16
EF_SEARCHES = (10, 20, 40, 100, 200)  # ef_search values whose recall and latency are measured on each index
PDF_PAGES = 20
WARM_QUESTION = "What is described first?"  # asked once before timing; not one of the timed questions
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")
# the figures plotted against index size: (file stem, title, y label, [(report key, legend)])
FIGURES: tuple[tuple[str, str, str, tuple[tuple[str, str], ...]], ...] = (
    ("retrieval", "Hybrid retrieval latency", "ms", (("retrieve_p50_ms", "p50"), ("retrieve_p95_ms", "p95"))),
    ("ask", "Extractive ask latency", "ms", (("ask_p50_ms", "p50"), ("ask_p95_ms", "p95"))),
    ("rss", "assistant serve RSS after the asks", "MB", (("serve_rss_mb", "RSS"),)),
    ("disk", "Data directory on disk", "MB", (("disk_mb", "disk"),)),
    ("cold_start", "Cold start (process start to first answer)", "s", (("cold_start_s", "cold start"),)),
    (
        "add_delete",
        f"Add and delete one {PDF_PAGES}-page PDF through the API",
        "s",
        (("add_pdf_s", "add (upload)"), ("pdf_embed_s", "its reading + embedding"), ("delete_pdf_s", "delete")),
    ),
    ("recall", "Dense recall@10 vs exact search", "recall@10", (("dense_recall_at_10", "recall@10"),)),
)


# ---------------------------------------------------------------------- text


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(" ".join(text.split())) if 20 <= len(s.strip()) <= 400]


def sentence_pool(shared: Path = SHARED) -> list[str]:
    """Sentences of the shared corpora, in a fixed order (duplicates dropped)."""
    texts: list[str] = []
    scifact = shared / "datasets" / "scifact" / "corpus.jsonl"
    if scifact.exists():
        with open(scifact, encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                texts.append(f"{row.get('title', '')}. {row.get('text', '')}")
    for name in ("covidqa", "braintrust_coda", "blockchain_solana"):
        path = shared / "datasets" / name / "rag_dataset.json"
        if path.exists():
            for example in json.loads(path.read_text(encoding="utf-8"))["examples"]:
                texts.extend(example.get("reference_contexts") or [])
    for path in sorted((shared / "datasets" / "braintrust_coda" / "source_files").glob("*.md")):
        texts.append(path.read_text(encoding="utf-8", errors="replace"))
    for path in sorted((shared / "corpus").glob("*.txt")):
        texts.append(path.read_text(encoding="utf-8", errors="replace"))
    seen: set[str] = set()
    pool: list[str] = []
    for text in texts:
        for sentence in _sentences(text):
            if sentence not in seen:
                seen.add(sentence)
                pool.append(sentence)
    if len(pool) < 100:
        raise EvalError(f"too few sentences in the shared corpora under {shared} ({len(pool)})")
    return pool


def questions(shared: Path = SHARED) -> list[str]:
    """Real questions of the shared eval sets, interleaved so any prefix mixes the sets."""
    sets: list[list[str]] = []
    scifact = shared / "datasets" / "scifact" / "queries.jsonl"
    if scifact.exists():
        with open(scifact, encoding="utf-8") as fh:
            sets.append([json.loads(line)["text"] for line in fh])
    for name in ("covidqa", "braintrust_coda", "blockchain_solana"):
        path = shared / "datasets" / name / "rag_dataset.json"
        if path.exists():
            sets.append([e["query"] for e in json.loads(path.read_text(encoding="utf-8"))["examples"]])
    demo = REPO / "eval" / "demo.jsonl"
    if demo.exists():
        sets.append([json.loads(line)["question"] for line in demo.read_text(encoding="utf-8").splitlines() if line])
    out: list[str] = []
    for i in range(max((len(s) for s in sets), default=0)):
        out.extend(s[i] for s in sets if i < len(s))
    if not out:
        raise EvalError(f"no questions found under {shared}")
    return out


def synthetic_document(pool: Sequence[str], number: int, seed: int = SEED) -> tuple[Document, list[Chunk]]:
    """Document ``number``: ``CHUNKS_PER_DOC`` chunks of recombined sentences; the same for every run and size."""
    rng = np.random.default_rng([seed, number])
    parts: list[str] = []
    for _ in range(CHUNKS_PER_DOC):
        count = int(rng.integers(SENTENCES[0], SENTENCES[1] + 1))
        picked = [pool[int(i)] for i in rng.integers(0, len(pool), size=count)]
        text = " ".join(picked)[:MAX_CHUNK_CHARS].strip()
        parts.append(text)
    text = "\n\n".join(parts)
    doc_id = hashlib.sha256(text.encode()).hexdigest()[:16]
    title = parts[0].split(". ")[0][:80]
    source = f"scale/doc-{number:07d}.txt"
    doc = Document(id=doc_id, title=title, source=source, text=text)
    chunks: list[Chunk] = []
    offset = 0
    for i, part in enumerate(parts):
        start = offset
        end = start + len(part)
        assert text[start:end] == part
        meta = {"title": title, "source": source, "page": None, "section": "", "context": title}
        chunks.append(Chunk(id=f"{doc_id}:{i:04d}", doc_id=doc_id, text=part, start=start, end=end, meta=meta))
        offset = end + 2
    return doc, chunks


def random_unit_vectors(first: int, count: int, dim: int, seed: int = SEED) -> np.ndarray:
    """Unit vectors for chunk positions ``first .. first+count`` (the same for a position in every run)."""
    out = np.empty((count, dim), dtype=np.float32)
    block = 4096
    for pos in range(first - first % block, first + count, block):
        rng = np.random.default_rng([seed, 7, pos // block])
        vectors = rng.standard_normal((block, dim), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        lo, hi = max(pos, first), min(pos + block, first + count)
        if lo < hi:
            out[lo - first : hi - first] = vectors[lo - pos : hi - pos]
    return out


@dataclass
class Corpus:
    """The text pool, the real embeddings of the sample and the vectors of any chunk position."""

    pool: list[str]
    real: np.ndarray  # embeddings of chunk positions 0 .. len(real)
    dim: int

    def vectors(self, first: int, count: int) -> np.ndarray:
        out = np.empty((count, self.dim), dtype=np.float32)
        real_end = min(first + count, len(self.real))
        if first < real_end:
            out[: real_end - first] = self.real[first:real_end]
        rest_from = max(first, len(self.real))
        if rest_from < first + count:
            out[rest_from - first :] = random_unit_vectors(rest_from, first + count - rest_from, self.dim)
        return out


def documents(pool: Sequence[str], first_doc: int, count: int) -> Iterator[tuple[Document, list[Chunk]]]:
    for number in range(first_doc, first_doc + count):
        yield synthetic_document(pool, number)


def load_corpus(embedder: Embedder, sample: int, work: Path) -> Corpus:
    """The pool and the real embeddings of the first ``sample`` chunks (cached in ``work``)."""
    pool = sentence_pool()
    sample_docs = -(-sample // CHUNKS_PER_DOC)
    key = hashlib.sha256(f"{embedder.name}|{len(pool)}|{pool[0]}|{pool[-1]}|{sample}|{SEED}".encode()).hexdigest()[:12]
    cache = work / f"real-{sample}-{key}.npy"
    if cache.exists():
        real = np.load(cache)
    else:
        texts = [c.indexed_text for _, cs in documents(pool, 0, sample_docs) for c in cs][:sample]
        log.info("embedding the real sample: %d chunks", len(texts))
        real = np.asarray(embedder.embed(texts, progress=True), dtype=np.float32)
        work.mkdir(parents=True, exist_ok=True)
        np.save(cache, real)
    return Corpus(pool=pool, real=real, dim=int(real.shape[1]))


# ---------------------------------------------------------------------- building


def build_index(
    data_dir: Path,
    size: int,
    corpus: Corpus,
    embedder_name: str,
    *,
    batch_docs: int = 250,
    checkpoint_batches: int = 20,
) -> tuple[float, float]:
    """Write ``size`` chunks (rounded up to whole documents) into a data directory; wall and CPU seconds taken.

    Rows, chunks and vectors go through the index components in batches: the catalog row of a document is
    written pending, its chunks into both indexes, and the rows are marked ready once the lexical index is
    committed, so the directory is what a finished ingest leaves. Every ``checkpoint_batches`` batches the lexical
    index is committed, the rows so far marked ready and ``build-progress.json`` written: a build that was
    stopped (a 1M-chunk build takes hours) continues from its last checkpoint when called again with the same
    size. Chunks added after that checkpoint are written again (``VectorIndex.add`` replaces an id); the seconds
    returned add up the calls, up to the last checkpoint of each stopped one.
    """
    progress_file = data_dir / BUILD_PROGRESS
    ids_part = data_dir / "build-ids.txt"
    progress: dict[str, Any] = {}
    if progress_file.is_file():
        progress = json.loads(progress_file.read_text())
        if progress.get("size") != size:
            progress = {}
    if not progress and data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    started, started_cpu = time.perf_counter(), time.process_time()
    catalog = Catalog(data_dir / "catalog.sqlite")
    index_id = progress.get("index_id") or uuid.uuid4().hex
    vector = VectorIndex(data_dir / "chroma")
    lexical = LexicalIndex(data_dir / "bm25")
    total_docs = -(-size // CHUNKS_PER_DOC)
    done_docs = int(progress.get("docs", 0))
    position = int(progress.get("position", 0))
    if progress:
        kept = ids_part.read_text().split("\n")[:position] if ids_part.is_file() else []
        if len(kept) != position:
            raise RuntimeError(f"{ids_part} holds {len(kept)} ids, the checkpoint says {position}: rebuild")
        ids_part.write_text("".join(f"{i}\n" for i in kept))
        log.info("continuing the build of %d chunks from document %d (%d chunks)", size, done_docs, position)
    else:
        catalog.set_setting("embed_model", embedder_name)
        catalog.set_setting("index_id", index_id)
        vector.set_owner(index_id)
        ids_part.write_text("")

    def checkpoint(docs: int) -> None:
        lexical.commit()
        with catalog.transaction():
            for entry in catalog.unfinished():
                catalog.set_state(entry.id, "ready")
        state = {
            "size": size,
            "index_id": index_id,
            "docs": docs,
            "position": position,
            "seconds": progress.get("seconds", 0.0) + time.perf_counter() - started,
            "cpu_s": progress.get("cpu_s", 0.0) + time.process_time() - started_cpu,
        }
        tmp = progress_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, progress_file)

    try:
        for number, first in enumerate(range(done_docs, total_docs, batch_docs), start=1):
            batch = list(documents(corpus.pool, first, min(batch_docs, total_docs - first)))
            chunks = [c for _, cs in batch for c in cs]
            with catalog.transaction():
                for doc, cs in batch:
                    catalog.put(doc, chunks=len(cs), fingerprint="", state="pending", origin=doc.source)
            vector.add(chunks, corpus.vectors(position, len(chunks)))
            lexical.add(chunks)
            with ids_part.open("a") as out:
                out.write("".join(f"{c.id}\n" for c in chunks))
            position += len(chunks)
            if number % checkpoint_batches == 0:
                checkpoint(first + len(batch))
                log.info(
                    "built %d / %d chunks (%.0f s)",
                    position,
                    total_docs * CHUNKS_PER_DOC,
                    time.perf_counter() - started,
                )
        checkpoint(total_docs)
    finally:
        vector.close()
        catalog.close()
    ids = [i for i in ids_part.read_text().split("\n") if i]
    (data_dir.parent / f"{data_dir.name}.ids.json").write_text(json.dumps(ids))
    final = json.loads(progress_file.read_text())
    progress_file.unlink()
    ids_part.unlink()
    return float(final["seconds"]), float(final["cpu_s"])


# ---------------------------------------------------------------------- measuring


def _ms(values: Sequence[float]) -> tuple[float, float]:
    return round(percentile(values, 50) * 1000, 2), round(percentile(values, 95) * 1000, 2)


def exact_top(corpus: Corpus, size: int, queries: np.ndarray, k: int = 10, block: int = 65_536) -> np.ndarray:
    """Positions of the ``k`` most similar chunks (cosine = dot product of unit vectors) per query, exactly."""
    best_scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_pos = np.zeros((len(queries), 0), dtype=np.int64)
    for first in range(0, size, block):
        count = min(block, size - first)
        scores = queries @ corpus.vectors(first, count).T
        scores = np.concatenate([best_scores, scores], axis=1)
        positions = np.concatenate(
            [best_pos, np.broadcast_to(np.arange(first, first + count), scores[:, -count:].shape)], axis=1
        )
        keep = np.argpartition(-scores, min(k, scores.shape[1] - 1), axis=1)[:, :k]
        best_scores = np.take_along_axis(scores, keep, axis=1)
        best_pos = np.take_along_axis(positions, keep, axis=1)
    return best_pos


def near_queries(corpus: Corpus, count: int, *, noise: float = 0.03, seed: int = SEED) -> np.ndarray:
    """``count`` query vectors each near one stored real chunk vector (Gaussian noise of sd ``noise`` per
    dimension, renormalised): queries whose exact top-10 is a real neighbourhood, not a near-tie of random
    vectors (real questions match no recombined chunk well, so their top-10 sits at low, almost equal
    similarities; recall against such ties says little about the graph)."""
    rng = np.random.default_rng([seed, 11])
    picked = corpus.real[rng.choice(len(corpus.real), size=min(count, len(corpus.real)), replace=False)]
    queries = picked + rng.standard_normal(picked.shape).astype(np.float32) * np.float32(noise)
    return (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)


def hnsw_m_sweep(
    corpus: Corpus,
    size: int,
    queries: np.ndarray,
    truth: np.ndarray,
    settings: Sequence[tuple[int, int]],
    ef_searches: Sequence[int],
    k: int = 10,
) -> list[dict[str, Any]]:
    """Recall@k and query CPU/wall time of bare Chroma collections (in memory) of the first ``size`` vectors,
    built with each (M, ef_construction) of ``settings``, at each ``ef_search``: what ``VectorIndex`` cannot
    vary after creation. ``truth`` holds positions from ``exact_top`` over the same ``size`` vectors."""
    import chromadb

    client = chromadb.EphemeralClient()
    rows: list[dict[str, Any]] = []
    for m, ef_construction in settings:
        name = f"sweep-{m}-{ef_construction}-{uuid.uuid4().hex[:8]}"
        t0, c0 = time.perf_counter(), time.process_time()
        collection = client.create_collection(
            name,
            configuration={"hnsw": {"space": "cosine", "max_neighbors": m, "ef_construction": ef_construction}},
        )
        step = min(5000, client.get_max_batch_size())
        for first in range(0, size, step):
            count = min(step, size - first)
            collection.add(ids=[str(p) for p in range(first, first + count)], embeddings=corpus.vectors(first, count))
        build_s, build_cpu_s = time.perf_counter() - t0, time.process_time() - c0
        for ef in ef_searches:
            collection.modify(configuration={"hnsw": {"ef_search": ef}})
            collection.query(query_embeddings=queries[:1], n_results=k)  # warm
            times: list[float] = []
            cpus: list[float] = []
            recalls: list[float] = []
            for query, exact in zip(queries, truth, strict=True):
                t0, c0 = time.perf_counter(), time.process_time()
                found = collection.query(query_embeddings=query[None, :], n_results=k)["ids"][0]
                times.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
                recalls.append(len({str(int(p)) for p in exact} & set(found)) / len(exact))
            p50, p95 = _ms(times)
            cpu50, cpu95 = _ms(cpus)
            rows.append(
                {
                    "size": size,
                    "M": m,
                    "ef_construction": ef_construction,
                    "build_s": round(build_s, 1),
                    "build_cpu_s": round(build_cpu_s, 1),
                    "ef_search": ef,
                    "recall_at_10": round(statistics.fmean(recalls), 4),
                    "p50_ms": p50,
                    "p95_ms": p95,
                    "cpu_p50_ms": cpu50,
                    "cpu_p95_ms": cpu95,
                }
            )
            log.info("HNSW sweep: %s", json.dumps(rows[-1]))
        client.delete_collection(name)
    return rows


def dense_recall(
    data_dir: Path,
    ids: Sequence[str],
    query_sets: dict[str, tuple[np.ndarray, np.ndarray]],
    ef_searches: Sequence[int],
    k: int = 10,
) -> dict[str, list[dict[str, Any]]]:
    """Recall@k and query latency of the HNSW search at each ``ef_search`` for each named set of (queries, exact
    positions); the collection is opened once per ``ef_search`` (reopening it more often has met Chroma's
    "database is locked")."""
    rows: dict[str, list[dict[str, Any]]] = {key: [] for key in query_sets}
    for ef in ef_searches:
        vector = VectorIndex(data_dir / "chroma", ef_search=ef)
        try:
            applied = vector.hnsw().get("ef_search")
            for key, (queries, truth) in query_sets.items():
                vector.search(queries[0], k)  # warm
                times: list[float] = []
                cpus: list[float] = []
                recalls: list[float] = []
                for query, exact in zip(queries, truth, strict=True):
                    t0, c0 = time.perf_counter(), time.process_time()
                    hits = vector.search(query, k)
                    times.append(time.perf_counter() - t0)
                    cpus.append(time.process_time() - c0)
                    wanted = {ids[int(p)] for p in exact}
                    recalls.append(len(wanted & {h.chunk.id for h in hits}) / len(wanted))
                p50, p95 = _ms(times)
                cpu50, cpu95 = _ms(cpus)
                rows[key].append(
                    {
                        "ef_search": ef,
                        "applied": applied,
                        "recall_at_10": round(statistics.fmean(recalls), 4),
                        "p50_ms": p50,
                        "p95_ms": p95,
                        "cpu_p50_ms": cpu50,
                        "cpu_p95_ms": cpu95,
                    }
                )
        finally:
            vector.close()
    return rows


def in_process(data_dir: Path, embedder: Embedder, asks: Sequence[str], pdf: Path) -> dict[str, Any]:
    """Retrieval and extractive ask latency through the service, and the PDF's own read + chunk + embed time."""
    settings = get_settings(data_dir=data_dir, chroma_url=None, reranker="", api_key=None, llm_base_url=None)
    # sentence vectors an earlier run kept beside the index would make every ask a repeat: start without them, so
    # "ask" is a question met for the first time and "repeat ask" the same question again
    for kept in store_path(data_dir).parent.glob(store_path(data_dir).name + "*"):
        kept.unlink()
    service = Assistant(settings, embedder=embedder)
    try:
        service.retrieve(WARM_QUESTION)  # warm: the lexical index and the HNSW graph load on first use
        service.ask(WARM_QUESTION, mode="extractive")
        retrieve: list[float] = []
        retrieve_cpu: list[float] = []
        for question in asks:
            t0, c0 = time.perf_counter(), time.process_time()
            service.retrieve(question)
            retrieve.append(time.perf_counter() - t0)
            retrieve_cpu.append(time.process_time() - c0)
        ask: list[float] = []
        ask_cpu: list[float] = []
        answered = 0
        for question in asks:
            t0, c0 = time.perf_counter(), time.process_time()
            answer = service.ask(question, mode="extractive")
            ask.append(time.perf_counter() - t0)
            ask_cpu.append(time.process_time() - c0)
            answered += bool(answer.citations)
        repeat_cpu: list[float] = []
        for question in asks:
            c0 = time.process_time()
            service.ask(question, mode="extractive")
            repeat_cpu.append(time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        chunks = service._chunk(service._read(pdf, pdf.name))  # noqa: SLF001 - the PDF's own cost, for comparison
        embedder.embed([c.indexed_text for c in chunks])
        pdf_embed, pdf_embed_cpu = time.perf_counter() - t0, time.process_time() - c0
        hnsw = service.vector.hnsw()
    finally:
        service.close()
    r50, r95 = _ms(retrieve)
    a50, a95 = _ms(ask)
    rc50, rc95 = _ms(retrieve_cpu)
    ac50, ac95 = _ms(ask_cpu)
    rp50, rp95 = _ms(repeat_cpu)
    return {
        "retrieve_p50_ms": r50,
        "retrieve_p95_ms": r95,
        "retrieve_cpu_p50_ms": rc50,
        "retrieve_cpu_p95_ms": rc95,
        "ask_p50_ms": a50,
        "ask_p95_ms": a95,
        "ask_cpu_p50_ms": ac50,
        "ask_cpu_p95_ms": ac95,
        "ask_repeat_cpu_p50_ms": rp50,
        "ask_repeat_cpu_p95_ms": rp95,
        "asks_answered": answered,
        "pdf_chunks": len(chunks),
        "pdf_embed_s": round(pdf_embed, 2),
        "pdf_embed_cpu_s": round(pdf_embed_cpu, 2),
        "hnsw": {k: v for k, v in hnsw.items() if k in ("space", "max_neighbors", "ef_construction", "ef_search")},
    }


def _rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB, from /proc."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024
    return round(values["VmRSS"], 1), round(values["VmHWM"], 1)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (and its waited-for children), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def served(data_dir: Path, asks: Sequence[str], pdf: Path, *, timeout: float = 900.0) -> dict[str, Any]:
    """A real ``assistant serve`` on 127.0.0.1 over ``data_dir``: cold start, RSS after the asks, and the time to
    upload ``pdf`` and to delete it again through the API."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(
        ASSISTANT_DATA_DIR=str(data_dir),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
        TOKENIZERS_PARALLELISM="false",
    )
    log_path = data_dir.parent / f"{data_dir.name}-serve.log"
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log_file:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "assistant.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        with httpx.Client(base_url=url, timeout=timeout) as client:
            body = {"question": asks[0], "mode": "extractive"}
            while True:
                if proc.poll() is not None:
                    raise EvalError(f"assistant serve exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
                if time.perf_counter() - started > timeout:
                    raise EvalError(f"assistant serve gave no answer within {timeout:.0f} s")
                try:
                    if client.post("/ask", json=body).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            cold_start = time.perf_counter() - started
            cold_start_cpu = _cpu_s(proc.pid)
            for question in asks:
                client.post("/ask", json={"question": question, "mode": "extractive"}).raise_for_status()
            rss, peak = _rss_mb(proc.pid)
            t0, c0 = time.perf_counter(), _cpu_s(proc.pid)
            with open(pdf, "rb") as fh:
                response = client.post("/documents", files={"files": (pdf.name, fh, "application/pdf")})
            add_s, add_cpu = time.perf_counter() - t0, _cpu_s(proc.pid) - c0
            response.raise_for_status()
            doc_id = response.json()["results"][0]["id"]
            t0, c0 = time.perf_counter(), _cpu_s(proc.pid)
            client.delete(f"/documents/{doc_id}").raise_for_status()
            delete_s, delete_cpu = time.perf_counter() - t0, _cpu_s(proc.pid) - c0
            rss_after, peak_after = _rss_mb(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return {
        "cold_start_s": round(cold_start, 2),
        "cold_start_cpu_s": round(cold_start_cpu, 2),
        "add_pdf_cpu_s": round(add_cpu, 2),
        "delete_pdf_cpu_s": round(delete_cpu, 2),
        "serve_rss_mb": rss,
        "serve_peak_rss_mb": max(peak, peak_after),
        "serve_rss_after_add_delete_mb": rss_after,
        "add_pdf_s": round(add_s, 2),
        "delete_pdf_s": round(delete_s, 2),
    }


def disk_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 1)


def make_pdf(path: Path, pages: int = PDF_PAGES) -> Path:
    """The first ``pages`` pages of the Solana whitepaper (a real PDF of the shared sets)."""
    from pypdf import PdfReader, PdfWriter

    source = SHARED / "datasets" / "blockchain_solana" / "BlockchainSolana.pdf"
    reader = PdfReader(source)
    if len(reader.pages) < pages:
        raise EvalError(f"{source} has {len(reader.pages)} pages, fewer than {pages}")
    writer = PdfWriter()
    for page in reader.pages[:pages]:
        writer.add_page(page)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        writer.write(fh)
    return path


def kept_rows(json_path: Path, measured: Sequence[int]) -> list[dict[str, Any]]:
    """Rows of an earlier report for sizes not measured in this run, each naming the command that measured it."""
    if not json_path.is_file():
        return []
    try:
        earlier = json.loads(json_path.read_text())
    except ValueError as exc:
        raise EvalError(f"{json_path} is not a scale report: {exc}") from exc
    rows = []
    for row in earlier.get("sizes", []):
        if int(row["size"]) in measured:
            continue
        row.setdefault("command", earlier.get("command", ""))
        rows.append(row)
    return rows


def measure_size(
    size: int,
    corpus: Corpus,
    embedder: Embedder,
    work: Path,
    *,
    asks: Sequence[str],
    recall_queries: np.ndarray,
    near_recall_queries: np.ndarray,
    pdf: Path,
    rebuild: bool,
    ef_searches: Sequence[int],
) -> dict[str, Any]:
    data_dir = work / f"index-{size}"
    ids_file = work / f"index-{size}.ids.json"
    build_s = build_cpu_s = None
    unfinished = (data_dir / BUILD_PROGRESS).is_file()
    if rebuild or unfinished or not ids_file.exists() or not (data_dir / "catalog.sqlite").exists():
        if rebuild and data_dir.exists():
            shutil.rmtree(data_dir)
        log.info("building %d chunks in %s", size, data_dir)
        wall, cpu = build_index(data_dir, size, corpus, embedder.name)
        build_s, build_cpu_s = round(wall, 1), round(cpu, 1)
    ids = json.loads(ids_file.read_text())
    row: dict[str, Any] = {
        "size": len(ids),
        "build_s": build_s,
        "build_cpu_s": build_cpu_s,
        "disk_mb": disk_mb(data_dir),
    }
    log.info("%d chunks: in-process latency", len(ids))
    row.update(in_process(data_dir, embedder, asks, pdf))
    gc.collect()
    log.info("%d chunks: exact search and HNSW recall", len(ids))
    current = row["hnsw"].get("ef_search")
    efs = sorted(set(ef_searches) | {int(current)})
    # headline: queries near stored real vectors (a real neighbourhood); beside it the real questions (near-ties)
    query_sets = {
        key: (queries, exact_top(corpus, len(ids), queries))
        for key, queries in (("near", near_recall_queries), ("questions", recall_queries))
    }
    sweeps = dense_recall(data_dir, ids, query_sets, efs)
    for key, sweep in sweeps.items():
        row[f"hnsw_sweep_{key}"] = sweep
        headline = next(r for r in sweep if r["ef_search"] == current)
        suffix = "" if key == "near" else "_questions"
        row[f"dense_recall_at_10{suffix}"] = headline["recall_at_10"]
        row[f"dense_p50_ms{suffix}"] = headline["p50_ms"]
        row[f"dense_cpu_p50_ms{suffix}"] = headline["cpu_p50_ms"]
    log.info("%d chunks: assistant serve", len(ids))
    row.update(served(data_dir, asks[: min(len(asks), 20)], pdf))
    log.info("%d chunks: %s", len(ids), json.dumps({k: v for k, v in row.items() if k != "hnsw_sweep"}))
    return row


# ---------------------------------------------------------------------- reporting


def plot(rows: Sequence[dict[str, Any]], out_dir: Path) -> list[str]:
    """One PNG per figure against index size (log x); returns the file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    sizes = [r["size"] for r in rows]
    for stem, title, unit, series in FIGURES:
        fig, ax = plt.subplots(figsize=(6, 4))
        for key, label in series:
            ax.plot(
                sizes,
                [float(r[key]) if r.get(key) is not None else float("nan") for r in rows],
                marker="o",
                label=label,
            )
        ax.set_xscale("log")
        ax.set_xlabel("chunks in the index")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        if len(series) > 1:
            ax.legend()
        fig.tight_layout()
        name = f"scale_{stem}.png"
        fig.savefig(out_dir / name, dpi=100)
        plt.close(fig)
        names.append(name)
    return names


def render(report: dict[str, Any]) -> str:
    rows = report["sizes"]
    cols = [
        ("chunks", "size"),
        ("build s", "build_s"),
        ("disk MB", "disk_mb"),
        ("retrieve p50 ms", "retrieve_p50_ms"),
        ("retrieve p95 ms", "retrieve_p95_ms"),
        ("ask p50 ms", "ask_p50_ms"),
        ("ask p95 ms", "ask_p95_ms"),
        ("serve RSS MB", "serve_rss_mb"),
        ("cold start s", "cold_start_s"),
        ("add PDF s", "add_pdf_s"),
        ("its embedding s", "pdf_embed_s"),
        ("delete PDF s", "delete_pdf_s"),
        ("dense recall@10 (near stored)", "dense_recall_at_10"),
        ("dense recall@10 (questions)", "dense_recall_at_10_questions"),
    ]
    cpu_cols = [
        ("chunks", "size"),
        ("build CPU s", "build_cpu_s"),
        ("retrieve CPU p50 ms", "retrieve_cpu_p50_ms"),
        ("retrieve CPU p95 ms", "retrieve_cpu_p95_ms"),
        ("ask CPU p50 ms", "ask_cpu_p50_ms"),
        ("ask CPU p95 ms", "ask_cpu_p95_ms"),
        ("repeat ask CPU p50 ms", "ask_repeat_cpu_p50_ms"),
        ("cold start CPU s", "cold_start_cpu_s"),
        ("add PDF CPU s (server)", "add_pdf_cpu_s"),
        ("its embedding CPU s", "pdf_embed_cpu_s"),
        ("delete PDF CPU s (server)", "delete_pdf_cpu_s"),
    ]
    lines = [
        "# Scale benchmark",
        "",
        f"`{report['command']}` on {report['machine']}. Chunks are recombined sentences of the shared corpora "
        f"(real text for BM25); the first {report['real_sample']:,} chunks have real {report['embed_model']} "
        "embeddings, the rest random unit vectors. "
        f"{len(report['asks'])} real questions per latency figure; dense recall@10 against exact (numpy) search "
        f"over {report['recall_queries']} question embeddings. The PDF is the first {PDF_PAGES} pages of the "
        "Solana whitepaper, uploaded to and deleted from a real `assistant serve`; 'its embedding' is its "
        "reading, chunking and embedding in process, for comparison. Dense recall 'near stored': "
        f"{report.get('near_recall_queries', 0)} query vectors each near a stored real chunk vector (noise sd "
        "0.03 per dimension); 'questions': the real questions' embeddings, whose exact top-10 are near-ties.",
        "",
        "Wall-clock times (inflated by whatever else runs on the machine):",
        "",
    ]

    def table(columns: list[tuple[str, str]]) -> list[str]:
        out = ["| " + " | ".join(c for c, _ in columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
        for row in rows:
            out.append(
                "| "
                + " | ".join(
                    "" if row.get(k) is None else f"{row[k]:,}" if isinstance(row[k], int) else str(row[k])
                    for _, k in columns
                )
                + " |"
            )
        return out

    lines += table(cols)
    lines += ["", "CPU time of the measuring process (in process) or of the server process (serve):", ""]
    lines += table(cpu_cols)
    if any(row.get("command", report["command"]) != report["command"] for row in rows):
        lines += ["", "Sizes measured by different runs:", ""]
        lines += [
            f"- {int(row['size']):,} chunks: `{row.get('command', '')}` ({row.get('measured_on', 'date not recorded')})"
            for row in rows
        ]
    lines += [
        "",
        "## HNSW search: recall@10 against exact search, by ef_search (the index's own M / ef_construction)",
        "",
        "| chunks | queries | M | ef_construction | ef_search | recall@10 | p50 ms | p95 ms | CPU p50 ms"
        " | CPU p95 ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        for key in ("near", "questions"):
            for s in row.get(f"hnsw_sweep_{key}", []):
                lines.append(
                    f"| {row['size']:,} | {key} | {row['hnsw'].get('max_neighbors')}"
                    f" | {row['hnsw'].get('ef_construction')} | {s['ef_search']} | {s['recall_at_10']}"
                    f" | {s['p50_ms']} | {s['p95_ms']} | {s.get('cpu_p50_ms')} | {s.get('cpu_p95_ms')} |"
                )
    if report.get("m_sweep"):
        lines += [
            "",
            "## HNSW settings sweep (bare in-memory Chroma collections, queries near stored vectors)",
            "",
            "| chunks | M | ef_construction | build s (CPU) | ef_search | recall@10 | p50 ms | p95 ms | CPU p50 ms |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for s in report["m_sweep"]:
            lines.append(
                f"| {s['size']:,} | {s['M']} | {s['ef_construction']} | {s['build_s']} ({s['build_cpu_s']})"
                f" | {s['ef_search']} | {s['recall_at_10']} | {s['p50_ms']} | {s['p95_ms']} | {s['cpu_p50_ms']} |"
            )
    lines += ["", "## Figures", ""] + [f"![{n}]({n})" for n in report.get("plots", [])]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.bench_scale", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes", default=",".join(str(s) for s in DEFAULT_SIZES), help="index sizes in chunks, comma-separated"
    )
    parser.add_argument("--sample", type=int, default=10_000, help="chunks with real embeddings")
    parser.add_argument("--asks", type=int, default=60, help="questions per latency figure")
    parser.add_argument("--recall-queries", type=int, default=200, help="question embeddings for recall@10")
    parser.add_argument(
        "--ef-search", default=",".join(str(e) for e in EF_SEARCHES), help="ef_search values measured for recall"
    )
    parser.add_argument("--work", type=Path, default=REPO / "var" / "bench-scale", help="where indexes are built")
    parser.add_argument("--out", type=Path, default=REPO / "reports", help="report directory")
    parser.add_argument("--rebuild", action="store_true", help="build again even if an index of a size exists")
    parser.add_argument(
        "--keep-other-sizes",
        action="store_true",
        help="keep the rows of sizes not measured now from the report already in --out (each row names its command)",
    )
    parser.add_argument(
        "--build-only", action="store_true", help="build (or continue building) the indexes, measure nothing"
    )
    parser.add_argument(
        "--m-sweep",
        default="",
        help="M:ef_construction pairs (e.g. 16:100,32:200) measured on bare collections of --m-sweep-size vectors",
    )
    parser.add_argument("--m-sweep-size", type=int, default=20_000, help="vectors in each --m-sweep collection")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        ef_searches = [int(e) for e in args.ef_search.split(",") if e.strip()]
    except ValueError:
        parser.error("--sizes and --ef-search take comma-separated integers")
    if not sizes or min(sizes) < CHUNKS_PER_DOC:
        parser.error(f"sizes must be at least {CHUNKS_PER_DOC} chunks")
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    embedder = Embedder(batch_size=64)
    corpus = load_corpus(embedder, min(args.sample, max(sizes)), args.work)
    if args.build_only:
        for size in sorted(sizes):
            data_dir = args.work / f"index-{size}"
            if args.rebuild and data_dir.exists():
                shutil.rmtree(data_dir)
            if (data_dir / BUILD_PROGRESS).is_file() or not (args.work / f"index-{size}.ids.json").exists():
                wall, cpu = build_index(data_dir, size, corpus, embedder.name)
                print(f"{size} chunks built in {wall:.0f} s ({cpu:.0f} s CPU)")  # noqa: T201
        return 0
    all_questions = questions()
    asks = all_questions[: args.asks]
    recall_questions = all_questions[: args.recall_queries]
    recall_queries = np.stack([embedder.embed_query(q) for q in recall_questions]).astype(np.float32)
    near_recall_queries = near_queries(corpus, args.recall_queries)
    pdf = make_pdf(args.work / "solana-20-pages.pdf")
    rows: list[dict[str, Any]] = []
    json_path = args.out / "scale.json"
    command = "python -m eval.bench_scale " + " ".join(argv if argv is not None else sys.argv[1:])
    kept = kept_rows(json_path, sizes) if args.keep_other_sizes else []
    report: dict[str, Any] = {
        "command": command,
        "machine": f"{os.cpu_count()} CPUs",
        "embed_model": embedder.name,
        "real_sample": len(corpus.real),
        "vectors": "real embeddings for the first real_sample chunks, random unit vectors for the rest",
        "asks": list(asks),
        "recall_queries": len(recall_questions),
        "near_recall_queries": len(near_recall_queries),
        "sizes": rows,
    }
    if args.m_sweep:
        try:
            pairs = [(int(a), int(b)) for a, b in (p.split(":") for p in args.m_sweep.split(",") if p.strip())]
        except ValueError:
            parser.error("--m-sweep takes M:ef_construction pairs, comma-separated")
        truth = exact_top(corpus, args.m_sweep_size, near_recall_queries)
        report["m_sweep"] = hnsw_m_sweep(corpus, args.m_sweep_size, near_recall_queries, truth, pairs, ef_searches)
    rows.extend(kept)
    for size in sorted(sizes):
        rows.append(
            measure_size(
                size,
                corpus,
                embedder,
                args.work,
                asks=asks,
                recall_queries=recall_queries,
                near_recall_queries=near_recall_queries,
                pdf=pdf,
                rebuild=args.rebuild,
                ef_searches=ef_searches,
            )
        )
        rows[-1]["command"] = command
        rows[-1]["measured_on"] = time.strftime("%Y-%m-%d")
        rows.sort(key=lambda row: int(row["size"]))
        report["plots"] = plot(rows, args.out)
        json_path.write_text(json.dumps(report, indent=2) + "\n")
        (args.out / "scale.md").write_text(render(report))
    print(render(report))  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
