"""Sentence-level evidence: which sentences of the retrieved passages answer the question,
and whether any do (the refusal decision, made before any synthesizer runs)."""

from __future__ import annotations

import json
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.embeddings import Embedder
from rag.text import fold, question_parts, split_sentences, stem, terms
from rag.types import Article, Passage

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
CALIBRATION_PATH = Path(__file__).with_name("calibration.json")
WEEKDAY_RX = re.compile(rf"\b{_WEEKDAY}\b", re.IGNORECASE)
_QUESTION_WORDS = {"when", "what", "who", "whom", "whose", "where", "why", "how", "which", "did",
                   "does", "do", "is", "are", "was", "were", "has", "have", "had", "can", "could",
                   "will", "would", "should", "according", "the", "a", "an", "in", "on",
                   "between", "after", "before", "considering", "following", "given"}
_YESNO = re.compile(r"^(?:did|does|do|is|are|was|were|has|have|had|can|could|will|would)\b",
                    re.IGNORECASE)
_CAUSE_RX = re.compile(
    r"\b(?:because|as per|due to|consistent with|as part of|in order to|so that|reason|motive|"
    r"thinks|part of the problem|blamed?|in response|owing to|desire to)\b", re.IGNORECASE)


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Whole words of the embedder's English vocabulary: a dictionary that ships offline."""
    from rag.embeddings import model_path

    with open(model_path() / "vocab.txt", encoding="utf-8") as f:
        return frozenset(w for w in (ln.strip() for ln in f) if w.isalpha() and len(w) > 2)


class Speller:
    """Corrects a misspelt query term to a corpus term one edit away (symmetric deletes)."""

    def __init__(self, vocab: Iterable[str]) -> None:
        self.vocab = set(vocab)
        self._deletes: dict[str, list[str]] = {}
        for w in self.vocab:
            if len(w) >= 4:
                for d in _deletes(w):
                    self._deletes.setdefault(d, []).append(w)

    def correct(self, term: str, df: Mapping[str, int]) -> str | None:
        """The most frequent corpus term one edit from ``term``; None when ``term`` is known
        or nothing is close."""
        if term in self.vocab or len(term) < 4 or term.isdigit():
            return None
        found = set(self._deletes.get(term, ())) | {w for d in _deletes(term)
                                                     for w in self._deletes.get(d, ())}
        found |= {d for d in _deletes(term) if d in self.vocab}
        found = {w for w in found if _edit1(term, w)}
        return max(sorted(found), key=lambda w: df.get(w, 0)) if found else None


def _deletes(w: str) -> set[str]:
    return {w[:i] + w[i + 1 :] for i in range(len(w))}


