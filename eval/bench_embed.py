"""Embedding throughput: the bare model beside the ingest pipeline, and the backends sentence-transformers offers.

``python -m eval.bench_embed pipeline`` indexes SciFact documents through ``Assistant.ingest_documents`` and
embeds the very texts it indexed (each chunk's ``indexed_text``) with the bare model in one ``embed`` call, in the
same process with the same loaded model, alternating which goes first; the pipeline's overhead is its time over
the bare model's, minus one (target: at most 10 %). ``--profile`` adds where the pipeline's time goes.

``python -m eval.bench_embed backends`` embeds a sample of the same chunk texts with torch, our torch-free ONNX
Runtime runner (``onnxruntime``: index/onnx_embedding.py, its graph fused by onnxruntime's optimizer, and
``onnxruntime-plain``: the export as torch wrote it), sentence-transformers' ONNX Runtime backends (optimum's plain
export and O1-O4 graphs, and a dynamically quantised int8 copy) and OpenVINO, each built locally from the packaged
weights into ``--cache`` (never downloaded), and reports each one's time (wall and CPU) beside torch's (measured in
the same repeat, rotating the order), the CPU time of ``--queries`` questions embedded one at a time on one thread,
and the lowest cosine between its vector and torch's over the chunks and ``--agreement-texts`` texts of each other
set (sentences of the shared corpora, questions of the eval sets, sentences of the demo corpus). Backends whose
packages (optimum, onnx, openvino) are missing are reported as such.

``python -m eval.bench_embed startup`` times ``import`` + constructing an ``Embedder`` (and one embedding) in a
fresh process for each of ``--backends`` (CPU and wall, alternating, ``--repeats`` times), and lists which of
torch, transformers, sentence_transformers and sklearn that process imported.

Writes ``reports/embed.{md,json}`` (``--out``). Figures and the decisions taken from them: docs/embeddings.md.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.config import get_settings
from assistant.service import Assistant
from eval.bench import DEFAULT_DATASET, BenchData, configure_threads, load_bench_data
from eval.errors import EvalError
from index import onnx_embedding
from index.embeddings import SENTENCE_TRANSFORMERS_BACKENDS, Embedder, default_model_path, exportable_copy, load_backend
from ingest.chunking import chunk_document

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = Path("reports") / "embed.md"
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "assistant-embed-backends"
AGREEMENT = 0.999  # lowest cosine to torch's vector, over every text of the sample, for a backend to be kept
# pipeline stages whose cumulative time the profile reports: (name, file of this project, function)
STAGES = (
    ("chunking", "assistant/service.py", "_chunk"),
    ("  of which token counting", "index/embeddings.py", "count_tokens"),
    ("embedding", "index/embeddings.py", "embed"),
    ("Chroma add", "index/vector.py", "add"),
    ("lexical add", "index/lexical.py", "add"),
    ("catalog put", "index/catalog.py", "put"),
    ("commit", "assistant/service.py", "_commit"),
)


# --------------------------------------------------------------------------- the pipeline beside the bare model


def embedded_tokens(embedder: Embedder, texts: Sequence[str]) -> int:
    """Word pieces the model reads for ``texts`` (each truncated to its window), special tokens included."""
    return sum(min(embedder.count_tokens(t), embedder.max_tokens) for t in texts)


def _ingest(data: BenchData, embedder: Embedder, profile: cProfile.Profile | None) -> tuple[float, float, list[str]]:
    """Index ``data`` in a fresh data dir; (seconds, CPU seconds of the process: every thread, the reader's and
    ONNX Runtime's included; the indexed texts in chunk order)."""
    with tempfile.TemporaryDirectory(prefix="bench-embed-", ignore_cleanup_errors=True) as tmp:
        assistant = Assistant(get_settings(data_dir=Path(tmp)), embedder=embedder)
        try:
            if profile is not None:
                profile.enable()
            t0, c0 = time.perf_counter(), time.process_time()
            report = assistant.ingest_documents(data.docs)
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            if profile is not None:
                profile.disable()
            if report.errors:
                raise EvalError(f"{len(report.errors)} documents failed to index: {report.errors}")
            texts = [c.indexed_text for d in data.docs for c in assistant.chunks(d.id)]
        finally:
            assistant.close()
            from chromadb.api.client import SharedSystemClient

            SharedSystemClient.clear_system_cache()
    return seconds, cpu, texts


def stage_seconds(stats: pstats.Stats) -> dict[str, float]:
    """Cumulative seconds of each of ``STAGES`` in a profile (a function called recursively counts once)."""
    out = {name: 0.0 for name, _, _ in STAGES}
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, func), (_cc, _nc, _tt, ct, _callers) in raw.items():
        for name, file, function in STAGES:
            if func == function and filename.endswith(file) and "site-packages" not in filename:
                out[name] += ct
    return out


