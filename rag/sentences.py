"""Sentence vectors, computed once at index time and kept beside the lexical index.

Answering scores every sentence of the retrieved passages against the question; with the
vectors stored, nothing but the question is embedded at ask time. The matrix (float16, one
row per sentence of every live article, in each article's sentence order) is keyed by the
store's fingerprint like the BM25 index: a process whose copy is stale reloads it, and a
missing copy (a new machine pointed at a shared Chroma server) is rebuilt from the store,
reusing nothing but costing one embedding pass.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from rag.settings import DEFAULT_COLLECTION
from rag.termtable import Row, TermTable
from rag.text import ANALYZER, first_offsets, terms
from rag.types import Article

Embed = Callable[[list[str]], np.ndarray]


F32_KEPT = 1024  # articles whose float32 sentence vectors are kept (~75 KB each at 50 sentences)


class _Kept(OrderedDict[str, np.ndarray]):
    """Converted vectors by doc_id, oldest use first, with the lock that guards them."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()


@dataclass(frozen=True)
class SentenceIndex:
    """Sentence vectors of every article; ``rows[doc_id] = (content_hash, first, count)``;
    with each sentence's terms and each term's first offset (``terms``, ``firsts``: one row
    per article, in the order of ``first``)."""

    fingerprint: str
    vectors: np.ndarray  # float16, L2-normalised rows
    rows: Mapping[str, tuple[str, int, int]]
    terms: TermTable | None = None  # None: not analysed yet (``analysed`` adds them)
    # Per article (rows as ``terms``): each term with its first offset (``first_offsets``).
    firsts: TermTable | None = None

    @cached_property
    def _term_row(self) -> dict[str, int]:
        return {d: i for i, d in enumerate(sorted(self.rows, key=lambda d: self.rows[d][1]))}

    def terms_of(self, article: Article) -> Row | None:
        """The terms of each of ``article``'s sentences, as ``rag.text.terms`` gives them, or
        None when they are not in the index."""
        got = self.rows.get(article.doc_id)
        if self.terms is None or got is None or got[0] != article.content_hash:
            return None
        row = self.terms[self._term_row[article.doc_id]]
        return row if len(row) == got[2] else None

    def first_of(self, article: Article) -> dict[str, int] | None:
        """``rag.text.first_offsets`` of ``article``'s text, or None when not in the index."""
        got = self.rows.get(article.doc_id)
        if self.firsts is None or got is None or got[0] != article.content_hash:
            return None
        return {t: int(at) for t, at in self.firsts[self._term_row[article.doc_id]]}

    def of(self, article: Article) -> np.ndarray | None:
        """The vectors of ``article``'s sentences (float32), or None when they are not (or no
        longer: another text) in the index.

        Stored as float16 (half the disk and page cache), read as float32: numpy converts
        float16 in software, about 5 ms for the ~3,000 sentences of one question's candidate
        articles (issue 14), so the converted rows of the last ``F32_KEPT`` articles asked
        for are kept."""
        got = self.rows.get(article.doc_id)
        if got is None or got[0] != article.content_hash:
            return None
        kept = self._f32
        with kept.lock:
            vecs = kept.get(article.doc_id)
            if vecs is not None:
                kept.move_to_end(article.doc_id)
                return vecs
        _, first, count = got
        vecs = np.asarray(self.vectors[first : first + count], dtype=np.float32)
        vecs.setflags(write=False)  # shared by every caller
        with kept.lock:
            kept[article.doc_id] = vecs
            while len(kept) > F32_KEPT:
                kept.popitem(last=False)
        return vecs

    @cached_property
    def _f32(self) -> _Kept:
        return _Kept()

    def save(self, folder: Path) -> None:
        tmp = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        np.save(tmp / "vectors.npy", self.vectors)
        with_terms = self.terms is not None and self.firsts is not None
        if self.terms is not None and self.firsts is not None:
            self.terms.save(tmp, "sentences")
            self.firsts.save(tmp, "first")
        (tmp / "rows.json").write_text(json.dumps(
            {"fingerprint": self.fingerprint, "rows": {k: list(v) for k, v in self.rows.items()},
             "analyzer": ANALYZER if with_terms else None}),
            encoding="utf-8")
        old = folder.with_name(f"{folder.name}.{os.getpid()}.old")
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)  # readers see the old copy or the new one, never half of one
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> SentenceIndex:
        data = json.loads((folder / "rows.json").read_text(encoding="utf-8"))
        vectors = np.load(folder / "vectors.npy", mmap_mode="r")
        rows = {k: (str(h), int(a), int(n)) for k, (h, a, n) in data["rows"].items()}
        if rows and max(a + n for _, a, n in rows.values()) > len(vectors):
            raise ValueError(f"{folder}: the sentence rows do not match the vectors")
        table: TermTable | None = None
        firsts: TermTable | None = None
        if data.get("analyzer") == ANALYZER:  # else another analyzer's: ``analysed`` again
            try:
                table, firsts = (TermTable.load(folder, "sentences"),
                                 TermTable.load(folder, "first"))
            except (OSError, ValueError):
                table = firsts = None  # missing or damaged: analysed again, vectors kept
            if table is not None and firsts is not None and not (len(table) == len(firsts)
                                                                 == len(rows)):
                table = firsts = None
        return cls(str(data["fingerprint"]), vectors, rows, table, firsts)


