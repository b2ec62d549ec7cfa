"""Limits of the HTTP API (issue #14): bounded and strict request fields, the Host allow-list, failed-auth
throttling, the error mapping of the new ingest errors, JSON body errors, and the typed OpenAPI schema."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from assistant.api import UI_PATH, AskRequest, AuthThrottle, create_app, status_for
from assistant.errors import WriteBusy
from assistant.service import Assistant
from ingest.errors import DocumentTooLarge, MislabelledFile, ParseTimeout
from tests.assistant.conftest import TEST_HOSTS

QUESTION = "What replaced the Diffusion Rule?"
MakeClient = Callable[..., TestClient]


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == status and isinstance(body["error"]["message"], str)
    return dict(body["error"])


# ---------------------------------------------------------------------- bounded fields


def test_filters_with_too_many_ids_are_422_not_503(client: TestClient) -> None:
    many = [f"id-{i}" for i in range(32_766)]  # past SQLite's variable limit: was 503 "internal error"
    for key in ("doc_ids", "sources"):
        err = _error(client.post("/ask", json={"question": QUESTION, "filters": {key: many}}), 422)
        assert key in err["message"]


def test_filters_over_the_setting_are_422(make_client: MakeClient, make_assistant: Callable[..., Assistant]) -> None:
    c = make_client(make_assistant(max_filter_ids=3))  # an empty index: the bounds are checked first
    ids = ["a", "b", "c", "d"]
    err = _error(c.post("/ask", json={"question": QUESTION, "filters": {"doc_ids": ids}}), 422)
    assert "doc_ids" in err["message"]
    _error(c.post("/ask", json={"question": QUESTION, "filters": {"doc_ids": ids[:3]}}), 409)  # empty index


def test_history_is_bounded_in_turns_and_characters(client: TestClient, api_service: Assistant) -> None:
    turn = ["What replaced it?", "The AI Diffusion Rule was rescinded."]
    too_many = [turn] * 201  # over the schema's hard cap
    _error(client.post("/ask", json={"question": QUESTION, "history": too_many}), 422)
    huge = [["x " * 900_000, "y"]]  # one 1.8 MB turn: took 24 s and +260 MB before
    _error(client.post("/ask", json={"question": QUESTION, "history": huge}), 422)
    over_setting = [turn] * (api_service.settings.max_history_turns + 1)
    err = _error(client.post("/ask", json={"question": QUESTION, "history": over_setting}), 422)
    assert "history" in err["message"]
    chars = api_service.settings.max_history_chars
    long_turn = [["why " * (chars // 8 + 1), "because " * (chars // 16 + 1)]]
    _error(client.post("/ask", json={"question": QUESTION, "history": long_turn}), 422)
    # OpenAI-style clients send the whole conversation: the latest turns that fit are used
    messages = [{"role": r, "content": "hi " * 500} for _ in range(30) for r in ("user", "assistant")]
    messages.append({"role": "user", "content": QUESTION})
    chat = client.post("/v1/chat/completions", json={"messages": messages})
    assert chat.status_code == 200 and chat.json()["citations"], chat.text
    assert client.post("/ask", json={"question": QUESTION, "history": [turn]}).status_code == 200


@pytest.mark.parametrize(
    "extra",
    [{"top_k": True}, {"top_k": "5"}, {"top_k": 2.0}, {"stream": "yes"}, {"stream": 1}, {"mode": "Extractive"}],
)
def test_types_are_strict(client: TestClient, extra: dict[str, Any]) -> None:
    err = _error(client.post("/ask", json={"question": QUESTION, **extra}), 422)
    assert next(iter(extra)) in err["message"]


def test_chat_completions_types_are_strict(client: TestClient) -> None:
    messages = [{"role": "user", "content": QUESTION}]
    _error(client.post("/v1/chat/completions", json={"messages": messages, "top_k": True}), 422)
    _error(client.post("/v1/chat/completions", json={"messages": messages, "stream": "true"}), 422)


# ---------------------------------------------------------------------- bodies


def test_invalid_utf8_and_too_deep_json_are_422(client: TestClient) -> None:
    headers = {"Content-Type": "application/json"}
    bad_utf8 = b'{"question": "caf\xe9"}'
    err = _error(client.post("/ask", content=bad_utf8, headers=headers), 422)
    assert "UTF-8" in err["message"] and err["type"] == "invalid_request"
    deep = b"[" * 100_000 + b"]" * 100_000
    err = _error(client.post("/ask", content=deep, headers=headers), 422)
    assert "JSON" in err["message"]


def test_json_body_over_the_limit_names_the_json_limit(client: TestClient) -> None:
    body = json.dumps({"question": QUESTION, "history": [["x" * 1000, "y"]] * 4500})  # about 4.5 MB
    err = _error(client.post("/ask", content=body, headers={"Content-Type": "application/json"}), 413)
    assert "4 MB" in err["message"] and "upload" not in err["message"]


# ---------------------------------------------------------------------- hosts and keys


def test_host_allow_list(api_service: Assistant) -> None:
    default = create_app(api_service, api_service.settings, ui=False)  # loopback names only
    c = TestClient(default)
    err = _error(c.get("/health"), 400)  # TestClient's own host "testserver" is not allowed by default
    assert "testserver" in err["message"]
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example", "10.0.0.1"):
        _error(c.get("/health", headers={"Host": host}), 400)
    _error(c.get(f"{UI_PATH}/config", headers={"Host": "rebound.example"}), 400)
    for host in ("127.0.0.1", "127.0.0.1:8000", "localhost:1234", "LOCALHOST", "[::1]:8000"):
        assert c.get("/health", headers={"Host": host}).status_code == 200, host
    anyone = TestClient(create_app(api_service, api_service.settings.model_copy(update={"allowed_hosts": ["*"]})))
    assert anyone.get("/health", headers={"Host": "evil.example"}).status_code == 200


def test_wrong_keys_are_throttled_per_client(make_client: MakeClient) -> None:
    c = make_client(api_key="right-key", auth_failures_per_minute=3)
    for _ in range(5):  # no key at all is not a guess: never throttled
        _error(c.get("/health"), 401)
    for _ in range(3):
        _error(c.get("/health", headers={"X-API-Key": "guess"}), 401)
    throttled = c.get("/health", headers={"X-API-Key": "guess"})
    err = _error(throttled, 429)
    assert int(throttled.headers["Retry-After"]) >= 1 and err["type"] == "too_many_requests"
    # while throttled, even the right key is refused (else guessing would go on at full speed)
    _error(c.get("/health", headers={"X-API-Key": "right-key"}), 429)
    other = make_client(api_key="right-key", auth_failures_per_minute=3)  # a new app: a fresh count
    assert other.get("/health", headers={"X-API-Key": "right-key"}).status_code == 200


def test_cors_preflight_needs_no_key_and_key_errors_carry_cors(make_client: MakeClient) -> None:
    origin = "http://app.example"
    c = make_client(api_key="right-key", cors_origins=[origin])
    preflight = c.options("/ask", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == origin
    refused = c.post("/ask", json={"question": QUESTION}, headers={"Origin": origin})
    _error(refused, 401)
    assert refused.headers["access-control-allow-origin"] == origin  # a browser client can read why


def test_throttle_counts_per_address() -> None:
    throttle = AuthThrottle(2)
    throttle.fail("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") is None
    throttle.fail("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 60
    assert throttle.retry_after("10.0.0.2") is None


def test_ui_logins_are_throttled(api_service: Assistant) -> None:
    update = {"api_key": "ui-key", "allowed_hosts": TEST_HOSTS, "auth_failures_per_minute": 2}
    with TestClient(create_app(api_service, api_service.settings.model_copy(update=update))) as c:
        for _ in range(2):
            assert c.post(f"{UI_PATH}/login", data={"username": "me", "password": "wrong"}).status_code == 400
        refused = c.post(f"{UI_PATH}/login", data={"username": "me", "password": "ui-key"})
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert c.get(f"{UI_PATH}/config").status_code == 401


# ---------------------------------------------------------------------- errors and schema


def test_new_ingest_errors_map_to_statuses() -> None:
    assert status_for(MislabelledFile("x")) == 415
    assert status_for(ParseTimeout("x")) == 422
    assert status_for(DocumentTooLarge("x")) == 413
    assert status_for(WriteBusy("x")) == 503


@pytest.mark.parametrize(
    "name,data,status",
    [
        ("broken.pdf", b"%PDF-1.4 not a pdf", 422),
        ("empty.txt", b"", 422),
        ("tool.exe", b"MZ", 415),
        ("report.txt", b"%PDF-1.4\n%\xe2\xe3\n1 0 obj\n<<>>\nendobj\n", 415),  # a PDF named .txt
        ("noise.md", bytes(range(256)) * 8, 415),  # binary named .md
    ],
)
def test_upload_errors_name_no_server_path(
    client: TestClient, api_service: Assistant, name: str, data: bytes, status: int
) -> None:
    before = len(api_service.documents())
    err = _error(client.post("/documents", files=[("files", (name, data, "application/octet-stream"))]), status)
    assert name in err["message"]
    data_dir = str(api_service.settings.data_dir.resolve())
    assert data_dir not in err["message"] and "/tmp" not in err["message"] and "uploads/" not in err["message"]
    assert len(api_service.documents()) == before


def test_openapi_mode_is_an_enum_and_events_are_typed(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    ask = schemas["AskRequest"]["properties"]
    assert {"enum": ["extractive"], "type": "string"} in ask["mode"]["anyOf"]  # no LLM: the modes offered
    assert AskRequest.model_json_schema()["properties"]["mode"]["anyOf"][0]["enum"] == ["extractive", "generative"]
    settings = client.app.state.settings  # type: ignore[attr-defined]
    assert ask["history"]["maxItems"] == settings.max_history_turns
    assert ask["question"]["maxLength"] == settings.max_question_chars
    doc_ids = schemas["AskFilters"]["properties"]["doc_ids"]["anyOf"][0]
    assert doc_ids["maxItems"] == settings.max_filter_ids
    assert schemas["AskRequest"]["properties"]["top_k"]["anyOf"][0]["type"] == "integer"
    events = spec["paths"]["/ask"]["post"]["responses"]["200"]["content"]["text/event-stream"]["schema"]
    names = {e["properties"]["event"]["const"]: e["properties"]["data"] for e in events["oneOf"]}
    refs = {name: data["contentSchema"]["$ref"].rsplit("/", 1)[-1] for name, data in names.items()}
    assert refs == {"token": "TokenEvent", "citations": "CitationsEvent", "done": "Answer", "error": "ErrorResponse"}
    assert set(refs.values()) <= set(schemas)
    assert schemas["TokenEvent"]["properties"]["text"]["type"] == "string"
    chat = spec["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]["text/event-stream"]
    chunk, done, _ = (e["properties"]["data"] for e in chat["schema"]["oneOf"])
    assert chunk["contentSchema"]["$ref"].endswith("/ChatCompletionChunk") and "ChatCompletionChunk" in schemas
    assert done == {"const": "[DONE]"}
    assert "Citation" in schemas  # what CitationsEvent refers to
