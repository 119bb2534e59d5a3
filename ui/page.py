"""The Gradio chat page: ask, watch the answer stream in, check each claim against its source."""

from __future__ import annotations

import html
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from rag.errors import IndexNotFound, RagError
from rag.settings import MAX_QUESTION_CHARS
from rag.types import Answer
from ui.render import (
    EMPTY_SOURCES,
    escape_chat,
    public_message,
    render_answer,
    render_documents,
    render_sources,
)
from ui.service import Service
from ui.uploads import MAX_UPLOAD_BYTES, display_name

log = logging.getLogger(__name__)

EXAMPLES = [
    "Did the US warn Russia before the Crocus City Hall attack?",
    "What did Putin call the US warning?",
    "When did the US embassy issue its warning?",
    "How many people were killed in the concert hall attack?",
]

INTRO = (
    '<div class="intro"><h1>Ask the news</h1><p>Ask about the indexed news articles. Every '
    'answer cites its sources: click a <span class="cite">[n]</span> marker to see the exact '
    "passage, highlighted in its article. If the articles do not answer a question, it says so."
    "</p></div>"
)

CSS = """
.intro h1 { margin: 0 0 .2rem 0; font-size: 1.6rem; }
.intro p { margin: 0; color: var(--body-text-color-subdued); }
a.cite, span.cite { color: var(--link-text-color, #2563eb); font-weight: 600;
  text-decoration: none; cursor: pointer; padding: 0 1px; }
a.cite:hover { text-decoration: underline; }
.refusal strong { color: #b45309; }
.sources { display: flex; flex-direction: column; gap: .6rem; }
.src-q { font-size: .85rem; color: var(--body-text-color-subdued); margin-bottom: .4rem; }
.src-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: .6rem .8rem;
  margin-bottom: .6rem; background: var(--block-background-fill); transition: box-shadow .3s; }
.src-card.active { box-shadow: 0 0 0 3px var(--color-accent-soft, #c7d2fe);
  border-color: var(--color-accent, #6366f1); }
.src-head { font-weight: 600; }
.src-n { color: var(--link-text-color, #2563eb); }
.src-date, .src-meta { font-size: .8rem; color: var(--body-text-color-subdued); }
.src-para { margin: .4rem 0 0 0; line-height: 1.5; white-space: pre-line; font-size: .92rem; }
.src-para mark { background: #fde68a; color: #111; padding: 0 2px; border-radius: 2px; }
.src-empty { color: var(--body-text-color-subdued); }
table.docs { width: 100%; border-collapse: collapse; font-size: .9rem; }
table.docs th, table.docs td { text-align: left; padding: .35rem .5rem;
  border-bottom: 1px solid var(--border-color-primary); vertical-align: top; }
table.docs td.num { text-align: right; }
table.docs td.date { white-space: nowrap; }
table.docs code { font-size: .78rem; }
.status-ok { color: #15803d; } .status-err { color: #b91c1c; }
#sources-col { max-height: 78vh; overflow-y: auto; }
"""

# Clicking [n] shows that answer's sources and brings card n into view. Done in the browser:
# it needs no round trip and works for older answers too (their cards are hidden, not gone).
HEAD = """
<script>
document.addEventListener('click', function (e) {
  var a = e.target && e.target.closest ? e.target.closest('a.cite') : null;
  if (!a) return;
  e.preventDefault(); e.stopPropagation();
  var m = (a.getAttribute('href') || '').match(/^#src-(\\d+)-(\\d+)$/);
  if (!m) return;
  document.querySelectorAll('.src-turn').forEach(function (t) {
    t.hidden = t.getAttribute('data-turn') !== m[1];
  });
  document.querySelectorAll('.src-card.active').forEach(function (c) {
    c.classList.remove('active');
  });
  var card = document.getElementById('src-' + m[1] + '-' + m[2]);
  if (card) { card.classList.add('active'); card.scrollIntoView({block: 'nearest'}); }
}, true);
</script>
"""


# Gradio spots the progress parameter by its default; track_tqdm shows the indexer's bar.
_PROGRESS = gr.Progress(track_tqdm=True)


def _example_text(evt: gr.SelectData) -> str:
    """The question of a clicked example."""
    value = evt.value
    return str(value.get("text", "")) if isinstance(value, dict) else str(value)


