"""Escaping, highlighting and upload checks: the pieces the page's safety rests on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag.documents import DocumentDetail, DocumentInfo
from rag.types import Answer, Article, Chunk, Citation
from ui.render import (
    also_published,
    answer_markdown,
    document_rows,
    escape_chat,
    highlighted_paragraph,
    render_answer,
    render_document,
    render_documents,
    render_question,
    render_sources,
)
from ui.uploads import UploadRejected, check_upload, display_name, store_upload

TEXT = (
    "Intro line.\n\nFirst sentence of the paragraph, which goes on for a while. "
    "The <quoted> claim & more. Last one, also long enough to give context.\n\n"
    "Another paragraph."
)
QUOTE = "The <quoted> claim & more."
START = TEXT.index(QUOTE)
ART = Article(doc_id="d1", title="T <b>1</b>", text=TEXT, source_path="x", published="2024-03-25")
CIT = Citation(
    n=1,
    doc_id="d1",
    title=ART.title,
    published=ART.published,
    quote=QUOTE,
    start=START,
    end=START + len(QUOTE),
    score=0.9,
)


@pytest.mark.parametrize(
    "evil",
    [
        "![x](http://evil.example/t.png)",
        "<img src=http://evil.example/t.png>",
        "[click](javascript:alert(1))",
        "<script>alert(1)</script>",
        "see www.evil.example or https://evil.example",
        "`code` **bold** $x^2$ | table |",
    ],
)
def test_model_output_is_shown_literally(evil: str) -> None:
    out = escape_chat(evil)
    for ch in "<>[]`*$|":
        assert ch not in out
    assert "://" not in out and "www." not in out


def test_only_real_citations_become_links() -> None:
    out = answer_markdown("Claim one [1]. Made-up claim [7].", [1], turn=3)
    assert 'href="#src-3-1"' in out and "src-3-7" not in out
    assert "&#91;7&#93;" in out  # an unknown marker stays visible, as text


def test_highlight_marks_the_exact_quote_inside_its_paragraph_escaped() -> None:
    out = highlighted_paragraph(TEXT, CIT)
    assert "<mark>The &lt;quoted&gt; claim &amp; more.</mark>" in out
    assert out.startswith("First sentence of the paragraph,")
    assert "Intro line" not in out and "Another paragraph" not in out


def test_a_quote_that_is_its_whole_paragraph_gets_the_neighbouring_ones() -> None:
    text = "Before it.\n\nThe whole paragraph.\n\nAfter it.\n\nFar away."
    start = text.index("The whole")
    c = Citation(1, "d", "t", None, "The whole paragraph.", start, start + 20, 1.0)
    assert highlighted_paragraph(text, c) == (
        "Before it.\n\n<mark>The whole paragraph.</mark>\n\nAfter it."
    )


def test_highlight_falls_back_to_the_quote_when_offsets_do_not_match() -> None:
    moved = Article(**{**ART.__dict__, "text": "different text entirely"})
    assert (
        highlighted_paragraph(moved.text, CIT)
        == "<mark>The &lt;quoted&gt; claim &amp; more.</mark>"
    )


def test_long_paragraph_is_trimmed_around_the_quote() -> None:
    long = "word " * 400 + QUOTE + " tail" * 400
    start = long.index(QUOTE)
    c = Citation(1, "d", "t", None, QUOTE, start, start + len(QUOTE), 1.0)
    out = highlighted_paragraph(long, c)
    assert "<mark>" in out and len(out) < 1200 and out.startswith("… ") and out.endswith(" …")


def test_sources_panel_shows_title_date_and_hides_older_turns() -> None:
    a1 = Answer(question="q1 <x>", text="A [1].", citations=(CIT,))
    a2 = Answer(question="q2", text="No.", refused=True)
    html = render_sources([a1, a2], {"d1": ART})
    assert 'id="src-0-1"' in html and "T &lt;b&gt;1&lt;/b&gt;" in html and "2024-03-25" in html
    assert '<div class="src-turn" data-turn="0" hidden>' in html
    assert '<div class="src-turn" data-turn="1">' in html and "No passage is cited" in html
    assert "q1 &lt;x&gt;" in html
    # each turn carries its answer with numbered sources, for the Copy link
    assert 'id="copy-0"' in html and "[1] *T &amp;lt;b&amp;gt;1" not in html
    assert "[1] *T &lt;b&gt;1&lt;/b&gt;*" in html


def test_refusal_is_said_once() -> None:
    text = "The articles do not answer this question."
    out = render_answer(Answer(question="q", text=text, refused=True), 0)
    assert out.count("do not answer") == 1 and "Not in the articles" not in out
    sources = render_sources([Answer(question="q", text=text, refused=True)], {})
    shown = re.sub(r"<textarea.*?</textarea>", "", sources, flags=re.S)  # the Copy text
    assert "do not answer" not in shown  # the panel does not say it a second time


def test_rewritten_follow_up_is_shown_under_the_question() -> None:
    assert "Searched for" not in render_question("When did it happen?", "When did it happen?")
    out = render_question("Who claimed it?", "Who claimed the attack?")
    assert "Searched for: Who claimed the attack?" in out


def test_copies_are_named_by_file_name_never_by_id() -> None:
    assert also_published(["upload-ab12"], {"upload-ab12": "copy.txt"}).endswith("copy.txt")
    assert "004_" not in also_published(["004_b0e8c07438467e07"], {})


def test_documents_table_shows_titles_and_file_names() -> None:
    doc = DocumentInfo("upload-1f2e", "<i>x</i>", "velmora.txt", "", None, 2, None, ())
    assert document_rows([doc]) == [["<i>x</i>", "velmora.txt", "–", "–", 2, "–"]]
    assert "2 passages" in render_documents([doc])
    chunk = Chunk("c1", "upload-1f2e", "<b>body</b>", 0, 11)
    html = render_document(DocumentDetail(doc, "<b>body</b>", (chunk,)))
    assert "&lt;i&gt;x&lt;/i&gt;" in html and "<i>" not in html and "<b>" not in html
    assert "velmora.txt" in html and "upload-1f2e" not in html


@pytest.mark.parametrize(
    ("name", "data", "why"),
    [
        ("a.exe", b"MZ...", "only .txt, .md, .html, .pdf or .docx"),
        ("a.pdf", b"Plain text pretending.", "named .pdf but it is not a PDF; save it again"),
        ("a.docx", b"PK\x03\x04 a zip, no Word inside", r"it is a ZIP .*, not a Word \(.docx\)"),
        ("a.txt", b"PK\x03\x04rest", "ZIP"),
        ("a.txt", b"\x89PNG\r\n\x1a\n", "PNG image"),
        ("a.md", b"abc\x00def", "binary"),
        ("a.txt", b"   \n\t", "empty"),
        ("a.html", b"just words, no markup at all", "no HTML"),
        ("a.txt", b"x" * (10 * 2**20 + 1), r"the limit is 10 MB \(RAG_MAX_FILE_MB\)"),
        ("a.txt", bytes(range(1, 32)) * 50, "binary"),
    ],
)
def test_bad_uploads_are_rejected_with_a_reason(name: str, data: bytes, why: str) -> None:
    with pytest.raises(UploadRejected, match=why):
        check_upload(name, data)


def test_type_is_judged_by_content() -> None:
    assert check_upload("a.txt", "Plain news text. Café.".encode()) == ".txt"
    assert check_upload("a.MD", b"# Title\n\nBody.") == ".md"
    assert check_upload("a.htm", b"<html><body><p>Hi</p></body></html>") == ".html"
    # a web page saved as .txt is cleaned as HTML, not indexed with its tags
    assert check_upload("page.txt", b"<!DOCTYPE html><html><p>x</p></html>") == ".html"
    # a PDF or Word file is known by its bytes, whatever its name
    assert check_upload("report.txt", b"%PDF-1.7 ...") == ".pdf"
    messy = Path(__file__).resolve().parents[1] / "data" / "messy"
    word = (messy / "council-cycle-lanes.docx").read_bytes()
    assert check_upload("minutes.docx", word) == ".docx"
    # text in a legacy encoding is judged as the indexer reads it
    assert check_upload("ru.txt", (messy / "moscow-flood-cp1251.txt").read_bytes()) == ".txt"
    # the one limit (RAG_MAX_FILE_MB) is the caller's
    with pytest.raises(UploadRejected, match="the limit is 0.5 MB"):
        check_upload("a.txt", b"x" * 2**20, max_bytes=2**19)


def test_names_never_become_paths(tmp_path: Path) -> None:
    assert display_name("../../etc/passwd") == "passwd"
    assert display_name("C:\\x\\evil\x00\n.txt") == "evil.txt"
    s1 = store_upload("../../evil.txt", b"same bytes", tmp_path / "uploads", ".txt")
    s2 = store_upload("other.txt", b"same bytes", tmp_path / "uploads", ".txt")
    assert s1.path == s2.path and s1.is_new and not s2.is_new
    assert s1.path.parent == tmp_path / "uploads" and s1.path.name.startswith("upload-")
    assert list((tmp_path / "uploads").iterdir()) == [s1.path]