def _edit1(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are one insertion, deletion, substitution or swap apart."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


@dataclass(frozen=True)
class Query:
    """A question, analysed once. ``terms`` and ``entities`` are spelling-corrected."""

    text: str
    terms: tuple[str, ...]
    kind: str  # when | number | who | where | why | yesno | what
    entities: tuple[str, ...]  # folded, stemmed names and numbers the answer must be about
    weekday: bool = False  # "what day of the week": only a weekday answers
    corrections: tuple[tuple[str, str], ...] = ()
    pairs: frozenset[tuple[str, str]] = frozenset()  # adjacent terms, in the question's order
    verb: str = ""  # what the asked-for thing did: "which countries warned" -> "warn"
    sources: frozenset[str] = frozenset()  # doc_ids of the articles the question names
    published: bool = False  # "when was the X article published": the article's own date


def analyze(question: str, df: Mapping[str, int] | None = None,
            speller: Speller | None = None) -> Query:
    """The kind of answer wanted and the names the question is about."""
    q = question.strip()
    low = fold(q)
    weekday = bool(re.search(r"\bday of the week\b|\b(?:which|what) day\b", low))
    if weekday or _asks_when(low) or re.search(r"\bwhat (?:date|time|month|year)\b|\bwhich date\b",
                                               low):
        kind = "when"
    elif re.search(r"\bhow many\b|\bhow much\b|\bdeath tolls?\b|\bnumber of\b"
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
    # Names are runs of capitalised words ("National Security Council", "United States"),
    # analysed as a whole so multi-word names fold as they do in the articles.
    for m in re.finditer(r"[A-Z0-9][\w'’.\-]*(?:\s+(?:of\s+)?[A-Z0-9][\w'’.\-]*)*", q):
        words = [w for w in m.group().split() if w.strip(".'’-").lower() not in _QUESTION_WORDS
                 or m.start() > 0]
        if m.start() == 0 and words and words[0].lower() in _QUESTION_WORDS:
            words = words[1:]
        ents.extend(t for t in terms(" ".join(words)))
    ents.extend(terms(" ".join(re.findall(r"\b\d+\b", q))))
    qterms = list(dict.fromkeys(terms(q)))
    fixes: dict[str, str] = {}
    if df is not None and speller is not None:
        for w in re.findall(r"[a-z]{5,}", fold(q)):
            t = stem(w)
            if t in df or w in english_words():
                continue  # known to the corpus, or a real word the corpus just lacks
            fixed = speller.correct(t, df)
            if fixed:
                fixes[t] = fixed
    seq = [fixes.get(t, t) for t in terms(q)]
    did = _VERB_RX.match(q)
    return Query(text=q, terms=tuple(fixes.get(t, t) for t in qterms), kind=kind,
                 entities=tuple(dict.fromkeys(fixes.get(e, e) for e in ents)), weekday=weekday,
                 corrections=tuple(fixes.items()), pairs=frozenset(zip(seq, seq[1:])),
                 verb=stem(fold(did.group(1))) if did else "",
                 published=kind == "when" and bool(_PUBLISHED_RX.search(low)))


_PUBLISHED_RX = re.compile(r"\b(?:article|story|piece)\b.*\bpublished\b|\bpublication date\b")


def _asks_when(low: str) -> bool:
    """"when did..." asks for a date; "which band was playing when the attack began" does not:
    there "when" only joins a clause to a question that asks something else."""
    m = re.search(r"\bwhen\b", low)
    return bool(m) and not _YESNO.match(low) and not re.search(
        r"\b(?:what|who|whom|whose|which|where|why|how)\b", low[: m.start()])


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
    """Sentence spans and embeddings per passage, computed on first need (bounded LRU).

    Keyed by chunk and span: the same chunk is widened to different windows for different
    questions, and spans of one window must never be read against another."""

    def __init__(self, embedder: Embedder, size: int = 20000) -> None:
        self.embedder = embedder
        self.size = size
        self._data: OrderedDict[tuple[str, int, int], tuple[list[tuple[int, int]], np.ndarray]] = (
            OrderedDict())
        self._lock = threading.Lock()

    def get(self, passages: Sequence[Passage]) -> list[tuple[list[tuple[int, int]], np.ndarray]]:
        with self._lock:
            missing = [p for p in passages if _key(p) not in self._data]
        if missing:
            spans = [split_sentences(p.text, base=p.start) for p in missing]
            flat = [p.text[s - p.start : e - p.start] for p, sp in zip(missing, spans)
                    for s, e in sp]
            vecs = self.embedder.embed(flat)
            i = 0
            with self._lock:
                for p, sp in zip(missing, spans):
                    self._data[_key(p)] = (sp, vecs[i : i + len(sp)])
                    i += len(sp)
                while len(self._data) > self.size:
                    self._data.popitem(last=False)
        with self._lock:
            out = []
            for p in passages:
                self._data.move_to_end(_key(p))
                out.append(self._data[_key(p)])
            return out


def _key(p: Passage) -> tuple[str, int, int]:
    return (p.chunk_id, p.start, p.end)


def score_sentences(query: Query, qvec: np.ndarray, passages: Sequence[Passage],
                    cache: SentenceCache, idf: Callable[[str], float]) -> list[Evidence]:
    """Every sentence of ``passages`` scored against the question, best first, no repeats."""
    qterms = set(query.terms) - GENERIC
    total = sum(idf(t) for t in qterms) or 1.0
    out: list[Evidence] = []
    seen: set[tuple[str, int]] = set()
    for p, (spans, vecs) in zip(passages, cache.get(passages)):
        sims = vecs @ qvec if len(spans) else np.zeros(0)
        prev_names: set[str] = set()
        for (s, e), sim in zip(spans, sims):
            text = p.text[s - p.start : e - p.start]
            st = set(terms(text))
            if _REFERS_BACK.search(text):
                st |= prev_names  # "she said": the person named just before is the speaker
            prev_names = set(terms(" ".join(_NAME_RX.findall(text))))
            if (p.doc_id, s) in seen:  # overlapping chunks share sentences
                continue
            seen.add((p.doc_id, s))
            lex = sum(idf(t) for t in qterms & st) / total
            bonus = _kind_bonus(query, text) + _order_bonus(query, text)
            score = 0.5 * float(sim) + 0.5 * lex + bonus + 0.15 * p.score
            if len(text) < 25:  # headlines and fragments answer little on their own
                score -= 0.1
            out.append(Evidence(p, s, e, text, score, float(sim), lex))
    out.sort(key=lambda ev: -ev.score)
    return out


_REFERS_BACK = re.compile(r"\b(?:he|she|they|his|her|their)\b|^[\"“]", re.IGNORECASE)
_NAME_RX = re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+")
_WHICH_RX = re.compile(r"^\s*(?:which|what)\s+(?!is\b|was\b|are\b|were\b|did\b|does\b|do\b)\w+",
                       re.IGNORECASE)
# "Which (two) countries warned ...", "Who confirmed ...": the deed that picks the answer out.
_VERB_RX = re.compile(r"^\s*(?:(?:which|what)\s+(?:two\s+|three\s+|news\s+)?\w+|who)\s+"
                      r"(\w+ed)\b", re.IGNORECASE)
_DEFINE_RX = re.compile(r"^\s*(?:what|who)\s+(?:is|are|was|were)\s+(?:the\s+)?([^?]+?)\s*\??$",
                        re.IGNORECASE)
_PLACE_RX = re.compile(r"\b(?:in|at|near|outside|on the outskirts of|based in)\s+(?:the\s+)?"
                       r"[A-Z][\w-]+|\b[A-Z][a-z]+-based\b|\bbranch in [A-Z]")


def _order_bonus(query: Query, text: str) -> float:
    """Words in the question's order: "Russia's ambassador to the US" is not "the US
    ambassador to Russia", though both hold the same words."""
    if not query.pairs:
        return 0.0
    seq = terms(text)
    got = query.pairs & set(zip(seq, seq[1:]))
    return 0.1 * len(got) / len(query.pairs)


_TERM_RX = re.compile(r"\bwhat\s+(?:term|terms|word|words|phrase|label|name)\b|\bcall(?:ed)?\b",
                      re.IGNORECASE)
_QUOTED_RX = re.compile(r"[\"“‘'][^\"”’']{2,40}[\"”’']")


def _kind_bonus(query: Query, text: str) -> float:
    """Reward sentences holding the kind of fact asked for, near the words asked about."""
    kind = query.kind
    if kind == "when":
        return 0.16 * _near(query, text, date_rx(query))
    if kind == "number":
        return 0.16 * _near(query, text, NUMBER_RX)
    if kind == "what" and _TERM_RX.search(query.text):
        return 0.3 if _QUOTED_RX.search(text) else 0.0  # the words used, in quotes
    if kind == "who" or (kind == "what" and _WHICH_RX.match(query.text)):
        # The answer is a name the question does not already hold.
        names = {n for n in _NAME_RX.findall(text) if not set(terms(n)) <= set(query.terms)}
        bonus = 0.08 if names else 0.0
        if query.verb and query.verb in terms(text):
            bonus += 0.1  # "which newspaper confirmed": the sentence that says "confirmed"
        subject = _DEFINE_RX.match(query.text)
        if subject and re.search(rf"{re.escape(subject.group(1))}\s*(?:,|–|—|-|\()", text):
            bonus += 0.1  # "ISIS-K, the Afghanistan-based affiliate": a definition
        return bonus
    if kind == "what":
        subject = _DEFINE_RX.match(query.text)
        if subject and re.search(rf"{re.escape(subject.group(1))}\s*(?:,|–|—|\()", text):
            return 0.15
        return 0.0
    if kind == "why":
        return 0.1 if _CAUSE_RX.search(text) else 0.0
    if kind == "where":
        return 0.1 if _PLACE_RX.search(text) else 0.0
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


# Question words that carry no content of their own: "when did it happen", "how long".
GENERIC = frozenset(terms("happen happened occur occurred take place long describe described "
                          "mention mentioned give make get use term kind type way"))
# Words that only restate the kind of answer wanted ("on which day of the week").
_KIND_GENERIC = {
    "when": frozenset(terms("date day week month year time")),
    "number": frozenset(terms("number many much total figure toll")),
    "where": frozenset(terms("where location place located")),
}
_PUBLISHED_GENERIC = frozenset(terms("article story piece published publication"))
FEATURES = ("dense", "lexical", "entities", "focus", "unknown", "kind", "top")


@dataclass(frozen=True)
class Calibration:
    """The refusal rule and the confidence model, fitted by ``python -m evals.calibrate``.

    Refuse unless every name the question asks about appears near the best evidence, and the
    best sentence covers at least ``focus_min`` of the question's other content (idf-weighted)
    or is at least ``dense_min`` similar to the question as a whole. The similarity excuse
    holds only while at most ``unknown_max`` of that content is known to the collection: a
    paraphrase uses the collection's words, a question about what it never mentions does not.
    Confidence is a logistic model over FEATURES fitted to "answered correctly".
    """

    focus_min: float = 0.36
    dense_min: float = 0.65  # a close paraphrase may cover the question in other words
    unknown_max: float = 1.0
    weights: tuple[float, ...] = (1.0, 2.0, 1.0, 1.0, -0.5, 0.5, 1.0)
    bias: float = -3.0
    fitted_on: str = "defaults"

    @classmethod
    def load(cls, path: Path = CALIBRATION_PATH) -> Calibration:
        if not path.exists():
            return cls()
        d = json.loads(path.read_text(encoding="utf-8"))
        return cls(focus_min=float(d["focus_min"]), dense_min=float(d["dense_min"]),
                   unknown_max=float(d.get("unknown_max", 1.0)), weights=tuple(d["weights"]),
                   bias=float(d["bias"]), fitted_on=str(d.get("fitted_on", "")))

    def refuses(self, f: Sequence[float]) -> bool:
        """The rule over FEATURES (dense, lexical, entities, focus, unknown, kind, top)."""
        dense, _, entities, focus, unknown = f[:5]
        return entities < 1.0 or (focus < self.focus_min and (
            dense < self.dense_min or unknown > self.unknown_max))


def features(query: Query, evidence: Sequence[Evidence], df: Mapping[str, int],
             articles: Mapping[str, Article] | None = None) -> tuple[float, ...]:
    """What the refusal decision reads: how close and how complete the best evidence is.
    ``articles`` lets a name introduced earlier in the article than the passage count."""
    if not evidence:
        return (0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    top = evidence[0]
    dense = max(e.dense for e in evidence[:5])
    lex = max(e.lexical for e in evidence[:5])
    ents = set(query.entities)
    generic = GENERIC | _KIND_GENERIC.get(query.kind, frozenset())
    if query.published:
        generic |= _PUBLISHED_GENERIC
    focus = [t for t in query.terms if t not in ents and t not in generic]
    n = 1 + max(df.values(), default=0)
    weight = {t: math.log(1 + n / (df.get(t, 0) + 0.5)) for t in focus}
    best_focus = 0.0
    seen: set[str] = set()  # names may be spread over the top sentences (two-part questions)
    best_share = 0.0
    for ev in _answering(query, evidence, df):
        p = ev.passage
        lo = max(0, ev.start - p.start - 250)
        near = set(terms(f"{p.title} {p.source} {p.text[lo : ev.end - p.start + 100]}"))
        # A name is introduced once ("Matthew Miller") and shortened after ("Miller told").
        seen |= near
        if ents - near:
            art = (articles or {}).get(p.doc_id)
            before = art.text[: ev.start] if art is not None else p.text[: ev.start - p.start]
            seen |= (ents - near) & set(terms(before))
        if ents:  # for a date or a figure: the names in the sentence that gives it
            own = set(terms(f"{p.title} {ev.text}"))
            best_share = max(best_share, len(ents & own) / len(ents))
        else:
            best_share = 1.0
        if focus:
            # The content words must stand near the names asked about, not anywhere.
            got = sum(w for t, w in weight.items() if t in near)
            share = len(ents & near) / len(ents) if ents else 1.0
            best_focus = max(best_focus, share * got / (sum(weight.values()) or 1.0))
    parts = question_parts(query.text)
    if len(parts) > 1:
        # A multi-part question ("does the X article say A, while the Y article says B?")
        # may be answered by several articles: judge each part against the passages found.
        pool: list[set[str]] = []
        for ev in evidence:
            ctx = set(terms(f"{ev.passage.title} {ev.passage.source} {ev.passage.text}"))
            if ctx not in pool:
                pool.append(ctx)
            if len(pool) == 10:
                break
        seen = set().union(*pool)
        covers = []
        for part in parts:
            words = [t for t in terms(part) if t not in generic]
            total = sum(math.log(1 + n / (df.get(t, 0) + 0.5)) for t in words) or 1.0
            covers.append(max(sum(math.log(1 + n / (df.get(t, 0) + 0.5))
                                  for t in words if t in ctx) / total for ctx in pool))
        best_focus = sum(covers) / len(covers)
    unknown = sum(1 for t in focus if df.get(t, 0) == 0) / len(focus) if focus else 0.0
    kind = 1.0
    if query.kind in ("when", "number"):
        rx = date_rx(query) if query.kind == "when" else NUMBER_RX
        kind = min(1.0, max((w for _, w in mentions(query, top.text, rx)), default=0.0))
    if len(parts) == 1 and query.kind in ("when", "number"):
        ent = best_share  # "when was the ISIS-K attack in Iran": both names beside one date
    else:
        ent = len(ents & seen) / len(ents) if ents else 1.0
    return (dense, lex, ent, best_focus if focus else 1.0, unknown, kind, top.score)


# What a figure counts. "How many were injured" is not answered by a death toll.
_COUNTED = tuple(frozenset(terms(words)) for words in (
    "killed died dead deaths lives toll killing fatalities",
    "injured wounded hurt injuries hospitalised hospitalized",
    "arrested detained arrests detentions",
))


def _answering(query: Query, evidence: Sequence[Evidence], df: Mapping[str, int]
               ) -> list[Evidence]:
    """The top sentences that could answer: for "when" and "how many", those holding a date or
    a figure (of what is counted), so the names asked about must stand beside the date or
    figure, not anywhere. None when the collection never mentions what is counted."""
    if query.published:
        return [ev for ev in evidence[:10] if ev.passage.published][:3]
    if query.kind not in ("when", "number"):
        return list(evidence[:3])
    rx = date_rx(query) if query.kind == "when" else NUMBER_RX
    asked = {c for c in _COUNTED if c & set(query.terms)} if query.kind == "number" else set()
    if any(not any(df.get(t, 0) for t in c) for c in asked):
        return []

    def counts_else(text: str) -> bool:
        """Counts another thing (the dead, for "how many injured") and not the one asked."""
        words = set(terms(text))
        return not any(c & words for c in asked) and any(
            c & words for c in _COUNTED if c not in asked)

    # "one that ultimately came true": "one" is rarely the figure asked for.
    return [ev for ev in evidence[:10]
            if any(m.group().lower() != "one" for m in rx.finditer(ev.text))
            and not (asked and counts_else(ev.text))][:3]


def date_rx(query: Query) -> re.Pattern[str]:
    """What answers a "when" question: any date, or a weekday for "which day of the week"."""
    return WEEKDAY_RX if query.weekday else DATE_RX


@lru_cache(maxsize=1)
def calibration() -> Calibration:
    return Calibration.load()


def decide(query: Query, evidence: Sequence[Evidence], df: Mapping[str, int],
           cal: Calibration | None = None, articles: Mapping[str, Article] | None = None
           ) -> Decision:
    """Refuse when the evidence does not cover the question; confidence from the fitted model."""
    cal = cal or calibration()
    f = features(query, evidence, df, articles)
    if not evidence:
        return Decision(True, 0.0, f)
    z = cal.bias + sum(w * x for w, x in zip(cal.weights, f))
    conf = 1.0 / (1.0 + math.exp(-z))
    refuse = cal.refuses(f)
    return Decision(refuse, min(conf, 0.49) if refuse else max(conf, 0.5), f)


_RUN = r"[A-Z][\w.'’\-]*(?:\s+[A-Z][\w.'’\-]*)*"
_CAPS_RX = re.compile(_RUN)
# "according to RIA Novosti", "the TURAN report", "the Verge article": a source by name.
_CITED_RX = re.compile(rf"\baccording to (?:the\s+)?({_RUN})|\b(?:the|a|an)\s+({_RUN})(?:'s)?\s+"
                       r"(?:report|reports|article|articles|story|piece|account|coverage)\b")


@dataclass(frozen=True)
class Sources:
    """The articles a question names as its sources, and the words that named them."""

    docs: frozenset[str]
    words: frozenset[str]


@lru_cache(maxsize=1024)
def _name_terms(name: str) -> frozenset[str]:
    """A publisher's name analysed once: it is compared on every question, twice."""
    return frozenset(terms(name))


def publishers_named(question: str, articles: Mapping[str, Article]) -> Sources:
    """Every article by a publisher the question names by most of its words ("the Verge" for
    "The Verge", not "US" for "Daily Express US")."""
    docs: set[str] = set()
    words: set[str] = set()
    runs = [set(terms(r)) for r in _CAPS_RX.findall(question)]
    by_publisher: dict[str, set[str]] = {}
    for a in articles.values():
        by_publisher.setdefault(a.source, set()).add(a.doc_id)
    for name, ids in by_publisher.items():
        pub = _name_terms(name)
        for run in runs:
            if run and pub and run <= pub and 2 * len(run) >= len(pub):
                docs |= ids
                words |= run
    return Sources(frozenset(docs), frozenset(words))


_FULL_DATE_RX = re.compile(rf"\b({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b"
                           rf"|\b(\d{{1,2}})\s+({_MONTH})\.?,?\s+(\d{{4}})\b", re.IGNORECASE)
_PUBLISHED_ON_RX = re.compile(r"\b(?:published|posted|reported|released|dated|from)\s+(?:on\s+)?"
                              rf"(?:{_FULL_DATE_RX.pattern})", re.IGNORECASE)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def dates_named(question: str) -> frozenset[str]:
    """The full dates a question names, as ISO dates ("published on November 1, 2023")."""
    out = set()
    for m in _FULL_DATE_RX.finditer(question):
        month, day, year = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (
            m.group(5), m.group(4), m.group(6))
        try:
            out.add(date(int(year), _MONTHS.index(month[:3].lower()) + 1, int(day)).isoformat())
        except ValueError:
            continue  # "February 30"
    return frozenset(out)


def named_sources(question: str, articles: Mapping[str, Article],
                  passages: Sequence[Passage]) -> Sources:
    """Articles the question attributes the fact to: by publisher ("according to the Daily
    Express"), any article in the collection; or by a name the article carries ("the TURAN
    report" -> the article that mentions TURAN), looked for only among the articles the
    ``passages`` come from, so the cost does not grow with the collection. Empty when the
    question names none, or a name no article carries."""
    named = publishers_named(question, articles)
    docs, words = set(named.docs), set(named.words)
    for m in _PUBLISHED_ON_RX.finditer(question):
        # "the TechCrunch article published on December 15, 2023": the date names the article
        day = dates_named(m.group())
        dated = {a.doc_id for a in articles.values() if (a.published or "")[:10] in day}
        if dated:
            docs |= dated
            words |= set(terms(m.group())) - set(terms("published posted reported released"))
    among = {p.doc_id: articles[p.doc_id] for p in passages if p.doc_id in articles}
    for m in _CITED_RX.finditer(question):
        run = set(terms(m.group(1) or m.group(2))) - words
        if not run:
            continue
        hits = {a.doc_id for a in among.values()
                if run <= set(terms(f"{a.title} {a.source} {a.text}"))}
        if hits and len(hits) < len(among):  # a name every article carries picks none
            docs |= hits
            words |= run
    return Sources(frozenset(docs), frozenset(words))


def without(query: Query, sources: Sources) -> Query:
    """``query`` limited to ``sources``, their names no longer asked about."""
    drop = set(sources.words)
    return replace(query, sources=sources.docs,
                   terms=tuple(t for t in query.terms if t not in drop),
                   entities=tuple(e for e in query.entities if e not in drop),
                   pairs=frozenset(p for p in query.pairs if not drop & set(p)))


def from_sources(evidence: Sequence[Evidence], sources: Sources) -> list[Evidence]:
    """The evidence from the named articles (or their folded-in copies), when there is any."""
    kept = [ev for ev in evidence
            if {ev.passage.doc_id, *ev.passage.chunk.also_in} & sources.docs]
    return kept or list(evidence)
