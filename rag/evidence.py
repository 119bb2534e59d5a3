"""Sentence-level evidence: which sentences of the retrieved passages answer the question,
and whether any do (the refusal decision, made before any synthesizer runs)."""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.embeddings import Embedder
from rag.text import fold, split_sentences, terms
from rag.types import Passage

_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
          r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
DATE_RX = re.compile(
    rf"\b(?:{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?|\d{{1,2}}\s+{_MONTH}(?:\s+\d{{4}})?"
    rf"|(?:on|last|this|next|since|by)\s+{_WEEKDAY}|{_WEEKDAY}|(?:early|late|mid)[- ](?:this\s+)?"
    rf"(?:month|week|year)|earlier this (?:month|week|year)|(?:19|20)\d\d"
    rf"|\w+ (?:days|weeks|months) (?:before|after|earlier|later|prior)|yesterday|today)\b",
    re.IGNORECASE,
)
NUMBER_RX = re.compile(
    r"\b(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"dozens?|hundreds?|thousands?)\b", re.IGNORECASE)
_QUESTION_WORDS = {"when", "what", "who", "whom", "whose", "where", "why", "how", "which", "did",
                   "does", "do", "is", "are", "was", "were", "has", "have", "had", "can", "could",
                   "will", "would", "should", "according", "the", "a", "an", "in", "on"}
_YESNO = re.compile(r"^(?:did|does|do|is|are|was|were|has|have|had|can|could|will|would)\b",
                    re.IGNORECASE)


@dataclass(frozen=True)
class Query:
    """A question, analysed once."""

    text: str
    terms: tuple[str, ...]
    kind: str  # when | number | who | where | why | yesno | what
    entities: tuple[str, ...]  # folded, stemmed names and numbers the answer must be about


def analyze(question: str) -> Query:
    """The kind of answer wanted and the names the question is about."""
    q = question.strip()
    low = fold(q)
    if re.search(r"\bwhen\b|\bwhat (?:day|date|time|month|year)\b|\bwhich (?:day|date)\b", low):
        kind = "when"
    elif re.search(r"\bhow many\b|\bhow much\b|\bdeath toll\b|\bnumber of\b"
                   r"|\bwhat (?:was|is) the toll\b", low):
        kind = "number"
    elif re.search(r"\bwho\b|\bwhom\b|\bwhose\b", low):
        kind = "who"
    elif re.search(r"\bwhere\b", low):
        kind = "where"
    elif re.search(r"\bwhy\b", low):
        kind = "why"
    elif _YESNO.match(low):
        kind = "yesno"
    else:
        kind = "what"
    ents: list[str] = []
    words = re.findall(r"[\w][\w'’.\-]*", q)
    for i, w in enumerate(words):
        bare = w.strip(".'’-")
        if not bare:
            continue
        is_name = bare[0].isupper() and (i > 0 or bare.lower() not in _QUESTION_WORDS)
        if (is_name and bare.lower() not in _QUESTION_WORDS) or bare.isdigit():
            ents.extend(terms(bare))
    return Query(text=q, terms=tuple(terms(q)), kind=kind, entities=tuple(dict.fromkeys(ents)))


@dataclass(frozen=True)
class Evidence:
    """One candidate sentence; ``start``/``end`` are offsets into its article's text."""

    passage: Passage
    start: int
    end: int
    text: str
    score: float
    dense: float
    lexical: float


@dataclass(frozen=True)
class Decision:
    """Whether the sources answer the question, and how sure we are (0..1)."""

    refuse: bool
    confidence: float
    features: tuple[float, ...]


