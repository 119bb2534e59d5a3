"""The Gradio chat page: ask, watch the answer arrive, check each claim against its source;
keep conversations, and manage the documents of each collection."""

from __future__ import annotations

import html
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr

from index.loader import FORMATS, megabytes
from rag.chat import Chat
from rag.conversations import Conversation
from rag.documents import upload_names
from rag.errors import IndexNotFound, RagError
from rag.settings import MAX_K, MAX_QUESTION_CHARS
from rag.types import Answer
from ui.render import (
    DOCUMENT_HEADERS,
    EMPTY_SOURCES,
    document_rows,
    escape_chat,
    public_message,
    render_answer,
    render_document,
    render_documents,
    render_question,
    render_sources,
)
from ui.service import AddResult, FileOutcome, Service
from ui.uploads import display_name

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
WORKING = "Searching the articles…"

CSS = """
.intro h1 { margin: 0 0 .2rem 0; font-size: 1.6rem; }
.intro p { margin: 0; color: var(--body-text-color-subdued); }
a.cite, span.cite { color: var(--link-text-color, #2563eb); font-weight: 600;
  text-decoration: none; cursor: pointer; padding: 0 1px; }
a.cite:hover, a.copy:hover { text-decoration: underline; }
a.copy { color: var(--body-text-color-subdued); text-decoration: none; cursor: pointer; }
.refusal { color: #b45309; }
.rewrite { color: var(--body-text-color-subdued); }
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
.doc-view .passage { border-left: 3px solid var(--border-color-primary); padding-left: .6rem;
  margin: .6rem 0; }
.doc-view .p-n { font-size: .75rem; color: var(--body-text-color-subdued); }
.doc-title { margin: 0 0 .2rem 0; }
#doc-table [role=gridcell][data-col="3"] span, #doc-table [role=gridcell][data-col="5"] span {
  white-space: nowrap; }
#doc-table [role=gridcell] { cursor: pointer; }
.status-ok { color: #15803d; } .status-err { color: #b91c1c; }
#qcount { font-size: .8rem; color: var(--body-text-color-subdued); text-align: right;
  min-height: 1.2em; }
#qcount.over { color: #b91c1c; font-weight: 600; }
#sources-col { max-height: 78vh; overflow-y: auto; }
#sheet-back { display: none; }
@media (max-width: 768px) {
  #chat-col { order: 1; } #convs-col { order: 2; }
  #sources-col { position: fixed; left: 0; right: 0; bottom: 0; max-height: 72vh; z-index: 1000;
    margin: 0; padding: .6rem .8rem 1rem; background: var(--background-fill-primary);
    border-top: 1px solid var(--border-color-primary); border-radius: 14px 14px 0 0;
    box-shadow: 0 -8px 24px rgba(0,0,0,.25); transform: translateY(105%);
    transition: transform .2s ease-out; visibility: hidden; }
  #sources-col.sheet-open { transform: none; visibility: visible; }
  #sheet-back { display: block; }
  #sheet-back button { width: 100%; }
}
"""

