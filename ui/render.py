"""HTML for the chat page: answers with linked [n] markers, the sources panel, the document list.

Everything that comes from a model, an article or a user is escaped here and nowhere else, so
the page never renders markup, links or images that we did not write ourselves.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.conversations import answer_with_sources
from rag.documents import DocumentDetail, DocumentInfo
from rag.types import Answer, Article, Citation

if TYPE_CHECKING:
    from rag.settings import Settings

MARKER = re.compile(r"\[(\d{1,3})\]")
PARAGRAPH_MAX = 700  # characters of context shown around a quote before it is trimmed
MIN_CONTEXT = 80  # below this much context in its own paragraph, a quote gets its neighbours

# The chatbot renders Markdown, so escaping HTML alone is not enough: "![x](http://...)" would
# still become an external image. Characters that start markup, links, images, emphasis, code,
# tables, headings or LaTeX become numeric entities, which Markdown leaves alone and the browser
# shows as the character. Bare URLs are broken up so they are not auto-linked.
_CHAT_ESCAPES = {ord(c): f"&#{ord(c)};" for c in "&<>\"'`*_[]#|~$\\@"}
_AUTOLINK = re.compile(r"(?i)(://|www\.)")


_ABS_PATH = re.compile(r"(?<![\w:])/(?:[\w.\-]+/)+[\w.\-]*")


def public_message(error: BaseException | str, settings: Settings | None = None) -> str:
    """An error's one-line message for page and API users: server paths become the setting
    that names them (RAG_HOME, RAG_ARTICLES) or an ellipsis; request content is never in it."""
    text = " ".join(str(error).split())
    if settings is not None:
        for path, name in ((settings.home, "RAG_HOME"), (settings.articles_dir, "RAG_ARTICLES")):
            for form in sorted({str(path), str(Path(path).resolve())}, key=len, reverse=True):
                if form not in (".", ""):
                    text = text.replace(form, name)
    return _ABS_PATH.sub("…", text)[:400]


def escape_chat(text: str) -> str:
    """Text safe to show in a Markdown-rendering chat bubble: shown literally, never as markup."""
    escaped = text.translate(_CHAT_ESCAPES)
    return _AUTOLINK.sub(lambda m: m.group(1).replace(":", "&#58;").replace(".", "&#46;"), escaped)


def cite_link(turn: int, n: int) -> str:
    """The clickable [n] marker; the page script opens source n of answer ``turn``."""
    return f'<a class="cite" href="#src-{turn}-{n}" title="Show source {n}">[{n}]</a>'


def answer_markdown(text: str, citation_numbers: Iterable[int], turn: int) -> str:
    """Answer text for the chat bubble: escaped, with known [n] markers linked to their sources."""
    known = set(citation_numbers)
    out: list[str] = []
    pos = 0
    for m in MARKER.finditer(text):
        n = int(m.group(1))
        if n not in known:
            continue
        out.append(escape_chat(text[pos : m.start()]))
        out.append(cite_link(turn, n))
        pos = m.end()
    out.append(escape_chat(text[pos:]))
    return "".join(out)


def copy_link(turn: int) -> str:
    """The "Copy" link under an answer: the page script copies the answer with its sources."""
    return f'<a class="copy" href="#copy-{turn}" title="Copy the answer with its sources">Copy</a>'


def render_answer(answer: Answer, turn: int) -> str:
    """The chat bubble for a finished answer. A refusal is its one plain statement, said once."""
    if answer.refused:
        body = escape_chat(answer.text.strip() or "The articles do not answer this question.")
        return f'<span class="refusal">{body}</span>'
    text = answer_markdown(answer.text, (c.n for c in answer.citations), turn)
    if answer.unsupported:
        text += (
            "\n\n<small>"
            + escape_chat(
                f"{len(answer.unsupported)} generated sentence(s) without support were removed."
            )
            + "</small>"
        )
    return f"{text}\n\n<small>{copy_link(turn)}</small>"


def render_question(question: str, searched: str | None = None) -> str:
    """The user's bubble; a follow-up shows the stand-alone question that was searched for, so
    a wrong rewrite is seen at once."""
    shown = question if len(question) <= 300 else question[:300] + "…"
    out = escape_chat(shown)
    if searched and " ".join(searched.split()) != " ".join(question.split()):
        out += f'<br><small class="rewrite">Searched for: {escape_chat(searched)}</small>'
    return out


def paragraph_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """The span of the paragraph(s) (lines) around ``text[start:end]``."""
    start = max(0, min(start, len(text)))
    end = max(start, min(end, len(text)))
    p_start = text.rfind("\n", 0, start) + 1
    p_end = text.find("\n", end)
    if p_end == -1:
        p_end = len(text)
    if (start - p_start) + (p_end - end) < MIN_CONTEXT:
        # A one-sentence paragraph is all quote: show the neighbouring paragraphs as context.
        prev = text[:p_start].rstrip()
        p_start = text.rfind("\n", 0, len(prev)) + 1 if prev else p_start
        rest = len(text) - len(text[p_end:].lstrip())
        nxt = text.find("\n", rest)
        p_end = (len(text) if nxt == -1 else nxt) if rest < len(text) else p_end
    # Keep long paragraphs readable: a window around the quote, cut at word boundaries.
    if p_end - p_start > PARAGRAPH_MAX:
        room = max(0, (PARAGRAPH_MAX - (end - start)) // 2)
        if start - p_start > room:
            cut = text.rfind(" ", p_start, start - room)
            p_start = cut + 1 if cut > p_start else start - room
        if p_end - end > room:
            cut = text.find(" ", end + room, p_end)
            p_end = cut if cut != -1 else end + room
    return p_start, p_end


def highlighted_paragraph(article_text: str | None, citation: Citation) -> str:
    """The quote in ``<mark>``, inside its surrounding paragraph when the article is known."""
    text = article_text or ""
    start, end = citation.start, citation.end
    if not text or text[start:end] != citation.quote:
        # The article changed or is unknown: the quote alone is still the evidence.
        return f"<mark>{html.escape(citation.quote)}</mark>"
    p_start, p_end = paragraph_bounds(text, start, end)
    before = text[p_start:start]
    after = text[end:p_end]
    lead = "… " if p_start > 0 and text[p_start - 1] != "\n" else ""
    tail = " …" if p_end < len(text) and text[p_end] != "\n" else ""
    return (
        f"{lead}{html.escape(before)}<mark>{html.escape(text[start:end])}</mark>"
        f"{html.escape(after)}{tail}"
    )


def also_published(doc_ids: Sequence[str], names: Mapping[str, str]) -> str:
    """The folded copies of a story, by the file names people gave them where known."""
    known = [names[d] for d in doc_ids if d in names]
    others = len(doc_ids) - len(known)
    parts = list(known)
    if others:
        parts.append(f"{others} other cop{'y' if others == 1 else 'ies'}" if known
                     else f"{others} cop{'y' if others == 1 else 'ies'}")
    return "Also published elsewhere: " + ", ".join(parts)


def _source_card(turn: int, c: Citation, article: Article | None,
                 names: Mapping[str, str]) -> str:
    title = html.escape(c.title or (article.title if article else "") or "Untitled article")
    when = c.published or (article.published if article else "") or "date unknown"
    source = c.source or (article.source if article else "")
    date = html.escape(f"{source}, {when}" if source else when)
    meta: list[str] = []
    if c.note:
        meta.append(html.escape(c.note))
    also = list(c.also_in) or (list(article.also_published_as) if article else [])
    if also:
        meta.append(html.escape(also_published(also, names)))
    meta_html = f'<div class="src-meta">{" · ".join(meta)}</div>' if meta else ""
    para = highlighted_paragraph(article.text if article else None, c)
    return (
        f'<div class="src-card" id="src-{turn}-{c.n}">'
        f'<div class="src-head"><span class="src-n">[{c.n}]</span> '
        f'<span class="src-title">{title}</span></div>'
        f'<div class="src-date">{date}</div>'
        f'<p class="src-para">{para}</p>{meta_html}</div>'
    )


def render_turn_sources(
    turn: int,
    answer: Answer,
    articles: Mapping[str, Article],
    visible: bool,
    names: Mapping[str, str] | None = None,
) -> str:
    """The sources of one answer, one card per citation, and its copyable text."""
    hidden = "" if visible else " hidden"
    head = f'<div class="src-q">Sources for: “{html.escape(answer.question)}”</div>'
    if answer.refused or not answer.citations:
        body = '<p class="src-empty">No passage is cited for this question.</p>'
    else:
        body = "".join(
            _source_card(turn, c, articles.get(c.doc_id), names or {}) for c in answer.citations
        )
    copy = (
        f'<textarea class="copy-text" id="copy-{turn}" hidden readonly>'
        f"{html.escape(answer_with_sources(answer))}</textarea>"
    )
    return f'<div class="src-turn" data-turn="{turn}"{hidden}>{head}{body}{copy}</div>'


EMPTY_SOURCES = (
    '<div class="sources"><p class="src-empty">Ask a question. The passages behind each answer '
    "appear here, with the quoted words <mark>highlighted</mark>. Click a "
    '<span class="cite">[n]</span> marker in an answer to jump to its source.</p></div>'
)


def render_sources(
    answers: list[Answer],
    articles: Mapping[str, Article],
    names: Mapping[str, str] | None = None,
) -> str:
    """The sources panel: every turn's sources, the latest shown, older ones one click away."""
    if not answers:
        return EMPTY_SOURCES
    last = len(answers) - 1
    turns = "".join(
        render_turn_sources(i, a, articles, visible=(i == last), names=names)
        for i, a in enumerate(answers)
    )
    return f'<div class="sources">{turns}</div>'


