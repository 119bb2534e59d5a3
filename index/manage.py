"""One document at a time: remove it, or index it again from its file.

Both hold the index lock, and both end the way an indexing run does: chunks that no live
article owns are deleted and the BM25 index is rebuilt from the live chunks, so a removed
document leaves no orphan chunk and no lexical hit behind.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from index.loader import load_file
from index.pipeline import _write, to_article
from index.progress import quiet
from rag.documents import uploads_dir
from rag.errors import DocumentNotFound, IngestError, StoreError
from rag.lexical import build_lexical
from rag.settings import Settings
from rag.store import Store, index_lock, list_collections, store_error


@dataclass(frozen=True)
class RemoveReport:
    """What a removal did."""

    removed: tuple[str, ...] = ()  # documents deleted with their chunks
    unfolded: tuple[str, ...] = ()  # duplicate copies forgotten by their canonical document
    total_articles: int = 0
    total_chunks: int = 0


@dataclass(frozen=True)
class ReindexReport:
    """What re-indexing one document did."""

    doc_id: str
    changed: bool  # the file's text differs from what was indexed
    passages: int


def refresh_lexical(store: Store, settings: Settings) -> int:
    """Drop chunks no live article owns, rebuild BM25 from the live ones and commit; returns
    the live chunk count. Callers hold the index lock."""
    chunks = store.live_chunks()
    store.remove_orphans({c.chunk_id for c in chunks})
    fingerprint = hashlib.sha256(
        "\n".join(sorted(c.chunk_id for c in chunks)).encode()).hexdigest()[:16]
    try:
        # store.settings.home: the live generation's folder (rag.store.live_home)
        build_lexical(chunks, store.settings.home, fingerprint, settings.collection)
        store.commit(fingerprint)
    except StoreError:
        raise
    except Exception as e:
        raise store_error(e, settings) from e
    return len(chunks)


def _not_found(doc_id: str, settings: Settings) -> DocumentNotFound:
    return DocumentNotFound(f"no document {doc_id!r} in collection {settings.collection!r}; "
                            "list them with 'rag docs list'")


def remove_documents(doc_ids: Sequence[str], settings: Settings) -> RemoveReport:
    """Delete documents (records, chunks, BM25 entries). Every id is checked before anything
    changes: one unknown id changes nothing. An id that is a folded duplicate copy is taken
    off its canonical document's "also published as" list."""
    with index_lock(settings):
        store = Store(settings)
        articles = store.articles(max_age=0)
        aliases = {alias: a for a in articles.values() for alias in a.also_published_as}
        for doc_id in doc_ids:
            if doc_id not in articles and doc_id not in aliases:
                raise _not_found(doc_id, settings)
        removed, unfolded = [], []
        for doc_id in dict.fromkeys(doc_ids):
            if doc_id in articles:
                store.remove_article(doc_id)
                removed.append(doc_id)
            else:
                canon = articles[aliases[doc_id].doc_id]
                if canon.doc_id in removed:
                    continue
                canon = replace(canon, also_published_as=tuple(
                    d for d in canon.also_published_as if d != doc_id))
                articles[canon.doc_id] = canon
                store.put_record(canon)
                unfolded.append(doc_id)
        total = refresh_lexical(store, settings)
        gone = [articles[d] for d in removed]
        folder = uploads_dir(settings.home)
        _forget_uploads([Path(a.source_path) for a in gone]
                        + [p for d in unfolded for p in folder.glob(f"{d}.*")], settings)
        return RemoveReport(tuple(removed), tuple(unfolded),
                            len(store.articles(max_age=0)), total)


def _forget_uploads(paths: Sequence[Path], settings: Settings) -> None:
    """Delete uploaded files that no collection of this RAG_HOME still indexes."""
    folder = uploads_dir(settings.home).resolve()
    mine = [p for p in paths if p.parent.resolve() == folder and p.exists()]
    if not mine:
        return
    used: set[str] = set()
    for name in list_collections(settings):
        other = Store(settings.with_(collection=name))
        for a in other.articles(max_age=0).values():
            used |= {a.doc_id, *a.also_published_as}
    for p in mine:
        if p.stem not in used:
            p.unlink(missing_ok=True)


def reindex_document(doc_id: str, settings: Settings) -> ReindexReport:
    """Read one document's file again and rewrite its passages (re-chunked, re-embedded).
    The file is read and cleaned before the store is touched: a missing or unreadable file
    changes nothing."""
    store = Store(settings)
    old = store.articles(max_age=0).get(doc_id)
    if old is None:
        raise _not_found(doc_id, settings)
    path = Path(old.source_path)
    if not path.is_file():
        raise IngestError(f"{path.name}: the file it was indexed from is gone ({path}); "
                          "nothing was changed. Add the file again, or delete the document")
    article = replace(to_article(load_file(path, doc_id=doc_id,
                                             max_bytes=settings.max_file_bytes)),
                      also_published_as=old.also_published_as)
    with index_lock(settings):
        store = Store(settings)
        _write(store, [article], settings, quiet)
        refresh_lexical(store, settings)
        passages = len(store.chunks_of(doc_id))
    return ReindexReport(doc_id, article.content_hash != old.content_hash, passages)
