"""The HTTP API (FastAPI) over one ``Assistant``, with the Gradio UI mounted on the same service.

Routers only call the service and translate its errors; every error family is
mapped to an HTTP status in one place (``status_for`` and the exception
handlers installed by ``create_app``). Endpoints:

* ``POST /ask`` (JSON, or Server-Sent Events with ``"stream": true``) and ``POST /ask/stream``
* ``POST /documents`` (multipart upload), ``GET /documents``, ``GET|DELETE /documents/{id}``
* ``GET /health``
* ``POST /v1/chat/completions`` and ``GET /v1/models`` (OpenAI-compatible)
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import secrets
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, File, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
from index.errors import IndexStoreError
from ingest.errors import DocumentTooLarge, IngestError, UnreadableFile, UnsupportedFileType
from ingest.loaders import SUPPORTED_SUFFIXES as LOADER_SUFFIXES

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = frozenset(LOADER_SUFFIXES)  # what ingest.loaders reads
MODEL_ID = "cited-assistant"
UI_PATH = "/ui"
_MB = 1024 * 1024
_JSON_BODY_LIMIT = 4 * _MB  # questions are short; histories are bounded by this
_MULTIPART_SLACK = 64 * 1024  # multipart boundaries and part headers on top of the file bytes


# ---------------------------------------------------------------------- error mapping (the one place)

# Most specific first: the first class the exception is an instance of wins.
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
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
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
    message = str(exc) if status < 500 or isinstance(exc, WriteBusy) else "internal error"
    return ErrorResponse(error=ErrorBody(message=message, type=_snake(type(exc).__name__), code=status)).model_dump(
        mode="json", exclude_none=True
    )


async def _on_service_error(request: Request, exc: Exception) -> JSONResponse:
    status = status_for(exc)
    if status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc)
    retry = getattr(exc, "retry_after", None)
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
    """Report the request-body limiter's plain-text 413 in the JSON error shape too."""

    def __init__(self, app: ASGIApp, upload_mb: float) -> None:
        self.app = app
        self.message = f"the request body is too large (uploads may be at most {upload_mb:g} MB)"

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
                response = _error_response(413, self.message, _HTTP_TYPES[413])
                await response(scope, receive, send)

        await self.app(scope, receive, send_json)


def _install_error_handlers(app: FastAPI) -> None:
    for family in (AssistantError, IngestError, IndexStoreError):
        app.add_exception_handler(family, _on_service_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected_error)


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": desc}
    for code, desc in {401: "missing or wrong API key", 422: "malformed input"}.items()
}


def _errors(*extra: int) -> dict[int | str, dict[str, Any]]:
    more: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorResponse, "description": _HTTP_TYPES.get(code, "error").replace("_", " ")}
        for code in extra
    }
    return {**_ERRORS, **more}


# ---------------------------------------------------------------------- dependencies


def get_service(request: Request) -> Assistant:
    service: Assistant = request.app.state.service
    return service


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


ServiceDep = Annotated[Assistant, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]

_bearer = HTTPBearer(auto_error=False, description="the API key (when one is configured)")
_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the API key (when one is configured)")


def require_api_key(
    settings: SettingsDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    key: Annotated[str | None, Depends(_key_header)],
) -> None:
    """When ``settings.api_key`` is set, every API request must carry it."""
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


# ---------------------------------------------------------------------- request and response models


class AskFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    doc_ids: list[str] | None = Field(default=None, description="only these document ids")
    sources: list[str] | None = Field(default=None, description="only these source paths (or path suffixes)")


class AskRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"question": "What replaced the Diffusion Rule?", "top_k": 5}]},
    )

    question: str = Field(min_length=1, description="the question (at most settings.max_question_chars)")
    top_k: int | None = Field(default=None, ge=1, le=50, description="passages to retrieve (default: settings.top_k)")
    filters: AskFilters | None = None
    mode: str | None = Field(default=None, description="answer mode: extractive or generative (default: per settings)")
    history: list[tuple[str, str]] = Field(default_factory=list, description="earlier [user, assistant] turns")
    stream: bool = Field(False, description="send Server-Sent Events (token, citations, done) instead of JSON")


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


