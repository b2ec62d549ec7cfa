"""Side-by-side benchmark: our pipeline against a plain llama-index pipeline, on the same BEIR data.

``python -m eval.bench`` (or ``make bench``) indexes a SciFact subset twice per
repeat, in the same process, both sides with all-MiniLM-L6-v2 (each model loaded once):

* **ours**: ``assistant.service.Assistant`` over a fresh temporary data dir
  (``ingest_documents``, ``retrieve``, extractive ``ask`` on a sample);
* **llama-index**: ``VectorStoreIndex`` over llama-index ``Document``s with the
  default ``SentenceSplitter``, a ``ChromaVectorStore`` on an embedded
  ``PersistentClient`` in a temporary dir, and ``index.as_retriever``; its
  embedding model is a ``BaseEmbedding`` that calls an ``Embedder`` on torch
  (sentence-transformers, what a llama-index user of this model gets), while
  ours runs on the backend of our settings (``embed_backend``, ONNX Runtime by
  default: docs/embeddings.md).

Both are scored the same way (nDCG@10 on the document ranking, each document at
its best chunk) and the report gives medians over repeats plus the ratios
ours / llama-index measured within each repeat (median of the per-repeat ratios).
llama-index and chromadb types stay inside this module.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from assistant.config import get_settings
from assistant.service import Assistant
from assistant.types import Document
from eval.datasets import BeirDataset, load_beir
from eval.errors import EvalError
from eval.metrics import doc_ranking, mean, ndcg_at_k, percentile
from eval.runner import beir_documents
from index.embeddings import Embedder

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = REPO.parent / "shared" / "datasets" / "scifact"
DEFAULT_OUT = Path("reports") / "bench.md"
OURS = "ours"
BASELINE = "llama_index"
# metrics compared as ours / llama-index (per repeat, then the median of the ratios)
RATIO_KEYS = (
    "ingest_s",
    "ingest_cpu_s",
    "docs_per_s",
    "embedded_tokens",
    "embedded_tokens_per_s",
    "retrieval_p50_ms",
    "retrieval_p95_ms",
    "ndcg@10",
    "peak_rss_mb",
)
_ROWS = (
    ("ingest_s", "ingest (s)"),
    ("ingest_cpu_s", "ingest CPU (s, all threads of the process)"),
    ("docs_per_s", "ingest throughput (docs/s)"),
    ("chunks", "chunks indexed"),
    ("embedded_tokens", "word pieces embedded"),
    ("truncated_tokens", "word pieces cut off by the model's window"),
    ("embedded_tokens_per_s", "word pieces embedded per second of ingest"),
    ("retrieval_p50_ms", "retrieval p50 (ms)"),
    ("retrieval_p95_ms", "retrieval p95 (ms)"),
    ("ndcg@10", "nDCG@10"),
    ("ask_p50_ms", "ask p50 (ms, extractive)"),
    ("ask_p95_ms", "ask p95 (ms, extractive)"),
    ("peak_rss_mb", "peak RSS during run (MB)"),
    ("rss_growth_mb", "RSS growth during run (MB)"),
)


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class BenchData:
    """The documents both pipelines index and the queries they answer (all judged documents are indexed)."""

    name: str
    docs: tuple[Document, ...]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def select_subset(dataset: BeirDataset, n_docs: int) -> BenchData:
    """The first ``n_docs`` documents: every judged document (in qrels order) first, then the rest in file order.

    The queries kept are those whose relevant documents (grade > 0) are all in the subset.
    """
    if n_docs < 1:
        raise EvalError(f"the benchmark needs at least one document, not {n_docs}")
    docs = {d.id: d for d in beir_documents(dataset.corpus)}
    judged = [doc_id for qrels in dataset.qrels.values() for doc_id in qrels if doc_id in docs]
    order = list(dict.fromkeys([*judged, *docs]))[:n_docs]
    chosen = set(order)
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for qid, text in dataset.queries.items():
        relevant = {d for d, grade in dataset.qrels.get(qid, {}).items() if grade > 0}
        if relevant and relevant <= chosen:
            queries[qid] = text
            qrels[qid] = dict(dataset.qrels[qid])
    if not queries:
        raise EvalError(f"no {dataset.split} query of {dataset.name} has all its judged documents in {n_docs} docs")
    return BenchData(name=dataset.name, docs=tuple(docs[d] for d in order), queries=queries, qrels=qrels)


def load_bench_data(dir: Path, n_docs: int = 1000, split: str = "test") -> BenchData:
    """Load a BEIR directory and cut it down with ``select_subset``."""
    return select_subset(load_beir(Path(dir), split), n_docs)


def sample_evenly(items: Sequence[str], n: int) -> list[str]:
    """``n`` items spread evenly over ``items`` (all of them when there are fewer)."""
    if n >= len(items):
        return list(items)
    if n <= 0:
        return []
    return [items[i * len(items) // n] for i in range(n)]


# --------------------------------------------------------------------------- measuring


def configure_threads(threads: int) -> None:
    """Use ``threads`` torch threads for intra-op work and one for inter-op (the machine is small and shared)."""
    import torch

    torch.set_num_threads(max(1, threads))
    with contextlib.suppress(RuntimeError):  # only settable before the first parallel work
        torch.set_num_interop_threads(1)


def _psutil() -> Any:
    try:
        import psutil
    except ImportError:
        return None
    return psutil


def _rusage_peak_mb() -> float:
    """Peak RSS of this process so far (ru_maxrss is in KiB on Linux, bytes on macOS)."""
    peak = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def rss_source() -> str:
    return "psutil" if _psutil() is not None else "getrusage"


@dataclass
class _RssWindow:
    start_mb: float = 0.0
    peak_mb: float = 0.0

    @property
    def growth_mb(self) -> float:
        return max(0.0, self.peak_mb - self.start_mb)


@contextmanager
def _rss_window(interval: float = 0.05) -> Iterator[_RssWindow]:
    """Peak RSS while the block runs: sampled with psutil, else the process peak from getrusage."""
    gc.collect()
    psutil = _psutil()
    window = _RssWindow()
    if psutil is None:
        window.start_mb = _rusage_peak_mb()
        window.peak_mb = window.start_mb
        yield window
        window.peak_mb = _rusage_peak_mb()
        return
    process = psutil.Process()

    def rss() -> float:
        return float(process.memory_info().rss) / 2**20

    window.start_mb = window.peak_mb = rss()
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(interval):
            window.peak_mb = max(window.peak_mb, rss())

    sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    sampler.start()
    try:
        yield window
    finally:
        stop.set()
        sampler.join()
        window.peak_mb = max(window.peak_mb, rss())


@dataclass
class PipelineRun:
    """What one pipeline did in one repeat."""

    name: str
    ingest_s: float
    documents: int
    chunks: int
    retrieval_ms: list[float]
    ndcg: list[float]
    ask_ms: list[float] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    rss_growth_mb: float = 0.0
    ingest_cpu_s: float = 0.0  # process CPU (user + system, every thread) during the ingest: fair under load
    embedded_tokens: int = 0  # word pieces the model read (each text cut to its window), special tokens included
    truncated_tokens: int = 0  # word pieces of the indexed texts past the window: never embedded

    def metrics(self) -> dict[str, float]:
        out = {
            "ingest_s": self.ingest_s,
            "ingest_cpu_s": self.ingest_cpu_s,
            "docs_per_s": self.documents / self.ingest_s if self.ingest_s > 0 else 0.0,
            "chunks": float(self.chunks),
            "embedded_tokens": float(self.embedded_tokens),
            "truncated_tokens": float(self.truncated_tokens),
            "embedded_tokens_per_s": self.embedded_tokens / self.ingest_s if self.ingest_s > 0 else 0.0,
            "retrieval_p50_ms": percentile(self.retrieval_ms, 50),
            "retrieval_p95_ms": percentile(self.retrieval_ms, 95),
            "ndcg@10": mean(self.ndcg),
            "peak_rss_mb": self.peak_rss_mb,
            "rss_growth_mb": self.rss_growth_mb,
        }
        if self.ask_ms:
            out["ask_p50_ms"] = percentile(self.ask_ms, 50)
            out["ask_p95_ms"] = percentile(self.ask_ms, 95)
        return out


def _score_queries(
    name: str, data: BenchData, search: Callable[[str], list[str]], *, progress: bool
) -> tuple[list[float], list[float]]:
    """Run every query once (after one untimed warm-up query); returns (latencies in ms, nDCG@10 per query)."""
    qids = list(data.queries)
    search(data.queries[qids[0]])  # warm-up: first-query costs (caches, lazy loads) are not retrieval latency
    timings: list[float] = []
    scores: list[float] = []
    for qid in tqdm(qids, desc=f"{name} queries", unit="q", disable=not progress, leave=False):
        t0 = time.perf_counter()
        chunk_doc_ids = search(data.queries[qid])
        timings.append((time.perf_counter() - t0) * 1000)
        scores.append(ndcg_at_k(doc_ranking(chunk_doc_ids), data.qrels[qid], 10))
    return timings, scores


def token_budget(embedder: Embedder, texts: Sequence[str]) -> tuple[int, int]:
    """(word pieces the model embeds, word pieces cut off by its window) for ``texts``, special tokens included."""
    counts = embedder.count_tokens_batch(texts)
    embedded = sum(min(n, embedder.max_tokens) for n in counts)
    return embedded, sum(counts) - embedded


# --------------------------------------------------------------------------- pipelines


def run_ours(
    data: BenchData,
    embedder: Embedder,
    *,
    top_k: int = 20,
    ask_queries: Sequence[str] = (),
    progress: bool = False,
    **settings_overrides: object,
) -> PipelineRun:
    """Our ``Assistant`` over a fresh temporary data dir: ingest, retrieve every query, ask ``ask_queries``."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-ours-", ignore_cleanup_errors=True) as tmp,
        _rss_window() as rss,
    ):
        settings = get_settings(**{**settings_overrides, "data_dir": Path(tmp)})
        assistant = Assistant(settings, embedder=embedder)
        try:
            t0, c0 = time.perf_counter(), time.process_time()
            report = assistant.ingest_documents(data.docs, progress=progress)
            ingest_s, ingest_cpu_s = time.perf_counter() - t0, time.process_time() - c0
            if report.errors:
                raise EvalError(f"{len(report.errors)} documents failed to index: {report.errors}")
            chunks = assistant.vector.count()
            log.info("ours: indexed %d documents (%d chunks) in %.1f s", len(data.docs), chunks, ingest_s)
            embedded, truncated = token_budget(
                embedder, [c.indexed_text for d in data.docs for c in assistant.chunks(d.id)]
            )

            def search(query: str) -> list[str]:
                return [p.chunk.doc_id for p in assistant.retrieve(query, top_k=top_k)]

            timings, scores = _score_queries("ours", data, search, progress=progress)
            asks: list[float] = []
            for question in tqdm(ask_queries, desc="ours ask", unit="q", disable=not progress, leave=False):
                t1 = time.perf_counter()
                assistant.ask(question, mode="extractive")
                asks.append((time.perf_counter() - t1) * 1000)
        finally:
            assistant.close()
            _clear_chroma_cache()
    return PipelineRun(
        name=OURS,
        ingest_s=ingest_s,
        ingest_cpu_s=ingest_cpu_s,
        documents=len(data.docs),
        chunks=chunks,
        embedded_tokens=embedded,
        truncated_tokens=truncated,
        retrieval_ms=timings,
        ndcg=scores,
        ask_ms=asks,
        peak_rss_mb=rss.peak_mb,
        rss_growth_mb=rss.growth_mb,
    )


