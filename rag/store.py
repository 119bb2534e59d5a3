"""The Chroma store: chunks with their embeddings, and one record per article.

Embedded ``PersistentClient`` under ``$RAG_HOME/chroma`` by default; a Chroma server through
``HttpClient`` when ``RAG_CHROMA_URL`` is set. Embeddings are always computed by us and passed
in, so Chroma's own default embedding function (which downloads a model) never runs.

Writes are ordered so that a crash leaves nothing visible half-done: an article's chunks are
written first, its record last; a chunk counts only when its article record exists with the
same content hash.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import sqlite3
import struct
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from rag import snapshot
from rag.errors import EmbeddingMismatch, IndexNotFound, StoreError
from rag.nlp import Annotation
from rag.settings import Settings, offline_env
from rag.snapshot import Snapshot
from rag.types import Article, Chunk

if TYPE_CHECKING:
    from rag.worker import SearchWorker

SCHEMA = 1
# Candidates an HNSW search examines. Chroma's default, 100, is no more than the depth retrieval
# asks for: on the 609-article corpus it returned 96% of the exact 100 nearest chunks (78% at
# worst), and not the same ones in two processes, since the index's unsaved tail is inserted
# again at every open. 1000 returned 99.97% and the same chunks in three processes, for about
# 3 ms more per Chroma query (200 MultiHop-RAG questions, 2 cores; up to ~15 ms of retrieval
# in a noisy A/B of whole answers); an index of fewer chunks than this is searched exhaustively.
HNSW_EF_SEARCH = 1000
_BATCH = 1000
CURRENT = "CURRENT"  # names the live generation under gens/ (written by 'rag index --rebuild')
GENERATIONS = "gens"
REBUILD = "rag index --rebuild"


# ---- where the live index is ------------------------------------------------------------

def live_home(home: Path) -> Path:
    """The folder holding the live ``chroma/`` and ``bm25/``: ``home`` itself, or the
    generation ``home/CURRENT`` names once a rebuild has been swapped in."""
    try:
        name = (home / CURRENT).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return home
    except OSError as e:
        raise StoreError(_os_message(e, home)) from e
    gen = home / GENERATIONS / name
    if not name or "/" in name or name.startswith(".") or not gen.is_dir():
        raise StoreError(f"{home}/{CURRENT} names no index ({name[:40]!r}); "
                         f"rebuild it with '{REBUILD}'")
    return gen


def has_index(settings: Settings) -> bool:
    """Whether an embedded store exists under ``settings.home`` (cheap: opens nothing)."""
    try:
        return (live_home(settings.home) / "chroma").exists()
    except StoreError:
        return True  # something is there; opening it will say what is wrong


def new_generation(home: Path) -> Path:
    """A fresh, empty folder beside the live index for a rebuild to fill."""
    gen = home / GENERATIONS / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    gen.mkdir(parents=True, mode=0o700)
    return gen


def publish_generation(home: Path, gen: Path) -> None:
    """Make ``gen`` the live index in one atomic rename; keep the one it replaces (readers
    may still be using it) and remove older ones."""
    previous = live_home(home)
    tmp = home / f".{CURRENT}.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(gen.name)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, home / CURRENT)
    with contextlib.suppress(OSError):
        dirfd = os.open(home, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
    keep = {gen.resolve(), previous.resolve()}
    for old in (home / GENERATIONS).iterdir():
        if old.resolve() not in keep:
            shutil.rmtree(old, ignore_errors=True)
    if previous.resolve() != home.resolve():  # the pre-generation layout is two swaps old
        for name in ("chroma", "bm25"):
            shutil.rmtree(home / name, ignore_errors=True)


def commit_stamp(home: Path) -> float:
    """Changes when an indexing run commits or a rebuild is swapped in (readers reopen)."""
    try:
        stamps = [(home / CURRENT).stat().st_mtime_ns]
    except OSError:
        stamps = [0]
    try:
        stamps.append((live_home(home) / COMMITTED).stat().st_mtime_ns)
    except (OSError, StoreError):
        stamps.append(0)
    return float(hash(tuple(stamps)))


COMMITTED = "committed"


def committed_fingerprint(home: Path) -> str:
    """The fingerprint the last indexing run under the live ``home`` committed ("" if none)."""
    try:
        return (home / COMMITTED).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


# ---- checking the files before native code reads them -----------------------------------

_HNSW_HEADER = struct.Struct("<iQQQQQQiiQQQdQ")  # chroma's hnswlib header.bin (100 bytes)


def hnsw_problem(folder: Path) -> str | None:
    """What is wrong with an HNSW segment folder's files, or None. Checks the header's
    arithmetic and, at level 0, that every link points at an existing element: what makes
    hnswlib read out of bounds (SIGSEGV) when damaged."""
    import numpy as np

    header = folder / "header.bin"
    try:
        raw = header.read_bytes()
    except OSError as e:
        return f"header.bin unreadable ({e.strerror})"
    if len(raw) != _HNSW_HEADER.size:
        return f"header.bin is {len(raw)} bytes, not {_HNSW_HEADER.size}"
    (version, offset0, max_el, count, per_el, label_off, data_off, max_level, entry, max_m,
     max_m0, m, mult, ef) = _HNSW_HEADER.unpack(raw)
    vec_bytes = per_el - data_off - 8
    sane = (version == 1 and offset0 == 0 and 0 <= count <= max_el < 1 << 40
            and 0 < m <= 1024 and max_m == m and max_m0 == 2 * m
            and data_off == 4 + 4 * max_m0 and label_off == per_el - 8
            and vec_bytes > 0 and vec_bytes % 4 == 0 and 0 < ef < 1 << 20
            and 0 < mult < 10 and (entry == -1 if count == 0 else 0 <= entry < count)
            and -1 <= max_level < 64)
    if not sane:
        return "header.bin does not describe a valid index"
    data = folder / "data_level0.bin"
    try:
        size = data.stat().st_size
    except OSError:
        return "data_level0.bin is missing" if count else None
    if size < count * per_el or size % per_el:
        return "data_level0.bin is cut short"
    if count:
        rows = np.memmap(data, dtype=np.uint8, mode="r", shape=(size // per_el, per_el))[:count]
        links = rows[:, :data_off]
        n_links = links[:, :2].copy().view(np.uint16)[:, 0]
        ids = links[:, 4:].copy().view(np.uint32)
        used = np.arange(max_m0)[None, :] < n_links[:, None]
        if (n_links > max_m0).any() or (ids[used] >= count).any():
            return "data_level0.bin links point outside the index"
    lengths = folder / "length.bin"
    if count and lengths.exists() and lengths.stat().st_size < 4 * count:
        return "length.bin is cut short"
    return None


def check_files(home: Path, label: Path | None = None) -> None:
    """``StoreError`` naming the damaged part of the embedded store under ``home`` (its live
    generation), with the rebuild command; quiet when all is well."""
    where = label or home
    chroma = home / "chroma"
    db = chroma / "chroma.sqlite3"
    if db.exists():
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
            try:
                rows = con.execute("PRAGMA quick_check(3)").fetchall()
            finally:
                con.close()
            problem = None if rows == [("ok",)] else "; ".join(str(r[0]) for r in rows)
        except sqlite3.Error as e:
            problem = None if "locked" in str(e) or "busy" in str(e) else str(e)
        if problem:
            raise StoreError(f"the index under {where} is damaged: chroma.sqlite3 "
                             f"({problem[:120]}); rebuild it with '{REBUILD}'")
    for header in sorted(chroma.glob("*/header.bin")):
        problem = hnsw_problem(header.parent)
        if problem:
            raise StoreError(f"the index under {where} is damaged: the vector index "
                             f"{header.parent.name[:8]}… ({problem}); rebuild it with "
                             f"'{REBUILD}'")


_checked: set[str] = set()  # stores whose files passed check_files in this process


def _check_files_once(home: Path) -> None:
    """``check_files`` once per store per process: a quick_check of a large store takes a
    while, and damage that appears later is met by the search worker's isolation instead."""
    key = str((home / "chroma").resolve())
    if key not in _checked:
        check_files(home)
        _checked.add(key)


