"""What the page and the REST routes share: one engine, question checks, chat, uploads.

The engine is built on first use (so the server starts fast and `/api/health` never loads a
model) and rebuilt after an upload is indexed, so new articles are answerable at once.
"""

from __future__ import annotations

import importlib
import inspect
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rag.errors import IngestError, InvalidQuestion
from rag.settings import MAX_QUESTION_CHARS, Settings
from rag.types import Answer, Article
from ui.uploads import StoredUpload, UploadRejected, check_upload, display_name, store_upload

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
class FileOutcome:
    """What happened to one uploaded file, under the name the user gave it."""

    name: str
    indexed: bool
    message: str = ""  # skipped: what is wrong and what to do; indexed: a warning or note
    doc_id: str = ""
    same_story_as: str = ""  # the indexed article this one was folded into, if any

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": "indexed" if self.indexed else "skipped",
                "message": self.message, "doc_id": self.doc_id,
                "same_story_as": self.same_story_as}


@dataclass(frozen=True)
class AddResult:
    """What an upload did: the files taken, the indexer's report, one outcome per file."""

    files: tuple[StoredUpload, ...]
    report: Any
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

    def to_dict(self) -> dict[str, Any]:
        """The REST API's upload result: one entry per file, and the summary."""
        return {"indexed": len(self.indexed), "skipped": len(self.skipped),
                "summary": self.summary(), "files": [o.to_dict() for o in self.outcomes]}


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
        return (Path(self.settings.home) / "chroma").exists()

    # -- uploads ---------------------------------------------------------------------------

    def add_files(
        self, files: Sequence[tuple[str, bytes]], progress: Progress | None = None
    ) -> AddResult:
        """Check, store and index every file that can be read; each file gets an outcome.

        A bad file never stops the others: it is reported (what is wrong, what to do) and
        not kept. Raises ``IngestError`` only when no file was given at all.
        """
        report_progress = progress or (lambda _f, _d: None)
        if not files:
            raise IngestError("no file was given; choose a .txt, .md, .html, .pdf or .docx file")
        report_progress(0.0, f"Checking {len(files)} file{'s' if len(files) != 1 else ''}")
        outcomes: dict[int, FileOutcome] = {}
        checked: list[tuple[int, str, bytes, str]] = []
        for i, (name, data) in enumerate(files):
            try:
                suffix = check_upload(name, data, self.settings.max_file_bytes)
                checked.append((i, name, data, suffix))
            except UploadRejected as e:
                outcomes[i] = FileOutcome(display_name(name), False, _reason(str(e), name))
        stored: list[tuple[int, StoredUpload]] = []
        report = None
        with self._index_lock:
            if checked:
                stored = [(i, store_upload(n, d, self.uploads_dir, s)) for i, n, d, s in checked]
                try:
                    from index import IndexProgress, index_paths

                    names = {s.path.name: s.original_name for _, s in stored}

                    def tell(p: IndexProgress) -> None:  # the user's file names, not ours
                        p = replace(p, current=names.get(p.current, p.current))
                        report_progress(0.02 + 0.93 * p.fraction, p.describe())

                    report = index_paths([s.path for _, s in stored], self.settings,
                                         progress=tell)
                except BaseException:
                    for _, s in stored:  # nothing changes on failure: forget the new files
                        if s.is_new:
                            s.path.unlink(missing_ok=True)
                    raise
                report_progress(0.96, "Reloading the index")
                self._refresh()
        if report is not None:
            outcomes.update(_outcomes(stored, report))
        report_progress(1.0, "Done")
        kept = tuple(s for i, s in stored if outcomes[i].indexed)
        return AddResult(kept, report, tuple(outcomes[i] for i in sorted(outcomes)))


def _reason(message: str, name: str) -> str:
    """A rejection message without the file name it starts with (the outcome carries it)."""
    shown = display_name(name)
    return message[len(shown) + 2 :] if message.startswith(f"{shown}: ") else message


def _outcomes(stored: Sequence[tuple[int, StoredUpload]], report: Any) -> dict[int, FileOutcome]:
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
