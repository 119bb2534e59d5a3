"""What the page and the REST routes share: an engine per collection, conversations, documents.

Engines are built on first use (so the server starts fast and `/api/health` never loads a
model) and reloaded after the collection changes, so new articles are answerable at once and
removed ones are gone at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from index import IndexReport, index_bundled
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
from rag.errors import IndexNotFound, IngestError, InvalidOption, StoreError
from rag.settings import DEFAULT_COLLECTION, Settings, check_collection, check_k
from rag.store import list_collections
from rag.types import Answer, Article
from ui.uploads import (
    StoredUpload,
    UploadRejected,
    check_upload,
    display_name,
    store_uploads,
)

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one uploaded file, under the name the user gave it."""

    name: str
    indexed: bool
    message: str = ""  # skipped: what is wrong and what to do; indexed: a warning or note
    doc_id: str = ""
    same_story_as: str = ""  # the indexed article this one was folded into, if any

    def to_dict(self) -> dict[str, Any]:  # Any: JSON
        return {"name": self.name, "status": "indexed" if self.indexed else "skipped",
                "message": self.message, "doc_id": self.doc_id,
                "same_story_as": self.same_story_as}


@dataclass(frozen=True)
class AddResult:
    """What an upload did: the files kept, the indexer's report (None when no file reached the
    indexer), one outcome per file."""

    files: tuple[StoredUpload, ...]
    report: IndexReport | None
    outcomes: tuple[FileOutcome, ...] = ()

    @property
    def indexed(self) -> tuple[FileOutcome, ...]:
        return tuple(o for o in self.outcomes if o.indexed)

    @property
    def skipped(self) -> tuple[FileOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.indexed)

    def summary(self) -> str:
        """'2 indexed, 1 skipped: scan.pdf'."""
        text = f"{len(self.indexed)} indexed, {len(self.skipped)} skipped"
        return text + (": " + ", ".join(o.name for o in self.skipped) if self.skipped else "")

    def to_dict(self) -> dict[str, Any]:  # Any: JSON
        """The REST API's upload result: one entry per file, and the summary."""
        return {"indexed": len(self.indexed), "skipped": len(self.skipped),
                "summary": self.summary(), "files": [o.to_dict() for o in self.outcomes]}


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
        except (IndexNotFound, StoreError):  # a damaged store is reported when it is used
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
                                on_empty=index_bundled if name == DEFAULT_COLLECTION else None)
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

    @property
    def uploads_dir(self) -> Path:
        """Where uploaded files are kept (shared by every collection)."""
        return uploads_dir(self.settings.home)

    def is_indexed(self) -> bool:
        """Whether a store exists, without opening it (cheap, for the health route)."""
        if self.settings.chroma_url:
            return True
        from rag.store import has_index

        return has_index(self.settings)

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
        """Check, store and index every file that can be read; each file gets an outcome.

        A bad file never stops the others: it is reported (what is wrong, what to do) and
        not kept. Raises ``IngestError`` only when no file was given at all.
        """
        report_progress = progress or (lambda _f, _d: None)
        if not files:
            raise IngestError("no file was given; choose a .txt, .md, .html, .pdf or .docx file")
        name = self.collection(collection)
        report_progress(0.0, f"Checking {len(files)} file{'s' if len(files) != 1 else ''}")
        outcomes: dict[int, FileOutcome] = {}
        checked: list[tuple[int, str, bytes, str]] = []
        for i, (file_name, data) in enumerate(files):
            try:
                suffix = check_upload(file_name, data, self.settings.max_file_bytes)
                checked.append((i, file_name, data, suffix))
            except UploadRejected as e:
                outcomes[i] = FileOutcome(display_name(file_name), False,
                                          _reason(str(e), file_name))
        stored: list[tuple[int, StoredUpload]] = []
        report: IndexReport | None = None
        with self._index_lock:
            if checked:
                written = store_uploads([(n, d, s) for _, n, d, s in checked],
                                        self.uploads_dir)
                stored = [(c[0], s) for c, s in zip(checked, written, strict=True)]
                try:
                    from index import IndexProgress
                    from index.child import index_in_child

                    names = {s.path.name: s.original_name for _, s in stored}

                    def tell(p: IndexProgress) -> None:  # the user's file names, not ours
                        p = replace(p, current=names.get(p.current, p.current))
                        report_progress(0.02 + 0.93 * p.fraction, p.describe())

                    # In a child process: answering keeps its CPU time and memory meanwhile,
                    # the memory indexing takes is returned, and a native crash ends only the
                    # child. Its progress comes back over a pipe.
                    report = index_in_child([s.path for _, s in stored],
                                            self.settings_for(name), progress=tell)
                except BaseException:
                    for _, s in stored:  # nothing changes on failure: forget the new files
                        if s.is_new:
                            s.path.unlink(missing_ok=True)
                    raise
                outcomes.update(_outcomes(stored, report))
                remember_upload_names(self.settings.home,
                                      {s.path.stem: s.original_name for i, s in stored
                                       if outcomes[i].indexed})
                report_progress(0.96, "Reloading the index")
                self._reload(name)
        report_progress(1.0, "Done")
        kept = tuple(s for i, s in stored if outcomes[i].indexed)
        return AddResult(kept, report, tuple(outcomes[i] for i in sorted(outcomes)))


def _reason(message: str, name: str) -> str:
    """A rejection message without the file name it starts with (the outcome carries it)."""
    shown = display_name(name)
    return message[len(shown) + 2 :] if message.startswith(f"{shown}: ") else message


def _outcomes(stored: Sequence[tuple[int, StoredUpload]],
              report: IndexReport) -> dict[int, FileOutcome]:
    """The indexer's report, file by file, under the names the user gave. Files the indexer
    skipped are not kept."""
    skipped = {p.path: p.message for p in report.skipped}
    warnings: dict[str, list[str]] = {}
    for p in report.warnings:
        warnings.setdefault(p.path, []).append(p.message)
    ids = {path: doc_id for doc_id, path in report.sources}
    folded = dict(report.duplicates)
    out: dict[int, FileOutcome] = {}
    for i, s in stored:
        path = str(s.path)
        if path in skipped:
            if s.is_new:
                s.path.unlink(missing_ok=True)
            out[i] = FileOutcome(s.original_name, False, skipped[path])
            continue
        notes = list(warnings.get(path, []))
        if not s.is_new:
            notes.insert(0, "already indexed")
        doc_id = ids.get(path, s.path.stem)
        out[i] = FileOutcome(s.original_name, True, "; ".join(notes), doc_id,
                             folded.get(doc_id, ""))
    return out