def _check_model(meta: dict[str, Any], embed_model: str, dim: int, where: str) -> None:
    """Refuse a store (its chunk collection's ``meta``) that another embedding model built."""
    if meta.get("embed_model") and (meta.get("embed_model") != embed_model
                                    or int(meta.get("dim", dim)) != dim):
        raise EmbeddingMismatch(
            f"the index under {where} was built with {meta.get('embed_model')} "
            f"({meta.get('dim')} dims) but {embed_model} ({dim} dims) is configured; "
            "re-index with 'rag index --rebuild'")


def _client(settings: Settings, create: bool) -> Any:  # Any: a Chroma client
    """A Chroma client for ``settings``: server when a URL is set, else embedded."""
    offline_env()  # Chroma: no telemetry
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        u = urlparse(settings.chroma_url)
        headers = {}
        if settings.chroma_token:
            headers["Authorization"] = f"Bearer {settings.chroma_token}"
        try:
            return chromadb.HttpClient(host=u.hostname or "127.0.0.1",
                                       port=u.port or (443 if u.scheme == "https" else 8000),
                                       ssl=u.scheme == "https", headers=headers,
                                       settings=chroma_settings)
        except Exception as e:
            raise _server_error(settings, e) from e
    path = settings.home / "chroma"
    if not create and not path.exists():
        raise IndexNotFound(f"no index under {settings.home}; run 'rag index' first")
    if not create:
        _check_files_once(settings.home)
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except OSError as e:
        raise StoreError(_os_message(e, settings.home)) from e
    except Exception as e:
        raise store_error(e, settings) from e