def theme() -> gr.themes.Base:
    """Gradio's default look with system fonts: nothing is fetched, every glyph is present."""
    return gr.themes.Default(
        primary_hue="blue",
        font=["system-ui", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
    )


def _status(ok: bool, message_html: str) -> str:
    cls = "status-ok" if ok else "status-err"
    return f'<p class="{cls}">{message_html}</p>'


def build_page(service: Service) -> gr.Blocks:
    """The Blocks page; ``css``/``head`` are applied by ``mount_gradio_app`` (Gradio 6)."""
    settings = service.settings
    backends = service.backends()

    def documents_html() -> str:
        try:
            return render_documents(service.documents())
        except IndexNotFound:
            return render_documents([])
        except RagError as e:
            return _status(False, html.escape(public_message(e, settings)))

    def respond(
        message: str,
        messages: list[dict[str, str]],
        answers: list[Answer],
        chat: Any,
        k: float,
        backend: str,
    ) -> Iterator[tuple[Any, ...]]:
        """Stream one answer into the chat, then show its sources."""
        messages = list(messages or [])
        answers = list(answers or [])
        question = (message or "").strip()
        if not question:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        shown_q = question if len(question) <= MAX_QUESTION_CHARS else question[:200] + "…"
        messages.append({"role": "user", "content": escape_chat(shown_q)})
        messages.append({"role": "assistant", "content": escape_chat("Searching the articles…")})
        yield "", messages, gr.skip(), gr.skip(), gr.skip(), messages
        final: Answer | None = None
        try:
            if chat is None:
                chat = service.new_chat()
            text = ""
            for item in service.stream(question, chat, k=int(k), backend=backend or None):
                if isinstance(item, Answer):
                    final = item
                elif item:
                    text += item
                    messages[-1] = {"role": "assistant", "content": escape_chat(text)}
                    yield gr.skip(), messages, gr.skip(), gr.skip(), gr.skip(), gr.skip()
            if final is None:
                raise RagError("the answering backend returned no answer")
        except RagError as e:
            shown = public_message(e, settings)  # no server paths on the page
            messages[-1] = {"role": "assistant", "content": escape_chat(f"⚠ {shown}")}
            yield gr.skip(), messages, gr.skip(), chat, gr.skip(), messages
            return
        except Exception:
            log.exception("answering failed")
            messages[-1] = {
                "role": "assistant",
                "content": escape_chat("⚠ Something went wrong while answering; see the log."),
            }
            yield gr.skip(), messages, gr.skip(), chat, gr.skip(), messages
            return
        answers.append(final)
        messages[-1] = {"role": "assistant", "content": render_answer(final, len(answers) - 1)}
        try:
            articles = service.articles()
        except RagError:
            articles = {}
        yield gr.skip(), messages, answers, chat, render_sources(answers, articles), messages

    def add_files(files: list[str] | None, progress: gr.Progress = _PROGRESS) -> tuple[Any, ...]:
        """Check, store and index uploaded articles; on any problem nothing changes."""
        paths = [Path(f) for f in (files or [])]
        if not paths:
            return _status(False, "Choose one or more .txt, .md or .html files first."), gr.skip()
        try:
            pairs = []
            for p in paths:
                name = display_name(p.name)
                if p.stat().st_size > MAX_UPLOAD_BYTES:
                    raise RagError(
                        f"{name}: the file is over the {MAX_UPLOAD_BYTES >> 20} MB limit."
                    )
                pairs.append((name, p.read_bytes()))
            result = service.add_files(pairs, progress=lambda f, d: progress(f, desc=d))
        except RagError as e:
            shown = public_message(e, settings)
            return _status(False, html.escape(shown) + " Nothing was changed."), None
        except Exception:
            log.exception("upload failed")
            return _status(False, "Indexing failed; nothing was changed. See the log."), None
        finally:
            for p in paths:  # the raw upload is ours now (or rejected): drop Gradio's copy
                p.unlink(missing_ok=True)
        names = ", ".join(
            f"<b>{html.escape(s.original_name)}</b>" + ("" if s.is_new else " (already indexed)")
            for s in result.files
        )
        msg = f"Added {names}. You can ask about it in the Ask tab now."
        return _status(True, msg + _duplicates_note(result)), None

    def _duplicates_note(result: Any) -> str:
        """Say when an upload was the same story as an indexed article (kept once, both noted)."""
        names = {s.path.stem: s.original_name for s in result.files}
        notes = []
        try:
            articles = service.articles()
        except RagError:
            articles = {}
        for dup, canon in getattr(result.report, "duplicates", ()):
            mine, other = (dup, canon) if dup in names else (canon, dup)
            if mine in names:
                title = articles[other].title if other in articles else other
                notes.append(
                    f"{html.escape(names[mine])} is the same story as “{html.escape(title)}”: "
                    "it is kept once, with both sources recorded."
                )
        return "<br>" + "<br>".join(notes) if notes else ""

    with gr.Blocks(
        title="Ask the news", analytics_enabled=False, delete_cache=(3600, 3600)
    ) as page:
        messages_state = gr.State([])
        answers_state = gr.State([])
        chat_state = gr.State(None)
        gr.HTML(INTRO, js_on_load=None)
        with gr.Tabs():
            with gr.Tab("Ask", id="ask"), gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(
                        elem_id="chat",
                        label="Conversation",
                        show_label=False,
                        height=520,
                        examples=[{"text": q} for q in EXAMPLES],
                        placeholder="**Ask a question about the articles**, or try one of these:",
                        sanitize_html=True,
                        render_markdown=True,
                        allow_tags=False,
                        latex_delimiters=[],
                        feedback_options=None,
                        buttons=[],
                        layout="bubble",
                    )
                    box = gr.Textbox(
                        elem_id="question",
                        show_label=False,
                        placeholder="Ask about the articles, e.g. who warned whom, and when?",
                        max_length=MAX_QUESTION_CHARS,
                        submit_btn="Ask",
                        autofocus=True,
                        lines=1,
                        max_lines=6,
                    )
                    with gr.Row():
                        clear = gr.Button("New conversation", size="sm", scale=0)
                    with gr.Accordion("Settings", open=False):
                        backend = gr.Dropdown(
                            backends,
                            value=settings.backend if settings.backend in backends else None,
                            label="Answering backend",
                            info="extractive: quotes the articles, offline. The others need "
                            "a configured language model.",
                        )
                        k = gr.Slider(
                            1,
                            20,
                            value=settings.top_k,
                            step=1,
                            label="Passages to retrieve",
                            info="More passages: more context, slower answers.",
                        )
                with gr.Column(scale=2, elem_id="sources-col"):
                    gr.Markdown("### Sources")
                    sources = gr.HTML(EMPTY_SOURCES, elem_id="sources", js_on_load=None)
            with gr.Tab("Documents", id="documents") as docs_tab:
                gr.Markdown(
                    "### Add articles\nUpload news articles as **.txt**, **.md** or **.html** "
                    f"(up to {MAX_UPLOAD_BYTES >> 20} MB each). They are indexed at once."
                )
                files = gr.File(
                    elem_id="upload",
                    file_count="multiple",
                    file_types=[".txt", ".md", ".html", ".htm"],
                    label="Articles to add",
                    height=120,
                )
                add = gr.Button("Add to the index", variant="primary", elem_id="add")
                status = gr.HTML("", elem_id="upload-status", js_on_load=None)
                gr.Markdown("### Indexed articles")
                docs = gr.HTML(elem_id="documents", js_on_load=None)

        ask_io = {
            "fn": respond,
            "inputs": [box, messages_state, answers_state, chat_state, k, backend],
            "outputs": [box, chatbot, answers_state, chat_state, sources, messages_state],
            "concurrency_limit": 4,
            "show_progress": "minimal",
        }
        # A question sent while the last answer is still finishing waits its turn, not dropped.
        box.submit(**ask_io, api_visibility="private", trigger_mode="always_last")
        chatbot.example_select(
            _example_text,
            None,
            box,
            api_visibility="private",
        ).then(**ask_io, api_visibility="private")
        reset = {
            "fn": lambda: ([], [], [], None, EMPTY_SOURCES, ""),
            "inputs": None,
            "outputs": [chatbot, messages_state, answers_state, chat_state, sources, box],
            "api_visibility": "private",
        }
        clear.click(**reset)
        chatbot.clear(**reset)  # the chatbot's own trash button starts over too
        docs_tab.select(documents_html, None, docs, api_visibility="private")
        add.click(add_files, files, [status, files], api_visibility="private").then(
            documents_html, None, docs, api_visibility="private"
        )
    return page
