"""The HTTP API (FastAPI) over one ``Assistant``, with the Gradio UI mounted on the same service.

Routers only call the service and translate its errors; every error family is
mapped to an HTTP status in one place (``status_for`` and the exception
handlers installed by ``create_app``). Endpoints:

* ``POST /ask`` (JSON, or Server-Sent Events with ``"stream": true``) and ``POST /ask/stream``
* ``POST /documents`` (multipart upload), ``GET /documents``, ``GET|DELETE /documents/{id}``
* ``GET /health``
* ``POST /v1/chat/completions`` and ``GET /v1/models`` (OpenAI-compatible)

Before any body is read, ``_Gate`` checks the Host header against ``settings.allowed_hosts``, the API key
(401; 429 with Retry-After after ``settings.auth_failures_per_minute`` failures from one address, UI logins
included) and stalls in the body (408). Routes are async: reads and writes run in thread pools of their own
(``Pools``), so writers waiting for the index never take the threads readers need; a write waits at most
``settings.write_wait_s`` (then 503 with Retry-After). ``serve`` adds a request-header timeout
(``http_protocol``), which uvicorn lacks.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import re
import secrets
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, File, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StringConstraints
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from assistant.config import Settings
from assistant.errors import (
    AssistantError,
    DocumentNotFound,
    EmptyIndex,
    IndexMismatch,
    InvalidQuestion,
    UnsupportedUpload,
    UploadFailed,
    UploadTooLarge,
    WriteBusy,
)
from assistant.service import Assistant, __version__
from assistant.types import Answer, Citation, DocumentInfo, UploadResult
from index.errors import ChromaUnavailable, IndexStoreError
from ingest.errors import (
    DocumentTooLarge,
    IngestError,
    MislabelledFile,
    ParseTimeout,
    UnreadableFile,
    UnsupportedFileType,
)
from ingest.loaders import SUPPORTED_SUFFIXES as LOADER_SUFFIXES

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = frozenset(LOADER_SUFFIXES)  # what ingest.loaders reads
MODEL_ID = "cited-assistant"
UI_PATH = "/ui"
_MB = 1024 * 1024
_JSON_BODY_LIMIT = 4 * _MB  # questions are short; histories are bounded by this
_MULTIPART_SLACK = 64 * 1024  # multipart boundaries and part headers on top of the file bytes

# Hard caps of the request schema; the service applies the (smaller) settings on top, also with 422.
_MAX_HISTORY_TURNS = 200
_MAX_TEXT_CHARS = 200_000  # one history turn or chat message
_MAX_FILTER_IDS = 10_000
_MAX_FILTER_CHARS = 1_000  # one document id or source
_MAX_MESSAGES = 2 * _MAX_HISTORY_TURNS + 50

# Threads: reads (answers, listings, health) and writes (uploads, deletes) have pools of their own, so
# writers waiting for the index never hold the threads readers need. A write waits at most
# settings.write_wait_s for a slot (then 503 + Retry-After); the service bounds its wait for the index.
READ_THREADS = 16
WRITE_THREADS = 2
BODY_TIMEOUT_S = 30.0  # the longest pause while a request body arrives (then 408)
HEADER_TIMEOUT_S = 10.0  # the longest time a connection may take to send its request headers (then closed)
_OPEN_PATHS = frozenset({"/", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


# ---------------------------------------------------------------------- error mapping (the one place)

# Most specific first: the first class the exception is an instance of wins.
# the Chroma server (ASSISTANT_CHROMA_URL) is unreachable: 503 with this message and Retry-After; the same process
# answers again when it returns (docs/scale-out.md)
CHROMA_DOWN = "the Chroma server that holds the index cannot be reached; try again shortly"
CHROMA_RETRY_S = 5.0
_STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (InvalidQuestion, 422),
    (DocumentNotFound, 404),
    (EmptyIndex, 409),
    (IndexMismatch, 409),
    (WriteBusy, 503),
    (UploadTooLarge, 413),
    (UnsupportedUpload, 415),
    (UploadFailed, 422),
    (DocumentTooLarge, 413),
    (MislabelledFile, 415),
    (ParseTimeout, 422),
    (UnsupportedFileType, 415),
    (UnreadableFile, 422),
    (IngestError, 422),
    (IndexStoreError, 503),
    (AssistantError, 400),
)

_HTTP_TYPES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    503: "unavailable",
}


def status_for(exc: BaseException) -> int:
    """The HTTP status of an error raised by the service, the loaders or the indexes."""
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class ErrorBody(BaseModel):
    message: str
    type: str
    code: int
    details: list[dict[str, Any]] | None = None


class ErrorResponse(BaseModel):
    """Every error, OpenAI-style so that OpenAI clients show the message too."""

    error: ErrorBody


def _error_response(
    status: int,
    message: str,
    kind: str,
    *,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(error=ErrorBody(message=message, type=kind, code=status, details=details))
    return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=status, headers=headers)


def _error_payload(exc: BaseException) -> dict[str, Any]:
    status = status_for(exc)
    if isinstance(exc, ChromaUnavailable):  # said plainly, without the server's address
        message = CHROMA_DOWN
    else:
        message = str(exc) if status < 500 or isinstance(exc, WriteBusy) else "internal error"
    return ErrorResponse(error=ErrorBody(message=message, type=_snake(type(exc).__name__), code=status)).model_dump(
        mode="json", exclude_none=True
    )


async def _on_service_error(request: Request, exc: Exception) -> JSONResponse:
    status = status_for(exc)
    if status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc)
    retry = CHROMA_RETRY_S if isinstance(exc, ChromaUnavailable) else getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(max(1, round(retry)))} if retry is not None else None
    return JSONResponse(_error_payload(exc), status_code=status, headers=headers)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details: list[dict[str, Any]] = []
    parts: list[str] = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        where = ".".join(loc) or "body"
        msg = str(err.get("msg", "invalid value"))
        details.append({"loc": loc, "msg": msg, "type": str(err.get("type", ""))})
        parts.append(f"{where}: {msg}")
    return _error_response(422, "; ".join(parts) or "invalid request", "invalid_request", details=details)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, (ValueError, RecursionError)):
        # FastAPI's "error parsing the body": not UTF-8 (UnicodeDecodeError) or nested too deep to decode
        reason = "not UTF-8" if isinstance(exc.__cause__, UnicodeDecodeError) else "nested too deeply"
        return _error_response(
            422,
            f"the request body is not valid JSON ({reason})",
            "invalid_request",
            details=[{"loc": ["body"], "msg": f"JSON {reason}", "type": "json_invalid"}],
        )
    return _error_response(
        exc.status_code,
        str(exc.detail),
        _HTTP_TYPES.get(exc.status_code, "http_error"),
        headers=dict(exc.headers) if exc.headers else None,
    )


async def _on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s failed", request.method, request.url.path)
    return _error_response(500, "internal error", "internal_error")


class _JsonTooLarge:
    """Report the request-body limiter's plain-text 413 in the JSON error shape too, naming the right limit."""

    def __init__(self, app: ASGIApp, upload_mb: float) -> None:
        self.app = app
        self.upload_message = f"the request body is too large (uploads may be at most {upload_mb:g} MB)"
        self.json_message = f"the request body is over {_JSON_BODY_LIMIT // _MB} MB (the limit of JSON bodies)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rewriting = False

        async def send_json(message: Message) -> None:
            nonlocal rewriting
            if message["type"] == "http.response.start" and message["status"] == 413:
                kind = dict(message.get("headers", [])).get(b"content-type", b"")
                rewriting = kind.startswith(b"text/plain")
            if not rewriting:
                await send(message)
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                uploading = str(scope.get("path", "")).startswith("/documents")
                text = self.upload_message if uploading else self.json_message
                response = _error_response(413, text, _HTTP_TYPES[413])
                await response(scope, receive, send)

        await self.app(scope, receive, send_json)


