"""The `assistant` command line: ingest, ask, docs, delete, serve, eval."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.errors import AssistantError

if TYPE_CHECKING:
    from assistant.service import Assistant
    from assistant.types import Answer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class UsageError(Exception):
    """Bad command-line input."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assistant", description="Cited answers from your documents, offline.")
    parser.add_argument("--data-dir", help="index directory (default: $ASSISTANT_DATA_DIR or data/index)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="index files or directories (incremental)")
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--prune", action="store_true", help="remove indexed documents whose files are gone")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="read, cut and embed in N processes, this one writing (default: $ASSISTANT_INGEST_WORKERS or 1)",
    )
    p.add_argument(
        "--ray",
        default=None,
        metavar="ADDRESS",
        help="fan out as Ray tasks on this cluster ('auto': start a local Ray; default: $ASSISTANT_RAY_ADDRESS)",
    )

    p = sub.add_parser("ask", help="ask a question ('-' reads one question per line from stdin)")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print the Answer as JSON")
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--mode", default=None, help="extractive or generative")
    p.add_argument("--doc", action="append", dest="doc_ids", help="only this document id (repeatable)")
    p.add_argument("--source", action="append", dest="sources", help="only this source path (repeatable)")

    p = sub.add_parser("docs", help="list indexed documents")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("delete", help="remove a document from the index")
    p.add_argument("doc_id")

    p = sub.add_parser("serve", help="serve the API and the chat UI")
    p.add_argument("--host", default=None, help="address to listen on (default: $ASSISTANT_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port to listen on (default: $ASSISTANT_PORT or 8000)")
    p.add_argument("--check", action="store_true", help="only check that the address is free to listen on, then exit")

    p = sub.add_parser("eval", help="score answers and retrieval on an eval set")
    p.add_argument("--set", dest="eval_set", type=Path, default=None, help="JSONL eval set (default: demo set)")
    p.add_argument("--beir", type=Path, default=None, help="a BEIR dataset directory")
    p.add_argument("--split", default="test")
    p.add_argument("--llama-dataset", type=Path, default=None, help="a LlamaIndex LabelledRagDataset directory")
    p.add_argument("--financebench", type=Path, default=None, help="a FinanceBench directory (page-gold set)")
    p.add_argument("--max-documents", type=int, default=None, help="FinanceBench subset: at most N documents")
    p.add_argument("--max-pages", type=int, default=None, help="FinanceBench subset: at most N pages")
    p.add_argument("--page-set", type=Path, default=None, help="a page-gold JSONL set (eval/PAGE_SETS.md)")
    p.add_argument("--files", type=Path, default=None, help="the file or directory a --page-set is asked over")
    p.add_argument("--name", default=None, help="report name (and thresholds section) of a page-gold run")
    p.add_argument("--no-baseline", action="store_true", help="skip the plain llama-index pipeline run beside ours")
    p.add_argument(
        "--pdf-cache",
        type=Path,
        default=None,
        help="keep what the PDF parsers extract in this directory and reuse it on the next run of the same files",
    )
    p.add_argument("--mode", default=None)
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.add_argument("--out", type=Path, default=Path("reports"), help="where JSON and Markdown reports go")
    p.add_argument("--gate", action="store_true", help="exit 1 when a metric is below its threshold")
    return parser


def _service(args: argparse.Namespace, **overrides: object) -> Assistant:
    from assistant.config import get_settings

    if args.data_dir:
        overrides["data_dir"] = Path(args.data_dir)
    settings = get_settings(**overrides)
    _check_index_free(Path(settings.data_dir))
    from assistant.service import Assistant  # imports torch, Chroma and llama-index: after the checks

    return Assistant(settings)


def _check_index_free(data_dir: Path) -> None:
    """Raise IndexInUse at once when another process holds the index directory, before the slow imports and the
    model load. The service takes the lock for good when it opens; this only tries it and lets go."""
    from index.lock import DirectoryLock

    lock = DirectoryLock(data_dir)
    lock.acquire()
    lock.release()


