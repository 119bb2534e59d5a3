"""Yes/no questions: does the evidence say what the question asks, part by part?

"Does the Verge article say A, while the TechCrunch article says B?" holds when each part is
found in the evidence; "Did X report A before Y reported B?" is settled by the two articles'
publication dates. The features say how well each part of the question is found, whether
the best evidence negates what the question asserts (or the reverse) or gives another
figure, and which words the question asks with ("consistent", "change": the fitted model
learns what they ask). The fitted ``yesno`` model turns them into the probability of "Yes".

"No" needs more than a low probability (``opposed``): the question asks what articles it names
say and they are found, or the evidence states the opposite (a negation, another figure,
another name of the same kind, publication dates against the order asked). Evidence that merely
does not say it leaves "The articles don't say" (issue 12).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from rag.embeddings import Embedder
from rag.evidence import Evidence, Sentences
from rag.models import Features
from rag.names import same_name
from rag.nlp import parse
from rag.question import Query
from rag.text import fold, terms
from rag.types import Article

DEPTH = 20  # evidence sentences each part of the question is looked for in
YESNO_FEATURES = (
    "top", "top3", "part_lex_min", "part_lex_mean", "part_dense_min", "part_dense_mean",
    "sources_found", "negation_differs", "figure_differs", "order", "parts",
    "part_source_dense_min", "part_cover_min", "part_missing_max",
)
WORD_PREFIX = "w:"  # question-word features: "w:consistent" is 1 when the question says it
# The kinds of name a question can state a wrong one of ("based in Syria": GPE).
NAME_LABELS = frozenset({"PERSON", "ORG", "GPE", "NORP", "LOC", "FAC", "EVENT", "PRODUCT",
                         "WORK_OF_ART", "LAW"})
_NEGATION = re.compile(r"\b(?:not|no|never|none|neither|nor|without|n't)\b|n['’]t\b", re.I)


@dataclass(frozen=True)
class Reading:
    """A yes/no (or two-option) question read against its evidence."""

    yes: float  # the fitted probability of "Yes" (the first option)
    opposed: bool  # the evidence states the opposite of what the question asserts


def opposed(query: Query, evidence: Sequence[Evidence],
            articles: Mapping[str, Article]) -> bool:
    """Whether the evidence can say "No": the question asks what articles it names say and
    the evidence holds them all (their silence is then the answer), or the best evidence
    states the opposite of what the question asserts: it negates it (or the reverse), gives
    another figure or another name of the same kind, or the articles' publication dates
    contradict the order asked. Otherwise a low P("Yes") is absence, not a "No"."""
    top = evidence[:DEPTH]
    if _sources_found(query, top, articles):
        return True
    best = top[0] if top else None
    return bool(_negation_differs(query, best) or _figure_differs(query, best)
                or _name_differs(query, best) or order_holds(query, top, articles) < 0)


def question_words(query: Query) -> frozenset[str]:
    """The lemmas of the question's own words (not its names, dates or numbers)."""
    doc = parse(query.text)
    return frozenset(fold(t.lemma_) for t in doc if t.is_alpha and not t.ent_type_
                     and t.pos_ in ("NOUN", "VERB", "ADJ", "ADV", "ADP", "AUX", "SCONJ"))


def features(query: Query, found: Sentences, evidence: Sequence[Evidence],
             articles: Mapping[str, Article], embedder: Embedder,
             idf: Callable[[str], float], words: Sequence[str] = ()) -> Features:
    """One row describing how the evidence bears on a yes/no question; ``words`` are the
    question-word features the fitted model reads (its feature names after ``YESNO_FEATURES``)."""
    top = list(evidence[:DEPTH])
    parts = [c for c in query.clauses if terms(c)] or [query.text]
    lex, dense, own, cover, missing = [], [], [], [], []
    if top:
        rows = np.array([ev.row for ev in top])
        part_vecs = embedder.embed(parts)
        sims = found.vectors[rows] @ part_vecs.T  # (sentences, parts)
        for j, part in enumerate(parts):
            pt = set(terms(part))
            total = sum(idf(t) for t in pt) or 1.0
            lex.append(max(sum(idf(t) for t in pt & set(terms(ev.text))) / total for ev in top))
            dense.append(float(sims[:, j].max()))
            # The part's own source: the sentences of the publisher it names, if it names one.
            named = [k for k, ev in enumerate(top) if ev.passage.source
                     and set(terms(ev.passage.source)) and set(terms(ev.passage.source)) <= pt]
            own.append(float(sims[named, j].max()) if named else dense[-1])
            # The part's words against its best sentence and the sentences around it: a claim
            # the source does not make ("a decrease" where it says "higher") leaves a
            # rare word of the part uncovered.
            k = int(np.argmax(sims[named, j])) if named else int(np.argmax(sims[:, j]))
            k = named[k] if named else k
            window = _window_terms(top[k], articles)
            content = [t for t in pt if t not in set(query.entities)]
            if content:
                rare = max(idf(t) for t in content) or 1.0
                cover.append(sum(idf(t) for t in content if t in window)
                             / (sum(idf(t) for t in content) or 1.0))
                missing.append(max((idf(t) for t in content if t not in window), default=0.0)
                               / rare)
    best = top[0] if top else None
    sources = query.sources
    found_docs = {ev.doc_id for ev in top if ev.score >= 0.5}
    row = {
        "top": top[0].score if top else 0.0,
        "top3": float(np.mean([ev.score for ev in top[:3]])) if top else 0.0,
        "part_lex_min": min(lex, default=0.0),
        "part_lex_mean": float(np.mean(lex)) if lex else 0.0,
        "part_dense_min": min(dense, default=0.0),
        "part_dense_mean": float(np.mean(dense)) if dense else 0.0,
        "sources_found": len(sources & found_docs) / len(sources) if sources else 1.0,
        "negation_differs": _negation_differs(query, best),
        "figure_differs": _figure_differs(query, best),
        "order": order_holds(query, top, articles),
        "parts": min(len(parts), 4) / 4,
        "part_source_dense_min": min(own, default=0.0),
        "part_cover_min": min(cover, default=0.0),
        "part_missing_max": max(missing, default=0.0),
    }
    asked = question_words(query)
    for w in words:
        row[w] = float(w[len(WORD_PREFIX):] in asked)
    return Features.of(YESNO_FEATURES + tuple(words), [row])