class AuthThrottle:
    """Failed authentications per client address in the last minute; at the limit, refuse the address."""

    WINDOW_S = 60.0
    MAX_CLIENTS = 10_000

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.get(client, deque())
        while times and now - times[0] >= self.WINDOW_S:
            times.popleft()
        return times

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again, or None when it is not throttled."""
        now = time.monotonic()
        times = self._recent(client, now)
        if len(times) < self.per_minute:
            return None
        return max(1, math.ceil(self.WINDOW_S - (now - times[0])))

    def fail(self, client: str) -> None:
        now = time.monotonic()
        times = self._recent(client, now)
        times.append(now)
        self._failures[client] = times
        self._failures.move_to_end(client)
        while len(self._failures) > self.MAX_CLIENTS:
            self._failures.popitem(last=False)


def _host_name(host: str) -> str:
    """The Host header without its port: ``127.0.0.1:8000`` -> ``127.0.0.1``, ``[::1]:80`` -> ``[::1]``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if ":" in host else host


def _key_check(headers: dict[bytes, bytes], expected: str) -> bool | None:
    """True when the request carries the key, False when it carries a wrong one, None when it carries none."""
    if b"authorization" not in headers and b"x-api-key" not in headers:
        return None
    given: list[bytes] = []
    scheme, _, credentials = headers.get(b"authorization", b"").partition(b" ")
    if scheme.lower() == b"bearer":
        given.append(credentials.strip())
    if b"x-api-key" in headers:
        given.append(headers[b"x-api-key"])
    return any(g and secrets.compare_digest(g, expected.encode()) for g in given)


