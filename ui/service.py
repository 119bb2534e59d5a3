"""What the page and the REST routes share: an engine per collection, conversations, documents.

Engines are built on first use (so the server starts fast and `/api/health` never loads a
model) and reloaded after the collection changes, so new articles are answerable at once and
removed ones are gone at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from index import IndexReport
from index.manage import ReindexReport, RemoveReport
from rag.backends import configured_backends
from rag.chat import Chat, Turn
from rag.conversations import Conversation, ConversationInfo, ConversationStore, to_markdown
from rag.documents import (
    DocumentDetail,
    DocumentInfo,
    list_documents,
    open_document,
    remember_upload_names,
    uploads_dir,
)
from rag.engine import Engine, check_question
from rag.errors import IndexNotFound, IngestError, InvalidOption
from rag.settings import DEFAULT_COLLECTION, Settings, check_collection, check_k
from rag.store import list_collections
from rag.types import Answer, Article
from ui.uploads import MAX_UPLOAD_BYTES, StoredUpload, check_upload, store_upload

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class AddResult:
    """What an upload did: the files taken and the indexer's report."""

    files: tuple[StoredUpload, ...]
    report: IndexReport


class Service:
    """One engine per collection, shared by every page session and REST request."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engines: dict[str, Engine] = {}
        self._engine_lock = threading.Lock()
        self._index_lock = threading.Lock()  # one writer at a time; readers are never blocked
        self._conversations: ConversationStore | None = None

    # -- collections and engines -----------------------------------------------------------

    def collection(self, name: str | None) -> str:
        """A checked collection name; the configured one when ``name`` is empty."""
        return check_collection(name) if name else self.settings.collection

    def settings_for(self, collection: str | None) -> Settings:
        return self.settings.with_(collection=self.collection(collection))

    def collections(self) -> list[str]:
        """The collections that hold an index, and always the configured one."""
        try:
            names = set(list_collections(self.settings))
        except IndexNotFound:
            names = set()
        return sorted(names | {self.settings.collection})

    def engine(self, collection: str | None = None) -> Engine:
        """The collection's shared engine, built once on first use."""
        name = self.collection(collection)
        with self._engine_lock:
            engine = self._engines.get(name)
            if engine is None:
                # Only the default collection fills itself with the bundled articles.
                engine = Engine(self.settings_for(name),
                                auto_index=name == DEFAULT_COLLECTION)
                self._engines[name] = engine
            return engine

    def _reload(self, collection: str) -> None:
        with self._engine_lock:
            engine = self._engines.get(collection)
        if engine is not None:
            engine.reload()

    def backends(self) -> list[str]:
        """The answering backends that are configured (the others cannot answer)."""
        return configured_backends(self.settings)

    def check_backend(self, backend: str | None) -> str | None:
        if backend and backend not in self.backends():
            raise InvalidOption(f"the backend {backend!r} is not configured here; choose one "
                                f"of: {', '.join(self.backends())}", "backend")
        return backend or None

    def is_indexed(self) -> bool:
        """Whether a store exists, without opening it (cheap, for the health route)."""
        if self.settings.chroma_url:
            return True
        return (Path(self.settings.home) / "chroma").exists()

    # -- answering -------------------------------------------------------------------------

    def new_chat(self, collection: str | None = None, k: int | None = None,
                 backend: str | None = None, conversation_id: str | None = None) -> Chat:
        """A chat over ``collection``; a stored conversation's turns are its history."""
        history: Sequence[Turn] = ()
        if conversation_id:
            conversation = self.conversations.get(conversation_id)
            history = conversation.turns
            collection = collection or conversation.info.collection
        return Chat(self.engine(collection), backend=self.check_backend(backend),
                    k=None if k is None else check_k(k), history=history)

    def stream(self, question: str, chat: Chat) -> Iterator[str | Answer]:
        """Text deltas as they come, then the final Answer; the turn joins ``chat``'s history."""
        q = check_question(question)
        yield from chat.stream(q)

    def answer(self, question: str, chat: Chat) -> Answer:
        final: Answer | None = None
        for item in self.stream(question, chat):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def load_messages(self, chat: Chat, history: Sequence[Mapping[str, str]]) -> None:
        """Replay a REST client's earlier turns (role/content messages) into ``chat``."""
        question: str | None = None
        for m in history:
            if m.get("role") == "user":
                question = m.get("content", "")
            elif m.get("role") == "assistant" and question:
                standalone = chat.condense(question)
                answer = Answer(question=standalone, text=m.get("content", ""))
                chat.history.append(Turn(question, standalone, answer))
                question = None

    def articles(self, collection: str | None = None) -> Mapping[str, Article]:
        return self.engine(collection).articles()

    # -- conversations ---------------------------------------------------------------------

    @property
    def conversations(self) -> ConversationStore:
        if self._conversations is None:
            self._conversations = ConversationStore(self.settings.home)
        return self._conversations

    def start_conversation(self, collection: str | None = None) -> ConversationInfo:
        return self.conversations.create(self.collection(collection))

    def record_turn(self, conversation_id: str, chat: Chat) -> ConversationInfo:
        """Keep ``chat``'s latest turn in the stored conversation."""
        return self.conversations.add_turn(conversation_id, chat.history[-1])

    def list_conversations(self, collection: str | None = None) -> list[ConversationInfo]:
        return self.conversations.list(self.collection(collection) if collection else None)

    def conversation(self, conversation_id: str) -> Conversation:
        return self.conversations.get(conversation_id)

    def export_conversation(self, conversation_id: str) -> str:
        return to_markdown(self.conversations.get(conversation_id))

    def delete_conversation(self, conversation_id: str) -> None:
        self.conversations.delete(conversation_id)

    # -- documents -------------------------------------------------------------------------

    def documents(self, collection: str | None = None) -> list[DocumentInfo]:
        try:
            store = self.engine(collection).store
        except IndexNotFound:
            return []
        return list_documents(store, self.settings.home)

    def document(self, doc_id: str, collection: str | None = None) -> DocumentDetail:
        return open_document(self.engine(collection).store, self.settings.home, doc_id)

    def remove_documents(self, doc_ids: Sequence[str],
                         collection: str | None = None) -> RemoveReport:
        from index.manage import remove_documents

        name = self.collection(collection)
        with self._index_lock:
            report = remove_documents(doc_ids, self.settings_for(name))
            self._reload(name)
        return report

    def reindex_document(self, doc_id: str, collection: str | None = None) -> ReindexReport:
        from index.manage import reindex_document

        name = self.collection(collection)
        with self._index_lock:
            report = reindex_document(doc_id, self.settings_for(name))
            self._reload(name)
        return report

    def add_files(self, files: Sequence[tuple[str, bytes]], progress: Progress | None = None,
                  collection: str | None = None) -> AddResult:
        """Check every file, store and index them all, or change nothing and raise IngestError."""
        report_progress = progress or (lambda _f, _d: None)
        report_progress(0.05, "Checking files")
        if not files:
            raise IngestError("no file was given; choose a .txt, .md or .html article")
        name = self.collection(collection)
        checked = [(n, data, check_upload(n, data, MAX_UPLOAD_BYTES)) for n, data in files]
        with self._index_lock:
            folder = uploads_dir(self.settings.home)
            stored = [store_upload(n, d, folder, s) for n, d, s in checked]
            report_progress(0.2, "Indexing (reading, chunking, embedding)")
            try:
                from index import index_paths

                # progress=True drives tqdm, which the page's gr.Progress(track_tqdm) shows
                report = index_paths([s.path for s in stored], self.settings_for(name),
                                     progress=True)
            except BaseException:
                for s in stored:  # nothing changes on failure: forget the files we just wrote
                    if s.is_new:
                        s.path.unlink(missing_ok=True)
                raise
            remember_upload_names(self.settings.home,
                                  {s.path.stem: s.original_name for s in stored})
            report_progress(0.95, "Reloading the index")
            self._reload(name)
        report_progress(1.0, "Done")
        return AddResult(tuple(stored), report)
