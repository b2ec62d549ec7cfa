"""Issue #17 end to end: a real `chroma run` and two real `assistant serve` processes in shared mode on
loopback. What one server writes, the other finds within 5 s (densely and lexically); a delete is seen
everywhere; a server killed during an upload leaves the other answering, and the upload is completed through
it; the killed server, restarted, catches up from the change log and its cache; Chroma down is a 503 that
heals when Chroma returns."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.api import CHROMA_DOWN
from tests.chroma_server import ChromaServer
from tests.scaleout.servers import SharedServer, start_all

pytestmark = pytest.mark.slow

VISIBLE_WITHIN_S = 5.0
# made-up documents; "zorbilite" is in one chunk of one document only
LIGHTHOUSE = (
    "The Brackwater lighthouse keeper logs\n\n"
    "The keepers of the Brackwater lighthouse recorded every passing ship in a leather logbook. "
    "In the winter of the great storm they lit the lamp with zorbilite oil, which burned for nine days. "
    "The logbook now rests in the harbour museum, where visitors can read the keepers' notes.\n"
)
ORCHARD = (
    "Notes from the Fenwick orchard\n\n"
    "The Fenwick orchard grows eleven kinds of apple on a hill above the river. "
    "Its oldest tree was grafted by the gardener Mirela Oskarsdottir and still gives fruit each autumn.\n"
)
DENSE_QUESTION = "What did the keepers of the lighthouse write down about ships?"
_TOPICS = ["barrel", "rope", "lantern", "anchor", "sail", "net", "oar", "crate"]


def _ledger() -> bytes:
    """A long made-up file (a few hundred chunks): its upload takes seconds, long enough to be killed in."""
    lines = ["The Quillfen harbour ledger\n"]
    for i in range(1800):
        topic = _TOPICS[i % len(_TOPICS)]
        lines.append(
            f"Entry {i}: the Quillfen store counted {i * 7 % 311} {topic}s in shed {i % 17} and sent "
            f"{i % 23} of them to the mooring at pier {i % 9}, where the clerk signed for them on day {i % 28}."
        )
    lines.append("The ledger closes with the note that the quartermaster Ysolde Varnhagen audited every shed.")
    return "\n".join(lines).encode()


def _upload(url: str, name: str, body: bytes, timeout: float = 600.0) -> dict[str, Any]:
    response = httpx.post(f"{url}/documents", files=[("files", (name, body, "text/plain"))], timeout=timeout)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["results"][0]
    return result


def _ask(url: str, question: str) -> dict[str, Any]:
    response = httpx.post(f"{url}/ask", json={"question": question}, timeout=120)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _sources(url: str) -> set[str]:
    return {d["source"] for d in httpx.get(f"{url}/documents", timeout=60).json()}


def _within(seconds: float, check: Callable[[], bool]) -> float:
    """Seconds until ``check()`` holds (polled); fails after ``seconds``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > seconds:
            pytest.fail(f"not within {seconds:.0f} s")
        time.sleep(0.1)
    return time.monotonic() - started


def _top_passage(answer: dict[str, Any], rank_key: str) -> str:
    """The source of the passage ranked first by one retriever (``dense_rank`` or ``bm25_rank``)."""
    ranked = [p for p in answer["passages"] if p["meta"].get(rank_key) == 1]
    return str(ranked[0]["chunk"]["meta"].get("source")) if ranked else ""


def test_two_servers_share_one_index(tmp_path: Path, chroma_server: ChromaServer) -> None:
    collection = f"two-{uuid.uuid4().hex[:10]}"
    # one data directory for both: each takes a cache directory of its own under it
    a = SharedServer(tmp_path / "caches", chroma_server.url, collection, follow_interval_s="0.5")
    b = SharedServer(tmp_path / "caches", chroma_server.url, collection, follow_interval_s="0.5")
    start_all([a, b])
    try:
        # upload through A -> B finds and cites it, densely and by a word only one chunk has
        _upload(a.url, "orchard.txt", ORCHARD.encode())
        added = _upload(a.url, "lighthouse.txt", LIGHTHOUSE.encode())
        assert added["status"] == "added"
        seen = _within(VISIBLE_WITHIN_S, lambda: "lighthouse.txt" in _sources(b.url))
        dense = _ask(b.url, DENSE_QUESTION)
        assert {c["source"] for c in dense["citations"]} == {"lighthouse.txt"}
        assert _top_passage(dense, "dense_rank") == "lighthouse.txt"
        rare = _ask(b.url, "zorbilite")
        assert _top_passage(rare, "bm25_rank") == "lighthouse.txt"
        print(f"visible through B after {seen:.2f} s")

        # delete through B -> A no longer cites it
        assert httpx.delete(f"{b.url}/documents/{added['id']}", timeout=60).status_code == 200
        _within(VISIBLE_WITHIN_S, lambda: "lighthouse.txt" not in _sources(a.url))
        assert "lighthouse.txt" not in {c["source"] for c in _ask(a.url, DENSE_QUESTION)["citations"]}
        assert not [p for p in _ask(a.url, "zorbilite")["passages"] if p["meta"].get("bm25_rank")]

        # kill -9 A during an upload -> B keeps answering; uploading through B completes it
        _upload(b.url, "lighthouse.txt", LIGHTHOUSE.encode())
        failed: list[BaseException] = []

        def upload_to_a() -> None:
            try:
                _upload(a.url, "ledger.txt", _ledger())
            except BaseException as exc:  # the connection dies with A
                failed.append(exc)

        uploading = threading.Thread(target=upload_to_a)
        uploading.start()
        time.sleep(2.0)
        a.kill()
        uploading.join(timeout=60)
        assert failed, "the upload finished before A was killed"
        assert "ledger.txt" not in _sources(b.url)
        assert {c["source"] for c in _ask(b.url, DENSE_QUESTION)["citations"]} == {"lighthouse.txt"}
        done = _upload(b.url, "ledger.txt", _ledger())
        assert done["status"] == "added"
        ledger_q = "Who audited every shed of the Quillfen store?"
        assert "ledger.txt" in {c["source"] for c in _ask(b.url, ledger_q)["citations"]}

        # restart A -> it catches up from the change log, not rebuilding its cache
        a.launch()
        a.wait()
        shared = httpx.get(f"{a.url}/health", timeout=60).json()["shared"]
        assert shared["startup"]["rebuilt"] is False
        assert shared["startup"]["applied"] <= 3  # lighthouse.txt back, ledger.txt new: not the whole index
        assert _sources(a.url) == _sources(b.url) == {"orchard.txt", "lighthouse.txt", "ledger.txt"}
        assert "ledger.txt" in {c["source"] for c in _ask(a.url, ledger_q)["citations"]}

        # Chroma down -> 503 with a message naming it; back -> answers again
        chroma_server.stop()
        try:
            down = httpx.post(f"{b.url}/ask", json={"question": DENSE_QUESTION}, timeout=60)
            assert down.status_code == 503, down.text
            assert down.json()["error"]["message"] == CHROMA_DOWN and down.headers["Retry-After"] == "5"
            assert httpx.get(f"{a.url}/health", timeout=60).status_code == 503
        finally:
            chroma_server.start()
        _within(30, lambda: httpx.get(f"{b.url}/health", timeout=60).status_code == 200)
        assert {c["source"] for c in _ask(b.url, DENSE_QUESTION)["citations"]} == {"lighthouse.txt"}
    finally:
        a.stop()
        b.stop()