def _window_terms(ev: Evidence, articles: Mapping[str, Article]) -> frozenset[str]:
    """The terms of a sentence and the sentences on either side of it in its article."""
    art = articles.get(ev.doc_id)
    if art is None:
        return frozenset(terms(ev.text))
    spans = art.sentences()
    i = next((k for k, (s, _) in enumerate(spans) if s == ev.start), None)
    if i is None:
        return frozenset(terms(ev.text))
    lo, hi = spans[max(0, i - 1)][0], spans[min(len(spans) - 1, i + 1)][1]
    return frozenset(terms(art.text[lo:hi]))


def _sources_found(query: Query, top: Sequence[Evidence],
                   articles: Mapping[str, Article]) -> bool:
    """Whether the question names its sources (a publisher, a publication date) and the
    evidence holds an article of each publisher it names."""
    found = query.sources & {ev.doc_id for ev in top}
    wanted = {articles[d].source for d in query.sources if d in articles}
    return bool(found) and wanted <= {articles[d].source for d in found if d in articles}


def _negation_differs(query: Query, best: Evidence | None) -> float:
    """1 when one of the question and the best sentence is negated and the other is not."""
    return float(best is not None and bool(_NEGATION.search(query.text))
                 != bool(_NEGATION.search(best.text)))


def _name_differs(query: Query, best: Evidence | None) -> float:
    """1 when the question names a thing (a place, a person, an organisation...) that the
    best sentence does not, while the sentence names another of the same kind ("based in
    Syria" against "based in Afghanistan"); 0 otherwise. The sentence's own publisher does
    not count ("Does the Daily Express say...")."""
    if best is None:
        return 0.0
    given: dict[str, list[str]] = {}
    for m in best.mentions:
        given.setdefault(m.label, []).append(best.text[m.start - best.start:m.end - best.start])
    said = fold(best.text)
    for ent in parse(query.text).ents:
        if ent.label_ not in NAME_LABELS or not given.get(ent.label_):
            continue
        if best.passage.source and same_name(ent.text, best.passage.source):
            continue
        if fold(ent.text) in said or any(same_name(ent.text, g) for g in given[ent.label_]):
            continue
        return 1.0
    return 0.0


def _figure_differs(query: Query, best: Evidence | None) -> float:
    """1 when the question states a figure the best sentence does not give, while the
    sentence gives another ("two gunmen" against "Four gunmen"); 0 otherwise."""
    if best is None:
        return 0.0
    asked = {t for t in terms(query.text) if t.isdigit()} | _number_words(query.text)
    if not asked:
        return 0.0
    given = {t for t in terms(best.text) if t.isdigit()} | _number_words(best.text)
    return float(bool(given) and not asked & given)


def _number_words(text: str) -> set[str]:
    from rag.typed import number_value

    return {v for w in re.findall(r"[A-Za-z]+", text) if (v := number_value(w)) is not None}


def order_holds(query: Query, top: Sequence[Evidence], articles: Mapping[str, Article]) -> float:
    """For "did A … before/after B …": +1 when the publication dates of the articles that
    best answer each side agree with the order asked, -1 when they contradict it, 0 when the
    question asks no order or a date is missing."""
    m = re.search(r"\b(before|after)\b", query.text, re.IGNORECASE)
    if not m or not top:
        return 0.0
    sides = [query.text[: m.start()], query.text[m.end():]]
    dated = []
    for side in sides:
        st = set(terms(side))
        if not st:
            return 0.0
        ev = max(top, key=lambda e: (len(st & set(terms(
            f"{e.passage.title} {e.passage.source} {e.text}"))), e.score))
        pub = articles[ev.doc_id].published if ev.doc_id in articles else None
        if not pub:
            return 0.0
        dated.append((date.fromisoformat(pub[:10]), ev.doc_id))
    (a, da), (b, db) = dated
    if da == db or a == b:
        return 0.0
    first_before = a < b
    return 1.0 if first_before == (m.group(1).lower() == "before") else -1.0
