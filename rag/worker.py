"""Nearest-neighbour searches in a supervised child process.

Chroma's vector search runs native code (hnswlib) over files on disk: one damaged byte in an
index file can end the process that runs it with SIGSEGV. Run there, a crash takes down one
child, not the server: the question gets a ``StoreError`` naming the fix, and the next search
starts a fresh child. The child answers one search at a time over a pipe; the cost is a pickle
round trip of the query vector and the results (measured in docs/reliability.md).

A child keeps Chroma's in-memory copy of the index, which does not see later writes: it is
reopened whenever the store's fingerprint changes (every committed indexing run).

The dense search itself is LlamaIndex's (``llama_nearest``: its Chroma vector store queried
with the question's embedding), and it runs in the child too: importing LlamaIndex costs
about 2 s of CPU, which the child spends on the other core while this process loads spaCy
and reads the articles, instead of on the first question's path.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

SEARCH_TIMEOUT = 30.0  # seconds for one search (a healthy one takes milliseconds)
START_TIMEOUT = 120.0  # importing chromadb and opening the store in a fresh child

Nearest = list[tuple[str, str, dict[str, Any], float]]  # (node_id, text, metadata, score)


def llama_nearest(collection: Any, embedding: list[float], n: int) -> Nearest:  # Any: Chroma's
    """The ``n`` chunks nearest ``embedding``, best first, by LlamaIndex's vector store over a
    Chroma collection: what its ``VectorIndexRetriever`` returns for a question whose
    embedding is given (Chroma stores the text, so no docstore is read), as plain tuples
    that cross a pipe."""
    from llama_index.core.vector_stores.types import VectorStoreQuery
    from llama_index.vector_stores.chroma import ChromaVectorStore

    got = ChromaVectorStore(chroma_collection=collection).query(
        VectorStoreQuery(query_embedding=embedding, similarity_top_k=n))
    scores = got.similarities or [0.0] * len(got.nodes or [])
    return [(node.node_id, node.get_content(), dict(node.metadata), float(score or 0.0))
            for node, score in zip(got.nodes or [], scores, strict=True)]


def _serve(conn: Connection, path: str, collection: str) -> None:  # pragma: no cover - child
    """The child: open the collection, then answer ``(op, payload)`` messages until told."""
    # No telemetry: the parent's Store set ANONYMIZED_TELEMETRY (rag.settings.offline_env)
    # before starting us, and the client below is told so too. Nothing of rag/ is imported
    # here: the child starts fast.
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    import chromadb
    from chromadb.api.client import SharedSystemClient
    from chromadb.config import Settings as ChromaSettings

    def open_collection() -> Any:  # Any: a Chroma collection
        SharedSystemClient.clear_system_cache()  # drop the stale in-memory index
        client = chromadb.PersistentClient(
            path=path, settings=ChromaSettings(anonymized_telemetry=False))
        return client.get_collection(collection, embedding_function=None)

    def opened(col: Any) -> tuple[str, str]:  # Any: a Chroma collection
        # The fingerprint of what was opened: the parent compares it with the store's.
        return "ok", str((col.metadata or {}).get("fingerprint", ""))

    # The parent may be gone before the index is open (it was started early and the store
    # failed to open there too, or the process ended): then end quietly.
    try:
        col = open_collection()
    except Exception as e:  # noqa: BLE001 - reported to the parent, which names the fix
        with contextlib.suppress(OSError):
            conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    try:
        conn.send(opened(col))
    except OSError:
        return
    # Imported now, while the parent is still loading its own parts, not on the first search.
    with contextlib.suppress(ImportError):
        import llama_index.vector_stores.chroma  # noqa: F401
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent is gone (a reset: it never read "opened")
            return
        if message is None:
            return
        op, payload = message
        reply: tuple[str, Any]  # Any: what the op returns
        try:
            if op == "reopen":
                col = open_collection()
                reply = opened(col)
            elif op == "nearest":
                reply = ("ok", llama_nearest(col, **payload))
            else:
                reply = ("ok", col.query(**payload))
        except Exception as e:  # noqa: BLE001 - the search failed; the child lives on
            reply = ("error", f"{type(e).__name__}: {e}")
        try:
            conn.send(reply)
        except OSError:  # the parent left without waiting for the answer
            return


class SearchWorker:
    """One supervised child searching one collection of one embedded store."""

    def __init__(self, path: Path, collection: str, home: Path) -> None:
        self.path = path
        self.collection = collection
        self.home = home
        self.fingerprint: str | None = None
        self.restarts = 0
        self.last_failure = ""  # how the last child ended: "died", "timeout" or "error"
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._opening = False  # started; its "opened" message not read yet
        self._lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------

    def start_soon(self) -> None:
        """Start the child now without waiting for it: it imports chromadb and opens the
        index (about 1 s) on the other core while this process loads its own parts; the
        first search then finds it ready."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._stop()
                self._spawn()

    def _spawn(self) -> None:
        # A fresh interpreter running this file as a script: never a fork of a threaded
        # server, and unlike multiprocessing's spawn it does not re-import the caller's main
        # module (a user's script calling rag.answer() at top level keeps working); -P keeps
        # rag/ itself off sys.path (its types.py would hide the standard library's).
        parent, child = socket.socketpair()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-P", __file__, str(child.fileno()), str(self.path),
                 self.collection],
                pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, close_fds=True)
        finally:
            child.close()
        self._proc, self._conn = proc, Connection(parent.detach())
        self._opening = True

    def _stop(self) -> None:
        if self._opening and self._proc is not None:
            self._proc.kill()  # still starting: it holds nothing worth a graceful end
        if self._conn is not None:
            try:
                self._conn.send(None)
            except OSError:
                pass
            self._conn.close()
        if self._proc is not None:
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        self._proc, self._conn, self._opening = None, None, False

    def close(self) -> None:
        with self._lock:
            self._stop()

    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # -- calls ------------------------------------------------------------------------------

    def _receive(self, timeout: float, what: str) -> Any:  # Any: Chroma's result
        assert self._conn is not None and self._proc is not None
        try:
            ready = self._conn.poll(timeout)
            if ready:
                status, value = self._conn.recv()
            else:
                status, value = "timeout", None
        except (EOFError, OSError):
            status, value = "died", None
        if status == "ok":
            return value
        from rag.errors import StoreError

        if status == "error" and self._proc.poll() is None:  # the child lives on
            raise StoreError(f"the vector index under {self.home} cannot be read while "
                             f"{what} ({str(value)[:160]}); rebuild it with "
                             "'rag index --rebuild'")
        if status != "timeout":
            with _suppress_timeout():
                self._proc.wait(timeout=2)
        code = self._proc.poll()
        self._stop()
        self.fingerprint = None
        self.restarts += 1
        self.last_failure = status
        if status == "error":
            raise StoreError(f"the vector index under {self.home} cannot be read while "
                             f"{what} ({str(value)[:160]}); rebuild it with "
                             "'rag index --rebuild'")
        if status == "timeout":
            raise StoreError(f"the vector search under {self.home} did not finish in "
                             f"{timeout:g} s; it was restarted. If this repeats, rebuild the "
                             "index with 'rag index --rebuild'")
        how = (f"signal {signal.Signals(-code).name}" if code is not None and code < 0
               else f"exit code {code}")
        raise StoreError(f"the vector index under {self.home} is damaged (the search process "
                         f"ended with {how} while {what}); rebuild it with "
                         "'rag index --rebuild'. Other questions keep being answered.")

    def query(self, fingerprint: str, **kwargs: Any) -> Any:  # Any: Chroma's
        """``collection.query(**kwargs)`` in the child, reopened first if the store changed.

        A child found dead is replaced and the search tried once more: one that died between
        searches (killed, out of memory) costs nothing; one that the search itself crashes
        crashes again, and the question gets the error."""
        return self._call(fingerprint, "query", kwargs)

    def nearest(self, fingerprint: str, embedding: list[float], n: int) -> Nearest:
        """``llama_nearest`` over the collection, in the child (retried like ``query``)."""
        found: Nearest = self._call(fingerprint, "nearest", {"embedding": embedding, "n": n})
        return found

    def _call(self, fingerprint: str, op: str, payload: dict[str, Any]) -> Any:  # Any: the op's
        from rag.errors import StoreError

        self.last_failure = ""
        try:
            return self._query(fingerprint, op, payload)
        except StoreError:
            if self.last_failure != "died":  # a clean error, or a hang: no second try
                raise
            return self._query(fingerprint, op, payload)

    def _query(self, fingerprint: str, op: str, payload: dict[str, Any]) -> Any:  # Any: the op's
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._stop()
                self._spawn()
            if self._opening:
                self.fingerprint = self._receive(START_TIMEOUT, "opening the vector index")
                self._opening = False
            if fingerprint != self.fingerprint:  # a commit since the child opened the index
                assert self._conn is not None
                self._conn.send(("reopen", None))
                self._receive(START_TIMEOUT, "reopening the vector index")
                self.fingerprint = fingerprint
            assert self._conn is not None
            try:
                self._conn.send((op, payload))
            except OSError:
                pass  # it died between searches; _receive reports it
            return self._receive(SEARCH_TIMEOUT, "searching")


