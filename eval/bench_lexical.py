"""Benchmark of the lexical index at scale: query latency, adding and deleting one document, opening, size.

The chunks are real text recombined from the shared corpora: sentences of the SciFact abstracts and of the
Braintrust Coda help sections, drawn at random (seeded) into chunks of about 170 words, the size our chunker
makes. The queries are SciFact's 1,109 queries. "One 20-page document" is 60 such chunks (20 pages of about
500 words). With ``--baseline`` the previous implementation's commit (a full bm25s rebuild and rewrite, as of
git revision ``--baseline-rev``) is timed on the same chunks for comparison.

    nice -n 5 .venv/bin/python -m eval.bench_lexical --sizes 100000 --out /tmp/bench-lexical.json
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from assistant.types import Chunk
from eval.metrics import ndcg_at_k
from index.lexical import LexicalIndex

SHARED = Path(__file__).resolve().parents[2] / "shared"
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(])")
CHUNK_WORDS = 170
DOC_CHUNKS = 60  # one 20-page document: 20 pages x ~500 words / ~170 words per chunk


def sentences(shared: Path) -> list[str]:
    """Sentences of the SciFact abstracts and the Coda help sections."""
    texts: list[str] = []
    with open(shared / "datasets/scifact/corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            texts.append(f"{row['title']}. {row['text']}")
    for section in sorted((shared / "datasets/braintrust_coda/source_files").glob("*.md")):
        texts.append(section.read_text(encoding="utf-8"))
    return [s.strip() for t in texts for s in _SENTENCE.split(t) if len(s.split()) >= 4]


def queries(shared: Path) -> list[str]:
    with open(shared / "datasets/scifact/queries.jsonl", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh]


class Recombiner:
    """Chunks of random sentences, ``DOC_CHUNKS`` per document, reproducible from the seed."""

    def __init__(self, pool: list[str], seed: int) -> None:
        self.pool = pool
        self.rng = random.Random(seed)
        self.docs = 0

    def document(self, prefix: str = "doc") -> list[Chunk]:
        doc_id = f"{prefix}{self.docs}"
        self.docs += 1
        chunks = []
        for i in range(DOC_CHUNKS):
            words: list[str] = []
            while len(words) < CHUNK_WORDS:
                words.extend(self.rng.choice(self.pool).split())
            text = " ".join(words)
            chunks.append(Chunk(id=f"{doc_id}:{i}", doc_id=doc_id, text=text, start=0, end=len(text)))
        return chunks


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def _load_previous(rev: str) -> Any:
    """The previous index/lexical.py (bm25s, rebuilt on every commit) as a module."""
    source = subprocess.run(["git", "show", f"{rev}:index/lexical.py"], capture_output=True, text=True, check=True)
    target = Path(tempfile.mkdtemp()) / "lexical_previous.py"
    target.write_text(source.stdout)
    spec = importlib.util.spec_from_file_location("lexical_previous", target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["lexical_previous"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _against(index: LexicalIndex, path: Path, sample: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """CPU ms per query of this index and of ``--before-rev``'s ``index/lexical.py`` opened on the same files
    (the same format), alternating query by query, and how many queries got other passages or scores."""
    previous = _load_previous(args.before_rev).LexicalIndex(path)
    for q in sample[:20]:
        previous.search(q, args.top_k)
    now_cpu: list[float] = []
    then_cpu: list[float] = []
    differ = 0
    for i, q in enumerate(sample):
        found = {}
        for name, engine in (
            (("now", index), ("then", previous)) if i % 2 == 0 else (("then", previous), ("now", index))
        ):
            c = time.process_time()
            found[name] = [(p.chunk.id, p.score) for p in engine.search(q, args.top_k)]
            (now_cpu if name == "now" else then_cpu).append((time.process_time() - c) * 1000)
        differ += found["now"] != found["then"]
    previous.close()
    return {
        "before_rev": args.before_rev,
        "before_cpu_p50_ms": round(statistics.median(then_cpu), 2),
        "before_cpu_p95_ms": round(_percentile(then_cpu, 0.95), 2),
        "after_cpu_p50_ms": round(statistics.median(now_cpu), 2),
        "after_cpu_p95_ms": round(_percentile(now_cpu, 0.95), 2),
        "queries_with_other_results": differ,
    }


def bench(size: int, pool: list[str], query_texts: list[str], work: Path, args: argparse.Namespace) -> dict[str, Any]:
    path = work / f"lexical-{size}"
    maker = Recombiner(pool, seed=size)
    reused = args.reuse and (path / "lexical.sqlite3").exists()
    if not reused:
        shutil.rmtree(path, ignore_errors=True)
    index = LexicalIndex(path)
    if reused:  # built by an earlier run with --keep: the same chunks (seeded), so skip to the queries
        if index.count() != size:
            raise SystemExit(f"{path} holds {index.count()} chunks, not {size}: drop --reuse")
        maker.docs = -(-size // DOC_CHUNKS)
    started = time.perf_counter()
    batch: list[Chunk] = []
    built = size if reused else 0
    while built < size:
        doc = maker.document()[: size - built]
        batch.extend(doc)
        built += len(doc)
        if len(batch) >= args.commit_every or built >= size:
            index.add(batch)
            index.commit()
            batch = []
    build_s = time.perf_counter() - started
    del index
    gc.collect()

    started = time.perf_counter()
    index = LexicalIndex(path)
    open_s = time.perf_counter() - started
    assert index.count() == size

    rng = random.Random(1)
    sample = rng.sample(query_texts, min(args.queries, len(query_texts)))
    for q in sample[:20]:  # warm-up
        index.search(q, args.top_k)
    latencies, cpu = [], []
    for q in sample:
        t, c = time.perf_counter(), time.process_time()
        index.search(q, args.top_k)
        latencies.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    before: dict[str, Any] = {}
    if args.before_rev:
        before = _against(index, path, sample, args)
    filtered = []
    some_docs = [f"doc{i}" for i in rng.sample(range(maker.docs), min(5, maker.docs))]
    for q in sample[:200]:
        t = time.perf_counter()
        index.search(q, args.top_k, doc_ids=some_docs)
        filtered.append((time.perf_counter() - t) * 1000)

    adds, deletes = [], []
    for _ in range(args.repeats):
        doc = maker.document(prefix="new")
        t = time.perf_counter()
        index.add(doc)
        index.commit()
        adds.append(time.perf_counter() - t)
        t = time.perf_counter()
        index.delete(doc[0].doc_id)
        index.commit()
        deletes.append(time.perf_counter() - t)
    assert index.count() == size
    result: dict[str, Any] = {
        "chunks": size,
        "build_s": None if reused else round(build_s, 1),
        "commit_every": args.commit_every,
        "segments": index.segments(),
        "open_s": round(open_s, 2),
        "query_top_k": args.top_k,
        "queries": len(sample),
        "query_p50_ms": round(statistics.median(latencies), 2),
        "query_p95_ms": round(_percentile(latencies, 0.95), 2),
        "query_cpu_p50_ms": round(statistics.median(cpu), 2),
        "query_cpu_p95_ms": round(_percentile(cpu, 0.95), 2),
        **before,
        "filtered_query_p50_ms": round(statistics.median(filtered), 2),
        "filtered_query_p95_ms": round(_percentile(filtered, 0.95), 2),
        "add_20_pages_s": {"median": round(statistics.median(adds), 3), "max": round(max(adds), 3)},
        "delete_20_pages_s": {"median": round(statistics.median(deletes), 3), "max": round(max(deletes), 3)},
        "disk_mb": round(_size_mb(path), 1),
        "peak_rss_mb": round(_rss_mb(), 1),
    }
    index.close()
    if args.baseline:
        previous = _load_previous(args.baseline_rev)
        old_path = work / f"previous-{size}"
        shutil.rmtree(old_path, ignore_errors=True)
        old = previous.LexicalIndex(old_path)
        maker = Recombiner(pool, seed=size)
        built = 0
        while built < size:
            doc = maker.document()[: size - built]
            old.add(doc)
            built += len(doc)
        t = time.perf_counter()
        old.commit()
        result["previous_build_s"] = round(time.perf_counter() - t, 1)
        old_adds = []
        for _ in range(min(args.repeats, 3)):
            doc = maker.document(prefix="new")
            t = time.perf_counter()
            old.add(doc)
            old.commit()
            old_adds.append(time.perf_counter() - t)
            old.delete(doc[0].doc_id)
            old.commit()
        result["previous_add_20_pages_s"] = round(statistics.median(old_adds), 2)
        for q in sample[:20]:
            old.search(q, args.top_k)
        old_latencies = []
        for q in sample:
            t = time.perf_counter()
            old.search(q, args.top_k)
            old_latencies.append((time.perf_counter() - t) * 1000)
        result["previous_query_p50_ms"] = round(statistics.median(old_latencies), 2)
        result["previous_query_p95_ms"] = round(_percentile(old_latencies, 0.95), 2)
        del old
        shutil.rmtree(old_path, ignore_errors=True)
    if not args.keep:
        shutil.rmtree(path, ignore_errors=True)
    return result


class _Fts5:
    """SQLite FTS5 over the same stemmed tokens, ranked by its ``bm25()`` (k1 1.2, b 0.75, idf without the +1)."""

    def __init__(self, path: Path, tokenize: Any) -> None:
        import sqlite3

        self.tokenize = tokenize
        self.conn = sqlite3.connect(path / "fts5.sqlite3")
        tokenizer = "unicode61 remove_diacritics 0 tokenchars '_'"  # keeps our tokens whole
        self.conn.execute(
            f'CREATE VIRTUAL TABLE IF NOT EXISTS t USING fts5(chunk_id UNINDEXED, body, tokenize="{tokenizer}")'
        )

    def add(self, chunks: list[Chunk]) -> None:
        tokens = self.tokenize([c.indexed_text for c in chunks])
        self.conn.executemany(
            "INSERT INTO t VALUES (?, ?)", ((c.id, " ".join(t)) for c, t in zip(chunks, tokens, strict=True))
        )
        self.conn.commit()

    def search(self, query: str, top_k: int) -> list[str]:
        terms = " OR ".join(f'"{t}"' for t in dict.fromkeys(self.tokenize([query])[0]))
        if not terms:
            return []
        sql = "SELECT chunk_id FROM t WHERE t MATCH ? ORDER BY bm25(t) LIMIT ?"
        return [r[0] for r in self.conn.execute(sql, (terms, top_k))]


class _Tantivy:
    """tantivy (Lucene-style segments, block-max WAND top-k) over the same stemmed tokens, whitespace-split."""

    def __init__(self, path: Path, tokenize: Any) -> None:
        import tantivy

        self.tantivy = tantivy
        self.tokenize = tokenize
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("chunk_id", stored=True, tokenizer_name="raw")
        builder.add_text_field("body", stored=False, tokenizer_name="whitespace")
        self.schema = builder.build()
        (path / "tantivy").mkdir(exist_ok=True)
        self.index = tantivy.Index(self.schema, path=str(path / "tantivy"))
        self.writer = self.index.writer(heap_size=200_000_000, num_threads=1)

    def add(self, chunks: list[Chunk]) -> None:
        for chunk, tokens in zip(chunks, self.tokenize([c.indexed_text for c in chunks]), strict=True):
            self.writer.add_document(self.tantivy.Document(chunk_id=chunk.id, body=" ".join(tokens)))
        self.writer.commit()
        self.index.reload()

    def search(self, query: str, top_k: int) -> list[str]:
        tokens = list(dict.fromkeys(self.tokenize([query])[0]))
        if not tokens:
            return []
        occur = self.tantivy.Occur.Should
        parts = [(occur, self.tantivy.Query.term_query(self.schema, "body", t)) for t in tokens]
        searcher = self.index.searcher()
        hits = searcher.search(self.tantivy.Query.boolean_query(parts), top_k).hits
        return [searcher.doc(address)["chunk_id"][0] for _, address in hits]


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """BM25-only nDCG@10 on SciFact test (a chunk per abstract: title and text) and query latency at
    ``--compare-size`` recombined chunks, for this index, SQLite FTS5 and tantivy (when installed)."""
    shared = args.shared
    corpus = []
    with open(shared / "datasets/scifact/corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            text = f"{row['title']}\n{row['text']}"
            corpus.append(Chunk(id=f"{row['_id']}:0", doc_id=row["_id"], text=text, start=0, end=len(text)))
    qrels: dict[str, dict[str, int]] = {}
    for line in (shared / "datasets/scifact/qrels/test.tsv").read_text().splitlines()[1:]:
        qid, doc, grade = line.split("\t")
        qrels.setdefault(qid, {})[doc] = int(grade)
    with open(shared / "datasets/scifact/queries.jsonl", encoding="utf-8") as fh:
        texts = {row["_id"]: row["text"] for row in map(json.loads, fh)}
    pool = sentences(shared)
    sample = random.Random(1).sample(queries(shared), min(args.queries, 1109))
    tokenizer = LexicalIndex(None)
    results: dict[str, Any] = {}
    engines: dict[str, Any] = {"ours": lambda p: LexicalIndex(p), "fts5": lambda p: _Fts5(p, tokenizer._tokenize)}
    try:
        import tantivy  # noqa: F401

        engines["tantivy"] = lambda p: _Tantivy(p, tokenizer._tokenize)
    except ImportError:
        results["tantivy"] = "not installed"
    for name, make in engines.items():
        work = Path(tempfile.mkdtemp(prefix=f"compare-{name}-"))
        engine = make(work)
        engine.add(corpus)
        if name == "ours":
            engine.commit()
        ndcg = []
        for qid, grades in qrels.items():
            found = engine.search(texts[qid], 10)
            ranked = [p.chunk.doc_id for p in found] if name == "ours" else [c.split(":")[0] for c in found]
            ndcg.append(ndcg_at_k(ranked, grades, 10))
        shutil.rmtree(work, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix=f"compare-{name}-"))
        engine = make(work)
        maker = Recombiner(pool, seed=args.compare_size)
        t = time.perf_counter()
        built = 0
        while built < args.compare_size:
            batch = [c for _ in range(args.commit_every // DOC_CHUNKS) for c in maker.document()]
            engine.add(batch)
            if name == "ours":
                engine.commit()
            built += len(batch)
        build_s = time.perf_counter() - t
        for q in sample[:20]:
            engine.search(q, args.top_k)
        latencies = []
        for q in sample:
            t = time.perf_counter()
            engine.search(q, args.top_k)
            latencies.append((time.perf_counter() - t) * 1000)
        results[name] = {
            "scifact_ndcg@10": round(statistics.mean(ndcg), 4),
            "chunks": built,
            "build_s": round(build_s, 1),
            "query_p50_ms": round(statistics.median(latencies), 2),
            "query_p95_ms": round(_percentile(latencies, 0.95), 2),
        }
        sys.stdout.write(json.dumps({name: results[name]}) + "\n")
        sys.stdout.flush()
        del engine
        shutil.rmtree(work, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000", help="comma-separated chunk counts")
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--work", type=Path, default=None, help="where the indexes are built (default: a temp dir)")
    parser.add_argument("--commit-every", type=int, default=20_000, help="chunks per commit while building")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--top-k", type=int, default=50, help="the retriever's default candidate depth")
    parser.add_argument("--repeats", type=int, default=5, help="add/delete rounds of one 20-page document")
    parser.add_argument("--baseline", action="store_true", help="also time the previous implementation")
    parser.add_argument("--baseline-rev", default="8f1cdae")
    parser.add_argument(
        "--before-rev", default=None, help="also time this revision's index/lexical.py on the same index (same format)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the built indexes")
    parser.add_argument("--reuse", action="store_true", help="use an index kept in --work by an earlier run")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--compare", action="store_true", help="compare engines (ours, SQLite FTS5, tantivy)")
    parser.add_argument("--compare-size", type=int, default=100_000)
    args = parser.parse_args(argv)
    if args.compare:
        comparison = compare(args)
        if args.out:
            args.out.write_text(json.dumps(comparison, indent=2) + "\n")
        return
    pool = sentences(args.shared)
    query_texts = queries(args.shared)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-lexical-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        result = bench(size, pool, query_texts, work, args)
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
        results.append(result)
    if args.out:
        args.out.write_text(json.dumps({"sentences": len(pool), "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
