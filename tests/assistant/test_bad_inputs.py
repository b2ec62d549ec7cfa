"""The bad-input corpus (tests/assistant/bad_inputs.json) against real `assistant serve` processes.

Each case is one request and the status (and error message) it must get. After every case the server must
still answer /health, the documents list must be what it was (refused input changes nothing; what an accepted
upload added is deleted again) and the stored uploads must be what they were (a refused upload leaves no
file; deleting a document deletes its stored upload).
"""

from __future__ import annotations

import io
import json
import random
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.assistant.served import Served, ingest_demo, serving
from tests.conftest import DEMO_DIR

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).with_name("bad_inputs.json")
CASES: list[dict[str, Any]] = json.loads(CORPUS.read_text(encoding="utf-8"))["cases"]
API_KEY = "bad-inputs-key-5f1c2a"
UPLOAD_MB = "1"
AUTH_FAILURES_PER_MINUTE = "5"


@dataclass(frozen=True)
class Target:
    """A running server and how to talk to it as its rightful user."""

    served: Served
    key: str | None = None

    def client(self, *, local_address: str | None = None, auth: str = "key") -> httpx.Client:
        headers = {}
        if self.key and auth == "key":
            headers["X-API-Key"] = self.key
        elif auth == "wrong":
            headers["X-API-Key"] = "not-the-key"
        elif auth == "bearer-wrong":
            headers["Authorization"] = "Bearer not-the-key"
        transport = httpx.HTTPTransport(local_address=local_address) if local_address else None
        return httpx.Client(base_url=self.served.url, headers=headers, timeout=120, transport=transport)


@dataclass(frozen=True)
class Snapshot:
    documents: dict[str, dict[str, Any]]
    uploads: list[str]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bad-inputs")


@pytest.fixture(scope="module")
def servers(root: Path) -> Iterator[dict[str, Target]]:
    """'open': no key, the demo corpus ingested by the CLI, 1 MB uploads; 'auth': an API key, an empty index."""
    open_dir = root / "open-index"
    ingest_demo(open_dir, root / "docs")
    with (
        serving(open_dir, max_upload_mb=UPLOAD_MB) as open_server,
        serving(root / "auth-index", api_key=API_KEY, auth_failures_per_minute=AUTH_FAILURES_PER_MINUTE) as auth,
    ):
        yield {"open": Target(open_server), "auth": Target(auth, key=API_KEY)}


# ---------------------------------------------------------------------- building requests from the data


def expand(value: Any) -> Any:
    """A JSON value with the corpus's generators ($repeat, $ids, $cycle) replaced by what they make."""
    if isinstance(value, dict):
        if "$repeat" in value:
            return value["$repeat"] * value["times"]
        if "$ids" in value:
            return [f"{i:016x}" for i in range(value["$ids"])]
        if "$cycle" in value:
            return [expand(item) for _ in range(value["times"]) for item in value["$cycle"]]
        return {k: expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v) for v in value]
    return value


def pdf_bytes(text: str) -> bytes:
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    page = canvas.Canvas(out)
    page.drawString(72, 720, text)
    page.showPage()
    page.save()
    return out.getvalue()


def content(spec: Any, seed: str) -> bytes:
    """The bytes of a corpus content spec."""
    if isinstance(spec, str):
        return spec.encode("utf-8")
    if "text" in spec:
        return str(spec["text"] * spec.get("times", 1)).encode("utf-8")
    if "hex" in spec:
        return bytes.fromhex(spec["hex"])
    if "random" in spec:
        return random.Random(seed).randbytes(spec["random"])
    if "pdf" in spec:
        return pdf_bytes(spec["pdf"])
    if "nest" in spec:
        return b"[" * spec["nest"] + b"]" * spec["nest"]
    if "demo" in spec:
        return (DEMO_DIR / spec["demo"]).read_bytes()
    raise ValueError(f"unknown content spec {spec!r}")