def _check_address_free(host: str, port: int) -> None:
    """Raise UsageError with one line when nothing could listen on ``host:port`` (taken, not ours, no such
    address), before the model loads. Bound like uvicorn binds (SO_REUSEADDR), then let go at once."""
    if not 0 <= port <= 65535:
        raise UsageError(f"port {port} is not a port number (0-65535)")
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    hint = "choose another with --port, ASSISTANT_PORT or `make run PORT=...`"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"cannot serve on {where}: no such address ({exc})") from None
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(f"cannot serve on {where}: the port is already in use; {hint}") from None
            if exc.errno == errno.EACCES:
                raise UsageError(f"cannot serve on {where}: permission denied (ports below 1024 need root)") from None
            raise UsageError(f"cannot serve on {where}: {exc.strerror or exc}") from None


def _format_answer(answer: Answer) -> str:
    from assistant.scope import describe

    note = describe(answer)
    lines = [f"({note})"] if note else []
    lines += [answer.answer, ""]
    if answer.abstained:
        lines.append("Nearest passages:")
        for i, p in enumerate(answer.passages[:3], start=1):
            title = p.chunk.meta.get("title", "")
            snippet = " ".join(p.chunk.text.split())[:200]
            lines.append(f"  ({i}) {title} [{p.score:.2f}]: {snippet}…")
        return "\n".join(lines)
    lines.append("Sources:")
    referents = answer.referents()
    for c in answer.citations:
        where = Path(c.source).name + (f", p. {c.page}" if c.page else "")
        lines.append(f"  [{c.n}] {c.title} ({where}, chars {c.start}-{c.end}, score {c.score:.2f})")
        lines.append(f"      “{' '.join(c.quote.split())}”")
        if c.n in referents:
            citing, phrase = referents[c.n]
            lines.append(f"      (what [{citing}] calls “{phrase}”)")
    return "\n".join(lines)


def _ask(args: argparse.Namespace) -> int:
    svc = _service(args)
    kwargs = {"top_k": args.top_k, "mode": args.mode, "doc_ids": args.doc_ids, "sources": args.sources}
    if args.question == "-":
        status = 0
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                answer = svc.ask(line, **kwargs)
                out = answer.model_dump_json() if args.json else _format_answer(answer)
            except AssistantError as exc:
                out = json.dumps({"question": line.strip(), "error": str(exc)}) if args.json else f"error: {exc}"
                status = 1
            print(out, flush=True)
        return status
    answer = svc.ask(args.question, **kwargs)
    print(answer.model_dump_json(indent=2) if args.json else _format_answer(answer))
    return 0


def _ingest(args: argparse.Namespace) -> int:
    missing = [str(p) for p in args.paths if not p.exists()]
    if len(missing) == len(args.paths):
        raise UsageError(f"no such file or directory: {', '.join(missing)}")
    svc = _service(args)
    progress = sys.stderr.isatty() or not args.json
    workers = args.workers if args.workers is not None else svc.settings.ingest_workers
    ray_address = args.ray or svc.settings.ray_address
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, not {workers}")
    if workers > 1 or ray_address:
        from assistant.workers import ingest as fanned_out

        report = fanned_out(
            svc, args.paths, workers=workers, ray_address=ray_address, prune=args.prune, progress=progress
        )
    else:
        report = svc.ingest(args.paths, prune=args.prune, progress=progress)
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print(
            f"added {len(report.added)}, replaced {len(report.replaced)}, unchanged {len(report.unchanged)}, "
            f"removed {len(report.removed)}, failed {len(report.errors)}; {len(svc.documents())} documents indexed"
        )
        for path, reason in report.errors.items():
            print(f"skipped {path}: {reason}", file=sys.stderr)
    indexed = report.added or report.replaced or report.unchanged
    return 0 if indexed or not report.errors else 1