# In the browser, needing no round trip: [n] shows that answer's sources and brings card n into
# view (on a phone, in a sheet over the chat, with a way back); "Copy" copies an answer with
# its sources; the question box counts characters and says when the limit is passed.
HEAD = (
    """
<script>
(function () {
  var MAX = __MAX__;
  function openSheet(open) {
    var col = document.getElementById('sources-col');
    if (col) col.classList.toggle('sheet-open', open);
  }
  document.addEventListener('click', function (e) {
    var t = e.target && e.target.closest ? e.target : null;
    if (!t) return;
    var back = t.closest('#sheet-back');
    if (back) { openSheet(false); return; }
    var copy = t.closest('a.copy');
    if (copy) {
      e.preventDefault(); e.stopPropagation();
      var id = (copy.getAttribute('href') || '').slice(1);
      var ta = document.getElementById(id);
      if (!ta) return;
      var done = function () { copy.textContent = 'Copied'; document.body.dataset.copied = ta.value;
        setTimeout(function () { copy.textContent = 'Copy'; }, 1500); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(ta.value).then(done, done);
      } else {
        var tmp = document.createElement('textarea'); tmp.value = ta.value;
        document.body.appendChild(tmp); tmp.select();
        try { document.execCommand('copy'); } catch (err) {}
        tmp.remove(); done();
      }
      return;
    }
    var a = t.closest('a.cite');
    if (!a) return;
    e.preventDefault(); e.stopPropagation();
    var m = (a.getAttribute('href') || '').match(/^#src-(\\d+)-(\\d+)$/);
    if (!m) return;
    document.querySelectorAll('.src-turn').forEach(function (el) {
      el.hidden = el.getAttribute('data-turn') !== m[1];
    });
    document.querySelectorAll('.src-card.active').forEach(function (c) {
      c.classList.remove('active');
    });
    openSheet(true);
    var card = document.getElementById('src-' + m[1] + '-' + m[2]);
    if (card) { card.classList.add('active'); card.scrollIntoView({block: 'nearest'}); }
  }, true);
  document.addEventListener('keydown', function (e) {
    if (e.key === 'Escape') openSheet(false);
  });
  function count() {
    var box = document.querySelector('#question textarea');
    var out = document.getElementById('qcount');
    if (!box || !out) return;
    var n = box.value.length;
    var over = n > MAX;
    out.classList.toggle('over', over);
    out.textContent = over
      ? n.toLocaleString('en') + ' / ' + MAX.toLocaleString('en') + ' characters: '
        + (n - MAX).toLocaleString('en') + ' too many. Shorten the question to ask it.'
      : (n ? n.toLocaleString('en') + ' / ' + MAX.toLocaleString('en') : '');
  }
  document.addEventListener('input', function (e) {
    if (e.target && e.target.closest && e.target.closest('#question')) count();
  }, true);
  setInterval(count, 500);  // also after the box is cleared by the page
})();
</script>
""".replace("__MAX__", str(MAX_QUESTION_CHARS))
)