def request_of(case: dict[str, Any]) -> dict[str, Any]:
    """httpx.Client.request keyword arguments for a case."""
    path = case["path"]
    if isinstance(path, list):
        path = "".join(expand(part) for part in path)
    headers = dict(case.get("headers", {}))
    kwargs: dict[str, Any] = {"method": case["method"], "url": path}
    if "json" in case:
        kwargs["content"] = json.dumps(expand(case["json"]), ensure_ascii=False).encode("utf-8")
        headers["Content-Type"] = "application/json"
    elif "body" in case:
        kwargs["content"] = content(case["body"], case["id"])
        headers["Content-Type"] = case["content_type"]
    elif "files" in case:
        kwargs["files"] = [
            (
                f.get("field", "files"),
                (f["name"], content(f["content"], case["id"] + f["name"]), f.get("type", "application/octet-stream")),
            )
            for f in case["files"]
        ]
    kwargs["headers"] = headers
    return kwargs


def send(target: Target, case: dict[str, Any]) -> list[httpx.Response]:
    """The case's request, repeated (up to ``repeat`` times) until it gets the expected status."""
    expected = case["expect"]["status"]
    responses: list[httpx.Response] = []
    kwargs = request_of(case)
    with target.client(local_address=case.get("local_address"), auth=case.get("auth", "key")) as http:
        for _ in range(case.get("repeat", 1)):
            responses.append(http.request(**kwargs))
            if responses[-1].status_code == expected:
                break
    return responses


# ---------------------------------------------------------------------- checks


def snapshot(target: Target) -> Snapshot:
    with target.client() as http:
        health = http.get("/health")
        assert health.status_code == 200, health.text
        listing = http.get("/documents")
        assert listing.status_code == 200, listing.text
    folder = target.served.data_dir / "uploads"
    uploads = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    return Snapshot(documents={d["id"]: d for d in listing.json()}, uploads=uploads)


def check_response(case: dict[str, Any], responses: list[httpx.Response], root: Path, before: Snapshot) -> None:
    expect = case["expect"]
    response = responses[-1]
    shown = f"{case['id']}: {response.status_code} {response.text[:600]}"
    assert response.status_code == expect["status"], shown
    for earlier in responses[:-1]:
        assert earlier.status_code == expect.get("before"), f"{case['id']}: {earlier.status_code} {earlier.text[:300]}"
    text = response.text
    assert "Traceback" not in text, shown
    assert str(root) not in text and str(root.resolve()) not in text, f"a server path in the response: {shown}"
    for name in expect.get("headers", []):
        assert name in response.headers, f"{case['id']}: no {name} header in {dict(response.headers)}"
    if response.status_code >= 400:
        error = response.json().get("error")
        assert isinstance(error, dict), shown
        assert isinstance(error.get("message"), str) and error["message"].strip(), shown
        assert isinstance(error.get("type"), str) and error["type"], shown
        assert error.get("code") == response.status_code, shown
        message = error["message"].lower()
        for part in expect.get("message", []):
            assert part.lower() in message, f"{case['id']}: {part!r} not in {error['message']!r}"
        for part in expect.get("not_message", []):
            assert part.lower() not in message, f"{case['id']}: {part!r} in {error['message']!r}"
    if "results" in expect:
        results = response.json()["results"]
        assert [r["status"] for r in results] == expect["results"], shown
        added = [r for r in results if r["status"] == "added"]
        if expect.get("distinct_ids"):
            ids = [r["id"] for r in added]
            assert len(set(ids)) == len(ids) and not set(ids) & set(before.documents), shown
        for r in added:
            saved = r["saved_as"]
            assert saved.startswith("uploads/") and ".." not in Path(saved).parts, shown
            assert saved.endswith(expect.get("saved_as_suffix", "")), shown


