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
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from rag.errors import EmbeddingMismatch, IndexNotFound, StoreError
from rag.settings import Settings
from rag.types import Article, Chunk

SCHEMA = 1
_BATCH = 1000


def _client(settings: Settings, create: bool) -> Any:
    """A Chroma client for ``settings``: server when a URL is set, else embedded."""
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
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
    try:
        path.mkdir(parents=True, exist_ok=True)
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

    def __init__(self, collection: Any, settings: Settings) -> None:
        self._c = collection
        self._settings = settings

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._c, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
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


def _meta(chunk: Chunk, content_hash: str) -> dict[str, Any]:
    return {"doc_id": chunk.doc_id, "start": chunk.start, "end": chunk.end, "title": chunk.title,
            "published": chunk.published or "", "content_hash": content_hash,
            "also_in": json.dumps(list(chunk.also_in)), "source": chunk.source}


def _record_meta(article: Article) -> dict[str, Any]:
    return {"title": article.title, "source_path": article.source_path,
            "published": article.published or "", "content_hash": article.content_hash,
            "also_published_as": json.dumps(list(article.also_published_as)),
            "source": article.source, "pages": json.dumps([list(p) for p in article.pages]),
            "added": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def _pages(m: dict[str, Any]) -> tuple[tuple[int, int], ...]:
    """An article record's page map: where each page begins in its text."""
    return tuple((int(at), int(page)) for at, page in json.loads(m.get("pages") or "[]"))


def _chunk(cid: str, text: str, m: dict[str, Any]) -> Chunk:
    return Chunk(chunk_id=cid, doc_id=m["doc_id"], text=text, start=int(m["start"]),
                 end=int(m["end"]), title=m.get("title", ""), published=m.get("published") or None,
                 also_in=tuple(json.loads(m.get("also_in") or "[]")), source=m.get("source", ""))


class Store:
    """One RAG_HOME's collections. Cheap to construct; thread-safe for reads."""

    def __init__(self, settings: Settings, *, create: bool = False,
                 embed_model: str = "", dim: int = 0) -> None:
        self.settings = settings
        self.client = _client(settings, create)
        name = settings.collection
        try:
            if create:
                meta = {"embed_model": embed_model, "dim": dim, "schema": SCHEMA}
                cfg = {"hnsw": {"space": "cosine"}}
                self.chunks = self.client.get_or_create_collection(
                    f"{name}_chunks", metadata=meta, configuration=cfg, embedding_function=None)
                self.docs = self.client.get_or_create_collection(
                    f"{name}_docs", metadata=meta, configuration=cfg, embedding_function=None)
            else:
                self.chunks = self.client.get_collection(f"{name}_chunks", embedding_function=None)
                self.docs = self.client.get_collection(f"{name}_docs", embedding_function=None)
        except StoreError:
            raise
        except Exception as e:
            if settings.chroma_url and _is_transport(e):
                raise _server_error(settings, e) from e
            if "does not exist" in str(e) or "NotFound" in type(e).__name__:
                raise IndexNotFound(f"no index under {self.where}; run 'rag index' first") from e
            raise store_error(e, settings) from e
        if settings.chroma_url:
            self.chunks, self.docs = _Guarded(self.chunks, settings), _Guarded(self.docs, settings)
        if embed_model:
            self.check_model(embed_model, dim)
        self._articles: dict[str, Article] | None = None
        self._articles_at = 0.0
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        return self.settings.chroma_url or str(self.settings.home)

    def check_model(self, embed_model: str, dim: int) -> None:
        """Refuse a store that another embedding model built."""
        meta = self.chunks.metadata or {}
        if meta.get("embed_model") and (meta.get("embed_model") != embed_model
                                        or int(meta.get("dim", dim)) != dim):
            raise EmbeddingMismatch(
                f"the index under {self.where} was built with {meta.get('embed_model')} "
                f"({meta.get('dim')} dims) but {embed_model} ({dim} dims) is configured; "
                "re-index with 'rag index --rebuild'")

    # ---- reads -------------------------------------------------------------------------

    def articles(self, max_age: float = 1.0) -> dict[str, Article]:
        """Every article record, cached for ``max_age`` seconds (other processes may write)."""
        with self._lock:
            if self._articles is None or time.monotonic() - self._articles_at > max_age:
                got = self.docs.get(include=["documents", "metadatas"])
                arts = {}
                for did, text, m in zip(got["ids"], got["documents"], got["metadatas"]):
                    arts[did] = Article(
                        doc_id=did, title=m.get("title", ""), text=text,
                        source_path=m.get("source_path", ""), published=m.get("published") or None,
                        content_hash=m.get("content_hash", ""),
                        also_published_as=tuple(json.loads(m.get("also_published_as") or "[]")),
                        source=m.get("source", ""),
                        pages=_pages(m))
                self._articles, self._articles_at = arts, time.monotonic()
            return self._articles

    def chunk_count(self) -> int:
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
        return str((self.chunks.metadata or {}).get("fingerprint", ""))

    # ---- writes (callers hold the index lock) -------------------------------------------

    def put_article(self, article: Article, chunks: Sequence[Chunk],
                    embeddings: np.ndarray) -> None:
        """Replace ``article``'s chunks with ``chunks``, then write its record (the commit)."""
        self.put_articles([(article, chunks, embeddings)])

    def put_articles(self, items: Sequence[tuple[Article, Sequence[Chunk], np.ndarray]]) -> None:
        """Several articles in a few round trips: every chunk first, then every record (the
        commit point), then the old chunks they replace. A crash anywhere leaves each article
        either wholly old or wholly new to readers."""
        if not items:
            return
        dim = next((int(np.shape(e)[1]) for _, _, e in items if np.ndim(e) == 2), 384)
        doc_ids = [a.doc_id for a, _, _ in items]
        got = self.chunks.get(where={"doc_id": {"$in": doc_ids}}, include=[])
        old = set(got["ids"])
        ids: list[str] = []
        vecs: list[np.ndarray] = []
        docs: list[str] = []
        metas: list[dict[str, Any]] = []
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
        self.put_records(records)
        stale = sorted(old - set(ids))
        for i in range(0, len(stale), _BATCH):
            self.chunks.delete(ids=stale[i : i + _BATCH])
        self._articles = None

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
        self._articles = None

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
        self._articles = None

    # ---- one document (listing, opening, removing) ---------------------------------------

    def records(self) -> dict[str, dict[str, Any]]:
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

    def commit(self, fingerprint: str) -> None:
        """Mark the end of an indexing run."""
        meta = dict(self.chunks.metadata or {})
        meta["fingerprint"] = fingerprint
        meta.pop("hnsw:space", None)
        self.chunks.modify(metadata=meta)


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


def list_collections(settings: Settings) -> list[str]:
    """The collection names in this RAG_HOME (or Chroma server) that hold an index."""
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