def llama_embedding(embedder: Embedder) -> Any:
    """Our ``Embedder`` as a llama-index ``BaseEmbedding`` (for use inside this module; the class is defined
    here because llama-index imports are slow)."""
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from pydantic import PrivateAttr

    class SharedMiniLMEmbedding(BaseEmbedding):
        """llama-index embedding model backed by an already loaded ``index.embeddings.Embedder``."""

        _embedder: Any = PrivateAttr()

        def __init__(self, embedder: Embedder, **kwargs: Any) -> None:
            kwargs.setdefault("model_name", embedder.name)
            kwargs.setdefault("embed_batch_size", embedder.batch_size)
            super().__init__(**kwargs)
            self._embedder = embedder

        @classmethod
        def class_name(cls) -> str:
            return "SharedMiniLMEmbedding"

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._embedder.embed_query(query).tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._embedder.embed([text])[0].tolist()

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._embedder.embed(texts).tolist()

    return SharedMiniLMEmbedding(embedder)


def _clear_chroma_cache() -> None:
    """Forget Chroma's per-path client systems, so closed temporary databases are not kept in memory."""
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()


def _llama_embedded_text(text: str | None, meta: Any) -> str:
    """The text llama-index gave the embedding model for a node it stored in Chroma (content in EMBED mode)."""
    from llama_index.core.schema import MetadataMode
    from llama_index.core.vector_stores.utils import metadata_dict_to_node

    node = metadata_dict_to_node(dict(meta or {}), text=text or "")
    return str(node.get_content(metadata_mode=MetadataMode.EMBED))