class _Gate:
    """Before any body is read (inside CORS only, which answers preflights and labels these errors): the Host
    allow-list, the API key (so an unauthenticated upload is refused unparsed), throttling of failed keys and UI
    logins per client address, a size limit on Gradio's upload route (its own is per file), and a limit on
    pauses while a body arrives (slow clients get 408)."""

    def __init__(self, app: ASGIApp, settings: Settings, throttle: AuthThrottle, body_timeout_s: float) -> None:
        self.app = app
        self.hosts = {h.strip().lower() for h in settings.allowed_hosts}
        self.key = settings.api_key or None
        self.throttle = throttle
        self.body_timeout_s = body_timeout_s
        self.login_paths = {UI_PATH + "/login", UI_PATH + "/login/"}
        self.upload_mb = settings.max_upload_mb
        self.upload_paths = {UI_PATH + "/gradio_api/upload", UI_PATH + "/gradio_api/upload/"}
        self.upload_limit = int(settings.max_upload_mb * _MB) + _MULTIPART_SLACK

    def _host_allowed(self, headers: dict[bytes, bytes]) -> bool:
        if "*" in self.hosts:
            return True
        host = headers.get(b"host")
        return host is not None and _host_name(host.decode("latin-1")) in self.hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        if not self._host_allowed(headers):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            host = headers.get(b"host", b"").decode("latin-1")[:100]
            message = f"host {host!r} is not allowed: add it to ASSISTANT_ALLOWED_HOSTS (a JSON list)"
            response = _error_response(400, message, "bad_host")
            await response(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope["client"][0] if scope.get("client") else "unknown"
        path = str(scope.get("path", ""))
        logging_in = scope["method"] == "POST" and path in self.login_paths
        protected = path not in _OPEN_PATHS and path != UI_PATH and not path.startswith(UI_PATH + "/")
        if self.key and (protected or logging_in):
            retry = self.throttle.retry_after(client)
            if retry is not None:
                response = _error_response(
                    429,
                    f"too many failed authentications from {client}; try again in {retry} s",
                    _HTTP_TYPES[429],
                    headers={"Retry-After": str(retry)},
                )
                await response(scope, receive, send)
                return
            checked = _key_check(headers, self.key) if protected else True
            if not checked:
                if checked is False:  # a wrong key is a guess; a missing one is not
                    self.throttle.fail(client)
                response = _error_response(
                    401,
                    "a valid API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`",
                    _HTTP_TYPES[401],
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        if logging_in and self.key:
            send = self._count_failed_login(send, client)
        limit = self.upload_limit if path in self.upload_paths else None
        length = headers.get(b"content-length", b"")
        if limit is not None and length.isdigit() and int(length) > limit:
            await self._too_large()(scope, receive, send)
            return
        await self._with_body_timeout(scope, receive, send, limit)

    def _too_large(self) -> Response:
        message = f"the request body is too large (uploads may be at most {self.upload_mb:g} MB)"
        return _error_response(413, message, _HTTP_TYPES[413])

    def _count_failed_login(self, send: Send, client: str) -> Send:
        async def counting(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (400, 401):
                self.throttle.fail(client)
            await send(message)

        return counting

    async def _with_body_timeout(self, scope: Scope, receive: Receive, send: Send, limit: int | None) -> None:
        body_done = False  # after the body, receive() only waits for a disconnect: never time that out
        received = 0
        refused: Response | None = None  # what to answer instead of the app, once the body is refused

        async def timed_receive() -> Message:
            nonlocal body_done, received, refused
            if refused is not None:
                return {"type": "http.disconnect"}
            if body_done:
                return await receive()
            with anyio.move_on_after(self.body_timeout_s) as waited:
                message = await receive()
            if waited.cancelled_caught:
                stalled = f"the request body stalled for over {self.body_timeout_s:g} s"
                refused = _error_response(408, stalled, _HTTP_TYPES[408])
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            received += len(message.get("body", b""))
            if limit is not None and received > limit:
                refused = self._too_large()
                return {"type": "http.disconnect"}
            return message

        replaced = False

        async def guarded_send(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and refused is not None:
                replaced = True
                await refused(scope, receive, send)
            if not replaced:
                await send(message)

        await self.app(scope, timed_receive, guarded_send)


def http_protocol(header_timeout_s: float = HEADER_TIMEOUT_S) -> type[H11Protocol]:
    """Uvicorn's h11 protocol with a request-header timeout (uvicorn has none: a client may otherwise hold a
    connection open forever by sending its headers slowly). A connection whose next request's headers are not
    complete ``header_timeout_s`` after it opened (or after its last response) is closed."""

    class HeaderTimeoutProtocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None
        _armed_cycle: object = None

        def _arm_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
            self._armed_cycle = self.cycle
            self._header_timer = self.loop.call_later(header_timeout_s, self._header_timeout)

        def _header_timeout(self) -> None:
            self._header_timer = None
            # no request has started since the timer was armed, and none is being answered
            idle = self.cycle is None or self.cycle.response_complete
            if self.cycle is self._armed_cycle and idle and not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)  # type: ignore[arg-type]
            self._arm_header_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None
            super().connection_lost(exc)

    return HeaderTimeoutProtocol


def _install_error_handlers(app: FastAPI) -> None:
    for family in (AssistantError, IngestError, IndexStoreError):
        app.add_exception_handler(family, _on_service_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected_error)


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": desc}
    for code, desc in {
        401: "missing or wrong API key",
        429: "too many wrong API keys from this address in the last minute (see Retry-After)",
        422: "malformed input (also a body that is not UTF-8 JSON, or JSON nested too deeply)",
    }.items()
}


def _errors(*extra: int) -> dict[int | str, dict[str, Any]]:
    more: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorResponse, "description": _HTTP_TYPES.get(code, "error").replace("_", " ")}
        for code in extra
    }
    return {**_ERRORS, **more}


