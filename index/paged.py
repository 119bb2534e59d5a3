"""PDF and DOCX files -> text with the offsets where each page begins.

pypdf reads PDFs, python-docx reads Word files. Page numbers are kept so a citation into a
PDF can name its page. PDF text comes as printed lines: they are joined back into paragraphs,
and the running headers and footers that repeat on every page are dropped.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from rag.errors import IngestError

# A page with fewer letters than this holds no text layer worth indexing (a scan, a photo).
MIN_PAGE_LETTERS = 20
# A printed line shorter than this share of the page's usual full line ends its paragraph.
SHORT_LINE = 0.8
_SENTENCE_END = re.compile(r"""[.!?:;]["'”’)\]]*$""")
_PAGE_NUMBER = re.compile(
    r"^(?:page\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?$|^[-–—]\s*\d{1,4}\s*[-–—]$", re.IGNORECASE)
OCR_HINT = ("run it through OCR first (for example `ocrmypdf in.pdf out.pdf`) and index the "
            "result")


@dataclass(frozen=True)
class Paged:
    """A document's text, the offsets where pages 1, 2, ... begin, and what to report."""

    text: str
    page_starts: tuple[int, ...] = ()
    title: str | None = None
    warnings: tuple[str, ...] = ()


def join_pages(pages: list[str]) -> tuple[str, tuple[int, ...]]:
    """Pages -> one text and each page's start offset. A page that ends mid-sentence runs on
    into the next with a space; otherwise a blank line parts them."""
    starts: list[int] = []
    text = ""
    for page in pages:
        if text:
            runs_on = not _SENTENCE_END.search(text) and page[:1].islower()
            text += " " if runs_on else "\n\n"
        starts.append(len(text))
        text += page
    return text, tuple(starts)


def read_pdf(data: bytes, name: str) -> Paged:
    """The text of a PDF, page by page; ``IngestError`` when it has none to give."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(f"{name}: the PDF is password-protected; save a copy without a "
                              "password and index that")
        raw_pages = list(reader.pages)
    except IngestError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as e:
        raise IngestError(f"{name}: cannot be read as a PDF ({e}); is it damaged? Save it again "
                          "from the program that made it") from e
    if not raw_pages:
        raise IngestError(f"{name}: the PDF has no pages")
    texts: list[str] = []
    unreadable: list[int] = []
    for i, page in enumerate(raw_pages, start=1):
        try:
            texts.append(page.extract_text() or "")
        except Exception:  # noqa: BLE001 - pypdf raises many kinds on a damaged page
            texts.append("")
            unreadable.append(i)
    lines = [[ln.strip() for ln in t.splitlines()] for t in texts]
    lines = _drop_running_lines(lines)
    empty = [i for i, ls in enumerate(lines, start=1)
             if sum(ch.isalpha() for ln in ls for ch in ln) < MIN_PAGE_LETTERS]
    if len(empty) == len(lines):
        raise IngestError(f"{name}: the PDF has no text layer (a scan or images only); "
                          + OCR_HINT)
    pages = [_reflow(ls) for ls in lines]
    text, starts = join_pages(pages)
    warnings = []
    blank = [i for i in empty if i not in unreadable]
    if blank:
        warnings.append(f"{_pages(blank)} no text layer (scanned?); the other pages were "
                        f"indexed; to index them too, {OCR_HINT}")
    if unreadable:
        warnings.append(f"{_pages(unreadable)} could not be read (damaged?); the other pages "
                        "were indexed")
    return Paged(text=text, page_starts=starts, warnings=tuple(warnings))


def _pages(numbers: list[int]) -> str:
    if len(numbers) == 1:
        return f"page {numbers[0]} has"
    shown = ", ".join(map(str, numbers[:10])) + (", ..." if len(numbers) > 10 else "")
    return f"pages {shown} have"


def _drop_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Remove page numbers and the headers/footers repeated at the top or bottom of pages."""
    def key(line: str) -> str:
        return re.sub(r"\d+", "#", line.lower())

    edges: Counter[str] = Counter()
    for ls in pages:
        content = [ln for ln in ls if ln]
        edges.update({key(ln) for ln in content[:2] + content[-2:]})
    repeated = {k for k, n in edges.items() if len(pages) > 1 and n >= max(2, len(pages) / 2)}
    out = []
    for ls in pages:
        content = [ln for ln in ls if ln]
        edge = set(content[:2] + content[-2:])
        out.append([ln for ln in ls if not (ln in edge and (key(ln) in repeated
                                                             or _PAGE_NUMBER.match(ln)))])
    return out


