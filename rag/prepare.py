"""Everything answering needs before a synthesizer writes: the question analysed once, the
passages, the ranked evidence, the typed candidates, the yes/no reading and the decision to
refuse or answer, in one frozen ``Prepared``.

The steps are separate functions so that ``python -m evals.calibrate`` can fit each model
on the features the step before it produces, exactly as answering computes them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from rag import evidence as ev_mod
from rag import typed, yesno
from rag.decision import Decision, answerable_features, decide
from rag.embeddings import Embedder
from rag.errors import RagError
from rag.evidence import Evidence, Sentences
from rag.lexical import LexicalIndex
from rag.models import Features, Models
from rag.names import named_sources
from rag.question import Query, Speller, analyze, with_sources
from rag.retrieval import Candidates, DenseHits, Retriever
from rag.text import terms
from rag.typed import Candidate
from rag.types import Article, Passage


@dataclass(frozen=True)
class Gathered:
    """The question analysed, its passages and their sentences with features (no model yet)."""

    query: Query
    vector: np.ndarray
    passages: tuple[Passage, ...]
    sentences: Sentences
    retrieve_ms: float


@dataclass(frozen=True)
class Prepared:
    """What a synthesizer receives: nothing in it is computed twice."""

    query: Query
    passages: tuple[Passage, ...]
    evidence: tuple[Evidence, ...]  # best first
    candidates: tuple[Candidate, ...]  # typed answers, best first (empty when untyped)
    yes: float | None  # P("Yes") for a yes/no or choice question
    decision: Decision
    timings: Mapping[str, float] = field(default_factory=dict)

    @property
    def answer(self) -> Candidate | None:
        """The best typed candidate, if any."""
        return self.candidates[0] if self.candidates else None


@dataclass(frozen=True)
class Parts:
    """What preparing reads: one store's retriever and indexes, the embedder, the models."""

    retriever: Retriever
    embedder: Embedder
    articles: Callable[[], Mapping[str, Article]]
    speller: Callable[[LexicalIndex], Speller]


# One thread parses questions while the asking thread embeds them and waits for the dense
# search: spaCy holds the GIL; ONNX Runtime and the search child's pipe release it. One
# thread, so parses never run at once (as before, when each asking thread parsed its own).
_PARSER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-question")


def searched(parts: Parts, question: str, k: int) -> tuple[Query, np.ndarray, DenseHits]:
    """The question analysed (spelling checked against the index), embedded, and its nearest
    chunks for ``k`` passages: the parse overlaps the embedding and the dense search."""
    lexical = parts.retriever.lexical_index()
    pending = _PARSER.submit(analyze, question, lexical.df, parts.speller(lexical))
    try:
        vec = parts.embedder.embed([question])[0]
        dense = parts.retriever.dense_for(vec, k)
    except BaseException:
        pending.cancel()
        raise
    return pending.result(), vec, dense


# Before the first fit, every "A or B" in a yes/no question is a choice (as it was read).
DEFAULT_CHOICE_ABOVE = -1.0


def option_similarity(embedder: Embedder, options: tuple[str, ...]) -> float:
    """How close the embedder places the two options of "A or B"."""
    a, b = embedder.embed_each(options)
    return float(a @ b)


def as_choice(query: Query, embedder: Embedder, models: Models) -> Query:
    """A yes/no question offering "A or B" asks to choose only when A and B are alternatives
    of one thing ("consistent or inconsistent", "before or after", "larger or smaller"),
    which the embedder places close together; two topics ("conditions or treatments",
    "coach or player") leave a plain yes/no question ("Yes": it covers them). The similarity
    above which they are alternatives is fitted on train (``choice_above``)."""
    if query.kind != "choice" or len(query.options) != 2:
        return query
    if option_similarity(embedder, query.options) >= models.threshold(
            "choice_above", DEFAULT_CHOICE_ABOVE):
        return query
    return replace(query, kind="yesno", options=())


