"""Conversations that last: every turn stored in SQLite under RAG_HOME, resumable and exportable.

One file per RAG_HOME (``conversations.sqlite3``), one row per conversation and one per turn; the
answer of each turn is kept whole (``Answer.to_dict()``), so a resumed conversation shows its
sources again and an export quotes them. SQLite in WAL mode serialises writers itself, so the
page, the REST routes and the CLI can share the file.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.chat import Turn
from rag.errors import ConversationNotFound, StoreError
from rag.types import Answer, Citation

FILE_NAME = "conversations.sqlite3"
TITLE_CHARS = 80

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    collection TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS turns (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    question TEXT NOT NULL,
    standalone TEXT NOT NULL,
    answer TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
CREATE INDEX IF NOT EXISTS conversations_updated ON conversations(collection, updated);
"""


@dataclass(frozen=True)
class ConversationInfo:
    """A conversation as listed: no turns."""

    id: str
    title: str
    collection: str
    created: float
    updated: float
    turns: int

    def to_dict(self) -> dict[str, Any]:  # Any: JSON
        return {"id": self.id, "title": self.title, "collection": self.collection,
                "created": _iso(self.created), "updated": _iso(self.updated),
                "turns": self.turns}


@dataclass(frozen=True)
class Conversation:
    """A stored conversation with its turns, oldest first."""

    info: ConversationInfo
    turns: tuple[Turn, ...]

    def to_dict(self) -> dict[str, Any]:  # Any: JSON
        return {**self.info.to_dict(),
                "messages": [{"question": t.question, "standalone": t.standalone,
                              "answer": t.answer.to_dict()} for t in self.turns]}


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def title_for(question: str) -> str:
    """A conversation's title: its first question, cut at a word near ``TITLE_CHARS``."""
    q = " ".join(question.split())
    if len(q) <= TITLE_CHARS:
        return q
    cut = q.rfind(" ", 0, TITLE_CHARS - 1)
    return q[: cut if cut > TITLE_CHARS // 2 else TITLE_CHARS - 1] + "…"


def answer_from_dict(d: Mapping[str, Any]) -> Answer:  # Any: JSON
    """The ``Answer`` that ``Answer.to_dict()`` wrote."""
    cites = tuple(
        Citation(n=int(c["n"]), doc_id=c["doc_id"], title=c.get("title", ""),
                 published=c.get("published"), quote=c.get("quote", ""),
                 start=int(c.get("start", 0)), end=int(c.get("end", 0)),
                 score=float(c.get("score", 0.0)), also_in=tuple(c.get("also_in") or ()),
                 note=c.get("note"), source=c.get("source", ""),
                 page=int(c["page"]) if c.get("page") is not None else None)
        for c in d.get("citations") or ())
    return Answer(question=d.get("question", ""), text=d.get("text", ""), citations=cites,
                  refused=bool(d.get("refused")), confidence=float(d.get("confidence", 0.0)),
                  backend=d.get("backend", "extractive"),
                  timings=dict(d.get("timings") or {}),
                  unsupported=tuple(d.get("unsupported") or ()))


class ConversationStore:
    """The conversations of one RAG_HOME. Thread-safe: a connection per call."""

    def __init__(self, home: Path) -> None:
        self.path = Path(home) / FILE_NAME
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._db() as db:
                db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot keep conversations in {self.path} ({e}); set RAG_HOME "
                             "to a writable folder") from e

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10)
        try:
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA journal_mode = WAL")
            with db:  # one transaction: committed on success, rolled back on error
                yield db
        except sqlite3.Error as e:
            raise StoreError(f"the conversation store {self.path} failed ({e}); "
                             "your earlier conversations are unchanged") from e
        finally:
            db.close()

    def create(self, collection: str, title: str = "") -> ConversationInfo:
        """A new, empty conversation over ``collection``."""
        now = time.time()
        cid = secrets.token_hex(8)
        with self._db() as db:
            db.execute("INSERT INTO conversations VALUES (?, ?, ?, ?, ?)",
                       (cid, title_for(title) if title else "New conversation", collection,
                        now, now))
        return ConversationInfo(cid, title or "New conversation", collection, now, now, 0)

    def list(self, collection: str | None = None, limit: int = 200) -> list[ConversationInfo]:
        """Conversations, the most recently used first (of one collection when given)."""
        sql = ("SELECT c.id, c.title, c.collection, c.created, c.updated, COUNT(t.seq) "
               "FROM conversations c LEFT JOIN turns t ON t.conversation_id = c.id ")
        args: list[Any] = []  # Any: SQL parameters
        if collection is not None:
            sql += "WHERE c.collection = ? "
            args.append(collection)
        sql += "GROUP BY c.id ORDER BY c.updated DESC LIMIT ?"
        args.append(limit)
        with self._db() as db:
            return [ConversationInfo(*row) for row in db.execute(sql, args)]

    def info(self, cid: str) -> ConversationInfo:
        with self._db() as db:
            row = db.execute(
                "SELECT c.id, c.title, c.collection, c.created, c.updated, COUNT(t.seq) "
                "FROM conversations c LEFT JOIN turns t ON t.conversation_id = c.id "
                "WHERE c.id = ? GROUP BY c.id", (cid,)).fetchone()
        if row is None:
            raise ConversationNotFound(f"no conversation {cid!r}; list them with "
                                       "GET /api/conversations")
        return ConversationInfo(*row)

    def get(self, cid: str) -> Conversation:
        """A conversation with all its turns."""
        info = self.info(cid)
        with self._db() as db:
            rows = db.execute("SELECT question, standalone, answer FROM turns "
                              "WHERE conversation_id = ? ORDER BY seq", (cid,)).fetchall()
        turns = tuple(Turn(q, s, answer_from_dict(json.loads(a))) for q, s, a in rows)
        return Conversation(info, turns)

    def add_turn(self, cid: str, turn: Turn) -> ConversationInfo:
        """Append ``turn``; the first one also names the conversation."""
        info = self.info(cid)
        now = time.time()
        with self._db() as db:
            db.execute("INSERT INTO turns VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM "
                       "turns WHERE conversation_id = ?), ?, ?, ?, ?)",
                       (cid, cid, turn.question, turn.standalone,
                        json.dumps(turn.answer.to_dict(), ensure_ascii=False), now))
            title = title_for(turn.question) if info.turns == 0 else info.title
            db.execute("UPDATE conversations SET updated = ?, title = ? WHERE id = ?",
                       (now, title, cid))
        return ConversationInfo(cid, title, info.collection, info.created, now, info.turns + 1)

    def rename(self, cid: str, title: str) -> None:
        self.info(cid)
        with self._db() as db:
            db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title_for(title), cid))

    def delete(self, cid: str) -> None:
        """Forget a conversation and its turns."""
        self.info(cid)
        with self._db() as db:
            db.execute("DELETE FROM conversations WHERE id = ?", (cid,))


def answer_with_sources(answer: Answer) -> str:
    """One answer as Markdown: its text, then its numbered sources with their quotes."""
    lines = [answer.text.strip()]
    if answer.citations:
        lines.append("")
        for c in answer.citations:
            page = f"p. {c.page}" if c.page else ""
            where = ", ".join(x for x in (c.source, c.published or "", page) if x)
            lines.append(f"[{c.n}] *{c.title or c.doc_id}*" + (f" ({where})" if where else "")
                         + f": “{' '.join(c.quote.split())}”")
    return "\n".join(lines)


def to_markdown(conversation: Conversation) -> str:
    """The conversation as Markdown: each question, the question searched for when a follow-up
    was rewritten, the answer with its markers and the numbered sources it cites."""
    info = conversation.info
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(info.created))
    out = [f"# {info.title}", "", f"Collection *{info.collection}*, started {started}."]
    for i, t in enumerate(conversation.turns, 1):
        out += ["", f"## {i}. {t.question.strip()}", ""]
        if t.standalone.strip() != t.question.strip():
            out += [f"*Searched for: {t.standalone.strip()}*", ""]
        out.append(answer_with_sources(t.answer))
    return "\n".join(out) + "\n"