def run_llama_index(data: BenchData, embedder: Embedder, *, top_k: int = 20, progress: bool = False) -> PipelineRun:
    """The plain llama-index pipeline: ``VectorStoreIndex`` + ``ChromaVectorStore`` + default ``SentenceSplitter``."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from llama_index.core import Document as LlamaDocument
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.vector_stores.chroma import ChromaVectorStore

    llama_docs = [LlamaDocument(id_=d.id, text=d.text) for d in data.docs]
    embed_model = llama_embedding(embedder)
    with (
        tempfile.TemporaryDirectory(prefix="bench-llama-", ignore_cleanup_errors=True) as tmp,
        _rss_window() as rss,
    ):
        try:
            client = chromadb.PersistentClient(path=tmp, settings=ChromaSettings(anonymized_telemetry=False))
            # embedding_function=None: vectors always come from llama-index, never from Chroma's own model
            collection = client.get_or_create_collection("bench", embedding_function=None)
            storage = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection))
            t0, c0 = time.perf_counter(), time.process_time()
            index = VectorStoreIndex.from_documents(
                llama_docs,
                storage_context=storage,
                embed_model=embed_model,
                transformations=[SentenceSplitter()],
                show_progress=progress,
            )
            ingest_s, ingest_cpu_s = time.perf_counter() - t0, time.process_time() - c0
            chunks = int(collection.count())
            log.info("llama-index: indexed %d documents (%d chunks) in %.1f s", len(llama_docs), chunks, ingest_s)
            # what llama-index sent to the model: each node's content in embedding mode
            nodes = collection.get(include=["documents", "metadatas"])
            stored, metas = nodes["documents"] or [], nodes["metadatas"] or []
            texts = [_llama_embedded_text(doc, meta) for doc, meta in zip(stored, metas, strict=True)]
            embedded, truncated = token_budget(embedder, texts)
            retriever = index.as_retriever(similarity_top_k=top_k)

            def search(query: str) -> list[str]:
                return [n.node.ref_doc_id or "" for n in retriever.retrieve(query)]

            timings, scores = _score_queries("llama-index", data, search, progress=progress)
        finally:
            _clear_chroma_cache()
    return PipelineRun(
        name=BASELINE,
        ingest_s=ingest_s,
        ingest_cpu_s=ingest_cpu_s,
        documents=len(data.docs),
        chunks=chunks,
        embedded_tokens=embedded,
        truncated_tokens=truncated,
        retrieval_ms=timings,
        ndcg=scores,
        peak_rss_mb=rss.peak_mb,
        rss_growth_mb=rss.growth_mb,
    )


# --------------------------------------------------------------------------- the benchmark


def _medians(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    keys = [k for k in runs[0] if all(k in r for r in runs)]
    return {k: float(statistics.median(r[k] for r in runs)) for k in keys}


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def run_bench(
    data: BenchData,
    embedder: Embedder,
    *,
    repeats: int = 3,
    top_k: int = 20,
    ask_sample: int = 30,
    progress: bool = False,
    baseline_embedder: Embedder | None = None,
    **settings_overrides: object,
) -> dict[str, Any]:
    """Run both pipelines ``repeats`` times on ``data`` (alternating which goes first) and summarise: ours with
    ``embedder``, llama-index with ``baseline_embedder`` (``embedder`` too when not given).

    Returns a JSON-ready dict: ``pipelines`` (medians per pipeline), ``ratios``
    (median over repeats of ours / llama-index), ``repeats_detail`` and the context.
    """
    if repeats < 1:
        raise EvalError(f"repeats must be at least 1, not {repeats}")
    settings = get_settings(**settings_overrides)
    ask_queries = sample_evenly([data.queries[q] for q in data.queries], ask_sample)
    baseline = baseline_embedder or embedder
    embedder.embed(["warm-up"] * 4)  # first-call costs of the models go to neither pipeline
    baseline.embed(["warm-up"] * 4)
    details: list[dict[str, dict[str, float]]] = []
    for repeat in tqdm(range(repeats), desc="repeats", unit="run", disable=not progress):
        order = [OURS, BASELINE] if repeat % 2 == 0 else [BASELINE, OURS]
        measured: dict[str, dict[str, float]] = {}
        for name in order:
            log.info("repeat %d/%d: %s", repeat + 1, repeats, name)
            if name == OURS:
                run = run_ours(
                    data, embedder, top_k=top_k, ask_queries=ask_queries, progress=progress, **settings_overrides
                )
            else:
                run = run_llama_index(data, baseline, top_k=top_k, progress=progress)
            measured[name] = run.metrics()
        details.append(measured)
    pipelines = {name: _medians([d[name] for d in details]) for name in (OURS, BASELINE)}
    ratios: dict[str, float | None] = {}
    for key in RATIO_KEYS:
        per_repeat = [_ratio(d[OURS][key], d[BASELINE][key]) for d in details]
        known = [r for r in per_repeat if r is not None]
        ratios[key] = float(statistics.median(known)) if known else None
    return {
        "dataset": data.name,
        "documents": len(data.docs),
        "queries": len(data.queries),
        "ask_queries": len(ask_queries),
        "repeats": repeats,
        "top_k": top_k,
        "model": embedder.name,
        "embed_batch_size": embedder.batch_size,
        "embed_backends": {OURS: embedder.backend, BASELINE: baseline.backend},
        "torch_threads": _torch_threads(),
        "rss_source": rss_source(),
        "process_peak_rss_mb": _rusage_peak_mb(),
        "ours_settings": {
            "fusion": settings.fusion,
            "alpha": settings.alpha,
            "candidates": settings.candidates,
            "chunk_tokens": settings.chunk_tokens,
            "chunk_overlap_sentences": settings.chunk_overlap,
            "reranker": settings.reranker or None,
        },
        "llama_index_settings": _llama_settings(),
        "pipelines": pipelines,
        "ratios": ratios,
        "repeats_detail": details,
    }


def _backends(report: dict[str, Any]) -> str:
    backends = report.get("embed_backends") or {}
    return ", ".join(f"{side}: {backend}" for side, backend in backends.items()) or "one model, shared"


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def _llama_settings() -> dict[str, Any]:
    from importlib.metadata import version

    from llama_index.core.node_parser import SentenceSplitter

    splitter = SentenceSplitter()
    return {
        "llama_index_core": version("llama-index-core"),
        "splitter": f"SentenceSplitter(chunk_size={splitter.chunk_size}, chunk_overlap={splitter.chunk_overlap})",
        "vector_store": "ChromaVectorStore on chromadb.PersistentClient (default l2 space)",
        "retriever": "VectorStoreIndex.as_retriever (dense only)",
    }


# --------------------------------------------------------------------------- reporting


def _format(key: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if key == "chunks":
        return str(round(value))
    if key == "ndcg@10":
        return f"{value:.4f}"
    if key == "docs_per_s" or key.endswith("_mb"):
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"
    if key.endswith("_ms"):
        return f"{value:.1f}"
    return f"{value:.2f}"


def to_markdown(report: dict[str, Any]) -> str:
    """The comparison as a Markdown table (medians over repeats; ratio = ours / llama-index)."""
    ours, base, ratios = report["pipelines"][OURS], report["pipelines"][BASELINE], report["ratios"]
    settings = report["ours_settings"]
    lines = [
        f"## Benchmark: ours vs plain llama-index on {report['dataset']}",
        "",
        f"{report['documents']} documents, {report['queries']} test queries, {report['repeats']} repeats "
        f"(medians), top_k {report['top_k']} chunks, model {report['model']} (batch {report['embed_batch_size']}; "
        f"run by {_backends(report)}), {report['torch_threads']} torch threads, RSS via {report['rss_source']}.",
        "",
        "| metric | ours | llama-index | ours / llama-index |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, label in _ROWS:
        if key not in ours and key not in base:
            continue
        ratio = _format("ratio", ratios[key]) if ratios.get(key) is not None else ""
        lines.append(f"| {label} | {_format(key, ours.get(key))} | {_format(key, base.get(key))} | {ratio} |")
    lines += [
        "",
        f"ours: hybrid retrieval ({settings['fusion']} fusion, alpha {settings['alpha']}, "
        f"{settings['candidates']} candidates per retriever), chunks of {settings['chunk_tokens']} word pieces; "
        f"llama-index: {report['llama_index_settings']['splitter']}, dense only.",
        "Ratios are medians of the per-repeat ratios (both pipelines measured in the same repeat, alternating "
        "which runs first): below 1 means ours is smaller (faster for times), above 1 larger (faster for docs/s). "
        "Retrieval latency excludes one warm-up query per pipeline; ask is extractive, ours only. "
        f"Peak RSS is the whole process (model included) while the pipeline ran; process peak "
        f"{report['process_peak_rss_mb']:.0f} MB.",
    ]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write ``out`` (Markdown) and ``out`` with suffix ``.json``; returns both paths."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    json_path = out.with_suffix(".json")
    out.write_text(to_markdown(report), encoding="utf-8")
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return out, json_path


# --------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m eval.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="a BEIR directory (default: SciFact)")
    p.add_argument("--split", default="test", help="qrels split (default: test)")
    p.add_argument("--docs", type=int, default=1000, help="documents to index (judged ones first)")
    p.add_argument("--repeats", type=int, default=3, help="runs of each pipeline (medians are reported)")
    p.add_argument("--top-k", type=int, default=20, help="chunks both pipelines retrieve per query")
    p.add_argument("--ask-sample", type=int, default=30, help="queries timed through Assistant.ask (extractive)")
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1), help="torch threads")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown report; JSON goes next to it")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    configure_threads(args.threads)
    try:
        data = load_bench_data(args.dataset, args.docs, args.split)
    except (EvalError, OSError) as exc:
        sys.stderr.write(f"bench: {exc}\n")
        return 2
    log.info("%s: %d documents, %d queries", data.name, len(data.docs), len(data.queries))
    settings = get_settings()
    # each side's model, loaded once: ours on our settings' backend (ONNX Runtime by default), llama-index's on torch
    # (sentence-transformers), as a llama-index user of this model runs it
    embedder = Embedder(
        settings.embed_model,
        batch_size=settings.embed_batch_size,
        backend=settings.embed_backend,
        cache_dir=settings.embed_cache_dir,
    )
    baseline_embedder = Embedder(settings.embed_model, batch_size=settings.embed_batch_size, backend="torch")
    report = run_bench(
        data,
        embedder,
        repeats=args.repeats,
        top_k=args.top_k,
        ask_sample=args.ask_sample,
        progress=not args.quiet,
        baseline_embedder=baseline_embedder,
    )
    md_path, json_path = write_report(report, args.out)
    log.info("wrote %s and %s", md_path, json_path)
    sys.stdout.write(to_markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
