"""A small client for an OpenAI-compatible chat server, built on llama-index's ``OpenAILike``.

llama-index types stay inside this module: callers pass ``(role, content)``
pairs and get plain strings back. Every failure of the server (unreachable,
timing out, answering with an error or with nothing usable) is raised as
``LLMUnavailable``, so the service can fall back to the extractive answerer.

The optional packages (``llama-index-llms-openai-like``) are imported lazily:
the rest of the assistant works without them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from assistant.config import Settings
from assistant.errors import AssistantError

log = logging.getLogger(__name__)

Message = tuple[str, str]  # (role, content); role is "system", "user" or "assistant"


class LLMUnavailable(AssistantError):
    """The LLM server is not configured, unreachable, timing out, or answered with garbage."""


class LLMClient:
    """Chat with one model of an OpenAI-compatible server (``/v1/chat/completions``).

    ``complete`` returns the whole reply; ``stream`` yields text pieces as the
    server produces them. Both raise ``LLMUnavailable`` on any failure and log
    it once: a warning for the first failure after a success, debug for repeats
    while the server stays down.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_tokens: int = 256,
        temperature: float = 0.0,
        context_window: int = 8192,
    ) -> None:
        try:
            from llama_index.llms.openai_like import OpenAILike
        except ImportError as exc:  # the optional extra is not installed
            raise LLMUnavailable(
                "generative answers need the optional package llama-index-llms-openai-like "
                "(pip install 'cited-assistant[llm]')"
            ) from exc
        self.base_url = _api_base(base_url)
        self.model = model
        self.timeout = timeout
        self.max_tokens = max_tokens
        self._llm = OpenAILike(
            model=model,
            api_base=self.base_url,
            api_key=api_key or "not-needed",
            is_chat_model=True,
            is_function_calling_model=False,
            context_window=context_window,
            max_tokens=max_tokens,
            temperature=temperature,
            timeout=timeout,
            max_retries=0,  # fail fast: the caller falls back instead of waiting on retries
        )
        self._failing = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LLMClient(base_url={self.base_url!r}, model={self.model!r})"

    def complete(self, messages: Sequence[Message], *, max_tokens: int | None = None) -> str:
        """The whole reply to ``messages``. Raises LLMUnavailable."""
        try:
            response = self._llm.chat(self._messages(messages), **self._kwargs(max_tokens))
            text = response.message.content
        except Exception as exc:  # any failure of the remote side or of parsing its reply
            raise self._failure(exc) from exc
        if not isinstance(text, str) or not text.strip():
            raise self._failure(ValueError("the server returned an empty reply"))
        self._succeeded()
        return text

    def stream(self, messages: Sequence[Message], *, max_tokens: int | None = None) -> Iterator[str]:
        """Yield reply pieces as they arrive. Raises LLMUnavailable (also midway)."""
        produced = False
        try:
            for chunk in self._llm.stream_chat(self._messages(messages), **self._kwargs(max_tokens)):
                delta = chunk.delta
                if delta:
                    if not isinstance(delta, str):
                        raise TypeError(f"the server streamed a {type(delta).__name__}, not text")
                    produced = produced or bool(delta.strip())
                    yield delta
        except Exception as exc:  # any failure of the remote side or of parsing its reply
            raise self._failure(exc) from exc
        if not produced:
            raise self._failure(ValueError("the server returned an empty reply"))
        self._succeeded()

    # ------------------------------------------------------------------ internals

    def _messages(self, messages: Sequence[Message]) -> list[Any]:
        from llama_index.core.llms import ChatMessage

        return [ChatMessage(role=role, content=content) for role, content in messages]

    def _kwargs(self, max_tokens: int | None) -> dict[str, Any]:
        return {"max_tokens": max_tokens} if max_tokens else {}

    def _failure(self, exc: Exception) -> LLMUnavailable:
        if isinstance(exc, LLMUnavailable):
            return exc
        reason = _describe(exc)
        error = LLMUnavailable(f"the LLM at {self.base_url} (model {self.model!r}) failed: {reason}")
        with self._lock:
            first, self._failing = not self._failing, True
        if first:
            log.warning("%s", error)
        else:
            log.debug("%s", error)
        return error

    def _succeeded(self) -> None:
        with self._lock:
            if self._failing:
                log.info("the LLM at %s answers again", self.base_url)
            self._failing = False


def _api_base(url: str) -> str:
    """The API root: a bare server address gets the usual ``/v1`` (``http://host:8000`` -> ``.../v1``)."""
    url = url.strip().rstrip("/")
    return url + "/v1" if urlsplit(url).path in ("", "/") else url


def _describe(exc: BaseException) -> str:
    """A one-line reason: the exception type and message, and the root cause's if different."""
    text = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause) and str(cause) not in text:
        text += f" ({type(cause).__name__}: {cause})"
    return " ".join(text.split())[:500]


def create_llm(settings: Settings) -> LLMClient:
    """The client configured by ``ASSISTANT_LLM_*``. Raises LLMUnavailable when it is not configured."""
    if not settings.llm_base_url:
        raise LLMUnavailable("no LLM server is configured (set ASSISTANT_LLM_BASE_URL and ASSISTANT_LLM_MODEL)")
    if not settings.llm_model:
        raise LLMUnavailable(f"no model is configured for the LLM at {settings.llm_base_url} (set ASSISTANT_LLM_MODEL)")
    return LLMClient(
        settings.llm_base_url,
        settings.llm_model,
        api_key=settings.llm_api_key,
        timeout=settings.llm_timeout,
        max_tokens=settings.llm_max_tokens,
    )
