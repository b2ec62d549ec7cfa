"""Embedding throughput: the bare model beside the ingest pipeline, and the backends sentence-transformers offers.

``python -m eval.bench_embed pipeline`` indexes SciFact documents through ``Assistant.ingest_documents`` and
embeds the very texts it indexed (each chunk's ``indexed_text``) with the bare model in one ``embed`` call, in the
same process with the same loaded model, alternating which goes first; the pipeline's overhead is its time over
the bare model's, minus one (target: at most 10 %). ``--profile`` adds where the pipeline's time goes.

``python -m eval.bench_embed backends`` embeds a sample of the same chunk texts with torch, ONNX Runtime (plain
export and optimum's O1-O4 graphs, and a dynamically quantised int8 copy) and OpenVINO, each built locally from the
packaged weights into ``--cache`` (never downloaded), and reports each one's time beside torch's (measured in the
same repeat, rotating the order) and the lowest cosine between its vector and torch's over the sample. Backends
whose packages (optimum, onnx, openvino) are missing are reported as such.

Writes ``reports/embed.{md,json}`` (``--out``). Figures and the decisions taken from them: docs/embeddings.md.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import pstats
import statistics
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
from index.embeddings import BACKENDS, Embedder, default_model_path, exportable_copy, load_backend
from ingest.chunking import chunk_document

log = logging.getLogger(__name__)

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


def _ingest(data: BenchData, embedder: Embedder, profile: cProfile.Profile | None) -> tuple[float, list[str]]:
    """Index ``data`` in a fresh data dir; (seconds, the indexed texts in chunk order)."""
    with tempfile.TemporaryDirectory(prefix="bench-embed-", ignore_cleanup_errors=True) as tmp:
        assistant = Assistant(get_settings(data_dir=Path(tmp)), embedder=embedder)
        try:
            if profile is not None:
                profile.enable()
            t0 = time.perf_counter()
            report = assistant.ingest_documents(data.docs)
            seconds = time.perf_counter() - t0
            if profile is not None:
                profile.disable()
            if report.errors:
                raise EvalError(f"{len(report.errors)} documents failed to index: {report.errors}")
            texts = [c.indexed_text for d in data.docs for c in assistant.chunks(d.id)]
        finally:
            assistant.close()
            from chromadb.api.client import SharedSystemClient

            SharedSystemClient.clear_system_cache()
    return seconds, texts


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
                row["pipeline_s"], texts = _ingest(data, embedder, prof)
                if prof is not None:
                    stages = stage_seconds(pstats.Stats(prof))
            else:
                t0 = time.perf_counter()
                embedder.embed(texts)
                row["bare_s"] = time.perf_counter() - t0
            log.info("repeat %d/%d: %s done", repeat + 1, repeats, what)
        row["overhead"] = row["pipeline_s"] / row["bare_s"] - 1
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


def build_backends(cache: Path, names: Sequence[str]) -> dict[str, Callable[[], Any]]:
    """For each backend name, a loader of the model (exported into ``cache`` on first use). Besides
    ``index.embeddings.BACKENDS``: ``onnx-O4`` (optimum's fp16 level, meant for GPUs) and ``onnx-int8`` (dynamic
    int8 quantisation for AVX-512 VNNI), measured but not offered."""
    from sentence_transformers import SentenceTransformer

    location = default_model_path()

    def offered(name: str) -> Callable[[], Any]:
        if name == "torch":
            return lambda: SentenceTransformer(location, device="cpu", local_files_only=True)
        return lambda: load_backend(location, name, cache)

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

    loaders = {name: offered(name) for name in BACKENDS}
    loaders["onnx-O4"] = extra("model_O4.onnx", o4)
    loaders["onnx-int8"] = extra("model_qint8_avx512_vnni.onnx", int8)
    out: dict[str, Callable[[], Any]] = {}
    for name in names:
        if name not in loaders:
            raise EvalError(f"unknown backend {name!r}; known: {', '.join(loaders)}")
        out[name] = loaders[name]
    return out


def measure_backends(
    texts: Sequence[str], cache: Path, names: Sequence[str], *, repeats: int = 3, batch_size: int = 32
) -> dict[str, Any]:
    """Each backend's time on ``texts`` beside torch's, and its agreement with torch's vectors."""
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
    vectors: dict[str, np.ndarray] = {}
    times: dict[str, list[float]] = {name: [] for name in models}
    ratios: dict[str, list[float]] = {name: [] for name in models}
    order = list(models)
    for repeat in range(repeats):
        rotated = order[repeat % len(order) :] + order[: repeat % len(order)]
        this: dict[str, float] = {}
        for name in rotated:
            t0 = time.perf_counter()
            out = models[name].encode(list(texts), batch_size=batch_size, normalize_embeddings=True)
            this[name] = time.perf_counter() - t0
            times[name].append(this[name])
            vectors[name] = np.asarray(out, dtype=np.float32)
            log.info("repeat %d/%d: %s %.1f s", repeat + 1, repeats, name, this[name])
        for name in models:
            ratios[name].append(this[name] / this["torch"])
    reference = vectors["torch"]
    for name in models:
        cosines = np.sum(vectors[name] * reference, axis=1)
        results[name].update(
            {
                "seconds": float(statistics.median(times[name])),
                "vs_torch": float(statistics.median(ratios[name])),
                "min_cosine": float(cosines.min()),
                "agrees": bool(cosines.min() >= AGREEMENT),
                "repeats_s": times[name],
            }
        )
    agreeing = [n for n in models if results[n]["agrees"]]
    fastest = min(agreeing, key=lambda n: results[n]["vs_torch"])
    return {"texts": len(texts), "batch_size": batch_size, "backends": results, "fastest_agreeing": fastest}


