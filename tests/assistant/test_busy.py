"""A real server on loopback under pressure (issue #14): blocked writers never starve readers, and slow or
unauthenticated clients are answered without the server waiting for their bytes."""

from __future__ import annotations

import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from assistant.api import create_app, http_protocol
from assistant.service import Assistant
from tests.loopback import serve_app

FACT = (
    "# Lighthouse log\n\nThe Gull Point lighthouse was kept by Tomas Brandt from 1981 to 1990. "
    "He logged every passing ship in a green ledger.\n"
)
QUESTION = "Who kept the Gull Point lighthouse?"
WRITERS = 45  # more than AnyIO's 40 default threads


@pytest.fixture
def lighthouse(make_assistant: Callable[..., Assistant], tmp_path: Path) -> Assistant:
    svc = make_assistant(write_wait_s=3.0)
    doc = tmp_path / "lighthouse.md"
    doc.write_text(FACT)
    assert not svc.ingest([doc]).errors
    return svc


def test_blocked_writers_never_starve_readers(lighthouse: Assistant) -> None:
    """45 uploads and deletes wait on a write lock the test holds; /health and /ask still answer, and every write
    ends (503 with Retry-After while the index is held)."""
    doc_id = lighthouse.documents()[0].id
    with serve_app(create_app(lighthouse, lighthouse.settings, ui=False)) as url:

        def write(i: int) -> httpx.Response:
            with httpx.Client(base_url=url, timeout=120) as c:
                if i % 2:
                    return c.delete(f"/documents/{doc_id}")
                return c.post("/documents", files=[("files", (f"note{i}.txt", b"A note about tides.", "text/plain"))])

        lock = lighthouse._write_lock
        lock.acquire()  # a write that never ends, as the 30-minute .docx did
        held = True
        try:
            with ThreadPoolExecutor(WRITERS) as pool:
                writes = [pool.submit(write, i) for i in range(WRITERS)]
                with httpx.Client(base_url=url, timeout=60) as reader:
                    for _ in range(3):
                        health = reader.get("/health")
                        assert health.status_code == 200 and health.json()["documents"] == 1
                        answer = reader.post("/ask", json={"question": QUESTION})
                        assert answer.status_code == 200 and "Tomas Brandt" in answer.json()["answer"]
                        assert reader.get("/documents").status_code == 200
                        streamed = reader.post("/ask/stream", json={"question": QUESTION})
                        assert streamed.status_code == 200 and "event: done" in streamed.text
                responses = [w.result(timeout=120) for w in writes]
            lock.release()
            held = False
        finally:
            if held:
                lock.release()
    statuses = [r.status_code for r in responses]
    assert statuses == [503] * WRITERS, statuses  # the lock was held throughout: none could write
    for r in responses:
        assert int(r.headers["Retry-After"]) >= 1
        assert r.json()["error"]["type"] == "write_busy"
    assert [d.id for d in lighthouse.documents()] == [doc_id]  # nothing was written


def test_writes_succeed_once_the_index_is_free(lighthouse: Assistant) -> None:
    with serve_app(create_app(lighthouse, lighthouse.settings, ui=False)) as url, ThreadPoolExecutor(8) as pool:

        def upload(i: int) -> httpx.Response:
            files = [("files", (f"tide{i}.txt", f"Tide table number {i} for Gull Point.".encode(), "text/plain"))]
            return httpx.post(f"{url}/documents", files=files, timeout=120)

        responses = list(pool.map(upload, range(8)))
    assert all(r.status_code in (200, 503) for r in responses), [r.text for r in responses]
    assert any(r.status_code == 200 for r in responses)
    added = sum(r.status_code == 200 for r in responses)
    assert len(lighthouse.documents()) == 1 + added


def _raw(url: str, request: bytes, *, wait: float = 60.0) -> bytes:
    """Send ``request`` bytes on a fresh connection and read until the server closes it or answers fully."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(request)
        data = b""
        while True:
            try:
                block = sock.recv(65536)
            except TimeoutError:
                return data + b"<timed out>"
            if not block:
                return data
            data += block
            if b"\r\n\r\n" in data:
                head, _, body = data.partition(b"\r\n\r\n")
                length = [
                    int(v)
                    for k, v in (h.split(b":", 1) for h in head.split(b"\r\n")[1:])
                    if k.lower() == b"content-length"
                ]
                if length and len(body) >= length[0]:
                    return data


def test_unauthenticated_upload_is_refused_before_its_body(lighthouse: Assistant) -> None:
    settings = lighthouse.settings.model_copy(update={"api_key": "k" * 24})
    with serve_app(create_app(lighthouse, settings, ui=False)) as url:
        # headers of a 19 MB multipart upload, and not one byte of its body: the 401 must not wait for it
        head = (
            b"POST /documents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 19000000\r\n\r\n"
        )
        reply = _raw(url, head, wait=30)
    assert reply.startswith(b"HTTP/1.1 401"), reply[:200]
    assert b"a valid API key is required" in reply


def test_a_stalled_body_gets_408(lighthouse: Assistant) -> None:
    with serve_app(create_app(lighthouse, lighthouse.settings, ui=False, body_timeout_s=1.0)) as url:
        head = b"POST /ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        reply = _raw(url, head + b'{"question": ', wait=60)
        assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
        assert b"stalled" in reply
        # a slow stream of SSE after the body is complete is not cut by the body timeout
        ok = httpx.post(f"{url}/ask", json={"question": QUESTION, "stream": True}, timeout=60)
        assert ok.status_code == 200 and "event: done" in ok.text


def test_slow_request_headers_are_cut_off(lighthouse: Assistant) -> None:
    app = create_app(lighthouse, lighthouse.settings, ui=False)
    with serve_app(app, http=http_protocol(1.0)) as url:
        reply = _raw(url, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", wait=60)
        assert b"<timed out>" not in reply  # the server closed the connection rather than wait for the rest
        assert not reply.startswith(b"HTTP/1.1 200")
        whole = _raw(url, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", wait=60)
        assert whole.startswith(b"HTTP/1.1 200")
