"""Sentence-level evidence: every sentence of the retrieved passages, described by named
features and ranked by the fitted ``sentence`` model (rag.models).

The sentence vectors were computed at index time (rag.sentences), so nothing but the
question is embedded here; the features of all candidate sentences are computed together.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from rag.dates import resolve
from rag.embeddings import Embedder
from rag.errors import RagError
from rag.models import Features, Model
from rag.nlp import Mention
from rag.question import Query
from rag.sentences import SentenceIndex
from rag.text import first_offsets, term_set, terms
from rag.types import Article, Passage

# The spaCy labels an answer can carry, and which ones each kind of question wants by grammar
# alone; "who", "which" and "where" are typed by their head noun instead (``type_fit``).
NAME_LABELS = ("PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT",
               "WORK_OF_ART", "LAW", "LANGUAGE")
NUMBER_LABELS = ("CARDINAL", "QUANTITY", "MONEY", "PERCENT")
KIND_LABELS = {"when": ("DATE", "TIME"), "how_many": (*NUMBER_LABELS, "DATE", "TIME"),
               "how_long": ("DATE", "TIME", "QUANTITY", "CARDINAL")}

SENTENCE_FEATURES = (
    "dense", "lex", "lex_ctx", "clause", "ents", "ents_ctx", "type_fit", "type_near", "order",
    "verb", "source", "passage", "passage_rank", "lede", "position", "short", "quote",
    "date_match", "number_match", "years", "apposition",
)


@dataclass(frozen=True)
class Evidence:
    """One candidate sentence; ``start``/``end`` are offsets into its article's text."""

    passage: Passage
    start: int
    end: int
    text: str
    score: float  # the fitted model's probability that the sentence answers
    dense: float
    lexical: float
    mentions: tuple[Mention, ...] = ()  # the named things, dates and numbers in it
    row: int = -1  # its row in ``Sentences.vectors``

    @property
    def doc_id(self) -> str:
        return self.passage.doc_id


@dataclass(frozen=True)
class Sentences:
    """The sentences of the passages with their features and vectors, before ranking."""

    sentences: tuple[Evidence, ...]
    features: Features
    vectors: np.ndarray  # float32, one row per sentence: clause-level similarity reads them


def label_fit(embedder: Embedder, head: str, labels: Sequence[str]) -> dict[str, float]:
    """How well each spaCy label fits the noun the question asks about ("country" -> GPE):
    the cosine of the noun with spaCy's own description of the label, under the embedder.
    For "when" and "how many" the grammar fixes the labels and their fit is 1."""
    return {lab: v for lab, v in zip(labels, _label_fit(embedder, head, tuple(labels)))}


@lru_cache(maxsize=2048)
def _label_fit(embedder: Embedder, head: str, labels: tuple[str, ...]) -> tuple[float, ...]:
    if not head:
        return tuple(0.0 for _ in labels)
    import spacy

    vecs = embedder.embed([f"a {head}"] + [spacy.explain(lab) or lab for lab in labels])
    return tuple(float(v) for v in vecs[1:] @ vecs[0])


def type_fit(query: Query, embedder: Embedder) -> dict[str, float]:
    """The fit of every answer label to the question (empty when the answer is not typed)."""
    if not query.typed:
        return {}
    fixed = KIND_LABELS.get(query.kind)
    if fixed:
        return {lab: 1.0 for lab in fixed}
    return label_fit(embedder, query.head, NAME_LABELS)


