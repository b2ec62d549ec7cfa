"""A real `assistant serve` process on a loopback port: HTTP, SSE, uploads, API key, the `openai` client."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import openai
import pytest

from tests.assistant.conftest import LiveServer, SSEvent, one_line_error, run
from tests.conftest import DEMO_DIR
from tests.loopback import free_port

pytestmark = pytest.mark.slow

QUESTION = "What replaced the Diffusion Rule?"
NEW_FILE = (
    "Harbour records of Quixville\n\n"
    "The Zorblat tidal reactor in Quixville was commissioned by the engineer Miranda Okonkwo in 1987. "
    "It powers the desalination plant and the lighthouse on Gull Point.\n"
)
NEW_QUESTION = "Who commissioned the Zorblat tidal reactor in Quixville?"
Parse = Callable[[Iterable[str]], list[SSEvent]]


@pytest.fixture(scope="module")
def server(live_server: LiveServer) -> LiveServer:
    """The live server, started empty, with the demo corpus uploaded through the API."""
    with httpx.Client(base_url=live_server.url, headers=live_server.headers(), timeout=120) as http:
        assert http.get("/health").json()["documents"] == 0  # serve indexes nothing by itself
        files = [("files", (p.name, p.read_bytes(), "text/plain")) for p in sorted(DEMO_DIR.glob("*.txt"))]
        response = http.post("/documents", files=files)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["added"] * len(files)
    assert all((live_server.data_dir / r["saved_as"]).is_file() for r in results)
    return live_server


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Any:
    with httpx.Client(base_url=server.url, headers=server.headers(), timeout=120) as c:
        yield c


def test_health_and_api_key(server: LiveServer, http: httpx.Client) -> None:
    assert httpx.get(f"{server.url}/health").status_code == 401
    assert httpx.get(f"{server.url}/health", headers={"X-API-Key": "nope"}).status_code == 401
    bearer = httpx.get(f"{server.url}/health", headers={"Authorization": f"Bearer {server.api_key}"})
    assert bearer.status_code == 200
    body = http.get("/health").json()
    assert body["documents"] == 2 and body["chunks"] > 2 and body["model"]
    assert httpx.post(f"{server.url}/ask", json={"question": QUESTION}).status_code == 401


def test_ask_and_stream(http: httpx.Client, sse: Parse) -> None:
    answer = http.post("/ask", json={"question": QUESTION}).json()
    assert not answer["abstained"] and answer["citations"]
    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer["answer"])} == {c["n"] for c in answer["citations"]}

    with http.stream("POST", "/ask", json={"question": QUESTION, "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse(response.iter_lines())
    assert [n for n, _ in events][-2:] == ["citations", "done"]
    tokens = [d["text"] for n, d in events if n == "token"]
    assert len(tokens) >= 1 and "".join(tokens) == events[-1][1]["answer"] == answer["answer"]
    assert events[-2][1]["citations"] == events[-1][1]["citations"] == answer["citations"]


def test_errors_over_http(server: LiveServer, http: httpx.Client) -> None:
    assert http.post("/ask", json={"question": ""}).status_code == 422
    assert http.post("/ask", json={"question": "x" * 5000}).status_code == 422
    assert http.post("/ask", json={"question": QUESTION, "top_k": 0}).status_code == 422
    assert http.post("/ask", json={"question": QUESTION, "top_k": 51}).status_code == 422
    assert http.post("/ask", content=b"{", headers={"Content-Type": "application/json"}).status_code == 422
    assert http.get("/documents/unknown").status_code == 404
    assert http.delete("/documents/unknown").status_code == 404
    assert http.post("/documents", files=[("files", ("x.xlsx", b"PK", "application/zip"))]).status_code == 415
    too_big = b"lorem ipsum " * 100_000  # 1.2 MB, over the server's 1 MB limit
    big = http.post("/documents", files=[("files", ("big.txt", too_big, "text/plain"))])
    assert big.status_code == 413 and big.json()["error"]["code"] == 413
    assert not (server.data_dir / "uploads" / "big.txt").exists()


def test_upload_ask_delete_abstain(http: httpx.Client) -> None:
    response = http.post("/documents", files=[("files", ("quixville.txt", NEW_FILE.encode(), "text/plain"))])
    assert response.status_code == 200, response.text
    doc_id = response.json()["results"][0]["id"]
    assert doc_id in {d["id"] for d in http.get("/documents").json()}

    answer = http.post("/ask", json={"question": NEW_QUESTION}).json()
    assert not answer["abstained"] and answer["citations"][0]["doc_id"] == doc_id
    assert "Miranda Okonkwo" in answer["answer"]

    assert http.delete(f"/documents/{doc_id}").status_code == 200
    assert http.get(f"/documents/{doc_id}").status_code == 404
    after = http.post("/ask", json={"question": NEW_QUESTION}).json()
    assert after["abstained"] and not after["citations"]


def test_openai_client(server: LiveServer) -> None:
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.api_key, max_retries=0, timeout=120)
    assert "cited-assistant" in {m.id for m in client.models.list()}

    messages: list[Any] = [
        {"role": "system", "content": "Answer from the documents only."},
        {"role": "user", "content": "Tell me about the US chip export rules."},
        {"role": "assistant", "content": "They were changed in May."},
        {"role": "user", "content": QUESTION},
    ]
    completion = client.chat.completions.create(model="cited-assistant", messages=messages)
    content = completion.choices[0].message.content or ""
    citations = (completion.model_extra or {})["citations"]
    assert citations and "Sources:" in content
    assert all(f"[{c['n']}]" in content and c["title"] in content for c in citations)

    stream = client.chat.completions.create(model="cited-assistant", messages=messages, stream=True)
    pieces: list[str] = []
    last: Any = None
    for chunk in stream:
        pieces.append(chunk.choices[0].delta.content or "")
        last = chunk
    assert last.choices[0].finish_reason == "stop"
    assert (last.model_extra or {})["citations"] == citations
    assert "".join(pieces) == content

    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="wrong", max_retries=0).models.list()
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="cited-assistant", messages=[{"role": "user", "content": "  "}])


def test_a_second_process_on_the_served_index_is_refused(server: LiveServer, http: httpx.Client) -> None:
    """`assistant ingest` or `ask` on the directory a server has open: one line naming the server, no change."""
    before = http.get("/documents").json()
    for args in (["ask", QUESTION], ["ingest", str(DEMO_DIR)], ["delete", before[0]["id"]]):
        line = one_line_error(run(server.data_dir, *args))
        assert line.startswith(f"error: the index in {server.data_dir} is in use by process "), line
        assert "serve" in line and "through its API" in line
    assert http.get("/documents").json() == before
    assert http.post("/ask", json={"question": QUESTION}).json()["citations"]


def test_a_second_server_is_refused_before_it_loads_anything(server: LiveServer, http: httpx.Client) -> None:
    """`assistant serve` on a port or a directory the live server has: one line each, and the server carries on."""
    port = server.url.rsplit(":", 1)[1]
    taken = one_line_error(run(server.data_dir, "serve", "--port", port))
    assert taken.startswith(f"error: cannot serve on 127.0.0.1:{port}: the port is already in use; "), taken
    busy = one_line_error(run(server.data_dir, "serve", "--port", str(free_port())))
    assert busy.startswith(f"error: the index in {server.data_dir} is in use by process "), busy
    assert http.get("/health").json()["documents"] >= 2
