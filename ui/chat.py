"""The Gradio UI: a chat whose answers stream in with clickable citations, and a documents tab.

``build_ui(service)`` works on the service it is given (the API mounts it on the
same instance, so models load once). ``UI_CSS`` and ``UI_HEAD`` must be passed
to ``gradio.mount_gradio_app`` (or ``Blocks.launch``): Gradio 6 takes styling
and head scripts there, not on ``Blocks``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from assistant.errors import AssistantError
from assistant.service import Assistant
from assistant.types import Answer
from index.errors import IndexStoreError
from ingest.errors import IngestError
from ingest.loaders import SUPPORTED_SUFFIXES
from ui.render import EMPTY_PANEL, render_answer, render_answer_text, render_error, render_panel, render_sources

log = logging.getLogger(__name__)

DOC_COLUMNS = ["Title", "File", "Chunks", "Pages", "Ingested at", "ID"]
_USER_ERRORS = (AssistantError, IngestError, IndexStoreError)

UI_CSS = """
#sources { max-height: 640px; overflow-y: auto; }
.sources-empty { color: var(--body-text-color-subdued); padding: 12px; }
.turn { margin-bottom: 14px; }
.turn-head { margin: 4px 0 8px; font-size: 0.95em; }
.turn-head span { font-weight: normal; color: var(--body-text-color-subdued); }
.source-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px;
  margin: 6px 0; background: var(--block-background-fill); transition: box-shadow .2s, border-color .2s; }
