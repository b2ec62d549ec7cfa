"""Generative mode end to end: the service and our own API over the demo corpus, against a real LLM server."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator

import openai
import pytest
from fastapi.testclient import TestClient

from assistant.api import create_app
from assistant.service import Assistant
from assistant.types import Answer
from tests.assistant.llm_server import LLMServer, llm_server_fixture  # noqa: F401
from tests.conftest import DEMO_DIR

pytestmark = pytest.mark.slow

QUESTION = "When was the AI Diffusion Rule scheduled to take effect?"


@pytest.fixture
def generative(make_assistant: Callable[..., Assistant], llm_server: LLMServer) -> Iterator[Assistant]:
    svc = make_assistant(**llm_server.settings(llm_max_tokens=96))
    svc.ingest([DEMO_DIR])
    yield svc


def _resolves(svc: Assistant, answer: Answer) -> None:
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)}
    assert markers == {c.n for c in answer.citations}
    for c in answer.citations:
        assert svc.document_text(c.doc_id).text[c.start : c.end] == c.quote
    checks = answer.meta["citation_checks"]
    assert set(checks) >= {"valid", "invalid", "unsupported"}


def test_service_answers_generatively_with_checked_citations(generative: Assistant) -> None:
    answer = generative.ask(QUESTION)
    assert answer.meta["mode"] == "generative" and "fallback" not in answer.meta
    _resolves(generative, answer)
    assert answer.abstained or answer.citations


def test_a_summary_in_generative_mode_is_written_from_the_named_documents_lead(generative: Assistant) -> None:
    """The LLM gets the passages chosen by position (the document's first chunk first), not by similarity."""
    tlg = next(d.id for d in generative.documents() if "tlg" in d.source)
    answer = generative.ask("summarize the tlg article")
    assert answer.meta["focus"] == "summary" and answer.meta["named_documents"] == [tlg]
    assert answer.passages[0].chunk.id == generative.chunks(tlg)[0].id
    assert {p.chunk.doc_id for p in answer.passages} == {tlg}
    _resolves(generative, answer)
    assert {c.doc_id for c in answer.citations} <= {tlg}


def test_api_streams_generative_answers_and_the_openai_endpoint_works(generative: Assistant) -> None:
    client = TestClient(create_app(generative, generative.settings, ui=False), base_url="http://127.0.0.1")
    with client.stream("POST", "/ask", json={"question": QUESTION, "stream": True}) as response:
        assert response.status_code == 200
        events = [line.removeprefix("event: ") for line in response.iter_lines() if line.startswith("event: ")]
    assert events[-2:] == ["citations", "done"] and "token" in events

    body = client.post(
        "/v1/chat/completions", json={"model": "cited-assistant", "messages": [{"role": "user", "content": QUESTION}]}
    ).json()
    assert body["choices"][0]["message"]["content"]
    assert "citations" in body


def test_server_stopped_mid_session_falls_back_to_extractive(generative: Assistant, llm_server: LLMServer) -> None:
    client = TestClient(create_app(generative, generative.settings, ui=False), base_url="http://127.0.0.1")
    llm_server.stop()
    try:
        response = client.post("/ask", json={"question": QUESTION})
        assert response.status_code == 200
        answer = Answer.model_validate(response.json())
        assert answer.meta["mode"] == "extractive" and "LLMUnavailable" in answer.meta["fallback"]
        assert not answer.abstained and "May 15" in answer.answer
        sse = client.post("/ask", json={"question": QUESTION, "stream": True}).text
        done = json.loads(sse.split("event: done\ndata: ")[1].split("\n")[0])
        assert done["meta"]["mode"] == "extractive"
    finally:
        llm_server.start()


def test_openai_client_against_our_api_in_generative_mode(generative: Assistant) -> None:
    import threading

    import uvicorn

    from tests.assistant.llm_server import free_port

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(generative, generative.settings, ui=False), host="127.0.0.1", port=port)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            thread.join(0.05)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", timeout=300)
        reply = client.chat.completions.create(
            model="cited-assistant/generative", messages=[{"role": "user", "content": QUESTION}]
        )
        assert reply.choices[0].message.content
        chunks = list(
            client.chat.completions.create(
                model="cited-assistant/generative", messages=[{"role": "user", "content": QUESTION}], stream=True
            )
        )
        assert chunks and chunks[-1].choices[0].finish_reason == "stop"
    finally:
        server.should_exit = True
        thread.join(10)