# ---------------------------------------------------------------------- dependencies


async def get_service(request: Request) -> Assistant:
    service: Assistant = request.app.state.service
    return service


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


ServiceDep = Annotated[Assistant, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]

_bearer = HTTPBearer(auto_error=False, description="the API key (when one is configured)")
_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the API key (when one is configured)")


async def require_api_key(
    settings: SettingsDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    key: Annotated[str | None, Depends(_key_header)],
) -> None:
    """When ``settings.api_key`` is set, every API request must carry it (checked first by ``_Gate``, before the
    body is read; this dependency documents the schemes in the OpenAPI schema and checks again)."""
    expected = settings.api_key
    if not expected:
        return
    for given in (bearer.credentials if bearer else None, key):
        if given and secrets.compare_digest(given.encode(), expected.encode()):
            return
    raise HTTPException(
        status_code=401,
        detail="a valid API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`",
        headers={"WWW-Authenticate": "Bearer"},
    )


ApiKeyDep = Depends(require_api_key)

T = TypeVar("T")


class Pools:
    """The thread capacity of reads and of writes, and the bounded wait for a write slot."""

    def __init__(self, write_wait_s: float) -> None:
        self.reads = anyio.CapacityLimiter(READ_THREADS)
        self.write_threads = anyio.CapacityLimiter(WRITE_THREADS)
        self.write_slots = anyio.CapacityLimiter(WRITE_THREADS)
        self.write_wait_s = write_wait_s

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(partial(fn, *args), limiter=self.reads)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        acquired = False
        with anyio.move_on_after(self.write_wait_s):
            await self.write_slots.acquire()
            acquired = True
        if not acquired:
            raise WriteBusy(
                f"other writes have been waiting for the index for over {self.write_wait_s:g} s; try again later",
                retry_after=max(1.0, self.write_wait_s),
            )
        try:
            return await anyio.to_thread.run_sync(partial(fn, *args), limiter=self.write_threads)
        finally:
            self.write_slots.release()


async def get_pools(request: Request) -> Pools:
    pools: Pools = request.app.state.pools
    return pools


PoolsDep = Annotated[Pools, Depends(get_pools)]


# ---------------------------------------------------------------------- request and response models


FilterValue = Annotated[str, StringConstraints(min_length=1, max_length=_MAX_FILTER_CHARS)]
TurnText = Annotated[str, StringConstraints(max_length=_MAX_TEXT_CHARS)]


class AskFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    doc_ids: list[FilterValue] | None = Field(
        default=None,
        max_length=_MAX_FILTER_IDS,
        description="only these document ids (at most settings.max_filter_ids)",
    )
    sources: list[FilterValue] | None = Field(
        default=None,
        max_length=_MAX_FILTER_IDS,
        description="only these sources (or source suffixes; at most settings.max_filter_ids)",
    )


class AskRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"question": "What replaced the Diffusion Rule?", "top_k": 5}]},
    )

    question: str = Field(min_length=1, description="the question (at most settings.max_question_chars)")
    top_k: StrictInt | None = Field(
        default=None, ge=1, le=50, description="passages to retrieve (default: settings.top_k)"
    )
    filters: AskFilters | None = None
    mode: Literal["extractive", "generative"] | None = Field(
        default=None, description="answer mode (default: generative when an LLM is configured, else extractive)"
    )
    history: list[tuple[TurnText, TurnText]] = Field(
        default_factory=list,
        max_length=_MAX_HISTORY_TURNS,
        description="earlier [user, assistant] turns (at most settings.max_history_turns turns and "
        "settings.max_history_chars characters)",
    )
    stream: StrictBool = Field(False, description="send Server-Sent Events (token, citations, done) instead of JSON")


class CitationsEvent(BaseModel):
    """The data of the ``citations`` event of a streamed answer."""

    abstained: bool
    citations: list[Citation]


class TokenEvent(BaseModel):
    """The data of a ``token`` event of a streamed answer."""

    text: str


