"""The chat keeps every turn on screen but sends the service only the latest turns within the history limits
(issue #14: bounded history), so a long conversation never turns into errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assistant.service import Assistant
from tests.conftest import DEMO_DIR
from ui.chat import build_ui

QUESTION = "What replaced the Diffusion Rule?"


def _event(demo: Any, name: str) -> Callable[..., Any]:
    return next(f.fn for f in demo.fns.values() if f.name == name)


def test_a_long_conversation_still_gets_answers(make_assistant: Callable[..., Assistant]) -> None:
    service = make_assistant(max_history_turns=2, max_history_chars=2_000)
    assert not service.ingest([DEMO_DIR]).errors
    respond = _event(build_ui(service), "respond")
    turns = [{"question": f"Question {i}?", "answer": "An answer. " * 20, "sources": ""} for i in range(6)]
    *_, last = respond(QUESTION, [], turns, 3, "extractive")
    _, chat, new_turns, _ = last
    assert len(new_turns) == 7  # every turn is kept for the page
    reply = chat[-1]["content"]
    assert "error-notice" not in reply and "history" not in reply, reply
    assert new_turns[-1]["question"] == QUESTION and new_turns[-1]["answer"]