def store_error(e: BaseException, settings: Settings) -> StoreError:
    """The ``StoreError`` for a failure of the embedded store, with the right next step:
    a full or read-only disk must not be answered with "rebuild" (that would lose the index)."""
    text = str(e)
    low = text.lower()
    if isinstance(e, OSError) and e.errno is not None:
        return StoreError(_os_message(e, settings.home))
    if "disk is full" in low or "no space" in low or "code: 13)" in low:
        return StoreError(f"no space left for the index under {settings.home} ({text[:120]}); "
                          "free some disk space and retry: the index is unchanged")
    if "readonly" in low or "read-only" in low or "code: 8)" in low:
        return StoreError(f"{settings.home} is not writable ({text[:120]}); set RAG_HOME to a "
                          "writable folder")
    return StoreError(f"the store under {settings.home} cannot be opened ({text[:200]}); "
                      "rebuild it with 'rag index --rebuild'")


def _server_error(settings: Settings, e: BaseException) -> StoreError:
    text = str(e)
    if any(m in text for m in ("401", "403", "Unauthorized", "Forbidden")):
        return StoreError(f"the Chroma server at {settings.chroma_url} refused the request "
                          f"({text[:200]}); check RAG_CHROMA_TOKEN")
    return StoreError(f"cannot reach the Chroma server at {settings.chroma_url} ({text[:200]}); "
                      "start it with 'chroma run --path DIR' or unset RAG_CHROMA_URL")