class UploadResponse(BaseModel):
    results: list[UploadResult]


class DeleteResponse(BaseModel):
    id: str
    deleted: bool = True


class HealthResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: str
    version: str
    documents: int
    chunks: int
    model: str
    fusion: str | None = None
    modes: list[str] = []


# ---------------------------------------------------------------------- answering helpers


def _sse_schema(*events: tuple[str | None, str]) -> dict[str, Any]:
    """The schema of one event of a text/event-stream response (OpenAPI 3.1 ``schema`` read as 3.2's
    ``itemSchema``): per (event name or None, model name or a literal like "[DONE]"), an object whose
    ``data`` is that model's JSON (``contentMediaType``/``contentSchema``) or that literal."""
    variants: list[dict[str, Any]] = []
    for event, data in events:
        if data.startswith("["):
            data_schema: dict[str, Any] = {"const": data}
        else:
            data_schema = {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": {"$ref": f"#/components/schemas/{data}"},
            }
        properties: dict[str, Any] = {"data": data_schema}
        if event:
            properties["event"] = {"const": event}
        required = ["data", "event"] if event else ["data"]
        variants.append({"type": "object", "required": required, "properties": properties})
    return variants[0] if len(variants) == 1 else {"oneOf": variants}


def _sse(data: Any, event: str | None = None) -> bytes:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _start_stream(
    service: Assistant,
    question: str,
    *,
    top_k: int | None = None,
    filters: AskFilters | None = None,
    history: Sequence[tuple[str, str]] = (),
    mode: str | None = None,
) -> Iterator[str | Answer]:
    """Start the service stream and pull its first piece, so bad input fails before the response starts."""
    filters = filters or AskFilters()
    pieces = service.stream(
        question, top_k=top_k, doc_ids=filters.doc_ids, sources=filters.sources, history=history, mode=mode
    )
    first = next(pieces)
    return itertools.chain([first], pieces)


def _final(pieces: Iterator[str | Answer]) -> Answer:
    answer: Answer | None = None
    for piece in pieces:
        if isinstance(piece, Answer):
            answer = piece
    assert answer is not None
    return answer


def _ask_pieces(service: Assistant, req: AskRequest) -> Iterator[str | Answer]:
    return _start_stream(
        service, req.question, top_k=req.top_k, filters=req.filters, history=req.history, mode=req.mode
    )


def _answer_events(pieces: Iterator[str | Answer]) -> Iterator[bytes]:
    try:
        for piece in pieces:
            if isinstance(piece, Answer):
                event = CitationsEvent(abstained=piece.abstained, citations=list(piece.citations))
                yield _sse(event.model_dump(mode="json"), "citations")
                yield _sse(piece.model_dump(mode="json"), "done")
            else:
                yield _sse(TokenEvent(text=piece).model_dump(), "token")
    except Exception as exc:  # the response has started: report in-band
        log.exception("streamed answer failed")
        yield _sse(_error_payload(exc), "error")


def sources_text(answer: Answer) -> str:
    """The citations as a plain-text Sources list (appended to OpenAI-style answers)."""
    if answer.abstained or not answer.citations:
        return ""
    lines = ["", "", "Sources:"]
    for c in answer.citations:
        where = Path(c.source).name + (f", p. {c.page}" if c.page else "")
        quote = " ".join(c.quote.split())
        lines.append(f"[{c.n}] {c.title} ({where}): “{quote}”")
    return "\n".join(lines)


# ---------------------------------------------------------------------- routers


def _event_stream(pools: Pools, chunks: Iterator[bytes]) -> StreamingResponse:
    """Server-Sent Events whose pieces are computed in the read pool (never in the shared thread pool)."""

    async def pulled() -> AsyncIterator[bytes]:
        end = b""
        try:
            while chunk := await pools.read(next, chunks, end):
                yield chunk
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    return StreamingResponse(pulled(), media_type="text/event-stream", headers=_SSE_HEADERS)


def _ask_router() -> APIRouter:
    router = APIRouter(tags=["answers"], dependencies=[ApiKeyDep], max_body_size=_JSON_BODY_LIMIT)
    streamed: dict[int | str, dict[str, Any]] = {
        200: {
            "description": "the Answer as JSON, or with `stream: true` Server-Sent Events: "
            "`token` (TokenEvent), then `citations` (CitationsEvent), then `done` (the Answer); "
            "a failure after the stream started is an `error` event (ErrorResponse)",
            "content": {
                "text/event-stream": {
                    "schema": _sse_schema(
                        ("token", "TokenEvent"),
                        ("citations", "CitationsEvent"),
                        ("done", "Answer"),
                        ("error", "ErrorResponse"),
                    )
                }
            },
        }
    }

    @router.post("/ask", response_model=Answer, responses={**_errors(409, 503), **streamed})
    async def ask(req: AskRequest, service: ServiceDep, pools: PoolsDep) -> Response | Answer:
        """Answer a question with cited quotes, or abstain."""
        pieces = await pools.read(_ask_pieces, service, req)
        if req.stream:
            return _event_stream(pools, _answer_events(pieces))
        return await pools.read(_final, pieces)

    @router.post(
        "/ask/stream",
        response_class=StreamingResponse,
        responses={**_errors(409, 503), **streamed},
    )
    async def ask_stream(req: AskRequest, service: ServiceDep, pools: PoolsDep) -> StreamingResponse:
        """Like POST /ask with `stream: true`: Server-Sent Events."""
        pieces = await pools.read(_ask_pieces, service, req)
        return _event_stream(pools, _answer_events(pieces))

    return router


