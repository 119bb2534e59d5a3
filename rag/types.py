"""The core data types: the contract between ingestion, retrieval, answering and the UIs.

Offsets are character offsets into ``Article.text`` (the cleaned body), always.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.nlp import Annotation


@dataclass(frozen=True)
class Article:
    """One cleaned article. ``also_published_as`` lists near-duplicate copies folded into it."""

    doc_id: str
    title: str
    text: str
    source_path: str
    published: str | None = None  # ISO date (YYYY-MM-DD) when known
    content_hash: str = ""
    also_published_as: tuple[str, ...] = ()
    source: str = ""  # the publisher, when known ("TechCrunch", "Daily Express US")
    annotation: Annotation | None = None  # sentences and named entities (rag.nlp, index time)
    # Where pages begin in ``text``, for PDFs and Word files: ((offset, page number), ...).
    pages: tuple[tuple[int, int], ...] = ()

    def sentences(self) -> tuple[tuple[int, int], ...]:
        """Sentence spans into ``text``: the stored annotation's, else split now."""
        if self.annotation is not None:
            return self.annotation.sentences
        from rag.text import split_sentences

        return tuple(split_sentences(self.text))

    def page_at(self, offset: int) -> int | None:
        """The page that holds ``text[offset]``, or None for a text without pages."""
        if not self.pages:
            return None
        i = bisect_right([start for start, _ in self.pages], offset) - 1
        return self.pages[max(i, 0)][1]


@dataclass(frozen=True)
class Chunk:
    """A span of an article: ``article.text[start:end] == text``, always."""

    chunk_id: str
    doc_id: str
    text: str
    start: int
    end: int
    title: str = ""
    published: str | None = None
    also_in: tuple[str, ...] = ()  # other doc_ids holding the same text
    source: str = ""  # the article's publisher


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its score (higher is better) and 1-based rank."""

    chunk: Chunk
    score: float
    rank: int

    @property
    def doc_id(self) -> str:
        return self.chunk.doc_id

    @property
    def chunk_id(self) -> str:
        return self.chunk.chunk_id

    @property
    def text(self) -> str:
        return self.chunk.text

    @property
    def start(self) -> int:
        return self.chunk.start

    @property
    def end(self) -> int:
        return self.chunk.end

    @property
    def title(self) -> str:
        return self.chunk.title

    @property
    def published(self) -> str | None:
        return self.chunk.published

    @property
    def source(self) -> str:
        return self.chunk.source


@dataclass(frozen=True)
class Citation:
    """Marker ``[n]`` in the answer: ``quote == article(doc_id).text[start:end]``."""

    n: int
    doc_id: str
    title: str
    published: str | None
    quote: str
    start: int
    end: int
    score: float
    also_in: tuple[str, ...] = ()
    note: str | None = None  # e.g. a resolved date: "Tuesday = 2024-03-19"
    source: str = ""  # the publisher, when known
    page: int | None = None  # the page the quote begins on, in a PDF or Word file


@dataclass(frozen=True)
class Answer:
    """An answer with inline ``[n]`` markers; ``to_dict()`` is what every entry point returns."""

    question: str
    text: str
    citations: tuple[Citation, ...] = ()
    refused: bool = False
    confidence: float = 0.0
    backend: str = "extractive"
    timings: dict[str, float] = field(default_factory=dict)
    unsupported: tuple[str, ...] = ()  # generated sentences dropped by the grounding check
    short: str | None = None  # the short answer the text leads with: "Yes", "22 March 2024"
    passages: tuple[Passage, ...] = ()  # what answering read, best first

    def to_dict(self) -> dict[str, Any]:  # Any: JSON
        d = asdict(self)
        d["citations"] = [asdict(c) for c in self.citations]
        for c in d["citations"]:
            c["also_in"] = list(c["also_in"])
        # Where each passage lies (its text is the article's text between the offsets).
        d["passages"] = [{"doc_id": p.doc_id, "chunk_id": p.chunk_id, "start": p.start,
                          "end": p.end, "score": round(p.score, 4), "rank": p.rank}
                         for p in self.passages]
        d["unsupported"] = list(self.unsupported)
        d["timings"] = {k: round(v, 2) for k, v in self.timings.items()}
        d["confidence"] = round(self.confidence, 4)
        return d
