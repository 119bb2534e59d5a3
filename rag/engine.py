"""The engine: one RAG_HOME's store, retriever and answering, behind ``answer``/``retrieve``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from rag.backends import get_synthesizer
from rag.embeddings import get_embedder
from rag.errors import IndexNotFound, InvalidQuestion
from rag.evidence import (
    Decision,
    Evidence,
    Query,
    SentenceCache,
    Speller,
    analyze,
    decide,
    from_sources,
    named_sources,
    score_sentences,
    without,
)
from rag.lexical import LexicalIndex
from rag.retrieval import Retriever
from rag.settings import MAX_QUESTION_CHARS, Settings, check_k
from rag.store import Store
from rag.types import Answer, Article, Citation, Passage

log = logging.getLogger(__name__)

REFUSAL = "The articles do not answer this question."


def check_question(question: object) -> str:
    """The question, stripped; ``InvalidQuestion`` when it cannot be asked."""
    if not isinstance(question, str):
        raise InvalidQuestion("the question must be text")
    q = question.strip()
    if not q:
        raise InvalidQuestion("the question is empty; ask something about the articles, "
                              "e.g. 'when did the US warn Russia?'")
    if len(q) > MAX_QUESTION_CHARS:
        raise InvalidQuestion(f"the question is {len(q):,} characters long; the limit is "
                              f"{MAX_QUESTION_CHARS:,}: ask it in fewer words")
    return q


class Engine:
    """Answers questions from one store. Thread-safe; open it once and reuse it."""

    def __init__(self, settings: Settings | None = None, *, auto_index: bool = True) -> None:
        self.settings = settings or Settings.from_env()
        self.auto_index = auto_index
        self.embedder = get_embedder()
        self._store: Store | None = None
        self._retriever: Retriever | None = None
        self._sentences = SentenceCache(self.embedder)
        self._lock = threading.Lock()
        self._speller_for: LexicalIndex | None = None
        self._speller_obj = Speller(())

    # -- opening -------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is not None and self._store.outdated():
                # Another process committed, or a rebuild was swapped in: read the new index.
                self._store, self._retriever = None, None
            if self._store is None:
                self._store = self._open()
            return self._store

    def _open(self) -> Store:
        try:
            store = Store(self.settings, embed_model=self.embedder.name, dim=self.embedder.dim)
            if store.chunk_count() or not self._can_auto_index():
                return store
        except IndexNotFound:
            if not self._can_auto_index():
                raise
        # First use with an empty RAG_HOME: index the bundled articles.
        from index import index_paths

        report = index_paths([self.settings.articles_dir], self.settings)
        for line in report.lines():  # a file that could not be indexed is never skipped silently
            log.warning("indexing %s: %s", self.settings.articles_dir, line)
        return Store(self.settings, embed_model=self.embedder.name, dim=self.embedder.dim)

    def _can_auto_index(self) -> bool:
        return (self.auto_index and not self.settings.chroma_url
                and self.settings.articles_dir.is_dir())

    @property
    def retriever(self) -> Retriever:
        store = self.store
        with self._lock:
            if self._retriever is None:
                self._retriever = Retriever(store, self.embedder)
            return self._retriever

    def _speller(self, lexical: LexicalIndex) -> Speller:
        """The spelling corrector for the current vocabulary, built once per lexical index."""
        with self._lock:
            if self._speller_for is not lexical:
                self._speller_obj = Speller(lexical.df)
                self._speller_for = lexical
            return self._speller_obj

    def reload(self) -> None:
        """Forget cached handles (after an indexing run in this process)."""
        with self._lock:
            self._store = None
            self._retriever = None

    # -- reading -------------------------------------------------------------------------

    def articles(self) -> dict[str, Article]:
        """The indexed articles by doc_id; citation offsets index into their ``text``."""
        return self.store.articles()

    def documents(self) -> list[dict[str, Any]]:
        """A listing of what is indexed: id, title, date, chunk count, duplicates folded in."""
        counts: dict[str, int] = {}
        for c in self.retriever.lexical_index().chunks:
            counts[c.doc_id] = counts.get(c.doc_id, 0) + 1
        return [{"doc_id": a.doc_id, "title": a.title, "published": a.published,
                 "chunks": counts.get(a.doc_id, 0), "source_path": a.source_path,
                 "also_published_as": list(a.also_published_as)}
                for a in sorted(self.articles().values(), key=lambda a: a.doc_id)]

    def retrieve(self, question: str, k: int = 10) -> list[Passage]:
        """The ``k`` passages that best match ``question``, best first."""
        q = check_question(question)
        return self.retriever.retrieve(q, k=check_k(k))

    # -- answering -----------------------------------------------------------------------

    def prepare(self, question: str, k: int | None = None
                ) -> tuple[Query, list[Passage], list[Evidence], Decision, dict[str, float]]:
        """Retrieve and weigh the evidence: everything needed before a synthesizer runs."""
        q = check_question(question)
        k = check_k(self.settings.top_k if k is None else k)
        t0 = time.perf_counter()
        retriever = self.retriever
        lexical = retriever.lexical_index()
        query = analyze(q, lexical.df, self._speller(lexical))
        vec = self.embedder.embed([q])[0]
        passages = retriever.retrieve(q, k=k, vector=vec, lexical_terms=list(query.terms))
        t1 = time.perf_counter()
        sources = named_sources(q, self.articles(), passages)
        if sources.docs:  # "the Daily Express says": the name finds the article, not the fact
            query = without(query, sources)
        evidence = score_sentences(query, vec, passages, self._sentences, lexical.idf)
        if sources.docs:
            evidence = from_sources(evidence, sources)
        decision = decide(query, evidence, lexical.df, articles=self.articles())
        t2 = time.perf_counter()
        return query, passages, evidence, decision, {
            "retrieve_ms": (t1 - t0) * 1000, "evidence_ms": (t2 - t1) * 1000}

    def answer(self, question: str, k: int | None = None, backend: str | None = None) -> Answer:
        """A cited answer, or a refusal when the articles hold none."""
        final: Answer | None = None
        for item in self.stream(question, k=k, backend=backend):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def stream(self, question: str, k: int | None = None, backend: str | None = None
               ) -> Iterator[str | Answer]:
        """Text deltas as the answer is written, then the final ``Answer``."""
        t0 = time.perf_counter()
        name = backend or self.settings.backend
        synth = get_synthesizer(name, self.settings)  # an unknown backend fails before work
        query, passages, evidence, decision, timings = self.prepare(question, k)
        if decision.refuse:
            ans = Answer(question=query.text, text=refusal_text(query, passages),
                         refused=True, confidence=decision.confidence, backend=name)
            yield ans.text
        else:
            ans = None
            for item in synth.stream(query.text, passages, self.articles(), evidence):
                if isinstance(item, Answer):
                    ans = item
                else:
                    yield item
            assert ans is not None
            ans = _with(ans, confidence=decision.confidence,
                        citations=with_pages(ans.citations, self.articles()))
        timings["total_ms"] = (time.perf_counter() - t0) * 1000
        yield _with(ans, timings={**ans.timings, **timings})


def refusal_text(query: Query, passages: list[Passage]) -> str:
    """A plain refusal that names what the articles lack, when that is clear."""
    from rag.text import terms

    found: set[str] = set()
    for p in passages[:5]:
        found |= set(terms(f"{p.title} {p.text}"))
    missing = [w for w in query.text.replace("?", " ").split()
               if w[:1].isupper() and terms(w) and not set(terms(w)) & found
               and w.lower() not in {"when", "what", "who", "where", "why", "how", "which"}]
    if missing:
        return f"{REFUSAL} None of the indexed articles mentions {', '.join(missing[:3])}."
    return f"{REFUSAL} None of the indexed articles contains a passage that answers it."


def with_pages(citations: tuple[Citation, ...], articles: dict[str, Article]
               ) -> tuple[Citation, ...]:
    """Citations into a PDF or Word file name the page their quote begins on."""
    return tuple(replace(c, page=articles[c.doc_id].page_at(c.start))
                 if c.doc_id in articles and articles[c.doc_id].pages else c
                 for c in citations)


def _with(ans: Answer, **changes: Any) -> Answer:
    return replace(ans, **changes)


_default: Engine | None = None
_default_lock = threading.Lock()


def get_engine() -> Engine:
    """The shared engine for the environment's settings (read once)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Engine(Settings.from_env())
        return _default


def answer(question: str, k: int | None = None, backend: str | None = None) -> Answer:
    """Answer ``question`` from the indexed articles (indexing the bundled ones on first use)."""
    return get_engine().answer(question, k=k, backend=backend)


def retrieve(question: str, k: int = 10) -> list[Passage]:
    """The ``k`` passages that best match ``question``."""
    return get_engine().retrieve(question, k=k)