class SentenceCache:
    """Sentence spans and embeddings per chunk, computed on first need (bounded LRU)."""

    def __init__(self, embedder: Embedder, size: int = 20000) -> None:
        self.embedder = embedder
        self.size = size
        self._data: OrderedDict[str, tuple[list[tuple[int, int]], np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, passages: Sequence[Passage]) -> list[tuple[list[tuple[int, int]], np.ndarray]]:
        with self._lock:
            missing = [p for p in passages if p.chunk_id not in self._data]
        if missing:
            spans = [split_sentences(p.text, base=p.start) for p in missing]
            flat = [p.text[s - p.start : e - p.start] for p, sp in zip(missing, spans)
                    for s, e in sp]
            vecs = self.embedder.embed(flat)
            i = 0
            with self._lock:
                for p, sp in zip(missing, spans):
                    self._data[p.chunk_id] = (sp, vecs[i : i + len(sp)])
                    i += len(sp)
                while len(self._data) > self.size:
                    self._data.popitem(last=False)
        with self._lock:
            out = []
            for p in passages:
                self._data.move_to_end(p.chunk_id)
                out.append(self._data[p.chunk_id])
            return out


def score_sentences(query: Query, qvec: np.ndarray, passages: Sequence[Passage],
                    cache: SentenceCache, idf: Callable[[str], float]) -> list[Evidence]:
    """Every sentence of ``passages`` scored against the question, best first, no repeats."""
    qterms = set(query.terms)
    total = sum(idf(t) for t in qterms) or 1.0
    out: list[Evidence] = []
    seen: set[tuple[str, int]] = set()
    for p, (spans, vecs) in zip(passages, cache.get(passages)):
        sims = vecs @ qvec if len(spans) else np.zeros(0)
        for (s, e), sim in zip(spans, sims):
            if (p.doc_id, s) in seen:  # overlapping chunks share sentences
                continue
            seen.add((p.doc_id, s))
            text = p.text[s - p.start : e - p.start]
            st = set(terms(text))
            lex = sum(idf(t) for t in qterms & st) / total
            bonus = _kind_bonus(query, text)
            score = 0.5 * float(sim) + 0.5 * lex + bonus + 0.03 * p.score
            if len(text) < 25:  # headlines and fragments answer little on their own
                score -= 0.1
            out.append(Evidence(p, s, e, text, score, float(sim), lex))
    out.sort(key=lambda ev: -ev.score)
    return out


def _kind_bonus(query: Query, text: str) -> float:
    """Reward sentences holding the kind of fact asked for, near the words asked about."""
    kind = query.kind
    if kind == "when":
        return 0.16 * _near(query, text, DATE_RX)
    if kind == "number":
        return 0.16 * _near(query, text, NUMBER_RX)
    if kind == "who":
        return 0.05 if re.search(r"\b[A-Z][a-z]+ [A-Z][a-z]+", text) else 0.0
    return 0.0


def _near(query: Query, text: str, rx: re.Pattern[str]) -> float:
    """1.0 when a match of ``rx`` stands right beside a question word (not a name), less
    with distance, more when the sentence uses the question's verb in the past tense
    ("warned ... on March 7" beats "told ... on April 2 that the US warning"); 0 without a
    match."""
    found = mentions(query, text, rx)
    return max((w for _, w in found), default=0.0)


def mentions(query: Query, text: str, rx: re.Pattern[str]) -> list[tuple[str, float]]:
    """Each match of ``rx`` in ``text`` with its closeness to what the question asks about."""
    spans = [m.span() for m in rx.finditer(text)]
    if not spans:
        return []
    focus = set(query.terms) - set(query.entities)
    words = [(m.start(), m.end(), m.group()) for m in re.finditer(r"[\w'’.\-]+", text)]
    hits = [i for i, (_, _, w) in enumerate(words) if set(terms(w)) & focus]
    verb = _past_tense(query)
    boost = 0.5 if verb and re.search(rf"\b{verb}", fold(text)) else 0.0
    out = []
    for s, e in spans:
        idx = [i for i, (ws, we, _) in enumerate(words) if ws < e and we > s]
        weight = 0.3
        if hits and idx:
            dist = min(min(abs(h - idx[0]), abs(h - idx[-1])) for h in hits)
            weight = max(weight, 1.0 / (1.0 + max(0, dist - 1) / 2.0))
        out.append((text[s:e], weight + boost))
    return out


def _past_tense(query: Query) -> str | None:
    """"did the US warn" -> "warned": the verb form a sentence reporting the fact would use."""
    m = re.search(r"\b(?:did|does|do)\b(?:\s+\S+){1,4}?\s+([a-z]{3,})\b", fold(query.text))
    if not m or m.group(1) in STOP_VERBS:
        return None
    v = m.group(1)
    return v + "d" if v.endswith("e") else v + "ed"


STOP_VERBS = frozenset({"the", "say", "tell", "make", "have", "get", "come", "go", "take"})


def decide(query: Query, evidence: Sequence[Evidence], passages: Sequence[Passage]) -> Decision:
    """Refuse when the best evidence is weak or a name the question asks about is absent."""
    if not evidence:
        return Decision(True, 0.0, (0.0, 0.0, 0.0))
    top = evidence[0]
    dense = max(e.dense for e in evidence[:5])
    lex = max(e.lexical for e in evidence[:5])
    found = set()
    for p in passages[:5]:
        found |= set(terms(f"{p.title} {p.text}"))
    ent = (sum(1 for e in query.entities if e in found) / len(query.entities)
           if query.entities else 1.0)
    z = 7.0 * (0.45 * dense + 0.35 * lex + 0.2 * top.score + 0.6 * (ent - 1.0) - 0.45)
    conf = 1.0 / (1.0 + math.exp(-z))
    return Decision(conf < 0.5, conf, (dense, lex, ent, top.score))
