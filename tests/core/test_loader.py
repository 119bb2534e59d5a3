"""Reading files: every encoding, PDF and Word pages, and a clear outcome for each bad file."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from index.loader import decode, expand, load_file, load_paths, markdown_text, sniff
from index.paged import read_docx, read_pdf
from rag.errors import IngestError

MESSY = Path(__file__).resolve().parents[1] / "data" / "messy"
SOURCES = {  # what the encoded files of the corpus say, in Unicode
    "moscow-flood-cp1251.txt": "Паводок в Оренбургской области",
    "beijing-metro-gbk.txt": "北京地铁十七号线北段于周二正式开通运营",
    "gare-cafe-latin1.txt": "Le café de la gare rouvre après deux ans de travaux",
    "harbour-bridge-utf16.txt": "The Harbour Bridge reopened to traffic on Tuesday",
}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_encoding_of_the_corpus_decodes_to_the_right_letters(name: str) -> None:
    doc = load_file(MESSY / name)
    assert SOURCES[name] in doc.text
    assert "\ufffd" not in doc.text


def test_utf8_bom_utf16_and_a_legacy_single_byte_text() -> None:
    assert decode("café".encode("utf-8-sig"), "x").text == "café"
    assert decode("über".encode("utf-16"), "x").text == "über"
    no_bom = "The bridge reopened on Tuesday after repairs to its cables.".encode("utf-16-le")
    assert decode(no_bom, "x").text.startswith("The bridge reopened")
    russian = (MESSY / "moscow-flood-cp1251.txt").read_bytes().decode("cp1251")
    koi8 = decode(russian.encode("koi8-r"), "x")
    assert koi8.text == russian and koi8.warning == ""
    german = "Die Straße über dem Fluß wurde gesperrt, sagte der Bürgermeister."
    assert decode(german.encode("latin-1"), "x").text == german


def test_an_uncertain_decode_is_reported_not_guessed_silently() -> None:
    # Latin-1 French: charset-normalizer alone ties cp1250 and cp1252 and picks cp1250.
    doc = load_file(MESSY / "gare-cafe-latin1.txt")
    assert "après" in doc.text and "aprčs" not in doc.text
    assert len(doc.warnings) == 1
    assert "uncertain" in doc.warnings[0] and "cp1252" in doc.warnings[0]
    assert "cp1250" in doc.warnings[0] and "UTF-8" in doc.warnings[0]
    short = decode("“quoted” café".encode("cp1252"), "x")
    assert short.text == "“quoted” café" and "uncertain" in short.warning
    assert decode(b"Plain ASCII news.", "x").warning == ""  # UTF-8 is certain


def test_binary_and_undecodable_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="holiday-photo.txt: this is a PNG image"):
        load_file(MESSY / "holiday-photo.txt")
    f = tmp_path / "noise.txt"
    f.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(IngestError, match="noise.txt: .*(binary|cannot be decoded)"):
        load_file(f)
    assert sniff(b"%PDF-1.7") == "a PDF" and sniff(b"Plain text") is None


def test_empty_and_oversized_files(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="empty.txt: the file is empty"):
        load_file(MESSY / "empty.txt")
    blank = tmp_path / "blank.md"
    blank.write_text("  \n\n")
    with pytest.raises(IngestError, match="blank.md: the file is empty"):
        load_file(blank)
    big = tmp_path / "huge.txt"
    with big.open("wb") as fh:  # sparse: 11 MB on paper, nothing on disk
        fh.truncate(11 * 2**20)
    with pytest.raises(IngestError, match=r"huge.txt: 11 MB is over the 10 MB limit .*"
                                          r"RAG_MAX_FILE_MB"):
        load_file(big)
    with pytest.raises(IngestError, match="over the 0.5 MB limit"):
        load_file(big, max_bytes=2**19)


def test_a_folder_gives_every_file_an_outcome(tmp_path: Path) -> None:
    loaded = load_paths([MESSY, tmp_path / "missing"])
    read = sorted(Path(d.source_path).name for d in loaded.docs)
    assert read == ["beijing-metro-gbk.txt", "cookie-wall.html", "council-cycle-lanes.docx",
                    "daily-planet-storm.html", "ferry-local.txt", "ferry-wire.txt",
                    "gare-cafe-latin1.txt", "harbour-annual-report.pdf",
                    "harbour-bridge-utf16.txt", "moscow-flood-cp1251.txt", "solar-farm.md"]
    problems = {Path(p.path).name: p.message for p in loaded.problems}
    assert set(problems) == {"empty.txt", "holiday-photo.txt", "scanned-letter.pdf",
                             "figures.csv", "missing"}
    assert problems["empty.txt"] == "the file is empty"
    assert problems["holiday-photo.txt"].startswith("this is a PNG image, not a text article")
    assert "no text layer" in problems["scanned-letter.pdf"]
    assert "OCR" in problems["scanned-letter.pdf"]
    assert problems["figures.csv"].startswith("unsupported file type '.csv'; convert it to")
    assert problems["missing"] == "no such file or folder; check the path"


def test_expand_reports_instead_of_raising(tmp_path: Path) -> None:
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "a.txt").write_text("A story.")
    (tmp_path / ".hidden.txt").write_text("Editor backup.")
    files, problems = expand([tmp_path / "empty_dir", tmp_path])
    assert files == [tmp_path / "a.txt"]  # hidden files are passed over
    assert [p.message for p in problems] == [
        "the folder holds no .txt, .md, .html, .pdf or .docx files"]


def test_two_files_with_one_name_keep_the_first(tmp_path: Path) -> None:
    (tmp_path / "story.txt").write_text("The first story.")
    (tmp_path / "story.html").write_text("<html><body><p>The second story.</p></body></html>")
    loaded = load_paths([tmp_path])
    assert [Path(d.source_path).name for d in loaded.docs] == ["story.html"]
    message = loaded.problems[0].message
    assert "same name as" in message and "rename one" in message


def test_a_pdf_keeps_its_pages_and_loses_its_running_header() -> None:
    doc = load_file(MESSY / "harbour-annual-report.pdf")
    assert len(doc.page_starts) == 2 and doc.page_starts[0] == 0
    page2 = doc.text[doc.page_starts[1]:]
    assert page2.startswith("storms in the spring stopped the work")
    assert "Annual Report 2023" not in doc.text  # the header repeated on every page
    assert "Page 1 of 2" not in doc.text and "Page 2 of 2" not in doc.text
    # printed lines joined back into sentences, across the page break too
    assert ("which now admits ships with a draught of fourteen metres at any tide."
            in doc.text)
    assert "two months later than planned, because storms in the spring" in doc.text


def test_scanned_damaged_and_locked_pdfs_say_what_to_do() -> None:
    with pytest.raises(IngestError, match="no text layer.*OCR"):
        read_pdf((MESSY / "scanned-letter.pdf").read_bytes(), "scan.pdf")
    with pytest.raises(IngestError, match="cannot be read as a PDF"):
        read_pdf(b"%PDF-1.4 \x00 not really", "broken.pdf")
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(MESSY / "harbour-annual-report.pdf"))
    writer.encrypt("secret")
    buf = io.BytesIO()
    writer.write(buf)
    with pytest.raises(IngestError, match="password-protected"):
        read_pdf(buf.getvalue(), "locked.pdf")


def test_a_pdf_with_some_scanned_pages_is_read_with_a_warning() -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(MESSY / "harbour-annual-report.pdf"))
    writer.append(PdfReader(MESSY / "scanned-letter.pdf"))
    buf = io.BytesIO()
    writer.write(buf)
    paged = read_pdf(buf.getvalue(), "mixed.pdf")
    assert len(paged.page_starts) == 3
    assert paged.warnings and paged.warnings[0].startswith("page 3 has no text layer")


def test_a_word_file_gives_its_title_and_pages() -> None:
    doc = load_file(MESSY / "council-cycle-lanes.docx")
    assert doc.title == "Council approves new cycle lanes for the city centre"
    assert len(doc.page_starts) == 2
    assert doc.text[doc.page_starts[1]:].startswith("Shop owners on Market Street")
    assert "Councillors voted 31 to 12 in favour" in doc.text[: doc.page_starts[1]]
    with pytest.raises(IngestError, match="cannot be read as a Word document"):
        read_docx(b"PK\x03\x04 not a zip", "bad.docx")


def test_markdown_is_read_without_its_syntax() -> None:
    text = load_file(MESSY / "solar-farm.md").text
    assert text.startswith("Largest solar farm in the region opens near Tarrow\n\n")
    assert "on Wednesday, when" in text and "**" not in text and "](" not in text
    assert "its operator, Brightfield Energy." in text
    assert markdown_text("- one\n- two\n\n```\ncode()\n```\n") == "one\n\ntwo"


def test_a_web_page_saved_as_txt_is_read_as_html(tmp_path: Path) -> None:
    f = tmp_path / "page.txt"
    f.write_text("<!DOCTYPE html><html><body><p>A storm hit the coast.</p></body></html>")
    assert load_file(f).is_html
