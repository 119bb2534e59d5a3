"""Files and folders -> ``SourceDoc``s: safe decoding, supported types only."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rag.errors import IngestError

SUPPORTED = {".txt": "text", ".md": "text", ".markdown": "text", ".html": "html", ".htm": "html"}
MAX_FILE_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class SourceDoc:
    """One raw document before cleaning. ``title``/``published`` override extraction."""

    doc_id: str
    text: str
    source_path: str
    title: str | None = None
    published: str | None = None
    is_html: bool = False
    source: str | None = None  # the publisher, when the caller knows it


def decode(data: bytes, name: str) -> str:
    """UTF-8 (with or without BOM), then UTF-16 with BOM, then Windows-1252; else a clear error."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    if b"\x00" in data[:8192]:
        raise IngestError(f"{name}: looks like a binary file, not text; give a .txt, .md or "
                          ".html article")
    for enc in ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        controls = sum(1 for c in text[:8192] if ord(c) < 32 and c not in "\n\r\t\f")
        if controls > 0.01 * max(1, min(len(text), 8192)):
            break
        return text
    raise IngestError(f"{name}: cannot be decoded as text (tried UTF-8 and Windows-1252); "
                      "save it as UTF-8 and index it again")


def expand(paths: Iterable[Path]) -> list[Path]:
    """The article files named by ``paths`` (folders are walked); errors before any change."""
    files: list[Path] = []
    for p in paths:
        if not p.exists():
            raise IngestError(f"{p}: no such file or folder")
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file()
                           and f.suffix.lower() in SUPPORTED and not f.name.startswith("."))
            if not found:
                raise IngestError(f"{p}: no .txt, .md or .html files in this folder")
            files.extend(found)
        elif p.suffix.lower() not in SUPPORTED:
            raise IngestError(f"{p}: unsupported file type {p.suffix or '(none)'!r}; "
                              f"supported: {', '.join(sorted(SUPPORTED))}")
        else:
            files.append(p)
    return files


def load_file(path: Path, doc_id: str | None = None) -> SourceDoc:
    """Read one article file; ``doc_id`` defaults to the file stem."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise IngestError(f"{path}: {size // 1024} KiB is over the {MAX_FILE_BYTES // 2**20} MiB "
                          "limit for one article")
    text = decode(path.read_bytes(), str(path))
    if not text.strip():
        raise IngestError(f"{path}: the file is empty")
    return SourceDoc(doc_id=doc_id or path.stem, text=text, source_path=str(path),
                     is_html=SUPPORTED.get(path.suffix.lower()) == "html")


def load_paths(paths: Iterable[Path]) -> list[SourceDoc]:
    """Every article under ``paths``; the first bad file raises ``IngestError``."""
    docs = [load_file(f) for f in expand(paths)]
    seen: dict[str, str] = {}
    for d in docs:
        if d.doc_id in seen:
            raise IngestError(f"two files share the id {d.doc_id!r}: {seen[d.doc_id]} and "
                              f"{d.source_path}; rename one")
        seen[d.doc_id] = d.source_path
    return docs