def _docs(args: argparse.Namespace) -> int:
    docs = _service(args).documents()
    if args.json:
        print(json.dumps([d.model_dump(mode="json") for d in docs], indent=2))
    elif not docs:
        print("no documents indexed")
    for d in [] if args.json else docs:
        print(f"{d.id}  {d.chunks:4d} chunks  {d.title[:60]}  ({d.source})")
    return 0


def _delete(args: argparse.Namespace) -> int:
    svc = _service(args)
    svc.delete(args.doc_id)
    print(f"deleted {args.doc_id}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    if args.check and args.host is not None and args.port is not None:
        _check_address_free(args.host, args.port)  # needs only the standard library (`make run` before install)
        return 0
    from assistant.config import get_settings

    overrides: dict[str, object] = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    if args.data_dir:
        overrides["data_dir"] = Path(args.data_dir)
    settings = get_settings(**overrides)
    # the cheap refusals first: a taken port or a busy index are reported before the model loads
    _check_address_free(settings.host, settings.port)
    if args.check:
        return 0
    if not settings.shared:  # shared: each process locks a cache directory of its own under it (docs/scale-out.md)
        _check_index_free(Path(settings.data_dir))
    from assistant.api import serve

    serve(settings)
    return 0


def _check_eval_args(args: argparse.Namespace) -> None:
    """One-line UsageErrors for eval arguments that cannot go together or name nothing, before any model loads."""
    chosen = [
        flag
        for flag, value in (
            ("--set", args.eval_set),
            ("--beir", args.beir),
            ("--llama-dataset", args.llama_dataset),
            ("--financebench", args.financebench),
            ("--page-set", args.page_set),
        )
        if value is not None
    ]
    if len(chosen) > 1:
        raise UsageError(f"choose one of {', '.join(chosen)}")
    for flag, value in (("--max-documents", args.max_documents), ("--max-pages", args.max_pages)):
        if value is not None and args.financebench is None:
            raise UsageError(f"{flag} only applies to --financebench")
        if value is not None and value < 1:
            raise UsageError(f"{flag} must be at least 1, not {value}")
    if (args.page_set is None) != (args.files is None):
        raise UsageError("--page-set and --files go together")
    for flag, path in (
        ("--financebench", args.financebench),
        ("--page-set", args.page_set),
        ("--files", args.files),
        ("--beir", args.beir),
        ("--llama-dataset", args.llama_dataset),
        ("--set", args.eval_set),
    ):
        if path is not None and not path.exists():
            raise UsageError(f"{flag}: no such file or directory: {path}")
    if args.top_k < 1:
        raise UsageError(f"--top-k must be at least 1, not {args.top_k}")


def _eval(args: argparse.Namespace) -> int:
    from eval.commands import run_eval_command
    from eval.errors import EvalError

    _check_eval_args(args)
    try:
        report, failures = run_eval_command(args)
    except EvalError as exc:
        raise UsageError(str(exc)) from None
    print(report.to_json() if args.json else report.to_markdown())
    for failure in failures:
        print(f"gate: {failure}", file=sys.stderr)
    return 1 if failures and args.gate else 0


_COMMANDS = {"ingest": _ingest, "ask": _ask, "docs": _docs, "delete": _delete, "serve": _serve, "eval": _eval}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit status. Output into a closed pipe (`assistant docs | head -1`) ends it quietly."""
    try:
        try:
            return _run(argv)
        finally:
            sys.stdout.flush()  # a closed pipe shows here, not as a traceback at interpreter exit
    except BrokenPipeError:
        # what is still buffered goes nowhere; 141 is what a shell reports for a command ended by SIGPIPE
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141


def _run(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    from index.errors import IndexStoreError
    from ingest.errors import IngestError

    try:
        return _COMMANDS[args.command](args)
    except (AssistantError, IngestError, IndexStoreError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