def _upload_all(service: Assistant, files: Sequence[UploadFile], max_mb: float) -> UploadResponse:
    results: list[UploadResult] = []
    failures: list[AssistantError] = []
    for f in files:
        name = f.filename or "upload"
        try:
            results.append(service.upload(name, f.file, max_mb=max_mb))
        except (AssistantError, IngestError) as exc:
            if not isinstance(exc, AssistantError):
                exc = UploadFailed(f"{name!r}: {exc}")
            failures.append(exc)
            results.append(UploadResult(filename=name, status="error", error=str(exc)))
    if failures and len(failures) == len(files):
        raise failures[0]
    return UploadResponse(results=results)


def _documents_router(settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/documents", tags=["documents"], dependencies=[ApiKeyDep])
    upload_limit = int(settings.max_upload_mb * _MB) + _MULTIPART_SLACK

    @router.post(
        "",
        response_model=UploadResponse,
        responses=_errors(413, 415, 503),
        max_body_size=upload_limit,
    )
    async def upload(
        files: Annotated[list[UploadFile], File(description="one or more .txt .md .html .htm .pdf .docx files")],
        service: ServiceDep,
        app_settings: SettingsDep,
        pools: PoolsDep,
    ) -> UploadResponse:
        """Upload files, store them under the data directory and index them.

        The whole request may be at most ``max_upload_mb``. With several files, the
        ones that fail are reported per file; when every file fails, the first
        failure is the response (413, 415 or 422; 503 with Retry-After while other
        writes hold the index).
        """
        return await pools.write(_upload_all, service, files, app_settings.max_upload_mb)

    @router.get("", response_model=list[DocumentInfo])
    async def list_documents(service: ServiceDep, pools: PoolsDep) -> list[DocumentInfo]:
        """Every indexed document."""
        return await pools.read(service.documents)

    @router.get("/{doc_id}", response_model=DocumentInfo, responses=_errors(404))
    async def get_document(doc_id: str, service: ServiceDep, pools: PoolsDep) -> DocumentInfo:
        """One document's metadata."""
        return await pools.read(service.document, doc_id)

    @router.delete("/{doc_id}", response_model=DeleteResponse, responses=_errors(404, 503))
    async def delete_document(doc_id: str, service: ServiceDep, pools: PoolsDep) -> DeleteResponse:
        """Remove a document and its chunks from both indexes (503 with Retry-After while other writes hold
        the index)."""
        await pools.write(service.delete, doc_id)
        return DeleteResponse(id=doc_id)

    return router


def _system_router() -> APIRouter:
    router = APIRouter(tags=["system"], dependencies=[ApiKeyDep])

    @router.get("/health", response_model=HealthResponse, responses=_errors())
    async def health(service: ServiceDep, pools: PoolsDep) -> HealthResponse:
        """Index size, embedding model, version."""
        return HealthResponse.model_validate(await pools.read(service.health))

    return router


# ---------------------------------------------------------------------- OpenAI-compatible API


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        if not self.content:
            return ""
        return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {"model": MODEL_ID, "messages": [{"role": "user", "content": "What replaced the Diffusion Rule?"}]}
            ]
        },
    )

    model: str = MODEL_ID
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=_MAX_MESSAGES)
    stream: StrictBool = False
    top_k: StrictInt | None = Field(default=None, ge=1, le=50, description="passages to retrieve (extension)")


class ChatMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    message: ChatMessageOut
    finish_reason: Literal["stop"] = "stop"


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    citations: list[Citation] = Field(description="the sources behind the [n] markers (extension)")
    abstained: bool = Field(description="true when the documents do not answer the question (extension)")


class ChatDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChatChunkChoice(BaseModel):
    index: int = 0
    delta: ChatDelta
    finish_reason: Literal["stop"] | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChatChunkChoice]
    citations: list[Citation] | None = None
    abstained: bool | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "cited-assistant"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def _conversation(messages: Sequence[ChatMessageIn]) -> tuple[str, list[tuple[str, str]]]:
    """The last user message is the question; earlier user/assistant pairs are the history."""
    last = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
    if last is None:
        raise InvalidQuestion("the conversation has no user message")
    history: list[tuple[str, str]] = []
    pending: str | None = None
    for m in messages[:last]:
        if m.role == "user":
            pending = m.text()
        elif m.role == "assistant" and pending is not None:
            history.append((pending, m.text()))
            pending = None
    return messages[last].text(), history


