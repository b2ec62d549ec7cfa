"""Resumable ingest: `assistant ingest` SIGKILLed at random moments, run again, ends with a clean build's index.

    python -m eval.bench_resume [--files 2000] [--kills 5] [--seed 0] [--beir ../shared/datasets/scifact]

The first ``--files`` abstracts of a BEIR corpus are written as text files into a temporary folder. One
`assistant ingest` process builds a clean index of them. Another data directory is built by the same command
killed with SIGKILL ``--kills`` times, each time once the catalog holds a random number of rows, and then run to
the end. Per kill it records what was committed (ready rows), what the kill cost (rows written but not committed:
the documents the next run indexes again) against the commit interval, and what the next run reported. At the end
both indexes are opened and compared: document ids, each document's chunk ids (Chroma), and Chroma, the lexical
index and the catalog agreeing on documents and chunk counts. Writes ``reports/resume.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from eval.datasets import load_beir

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kill:
    target_rows: int  # the catalog rows (ready or pending) the process was killed at
    seconds: float  # how long that run had been going
    committed: int  # ready rows after the kill
    lost: int  # pending rows after the kill: written since the last commit, indexed again by the next run
    interval: int  # commit_every_docs
    next_unchanged: int | None = None  # what the run after the last kill found committed (it reports it)
    next_added: int | None = None


def _rows(db: Path, where: str) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM documents WHERE {where}").fetchone()[0])
    except sqlite3.Error:
        return 0


def _command(corpus: Path) -> list[str]:
    return [sys.executable, "-m", "assistant.cli", "ingest", "--json", str(corpus)]


def _env(data_dir: Path, every: int) -> dict[str, str]:
    return {**os.environ, "ASSISTANT_DATA_DIR": str(data_dir), "ASSISTANT_COMMIT_EVERY_DOCS": str(every)}


def _run(corpus: Path, data_dir: Path, every: int) -> tuple[dict[str, object], float]:
    t0 = time.perf_counter()
    done = subprocess.run(
        _command(corpus), cwd=REPO, env=_env(data_dir, every), capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"assistant ingest failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout), seconds


def _killed(corpus: Path, data_dir: Path, every: int, target: int) -> Kill | None:
    """Run the ingest and SIGKILL it once the catalog holds ``target`` rows; None when it finished first."""
    db = data_dir / "catalog.sqlite"
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        _command(corpus), cwd=REPO, env=_env(data_dir, every), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while proc.poll() is None:
            if _rows(db, "state IN ('ready', 'pending')") >= target:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return Kill(
                    target_rows=target,
                    seconds=round(time.perf_counter() - t0, 1),
                    committed=_rows(db, "state = 'ready'"),
                    lost=_rows(db, "state = 'pending'"),
                    interval=every,
                )
            time.sleep(0.01)
        return None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _index(data_dir: Path, embedder: object) -> tuple[dict[str, list[str]], dict[str, int]]:
    """{document id: chunk ids} of an index, and the counts of its three stores."""
    from assistant.config import get_settings
    from assistant.service import Assistant

    svc = Assistant(get_settings(data_dir=data_dir), embedder=embedder)  # type: ignore[arg-type]
    try:
        docs = svc.documents()
        ids = {d.id: [c.id for c in svc.vector.chunks(d.id)] for d in docs}
        counts = {
            "catalog_documents": len(docs),
            "catalog_chunks": sum(d.chunks for d in docs),
            "chroma_documents": len(svc.vector.doc_ids()),
            "chroma_chunks": svc.vector.count(),
            "lexical_documents": len(svc.lexical.doc_ids()),
            "lexical_chunks": svc.lexical.count(),
            "unfinished": len(svc.catalog.unfinished()),
        }
        agree = (
            set(ids) == svc.vector.doc_ids() == svc.lexical.doc_ids()
            and counts["catalog_chunks"] == counts["chroma_chunks"] == counts["lexical_chunks"]
        )
        counts["stores_agree"] = int(agree)
    finally:
        svc.close()
    return ids, counts


def commit_costs(corpus: Path, data_dir: Path, every: int) -> dict[str, object]:
    """Ingest ``corpus`` in this process committing every ``every`` documents (and never by time), timing each
    commit: wall and this thread's CPU (the commit runs in the ingesting thread), against the documents and
    chunks already committed. The whole ingest's process CPU is the denominator of the commit overhead."""
    from assistant.config import get_settings
    from assistant.service import Assistant

    svc = Assistant(get_settings(data_dir=data_dir, commit_every_docs=every, commit_every_s=1e9))
    commits: list[dict[str, float]] = []
    inner = svc._commit

    def timed() -> None:
        docs = svc.catalog.count()
        t0, c0 = time.perf_counter(), time.thread_time()
        inner()
        commits.append({"docs_before": docs, "wall_s": time.perf_counter() - t0, "cpu_s": time.thread_time() - c0})

    svc._commit = timed  # type: ignore[method-assign]
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        report = svc.ingest([corpus])
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        chunks = svc.vector.count()
    finally:
        svc.close()
    docs = len(report.added)
    commit_cpu = sum(c["cpu_s"] for c in commits)
    return {
        "files": docs,
        "chunks": chunks,
        "commit_every_docs": every,
        "ingest_wall_s": round(wall, 1),
        "ingest_cpu_s": round(cpu, 1),
        "cpu_per_doc_s": round(cpu / max(docs, 1), 4),
        "commits": len(commits),
        "commit_cpu_s": round(commit_cpu, 2),
        "commit_wall_s": round(sum(c["wall_s"] for c in commits), 2),
        "commit_share_of_cpu": round(commit_cpu / cpu, 4) if cpu else None,
        "per_commit": [{k: round(v, 4) for k, v in c.items()} for c in commits],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beir", type=Path, default=REPO.parent / "shared" / "datasets" / "scifact")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--commit-every-docs", type=int, default=None, help="default: the setting's default")
    parser.add_argument("--out", type=Path, default=REPO / "reports")
    parser.add_argument(
        "--commit-cost",
        action="store_true",
        help="instead: one in-process ingest of the files committing every --commit-every-docs, each commit timed "
        "(-> <out>/commit_cost.json)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from assistant.config import get_settings

    every = args.commit_every_docs or get_settings().commit_every_docs
    corpus_rows = list(load_beir(args.beir).corpus.items())[: args.files]
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-resume-") as tmp:
        root = Path(tmp)
        corpus = root / "files"
        corpus.mkdir()
        for doc_id, (title, text) in corpus_rows:
            (corpus / f"{doc_id}.txt").write_text(f"{title}\n\n{text}\n", encoding="utf-8")
        files = len(corpus_rows)
        if args.commit_cost:
            costs = commit_costs(corpus, root / "cost", every)
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "commit_cost.json").write_text(json.dumps(costs, indent=2) + "\n", encoding="utf-8")
            sys.stdout.write(json.dumps({k: v for k, v in costs.items() if k != "per_commit"}) + "\n")
            return 0
        log.info("clean build of %d files", files)
        clean_report, clean_s = _run(corpus, root / "clean", every)
        targets = sorted(rng.sample(range(1, files), args.kills))
        kills: list[Kill] = []
        resumed_s = 0.0
        for target in targets:
            log.info("run killed at %d catalog rows", target)
            t0 = time.perf_counter()
            kill = _killed(corpus, root / "resumed", every, target)
            resumed_s += time.perf_counter() - t0
            if kill is None:  # finished first: the moment lies in a run that has nothing left to do
                continue
            kills.append(kill)
        final_report, final_s = _run(corpus, root / "resumed", every)
        resumed_s += final_s
        if kills:
            kills[-1] = Kill(
                **{
                    **asdict(kills[-1]),
                    "next_unchanged": len(final_report["unchanged"]),  # type: ignore[arg-type]
                    "next_added": len(final_report["added"]),  # type: ignore[arg-type]
                }
            )
        from index.embeddings import Embedder

        embedder = Embedder()
        clean_ids, clean_counts = _index(root / "clean", embedder)
        resumed_ids, resumed_counts = _index(root / "resumed", embedder)
    result = {
        "files": files,
        "commit_every_docs": every,
        "clean_seconds": round(clean_s, 1),
        "clean_added": len(clean_report["added"]),  # type: ignore[arg-type]
        "killed_and_resumed_seconds": round(resumed_s, 1),
        "kills": [asdict(k) for k in kills],
        "same_document_ids": set(clean_ids) == set(resumed_ids),
        "same_chunk_ids": clean_ids == resumed_ids,
        "clean": clean_counts,
        "resumed": resumed_counts,
        "lost_at_most_one_interval": all(k.lost <= k.interval for k in kills),
    }
    lines = [
        "# Resumable ingest: killed and run again vs a clean build",
        "",
        f"`python -m eval.bench_resume --files {args.files} --kills {args.kills} --seed {args.seed}"
        + (f" --commit-every-docs {args.commit_every_docs}" if args.commit_every_docs else "")
        + f"`: {files} SciFact abstracts as files, commit every {every} documents.",
        "",
        "| kill | at rows | after (s) | committed | lost (indexed again) | next run: unchanged | next run: added |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for i, k in enumerate(kills, start=1):
        lines.append(
            f"| {i} | {k.target_rows} | {k.seconds} | {k.committed} | {k.lost} | "
            f"{'' if k.next_unchanged is None else k.next_unchanged} | {'' if k.next_added is None else k.next_added} |"
        )
    lines += [
        "",
        f"- same document ids as the clean build: {result['same_document_ids']}; same chunk ids: "
        f"{result['same_chunk_ids']}",
        f"- catalog, Chroma and lexical agree: clean {bool(clean_counts['stores_agree'])}, resumed "
        f"{bool(resumed_counts['stores_agree'])} ({resumed_counts['catalog_documents']} documents, "
        f"{resumed_counts['catalog_chunks']} chunks)",
        f"- work lost per kill at most one commit interval ({every} documents): {result['lost_at_most_one_interval']}",
        f"- time: clean build {result['clean_seconds']} s; killed {len(kills)} times and resumed "
        f"{result['killed_and_resumed_seconds']} s in all (each run loads the model again)",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "resume.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (args.out / "resume.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    sys.stdout.write("\n".join(lines) + "\n")
    ok = result["same_chunk_ids"] and resumed_counts["stores_agree"] and result["lost_at_most_one_interval"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