# Gradio spots the progress parameter by its default. The indexer reports its own progress
# (chunks embedded, articles done): tracking tqdm as well drew a second, stuck bar.
_PROGRESS = gr.Progress()
_EXPORTS = Path(tempfile.mkdtemp(prefix="rag-exports-"))


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
    home = settings.home

    # -- helpers shared by the events ------------------------------------------------------

    def sources_html(answers: list[Answer], collection: str) -> str:
        try:
            articles = service.articles(collection)
        except RagError:
            articles = {}
        return render_sources(answers, articles, upload_names(home))

    def conversation_choices(collection: str) -> list[tuple[str, str]]:
        try:
            return [(c.title, c.id) for c in service.list_conversations(collection) if c.turns]
        except RagError:
            return []

    def export_file(conversation_id: str | None) -> str | None:
        if not conversation_id:
            return None
        try:
            text = service.export_conversation(conversation_id)
        except RagError:
            return None
        path = _EXPORTS / f"conversation-{conversation_id}.md"
        path.write_text(text, encoding="utf-8")
        return str(path)

    def shown(conversation: Conversation) -> tuple[list[dict[str, str]], list[Answer]]:
        messages: list[dict[str, str]] = []
        answers: list[Answer] = []
        for i, t in enumerate(conversation.turns):
            messages.append({"role": "user", "content": render_question(t.question, t.standalone)})
            messages.append({"role": "assistant", "content": render_answer(t.answer, i)})
            answers.append(t.answer)
        return messages, answers

    # Any: Gradio component values and updates
    def open_conversation(conversation_id: str | None, collection: str) -> tuple[Any, ...]:
        """The page showing one stored conversation (or an empty one)."""
        conversation = None
        if conversation_id:
            try:
                conversation = service.conversation(conversation_id)
            except RagError:
                conversation = None
        if conversation is None or not conversation.turns:
            choices = conversation_choices(collection)
            return ([], [], [], None, EMPTY_SOURCES, None,
                    gr.update(choices=choices, value=None), gr.update(value=None), collection)
        collection = conversation.info.collection
        messages, answers = shown(conversation)
        return (messages, messages, answers, None, sources_html(answers, collection),
                conversation.info.id,
                gr.update(choices=conversation_choices(collection), value=conversation.info.id),
                gr.update(value=export_file(conversation.info.id)), collection)

    # -- asking ----------------------------------------------------------------------------

    def respond(
        message: str,
        messages: list[dict[str, str]],
        answers: list[Answer],
        chat: Chat | None,
        k: float,
        backend: str | None,
        collection: str,
        conversation_id: str | None,
    ) -> Iterator[tuple[Any, ...]]:  # Any: Gradio component values and updates
        """Stream one answer into the chat as it arrives, then show its sources."""
        skip = gr.skip()
        question = (message or "").strip()
        if not question:
            yield (skip,) * 8
            return
        if len(question) > MAX_QUESTION_CHARS:
            gr.Warning(
                f"The question is {len(question):,} characters; the limit is "
                f"{MAX_QUESTION_CHARS:,}. Shorten it to ask it: nothing was cut or sent."
            )
            yield (skip,) * 8
            return
        messages = list(messages or [])
        answers = list(answers or [])
        messages.append({"role": "user", "content": render_question(question)})
        messages.append({"role": "assistant", "content": escape_chat(WORKING)})
        yield "", messages, skip, skip, skip, messages, skip, skip
        final: Answer | None = None
        try:
            if not conversation_id:
                conversation_id = service.start_conversation(collection).id
            if chat is None:
                chat = service.new_chat(collection, int(k), backend, conversation_id)
            else:
                chat.k = int(k)
                chat.backend = service.check_backend(backend) or settings.backend
            text = ""
            for item in service.stream(question, chat):
                if isinstance(item, Answer):
                    final = item
                elif item:
                    text += item
                    messages[-1] = {"role": "assistant", "content": escape_chat(text)}
                    yield skip, messages, skip, skip, skip, skip, skip, skip
            if final is None:
                raise RagError("the answering backend returned no answer")
            service.record_turn(conversation_id, chat)
        except RagError as e:
            shown = public_message(e, settings)  # no server paths on the page
            messages[-1] = {"role": "assistant", "content": escape_chat(f"⚠ {shown}")}
            yield skip, messages, skip, chat, skip, messages, skip, conversation_id
            return
        except Exception:
            log.exception("answering failed")
            messages[-1] = {
                "role": "assistant",
                "content": escape_chat("⚠ Something went wrong while answering; see the log."),
            }
            yield skip, messages, skip, chat, skip, messages, skip, conversation_id
            return
        answers.append(final)
        messages[-2] = {"role": "user", "content": render_question(question, final.question)}
        messages[-1] = {"role": "assistant", "content": render_answer(final, len(answers) - 1)}
        yield (
            skip,
            messages,
            answers,
            chat,
            sources_html(answers, collection),
            messages,
            gr.update(choices=conversation_choices(collection), value=conversation_id),
            conversation_id,
        )

    # -- documents -------------------------------------------------------------------------

    # Any: Gradio component values and updates
    def documents_view(collection: str) -> tuple[Any, ...]:
        try:
            docs = service.documents(collection)
        except IndexNotFound:
            docs = []
        except RagError as e:
            return _status(False, html.escape(public_message(e, settings))), gr.update(value=[]), []
        return (render_documents(docs),
                gr.update(value=document_rows(docs), headers=DOCUMENT_HEADERS),
                [d.doc_id for d in docs])

    def no_document() -> tuple[Any, ...]:  # Any: Gradio component values and updates
        return "", None, gr.update(visible=False), gr.update(visible=False)

    # Any: Gradio component values and updates
    def open_doc(doc_ids: list[str], collection: str, evt: gr.SelectData) -> tuple[Any, ...]:
        row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        if not isinstance(row, int) or not 0 <= row < len(doc_ids):
            return no_document()
        try:
            doc = service.document(doc_ids[row], collection)
        except RagError as e:
            shown = html.escape(public_message(e, settings))
            return _status(False, shown), None, gr.update(visible=False), gr.update(visible=False)
        return render_document(doc), doc.info.doc_id, gr.update(visible=True), \
            gr.update(visible=False)

    def reindex_doc(doc_id: str | None, collection: str) -> str:
        if not doc_id:
            return _status(False, "Choose a document in the table first.")
        try:
            report = service.reindex_document(doc_id, collection)
        except RagError as e:
            return _status(False, html.escape(public_message(e, settings)))
        title = service.document(doc_id, collection).info.title
        what = "its file had changed" if report.changed else "its file was unchanged"
        return _status(True, f"Re-indexed <b>{html.escape(title)}</b> ({what}): "
                             f"{report.passages} passage(s).")

    # Any: Gradio component values and updates
    def delete_doc(doc_id: str | None, collection: str) -> tuple[Any, ...]:
        if not doc_id:
            return (_status(False, "Choose a document in the table first."), *no_document())
        try:
            title = service.document(doc_id, collection).info.title
            service.remove_documents([doc_id], collection)
        except RagError as e:
            shown = html.escape(public_message(e, settings))
            return _status(False, shown), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return (_status(True, f"Deleted <b>{html.escape(title)}</b> and its passages."),
                *no_document())

    def add_files(files: list[str] | None, collection: str,
                  # Any: Gradio component values and updates
                  progress: gr.Progress = _PROGRESS) -> tuple[Any, ...]:
        """Check, store and index uploaded articles: every good file goes in, each bad one is
        named with what to do about it."""
        paths = [Path(f) for f in (files or [])]
        if not paths:
            return _status(False, f"Choose one or more {FORMATS} files first."), gr.skip()
        limit = settings.max_file_bytes
        try:
            pairs, too_big = [], []
            for p in paths:
                name = display_name(p.name)
                if p.stat().st_size > limit:
                    too_big.append(
                        FileOutcome(name, False, f"the file is over the {megabytes(limit)} MB "
                                                 "limit (RAG_MAX_FILE_MB)")
                    )
                else:
                    pairs.append((name, p.read_bytes()))
            if pairs:
                result = service.add_files(pairs, progress=lambda f, d: progress(f, desc=d),
                                           collection=collection)
                result = replace(result, outcomes=(*result.outcomes, *too_big))
            else:
                result = AddResult((), None, tuple(too_big))
        except RagError as e:
            shown = public_message(e, settings)
            return _status(False, html.escape(shown) + " Nothing was changed."), None
        except Exception:
            log.exception("upload failed")
            return _status(False, "Indexing failed; nothing was changed. See the log."), None
        finally:
            for p in paths:  # the raw upload is ours now (or rejected): drop Gradio's copy
                p.unlink(missing_ok=True)
        message = render_outcomes(result, collection) + _duplicates_note(result, collection)
        return _status(bool(result.indexed), message), None

    def render_outcomes(result: AddResult, collection: str) -> str:
        """One line per file: added (with any warning) or skipped (why, what to do)."""
        lines = []
        for o in result.outcomes:
            name = f"<b>{html.escape(o.name)}</b>"
            if o.indexed:
                note = f" ({html.escape(public_message(o.message, settings))})" if o.message else ""
                lines.append(f"Added {name}{note}.")
            else:
                why = public_message(o.message, settings).rstrip(".")
                lines.append(f"Skipped {name}: {html.escape(why)}.")
        if result.indexed:
            lines.append(f"{html.escape(result.summary())} in <b>{html.escape(collection)}</b>. "
                         f"You can ask about {'it' if len(result.indexed) == 1 else 'them'} "
                         "now.")
        else:
            lines.append("Nothing was added. Nothing was changed.")
        return "<br>".join(lines)

    def _duplicates_note(result: AddResult, collection: str) -> str:
        """Say when an upload was the same story as an indexed article (kept once, both noted)."""
        names = {s.path.stem: s.original_name for s in result.files}
        notes = []
        try:
            articles = service.articles(collection)
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

    # Any: Gradio component values and updates
    def switch_collection(collection: str) -> tuple[Any, ...]:
        """A new collection name is checked; the chat starts over in the chosen collection."""
        try:
            name = service.collection(collection)
        except RagError as e:
            gr.Warning(str(e))
            name = settings.collection
        return (gr.update(choices=service.collections() + ([name] if name not in
                                                            service.collections() else []),
                          value=name),
                *open_conversation(None, name)[:8])

    # -- layout ----------------------------------------------------------------------------

    with gr.Blocks(
        title="Ask the news", analytics_enabled=False, delete_cache=(3600, 3600)
    ) as page:
        messages_state = gr.State([])
        answers_state = gr.State([])
        chat_state = gr.State(None)
        doc_ids = gr.State([])
        doc_selected = gr.State(None)
        # The open conversation survives a reload: its id is kept in the browser.
        saved_id = gr.BrowserState(None, storage_key="rag-conversation")
        conversation_id = gr.State(None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=300):
                gr.HTML(INTRO, js_on_load=None)
            collection = gr.Dropdown(
                service.collections(),
                value=settings.collection,
                label="Collection",
                info="Type a new name, then add files to create it.",
                allow_custom_value=True,
                elem_id="collection",
                scale=0,
                min_width=220,
            )
        with gr.Tabs():
            with gr.Tab("Ask", id="ask"), gr.Row(equal_height=False):
                with gr.Column(scale=1, min_width=200, elem_id="convs-col"):
                    new = gr.Button("New conversation", size="sm", elem_id="new-conv")
                    conversations = gr.Radio(
                        conversation_choices(settings.collection),
                        label="Conversations",
                        elem_id="conversations",
                    )
                    with gr.Row():
                        export = gr.DownloadButton(
                            "Export", size="sm", elem_id="export", value=None, min_width=80
                        )
                        forget = gr.Button("Delete", size="sm", elem_id="delete-conv",
                                           min_width=80)
                with gr.Column(scale=3, elem_id="chat-col"):
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
                        submit_btn="Ask",
                        autofocus=True,
                        lines=1,
                        max_lines=6,
                    )
                    gr.HTML("", elem_id="qcount", js_on_load=None)
                    with gr.Accordion("Settings", open=False):
                        backend = gr.Dropdown(
                            backends,
                            value=settings.backend if settings.backend in backends else None,
                            label="Answering backend",
                            info="Only the configured backends are offered.",
                            visible=len(backends) > 1,
                        )
                        k = gr.Slider(
                            1,
                            MAX_K,
                            value=settings.top_k,
                            step=1,
                            label="Passages to retrieve",
                            info="More passages: more context, slower answers.",
                        )
                with gr.Column(scale=2, elem_id="sources-col"):
                    gr.Button("← Back to the answer", size="sm", elem_id="sheet-back")
                    gr.Markdown("### Sources")
                    sources = gr.HTML(EMPTY_SOURCES, elem_id="sources", js_on_load=None)
            with gr.Tab("Documents", id="documents") as docs_tab:
                gr.Markdown(
                    "### Add articles\nUpload news articles as **.txt**, **.md**, **.html**, "
                    f"**.pdf** or **.docx** (up to {settings.max_file_mb:g} MB each) to the "
                    "collection chosen above. They are indexed at once; a file that cannot be "
                    "read is named, with what to do."
                )
                files = gr.File(
                    elem_id="upload",
                    file_count="multiple",
                    file_types=[".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx"],
                    label="Articles to add",
                    height=120,
                )
                add = gr.Button("Add to the index", variant="primary", elem_id="add")
                status = gr.HTML("", elem_id="upload-status", js_on_load=None)
                gr.Markdown("### Indexed articles\nClick a row to open the article.")
                summary = gr.HTML(elem_id="documents", js_on_load=None)
                table = gr.Dataframe(
                    headers=DOCUMENT_HEADERS,
                    interactive=False,
                    wrap=True,
                    elem_id="doc-table",
                    column_widths=["34%", "18%", "14%", "12%", "8%", "14%"],
                    buttons=[],
                )
                doc_status = gr.HTML("", elem_id="doc-status", js_on_load=None)
                with gr.Row(visible=False) as doc_actions:
                    reindex = gr.Button("Re-index this article", size="sm", elem_id="doc-reindex")
                    delete = gr.Button("Delete this article…", size="sm", variant="stop",
                                       elem_id="doc-delete")
                with gr.Row(visible=False) as confirm_row:
                    gr.Markdown("Delete this article and its passages from the collection?")
                    confirm = gr.Button("Delete it", size="sm", variant="stop",
                                        elem_id="doc-confirm")
                    cancel = gr.Button("Keep it", size="sm", elem_id="doc-cancel")
                doc_view = gr.HTML("", elem_id="doc-view", js_on_load=None)

        # -- events ------------------------------------------------------------------------
        shown_conversation = [chatbot, messages_state, answers_state, chat_state, sources,
                              conversation_id, conversations, export, collection]
        ask_io: dict[str, Any] = {  # Any: Gradio event arguments
            "fn": respond,
            "inputs": [box, messages_state, answers_state, chat_state, k, backend, collection,
                       conversation_id],
            "outputs": [box, chatbot, answers_state, chat_state, sources, messages_state,
                        conversations, conversation_id],
            "concurrency_limit": 4,
            "show_progress": "hidden",
        }
        # A question sent while the last answer is still finishing waits its turn, not dropped.
        asked = box.submit(**ask_io, api_visibility="private", trigger_mode="always_last")
        example = chatbot.example_select(_example_text, None, box, api_visibility="private")
        answered = example.then(**ask_io, api_visibility="private")
        for done in (asked, answered):
            done.then(lambda cid: (cid, gr.update(value=export_file(cid))), conversation_id,
                      [saved_id, export], api_visibility="private")

        page.load(open_conversation, [saved_id, collection], shown_conversation,
                  api_visibility="private")
        conversations.input(
            open_conversation, [conversations, collection], shown_conversation,
            api_visibility="private",
        ).then(lambda cid: cid, conversation_id, saved_id, api_visibility="private")
        start_over: dict[str, Any] = {  # Any: Gradio event arguments
            "fn": lambda c: open_conversation(None, c),
            "inputs": [collection],
            "outputs": shown_conversation,
            "api_visibility": "private",
        }
        new.click(**start_over).then(lambda: None, None, saved_id, api_visibility="private")
        chatbot.clear(**start_over).then(lambda: None, None, saved_id, api_visibility="private")

        # Any: Gradio component values and updates
        def forget_conversation(cid: str | None, c: str) -> tuple[Any, ...]:
            if cid:
                try:
                    service.delete_conversation(cid)
                except RagError:
                    pass
            return open_conversation(None, c)

        forget.click(forget_conversation, [conversation_id, collection], shown_conversation,
                     api_visibility="private").then(lambda: None, None, saved_id,
                                                    api_visibility="private")
        collection.input(
            switch_collection, collection, [collection, *shown_conversation[:8]],
            api_visibility="private",
        ).then(lambda: None, None, saved_id, api_visibility="private").then(
            documents_view, collection, [summary, table, doc_ids], api_visibility="private"
        )

        docs_tab.select(documents_view, collection, [summary, table, doc_ids],
                        api_visibility="private")
        table.select(open_doc, [doc_ids, collection],
                     [doc_view, doc_selected, doc_actions, confirm_row],
                     api_visibility="private")
        reindex.click(reindex_doc, [doc_selected, collection], doc_status,
                      api_visibility="private")
        delete.click(lambda: (gr.update(visible=False), gr.update(visible=True)), None,
                     [doc_actions, confirm_row], api_visibility="private")
        cancel.click(lambda: (gr.update(visible=True), gr.update(visible=False)), None,
                     [doc_actions, confirm_row], api_visibility="private")
        confirm.click(delete_doc, [doc_selected, collection],
                      [doc_status, doc_view, doc_selected, doc_actions, confirm_row],
                      api_visibility="private").then(
            documents_view, collection, [summary, table, doc_ids], api_visibility="private")
        # One bar, over the status line (Gradio draws one on every output by default).
        add.click(add_files, [files, collection], [status, files],
                  api_visibility="private", show_progress_on=[status]).then(
            documents_view, collection, [summary, table, doc_ids], api_visibility="private"
        ).then(lambda c: gr.update(choices=service.collections(), value=c), collection,
               collection, api_visibility="private")
    return page