def sentences_of(query: Query, qvec: np.ndarray, passages: Sequence[Passage],
               articles: Mapping[str, Article], sentences: SentenceIndex | None,
               embedder: Embedder, idf: Callable[[str], float]) -> Sentences:
    """Every sentence of ``passages`` (once, however many windows hold it), with its
    features for the ``sentence`` model."""
    fit = type_fit(query, embedder)
    qterms = set(query.terms)
    ents = set(query.entities)
    total = sum(idf(t) for t in qterms) or 1.0
    clause_sets = [(s, sum(idf(t) for t in s) or 1.0)
                   for s in (set(terms(c)) for c in query.clauses) if s]
    years = set(query.years)
    qnums = {t for t in terms(query.text) if t.isdigit()} - years
    asked = qterms | ents
    rows: list[dict[str, float]] = []
    refs: list[Evidence] = []
    seen: set[tuple[str, int]] = set()
    todo_vecs: list[tuple[int, str]] = []  # sentences with no stored vector: embedded here
    vecs: list[np.ndarray] = []
    for p in passages:
        art = articles.get(p.doc_id)
        if art is None:
            continue
        spans = art.sentences()
        stored = sentences.of(art) if sentences is not None else None
        if stored is not None and len(stored) != len(spans):
            stored = None
        # Each sentence's terms, from the index when it holds them (analysed at index time).
        seqs = sentences.terms_of(art) if sentences is not None else None
        seq_of = seqs.__getitem__ if seqs is not None else (
            lambda j, spans=spans, art=art: _seq(art.text[spans[j][0]:spans[j][1]]))
        title_terms = term_set(f"{art.title} {art.source}")
        first: Mapping[str, int] | None = None  # where each term first occurs in the article
        inside = [i for i, (s, e) in enumerate(spans) if s >= p.start and e <= p.end]
        for i in inside:
            s, e = spans[i]
            if (p.doc_id, s) in seen:
                continue
            seen.add((p.doc_id, s))
            text = art.text[s:e]
            seq = seq_of(i)
            st = frozenset(seq)
            ctx = st.union(seq_of(i - 1) if i else (), seq_of(i + 1) if i + 1 < len(spans)
                           else (), title_terms)
            # A name is introduced once ("Matthew Miller") and shortened after ("Miller").
            if first is None and ents - st:
                first = (sentences.first_of(art) if sentences is not None else None) or \
                    _first_seen(art.text)
            before = st | title_terms | (set() if first is None else
                                         {t for t in ents if first.get(t, e) < s})
            own = art.annotation.mentions_in(s, e) if art.annotation is not None else ()
            fits = [(fit.get(m.label, 0.0), m) for m in own
                    if not term_set(art.text[m.start:m.end]) <= asked]
            best_fit = max((f for f, _ in fits), default=0.0)
            rows.append({
                "lex": sum(idf(t) for t in qterms & st) / total,
                "lex_ctx": sum(idf(t) for t in qterms & ctx) / total,
                "clause": max((sum(idf(t) for t in g & st) / w for g, w in clause_sets),
                              default=0.0),
                "ents": len(ents & st) / len(ents) if ents else 1.0,
                "ents_ctx": len(ents & (st | before)) / len(ents) if ents else 1.0,
                "type_fit": best_fit,
                "type_near": max((f * _near(art.text, s, m, qterms) for f, m in fits),
                                 default=0.0),
                "order": (len(query.pairs & set(zip(seq, seq[1:]))) / len(query.pairs)
                          if query.pairs else 0.0),
                "verb": float(bool(query.verb) and query.verb in st),
                "source": float(bool(query.sources) and bool(
                    {p.doc_id, *p.chunk.also_in} & query.sources)),
                "passage": float(p.score),
                "passage_rank": 1.0 / p.rank,
                "lede": float(i == 0),
                "position": i / max(1, len(spans) - 1),
                "short": float(len(text) < 40),
                "quote": float(bool(re.search(r"[\"“”]", text))),
                "date_match": _date_match(query, art, own),
                "number_match": float(bool(qnums) and bool(qnums & st)),
                "years": float(bool(years) and bool(years & st)),
                "apposition": _apposition(query, text),
            })
            refs.append(Evidence(p, s, e, text, 0.0, 0.0, rows[-1]["lex"], own, len(refs)))
            if stored is not None:
                vecs.append(np.asarray(stored[i], np.float32))
            else:
                vecs.append(np.zeros_like(qvec, dtype=np.float32))
                todo_vecs.append((len(refs) - 1, text))
    if todo_vecs:  # articles indexed before sentence vectors existed, or built by hand
        fresh = embedder.embed([t for _, t in todo_vecs])
        for (k, _), v in zip(todo_vecs, fresh):
            vecs[k] = v
    matrix = np.stack(vecs) if vecs else np.zeros((0, len(qvec)), np.float32)
    dense = matrix @ qvec
    out = []
    for r, ev, d in zip(rows, refs, dense):
        r["dense"] = float(d)
        out.append(replace(ev, dense=float(d)))
    return Sentences(tuple(out), Features.of(SENTENCE_FEATURES, rows), matrix)


def _apposition(query: Query, text: str) -> float:
    """1 when a name the question asks about stands in apposition in the sentence ("ISIS-K,
    the Afghanistan-based affiliate", "Peskov (the Kremlin's spokesman)"): how English
    defines a name in passing."""
    for name in query.names:
        at = text.lower().find(name.lower())
        if at >= 0 and re.match(r"\s*(?:,|–|—|-\s|\()\s*(?:the|a|an|who|which)?\b",
                                text[at + len(name):]):
            return 1.0
    return 0.0


@lru_cache(maxsize=65536)
def _seq(text: str) -> tuple[str, ...]:
    """A text's terms in order, cached like ``term_set``: a sentence, and the words beside a
    mention in it, come back whenever its passage is retrieved again (issue 14)."""
    return tuple(terms(text))


@lru_cache(maxsize=2048)
def _first_seen(text: str) -> Mapping[str, int]:
    """``first_offsets`` of an article no sentence index holds (articles recur)."""
    return first_offsets(text)


def _near(text: str, start: int, m: Mention, qterms: set[str], reach: int = 60) -> float:
    """1 when a question term stands right beside the mention, falling with the distance
    in characters (within the sentence starting at ``start``)."""
    lo, hi = max(start, m.start - reach), m.end + reach
    left = _seq(text[lo:m.start])
    right = _seq(text[m.end:hi])
    dist = [len(left) - k for k, t in enumerate(left) if t in qterms]
    dist += [k + 1 for k, t in enumerate(right) if t in qterms]
    return 1.0 / min(dist) if dist else 0.0


def _date_match(query: Query, art: Article, own: Sequence[Mention]) -> float:
    """1 when a date the question names is a date the sentence gives."""
    if not query.dates:
        return 0.0
    for m in own:
        if m.label == "DATE":
            got = resolve(art.text[m.start:m.end], art.published)
            if got is not None and got.iso in query.dates:
                return 1.0
    return 0.0


def rank(found: Sentences, model: Model | None) -> list[Evidence]:
    """The sentences best first, each scored by the fitted ``sentence`` model."""
    if model is None:
        raise RagError("no fitted sentence model in rag/models.json; run "
                       "'python -m evals.calibrate'")
    probs = model.prob(found.features)
    order = np.argsort(-probs, kind="stable")
    return [replace(found.sentences[i], score=float(probs[i])) for i in order]


def from_sources(evidence: Sequence[Evidence], sources: frozenset[str]) -> list[Evidence]:
    """The evidence from the named articles (or their folded-in copies), when there is any."""
    kept = [ev for ev in evidence if {ev.passage.doc_id, *ev.passage.chunk.also_in} & sources]
    return kept or list(evidence)


def idf_weight(df: Mapping[str, int]) -> Callable[[str], float]:
    """Smoothed inverse document frequency over ``df``'s collection: unseen terms weigh most."""
    n = 1 + max(df.values(), default=0)
    return lambda t: math.log(1 + n / (df.get(t, 0) + 0.5))