def _mode_of(model: str) -> str | None:
    prefix = MODEL_ID + "/"
    return model[len(prefix) :] if model.startswith(prefix) else None


def _chat_chunks(cid: str, created: int, model: str, pieces: Iterator[str | Answer]) -> Iterator[bytes]:
    def chunk(delta: ChatDelta, finish: Literal["stop"] | None = None, **extra: Any) -> bytes:
        body = ChatCompletionChunk(
            id=cid,
            created=created,
            model=model,
            choices=[ChatChunkChoice(delta=delta, finish_reason=finish)],
            **extra,
        )
        data = body.model_dump(mode="json", exclude={"citations", "abstained"} if body.citations is None else set())
        for choice in data["choices"]:  # OpenAI leaves unset delta fields out
            choice["delta"] = {k: v for k, v in choice["delta"].items() if v is not None}
        return _sse(data)

    try:
        yield chunk(ChatDelta(role="assistant", content=""))
        for piece in pieces:
            if isinstance(piece, Answer):
                tail = sources_text(piece)
                if tail:
                    yield chunk(ChatDelta(content=tail))
                yield chunk(ChatDelta(), "stop", citations=list(piece.citations), abstained=piece.abstained)
            else:
                yield chunk(ChatDelta(content=piece))
    except Exception as exc:  # the response has started: report in-band, as OpenAI does
        log.exception("streamed chat completion failed")
        yield _sse(_error_payload(exc))
    yield b"data: [DONE]\n\n"


_STREAMED_CHAT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "a chat completion, or with `stream: true` ChatCompletionChunk events ending in `data: [DONE]`",
        "content": {
            "text/event-stream": {
                "schema": _sse_schema((None, "ChatCompletionChunk"), (None, "[DONE]"), (None, "ErrorResponse"))
            }
        },
    }
}


def _openai_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["openai"], dependencies=[ApiKeyDep], max_body_size=_JSON_BODY_LIMIT)

    @router.post(
        "/chat/completions",
        response_model=ChatCompletion,
        responses=_errors(409, 503) | _STREAMED_CHAT,
    )
    async def chat_completions(
        req: ChatCompletionRequest, service: ServiceDep, pools: PoolsDep
    ) -> Response | ChatCompletion:
        """OpenAI-compatible chat completions over the same answering chain, with citations."""
        question, history = _conversation(req.messages)
        history = service.recent_history(history)  # chat clients send every turn: keep the latest that fit
        start = partial(_start_stream, top_k=req.top_k, history=history, mode=_mode_of(req.model))
        pieces = await pools.read(start, service, question)
        cid = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        if req.stream:
            return _event_stream(pools, _chat_chunks(cid, created, req.model, pieces))
        answer = await pools.read(_final, pieces)
        return ChatCompletion(
            id=cid,
            created=created,
            model=req.model,
            choices=[ChatChoice(message=ChatMessageOut(content=answer.answer + sources_text(answer)))],
            citations=list(answer.citations),
            abstained=answer.abstained,
        )

    @router.get("/models", response_model=ModelList, responses=_errors())
    async def models(service: ServiceDep) -> ModelList:
        """The default model plus one per answer mode (``cited-assistant/<mode>``)."""
        created = int(time.time())
        ids = [MODEL_ID] + [f"{MODEL_ID}/{m}" for m in service.modes()]
        return ModelList(data=[ModelCard(id=i, created=created) for i in ids])

    return router


# ---------------------------------------------------------------------- app factory and server


def _array_of(prop: dict[str, Any]) -> dict[str, Any] | None:
    """The array schema of a property that may be ``anyOf: [array, null]``."""
    if prop.get("type") == "array":
        return prop
    return next((alt for alt in prop.get("anyOf", []) if alt.get("type") == "array"), None)


def _with_settings(components: dict[str, Any], settings: Settings, modes: Sequence[str]) -> None:
    """State this server's limits in the request schema (the models carry hard caps; the service checks these
    settings, also with 422), so clients and schema-driven tests see the bounds that apply."""
    ask = components.get("AskRequest", {}).get("properties", {})
    if "question" in ask:
        ask["question"]["maxLength"] = settings.max_question_chars
    if "history" in ask:
        ask["history"]["maxItems"] = min(_MAX_HISTORY_TURNS, settings.max_history_turns)
        for text in ask["history"].get("items", {}).get("prefixItems", []):
            text["maxLength"] = min(text.get("maxLength", _MAX_TEXT_CHARS), settings.max_history_chars)
    for alt in ask.get("mode", {}).get("anyOf", []):
        if "enum" in alt:  # the modes this server offers (generative needs an LLM)
            alt["enum"] = [m for m in alt["enum"] if m in modes]
    filters = components.get("AskFilters", {}).get("properties", {})
    for name in ("doc_ids", "sources"):
        array = _array_of(filters.get(name, {}))
        if array is not None:
            array["maxItems"] = min(array.get("maxItems", _MAX_FILTER_IDS), settings.max_filter_ids)


