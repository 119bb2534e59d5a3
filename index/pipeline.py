"""Ingestion: source documents -> cleaned, de-duplicated articles -> chunks -> the store."""

from __future__ import annotations

import hashlib
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from index.chunker import chunk_article
from index.clean import clean
from index.dedupe import group_duplicates
from index.loader import SourceDoc, load_paths
from rag.embeddings import get_embedder
from rag.errors import IngestError, StoreError
from rag.lexical import build_lexical
from rag.settings import Settings
from rag.store import Staged, Store, index_lock, new_generation, publish_generation, store_error
from rag.types import Article, Chunk


@dataclass(frozen=True)
class IndexReport:
    """What one indexing run did."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    duplicates: tuple[tuple[str, str], ...] = ()  # (duplicate doc_id, canonical doc_id)
    chunks_written: int = 0
    total_articles: int = 0
    total_chunks: int = 0

    def summary(self) -> str:
        dup = ", ".join(f"{d} (same story as {c})" for d, c in self.duplicates)
        return (f"{len(self.added)} added, {len(self.updated)} updated, "
                f"{len(self.unchanged)} unchanged; {self.chunks_written} chunks written; "
                f"index holds {self.total_articles} articles in {self.total_chunks} chunks"
                + (f"; near-duplicates folded: {dup}" if dup else ""))


def to_article(doc: SourceDoc) -> Article:
    """Clean one source document into an article."""
    c = clean(doc.text, is_html=doc.is_html, title=doc.title, published=doc.published,
              source=doc.source)
    if not c.text.strip():
        raise IngestError(f"{doc.source_path}: no article text left after removing page "
                          "furniture; is this a news article?")
    digest = hashlib.sha256(
        f"{c.title}\0{c.published}\0{c.source}\0{c.text}".encode()).hexdigest()
    return Article(doc_id=doc.doc_id, title=c.title, text=c.text, source_path=doc.source_path,
                   published=c.published, content_hash=digest, source=c.source)


def index_paths(paths: Sequence[Path], settings: Settings, progress: bool = False,
                rebuild: bool = False) -> IndexReport:
    """Index the article files under ``paths``. Bad input raises before anything changes."""
    return index_documents(load_paths(paths), settings, progress=progress, rebuild=rebuild)


def index_documents(docs: Iterable[SourceDoc], settings: Settings, progress: bool = False,
                    rebuild: bool = False) -> IndexReport:
    """Clean, de-duplicate, chunk, embed and upsert ``docs``; idempotent by content."""
    incoming = [to_article(d) for d in docs]  # every error surfaces before the store is touched
    get_embedder()  # load the model before taking the lock
    with index_lock(settings):
        if rebuild and settings.chroma_url:
            _drop(settings)
        elif rebuild:
            # Built beside the live index, which answers until the new one is swapped in whole.
            try:
                gen = new_generation(settings.home)
            except OSError as e:
                raise store_error(e, settings) from e
            try:
                report = _index(incoming, settings.with_(home=gen), progress)
                publish_generation(settings.home, gen)
            except BaseException as e:
                shutil.rmtree(gen, ignore_errors=True)
                if isinstance(e, OSError):
                    raise store_error(e, settings) from e
                raise
            return report
        return _index(incoming, settings, progress)


def _index(incoming: list[Article], settings: Settings, progress: bool) -> IndexReport:
    """One indexing run into the store of ``settings`` (the caller holds the index lock)."""
    emb = get_embedder()
    store = Store(settings, create=True, embed_model=emb.name, dim=emb.dim)
    existing = store.articles(max_age=0)
    incoming_ids = {a.doc_id for a in incoming}
    # Stored articles take part in de-duplication, so a re-published copy is recognised
    # whichever run brings it; their recorded duplicates carry over.
    pool = incoming + [a for a in existing.values() if a.doc_id not in incoming_ids]
    groups = group_duplicates(pool)

    added: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    dups: list[tuple[str, str]] = []
    todo: list[Article] = []
    for group in groups:
        canon, *copies = group
        aliases = set(canon.also_published_as)
        for c in copies:
            aliases |= {c.doc_id, *c.also_published_as}
            dups.append((c.doc_id, canon.doc_id))
        aliases.discard(canon.doc_id)
        canon = replace(canon, also_published_as=tuple(sorted(aliases)))
        for c in copies:
            if c.doc_id in existing:  # it was indexed on its own before: fold it in
                store.remove_article(c.doc_id)
        old = existing.get(canon.doc_id)
        if old and old.content_hash == canon.content_hash:
            if old.also_published_as != canon.also_published_as:
                store.put_record(canon)
            if canon.doc_id in incoming_ids:
                unchanged.append(canon.doc_id)
            continue
        todo.append(canon)
        (updated if old else added).append(canon.doc_id)

    written = _write(store, todo, settings, progress)
    chunks = store.live_chunks()
    # Chunks of an article a killed run never committed: invisible already, now gone.
    store.remove_orphans({c.chunk_id for c in chunks})
    fingerprint = hashlib.sha256(
        "\n".join(sorted(c.chunk_id for c in chunks)).encode()).hexdigest()[:16]
    try:
        build_lexical(chunks, store.settings.home, fingerprint)
        store.commit(fingerprint)
    except StoreError:
        raise
    except Exception as e:
        raise store_error(e, settings) from e
    return IndexReport(added=tuple(added), updated=tuple(updated),
                       unchanged=tuple(unchanged),
                       duplicates=tuple(d for d in dups if d[0] in incoming_ids
                                        or d[1] in incoming_ids),
                       chunks_written=written, total_articles=len(store.articles(max_age=0)),
                       total_chunks=len(chunks))


def _write(store: Store, articles: list[Article], settings: Settings, progress: bool,
           group_chunks: int = 256) -> int:
    """Chunk, embed and store ``articles``, a group of several at a time: one embedding batch
    and a few store round trips per ~``group_chunks`` chunks instead of per article."""
    emb = get_embedder()
    bar = None
    if progress and articles:
        from tqdm import tqdm

        bar = tqdm(total=len(articles), unit="article", desc="indexing", file=sys.stderr,
                   disable=len(articles) < 2)
    written = 0
    group: list[tuple[Article, list[Chunk]]] = []
    staged: list[Staged] = []

    def flush() -> None:
        texts = [embed_text(c.title, c.text) for _, chunks in group for c in chunks]
        vectors = emb.embed(texts)
        items, at = [], 0
        for art, chunks in group:
            items.append((art, chunks, vectors[at : at + len(chunks)]))
            at += len(chunks)
        try:
            staged.append(store.stage(items))  # invisible until the whole batch is published
        except Exception as e:  # Chroma reports a full or read-only disk as its own errors
            if settings.chroma_url:
                raise
            raise store_error(e, settings) from e
        if bar:
            bar.update(len(group))
        group.clear()

    pending = 0
    for art in articles:
        chunks = chunk_article(art, emb.count_tokens, max_tokens=settings.chunk_tokens)
        group.append((art, chunks))
        written += len(chunks)
        pending += len(chunks)
        if pending >= group_chunks:
            flush()
            pending = 0
    if group:
        flush()
    try:
        store.publish(staged)  # one upsert of every record: all of the batch, or none of it
    except Exception as e:
        if settings.chroma_url:
            raise
        raise store_error(e, settings) from e
    if bar:
        bar.close()
    return written


def embed_text(title: str, text: str) -> str:
    """What the embedder reads for a chunk: the title gives a passage its context."""
    return f"{title}\n{text}" if title else text


def _drop(settings: Settings) -> None:
    """Delete the server's collections (``rag index --rebuild`` against a Chroma server; an
    embedded store is rebuilt beside the live one instead)."""
    from rag.store import _client

    client = _client(settings, create=True)
    for suffix in ("_chunks", "_docs"):
        try:
            client.delete_collection(f"{settings.collection}{suffix}")
        except Exception:  # noqa: BLE001 - absent is fine
            pass
    shutil.rmtree(settings.home / "bm25", ignore_errors=True)