def measure_pipeline(data: BenchData, embedder: Embedder, *, repeats: int = 3, profile: bool = False) -> dict[str, Any]:
    """The pipeline's and the bare model's time on the same texts, ``repeats`` times (alternating order)."""
    if repeats < 1:
        raise EvalError(f"repeats must be at least 1, not {repeats}")
    embedder.embed(["warm-up"] * 4)
    texts: list[str] = []
    rows: list[dict[str, float]] = []
    stages: dict[str, float] = {}
    for repeat in range(repeats):
        order = ["pipeline", "bare"] if repeat % 2 == 0 else ["bare", "pipeline"]
        if not texts:  # the bare model needs the pipeline's texts: the first repeat indexes first
            order = ["pipeline", "bare"]
        row: dict[str, float] = {}
        for what in order:
            if what == "pipeline":
                prof = cProfile.Profile() if profile and repeat == 0 else None
                row["pipeline_s"], row["pipeline_cpu_s"], texts = _ingest(data, embedder, prof)
                if prof is not None:
                    stages = stage_seconds(pstats.Stats(prof))
            else:
                t0, c0 = time.perf_counter(), time.process_time()
                embedder.embed(texts)
                row["bare_s"], row["bare_cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
            log.info("repeat %d/%d: %s done", repeat + 1, repeats, what)
        row["overhead"] = row["pipeline_s"] / row["bare_s"] - 1
        row["overhead_cpu"] = row["pipeline_cpu_s"] / row["bare_cpu_s"] - 1
        rows.append(row)
    tokens = embedded_tokens(embedder, texts)
    med = {k: float(statistics.median(r[k] for r in rows)) for k in rows[0]}
    return {
        "documents": len(data.docs),
        "chunks": len(texts),
        "tokens": tokens,
        "embed_batch_size": embedder.batch_size,
        "pipeline_s": med["pipeline_s"],
        "bare_s": med["bare_s"],
        "pipeline_tokens_per_s": tokens / med["pipeline_s"],
        "bare_tokens_per_s": tokens / med["bare_s"],
        "overhead": med["overhead"],  # median of the per-repeat overheads
        "pipeline_cpu_s": med["pipeline_cpu_s"],
        "bare_cpu_s": med["bare_cpu_s"],
        "overhead_cpu": med["overhead_cpu"],  # the figure to read on a loaded machine
        "repeats_detail": rows,
        "profile_s": stages,
    }


# --------------------------------------------------------------------------- backends


def sample_texts(data: BenchData, embedder: Embedder, n: int) -> list[str]:
    """``n`` chunk texts (``indexed_text``) of ``data``'s documents, cut as ingest cuts them, in document order."""
    settings = get_settings()
    texts: list[str] = []
    for doc in data.docs:
        chunks = chunk_document(
            doc,
            embedder.count_tokens,
            max_tokens=min(settings.chunk_tokens, embedder.max_tokens),
            overlap=settings.chunk_overlap,
            window=embedder.max_tokens,
        )
        texts.extend(c.indexed_text for c in chunks)
        if len(texts) >= n:
            break
    return texts[:n]


class OrtAdapter:
    """An ``onnx_embedding.OnnxModel`` called as sentence-transformers' ``encode`` is (its vectors are unit
    vectors already)."""

    def __init__(self, model: onnx_embedding.OnnxModel) -> None:
        self.model = model

    def encode(self, texts: list[str], *, batch_size: int = 32, threads: int | None = None, **_: Any) -> np.ndarray:
        return self.model.encode(texts, batch_size=batch_size, threads=threads)


def build_backends(cache: Path, names: Sequence[str]) -> dict[str, Callable[[], Any]]:
    """For each backend name, a loader of the model (exported into ``cache`` on first use). Besides
    ``index.embeddings.BACKENDS``: ``onnxruntime-plain`` (our runner on the export without onnxruntime's
    optimizer), ``onnx-O4`` (optimum's fp16 level, meant for GPUs) and ``onnx-int8`` (dynamic int8 quantisation for
    AVX-512 VNNI), measured but not offered."""
    from sentence_transformers import SentenceTransformer

    location = default_model_path()

    def offered(name: str) -> Callable[[], Any]:
        if name == "torch":
            return lambda: SentenceTransformer(location, device="cpu", local_files_only=True)
        return lambda: load_backend(location, name, cache)

    def ours(optimize: bool) -> Callable[[], Any]:
        def load() -> Any:
            recipe = onnx_embedding.read_recipe(location)
            graph = onnx_embedding.export_model(recipe, cache, optimize=optimize)
            return OrtAdapter(onnx_embedding.OnnxModel(recipe, graph))

        return load

    def extra(file: str, export: Callable[[Any, str], None]) -> Callable[[], Any]:
        def load() -> Any:
            base = load_backend(location, "onnx", cache)
            path = exportable_copy(location, cache)
            if not (path / "onnx" / file).is_file():
                export(base, str(path))
            options: dict[str, Any] = {"backend": "onnx", "model_kwargs": {"file_name": f"onnx/{file}"}}
            return SentenceTransformer(str(path), device="cpu", local_files_only=True, **options)

        return load

    def o4(model: Any, path: str) -> None:
        from sentence_transformers import export_optimized_onnx_model

        export_optimized_onnx_model(model, "O4", path)

    def int8(model: Any, path: str) -> None:
        from sentence_transformers import export_dynamic_quantized_onnx_model

        export_dynamic_quantized_onnx_model(model, "avx512_vnni", path)

    loaders = {name: offered(name) for name in SENTENCE_TRANSFORMERS_BACKENDS}
    loaders["onnxruntime"] = ours(True)
    loaders["onnxruntime-plain"] = ours(False)
    loaders["onnx-O4"] = extra("model_O4.onnx", o4)
    loaders["onnx-int8"] = extra("model_qint8_avx512_vnni.onnx", int8)
    out: dict[str, Callable[[], Any]] = {}
    for name in names:
        if name not in loaders:
            raise EvalError(f"unknown backend {name!r}; known: {', '.join(loaders)}")
        out[name] = loaders[name]
    return out


def agreement_sets(n: int) -> dict[str, list[str]]:
    """``n`` texts of each set the agreement is checked on besides the timed chunks: sentences of the shared
    corpora (evenly spaced over ``eval.bench_scale.sentence_pool``), questions of the eval sets (interleaved), and
    sentences of the demo corpus."""
    from eval.bench_scale import _sentences, questions, sentence_pool

    out: dict[str, list[str]] = {}
    if n <= 0:
        return out
    pool = sentence_pool()
    out["corpus sentences"] = pool[:: max(1, len(pool) // n)][:n]
    out["questions"] = questions()[:n]
    demo: list[str] = []
    for path in sorted((REPO / "data" / "demo").glob("*.txt")):
        demo.extend(_sentences(path.read_text(encoding="utf-8", errors="replace")))
    out["demo sentences"] = demo[:n]
    return out


def _one_query(model: Any, name: str, text: str) -> None:
    """Embed one question as ``Embedder.embed_query`` does: on one intra-op thread."""
    if isinstance(model, OrtAdapter):
        model.encode([text], batch_size=1, threads=1)
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model.encode([text], batch_size=1, normalize_embeddings=True)
    finally:
        torch.set_num_threads(previous)


def measure_backends(
    texts: Sequence[str],
    cache: Path,
    names: Sequence[str],
    *,
    repeats: int = 3,
    batch_size: int = 32,
    others: dict[str, list[str]] | None = None,
    queries: Sequence[str] = (),
) -> dict[str, Any]:
    """Each backend's time (wall and CPU) on ``texts`` beside torch's, its CPU time on ``queries`` one at a time
    on one thread, and its agreement with torch's vectors on ``texts`` and on each set of ``others``."""
    if "torch" not in names:
        names = ["torch", *names]
    models: dict[str, Any] = {}
    results: dict[str, dict[str, Any]] = {}
    for name, loader in build_backends(cache, names).items():
        t0 = time.perf_counter()
        try:
            models[name] = loader()
        except Exception as exc:  # a missing package or a failed export is a finding, not a crash
            results[name] = {"error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300]}
            log.warning("backend %s unavailable: %s", name, results[name]["error"])
            continue
        results[name] = {"load_s": time.perf_counter() - t0}
        models[name].encode(list(texts[:8]), batch_size=batch_size)  # warm-up
        for q in queries[:2]:
            _one_query(models[name], name, q)
    sets = {"chunks": list(texts), **(others or {})}
    vectors: dict[str, dict[str, np.ndarray]] = {name: {} for name in models}
    for name in models:
        for label, sample in sets.items():
            if label != "chunks":
                out = models[name].encode(list(sample), batch_size=batch_size, normalize_embeddings=True)
                vectors[name][label] = np.asarray(out, dtype=np.float32)
    times: dict[str, list[float]] = {name: [] for name in models}
    cpu: dict[str, list[float]] = {name: [] for name in models}
    query_cpu: dict[str, list[float]] = {name: [] for name in models}
    ratios: dict[str, list[float]] = {name: [] for name in models}
    cpu_ratios: dict[str, list[float]] = {name: [] for name in models}
    query_ratios: dict[str, list[float]] = {name: [] for name in models}
    order = list(models)
    for repeat in range(repeats):
        rotated = order[repeat % len(order) :] + order[: repeat % len(order)]
        this: dict[str, tuple[float, float, float]] = {}
        for name in rotated:
            t0, c0 = time.perf_counter(), time.process_time()
            out = models[name].encode(list(texts), batch_size=batch_size, normalize_embeddings=True)
            wall, spent = time.perf_counter() - t0, time.process_time() - c0
            c0 = time.process_time()
            for q in queries:
                _one_query(models[name], name, q)
            asked = time.process_time() - c0
            this[name] = (wall, spent, asked)
            times[name].append(wall)
            cpu[name].append(spent)
            query_cpu[name].append(asked)
            vectors[name]["chunks"] = np.asarray(out, dtype=np.float32)
            log.info("repeat %d/%d: %s %.1f s (%.1f s CPU), queries %.2f s CPU", repeat + 1, repeats, name, *this[name])
        for name in models:
            ratios[name].append(this[name][0] / this["torch"][0])
            cpu_ratios[name].append(this[name][1] / this["torch"][1])
            if queries:
                query_ratios[name].append(this[name][2] / this["torch"][2])
    reference = vectors["torch"]
    for name in models:
        lowest = {label: float(np.sum(vectors[name][label] * reference[label], axis=1).min()) for label in sets}
        results[name].update(
            {
                "seconds": float(statistics.median(times[name])),
                "vs_torch": float(statistics.median(ratios[name])),
                "cpu_s": float(statistics.median(cpu[name])),
                "cpu_vs_torch": float(statistics.median(cpu_ratios[name])),
                "query_cpu_ms": 1000 * float(statistics.median(query_cpu[name])) / max(1, len(queries)),
                "query_cpu_vs_torch": float(statistics.median(query_ratios[name])) if queries else None,
                "min_cosine": min(lowest.values()),
                "min_cosine_by_set": lowest,
                "agrees": bool(min(lowest.values()) >= AGREEMENT),
                "repeats_s": times[name],
                "repeats_cpu_s": cpu[name],
            }
        )
    agreeing = [n for n in models if results[n]["agrees"]]
    fastest = min(agreeing, key=lambda n: results[n]["vs_torch"])
    return {
        "texts": len(texts),
        "agreement_texts": {label: len(sample) for label, sample in sets.items()},
        "queries": len(queries),
        "batch_size": batch_size,
        "backends": results,
        "fastest_agreeing": fastest,
    }


_STARTUP = """
import resource, sys, time
from pathlib import Path
t0, c0 = time.perf_counter(), time.process_time()
from index.embeddings import Embedder
e = Embedder(backend=sys.argv[1], cache_dir=Path(sys.argv[2]))
e.embed(["A made-up sentence about a lighthouse keeper."])
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
heavy = [m for m in ("torch", "transformers", "sentence_transformers", "sklearn") if m in sys.modules]
print(e.backend, round(wall, 3), round(cpu, 3), ",".join(heavy) or "-")
"""


def measure_startup(cache: Path, names: Sequence[str], *, repeats: int = 3) -> dict[str, Any]:
    """Wall and CPU seconds of ``import`` + ``Embedder(backend=...)`` + one ``embed`` in a fresh process, for each
    backend (exports built beforehand), alternating which goes first; the modules of torch's stack it imported."""
    for name in names:  # build any export first: startup is measured on a warm cache
        subprocess.run([sys.executable, "-c", _STARTUP, name, str(cache)], cwd=REPO, check=True, capture_output=True)
    rows: dict[str, list[tuple[float, float, float]]] = {name: [] for name in names}
    heavy: dict[str, str] = {}
    backend: dict[str, str] = {}
    for repeat in range(repeats):
        order = list(names) if repeat % 2 == 0 else list(reversed(names))
        for name in order:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            out = subprocess.run(
                [sys.executable, "-c", _STARTUP, name, str(cache)], cwd=REPO, check=True, capture_output=True, text=True
            )
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            process_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            ran, wall, cpu, imported = out.stdout.split()
            rows[name].append((float(wall), float(cpu), process_cpu))
            heavy[name], backend[name] = imported, ran
            log.info("startup %s: %s s wall, %s s CPU (process %.2f s CPU)", name, wall, cpu, process_cpu)
    return {
        name: {
            "backend": backend[name],
            "wall_s": float(statistics.median(r[0] for r in rows[name])),
            "cpu_s": float(statistics.median(r[1] for r in rows[name])),
            "process_cpu_s": float(statistics.median(r[2] for r in rows[name])),
            "imported": heavy[name],
            "repeats": rows[name],
        }
        for name in names
    }


# --------------------------------------------------------------------------- reporting and command line


def to_markdown(report: dict[str, Any]) -> str:
    lines = ["## Embedding throughput", ""]
    if "pipeline" in report:
        p = report["pipeline"]
        lines += [
            f"Pipeline beside the bare model: {p['documents']} documents, {p['chunks']} chunks, {p['tokens']} "
            f"word pieces embedded, batch {p['embed_batch_size']}, medians of {len(p['repeats_detail'])} repeats.",
            "",
            "| | seconds | CPU seconds | word pieces/s |",
            "| --- | ---: | ---: | ---: |",
            f"| bare model (one `embed` call) | {p['bare_s']:.1f} | {p.get('bare_cpu_s', 0):.1f} "
            f"| {p['bare_tokens_per_s']:.0f} |",
            f"| pipeline (`ingest_documents`) | {p['pipeline_s']:.1f} | {p.get('pipeline_cpu_s', 0):.1f} "
            f"| {p['pipeline_tokens_per_s']:.0f} |",
            "",
            f"Pipeline overhead (pipeline / bare - 1, median of the per-repeat figures): {p['overhead']:.1%} of the "
            f"wall time, {p.get('overhead_cpu', 0):.1%} of the CPU time (every thread of the process).",
            "",
        ]
        if p["profile_s"]:
            lines += ["| stage (first repeat, under cProfile) | seconds |", "| --- | ---: |"]
            lines += [f"| {k} | {v:.1f} |" for k, v in p["profile_s"].items()]
            lines.append("")
    if "backends" in report:
        b = report["backends"]
        sets = ", ".join(f"{k} {v}" for k, v in b.get("agreement_texts", {"chunks": b["texts"]}).items())
        lines += [
            f"Backends: {b['texts']} chunk texts timed, batch {b['batch_size']}, ratios to torch in the same repeat; "
            f"agreement (lowest cosine to torch) over {sets}.",
            "",
            "| backend | seconds | / torch | lowest cosine to torch | kept? |",
            "| --- | ---: | ---: | ---: | --- |",
        ]
        for name, r in b["backends"].items():
            if "error" in r:
                lines.append(f"| {name} | | | | unavailable: {r['error'][:120]} |")
                continue
            kept = "fastest agreeing" if name == b["fastest_agreeing"] else ("agrees" if r["agrees"] else "no")
            lines.append(f"| {name} | {r['seconds']:.1f} | {r['vs_torch']:.2f} | {r['min_cosine']:.5f} | {kept} |")
        lines.append("")
        measured = {n: r for n, r in b["backends"].items() if "cpu_s" in r}
        if measured:
            lines += [
                f"CPU time of the same runs, and of {b.get('queries', 0)} questions embedded one at a time on one "
                "intra-op thread (as `embed_query` does); lowest cosine per set.",
                "",
                "| backend | CPU s | CPU / torch | query CPU ms | query CPU / torch | lowest cosine by set |",
                "| --- | ---: | ---: | ---: | ---: | --- |",
            ]
            for name, r in measured.items():
                q = r["query_cpu_vs_torch"]
                by_set = ", ".join(f"{k} {v:.5f}" for k, v in r["min_cosine_by_set"].items())
                lines.append(
                    f"| {name} | {r['cpu_s']:.1f} | {r['cpu_vs_torch']:.2f} | {r['query_cpu_ms']:.1f} | "
                    f"{'' if q is None else f'{q:.2f}'} | {by_set} |"
                )
            lines.append("")
    if "startup" in report:
        lines += [
            "Import + construct + one embed, fresh process (medians):",
            "",
            "| backend asked | ran | wall s | CPU s (in process) | CPU s (process total) | torch stack imported |",
            "| --- | --- | ---: | ---: | ---: | --- |",
        ]
        for name, r in report["startup"].items():
            lines.append(
                f"| {name} | {r['backend']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['process_cpu_s']:.2f} | "
                f"{r['imported']} |"
            )
        lines.append("")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m eval.bench_embed", description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["pipeline", "backends", "both", "startup"])
    p.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="a BEIR directory (default: SciFact)")
    p.add_argument("--docs", type=int, default=1000, help="documents indexed by the pipeline")
    p.add_argument("--texts", type=int, default=1000, help="chunk texts each backend embeds")
    p.add_argument(
        "--agreement-texts", type=int, default=150, help="texts of each other set the agreement is checked on"
    )
    p.add_argument("--queries", type=int, default=100, help="questions embedded one at a time (CPU time)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--backends",
        default="torch,onnxruntime,onnxruntime-plain,onnx,onnx-O1,onnx-O2,onnx-O3,onnx-O4,onnx-int8,openvino",
        help="comma-separated backends",
    )
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where exported models are built and kept")
    p.add_argument("--profile", action="store_true", help="profile the first pipeline run (stage times)")
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1), help="torch threads")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown report; JSON goes next to it")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    configure_threads(args.threads)
    try:
        data = load_bench_data(args.dataset, args.docs)
    except (EvalError, OSError) as exc:
        sys.stderr.write(f"bench_embed: {exc}\n")
        return 2
    settings = get_settings()
    names = [n.strip() for n in args.backends.split(",") if n.strip()]
    report: dict[str, Any] = {"dataset": data.name, "threads": args.threads}
    if args.what == "startup":
        report["startup"] = measure_startup(args.cache, names, repeats=args.repeats)
        return _write(report, args.out)
    embedder = Embedder(settings.embed_model, batch_size=settings.embed_batch_size, backend=settings.embed_backend)
    try:
        if args.what in ("pipeline", "both"):
            report["pipeline"] = measure_pipeline(data, embedder, repeats=args.repeats, profile=args.profile)
        if args.what in ("backends", "both"):
            texts = sample_texts(data, embedder, args.texts)
            from eval.bench_scale import questions

            report["backends"] = measure_backends(
                texts,
                args.cache,
                names,
                repeats=args.repeats,
                batch_size=settings.embed_batch_size,
                others=agreement_sets(args.agreement_texts),
                queries=questions()[-args.queries :] if args.queries > 0 else [],
            )
    except EvalError as exc:
        sys.stderr.write(f"bench_embed: {exc}\n")
        return 2
    return _write(report, args.out)


def _write(report: dict[str, Any], out: Path) -> int:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_markdown(report), encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(to_markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