# --------------------------------------------------------------------------- reporting and command line


def to_markdown(report: dict[str, Any]) -> str:
    lines = ["## Embedding throughput", ""]
    if "pipeline" in report:
        p = report["pipeline"]
        lines += [
            f"Pipeline beside the bare model: {p['documents']} documents, {p['chunks']} chunks, {p['tokens']} "
            f"word pieces embedded, batch {p['embed_batch_size']}, medians of {len(p['repeats_detail'])} repeats.",
            "",
            "| | seconds | word pieces/s |",
            "| --- | ---: | ---: |",
            f"| bare model (one `embed` call) | {p['bare_s']:.1f} | {p['bare_tokens_per_s']:.0f} |",
            f"| pipeline (`ingest_documents`) | {p['pipeline_s']:.1f} | {p['pipeline_tokens_per_s']:.0f} |",
            "",
            f"Pipeline overhead (pipeline / bare - 1, median of the per-repeat figures): {p['overhead']:.1%}.",
            "",
        ]
        if p["profile_s"]:
            lines += ["| stage (first repeat, under cProfile) | seconds |", "| --- | ---: |"]
            lines += [f"| {k} | {v:.1f} |" for k, v in p["profile_s"].items()]
            lines.append("")
    if "backends" in report:
        b = report["backends"]
        lines += [
            f"Backends: {b['texts']} chunk texts, batch {b['batch_size']}, ratios to torch in the same repeat.",
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
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m eval.bench_embed", description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["pipeline", "backends", "both"])
    p.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="a BEIR directory (default: SciFact)")
    p.add_argument("--docs", type=int, default=1000, help="documents indexed by the pipeline")
    p.add_argument("--texts", type=int, default=1000, help="chunk texts each backend embeds")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--backends",
        default="torch,onnx,onnx-O1,onnx-O2,onnx-O3,onnx-O4,onnx-int8,openvino",
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
    embedder = Embedder(settings.embed_model, batch_size=settings.embed_batch_size)
    report: dict[str, Any] = {"dataset": data.name, "threads": args.threads}
    try:
        if args.what in ("pipeline", "both"):
            report["pipeline"] = measure_pipeline(data, embedder, repeats=args.repeats, profile=args.profile)
        if args.what in ("backends", "both"):
            texts = sample_texts(data, embedder, args.texts)
            names = [n.strip() for n in args.backends.split(",") if n.strip()]
            report["backends"] = measure_backends(
                texts, args.cache, names, repeats=args.repeats, batch_size=settings.embed_batch_size
            )
    except EvalError as exc:
        sys.stderr.write(f"bench_embed: {exc}\n")
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_markdown(report), encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(to_markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