def article_candidates(parts: Parts, question: str, k: int) -> Candidates:
    """The re-scored candidate passages the ``article`` model chooses from."""
    query, vec, dense = searched(parts, question, k)
    return parts.retriever.candidates(question, k, vec, terms(query.search), dense)


def gather(parts: Parts, question: str, k: int, models: Models) -> Gathered:
    """Analyse, retrieve (the ``article`` model choosing which articles get a place), find
    the named sources, and describe every sentence."""
    t0 = time.perf_counter()
    retriever = parts.retriever
    lexical = retriever.lexical_index()
    query, vec, dense = searched(parts, question, k)
    query = as_choice(query, parts.embedder, models)
    passages = retriever.retrieve(question, k=k, vector=vec, lexical_terms=terms(query.search),
                                  ranker=models.get("article"), dense=dense)
    articles = parts.articles()
    sources = named_sources(question, articles, passages)
    if sources.docs:  # "the Daily Express says": the name finds the article, not the fact
        query = with_sources(query, sources)
    t1 = time.perf_counter()
    found = ev_mod.sentences_of(query, vec, passages, articles, retriever.sentence_index(),
                                parts.embedder, ev_mod.idf_weight(lexical.df))
    return Gathered(query, vec, tuple(passages), found, (t1 - t0) * 1000)


def ranked_evidence(g: Gathered, models: Models) -> list[Evidence]:
    evidence = ev_mod.rank(g.sentences, models.get("sentence"))
    if g.query.sources:
        evidence = ev_mod.from_sources(evidence, g.query.sources)
    return evidence


def candidates_of(parts: Parts, g: Gathered, evidence: list[Evidence]) -> typed.Found:
    articles = parts.articles()
    return typed.gather(g.query, evidence, articles, parts.embedder, typed.known(articles))


def ranked_candidates(parts: Parts, g: Gathered, evidence: list[Evidence],
                      models: Models) -> list[typed.Candidate]:
    """The typed candidates best first, names shown in full."""
    ranked = typed.rank(candidates_of(parts, g, evidence), models.get("candidate"))
    return typed.in_full(ranked, parts.articles())


def yesno_features(parts: Parts, g: Gathered, evidence: list[Evidence],
                   words: tuple[str, ...]) -> Features:
    lexical = parts.retriever.lexical_index()
    return yesno.features(g.query, g.sentences, evidence, parts.articles(), parts.embedder,
                          ev_mod.idf_weight(lexical.df), words)


def yes_no(parts: Parts, g: Gathered, evidence: list[Evidence],
           models: Models) -> yesno.Reading | None:
    """P("Yes") for a yes/no or choice question, and whether the evidence states the
    opposite; None for the other questions."""
    if g.query.kind not in ("yesno", "choice"):
        return None
    model = models.get("yesno")
    if model is None:
        raise RagError("no fitted yesno model in rag/models.json; run "
                       "'python -m evals.calibrate'")
    words = tuple(n for n in model.features if n.startswith(yesno.WORD_PREFIX))
    p = float(model.prob(yesno_features(parts, g, evidence, words))[0])
    return yesno.Reading(p, yesno.opposed(g.query, evidence, parts.articles()))


def prepare(parts: Parts, question: str, k: int, models: Models) -> Prepared:
    """Every step, with the fitted ``models``."""
    t0 = time.perf_counter()
    g = gather(parts, question, k, models)
    evidence = ranked_evidence(g, models)
    ranked = ranked_candidates(parts, g, evidence, models)
    reading = yes_no(parts, g, evidence, models)
    yes = reading.yes if reading else None
    lexical = parts.retriever.lexical_index()
    feats = answerable_features(g.query, g.sentences, evidence, ranked, lexical.df, yes)
    decision = decide(g.query, feats, ranked, reading, models)
    t1 = time.perf_counter()
    return Prepared(g.query, g.passages, tuple(evidence), tuple(ranked), yes, decision,
                    {"retrieve_ms": g.retrieve_ms,
                     "evidence_ms": (t1 - t0) * 1000 - g.retrieve_ms})