def sentences_dir(home: Path, collection: str = DEFAULT_COLLECTION) -> Path:
    """Where one collection's sentence vectors live (beside its BM25 index)."""
    return home / "sentences" / ("current" if collection == DEFAULT_COLLECTION else collection)


def build_sentences(articles: Mapping[str, Article], embed: Embed, fingerprint: str,
                    previous: SentenceIndex | None = None,
                    computed: Mapping[str, np.ndarray] | None = None) -> SentenceIndex:
    """Vectors for every sentence of ``articles``; rows of unchanged articles are copied from
    ``previous``, and those of ``computed`` (doc_id -> this run's vectors of the article's
    sentences) taken as they are, instead of embedded again."""
    parts: list[np.ndarray] = []
    rows: dict[str, tuple[str, int, int]] = {}
    at = 0
    todo: list[Article] = []
    for doc_id in sorted(articles):
        art = articles[doc_id]
        old = (computed or {}).get(doc_id)
        if old is None and previous is not None:
            old = previous.of(art)
        if old is not None and len(old) == len(art.sentences()):
            parts.append(np.asarray(old, dtype=np.float16))
            rows[doc_id] = (art.content_hash, at, len(old))
            at += len(old)
        else:
            todo.append(art)
    texts = [a.text[s:e] for a in todo for s, e in a.sentences()]
    fresh = embed(texts).astype(np.float16) if texts else np.zeros((0, 0), np.float16)
    pos = 0
    for art in todo:
        n = len(art.sentences())
        parts.append(fresh[pos : pos + n])
        rows[art.doc_id] = (art.content_hash, at, n)
        pos += n
        at += n
    dim = next((p.shape[1] for p in parts if p.size), 0)
    vectors = (np.concatenate([p.reshape(-1, dim) for p in parts]) if dim
               else np.zeros((0, 0), np.float16))
    return SentenceIndex(fingerprint, vectors, rows)


def pool_chunks(sentences: Sequence[tuple[int, int]], vectors: np.ndarray,
                chunks: Sequence[tuple[int, int]]) -> np.ndarray:
    """A vector for each chunk span from the vectors of the sentences it overlaps: their mean
    weighted by the characters each has inside the chunk (the model mean-pools its tokens, so
    a longer sentence carries more of a chunk), L2-normalised. A chunk overlapping no sentence
    gets a zero row."""
    starts = np.array([s for s, _ in sentences], dtype=np.int64)
    ends = np.array([e for _, e in sentences], dtype=np.int64)
    rows = np.asarray(vectors, dtype=np.float32)  # once, not per chunk
    out = np.zeros((len(chunks), rows.shape[1] if rows.ndim == 2 else 0), np.float32)
    for i, (cs, ce) in enumerate(chunks):
        weight = np.clip(np.minimum(ends, ce) - np.maximum(starts, cs), 0, None)
        if not weight.any():
            continue
        v = weight.astype(np.float32) @ rows
        out[i] = v / (np.linalg.norm(v) or 1.0)
    return out


def analysed(index: SentenceIndex, articles: Mapping[str, Article],
             previous: SentenceIndex | None = None) -> SentenceIndex:
    """``index`` with each article's sentence terms and first offsets (copied from
    ``previous``, or ``index`` itself, for unchanged articles; analysed here for the others).
    Separate from the vectors: analysing needs no embedding, so an index saved without these
    tables (or by another analyzer) gets them in seconds."""
    earlier = previous or index
    order = sorted(index.rows, key=lambda d: index.rows[d][1])
    table = TermTable.build(_sentence_terms(articles[d], earlier) for d in order)
    firsts = TermTable.build(_firsts(articles[d], earlier) for d in order)
    return replace(index, terms=table, firsts=firsts)


def _firsts(article: Article, previous: SentenceIndex | None) -> Row:
    """Each term of ``article`` with its first offset, as a table row (copied likewise)."""
    old = previous.first_of(article) if previous is not None else None
    got = old if old is not None else first_offsets(article.text)
    return tuple((t, str(at)) for t, at in got.items())


def _sentence_terms(article: Article, previous: SentenceIndex | None) -> Row:
    """The terms of each sentence of ``article``: copied from ``previous`` when it holds
    them (the same text), else analysed here."""
    old = previous.terms_of(article) if previous is not None else None
    if old is not None:
        return old
    return tuple(tuple(terms(article.text[s:e])) for s, e in article.sentences())