def _reflow(lines: list[str]) -> str:
    """Printed lines -> paragraphs (one per line): a line runs on into the next unless it is
    blank, short, or ends a sentence and is shorter than a full line."""
    widths = sorted(len(ln) for ln in lines if ln)
    if not widths:
        return ""
    full = widths[int(0.75 * (len(widths) - 1))]
    paras: list[str] = []
    cur = ""
    for ln in lines:
        if not ln:
            if cur:
                paras.append(cur)
            cur = ""
            continue
        if cur.endswith("-") and ln[:1].islower():
            cur += ln  # a word hyphenated at the line end: keep the hyphen, drop the break
        else:
            cur = f"{cur} {ln}" if cur else ln
        short = len(ln) < SHORT_LINE * full
        if short or (_SENTENCE_END.search(ln) and len(ln) < full):
            paras.append(cur)
            cur = ""
    if cur:
        paras.append(cur)
    return "\n".join(paras)


def read_docx(data: bytes, name: str) -> Paged:
    """The text of a Word document, paragraph by paragraph, with its page breaks.

    Pages follow the breaks Word recorded when it last laid the document out
    (``lastRenderedPageBreak``), or else the hard page breaks; a document with neither is
    one page.
    """
    import zipfile

    from docx import Document
    from docx.oxml.ns import qn

    try:
        doc = Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as e:
        raise IngestError(f"{name}: cannot be read as a Word document ({e}); save it again as "
                          ".docx") from e
    body = doc.element.body
    rendered = any(True for _ in body.iter(qn("w:lastRenderedPageBreak")))
    text_tags = {qn("w:t"): None, qn("w:tab"): "\t", qn("w:cr"): "\n", qn("w:br"): "\n",
                 qn("w:noBreakHyphen"): "-"}
    pages: list[list[str]] = [[]]
    title: str | None = None
    for p in body.iter(qn("w:p")):
        line: list[str] = []
        ppr = p.find(qn("w:pPr"))
        if (not rendered and ppr is not None and ppr.find(qn("w:pageBreakBefore")) is not None
                and any(pages[-1])):
            pages.append([])
        for el in p.iter():
            if el.tag == qn("w:lastRenderedPageBreak") and rendered or (
                    el.tag == qn("w:br") and el.get(qn("w:type")) == "page" and not rendered):
                pages[-1].append("".join(line))
                line = []
                pages.append([])
            elif el.tag in text_tags:
                if el.tag == qn("w:br") and el.get(qn("w:type")) in ("page", "column"):
                    continue
                fixed = text_tags[el.tag]
                line.append((el.text or "") if fixed is None else fixed)
        pages[-1].append("".join(line))
        style = _style_name(doc, ppr)
        if title is None and line and (style == "Title" or style.startswith("Heading 1")):
            title = " ".join("".join(line).split()) or None
    page_texts = ["\n".join(ln for ln in ls if ln.strip()) for ls in pages]
    if not any(t.strip() for t in page_texts):
        raise IngestError(f"{name}: the Word document holds no text")
    title = title or (doc.core_properties.title or "").strip() or None
    text, starts = join_pages(page_texts)
    return Paged(text=text, page_starts=starts, title=title)


def _style_name(doc: Any, ppr: Any) -> str:  # Any: python-docx objects
    from docx.enum.style import WD_STYLE_TYPE
    from docx.oxml.ns import qn

    if ppr is None:
        return ""
    ps = ppr.find(qn("w:pStyle"))
    if ps is None:
        return ""
    style_id = ps.get(qn("w:val")) or ""
    try:
        return str(doc.styles.get_by_id(style_id, WD_STYLE_TYPE.PARAGRAPH).name)
    except (KeyError, ValueError, AttributeError):
        return style_id