def clean_up(target: Target, before: Snapshot) -> list[str]:
    """Delete every document the case added; their ids."""
    with target.client() as http:
        added = [d["id"] for d in http.get("/documents").json() if d["id"] not in before.documents]
        for doc_id in added:
            deleted = http.delete(f"/documents/{doc_id}")
            assert deleted.status_code == 200, deleted.text
    return added


# ---------------------------------------------------------------------- the tests


def test_the_corpus_is_well_formed() -> None:
    ids = [case["id"] for case in CASES]
    assert len(ids) >= 60 and len(set(ids)) == len(ids)
    for case in CASES:
        assert case.get("server", "open") in {"open", "auth"} and case["method"] and case["path"], case["id"]
        assert isinstance(case["expect"]["status"], int), case["id"]
        assert "before" in case["expect"] or case.get("repeat", 1) == 1, case["id"]


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in CASES])
def test_bad_input(case: dict[str, Any], servers: dict[str, Target], root: Path) -> None:
    target = servers[case.get("server", "open")]
    before = snapshot(target)
    try:
        responses = send(target, case)
        check_response(case, responses, root, before)
        after = snapshot(target)  # /health answers
        added = {k: v for k, v in after.documents.items() if k not in before.documents}
        assert len(added) == case.get("added", 0), f"{case['id']}: added {list(added.values())}"
        kept = {k: v for k, v in after.documents.items() if k in before.documents}
        assert kept == before.documents, f"{case['id']}: the existing documents changed"
    finally:
        clean_up(target, before)
    cleaned = snapshot(target)
    assert cleaned.documents == before.documents
    assert cleaned.uploads == before.uploads, f"{case['id']}: stored uploads {before.uploads} -> {cleaned.uploads}"


def read_response(sock: socket.socket) -> bytes:
    """One HTTP/1.1 response with a Content-Length, read from a socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            return data
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    while length and len(body) < int(length.group(1)):
        more = sock.recv(65536)
        if not more:
            break
        body += more
    return head + b"\r\n\r\n" + body


@pytest.mark.parametrize(("server", "status"), [("auth", 401), ("open", 413)])
def test_a_large_upload_is_refused_before_its_body_is_read(
    servers: dict[str, Target], server: str, status: int
) -> None:
    """Item 5: an unauthenticated (or over-limit) 19 MB multipart upload is answered from its headers; the server
    does not wait for, let alone parse, the body (sent here only in part)."""
    target = servers[server]
    port = int(target.served.url.rsplit(":", 1)[1])
    boundary = "bad-inputs-boundary"
    head = (
        f"POST /documents HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {19 * 1024 * 1024}\r\n\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    before = snapshot(target)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + b"lorem ipsum " * 5000)
        try:
            reply = read_response(sock)
        except TimeoutError:
            pytest.fail("the server waited for the rest of the body before answering")
    assert reply.startswith(f"HTTP/1.1 {status} ".encode()), reply[:300]
    assert b'"error"' in reply
    assert snapshot(target) == before


def test_sources_are_relative(servers: dict[str, Target], root: Path) -> None:
    """Item 6: no response names a server path; a source is the path under the ingested root or the upload name."""
    with servers["open"].client() as http:
        documents = http.get("/documents").json()
        answer = http.post("/ask", json={"question": "What replaced the Diffusion Rule?"}).json()
    sources = [d["source"] for d in documents] + [c["source"] for c in answer["citations"]]
    assert answer["citations"] and len(documents) == 2
    for source in sources:
        assert not Path(source).is_absolute() and not re.match(r"^[A-Za-z]:[\\/]", source), source
        assert str(root) not in source and ".." not in Path(source).parts, source
    assert {Path(s).name for s in sources} <= {p.name for p in DEMO_DIR.glob("*.txt")}


def test_no_traceback_in_the_server_logs(servers: dict[str, Target]) -> None:
    """Run last: nothing in the corpus made either server log a traceback."""
    for target in servers.values():
        log = target.served.log.read_text(encoding="utf-8", errors="replace")
        assert "Traceback" not in log, log[-4000:]
