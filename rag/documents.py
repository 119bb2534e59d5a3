"""What a person reads about the indexed documents: titles and file names, never hash ids.

An uploaded file is stored under a content-derived name (``upload-<digest>.txt``) so that a
user-chosen name never becomes a path; the name the user gave it is remembered in
``$RAG_HOME/uploads/names.json`` and shown wherever the document is listed or cited.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import DocumentNotFound, InvalidOption
from rag.store import Store
from rag.types import Chunk

NAMES_FILE = "names.json"


def uploads_dir(home: Path) -> Path:
    """Where uploaded files are kept (shared by every collection: names are content-derived)."""
    return Path(home) / "uploads"


def upload_names(home: Path) -> dict[str, str]:
    """doc_id (the stored file's stem) -> the file name the user uploaded it as."""
    try:
        with open(uploads_dir(home) / NAMES_FILE, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def remember_upload_names(home: Path, names: Mapping[str, str]) -> None:
    """Record the user's file names for stored uploads (atomic replace: never half a file)."""
    if not names:
        return
    folder = uploads_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    merged = upload_names(home) | dict(names)
    tmp = folder / f"{NAMES_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(merged, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(folder / NAMES_FILE)


def display_name(doc_id: str, source_path: str, names: Mapping[str, str]) -> str:
    """The file name a person knows a document by."""
    if doc_id in names:
        return names[doc_id]
    return Path(source_path).name if source_path else doc_id


@dataclass(frozen=True)
class DocumentInfo:
    """One row of the documents list."""

    doc_id: str
    title: str
    file_name: str
    source: str
    published: str | None
    passages: int
    added: str | None
    also_published_as: tuple[str, ...]  # the file names of folded duplicate copies

    def to_dict(self) -> dict[str, Any]:  # Any: JSON
        return {"id": self.doc_id, "title": self.title, "file_name": self.file_name,
                "source": self.source, "published": self.published, "passages": self.passages,
                "added": self.added, "also_published_as": list(self.also_published_as)}


@dataclass(frozen=True)
class DocumentDetail:
    """One document opened: its row, its cleaned text and the passages it was cut into."""

    info: DocumentInfo
    text: str
    passages: tuple[Chunk, ...]

    def to_dict(self) -> dict[str, Any]:  # Any: JSON
        return {**self.info.to_dict(), "text": self.text,
                "passage_spans": [{"n": i, "start": c.start, "end": c.end}
                                  for i, c in enumerate(self.passages, 1)]}


def list_documents(store: Store, home: Path) -> list[DocumentInfo]:
    """Every indexed document of ``store``, by title."""
    names = upload_names(home)
    records = store.records()
    articles = store.articles(max_age=0)
    counts: dict[str, int] = {}
    for chunk, content_hash in store.iter_chunks():
        art = articles.get(chunk.doc_id)
        if art is not None and art.content_hash == content_hash:
            counts[chunk.doc_id] = counts.get(chunk.doc_id, 0) + 1
    rows = [
        DocumentInfo(
            doc_id=a.doc_id, title=a.title or display_name(a.doc_id, a.source_path, names),
            file_name=display_name(a.doc_id, a.source_path, names), source=a.source,
            published=a.published, passages=counts.get(a.doc_id, 0),
            added=records.get(a.doc_id, {}).get("added") or None,
            also_published_as=tuple(names.get(d, d) for d in a.also_published_as))
        for a in articles.values()
    ]
    return sorted(rows, key=lambda d: (d.title.casefold(), d.doc_id))


def open_document(store: Store, home: Path, doc_id: str) -> DocumentDetail:
    """One document with its cleaned text and passages; ``DocumentNotFound`` if absent."""
    article = store.articles(max_age=0).get(doc_id)
    if article is None:
        raise DocumentNotFound(f"no document {doc_id!r} in collection "
                               f"{store.settings.collection!r}; list them with 'rag docs list'")
    names = upload_names(home)
    chunks = tuple(store.chunks_of(doc_id))
    added = store.records().get(doc_id, {}).get("added") or None
    info = DocumentInfo(
        doc_id=doc_id, title=article.title or display_name(doc_id, article.source_path, names),
        file_name=display_name(doc_id, article.source_path, names), source=article.source,
        published=article.published, passages=len(chunks), added=added,
        also_published_as=tuple(names.get(d, d) for d in article.also_published_as))
    return DocumentDetail(info, article.text, chunks)


def resolve_document(documents: Sequence[DocumentInfo], ref: str) -> str:
    """The id of the document ``ref`` names: its id, its file name, or that name without its
    extension. ``DocumentNotFound`` when none does, ``InvalidOption`` when several do."""
    for d in documents:
        if d.doc_id == ref:
            return d.doc_id
    matches = [d for d in documents if ref in (d.file_name, Path(d.file_name).stem)]
    if len(matches) == 1:
        return matches[0].doc_id
    if matches:
        raise InvalidOption(f"{len(matches)} documents are called {ref!r}; name one by its id "
                            "(rag docs list --json shows them)", "id")
    raise DocumentNotFound(f"no document {ref!r}; 'rag docs list' shows the file names")
