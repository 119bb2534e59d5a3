"""Multi-turn chat: keeps the history and turns follow-ups into standalone questions.

"and what did Putin say about it?" cannot be retrieved on its own; it is rewritten as
"What did Putin say about the attack?" first: by the LLM when the backend is one (checked, and
replaced by the rules when the model's rewrite is unusable), by rules with the extractive backend.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.errors import BackendError
from rag.settings import check_k
from rag.types import Answer

if TYPE_CHECKING:
    from rag.engine import Engine
    from rag.settings import Settings

_QUESTION_WORDS = {"what", "when", "where", "who", "whom", "why", "how", "which", "whose"}
_AUX = {
    "did", "does", "do", "is", "was", "were", "are", "has", "have", "had", "will", "can",
    "could", "would", "should",
}  # fmt: skip
_LEADING = re.compile(r"^\s*(?:and|but|so|also|then|ok(?:ay)?|well)\b[\s,]*", re.IGNORECASE)
_ELLIPSIS = re.compile(r"^(?:and\s+)?(?:what|how)\s+about\s+(.+?)\??$|^and\s+(.+?)\?$", re.I)
_NAME = re.compile(r"\b(?:[A-Z][\w'’.-]*|U\.S\.)(?:\s+(?:[A-Z][\w'’.-]*|of|the)\b)*")
_THE_PHRASE = re.compile(r"\b(?:the|this|that)\s+((?:[a-z][a-z-]+\s+){0,2}[a-z][a-z-]+)")
_STOP = {
    "a", "an", "the", "of", "to", "in", "on", "at", "about", "for", "with", "by", "from",
    "and", "or", "that", "this", "it", "they", "he", "she", "say", "said", "tell", "told",
    *_AUX, *_QUESTION_WORDS,
}  # fmt: skip
_PRONOUNS = {
    "it": "thing", "its": "thing_pos", "that": "thing", "this": "thing",
    "they": "group", "them": "group", "their": "group_pos",
    "he": "person", "him": "person", "his": "person_pos",
    "she": "person", "her": "person_pos", "there": "place",
}  # fmt: skip
# "that" and "this" are pronouns only when nothing nominal follows: "about that?", "that happen"
_DEMONSTRATIVE_NEXT = {"", "happen", "happened", "mean", "is", "was", "be", "true"}


@dataclass(frozen=True)
class Turn:
    """One exchange: what was asked, what was searched for, what came back."""

    question: str
    standalone: str
    answer: Answer


def _names(question: str) -> list[str]:
    """Capitalised names in a question, skipping its capitalised first word when it is common."""
    out = []
    for m in _NAME.finditer(question):
        name = m.group(0).strip()
        first = name.split()[0].lower()
        if m.start() == 0 and (first in _QUESTION_WORDS or first in _AUX or first in _STOP):
            rest = name.split()[1:]
            if not rest:
                continue
            name = " ".join(rest)
        name = re.sub(r"\s+(?:of|the)$", "", name)
        if name and name.lower() not in _STOP:
            out.append(name)
    return out


def _things(question: str) -> list[str]:
    """Definite noun phrases ("the attack", "the concert hall") in a question."""
    out = []
    for m in _THE_PHRASE.finditer(question):
        words = m.group(1).split()
        while words and words[-1] in _STOP:
            words.pop()
        # keep the nominal part: stop at the first word that only a verb phrase would carry
        kept: list[str] = []
        for w in words:
            if w in _STOP:
                break
            kept.append(w)
        if kept:
            out.append("the " + " ".join(kept))
    return out


def _topic(question: str) -> str:
    """What a question is about, for "it": its last definite noun phrase, or its core words."""
    things = _things(question)
    if things:
        return things[-1]
    about = re.search(r"\b(?:about|of|on)\s+([^?]+)", question)
    if about:
        return about.group(1).strip()
    words = re.findall(r"[\w'’.-]+", question.rstrip("?"))
    while words and (words[0].lower() in _QUESTION_WORDS or words[0].lower() in _AUX):
        words.pop(0)
    return " ".join(words)


def _the(name: str, question: str) -> str:
    return f"the {name}" if re.search(rf"\bthe\s+{re.escape(name)}", question) else name


def condense_rules(question: str, previous: list[str]) -> str:
    """Rewrite ``question`` as a standalone question using the previous standalone questions."""
    q = " ".join(question.split())
    if not previous or not q:
        return q
    prev = previous[-1]
    names = [n for n in _names(prev) if n.lower() not in q.lower()]

    ellipsis = _ELLIPSIS.match(q)
    target = (ellipsis.group(1) or ellipsis.group(2)) if ellipsis else ""
    if target and len(target.split()) <= 4 and target.split()[0].lower() not in _QUESTION_WORDS:
        # "what about Iran?" after "When did the US warn Russia?" -> "When did Iran warn Russia?"
        new = target.strip()
        old = _names(prev)
        if old:
            return re.sub(rf"(?:\bthe\s+)?{re.escape(old[0])}", new, prev, count=1)
        return f"{prev.rstrip('?')} ({new})?"

    tokens = re.findall(r"\w+(?:['’]\w+)?|[^\w\s]", q)
    out: list[str] = []
    replaced = False
    for i, tok in enumerate(tokens):
        kind = _PRONOUNS.get(tok.lower())
        nxt = tokens[i + 1].lower() if i + 1 < len(tokens) else ""
        if tok.lower() in {"that", "this"} and nxt.isalpha() and nxt not in _DEMONSTRATIVE_NEXT:
            kind = None
        if kind is None:
            out.append(tok)
            continue
        sub: str | None
        if kind.startswith("thing"):
            sub = _topic(prev)
        elif kind == "place":
            sub = names[-1] if names else None
            sub = f"in {sub}" if sub and (i == 0 or tokens[i - 1].lower() != "in") else sub
        else:
            sub = _the(names[0], prev) if names else None
        if not sub:
            out.append(tok)
            continue
        out.append(sub + ("'s" if kind.endswith("_pos") else ""))
        replaced = True
    text = _detok(out)
    text = _LEADING.sub("", text)
    if not replaced and _LEADING.match(q):
        # "and when?" carries no pronoun: borrow the previous question's subject
        text = f"{text.rstrip('?')} ({_topic(prev)})?"
    return text[:1].upper() + text[1:]


def _detok(tokens: list[str]) -> str:
    text = " ".join(tokens)
    return re.sub(r"\s+([?.!,;:])", r"\1", text)


def _clean_rewrite(raw: str) -> str:
    line = next((ln.strip() for ln in raw.strip().splitlines() if ln.strip()), "")
    line = re.sub(
        r"^(?:standalone question|question|rewritten question)\s*:\s*", "", line, flags=re.I
    )
    return line.strip(" \"'“”")


class Chat:
    """A conversation: ``ask`` / ``stream`` answer each question in the light of the history."""

    def __init__(
        self,
        engine: Engine | None = None,
        *,
        settings: Settings | None = None,
        backend: str | None = None,
        k: int | None = None,
        history_turns: int = 3,
        history: Sequence[Turn] = (),
    ) -> None:
        if engine is None:
            from rag.engine import Engine, default_on_empty
            from rag.settings import Settings

            engine = Engine(settings or Settings.from_env(), on_empty=default_on_empty())
        self.engine = engine
        self.settings: Settings = settings or engine.settings
        self.backend = backend or self.settings.backend
        self.k = None if k is None else check_k(k)
        self.history_turns = history_turns
        self.history: list[Turn] = list(history)  # a stored conversation resumes here

    def reset(self) -> None:
        self.history.clear()

    def condense(self, question: str) -> str:
        """The standalone form of ``question`` given the history (itself when there is none)."""
        if not self.history:
            return question.strip()
        rules = condense_rules(question, [t.standalone for t in self.history])
        if self.backend == "extractive":
            return rules
        return self._condense_llm(question) or rules

    def _condense_llm(self, question: str) -> str | None:
        from rag.backends import get_synthesizer
        from rag.llm import CONDENSE_PROMPT

        try:
            synth = get_synthesizer(self.backend, self.settings)
            complete = getattr(synth, "complete", None)
            if complete is None:
                return None
            lines = []
            for t in self.history[-self.history_turns :]:
                lines += [f"User: {t.standalone}", f"Assistant: {t.answer.text[:300]}"]
            lines.append(f"Last question: {question.strip()}")
            rewrite = _clean_rewrite(
                complete([("system", CONDENSE_PROMPT), ("user", "\n".join(lines))], 64)
            )
        except BackendError:
            return None  # the answer call will report the failure; the rules still condense
        return rewrite if self._usable(question, rewrite) else None

    def _usable(self, question: str, rewrite: str) -> bool:
        """A small model's rewrite is kept only when it is a short question keeping the names."""
        if not rewrite or not 3 <= len(rewrite.split()) <= 40 or not rewrite.endswith("?"):
            return False
        low = rewrite.lower()
        if any(n.lower() not in low for n in _names(question)):
            return False
        # a follow-up rewrite must say what the pronoun meant: share a word with the history
        prev = set(re.findall(r"\w+", self.history[-1].standalone.lower())) - _STOP
        return bool(prev & set(re.findall(r"\w+", low)))

    def ask(self, question: str) -> Answer:
        """Answer ``question`` as part of this conversation."""
        standalone = self.condense(question)
        answer = self.engine.answer(standalone, k=self.k, backend=self.backend)
        self.history.append(Turn(question, standalone, answer))
        return answer

    def stream(self, question: str) -> Iterator[str | Answer]:
        """Text deltas, then the final ``Answer``; the turn is recorded when the stream ends."""
        standalone = self.condense(question)
        for item in self.engine.stream(standalone, k=self.k, backend=self.backend):
            if isinstance(item, Answer):
                self.history.append(Turn(question, standalone, item))
            yield item
