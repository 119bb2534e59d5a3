"""Files and folders -> ``SourceDoc``s: type sniffing, safe decoding, PDF and DOCX text.

Every file gets an outcome: it is read (perhaps with a warning, e.g. an uncertain decode), or
it is skipped with a ``Problem`` that says what is wrong and what to do. One bad file never
stops the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import IngestError

SUPPORTED = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".html": "html",
             ".htm": "html", ".pdf": "pdf", ".docx": "docx"}
FORMATS = ".txt, .md, .html, .pdf or .docx"
DEFAULT_MAX_FILE_BYTES = 10 * 2**20  # RAG_MAX_FILE_MB's default; Settings.max_file_bytes wins

# Signatures of common formats, so a message can say what a file really is.
MAGIC = {
    b"%PDF": "a PDF",
    b"PK\x03\x04": "a ZIP archive (or Word/EPUB document)",
    b"\x89PNG": "a PNG image",
    b"GIF8": "a GIF image",
    b"\xff\xd8\xff": "a JPEG image",
    b"RIFF": "a RIFF media file (WebP, WAV or AVI)",
    b"\x1f\x8b": "a gzip archive",
    b"BZh": "a bzip2 archive",
    b"7z\xbc\xaf": "a 7-Zip archive",
    b"{\\rtf": "an RTF document",
    b"\xd0\xcf\x11\xe0": "an old Office document (.doc/.xls)",
    b"\x7fELF": "a program",
    b"MZ": "a Windows program",
    b"SQLite format 3": "an SQLite database",
}
# Share of characters a charset decode may leave as control or replacement characters.
MAX_GARBAGE = 0.01
# Candidates within this chaos of the best count as equally likely decodes.
CHAOS_TIE = 0.01


@dataclass(frozen=True)
class SourceDoc:
    """One raw document before cleaning. ``title``/``published`` override extraction.

    ``page_starts`` are offsets into ``text`` where pages 1, 2, ... begin (PDF and DOCX);
    ``warnings`` are things the user should know although the file was read.
    """

    doc_id: str
    text: str
    source_path: str
    title: str | None = None
    published: str | None = None
    is_html: bool = False
    source: str | None = None  # the publisher, when the caller knows it
    page_starts: tuple[int, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Problem:
    """A file that was skipped: ``message`` says what is wrong and what to do."""

    path: str
    message: str


@dataclass(frozen=True)
class Loaded:
    """What reading some paths gave: documents, and the files that could not be read."""

    docs: tuple[SourceDoc, ...] = ()
    problems: tuple[Problem, ...] = ()
    files: tuple[Path, ...] = field(default=())


@dataclass(frozen=True)
class Decoded:
    """Text decoded from bytes; ``warning`` is set when the encoding was a guess."""

    text: str
    encoding: str
    warning: str = ""


def megabytes(n: int) -> str:
    """A size for people: '11', '0.5', '2.3' (megabytes of 2**20 bytes)."""
    return f"{n / 2**20:.3g}" if n < 10 * 2**20 else f"{n / 2**20:.1f}".removesuffix(".0")


def sniff(data: bytes) -> str | None:
    """What a binary file is ("a PNG image"), by its first bytes; None for text."""
    for magic, kind in MAGIC.items():
        if data.startswith(magic):
            return kind
    return None


def decode(data: bytes, name: str) -> Decoded:
    """Bytes of unknown encoding -> text, or ``IngestError`` saying what to do.

    A byte-order mark or valid UTF-8 is certain. Otherwise charset-normalizer decides; when
    two likely encodings give different text (cp1250 and cp1252 for accented Latin text),
    the text is decoded with the more common one and the doubt is reported, not hidden.
    """
    for bom, enc in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32"),
                     (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"),
                     (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            try:
                return Decoded(data.decode(enc), enc.replace("-sig", ""))
            except UnicodeDecodeError:
                break
    kind = sniff(data)
    if kind:
        raise IngestError(f"{name}: this is {kind}, not a text article; give a {FORMATS} file")
    try:
        text = data.decode("utf-8")
        if b"\x00" not in data:
            return Decoded(text, "utf-8")
    except UnicodeDecodeError:
        pass
    return _detect(data, name)


def _detect(data: bytes, name: str) -> Decoded:
    from charset_normalizer import from_bytes
    from charset_normalizer.md import mess_ratio

    matches = [m for m in from_bytes(data) if m.encoding]
    if not matches:
        raise IngestError(f"{name}: cannot be decoded as text (binary, or an unknown encoding); "
                          "save it as UTF-8 and index it again")
    best = matches[0]
    garbage = sum(1 for c in str(best) if (ord(c) < 32 and c not in "\n\r\t\f") or c == "\ufffd")
    if garbage > MAX_GARBAGE * max(1, len(str(best))):
        raise IngestError(f"{name}: looks like a binary file, not text; give a {FORMATS} "
                          "article")
    candidates = [(m.encoding, str(m), m.chaos) for m in matches]
    try:
        # Measured: on short or accented Latin text charset-normalizer ties cp1250, cp1252,
        # cp1257 (even cp1125) and may pick any ("après" -> "aprčs", "café" -> "cafщ").
        # cp1252 is what browsers assume for unlabelled Western text: it joins the race,
        # judged by the library's own mess measure, and wins a tie.
        western = data.decode("cp1252")
        candidates.append(("cp1252", western, mess_ratio(western)))
    except UnicodeDecodeError:
        pass
    low = min(chaos for _, _, chaos in candidates)
    tied = [c for c in candidates if c[2] <= low + CHAOS_TIE]
    chosen = next((c for c in tied if c[0] == "cp1252"), tied[0])
    others = [c for c in tied if c[1] != chosen[1]]
    if others:
        enc, text = others[0][0], others[0][1]
        why = f"{enc} fits too ({_differences(chosen[1], text)})"
    elif best.coherence <= 0 and chosen[0] == best.encoding:
        why = "the text is too short to tell its language"
    else:
        return Decoded(chosen[1], chosen[0])
    return Decoded(chosen[1], chosen[0],
                   f"the encoding is uncertain: read as {chosen[0]}, but {why}; if letters "
                   "look wrong, save the file as UTF-8 and index it again")


def _differences(a: str, b: str, limit: int = 3) -> str:
    """'è not č, …': the characters two decodes disagree on."""
    pairs: list[str] = []
    for x, y in zip(a, b):
        if x != y and f"{x} not {y}" not in pairs:
            pairs.append(f"{x} not {y}")
            if len(pairs) == limit:
                break
    return ", ".join(pairs)


def expand(paths: Iterable[Path]) -> tuple[list[Path], list[Problem]]:
    """The article files named by ``paths`` (folders are walked), and the paths not usable.

    Hidden files are passed over; any other file in a folder that is not an article format is
    reported, so nothing is skipped silently.
    """
    files: list[Path] = []
    problems: list[Problem] = []
    for p in paths:
        if not p.exists():
            problems.append(Problem(str(p), "no such file or folder; check the path"))
        elif p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file()
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            for f in found:
                if f.suffix.lower() in SUPPORTED:
                    files.append(f)
                else:
                    problems.append(_unsupported(f))
            if not found:
                problems.append(Problem(str(p), f"the folder holds no {FORMATS} files"))
        elif p.suffix.lower() not in SUPPORTED:
            problems.append(_unsupported(p))
        else:
            files.append(p)
    return files, problems


def _unsupported(p: Path) -> Problem:
    return Problem(str(p), f"unsupported file type {p.suffix or '(none)'!r}; convert it to "
                           f"{FORMATS}")


def load_file(path: Path, doc_id: str | None = None,
              max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> SourceDoc:
    """Read one article file; ``doc_id`` defaults to the file stem. Bad files raise
    ``IngestError`` naming the file and saying what to do."""
    name = str(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise IngestError(f"{name}: {megabytes(size)} MB is over the {megabytes(max_bytes)} MB "
                          "limit for one file (RAG_MAX_FILE_MB); split it or raise the limit")
    if size == 0:
        raise IngestError(f"{name}: the file is empty")
    data = path.read_bytes()
    kind = SUPPORTED.get(path.suffix.lower(), "text")
    doc_id = doc_id or path.stem
    if kind in ("pdf", "docx"):
        from index.paged import read_docx, read_pdf

        paged = read_pdf(data, name) if kind == "pdf" else read_docx(data, name)
        return SourceDoc(doc_id=doc_id, text=paged.text, source_path=name, title=paged.title,
                         page_starts=paged.page_starts, warnings=paged.warnings)
    decoded = decode(data, name)
    text = decoded.text
    if not text.strip():
        raise IngestError(f"{name}: the file is empty")
    is_html = kind == "html" or _looks_html(text)
    if kind == "markdown" and not is_html:
        text = markdown_text(text)
    return SourceDoc(doc_id=doc_id, text=text, source_path=name, is_html=is_html,
                     warnings=(decoded.warning,) if decoded.warning else ())


def markdown_text(md: str) -> str:
    """Markdown -> its words (markdown-it-py): headings, paragraphs and list items one per
    line, emphasis and link syntax gone, link text kept, code blocks and raw HTML left out."""
    from markdown_it import MarkdownIt

    lines: list[str] = []
    for tok in MarkdownIt("commonmark").parse(md):
        if tok.type != "inline":
            continue
        parts = []
        for child in tok.children or []:
            if child.type in ("text", "code_inline"):
                parts.append(child.content)
            elif child.type == "softbreak":
                parts.append(" ")
            elif child.type == "hardbreak":
                parts.append("\n")
        line = "".join(parts).strip()
        if line:
            lines.append(line)
    return "\n\n".join(lines)


def _looks_html(text: str) -> bool:
    """A web page saved as .txt: clean it as HTML, not as text with tags."""
    head = text[:2048].lstrip().lower()
    return head.startswith(("<!doctype html", "<html"))


def load_paths(paths: Iterable[Path], max_bytes: int = DEFAULT_MAX_FILE_BYTES,
               on_file: Callable[[int, int, Path], None] | None = None) -> Loaded:
    """Every article under ``paths``: the documents read and the files skipped, with why.

    ``on_file(i, n, path)`` is called before each file is read (for progress).
    """
    files, problems = expand(paths)
    docs: list[SourceDoc] = []
    seen: dict[str, str] = {}
    for i, f in enumerate(files):
        if on_file:
            on_file(i, len(files), f)
        if f.stem in seen:
            problems.append(Problem(str(f), f"has the same name as {seen[f.stem]}, and names "
                                            "are article ids; rename one"))
            continue
        try:
            doc = load_file(f, max_bytes=max_bytes)
        except IngestError as e:
            problems.append(Problem(str(f), _without_name(str(e), str(f))))
            continue
        except OSError as e:
            problems.append(Problem(str(f), f"cannot be read ({e.strerror or e}); check its "
                                            "permissions"))
            continue
        seen[doc.doc_id] = str(f)
        docs.append(doc)
    return Loaded(docs=tuple(docs), problems=tuple(problems), files=tuple(files))


def _without_name(message: str, name: str) -> str:
    prefix = f"{name}: "
    return message[len(prefix):] if message.startswith(prefix) else message