def _ask_router() -> APIRouter:
    router = APIRouter(tags=["answers"], dependencies=[ApiKeyDep], max_body_size=_JSON_BODY_LIMIT)
    streamed: dict[int | str, dict[str, Any]] = {
        200: {
            "description": "the Answer as JSON, or with `stream: true` Server-Sent Events: "
            "`token` ({text}), then `citations` ({abstained, citations}), then `done` (the Answer)",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    }

    @router.post("/ask", response_model=Answer, responses={**_errors(409), **streamed})
    def ask(req: AskRequest, service: ServiceDep) -> Response | Answer:
        """Answer a question with cited quotes, or abstain."""
        pieces = _ask_pieces(service, req)
        if req.stream:
            return StreamingResponse(_answer_events(pieces), media_type="text/event-stream", headers=_SSE_HEADERS)
        return _final(pieces)

    @router.post(
        "/ask/stream",
        response_class=StreamingResponse,
        responses={**_errors(409), **streamed},
    )
    def ask_stream(req: AskRequest, service: ServiceDep) -> StreamingResponse:
        """Like POST /ask with `stream: true`: Server-Sent Events."""
        pieces = _ask_pieces(service, req)
        return StreamingResponse(_answer_events(pieces), media_type="text/event-stream", headers=_SSE_HEADERS)

    return router


def _documents_router(settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/documents", tags=["documents"], dependencies=[ApiKeyDep])
    upload_limit = int(settings.max_upload_mb * _MB) + _MULTIPART_SLACK

    @router.post(
        "",
        response_model=UploadResponse,
        responses=_errors(413, 415),
        max_body_size=upload_limit,
    )
    def upload(
        files: Annotated[list[UploadFile], File(description="one or more .txt .md .html .htm .pdf .docx files")],
        service: ServiceDep,
        app_settings: SettingsDep,
    ) -> UploadResponse:
        """Upload files, store them under the data directory and index them.

        The whole request may be at most ``max_upload_mb``. With several files, the
        ones that fail are reported per file; when every file fails, the first
        failure is the response (413, 415 or 422).
        """
        results: list[UploadResult] = []
        failures: list[AssistantError] = []
        for f in files:
            name = f.filename or "upload"
            try:
                results.append(service.upload(name, f.file, max_mb=app_settings.max_upload_mb))
            except (AssistantError, IngestError) as exc:
                if not isinstance(exc, AssistantError):
                    exc = UploadFailed(f"{name!r}: {exc}")
                failures.append(exc)
                results.append(UploadResult(filename=name, status="error", error=str(exc)))
        if failures and len(failures) == len(files):
            raise failures[0]
        return UploadResponse(results=results)

    @router.get("", response_model=list[DocumentInfo])
    def list_documents(service: ServiceDep) -> list[DocumentInfo]:
        """Every indexed document."""
        return service.documents()

    @router.get("/{doc_id}", response_model=DocumentInfo, responses=_errors(404))
    def get_document(doc_id: str, service: ServiceDep) -> DocumentInfo:
        """One document's metadata."""
        return service.document(doc_id)

    @router.delete("/{doc_id}", response_model=DeleteResponse, responses=_errors(404))
    def delete_document(doc_id: str, service: ServiceDep) -> DeleteResponse:
        """Remove a document and its chunks from both indexes."""
        service.delete(doc_id)
        return DeleteResponse(id=doc_id)

    return router


def _system_router() -> APIRouter:
    router = APIRouter(tags=["system"], dependencies=[ApiKeyDep])

    @router.get("/health", response_model=HealthResponse, responses=_errors())
    def health(service: ServiceDep) -> HealthResponse:
        """Index size, embedding model, version."""
        return HealthResponse.model_validate(service.health())

    return router


# ---------------------------------------------------------------------- OpenAI-compatible API


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
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
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    top_k: int | None = Field(default=None, ge=1, le=50, description="passages to retrieve (extension)")


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
        "description": "a chat completion, or with `stream: true` chat.completion.chunk events ending in [DONE]",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


def _openai_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["openai"], dependencies=[ApiKeyDep], max_body_size=_JSON_BODY_LIMIT)

    @router.post(
        "/chat/completions",
        response_model=ChatCompletion,
        responses=_errors(409) | _STREAMED_CHAT,
    )
    def chat_completions(req: ChatCompletionRequest, service: ServiceDep) -> Response | ChatCompletion:
        """OpenAI-compatible chat completions over the same answering chain, with citations."""
        question, history = _conversation(req.messages)
        pieces = _start_stream(service, question, top_k=req.top_k, history=history, mode=_mode_of(req.model))
        cid = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        if req.stream:
            return StreamingResponse(
                _chat_chunks(cid, created, req.model, pieces), media_type="text/event-stream", headers=_SSE_HEADERS
            )
        answer = _final(pieces)
        return ChatCompletion(
            id=cid,
            created=created,
            model=req.model,
            choices=[ChatChoice(message=ChatMessageOut(content=answer.answer + sources_text(answer)))],
            citations=list(answer.citations),
            abstained=answer.abstained,
        )

    @router.get("/models", response_model=ModelList, responses=_errors())
    def models(service: ServiceDep) -> ModelList:
        """The default model plus one per answer mode (``cited-assistant/<mode>``)."""
        created = int(time.time())
        ids = [MODEL_ID] + [f"{MODEL_ID}/{m}" for m in service.modes()]
        return ModelList(data=[ModelCard(id=i, created=created) for i in ids])

    return router


# ---------------------------------------------------------------------- app factory and server


def create_app(service: Assistant, settings: Settings, *, ui: bool = True) -> FastAPI:
    """The API over ``service``, with the Gradio UI at ``/ui`` on the same service (models load once)."""
    app = FastAPI(
        title="Cited assistant",
        version=__version__,
        summary="Answers from your documents, with checked citations. Offline.",
    )
    app.state.service = service
    app.state.settings = settings
    _install_error_handlers(app)
    app.add_middleware(_JsonTooLarge, upload_mb=settings.max_upload_mb)
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


def serve(settings: Settings) -> None:
    """Build the service (indexing nothing) and serve the API and the UI on ``settings.host:settings.port``."""
    import uvicorn

    service = Assistant(settings)
    try:
        app = create_app(service, settings)
        log.info("serving on http://%s:%s (UI at %s/)", settings.host, settings.port, UI_PATH)
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", timeout_graceful_shutdown=5)
    finally:
        service.close()


__all__ = [
    "ApiKeyDep",
    "ServiceDep",
    "SettingsDep",
    "SUPPORTED_SUFFIXES",
    "create_app",
    "serve",
    "status_for",
]