def _suppress_timeout() -> contextlib.suppress:
    return contextlib.suppress(subprocess.TimeoutExpired)


_workers: dict[tuple[str, str], SearchWorker] = {}
_workers_lock = threading.Lock()


def search_worker(path: Path, collection: str, home: Path) -> SearchWorker:
    """The shared worker for ``collection`` of the store at ``path`` (one per process)."""
    key = (str(path.resolve()), collection)
    with _workers_lock:
        worker = _workers.get(key)
        if worker is None:
            worker = _workers[key] = SearchWorker(path, collection, home)
        return worker


class IsolatedCollection:
    """A Chroma collection whose ``query`` runs in the search worker; all else passes through.

    LlamaIndex's ``ChromaVectorStore`` takes this in place of the collection."""

    def __init__(self, collection: Callable[[], Any], worker: SearchWorker,  # Any: Chroma's
                 fingerprint: Callable[[], str]) -> None:
        """``collection`` gives the collection in this process, for all but the searches:
        called when first needed (an engine started from a snapshot never opens it)."""
        self._c = collection
        self._worker = worker
        self._fingerprint = fingerprint  # the store's current fingerprint

    def query(self, **kwargs: Any) -> Any:  # Any: Chroma's
        for key in ("query_embeddings",):
            value = kwargs.get(key)
            if value is not None and hasattr(value, "tolist"):
                kwargs[key] = value.tolist()
        return self._worker.query(self._fingerprint(), **kwargs)

    def nearest(self, embedding: list[float], n: int) -> Nearest:
        """``llama_nearest`` run in the search worker."""
        return self._worker.nearest(self._fingerprint(), embedding, n)

    def __getattr__(self, name: str) -> Any:  # Any: Chroma's
        return getattr(self._c(), name)


def nearest(collection: Any, embedding: list[float], n: int) -> Nearest:  # Any: Chroma's
    """LlamaIndex's nearest chunks: in the search worker for an embedded store, here for a
    Chroma server's collection (its searches already run in another process)."""
    if isinstance(collection, IsolatedCollection):
        return collection.nearest(embedding, n)
    return llama_nearest(collection, embedding, n)


if __name__ == "__main__":  # the child: python worker.py FD PATH COLLECTION
    _serve(Connection(int(sys.argv[1])), sys.argv[2], sys.argv[3])