def _openapi_with_events(app: FastAPI, settings: Settings, modes: Sequence[str]) -> Callable[[], dict[str, Any]]:
    """FastAPI's schema plus the models of the Server-Sent Events' data (which no route returns as JSON), with
    this server's settings as the request limits."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        models = (TokenEvent, CitationsEvent, ChatCompletionChunk, Answer, ErrorResponse)
        _, defs = models_json_schema(
            [(m, "serialization") for m in models], ref_template="#/components/schemas/{model}"
        )
        for name, sub in defs.get("$defs", {}).items():
            components.setdefault(name, sub)
        _with_settings(components, settings, modes)
        app.openapi_schema = schema
        return schema

    return openapi


def create_app(
    service: Assistant, settings: Settings, *, ui: bool = True, body_timeout_s: float = BODY_TIMEOUT_S
) -> FastAPI:
    """The API over ``service``, with the Gradio UI at ``/ui`` on the same service (models load once)."""
    app = FastAPI(
        title="Cited assistant",
        version=__version__,
        summary="Answers from your documents, with checked citations. Offline.",
    )
    app.state.service = service
    app.state.settings = settings
    app.state.pools = Pools(settings.write_wait_s)
    throttle = AuthThrottle(settings.auth_failures_per_minute)
    app.openapi = _openapi_with_events(app, settings, service.modes())  # type: ignore[method-assign]
    _install_error_handlers(app)
    app.add_middleware(_JsonTooLarge, upload_mb=settings.max_upload_mb)
    # Host, API key and throttling before anything reads the body (only CORS is outside it).
    app.add_middleware(_Gate, settings=settings, throttle=throttle, body_timeout_s=body_timeout_s)
    # Always installed: with no origins it answers no cross-origin request (and keeps Gradio's own CORS off).
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "X-API-Key", "Content-Type"],
    )
    for router in (_ask_router(), _documents_router(settings), _system_router(), _openai_router()):
        app.include_router(router)

    if ui:
        from ui.stubs import skip_stub_writer

        skip_stub_writer()  # before Gradio's import: its components' stubs are not rewritten (ui/stubs.py)
        import gradio

        from ui.chat import UI_CSS, UI_HEAD, build_ui

        key = settings.api_key

        def check(username: str, password: str) -> bool:
            return bool(key) and secrets.compare_digest(password.encode(), str(key).encode())

        @app.get("/", include_in_schema=False)
        def root() -> RedirectResponse:
            return RedirectResponse(UI_PATH + "/")

        gradio.mount_gradio_app(
            app,
            build_ui(service),
            path=UI_PATH,
            auth=check if key else None,
            auth_message="Sign in with any user name and the API key as the password." if key else None,
            footer_links=[],
            run_history=False,
            ssr_mode=False,
            max_file_size=int(settings.max_upload_mb * _MB),
            css=UI_CSS,
            head=UI_HEAD,
        )
    return app


def _import_ui() -> None:
    try:
        import ui.chat  # noqa: F401 - first: the ui package keeps Gradio's stub writer from running (ui/stubs.py)
    except Exception as exc:  # noqa: BLE001 - create_app imports them again and reports it
        log.warning("could not import the UI ahead: %s", exc)


def serve(settings: Settings) -> None:
    """Build the service (indexing nothing) and serve the API and the UI on ``settings.host:settings.port``."""
    import uvicorn

    # Importing Gradio (5 s of CPU) and opening the index (4 s at 1M chunks, much of it in SQLite and NumPy, which
    # let go of the GIL) overlap on a second core; the dense index loads while the UI is built (docs/scale.md
    # "Cold start").
    ui_import = threading.Thread(target=_import_ui, name="ui-import", daemon=True)
    ui_import.start()
    service = Assistant(settings, warm=True)
    try:
        ui_import.join()
        app = create_app(service, settings)
        log.info("serving on http://%s:%s (UI at %s/)", settings.host, settings.port, UI_PATH)
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level="info",
            timeout_graceful_shutdown=5,
            http=http_protocol(HEADER_TIMEOUT_S),
        )
    finally:
        service.close()


__all__ = [
    "ApiKeyDep",
    "AuthThrottle",
    "Pools",
    "http_protocol",
    "ServiceDep",
    "SettingsDep",
    "SUPPORTED_SUFFIXES",
    "create_app",
    "serve",
    "status_for",
]