class _Guarded:
    """A server collection whose transport failures surface as ``StoreError`` (with what to
    do) instead of an httpx traceback, wherever the call comes from (LlamaIndex included)."""

    def __init__(self, collection: Any, settings: Settings) -> None:  # Any: Chroma's
        self._c = collection
        self._settings = settings

    def __getattr__(self, name: str) -> Any:  # Any: Chroma's
        attr = getattr(self._c, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:  # Any: Chroma's
            try:
                return attr(*args, **kwargs)
            except Exception as e:
                if _is_transport(e):
                    raise _server_error(self._settings, e) from e
                raise

        return call


def _is_transport(e: BaseException) -> bool:
    """Connection refused/reset, timeouts, auth failures: the server, not the request."""
    import httpx

    if isinstance(e, httpx.TransportError | ConnectionError | TimeoutError):
        return True
    text = str(e)
    return any(m in text for m in ("Could not connect", "Connection refused", "401", "403",
                                   "Unauthorized", "Forbidden"))


def _os_message(e: OSError, home: Path) -> str:
    if e.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
        return f"{home} is not writable ({e.strerror}); set RAG_HOME to a writable folder"
    if e.errno == errno.ENOSPC:
        return f"no space left for the index under {home}; free some disk space and retry"
    return f"cannot use {home}: {e}"


def _meta(chunk: Chunk, content_hash: str) -> dict[str, Any]:  # Any: Chroma metadata
    return {"doc_id": chunk.doc_id, "start": chunk.start, "end": chunk.end, "title": chunk.title,
            "published": chunk.published or "", "content_hash": content_hash,
            "also_in": json.dumps(list(chunk.also_in)), "source": chunk.source}


def _record_meta(article: Article) -> dict[str, Any]:  # Any: Chroma metadata
    meta = {"title": article.title, "source_path": article.source_path,
            "published": article.published or "", "content_hash": article.content_hash,
            "also_published_as": json.dumps(list(article.also_published_as)),
            "source": article.source, "pages": json.dumps([list(p) for p in article.pages]),
            "added": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if article.annotation is not None:
        meta["nlp"] = json.dumps(article.annotation.to_json(), separators=(",", ":"))
    return meta


def _annotation(meta: dict[str, Any]) -> Annotation | None:  # Any: Chroma metadata
    """The stored annotation, or None when absent or made by another NLP version."""
    raw = meta.get("nlp")
    return Annotation.from_json(json.loads(raw)) if raw else None


def _pages(m: dict[str, Any]) -> tuple[tuple[int, int], ...]:  # Any: Chroma metadata
    """An article record's page map: where each page begins in its text."""
    return tuple((int(at), int(page)) for at, page in json.loads(m.get("pages") or "[]"))


def _chunk(cid: str, text: str, m: dict[str, Any]) -> Chunk:  # Any: Chroma metadata
    return Chunk(chunk_id=cid, doc_id=m["doc_id"], text=text, start=int(m["start"]),
                 end=int(m["end"]), title=m.get("title", ""), published=m.get("published") or None,
                 also_in=tuple(json.loads(m.get("also_in") or "[]")), source=m.get("source", ""))


@dataclass(frozen=True)
class Staged:
    """Chunks written but not yet visible: the records that will publish them, and the old
    chunks they replace."""

    records: tuple[tuple[Article, np.ndarray], ...]
    stale: tuple[str, ...]


def _searched_deep(collection: Any) -> Any:  # Any: a chromadb Collection
    """``collection`` with ``HNSW_EF_SEARCH``: an index made before it was set is changed by
    the next writer that opens it (readers open it as they find it)."""
    hnsw = (collection.configuration_json or {}).get("hnsw") or {}
    if hnsw.get("ef_search") != HNSW_EF_SEARCH:
        collection.modify(configuration={"hnsw": {"ef_search": HNSW_EF_SEARCH}})
    return collection


class Store:
    """One RAG_HOME's collections. Cheap to construct; thread-safe for reads."""

    def __init__(self, settings: Settings, *, create: bool = False,
                 embed_model: str = "", dim: int = 0, search_soon: bool = False) -> None:
        """``search_soon``: this store will be searched (an engine's): start the search child
        now, so that its imports overlap this process's, and read the commit's snapshot
        (``rag.snapshot``) instead of opening Chroma here when there is one."""
        self.top_home = settings.home
        if not settings.chroma_url:
            settings = settings.with_(home=live_home(settings.home))
        self.settings = settings
        name = settings.collection
        worker = None
        if not settings.chroma_url and not create:
            # Searches run native code over the index files: in a supervised child process,
            # for an engine started before this process imports chromadb (the two overlap).
            from rag.worker import search_worker

            offline_env()  # the child inherits it: no telemetry
            worker = search_worker(settings.home / "chroma", f"{name}_chunks", self.top_home)
            if search_soon:
                worker.start_soon()
        self._worker = worker
        self._model = (embed_model, dim)
        self._client_obj: Any = None  # Any: Chroma's client and collections, opened on use
        self._chunks: Any = None
        self._docs: Any = None
        self._raw_chunks: Any = None
        self._open_lock = threading.RLock()
        self._snap: Snapshot | None = None
        self._wants_snapshot = False  # an engine's store found none: write one when read
        self._stamp = commit_stamp(self.top_home) if not settings.chroma_url else 0.0
        try:
            if search_soon and worker is not None:
                self._snap = self._snapshot(embed_model, dim)
                self._wants_snapshot = self._snap is None
            if self._snap is None or worker is None:
                self._open_collections(settings, create, embed_model, dim, worker)
            else:
                from rag.worker import IsolatedCollection

                # Searches go to the child; anything else opens Chroma here when first asked.
                self._chunks = IsolatedCollection(lambda: self._collections()[0], worker,
                                                  self.fingerprint)
        except BaseException:
            if search_soon and worker is not None:
                worker.close()  # the store cannot be used: the child is not needed
            raise
        self._stamp_at = time.monotonic()
        self._articles: dict[str, Article] | None = None
        self._articles_at = 0.0
        self._articles_stamp = 0.0
        self._lock = threading.Lock()

    def _snapshot(self, embed_model: str, dim: int) -> Snapshot | None:
        """The snapshot of the committed index, checked like an opened store would be (the
        files, the embedding model), or None: then Chroma is opened as before."""
        fingerprint = committed_fingerprint(self.settings.home)
        snap = snapshot.load(self.settings.home, self.settings.collection, fingerprint)
        if snap is None:
            return None
        _check_files_once(self.settings.home)
        if embed_model:
            _check_model({"embed_model": snap.embed_model, "dim": snap.dim}, embed_model, dim,
                         self.where)
        return snap

    # Chroma's client and collections, opened when first used (at once unless a snapshot
    # let the store start without them).
    @property
    def client(self) -> Any:  # Any: a Chroma client
        self._collections()
        return self._client_obj

    @property
    def chunks(self) -> Any:  # Any: a Chroma collection (or its isolated or guarded form)
        if self._chunks is None:
            self._collections()
        return self._chunks

    @property
    def docs(self) -> Any:  # Any: a Chroma collection
        self._collections()
        return self._docs

    def _collections(self) -> tuple[Any, Any]:  # Any: Chroma collections
        """The (chunks, docs) collections as Chroma gives them, opening them if need be."""
        with self._open_lock:
            if self._docs is None:
                self._open_collections(self.settings, False, *self._model, self._worker)
            return self._raw_chunks, self._docs

    def _open_collections(self, settings: Settings, create: bool, embed_model: str, dim: int,
                          worker: SearchWorker | None) -> None:
        name = settings.collection
        client = _client(settings, create)
        try:
            if create:
                meta = {"embed_model": embed_model, "dim": dim, "schema": SCHEMA}
                cfg = {"hnsw": {"space": "cosine", "ef_search": HNSW_EF_SEARCH}}
                chunks = _searched_deep(client.get_or_create_collection(
                    f"{name}_chunks", metadata=meta, configuration=cfg, embedding_function=None))
                docs = _searched_deep(client.get_or_create_collection(
                    f"{name}_docs", metadata=meta, configuration=cfg, embedding_function=None))
            else:
                chunks = client.get_collection(f"{name}_chunks", embedding_function=None)
                docs = client.get_collection(f"{name}_docs", embedding_function=None)
        except StoreError:
            raise
        except Exception as e:
            if settings.chroma_url and _is_transport(e):
                raise _server_error(settings, e) from e
            if "does not exist" in str(e) or "NotFound" in type(e).__name__:
                raise IndexNotFound(f"no index under {self.where}; run 'rag index' first") from e
            raise store_error(e, settings) from e
        raw = chunks
        if settings.chroma_url:
            chunks, docs = _Guarded(chunks, settings), _Guarded(docs, settings)
        elif worker is not None:
            from rag.worker import IsolatedCollection

            chunks = IsolatedCollection(lambda: raw, worker, self.fingerprint)
        if embed_model:
            _check_model(chunks.metadata or {}, embed_model, dim, self.where)
        self._client_obj, self._raw_chunks, self._chunks, self._docs = client, raw, chunks, docs

    def outdated(self, every: float = 1.0) -> bool:
        """Whether another run committed or a rebuild was swapped in since this store was
        opened (checked at most every ``every`` seconds): the caller reopens."""
        if self.settings.chroma_url or time.monotonic() - self._stamp_at < every:
            return False
        self._stamp_at = time.monotonic()
        return commit_stamp(self.top_home) != self._stamp

    @property
    def where(self) -> str:
        return self.settings.chroma_url or str(self.settings.home)

    # ---- reads -------------------------------------------------------------------------

    def articles(self, max_age: float = 1.0) -> dict[str, Article]:
        """Every article record, cached for ``max_age`` seconds (other processes may write);
        ``max_age=0`` always reads them.

        A local store's records are read again only when its commit stamp changed (another
        process's indexing run committed) or this process wrote: reading them costs about
        0.6 s at 609 articles (6 MB of text, 3 MB of annotations to decode), and every answer
        read them several times once more than ``max_age`` had passed, half of the answer time
        measured on MultiHop-RAG (issue 14). Records another run publishes before its commit
        are seen at the commit, with the BM25 index and sentence vectors of that commit."""
        with self._lock:
            now = time.monotonic()
            stamp = commit_stamp(self.top_home) if not self.settings.chroma_url else 0.0
            if self._snap is not None:
                if stamp == self._stamp:  # still the commit the snapshot was written at
                    return self._snap.articles
                self._snap = None  # a later commit: read Chroma, as any store would
            fresh = max_age > 0 and (
                now - self._articles_at <= max_age
                or (not self.settings.chroma_url and stamp == self._articles_stamp))
            if fresh and self._articles is not None:
                return self._articles
            got = self.docs.get(include=["documents", "metadatas"])
            arts = {}
            for did, text, m in zip(got["ids"], got["documents"], got["metadatas"]):
                arts[did] = Article(
                    doc_id=did, title=m.get("title", ""), text=text,
                    source_path=m.get("source_path", ""), published=m.get("published") or None,
                    content_hash=m.get("content_hash", ""),
                    also_published_as=tuple(json.loads(m.get("also_published_as") or "[]")),
                    source=m.get("source", ""), annotation=_annotation(m),
                    pages=_pages(m))
            self._articles, self._articles_at, self._articles_stamp = arts, now, stamp
            if self._wants_snapshot:
                self._wants_snapshot = False
                self.write_snapshot(arts)
            return arts

    def write_snapshot(self, articles: dict[str, Article]) -> None:
        """Save ``articles`` as the snapshot of the committed index (``rag.snapshot``), when
        they are what the last commit made: a local store whose fingerprint is committed."""
        fingerprint = self.fingerprint()
        if (self.settings.chroma_url or not fingerprint
                or fingerprint != committed_fingerprint(self.settings.home)):
            return
        meta = self.chunks.metadata or {}
        snapshot.save(self.settings.home, Snapshot(
            self.settings.collection, fingerprint, str(meta.get("embed_model", "")),
            int(meta.get("dim", 0) or 0), self.chunk_count(), articles))

    def chunk_count(self) -> int:
        if self._snap is not None:
            return self._snap.chunk_count
        return int(self.chunks.count())

    def iter_chunks(self) -> Iterator[tuple[Chunk, str]]:
        """Every stored chunk with the content hash of the article text it was cut from."""
        total = self.chunks.count()
        for offset in range(0, total, _BATCH):
            got = self.chunks.get(include=["documents", "metadatas"], limit=_BATCH, offset=offset)
            for cid, text, m in zip(got["ids"], got["documents"], got["metadatas"]):
                yield _chunk(cid, text, m), m.get("content_hash", "")

    def live_chunks(self) -> list[Chunk]:
        """Chunks whose article record exists with the same text: what retrieval may return."""
        arts = self.articles(max_age=0)
        return [c for c, h in self.iter_chunks()
                if c.doc_id in arts and arts[c.doc_id].content_hash == h]

    def query(self, embedding: np.ndarray, n: int) -> list[tuple[Chunk, float]]:
        """Nearest chunks by cosine similarity (1 - distance), live ones only."""
        n = min(n, max(1, self.chunk_count()))
        got = self.chunks.query(query_embeddings=[embedding.tolist()], n_results=n,
                                include=["documents", "metadatas", "distances"])
        arts = self.articles()
        out = []
        for cid, text, m, dist in zip(got["ids"][0], got["documents"][0], got["metadatas"][0],
                                      got["distances"][0]):
            a = arts.get(m["doc_id"])
            if a is not None and a.content_hash == m.get("content_hash"):
                out.append((_chunk(cid, text, m), 1.0 - float(dist)))
        return out

    def fingerprint(self) -> str:
        """Changes whenever an indexing run commits: keys the lexical index."""
        if self._snap is not None:
            return self._snap.fingerprint
        return str((self.chunks.metadata or {}).get("fingerprint", ""))

    # ---- writes (callers hold the index lock) -------------------------------------------

    def put_articles(self, items: Sequence[tuple[Article, Sequence[Chunk], np.ndarray]]) -> None:
        """Several articles in a few round trips: every chunk first, then every record (the
        commit point), then the old chunks they replace. A crash anywhere leaves each article
        either wholly old or wholly new to readers."""
        self.publish([self.stage(items)])

    def publish(self, staged: Sequence[Staged]) -> None:
        """Write the records of everything ``stage`` wrote, in one upsert: the moment a whole
        batch becomes visible. Then delete the chunks the new versions replace."""
        self.put_records([r for s in staged for r in s.records])
        stale = sorted({cid for s in staged for cid in s.stale})
        for i in range(0, len(stale), _BATCH):
            self.chunks.delete(ids=stale[i : i + _BATCH])
        self._articles = None

    def stage(self, items: Sequence[tuple[Article, Sequence[Chunk], np.ndarray]]) -> Staged:
        """Write the chunks of ``items`` (invisible until ``publish`` writes their records)."""
        if not items:
            return Staged((), ())
        dim = next((int(np.shape(e)[1]) for _, _, e in items if np.ndim(e) == 2), 384)
        doc_ids = [a.doc_id for a, _, _ in items]
        got = self.chunks.get(where={"doc_id": {"$in": doc_ids}}, include=[])
        old = set(got["ids"])
        ids: list[str] = []
        vecs: list[np.ndarray] = []
        docs: list[str] = []
        metas: list[dict[str, Any]] = []  # Any: Chroma metadata
        records: list[tuple[Article, np.ndarray]] = []
        for article, chunks, embeddings in items:
            ids += [c.chunk_id for c in chunks]
            vecs.append(np.asarray(embeddings, dtype=np.float32).reshape(-1, dim))
            docs += [c.text for c in chunks]
            metas += [_meta(c, article.content_hash) for c in chunks]
            doc_vec = (embeddings.mean(axis=0) if len(embeddings)
                       else np.zeros(dim, dtype=np.float32))
            records.append((article, doc_vec / (np.linalg.norm(doc_vec) or 1.0)))
        allvecs = np.concatenate(vecs)
        for i in range(0, len(ids), _BATCH):
            self.chunks.upsert(ids=ids[i : i + _BATCH], embeddings=allvecs[i : i + _BATCH],
                               documents=docs[i : i + _BATCH], metadatas=metas[i : i + _BATCH])
        return Staged(tuple(records), tuple(sorted(old - set(ids))))

    def put_record(self, article: Article, vector: np.ndarray | None = None) -> None:
        """Write an article's record; keeps its stored vector when none is given."""
        if vector is None:
            got = self.docs.get(ids=[article.doc_id], include=["embeddings"])
            if not got["ids"]:
                raise StoreError(f"no record for {article.doc_id} to update")
            vector = np.asarray(got["embeddings"][0])
        self.put_records([(article, vector)])

    def put_records(self, records: Sequence[tuple[Article, np.ndarray]]) -> None:
        """Write article records in one upsert: what makes their chunks count."""
        if not records:
            return
        self.docs.upsert(ids=[a.doc_id for a, _ in records],
                         embeddings=np.stack([np.asarray(v, dtype=np.float32)
                                              for _, v in records]),
                         documents=[a.text for a, _ in records],
                         metadatas=[_record_meta(a) for a, _ in records])
        self._articles, self._snap = None, None

    def remove_orphans(self, live: set[str]) -> int:
        """Delete chunks not in ``live`` (left by a crash or a replaced article)."""
        dead = [cid for cid in self.chunks.get(include=[])["ids"] if cid not in live]
        for i in range(0, len(dead), _BATCH):
            self.chunks.delete(ids=dead[i : i + _BATCH])
        return len(dead)

    def remove_article(self, doc_id: str) -> None:
        """Delete an article: its record first (so its chunks stop counting), then chunks."""
        self.docs.delete(ids=[doc_id])
        self.chunks.delete(where={"doc_id": doc_id})
        self._articles, self._snap = None, None

    # ---- one document (listing, opening, removing) ---------------------------------------

    def records(self) -> dict[str, dict[str, Any]]:  # Any: Chroma metadata
        """Every article record's metadata (title, source_path, published, added, ...)."""
        got = self.docs.get(include=["metadatas"])
        return {did: dict(m or {}) for did, m in zip(got["ids"], got["metadatas"])}

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        """The live chunks of one article, in reading order."""
        article = self.articles(max_age=0).get(doc_id)
        if article is None:
            return []
        got = self.chunks.get(where={"doc_id": doc_id}, include=["documents", "metadatas"])
        chunks = [_chunk(cid, text, m) for cid, text, m in
                  zip(got["ids"], got["documents"], got["metadatas"])
                  if m.get("content_hash") == article.content_hash]
        return sorted(chunks, key=lambda c: (c.start, c.end))

    def chunk_vectors(self) -> str | None:
        """How the stored chunk vectors were made (``Settings.chunk_vectors``), None when
        there are none. Stores from before it was recorded (2026-12-08) embedded the chunk
        text, in int8 by default."""
        if not self.chunk_count():
            return None
        return str((self.chunks.metadata or {}).get("chunk_vectors", "int8"))

    def record_chunk_vectors(self, kind: str) -> None:
        """Record how the chunk vectors are made (see ``chunk_vectors``)."""
        meta = dict(self.chunks.metadata or {})
        if meta.get("chunk_vectors") != kind:
            meta["chunk_vectors"] = kind
            meta.pop("hnsw:space", None)  # as in commit: fixed at creation
            self.chunks.modify(metadata=meta)

    def commit(self, fingerprint: str) -> None:
        """Mark the end of an indexing run."""
        meta = dict(self.chunks.metadata or {})
        meta["fingerprint"] = fingerprint
        meta.pop("hnsw:space", None)
        self.chunks.modify(metadata=meta)
        if not self.settings.chroma_url:
            (self.settings.home / COMMITTED).write_text(fingerprint, encoding="utf-8")
            # What the next engine reads instead of opening Chroma (rag.snapshot).
            self._snap = None
            self.write_snapshot(self.articles(max_age=0))


@contextlib.contextmanager
def index_lock(settings: Settings, wait: float = 30.0) -> Iterator[None]:
    """Exclusive lock for writers of one RAG_HOME; waits up to ``wait`` seconds."""
    try:
        settings.home.mkdir(parents=True, exist_ok=True)
        fh = open(settings.home / "index.lock", "a+")
    except OSError as e:
        raise StoreError(_os_message(e, settings.home)) from e
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreError(
                        f"another 'rag index' is writing to {settings.home}; wait for it to "
                        "finish and try again") from None
                time.sleep(0.2)
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()


def _live(settings: Settings) -> Settings:
    """``settings`` with ``home`` where the live ``chroma/`` is (an embedded store)."""
    return settings if settings.chroma_url else settings.with_(home=live_home(settings.home))


def list_collections(settings: Settings) -> list[str]:
    """The collection names in this RAG_HOME (or Chroma server) that hold an index."""
    settings = _live(settings)
    if not settings.chroma_url and not (settings.home / "chroma").exists():
        return []
    client = _client(settings, create=False)
    try:
        names = {getattr(c, "name", c) for c in client.list_collections()}
    except Exception as e:
        if settings.chroma_url and _is_transport(e):
            raise _server_error(settings, e) from e
        raise store_error(e, settings) from e
    return sorted(n[: -len("_chunks")] for n in names
                  if isinstance(n, str) and n.endswith("_chunks")
                  and f"{n[: -len('_chunks')]}_docs" in names)


def drop_collection(settings: Settings) -> None:
    """Delete ``settings.collection``'s chunks and records (``rag index --rebuild``); other
    collections in the same RAG_HOME are left alone. Absent is fine."""
    settings = _live(settings)
    if not settings.chroma_url and not (settings.home / "chroma").exists():
        return
    client = _client(settings, create=True)
    for suffix in ("_chunks", "_docs"):
        try:
            client.delete_collection(f"{settings.collection}{suffix}")
        except Exception as e:
            if settings.chroma_url and _is_transport(e):
                raise _server_error(settings, e) from e
            if "does not exist" in str(e) or "NotFound" in type(e).__name__:
                continue  # absent is fine
            raise store_error(e, settings) from e
