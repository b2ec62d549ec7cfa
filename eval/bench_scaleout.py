"""Load run of the scale-out (issue #17): concurrent clients against one `assistant serve` and against two in shared
mode over one `chroma run` server, all on loopback.

``python -m eval.bench_scaleout`` (``make bench-scaleout``) starts a Chroma server and two shared servers
(tests/scaleout/servers.py), uploads the demo corpus through the first, then runs ``--clients`` concurrent
clients asking the demo questions for ``--seconds``: first against the first server alone, then spread over
both (client i asks server i mod 2). Per phase it reports requests, errors by status, latency p50/p95/max and
the servers' CPU seconds per answer (from /proc: wall-clock latency on a shared machine is inflated by other
load, the CPU per answer is not). Writes reports/scaleout.{json,md}.

Two servers on one machine share its cores, so their p95 beside one server's says what the shared mode costs
(following the change log, the filter of unknown documents) and whether it stays stable under load, not the
speed-up of a second machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.chroma_server import ChromaServer
from tests.loopback import free_port
from tests.scaleout.servers import SharedServer, start_all

REPO = Path(__file__).resolve().parents[1]
DEMO_DIR = REPO / "data" / "demo"
QUESTIONS = REPO / "eval" / "demo.jsonl"
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a process (and its threads) so far."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def _client(n: int, urls: list[str], questions: list[str], until: float, out: dict[str, Any]) -> None:
    url = urls[n % len(urls)]
    i = n
    async with httpx.AsyncClient(base_url=url, timeout=300) as http:
        while time.monotonic() < until:
            question = questions[i % len(questions)]
            i += 1
            started = time.monotonic()
            try:
                response = await http.post("/ask", json={"question": question})
                status = str(response.status_code)
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            out["latencies"].append(time.monotonic() - started)
            out["status"][status] = out["status"].get(status, 0) + 1


async def _warm(url: str, questions: list[str], clients: int = 4) -> None:
    async def ask(share: list[str]) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=300) as http:
            for question in share:
                (await http.post("/ask", json={"question": question})).raise_for_status()

    await asyncio.gather(*(ask(questions[i::clients]) for i in range(clients)))


async def _phase(servers: list[SharedServer], clients: int, seconds: float, questions: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"latencies": [], "status": {}}
    cpu_before = sum(_cpu_s(s.pid) for s in servers)
    started = time.monotonic()
    until = started + seconds
    await asyncio.gather(*(_client(n, [s.url for s in servers], questions, until, out) for n in range(clients)))
    wall = time.monotonic() - started
    cpu = sum(_cpu_s(s.pid) for s in servers) - cpu_before
    latencies: list[float] = out["latencies"]
    requests = len(latencies)
    errors_5xx = sum(v for k, v in out["status"].items() if k.isdigit() and int(k) >= 500)
    return {
        "servers": len(servers),
        "clients": clients,
        "seconds": round(wall, 1),
        "requests": requests,
        "per_second": round(requests / wall, 2),
        "status": out["status"],
        "errors_5xx": errors_5xx,
        "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else 0.0,
        "p95_ms": round(_percentile(latencies, 0.95) * 1000, 1),
        "max_ms": round(max(latencies, default=0.0) * 1000, 1),
        "server_cpu_s": round(cpu, 1),
        "server_cpu_ms_per_answer": round(cpu / requests * 1000, 1) if requests else 0.0,
    }


def _markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Scale-out load run",
        "",
        f"`{report['command']}`: {report['clients']} concurrent clients for {report['seconds']} s per phase, the "
        f"{len(report['questions'])} demo questions in turn (each server warmed by answering each once), over "
        "loopback; one machine "
        f"({os.cpu_count()} cores, shared with other work while measured).",
        "",
        "| servers | requests | per s | 5xx | p50 ms | p95 ms | max ms | server CPU ms / answer |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for phase in report["phases"]:
        lines.append(
            f"| {phase['servers']} | {phase['requests']} | {phase['per_second']} | {phase['errors_5xx']} | "
            f"{phase['p50_ms']} | {phase['p95_ms']} | {phase['max_ms']} | {phase['server_cpu_ms_per_answer']} |"
        )
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=REPO / "reports")
    args = parser.parse_args(argv)
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as tmp:
        root = Path(tmp)
        chroma = ChromaServer(root / "chroma", free_port())
        chroma.start()
        collection = f"bench-{uuid.uuid4().hex[:8]}"
        servers = [SharedServer(root / "caches", chroma.url, collection) for _ in range(2)]
        try:
            start_all(servers)
            files = [("files", (p.name, p.read_bytes(), "text/plain")) for p in sorted(DEMO_DIR.glob("*.txt"))]
            response = httpx.post(f"{servers[0].url}/documents", files=files, timeout=600)
            response.raise_for_status()
            deadline = time.monotonic() + 30
            while httpx.get(f"{servers[1].url}/health", timeout=60).json()["documents"] < len(files):
                if time.monotonic() > deadline:
                    raise RuntimeError("the second server did not see the upload within 30 s")
                time.sleep(0.2)
            # every server answers every question once first: the first answer to a question embeds its passages'
            # sentences and keeps them (index.sentence_vectors), later ones read them; both phases measure warm servers
            for server in servers:
                asyncio.run(_warm(server.url, questions))
            phases = [
                asyncio.run(_phase(servers[:1], args.clients, args.seconds, questions)),
                asyncio.run(_phase(servers, args.clients, args.seconds, questions)),
            ]
        finally:
            for server in servers:
                server.stop()
            chroma.stop()
    report = {
        "command": f"python -m eval.bench_scaleout --clients {args.clients} --seconds {args.seconds:g}",
        "clients": args.clients,
        "seconds": args.seconds,
        "questions": questions,
        "phases": phases,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scaleout.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "scaleout.md").write_text(_markdown(report))
    print(_markdown(report))  # noqa: T201
    return 0 if all(p["errors_5xx"] == 0 for p in phases) else 1


if __name__ == "__main__":
    raise SystemExit(main())
