"""Checking and storing uploaded articles before they are indexed.

A file is judged by its bytes, not its name: binary formats, undecodable text and HTML pretending
to be something else are caught here. Files are stored under ids derived from their content, so
a user-chosen name never becomes a path and uploading the same file twice changes nothing.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from index.loader import DEFAULT_MAX_FILE_BYTES, FORMATS, decode, megabytes, sniff
from rag.errors import IngestError

ALLOWED_SUFFIXES = {
    ".txt": ".txt",
    ".md": ".md",
    ".markdown": ".md",
    ".html": ".html",
    ".htm": ".html",
    ".pdf": ".pdf",
    ".docx": ".docx",
}
_HTML_DOC = re.compile(
    rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html)[\s>]", re.IGNORECASE | re.DOTALL
)
_HTML_TAG = re.compile(
    r"<(html|head|body|p|div|article|section|h[1-6]|title|span|br)\b", re.IGNORECASE
)


class UploadRejected(IngestError):
    """An uploaded file is not an article we can read; the message says why."""


@dataclass(frozen=True)
class StoredUpload:
    """An accepted upload: the name the user gave it and where we keep it."""

    original_name: str
    path: Path
    is_new: bool


def display_name(name: str) -> str:
    """The user's file name, trimmed of any path and control characters (escape before showing)."""
    base = re.split(r"[\\/]", name)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    return (base[:77] + "...") if len(base) > 80 else (base or "unnamed file")


def _is_docx(data: bytes) -> bool:
    """A ZIP archive holding a Word document's main part."""
    import io
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return "word/document.xml" in z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def check_upload(name: str, data: bytes, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> str:
    """The suffix to store ``data`` under, or ``UploadRejected`` saying what is wrong with it.

    ``max_bytes`` is the one file-size limit (``Settings.max_file_bytes``, RAG_MAX_FILE_MB).
    A PDF or Word file is known by its bytes whatever its name; text is decoded the way the
    indexer decodes it (any common encoding).
    """
    shown = display_name(name)
    suffix = ALLOWED_SUFFIXES.get(Path(shown).suffix.lower())
    if suffix is None:
        raise UploadRejected(f"{shown}: only {FORMATS} files can be added.")
    if len(data) > max_bytes:
        raise UploadRejected(
            f"{shown}: the file is {megabytes(len(data))} MB; the limit is "
            f"{megabytes(max_bytes)} MB (RAG_MAX_FILE_MB)."
        )
    if not data.strip():
        raise UploadRejected(f"{shown}: the file is empty.")
    kind = sniff(data)
    if kind == "a PDF":
        return ".pdf"
    if data.startswith(b"PK\x03\x04") and _is_docx(data):
        return ".docx"
    if suffix in (".pdf", ".docx"):
        want = "a PDF" if suffix == ".pdf" else "a Word (.docx) document"
        found = f"it is {kind}, not {want}" if kind else f"it is not {want}"
        raise UploadRejected(f"{shown}: named {suffix} but {found}; save it again as {want}.")
    if kind:
        raise UploadRejected(f"{shown}: this is {kind}, not a text article.")
    try:
        text = decode(data, shown).text
    except IngestError as e:
        raise UploadRejected(str(e)) from e
    controls = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f")
    if controls > max(2, len(text) // 200):
        raise UploadRejected(f"{shown}: the file looks binary, not like a text article.")
    if not text.strip():
        raise UploadRejected(f"{shown}: the file is empty.")
    looks_html = bool(_HTML_DOC.match(text.encode("utf-8", "replace"))) or (
        len(_HTML_TAG.findall(text)) >= 3
    )
    if suffix == ".html" and not _HTML_TAG.search(text):
        raise UploadRejected(f"{shown}: named .html but contains no HTML.")
    if suffix != ".html" and looks_html:
        suffix = ".html"  # a web page saved as .txt: clean it as HTML, not as text with tags
    return suffix


def private_dir(folder: Path) -> Path:
    """``folder``, created if need be, readable by this user only (0700)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        folder.chmod(0o700)
    except OSError:  # not ours (e.g. a shared mount): leave it, the files inside are 0600
        pass
    return folder


def make_private(folder: Path) -> None:
    """Everything under ``folder`` readable by this user only: folders 0700, files 0600
    (a store written before the server set its umask, or copied in, is tightened too)."""
    private_dir(folder)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            _chmod(Path(root, name), 0o700)
        for name in files:
            _chmod(Path(root, name), 0o600)


def _chmod(path: Path, mode: int) -> None:
    try:
        if not path.is_symlink():
            path.chmod(mode)
    except OSError:
        pass  # not ours: leave it (the folder above is 0700)


def store_upload(name: str, data: bytes, uploads_dir: Path, suffix: str) -> StoredUpload:
    """Write ``data`` under a content-derived id; the user's name never touches the filesystem."""
    private_dir(uploads_dir)
    digest = hashlib.sha256(data).hexdigest()[:20]
    path = uploads_dir / f"upload-{digest}{suffix}"
    if path.exists():
        return StoredUpload(display_name(name), path, is_new=False)
    tmp = path.with_name(path.name + f".{os.getpid()}.part")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        tmp.replace(path)  # atomic: the indexer never sees half a file
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.errno == errno.ENOSPC:
            raise IngestError("no disk space left to keep the uploaded files: free some "
                              "space on the disk that holds RAG_HOME and try again") from e
        raise IngestError(f"the uploaded files could not be kept ({e.strerror}); check "
                          "that RAG_HOME is writable") from e
    return StoredUpload(display_name(name), path, is_new=True)


def store_uploads(checked: list[tuple[str, bytes, str]], uploads_dir: Path
                  ) -> list[StoredUpload]:
    """``store_upload`` for a batch (name, data, suffix): all stored, or none left behind."""
    stored: list[StoredUpload] = []
    try:
        for name, data, suffix in checked:
            stored.append(store_upload(name, data, uploads_dir, suffix))
    except BaseException:
        for s in stored:
            if s.is_new:
                s.path.unlink(missing_ok=True)
        raise
    return stored


def forget_uncommitted(uploads_dir: Path, indexed: set[str]) -> int:
    """Delete raw uploads whose article never made it into the index (a batch cut short by
    a crash, or a half-written ``.part``), so the next upload of them counts as new.
    ``indexed`` holds the doc ids of every collection of this RAG_HOME (they share the
    folder)."""
    removed = 0
    if not uploads_dir.is_dir():
        return 0
    for path in uploads_dir.iterdir():
        # Only raw uploads (upload-<digest>.<suffix>): names.json, the names people gave
        # them (rag.documents), stays.
        if path.name.endswith(".part") or (path.is_file() and path.name.startswith("upload-")
                                           and path.stem not in indexed):
            path.unlink(missing_ok=True)
            removed += 1
    return removed
