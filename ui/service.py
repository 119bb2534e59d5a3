"""What the page and the REST routes share: one engine, question checks, chat, uploads.

The engine is built on first use (so the server starts fast and `/api/health` never loads a
model) and rebuilt after an upload is indexed, so new articles are answerable at once.
"""

from __future__ import annotations

import importlib
import inspect
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import IngestError, InvalidQuestion
from rag.settings import MAX_QUESTION_CHARS, Settings
from rag.types import Answer, Article
from ui.uploads import MAX_UPLOAD_BYTES, StoredUpload, check_upload, store_uploads

Progress = Callable[[float, str], None]


def check_question(question: object) -> str:
    """The question, stripped; ``InvalidQuestion`` if it is empty, too long or not text."""
    if not isinstance(question, str):
        raise InvalidQuestion("the question must be text")
    q = question.strip()
    if not q:
        raise InvalidQuestion("the question is empty; type a question about the articles")
    if len(q) > MAX_QUESTION_CHARS:
        raise InvalidQuestion(
            f"the question is {len(q)} characters; the limit is {MAX_QUESTION_CHARS}"
        )
    return q


def _chat_class() -> type | None:
    """``rag.chat.Chat`` when that module exists (multi-turn with condensed follow-ups)."""
    try:
        return importlib.import_module("rag.chat").Chat
    except (ImportError, AttributeError):
        return None


def _accepted(fn: Callable[..., Any], **kwargs: Any) -> dict[str, Any]:
    """The keyword arguments ``fn`` takes, so optional settings pass only where understood."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return {k: v for k, v in kwargs.items() if v is not None}
    return {k: v for k, v in kwargs.items() if k in params and v is not None}


@dataclass(frozen=True)
class AddResult:
    """What an upload did: the files taken and the indexer's report."""

    files: tuple[StoredUpload, ...]
    report: Any


class Service:
    """One engine per server, shared by every page session and REST request."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: Any = None
        self._engine_lock = threading.Lock()
        self._index_lock = threading.Lock()  # one upload at a time; readers are never blocked

    @property
    def uploads_dir(self) -> Path:
        return Path(self.settings.home) / "uploads"

    def engine(self) -> Any:
        """The shared engine, built once on first use."""
        if self._engine is None:
            with self._engine_lock:
                if self._engine is None:
                    from rag.engine import Engine

                    self._engine = Engine(self.settings)
        return self._engine

    def _refresh(self) -> None:
        """See newly indexed articles: ask the engine to reload, or build a fresh one."""
        engine = self._engine
        for name in ("refresh", "reload"):
            if engine is not None and callable(getattr(engine, name, None)):
                getattr(engine, name)()
                return
        with self._engine_lock:
            self._engine = None

    # -- answering -------------------------------------------------------------------------

    def new_chat(self) -> Any:
        """A conversation object when ``rag.chat.Chat`` exists, else ``None`` (single turns)."""
        chat_cls = _chat_class()
        return chat_cls(self.engine()) if chat_cls is not None else None

    def answer(
        self,
        question: str,
        k: int | None = None,
        backend: str | None = None,
        history: Sequence[Mapping[str, str]] | None = None,
    ) -> Answer:
        """One answer; ``history`` (role/content messages) makes it a follow-up when Chat exists."""
        q = check_question(question)
        chat = self.new_chat() if history else None
        if chat is not None:
            _configure(chat, k, backend)
            _load_history(chat, history or ())
            return chat.ask(q)
        engine = self.engine()
        return engine.answer(q, **_accepted(engine.answer, k=k, backend=backend))

    def stream(
        self, question: str, chat: Any = None, k: int | None = None, backend: str | None = None
    ) -> Iterator[str | Answer]:
        """Text deltas, then the final Answer (through ``chat`` when given, to keep history)."""
        q = check_question(question)
        if chat is not None:
            _configure(chat, k, backend)
            yield from chat.stream(q)
            return
        engine = self.engine()
        yield from engine.stream(q, **_accepted(engine.stream, k=k, backend=backend))

    def articles(self) -> Mapping[str, Article]:
        return self.engine().articles()

    def documents(self) -> list[dict[str, Any]]:
        return list(self.engine().documents())

    def backends(self) -> list[str]:
        from rag.backends import BACKENDS

        return list(BACKENDS)

    def is_indexed(self) -> bool:
        """Whether a store exists, without opening it (cheap, for the health route)."""
        if self.settings.chroma_url:
            return True
        from rag.store import has_index

        return has_index(self.settings)

    # -- uploads ---------------------------------------------------------------------------

    def add_files(
        self, files: Sequence[tuple[str, bytes]], progress: Progress | None = None
    ) -> AddResult:
        """Check every file, store and index them all, or change nothing and raise IngestError."""
        report_progress = progress or (lambda _f, _d: None)
        report_progress(0.05, "Checking files")
        if not files:
            raise IngestError("no file was given; choose a .txt, .md or .html article")
        checked = [(name, data, check_upload(name, data, MAX_UPLOAD_BYTES)) for name, data in files]
        with self._index_lock:
            stored = store_uploads(checked, self.uploads_dir)
            report_progress(0.2, "Indexing (reading, chunking, embedding)")
            try:
                from index.child import index_in_child

                # In a child process: answering keeps its CPU time and memory meanwhile, the
                # memory indexing takes is returned, and a native crash ends only the child.
                report = index_in_child([s.path for s in stored], self.settings)
            except BaseException:
                for s in stored:  # nothing changes on failure: forget the files we just wrote
                    if s.is_new:
                        s.path.unlink(missing_ok=True)
                raise
            report_progress(0.95, "Reloading the index")
            self._refresh()
        report_progress(1.0, "Done")
        return AddResult(tuple(stored), report)


def _configure(chat: Any, k: int | None, backend: str | None) -> None:
    """Apply the page's (or request's) settings to a Chat before its next turn."""
    if k is not None and hasattr(chat, "k"):
        chat.k = k
    if backend and hasattr(chat, "backend"):
        chat.backend = backend


def _load_history(chat: Any, history: Sequence[Mapping[str, str]]) -> None:
    """Replay a REST conversation's earlier turns into a fresh Chat (no answering needed)."""
    from rag.chat import Turn

    question: str | None = None
    for m in history:
        if m.get("role") == "user":
            question = m.get("content", "")
        elif m.get("role") == "assistant" and question:
            standalone = chat.condense(question)
            answer = Answer(question=standalone, text=m.get("content", ""))
            chat.history.append(Turn(question, standalone, answer))
            question = None
