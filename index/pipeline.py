"""Ingestion: source documents -> cleaned, de-duplicated articles -> chunks -> the store.

Every input gets an outcome. A file that cannot be read, or has no article text left after
cleaning, is skipped with a line saying what is wrong and what to do; the others are indexed.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from itertools import accumulate
from pathlib import Path
from typing import Any

import numpy as np

from index.chunker import chunk_article
from index.clean import clean, locate_pages
from index.dedupe import Conflict, group_duplicates, load_signatures, save_signatures
from index.loader import Problem, SourceDoc, load_paths
from index.progress import (
    CLEANING,
    DONE,
    EMBEDDING,
    PREPARING,
    READING,
    IndexProgress,
    ProgressFn,
    progress_fn,
)
from rag.embeddings import Embedder, get_embedder
from rag.errors import EmbeddingMismatch, IngestError, RagError, StoreError
from rag.lexical import build_lexical
from rag.memory import release_freed
from rag.nlp import annotate
from rag.sentences import SentenceIndex, analysed, build_sentences, pool_chunks, sentences_dir
from rag.settings import DEFAULT_COLLECTION, Settings
from rag.store import Staged, Store, index_lock, new_generation, publish_generation, store_error
from rag.types import Article, Chunk

log = logging.getLogger(__name__)

# Texts embedded per call: the bar moves every few seconds even inside one long article.
EMBED_BATCH = 32
# Sentences embedded per call when chunk vectors are pooled: the embedder sorts a call's texts
# by length before batching, and sentences vary more than chunks. Over the 57,883 sentences
# of the MultiHop-RAG corpus, calls of 32 padded the word pieces by 29%, of 512 by 3.5%.
SENTENCES_PER_CALL = 512
SIGNATURES = "minhash.npz"  # near-duplicate signatures cached under RAG_HOME


def signatures_path(settings: Settings) -> Path:
    """The default collection's cache is ``minhash.npz``; another's is ``minhash-<name>.npz``
    (each run keeps only its own collection's signatures)."""
    if settings.collection == DEFAULT_COLLECTION:
        return settings.home / SIGNATURES
    return settings.home / f"minhash-{settings.collection}.npz"


@dataclass(frozen=True)
class IndexReport:
    """What one indexing run did, file by file."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    duplicates: tuple[tuple[str, str], ...] = ()  # (duplicate doc_id, canonical doc_id)
    chunks_written: int = 0
    total_articles: int = 0
    total_chunks: int = 0
    skipped: tuple[Problem, ...] = ()  # files not indexed: what is wrong, what to do
    warnings: tuple[Problem, ...] = ()  # files indexed, with something the user should know
    kept_apart: tuple[Conflict, ...] = ()  # near-duplicates that disagree on a fact
    sources: tuple[tuple[str, str], ...] = ()  # (doc_id, source path) of every input indexed

    @property
    def indexed(self) -> int:
        """Input files now in the index (added, updated, unchanged, or folded into a copy)."""
        return len(self.sources)

    @property
    def ok(self) -> bool:
        """Nothing was skipped."""
        return not self.skipped

    def lines(self) -> list[str]:
        """One line per problem file: skipped ones, then warnings."""
        return ([f"skipped {p.path}: {p.message}" for p in self.skipped]
                + [f"warning {p.path}: {p.message}" for p in self.warnings])

    def summary(self) -> str:
        """'5 indexed, 3 skipped: empty.txt, photo.txt, scan.pdf; 2 added, ...'."""
        head = f"{self.indexed} indexed, {len(self.skipped)} skipped"
        if self.skipped:
            names = [Path(p.path).name or p.path for p in self.skipped]
            head += ": " + ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        dup = ", ".join(f"{d} (same story as {c})" for d, c in self.duplicates)
        apart = ", ".join(f"{c.doc_id} and {c.other} ({c.detail})" for c in self.kept_apart)
        return (f"{head}; {len(self.added)} added, {len(self.updated)} updated, "
                f"{len(self.unchanged)} unchanged; {self.chunks_written} chunks written; "
                f"index holds {self.total_articles} articles in {self.total_chunks} chunks"
                + (f"; near-duplicates folded: {dup}" if dup else "")
                + (f"; near-duplicates kept apart, they disagree: {apart}" if apart else ""))

    def to_dict(self) -> dict[str, Any]:  # Any: JSON
        """JSON-ready: counts, the summary, and one entry per problem file."""
        return {
            "indexed": self.indexed, "skipped": len(self.skipped),
            "added": list(self.added), "updated": list(self.updated),
            "unchanged": list(self.unchanged),
            "duplicates": [{"doc_id": d, "same_story_as": c} for d, c in self.duplicates],
            "kept_apart": [{"doc_id": c.doc_id, "other": c.other, "differs_on": c.detail}
                           for c in self.kept_apart],
            "problems": ([{"path": p.path, "status": "skipped", "message": p.message}
                          for p in self.skipped]
                         + [{"path": p.path, "status": "warning", "message": p.message}
                            for p in self.warnings]),
            "chunks_written": self.chunks_written, "total_articles": self.total_articles,
            "total_chunks": self.total_chunks, "summary": self.summary(),
        }


def to_article(doc: SourceDoc) -> Article:
    """Clean one source document into an article; ``IngestError`` when no text is left."""
    c = clean(doc.text, is_html=doc.is_html, title=doc.title, published=doc.published,
              source=doc.source)
    if not c.text.strip():
        raise IngestError(f"{doc.source_path}: no article text left after removing page "
                          "furniture (menus, banners, footers); is this a news article?")
    pages = locate_pages(doc.text, doc.page_starts, c.text) if doc.page_starts else ()
    paged = f"{pages}\0" if pages else ""  # texts without pages keep their old hashes
    digest = hashlib.sha256(
        f"{c.title}\0{c.published}\0{c.source}\0{paged}{c.text}".encode()).hexdigest()
    return Article(doc_id=doc.doc_id, title=c.title, text=c.text, source_path=doc.source_path,
                   published=c.published, content_hash=digest, source=c.source, pages=pages)


def index_paths(paths: Sequence[Path], settings: Settings,
                progress: bool | ProgressFn = False, rebuild: bool = False) -> IndexReport:
    """Index the article files under ``paths``: every readable file, the others reported."""
    tell = progress_fn(progress)
    loaded = load_paths(paths, max_bytes=settings.max_file_bytes,
                        on_file=lambda i, n, f: tell(IndexProgress(
                            READING, files_done=i, files_total=n, current=f.name)))
    report = index_documents(loaded.docs, settings, progress=tell, rebuild=rebuild)
    skipped = sorted(loaded.problems + report.skipped, key=lambda p: p.path)
    return replace(report, skipped=tuple(skipped))


def index_bundled(settings: Settings) -> None:
    """Fill an empty local store with the articles of ``settings.articles_dir`` (the bundled
    ones by default): the ``on_empty`` hook the CLI, the page and ``rag.answer()`` give the
    engine. Nothing happens against a Chroma server or without that folder."""
    if settings.chroma_url or not settings.articles_dir.is_dir():
        return
    report = index_paths([settings.articles_dir], settings)
    for line in report.lines():  # a file that could not be indexed is never skipped silently
        log.warning("indexing %s: %s", settings.articles_dir, line)


def index_documents(docs: Iterable[SourceDoc], settings: Settings,
                    progress: bool | ProgressFn = False, rebuild: bool = False) -> IndexReport:
    """Clean, de-duplicate, chunk, embed and upsert ``docs``; idempotent by content.

    A document with no text left after cleaning is skipped and reported; with nothing left
    to index the store is not touched (not even by ``rebuild``). An embedded store's rebuild
    is built beside the live index, which answers until the new one is swapped in whole.
    """
    tell = progress_fn(progress)
    docs = list(docs)
    incoming: list[Article] = []
    skipped: list[Problem] = []
    warnings: list[Problem] = []
    for i, d in enumerate(docs):
        tell(IndexProgress(CLEANING, files_done=i, files_total=len(docs),
                           current=Path(d.source_path).name))
        try:
            incoming.append(to_article(d))
        except IngestError as e:
            msg = str(e)
            prefix = f"{d.source_path}: "
            skipped.append(Problem(d.source_path, msg[len(prefix):] if msg.startswith(prefix)
                                   else msg))
            continue
        warnings.extend(Problem(d.source_path, w) for w in d.warnings)
    if not incoming:
        n_articles, n_chunks = _totals(settings)
        tell(IndexProgress(DONE))
        return IndexReport(total_articles=n_articles, total_chunks=n_chunks,
                           skipped=tuple(skipped), warnings=tuple(warnings))
    paths = {a.doc_id: a.source_path for a in incoming}
    get_embedder(settings)  # load the model before taking the lock
    tell(IndexProgress(PREPARING, current="opening the index"))
    with index_lock(settings):
        if rebuild and settings.chroma_url:
            _drop(settings)
        elif rebuild:
            try:
                gen = new_generation(settings.home)
            except OSError as e:
                raise store_error(e, settings) from e
            try:
                _carry_over(settings, gen)
                report = _index(incoming, settings.with_(home=gen), tell, paths, skipped,
                                warnings, cache=signatures_path(settings))
                publish_generation(settings.home, gen)
            except BaseException as e:
                shutil.rmtree(gen, ignore_errors=True)
                if isinstance(e, OSError):
                    raise store_error(e, settings) from e
                raise
            return report
        return _index(incoming, settings, tell, paths, skipped, warnings,
                      cache=signatures_path(settings))


def _index(incoming: list[Article], settings: Settings, tell: ProgressFn,
           paths: dict[str, str], skipped: list[Problem], warnings: list[Problem],
           cache: Path) -> IndexReport:
    """One indexing run into the store of ``settings`` (the caller holds the index lock);
    ``cache`` is where near-duplicate signatures are kept between runs."""
    emb = get_embedder(settings)
    store = Store(settings, create=True, embed_model=emb.name, dim=emb.dim)
    existing = store.articles(max_age=0)
    incoming_ids = {a.doc_id for a in incoming}
    # Stored articles take part in de-duplication, so a re-published copy is recognised
    # whichever run brings it; their recorded duplicates carry over.
    pool = incoming + [a for a in existing.values() if a.doc_id not in incoming_ids]
    tell(IndexProgress(PREPARING, current="looking for near-duplicates"))
    signatures = load_signatures(cache)
    grouping = group_duplicates(pool, new=incoming_ids, cache=signatures)

    added: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    dups: list[tuple[str, str]] = []
    todo: list[Article] = []
    folded: list[str] = []  # stored articles that are now copies of another
    relabelled: list[Article] = []  # unchanged articles with other duplicates recorded
    for group in grouping.groups:
        canon, *copies = group
        aliases = set(canon.also_published_as)
        for c in copies:
            aliases |= {c.doc_id, *c.also_published_as}
            dups.append((c.doc_id, canon.doc_id))
        aliases.discard(canon.doc_id)
        canon = replace(canon, also_published_as=tuple(sorted(aliases)))
        folded += [c.doc_id for c in copies if c.doc_id in existing]
        old = existing.get(canon.doc_id)
        if old and old.content_hash == canon.content_hash and old.annotation is not None:
            if old.also_published_as != canon.also_published_as:
                relabelled.append(canon)
            if canon.doc_id in incoming_ids:
                unchanged.append(canon.doc_id)
            continue
        todo.append(canon)
        (updated if old else added).append(canon.doc_id)
    if todo:
        _check_chunk_vectors(store, settings)  # before anything changes
    for doc_id in folded:  # it was indexed on its own before: fold it in
        store.remove_article(doc_id)
    for canon in relabelled:
        store.put_record(canon)

    written, computed = _write(store, todo, settings, tell)
    release_freed()  # the articles' chunks and parses are no longer held
    chunks = store.live_chunks()
    # Chunks of an article a killed run never committed: invisible already, now gone.
    store.remove_orphans({c.chunk_id for c in chunks})
    fingerprint = hashlib.sha256(
        "\n".join(sorted(c.chunk_id for c in chunks)).encode()).hexdigest()[:16]
    try:
        # store.settings.home: the live generation's folder (rag.store.live_home)
        build_lexical(chunks, store.settings.home, fingerprint, settings.collection)
        _sentence_vectors(store.articles(max_age=0), store.settings.home, settings,
                          fingerprint, computed)
        store.commit(fingerprint)
    except StoreError:
        raise
    except Exception as e:
        raise store_error(e, settings) from e
    live = store.articles(max_age=0)
    _save_signatures(cache, signatures, live)
    for conflict in grouping.conflicts:
        mine, other = ((conflict.doc_id, conflict.other) if conflict.doc_id in paths
                       else (conflict.other, conflict.doc_id))
        warnings.append(Problem(paths[mine], f"near-duplicate of {other}, but they "
                                             f"disagree ({conflict.detail}): both kept"))
    tell(IndexProgress(DONE))
    return IndexReport(added=tuple(added), updated=tuple(updated),
                       unchanged=tuple(unchanged),
                       duplicates=tuple(d for d in dups if d[0] in incoming_ids
                                        or d[1] in incoming_ids),
                       chunks_written=written, total_articles=len(live),
                       total_chunks=len(chunks), skipped=tuple(skipped),
                       warnings=tuple(warnings), kept_apart=tuple(grouping.conflicts),
                       sources=tuple(paths.items()))


def _totals(settings: Settings) -> tuple[int, int]:
    """Articles and chunks in the store as it is, without creating one."""
    try:
        store = Store(settings)
        return len(store.articles(max_age=0)), store.chunk_count()
    except RagError:
        return 0, 0


def _save_signatures(cache: Path, signatures: dict[str, Any],  # Any: MinHash
                     live: dict[str, Article]) -> None:
    """Keep the signatures of the stored articles for the next run (a cache: best effort)."""
    keep = {a.content_hash: signatures[a.content_hash] for a in live.values()
            if a.content_hash in signatures}
    try:
        save_signatures(cache, keep)
    except OSError:
        pass


def _check_chunk_vectors(store: Store, settings: Settings) -> None:
    """Refuse to add pooled chunk vectors to a store of embedded chunk texts, or the other way
    round: their similarities to a question are not on one scale, so a mixed store would rank
    by how a chunk was indexed. (int8 and fp32 text vectors agree to cosine ~0.99: they mix.)
    A run that writes no chunk is not refused: an older store keeps answering as it is."""
    have = store.chunk_vectors()
    if have is not None and (have == "pooled") != (settings.chunk_vectors == "pooled"):
        made = "pooled from sentence vectors" if have == "pooled" else "embedded chunk texts"
        raise EmbeddingMismatch(
            f"the index under {store.where} holds {made} ({have}) but RAG_CHUNK_VECTORS="
            f"{settings.chunk_vectors} is configured; re-index with 'rag index --rebuild', "
            f"or set RAG_CHUNK_VECTORS={have}")


def _write(store: Store, articles: list[Article], settings: Settings, tell: ProgressFn,
           group_chunks: int = 256) -> tuple[int, dict[str, np.ndarray]]:
    """Chunk, embed and store ``articles``, a group of several at a time: one store round trip
    per ~``group_chunks`` chunks instead of per article. Progress counts chunks embedded.

    With ``Settings.chunk_vectors == "pooled"`` (the default) nothing but sentences is
    embedded: a chunk's vector is pooled from its sentences' vectors (``pool_chunks``), and
    those vectors are returned (doc_id -> float16 rows) for the sentence index to keep.
    Measured on the MultiHop-RAG train questions (2026-12-08, dense retrieval alone): pooled
    Hits@10 0.940, MRR@10 0.680, every evidence article in the top 10 0.334, against 0.912,
    0.686 and 0.256 for the int8-embedded chunk text, while the chunk pass (~210 s of the 609
    articles' 510 s) goes."""
    pooled = settings.chunk_vectors == "pooled"
    emb = get_embedder(settings, chunks=not pooled)  # int8 when Settings.chunk_vectors says so
    if articles:
        _check_chunk_vectors(store, settings)
        store.record_chunk_vectors(settings.chunk_vectors)
        tell(IndexProgress(PREPARING, current="loading the embedding model"))
        emb.model  # noqa: B018 - loads here, so the bar's first step is not the model load
        tell(IndexProgress(PREPARING, current=f"reading the sentences of {len(articles)} "
                                              f"article{'s' if len(articles) != 1 else ''}"))
    recognised = _Recognised(articles)
    try:
        return _embed_and_stage(store, articles, settings, tell, emb, recognised, group_chunks)
    finally:
        recognised.close()


def _embed_and_stage(store: Store, articles: list[Article], settings: Settings,
                     tell: ProgressFn, emb: Embedder, recognised: _Recognised,
                     group_chunks: int) -> tuple[int, dict[str, np.ndarray]]:
    """``_write``'s work once the model is loaded and the names are being recognised."""
    pooled = settings.chunk_vectors == "pooled"
    planned = [(i, art, chunk_article(art, emb.count_tokens, max_tokens=settings.chunk_tokens))
               for i, art in enumerate(articles)]
    total = sum(len(chunks) for _, _, chunks in planned)
    done = {"chunks": 0, "articles": 0}
    sentence_vectors: dict[str, np.ndarray] = {}

    def report() -> None:
        tell(IndexProgress(EMBEDDING, chunks_done=done["chunks"], chunks_total=total,
                           articles_done=done["articles"], articles_total=len(articles)))

    report()
    group: list[tuple[int, Article, list[Chunk]]] = []
    staged: list[Staged] = []

    def flush() -> None:
        # What is embedded: each article's sentences (pooled) or its chunks' texts.
        units = [[art.text[s:e] for s, e in art.sentences()] if pooled
                 else [embed_text(c.title, c.text) for c in chunks] for _, art, chunks in group]
        texts = [t for u in units for t in u]
        ends = list(accumulate(len(u) for u in units))  # an article's last text
        chunk_ends = list(accumulate(len(chunks) for _, _, chunks in group))
        base, chunks_before = done["articles"], done["chunks"]
        parts = []
        step = SENTENCES_PER_CALL if pooled else EMBED_BATCH
        for i in range(0, len(texts), step):
            parts.append(emb.embed(texts[i : i + step]))
            embedded = i + len(parts[-1])
            whole = bisect_right(ends, embedded)  # articles whose texts are all embedded
            done["articles"] = base + whole
            done["chunks"] = chunks_before + (
                (chunk_ends[whole - 1] if whole else 0) if pooled else embedded)
            report()
        vectors = np.vstack(parts) if parts else np.zeros((0, emb.dim), np.float32)
        items, at = [], 0
        for (i, art, chunks), unit in zip(group, units, strict=True):
            own = vectors[at : at + len(unit)]
            at += len(unit)
            art = recognised.annotated(i, art)
            if pooled:
                sentence_vectors[art.doc_id] = own.astype(np.float16)
                own = _pooled(art, chunks, own, emb.embed)
            items.append((art, chunks, own))
        try:
            staged.append(store.stage(items))  # invisible until the whole batch is published
        except Exception as e:  # Chroma reports a full or read-only disk as its own errors
            if settings.chroma_url:
                raise
            raise store_error(e, settings) from e
        done["articles"], done["chunks"] = base + len(group), chunks_before + chunk_ends[-1]
        group.clear()
        release_freed()  # the group's activations and batches: see rag.memory

    pending = 0
    for i, art, chunks in planned:
        group.append((i, art, chunks))
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
    return total, sentence_vectors


def _pooled(art: Article, chunks: Sequence[Chunk], sentences: np.ndarray,
            embed: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """``chunks``' vectors pooled from ``art``'s sentence vectors; a chunk that overlaps no
    sentence (none does, as chunks are cut from sentences) has its text embedded instead."""
    out = pool_chunks(art.sentences(), sentences, [(c.start, c.end) for c in chunks])
    empty = [i for i, row in enumerate(out) if not row.any()]
    if empty:
        out[empty] = embed([embed_text(chunks[i].title, chunks[i].text) for i in empty])
    return out


class _Recognised:
    """The annotations (rag.nlp: sentences and named entities) of ``articles``, made a batch
    at a time on a thread of its own while the caller embeds: spaCy's entity recogniser
    needs one core for ~90 s of the 609 MultiHop-RAG articles, and ONNX Runtime lets go of
    the interpreter lock while it computes. Nothing else waits for it: the sentences that
    chunks and vectors are cut from are split by rag.text, as the annotation's are."""

    def __init__(self, articles: Sequence[Article], batch: int = 32) -> None:
        self.batch = batch
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-names")
        self.batches = [self.pool.submit(annotate, [a.text for a in articles[i : i + batch]])
                        for i in range(0, len(articles), batch)]

    def annotated(self, i: int, art: Article) -> Article:
        """``art``, the ``i``-th article, with its annotation (waiting for it if need be)."""
        return replace(art, annotation=self.batches[i // self.batch].result()[i % self.batch])

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _sentence_vectors(articles: dict[str, Article], home: Path, settings: Settings,
                      fingerprint: str, computed: dict[str, np.ndarray]) -> None:
    """Embed the sentences of new and changed articles (but those ``computed`` holds: embedded
    by this run already) and save every article's vectors, with its sentences' terms, beside
    the lexical index, under the run's fingerprint."""
    folder = sentences_dir(home, settings.collection)
    try:
        previous: SentenceIndex | None = SentenceIndex.load(folder)
    except (FileNotFoundError, ValueError, KeyError, OSError):
        previous = None
    index = build_sentences(articles, get_embedder(settings).embed, fingerprint, previous,
                            computed)
    analysed(index, articles, previous).save(folder)
    release_freed()


def embed_text(title: str, text: str) -> str:
    """What the embedder reads for a chunk: the title gives a passage its context."""
    return f"{title}\n{text}" if title else text


def _drop(settings: Settings) -> None:
    """Delete this collection on the Chroma server, and its BM25 folder (``rag index
    --rebuild`` against a server; an embedded store is rebuilt beside the live one instead)."""
    from rag.lexical import lexical_dir
    from rag.store import drop_collection

    drop_collection(settings)  # only this collection: the others are not the user's to lose
    shutil.rmtree(lexical_dir(settings.home, settings.collection), ignore_errors=True)
    shutil.rmtree(sentences_dir(settings.home, settings.collection), ignore_errors=True)


def _carry_over(settings: Settings, gen: Path) -> None:
    """A rebuild of an embedded store fills a new generation folder that replaces the whole
    live one; the other collections of this RAG_HOME go into it unchanged. The live store is
    copied, then this collection dropped from the copy. A live store that cannot be read
    (damaged, or none yet) is not copied: the rebuild starts over, as it always did."""
    from rag.lexical import lexical_dir
    from rag.store import drop_collection, list_collections, live_home

    try:
        others = [c for c in list_collections(settings) if c != settings.collection]
        live = live_home(settings.home)
    except Exception:  # noqa: BLE001 - damaged beyond reading: nothing to carry over
        return
    if not others:
        return
    shutil.copytree(live / "chroma", gen / "chroma", dirs_exist_ok=True)
    for name in others:
        for where in (lexical_dir, sentences_dir):
            folder = where(live, name)
            if folder.is_dir():
                shutil.copytree(folder, where(gen, name))
    drop_collection(settings.with_(home=gen))
