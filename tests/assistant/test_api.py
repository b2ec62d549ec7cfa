"""The HTTP API through FastAPI's TestClient, over a real service (real MiniLM, Chroma, BM25)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from assistant.api import CHROMA_DOWN, UI_PATH, create_app, status_for
from assistant.errors import DocumentNotFound, EmptyIndex, InvalidQuestion
from assistant.service import Assistant, __version__
from assistant.uploads import safe_filename
from tests.assistant.conftest import TEST_HOSTS, SSEvent

QUESTION = "What replaced the Diffusion Rule?"
Parse = Callable[[Iterable[str]], list[SSEvent]]
MakeClient = Callable[..., TestClient]

CITATION_KEYS = {"n", "doc_id", "title", "source", "chunk_id", "start", "end", "quote", "score", "page", "passage"}
ANSWER_KEYS = {"question", "answer", "abstained", "citations", "passages", "timings_ms", "meta"}

# A fact the demo corpus knows nothing about, for the upload -> ask -> delete -> abstain cycle.
NEW_FILE = (
    "# Field notes from Quixville\n\n"
    "The Zorblat tidal reactor in Quixville was commissioned by the engineer Miranda Okonkwo in 1987. "
    "It powers the town's desalination plant and the lighthouse on Gull Point.\n"
)
NEW_QUESTION = "Who commissioned the Zorblat tidal reactor in Quixville?"


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert body["error"]["code"] == status
    return dict(body["error"])


def _check_answer_json(body: dict[str, Any]) -> None:
    assert set(body) == ANSWER_KEYS
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", body["answer"])}
    assert markers == {c["n"] for c in body["citations"]}
    for c in body["citations"]:
        assert set(c) >= CITATION_KEYS
        assert " ".join(c["quote"].split()) in " ".join(c["passage"].split())


# ---------------------------------------------------------------------- answering


def test_ask_returns_the_services_answer_as_json(client: TestClient, api_service: Assistant) -> None:
    response = client.post("/ask", json={"question": QUESTION})
    assert response.status_code == 200
    body = response.json()
    _check_answer_json(body)
    assert not body["abstained"] and body["citations"]
    expected = api_service.ask(QUESTION)
    assert body["answer"] == expected.answer
    assert [c["quote"] for c in body["citations"]] == [c.quote for c in expected.citations]
    assert body["question"] == QUESTION and body["timings_ms"]["total"] > 0


def test_ask_top_k_filters_and_history(client: TestClient, api_service: Assistant) -> None:
    body = client.post("/ask", json={"question": QUESTION, "top_k": 1}).json()
    assert len(body["passages"]) == 1

    docs = api_service.documents()
    only = docs[0].id
    body = client.post("/ask", json={"question": QUESTION, "filters": {"doc_ids": [only]}}).json()
    assert body["passages"] and {p["chunk"]["doc_id"] for p in body["passages"]} == {only}

    name = Path(docs[1].source).name
    body = client.post("/ask", json={"question": QUESTION, "filters": {"sources": [name]}}).json()
    assert {p["chunk"]["doc_id"] for p in body["passages"]} == {docs[1].id}

    follow = client.post(
        "/ask", json={"question": "And when was it rolled back?", "history": [[QUESTION, body["answer"]]]}
    )
    assert follow.status_code == 200
    assert follow.json()["meta"].get("standalone_question", "").startswith(QUESTION)


def test_ask_about_a_named_document_says_its_scope(client: TestClient, api_service: Assistant) -> None:
    cgtn = next(d.id for d in api_service.documents() if "cgtn" in d.source)
    body = client.post("/ask", json={"question": "What question does the CGTN commentary end with?"}).json()
    assert body["meta"]["focus"] == "end" and body["meta"]["named_documents"] == [cgtn]
    assert {p["chunk"]["doc_id"] for p in body["passages"]} == {cgtn}
    assert body["citations"] and body["citations"][-1]["quote"].endswith("innovate faster?")


@pytest.mark.parametrize("path,extra", [("/ask", {"stream": True}), ("/ask/stream", {})])
def test_ask_streams_server_sent_events(client: TestClient, sse: Parse, path: str, extra: dict[str, Any]) -> None:
    with client.stream("POST", path, json={"question": QUESTION, **extra}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse(response.iter_lines())
    names = [name for name, _ in events]
    assert names[-2:] == ["citations", "done"] and set(names[:-2]) == {"token"}
    tokens = "".join(data["text"] for name, data in events if name == "token")
    done = events[-1][1]
    _check_answer_json(done)
    assert tokens == done["answer"] and not done["abstained"]
    assert events[-2][1] == {"abstained": False, "citations": done["citations"]}


def test_openai_chat_completions(client: TestClient, sse: Parse) -> None:
    messages = [
        {"role": "system", "content": "Answer from the documents."},
        {"role": "user", "content": "Which company is at the core of the renewed scrutiny?"},
        {"role": "assistant", "content": "Huawei [1]"},
        {"role": "user", "content": [{"type": "text", "text": QUESTION}]},
    ]
    response = client.post("/v1/chat/completions", json={"model": "cited-assistant", "messages": messages})
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["role"] == "assistant"
    content = body["choices"][0]["message"]["content"]
    assert body["citations"] and not body["abstained"]
    assert "\n\nSources:\n" in content
    for c in body["citations"]:
        assert f"[{c['n']}] {c['title']}" in content

    with client.stream("POST", "/v1/chat/completions", json={"messages": messages, "stream": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = sse(r.iter_lines())
    assert events[-1] == (None, "[DONE]")
    chunks = [data for _, data in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert streamed == content
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["citations"] == body["citations"]

    models = client.get("/v1/models").json()
    assert models["object"] == "list" and "cited-assistant" in [m["id"] for m in models["data"]]
    assert "cited-assistant/extractive" in [m["id"] for m in models["data"]]


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "payload",
    [
        {"question": ""},
        {"question": "   \n  "},
        {"question": "TOO_LONG"},
        {"question": QUESTION, "top_k": 0},
        {"question": QUESTION, "top_k": 51},
        {"question": QUESTION, "top_k": "many"},
        {"question": QUESTION, "mode": "telepathic"},
        {"question": QUESTION, "filters": {"doc_ids": "not-a-list"}},
        {"question": QUESTION, "history": [["only one side"]]},
        {"question": QUESTION, "unknown_field": 1},
        {"top_k": 3},
        [QUESTION],
    ],
)
def test_malformed_questions_are_422(client: TestClient, api_service: Assistant, payload: Any) -> None:
    if isinstance(payload, dict) and payload.get("question") == "TOO_LONG":
        payload = {"question": "why " * (api_service.settings.max_question_chars // 4 + 1)}
    for path, extra in (("/ask", {}), ("/ask", {"stream": True}), ("/ask/stream", {})):
        body = {**payload, **extra} if isinstance(payload, dict) else payload
        _error(client.post(path, json=body), 422)


def test_malformed_json_and_wrong_method(client: TestClient) -> None:
    err = _error(client.post("/ask", content=b'{"question": ', headers={"Content-Type": "application/json"}), 422)
    assert err["type"] == "invalid_request"
    _error(client.get("/ask"), 405)
    _error(client.get("/no/such/route"), 404)
    _error(client.post("/v1/chat/completions", json={"messages": [{"role": "system", "content": "hi"}]}), 422)
    _error(client.post("/v1/chat/completions", json={"messages": []}), 422)


def test_unknown_document_is_404(client: TestClient) -> None:
    for method in ("GET", "DELETE"):
        err = _error(client.request(method, "/documents/no-such-id"), 404)
        assert err["type"] == "document_not_found" and "no-such-id" in err["message"]


def test_empty_index_is_409(make_client: MakeClient, make_assistant: Callable[..., Assistant]) -> None:
    c = make_client(make_assistant())
    err = _error(c.post("/ask", json={"question": QUESTION}), 409)
    assert err["type"] == "empty_index"
    _error(c.post("/ask", json={"question": QUESTION, "stream": True}), 409)
    assert c.get("/documents").json() == []


def test_unsupported_upload_is_415(client: TestClient, api_service: Assistant) -> None:
    before = len(api_service.documents())
    for name in ("program.exe", "notes", "archive.tar.gz"):
        err = _error(client.post("/documents", files=[("files", (name, b"hello world", "text/plain"))]), 415)
        assert err["type"] == "unsupported_upload"
    assert len(api_service.documents()) == before
    assert not list((Path(api_service.settings.data_dir) / "uploads").glob("*.exe"))


def test_unreadable_upload_is_422(client: TestClient, api_service: Assistant) -> None:
    before = len(api_service.documents())
    err = _error(
        client.post("/documents", files=[("files", ("broken.pdf", b"%PDF-1.4 not a pdf", "application/pdf"))]), 422
    )
    assert "broken.pdf" in err["message"]
    assert len(api_service.documents()) == before


def test_upload_over_the_limit_is_413(make_client: MakeClient, api_service: Assistant) -> None:
    c = make_client(max_upload_mb=0.01)  # 10 KiB
    before = len(api_service.documents())
    slightly = b"word " * 3000  # 15 KB: inside the multipart slack, caught while the file is stored
    err = _error(c.post("/documents", files=[("files", ("big.txt", slightly, "text/plain"))]), 413)
    assert "big.txt" in err["message"]
    far = b"word " * 100_000  # 500 KB: refused by the request body limit
    _error(c.post("/documents", files=[("files", ("bigger.txt", far, "text/plain"))]), 413)
    assert len(api_service.documents()) == before
    assert not list((Path(api_service.settings.data_dir) / "uploads").glob("big*"))


def test_no_files_is_422(client: TestClient) -> None:
    _error(client.post("/documents", data={"nothing": "here"}), 422)


def test_error_families_map_to_statuses() -> None:
    assert status_for(InvalidQuestion("x")) == 422
    assert status_for(DocumentNotFound("x")) == 404
    assert status_for(EmptyIndex("x")) == 409
    assert status_for(RuntimeError("x")) == 500
    from ingest.errors import IngestError, UnreadableFile, UnsupportedFileType

    assert status_for(UnsupportedFileType("x")) == 415
    assert status_for(UnreadableFile("x")) == 422
    assert status_for(IngestError("x")) == 422


# ---------------------------------------------------------------------- documents


def test_upload_ask_delete_then_abstain(client: TestClient, api_service: Assistant, tmp_path: Path) -> None:
    before = {d.id for d in api_service.documents()}
    assert client.post("/ask", json={"question": NEW_QUESTION}).json()["abstained"]

    response = client.post(
        "/documents", files=[("files", ("../quixville notes.md", NEW_FILE.encode(), "text/markdown"))]
    )
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert result["status"] == "added" and result["id"] and result["chunks"] >= 1 and result["error"] is None
    doc_id = result["id"]
    assert result["saved_as"].startswith("uploads/") and result["saved_as"].endswith("quixville_notes.md")
    saved = Path(api_service.settings.data_dir) / result["saved_as"]
    assert saved.read_text() == NEW_FILE

    listed = {d["id"]: d for d in client.get("/documents").json()}
    assert set(listed) == before | {doc_id}
    assert set(listed[doc_id]) >= {"id", "title", "source", "chunks", "ingested_at"}
    one = client.get(f"/documents/{doc_id}").json()
    assert one == listed[doc_id] and not Path(one["source"]).is_absolute()

    answer = client.post("/ask", json={"question": NEW_QUESTION}).json()
    assert not answer["abstained"]
    assert answer["citations"][0]["doc_id"] == doc_id and "Miranda Okonkwo" in answer["citations"][0]["quote"]

    again = client.post("/documents", files=[("files", ("quixville notes.md", NEW_FILE.encode(), "text/markdown"))])
    assert again.json()["results"][0]["status"] == "unchanged" and again.json()["results"][0]["id"] == doc_id

    deleted = client.delete(f"/documents/{doc_id}")
    assert deleted.status_code == 200 and deleted.json() == {"id": doc_id, "deleted": True}
    _error(client.get(f"/documents/{doc_id}"), 404)
    assert {d.id for d in api_service.documents()} == before
    after = client.post("/ask", json={"question": NEW_QUESTION}).json()
    assert after["abstained"] and not after["citations"]
    assert doc_id not in {p["chunk"]["doc_id"] for p in after["passages"]}


def test_upload_several_files_reports_each(client: TestClient, api_service: Assistant) -> None:
    files = [
        ("files", ("lighthouse.txt", b"The Gull Point lighthouse keeper in 1990 was Tomas Brandt.", "text/plain")),
        ("files", ("virus.exe", b"MZ", "application/octet-stream")),
    ]
    response = client.post("/documents", files=files)
    assert response.status_code == 200
    good, bad = response.json()["results"]
    assert good["filename"] == "lighthouse.txt" and good["status"] == "added" and good["id"]
    assert bad["filename"] == "virus.exe" and bad["status"] == "error" and ".exe" in bad["error"]
    client.delete(f"/documents/{good['id']}")
    assert good["id"] not in {d.id for d in api_service.documents()}


def test_safe_filename() -> None:
    assert safe_filename("../../etc/passwd.txt") == "passwd.txt"
    assert safe_filename("C:\\Users\\me\\My Report.PDF") == "My_Report.pdf"
    assert safe_filename(".hidden.md") == "hidden.md"
    assert safe_filename("") == "upload"
    assert safe_filename("a" * 500 + ".txt") == "a" * 100 + ".txt"


# ---------------------------------------------------------------------- health, OpenAPI, security, UI


def test_health(client: TestClient, api_service: Assistant) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["version"] == __version__
    assert body["documents"] == len(api_service.documents()) >= 2
    assert body["chunks"] == sum(d.chunks for d in api_service.documents())
    assert isinstance(body["model"], str) and body["model"]


def test_openapi_has_typed_models(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/ask", "/ask/stream", "/documents", "/documents/{doc_id}", "/health", "/v1/chat/completions"):
        assert path in spec["paths"], path
    schemas = spec["components"]["schemas"]
    for name in (
        "AskRequest",
        "Answer",
        "Citation",
        "UploadResponse",
        "DocumentInfo",
        "HealthResponse",
        "ChatCompletionRequest",
        "ChatCompletion",
        "ModelList",
        "ErrorResponse",
        "DeleteResponse",
    ):
        assert name in schemas, name
    ask = spec["paths"]["/ask"]["post"]
    assert ask["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/AskRequest")
    assert "text/event-stream" in ask["responses"]["200"]["content"]
    assert schemas["AskRequest"]["properties"]["top_k"]["anyOf"][0]["maximum"] == 50
    assert client.get("/docs").status_code == 200


def test_api_key(make_client: MakeClient) -> None:
    c = make_client(api_key="s3cret-key")
    for method, path in (("GET", "/health"), ("GET", "/documents"), ("POST", "/ask"), ("GET", "/v1/models")):
        err = _error(c.request(method, path, json={"question": QUESTION}), 401)
        assert err["type"] == "unauthorized"
    _error(c.get("/health", headers={"X-API-Key": "wrong"}), 401)
    _error(c.get("/health", headers={"Authorization": "Bearer wrong"}), 401)
    _error(c.get("/health", headers={"Authorization": "Basic s3cret-key"}), 401)
    assert c.get("/health", headers={"X-API-Key": "s3cret-key"}).status_code == 200
    assert c.get("/health", headers={"Authorization": "Bearer s3cret-key"}).status_code == 200
    ok = c.post("/ask", json={"question": QUESTION}, headers={"Authorization": "Bearer s3cret-key"})
    assert ok.status_code == 200 and ok.json()["citations"]
    # without a key configured, no header is needed
    assert make_client().get("/health").status_code == 200


def test_cors_closed_unless_configured(make_client: MakeClient) -> None:
    preflight = {"Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST"}
    closed = make_client().options("/ask", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    assert (
        "access-control-allow-origin"
        not in make_client().get("/health", headers={"Origin": "http://elsewhere.example"}).headers
    )
    opened = make_client(cors_origins=["http://elsewhere.example"])
    assert (
        opened.options("/ask", headers=preflight).headers["access-control-allow-origin"] == "http://elsewhere.example"
    )
    assert (
        "access-control-allow-origin"
        not in opened.options("/ask", headers={**preflight, "Origin": "http://third.example"}).headers
    )


def test_ui_is_mounted_on_the_same_app(client: TestClient) -> None:
    root = client.get("/", follow_redirects=False)
    assert root.status_code in (302, 307) and root.headers["location"] == UI_PATH + "/"
    page = client.get(UI_PATH + "/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    config = client.get(UI_PATH + "/config").json()
    assert config["title"] == "Cited assistant"
    assert json.dumps(config).count("Upload and index") >= 1


def test_ui_asks_for_the_api_key_when_one_is_set(api_service: Assistant) -> None:
    settings = api_service.settings.model_copy(update={"api_key": "ui-key", "allowed_hosts": TEST_HOSTS})
    with TestClient(create_app(api_service, settings)) as c:
        assert c.get(UI_PATH + "/config").status_code == 401
        assert c.post(UI_PATH + "/login", data={"username": "me", "password": "wrong"}).status_code == 400
        assert c.post(UI_PATH + "/login", data={"username": "me", "password": "ui-key"}).json() == {"success": True}
        assert c.get(UI_PATH + "/config").json()["title"] == "Cited assistant"


def test_chroma_unreachable_is_a_503_that_says_so(
    api_service: Assistant, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lost Chroma server (ASSISTANT_CHROMA_URL) is a 503 with a plain message and Retry-After, never its address;
    the same app answers again once the store does (the real outage: tests/scaleout/test_two_servers.py)."""
    from index.errors import ChromaUnavailable

    def lost(*args: object, **kwargs: object) -> None:
        raise ChromaUnavailable("lost the Chroma server at http://10.9.8.7:8001: [Errno 111] Connection refused")

    c = make_client()
    monkeypatch.setattr(api_service.vector, "count", lost)
    down = c.get("/health")
    assert down.status_code == 503 and down.headers["retry-after"] == "5"
    assert down.json()["error"]["message"] == CHROMA_DOWN and "10.9.8.7" not in down.text
    monkeypatch.undo()
    assert c.get("/health").status_code == 200
