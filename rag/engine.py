"""The engine: one RAG_HOME's store, retriever and answering, behind ``answer``/``retrieve``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from rag.backends import get_synthesizer
from rag.embeddings import get_embedder
from rag.errors import IndexNotFound, InvalidQuestion
from rag.lexical import LexicalIndex
from rag.models import Models, shipped
from rag.prepare import Parts, Prepared, prepare
from rag.question import Query, Speller, english_words
from rag.retrieval import Retriever
from rag.settings import MAX_QUESTION_CHARS, Settings, check_k
from rag.store import Store
from rag.types import Answer, Article, Citation, Passage

REFUSAL = "The articles do not answer this question."

OnEmpty = Callable[[Settings], None]
"""What an engine calls when its store is missing or empty, before opening it again (e.g.
``index.index_bundled``: index the bundled articles). rag/ never imports index/: the caller
passes it in."""
ON_EMPTY_GROUP = "rag.on_empty"  # the entry point the installed index package registers


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

    def __init__(self, settings: Settings | None = None, *, on_empty: OnEmpty | None = None,
                 models: Models | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.on_empty = on_empty
        self.embedder = get_embedder(self.settings)
        self.models = models or shipped()
        self._store: Store | None = None
        self._retriever: Retriever | None = None
        self._lock = threading.Lock()
        self._speller_for: LexicalIndex | None = None
        self._speller_obj: Speller | None = None

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
            store = Store(self.settings, embed_model=self.embedder.name, dim=self.embedder.dim,
                          search_soon=True)
            if store.chunk_count() or self.on_empty is None:
                return store
        except IndexNotFound:
            if self.on_empty is None:
                raise
        # First use with an empty store: the caller's hook fills it (or decides not to).
        self.on_empty(self.settings)
        return Store(self.settings, embed_model=self.embedder.name, dim=self.embedder.dim,
                     search_soon=True)

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
            if self._speller_obj is None or self._speller_for is not lexical:
                self._speller_obj = Speller(lexical.words, english_words())
                self._speller_for = lexical
            return self._speller_obj

    @property
    def parts(self) -> Parts:
        """What preparing an answer reads, for ``rag.prepare`` (and the calibration)."""
        return Parts(self.retriever, self.embedder, self.articles, self._speller)

    def reload(self) -> None:
        """Forget cached handles (after an indexing run in this process)."""
        with self._lock:
            self._store = None
            self._retriever = None

    # -- reading -------------------------------------------------------------------------

    def articles(self) -> dict[str, Article]:
        """The indexed articles by doc_id; citation offsets index into their ``text``."""
        return self.store.articles()

    def documents(self) -> list[dict[str, Any]]:  # Any: JSON
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
        return self.retriever.retrieve(q, k=check_k(k), ranker=self.models.get("article"))

    # -- answering -----------------------------------------------------------------------

    def prepare(self, question: str, k: int | None = None) -> Prepared:
        """Analyse, retrieve and weigh the evidence: everything a synthesizer needs."""
        q = check_question(question)
        k = check_k(self.settings.top_k if k is None else k)
        return prepare(self.parts, q, k, self.models)

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
        prepared = self.prepare(question, k)
        decision = prepared.decision
        if decision.refuse:
            ans = Answer(question=prepared.query.text, text=refusal_text(prepared.query,
                                                                         self.retriever),
                         refused=True, confidence=decision.confidence, backend=name,
                         passages=prepared.passages)
            yield ans.text
        else:
            written: Answer | None = None
            for item in synth.stream(prepared, self.articles()):
                if isinstance(item, Answer):
                    written = item
                else:
                    yield item
            assert written is not None
            ans = replace(written, confidence=decision.confidence, passages=prepared.passages,
                          citations=with_pages(written.citations, self.articles()))
        timings = dict(prepared.timings)
        timings["total_ms"] = (time.perf_counter() - t0) * 1000
        yield replace(ans, timings={**ans.timings, **timings})


def refusal_text(query: Query, retriever: Retriever) -> str:
    """A refusal in one sentence, naming what the collection lacks when that is clear."""
    if query.kind in ("yesno", "choice"):
        return "The articles don't say."
    df = retriever.lexical_index().df
    from rag.text import terms

    missing = [n for n in query.names if terms(n) and not any(df.get(t) for t in terms(n))]
    if missing:
        return f"The articles do not answer this: none mentions {', '.join(missing[:3])}."
    return f"{REFUSAL}"


def with_pages(citations: tuple[Citation, ...], articles: dict[str, Article]
               ) -> tuple[Citation, ...]:
    """Citations into a PDF or Word file name the page their quote begins on."""
    return tuple(replace(c, page=articles[c.doc_id].page_at(c.start))
                 if c.doc_id in articles and articles[c.doc_id].pages else c
                 for c in citations)


_default: Engine | None = None
_default_lock = threading.Lock()


def default_on_empty() -> OnEmpty | None:
    """The installed indexer's hook for an empty store: the ``rag.on_empty`` entry point
    (``index:index_bundled`` in this distribution), None when no indexer is installed.

    Found by name so that rag/ does not import index/; what ``answer()`` and a ``Chat``
    without an engine use."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=ON_EMPTY_GROUP):
        hook: OnEmpty = ep.load()
        return hook
    return None


def get_engine() -> Engine:
    """The shared engine for the environment's settings (read once); an empty store is
    filled with the bundled articles on first use (``default_on_empty``)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Engine(Settings.from_env(), on_empty=default_on_empty())
        return _default


def answer(question: str, k: int | None = None, backend: str | None = None) -> Answer:
    """Answer ``question`` from the indexed articles (indexing the bundled ones on first use)."""
    return get_engine().answer(question, k=k, backend=backend)


def retrieve(question: str, k: int = 10) -> list[Passage]:
    """The ``k`` passages that best match ``question``."""
    return get_engine().retrieve(question, k=k)