DOCUMENT_HEADERS = ["Title", "File", "Publisher", "Published", "Passages", "Added"]


# Any: Gradio Dataframe cells
def document_rows(documents: Sequence[DocumentInfo]) -> list[list[Any]]:
    """The documents table: what a person reads (titles and file names, never ids)."""
    return [
        [d.title, d.file_name, d.source or "–", d.published or "–", d.passages,
         (d.added or "–")[:10]]
        for d in documents
    ]


def render_documents(documents: Sequence[DocumentInfo]) -> str:
    """A one-line summary above the table."""
    if not documents:
        return (
            '<p class="src-empty">Nothing is indexed in this collection yet. '
            "Add articles above.</p>"
        )
    passages = sum(d.passages for d in documents)
    return f'<p class="doc-count">{len(documents)} article(s), {passages} passages.</p>'


def render_document(doc: DocumentDetail) -> str:
    """One document opened: its title and facts, then its cleaned text passage by passage."""
    info = doc.info
    facts = [f"File: {info.file_name}"]
    if info.source:
        facts.append(f"Publisher: {info.source}")
    facts.append(f"Published: {info.published or 'date unknown'}")
    facts.append(f"{info.passages} passage(s)")
    if info.added:
        facts.append(f"Added: {info.added[:16].replace('T', ' ')}")
    if info.also_published_as:
        facts.append("Also published as: " + ", ".join(info.also_published_as))
    parts = []
    for i, c in enumerate(doc.passages, 1):
        parts.append(
            f'<div class="passage"><div class="p-n">Passage {i}</div>'
            f'<p class="src-para">{html.escape(c.text)}</p></div>'
        )
    body = "".join(parts) or f'<p class="src-para">{html.escape(doc.text)}</p>'
    return (
        f'<div class="doc-view"><h3 class="doc-title">{html.escape(info.title)}</h3>'
        f'<div class="src-meta">{html.escape(" · ".join(facts))}</div>{body}</div>'
    )