.source-card.active, .source-card:target { border-color: #d97706; box-shadow: 0 0 0 3px rgba(217,119,6,.35); }
.source-card header { margin-bottom: 2px; }
.cite-badge { font-weight: 700; color: #b45309; }
.cite-badge.muted { color: var(--body-text-color-subdued); }
.source-meta { font-size: .85em; color: var(--body-text-color-subdued); margin-bottom: 4px; }
.source-passage { margin: 4px 0 0; padding: 4px 8px; border-left: 3px solid var(--border-color-primary);
  font-size: .9em; line-height: 1.45; white-space: pre-line; }
.source-passage mark, mark.quote { background: #fde68a; color: inherit; padding: 0 2px; border-radius: 2px; }
.answer-scope { font-size: .85em; color: var(--body-text-color-subdued); margin-bottom: 4px; }
.source-note { font-size: .85em; color: var(--body-text-color-subdued); margin: 4px 0 0; font-style: italic; }
a.cite { font-weight: 700; text-decoration: none; color: #b45309 !important; cursor: pointer; }
a.cite:hover { text-decoration: underline; }
.abstain-notice { border: 1px dashed #9ca3af; background: #f3f4f6; color: #374151; border-radius: 6px;
  padding: 6px 10px; }
.abstain-notice strong { color: #6b7280; }
.error-notice { border: 1px solid #f87171; background: #fef2f2; color: #991b1b; border-radius: 6px; padding: 6px 10px; }
.nearest-head { font-style: italic; color: var(--body-text-color-subdued); }
"""

# Clicking a [n] marker highlights and scrolls to its source card (also works without JS via :target).
UI_HEAD = """
<script>
document.addEventListener("click", function (event) {
  var link = event.target && event.target.closest ? event.target.closest('a[href^="#cite-"]') : null;
  if (!link) { return; }
  var card = document.getElementById(link.getAttribute("href").slice(1));
  if (!card) { return; }
  event.preventDefault();
  event.stopPropagation();
  document.querySelectorAll(".source-card.active").forEach(function (el) { el.classList.remove("active"); });
  card.classList.add("active");
  card.scrollIntoView({ behavior: "smooth", block: "center" });
}, true);
</script>
"""


def _documents_table(service: Assistant) -> pd.DataFrame:
    rows = [
        [d.title, Path(d.source).name, d.chunks, d.pages or "", d.ingested_at[:19].replace("T", " "), d.id]
        for d in service.documents()
    ]
    return pd.DataFrame(rows, columns=DOC_COLUMNS)


def _document_choices(service: Assistant) -> list[tuple[str, str]]:
    return [(f"{d.title[:60]} ({Path(d.source).name})", d.id) for d in service.documents()]


def build_ui(service: Assistant) -> gr.Blocks:
    """The chat and documents UI over ``service``."""
    settings = service.settings
    modes = service.modes()
    default_mode = "generative" if settings.llm_base_url and "generative" in modes else modes[0]

    def respond(
        message: str, chat: list[dict[str, Any]], turns: list[dict[str, str]], top_k: float, mode: str | None
    ) -> Iterator[tuple[Any, ...]]:
        question = (message or "").strip()
        if not question:
            yield gr.skip(), chat, turns, gr.skip()
            return
        turn = len(turns) + 1
        history = service.recent_history([(t["question"], t["answer"]) for t in turns])  # within the limits
        panel = render_panel([t["sources"] for t in turns])
        chat = [*chat, {"role": "user", "content": question}, {"role": "assistant", "content": "…"}]
        yield "", chat, turns, panel
        text = ""
        final: Answer | None = None
        try:
            for piece in service.stream(question, top_k=int(top_k), history=history, mode=mode or None):
                if isinstance(piece, Answer):
                    final = piece
                else:
                    text += piece
                    chat[-1] = {"role": "assistant", "content": render_answer_text(text, turn)}
                    yield "", chat, turns, panel
        except _USER_ERRORS as exc:
            chat[-1] = {"role": "assistant", "content": render_error(str(exc))}
            yield "", chat, turns, panel
            return
        except Exception:
            log.exception("answering %r failed", question)
            chat[-1] = {"role": "assistant", "content": render_error("an internal error occurred; see the server log")}
            yield "", chat, turns, panel
            return
        assert final is not None
        chat[-1] = {"role": "assistant", "content": render_answer(final, turn)}
        turns = [*turns, {"question": question, "answer": final.answer, "sources": render_sources(final, turn)}]
        yield "", chat, turns, render_panel([t["sources"] for t in turns])

    def clear() -> tuple[Any, ...]:
        return [], [], EMPTY_PANEL, ""

    def refresh() -> tuple[Any, ...]:
        return _documents_table(service), gr.Dropdown(choices=_document_choices(service), value=None)

    def received(path: str) -> Path | None:
        """``path`` when Gradio itself stored it from an upload to this UI, else None (a client can name any path)."""
        if path not in demo.upload_file_set:
            return None
        resolved = Path(path).resolve()
        cache = Path(demo.GRADIO_CACHE).resolve()
        return resolved if resolved.is_relative_to(cache) and resolved.is_file() else None

    def forget(path: str) -> None:
        """Delete Gradio's temporary copy of an upload once it has been handled (and its folder when empty)."""
        demo.upload_file_set.discard(path)
        copy = Path(path)
        copy.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            copy.parent.rmdir()

    def upload(paths: list[str] | None, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        if not paths:
            return ("Choose one or more files first.", *refresh(), gr.skip())
        lines: list[str] = []
        for path in progress.tqdm(paths, desc="Indexing", unit="file"):
            name = Path(path).name
            copy = received(path)
            if copy is None:
                log.warning("UI upload refused a file it did not receive: %r", path)
                lines.append(f"- ✗ **{name}**: not a file uploaded to this page; upload it again")
                continue
            try:
                with open(copy, "rb") as stream:
                    result = service.upload(name, stream, max_mb=settings.max_upload_mb)
            except _USER_ERRORS as exc:
                lines.append(f"- ✗ **{name}**: {exc}")
                continue
            finally:
                forget(path)
            detail = f"{result.chunks} chunks, id `{result.id}`" if result.id else (result.error or "")
            lines.append(f"- ✓ **{name}**: {result.status} ({detail})")
        return ("\n".join(lines), *refresh(), None)

    def delete(doc_id: str | None) -> tuple[Any, ...]:
        if not doc_id:
            return ("Pick a document to delete.", *refresh())
        try:
            title = service.document(doc_id).title
            service.delete(doc_id)
        except _USER_ERRORS as exc:
            return (f"✗ {exc}", *refresh())
        return (f"Deleted **{title}** (`{doc_id}`).", *refresh())

    # Gradio deletes its temporary copies older than an hour, hourly and when the server stops.
    with gr.Blocks(
        title="Cited assistant", analytics_enabled=False, fill_width=True, delete_cache=(3600, 3600)
    ) as demo:
        gr.Markdown(
            "### Cited assistant\nAnswers are quoted from your documents. "
            "Click a **[n]** marker to see the passage it quotes."
        )
        turns = gr.State([])
        with gr.Tab("Chat", elem_id="chat-tab"), gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Chat",
                    elem_id="chat",
                    height=560,
                    buttons=["copy"],
                    feedback_options=None,
                    placeholder="Ask a question about the indexed documents.",
                )
                with gr.Row():
                    question = gr.Textbox(
                        placeholder="Ask about your documents…",
                        show_label=False,
                        scale=5,
                        elem_id="question",
                        max_length=settings.max_question_chars,
                        autofocus=True,
                    )
                    ask = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                with gr.Row():
                    top_k = gr.Slider(1, 20, value=settings.top_k, step=1, label="Passages retrieved (top k)")
                    mode = gr.Dropdown(choices=modes, value=default_mode, label="Answer mode")
                    clear_btn = gr.Button("Clear chat", elem_id="clear")
            with gr.Column(scale=2):
                gr.Markdown("#### Sources")
                sources = gr.HTML(EMPTY_PANEL, elem_id="sources")
        with gr.Tab("Documents", elem_id="documents-tab"):
            with gr.Row():
                files = gr.File(
                    label="Upload documents",
                    file_count="multiple",
                    file_types=sorted(SUPPORTED_SUFFIXES),
                    elem_id="upload",
                    scale=3,
                )
                with gr.Column(scale=1):
                    upload_btn = gr.Button("Upload and index", variant="primary", elem_id="upload-btn")
                    refresh_btn = gr.Button("Refresh list")
            status = gr.Markdown(elem_id="documents-status")
            table = gr.Dataframe(
                value=pd.DataFrame(columns=DOC_COLUMNS),
                interactive=False,
                wrap=True,
                elem_id="documents",
                column_widths=["30%", "22%", "7%", "7%", "16%", "18%"],
            )
            with gr.Row():
                doc_choice = gr.Dropdown(label="Document to delete", choices=[], scale=3)
                delete_btn = gr.Button("Delete", variant="stop", scale=1)

        gr.on(
            [question.submit, ask.click],
            respond,
            inputs=[question, chatbot, turns, top_k, mode],
            outputs=[question, chatbot, turns, sources],
            concurrency_limit=2,
        )
        clear_btn.click(clear, outputs=[chatbot, turns, sources, question])
        upload_btn.click(upload, inputs=[files], outputs=[status, table, doc_choice, files])
        refresh_btn.click(refresh, outputs=[table, doc_choice])
        delete_btn.click(delete, inputs=[doc_choice], outputs=[status, table, doc_choice])
        demo.load(refresh, outputs=[table, doc_choice])
    # Turn Gradio's own check on: event inputs may only name files in its upload folder. Gradio sets this
    # in launch(); mount_gradio_app leaves it off, and then a client could name any server path.
    demo.has_launched = True
    return demo
