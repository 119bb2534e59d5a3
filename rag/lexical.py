"""The lexical (BM25) index: built once per indexing run, saved beside the store, loaded once.

It is keyed by the store's fingerprint, so a process whose copy is stale (another process
indexed since) notices and reloads; a missing copy (a fresh machine pointed at a shared Chroma
server) is rebuilt from the store's chunks.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
from collections import Counter
from collections.abc import Sequence
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rag.settings import DEFAULT_COLLECTION
from rag.termtable import TermTable
from rag.text import ANALYZER, fold, split_sentences, terms
from rag.types import Chunk

_WORD = re.compile(r"\b[a-z]{3,40}\b")  # the words spelling correction may correct to


def lexical_text(chunk: Chunk) -> str:
    """What BM25 reads for a chunk: title, publisher, date (as written in prose) and text."""
    return f"{chunk.title}\n{chunk.source}\n{spoken_date(chunk.published)}\n{chunk.text}"


def spoken_date(iso: str | None) -> str:
    """"2023-10-07" -> "2023-10-07 October 7, 2023": questions name dates in words."""
    if not iso:
        return ""
    try:
        d = date.fromisoformat(iso[:10])
    except ValueError:
        return iso
    return f"{iso} {d:%B} {d.day}, {d.year}"


class _Scores:
    """bm25s's precomputed BM25 matrix (CSC: one column per term), scored with numpy alone:
    loading it this way skips importing bm25s and scipy (half a second of a cold start)."""

    def __init__(self, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray,
                 num_docs: int, vocab: dict[str, int]) -> None:
        self.data, self.indices, self.indptr = data, indices, indptr
        self.num_docs, self.vocab = num_docs, vocab

    @classmethod
    def of(cls, model: object) -> _Scores:
        sc = model.scores  # type: ignore[attr-defined]
        return cls(sc["data"], sc["indices"], sc["indptr"], int(sc["num_docs"]),
                   dict(model.vocab_dict))  # type: ignore[attr-defined]

    @classmethod
    def load(cls, folder: Path) -> _Scores:
        with open(folder / "params.index.json", encoding="utf-8") as f:
            params = json.load(f)
        if params.get("method", "lucene") not in ("lucene", "robertson", "atire"):
            raise ValueError(f"unsupported BM25 variant {params.get('method')}")
        with open(folder / "vocab.index.json", encoding="utf-8") as f:
            vocab = json.load(f)
        data, indices, indptr = (np.load(folder / f"{name}.csc.index.npy", allow_pickle=False)
                                 for name in ("data", "indices", "indptr"))
        num_docs = int(params["num_docs"])
        # Damaged arrays would index out of bounds on every question holding the term.
        top_term = max(vocab.values(), default=-1)
        if (indptr.ndim != 1 or top_term >= len(indptr) or len(data) != len(indices)
                or (len(indptr) and (indptr[0] != 0 or indptr[-1] != len(indices)))
                or (np.diff(indptr) < 0).any()
                or (len(indices) and (indices.min() < 0 or indices.max() >= num_docs))
                or not np.isfinite(data).all()):
            raise ValueError(f"{folder}: the BM25 arrays are damaged")
        return cls(data, indices, indptr, num_docs, vocab)

    def get_scores(self, query: list[str]) -> np.ndarray:
        """The same sums as ``bm25s.BM25.get_scores``: each query term's column, added."""
        scores = np.zeros(self.num_docs, dtype=np.float32)
        for t in query:
            i = self.vocab.get(t)
            if i is not None:
                a, b = self.indptr[i], self.indptr[i + 1]
                scores[self.indices[a:b]] += self.data[a:b]  # rows are unique within a column
        return scores


def chunk_sentence_terms(text: str) -> tuple[tuple[str, ...], ...]:
    """The terms of each sentence of a chunk's text: what re-scoring compares the question
    with (computed at index time, see ``LexicalIndex.sentence_terms``)."""
    return tuple(tuple(terms(text[s:e])) for s, e in split_sentences(text))


def words_key(text: str) -> int:
    """A digest of a text's words with stopwords, in order: two chunks with the same key
    hold the same passage (published in two articles), whatever the spacing and case."""
    words = " ".join(terms(text, keep_stopwords=True)).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(words, digest_size=8).digest(), "little")


class LexicalIndex:
    """BM25 over chunk texts (built by bm25s, scored by ``_Scores``), with its chunks and
    what answering reads of each chunk's text, analysed once here (``sentences``, ``keys``)."""

    def __init__(self, scores: _Scores | None, chunks: list[Chunk], fingerprint: str,
                 df: dict[str, int], words: dict[str, int] | None = None,
                 sentences: TermTable | None = None, keys: np.ndarray | None = None) -> None:
        self.scores = scores
        self.chunks = chunks
        self.fingerprint = fingerprint
        self.df = df  # chunks containing each term: idf weights for sentence scoring
        self.words = words or {}  # folded words as written, with counts: spelling correction
        # Per chunk, in ``chunks`` order: its sentences' terms, and its ``words_key``.
        self.sentences = sentences if sentences is not None else TermTable.build(
            chunk_sentence_terms(c.text) for c in chunks)
        self.keys = keys if keys is not None else np.array(
            [words_key(c.text) for c in chunks], dtype=np.uint64)
        self._row: dict[str, int] | None = None
        self._model: Any = None  # bm25s.BM25 (untyped), kept to be saved: only after build()

    def _row_of(self, chunk: Chunk) -> int | None:
        """``chunk``'s row in this index, when the index holds that chunk with that text."""
        if self._row is None:
            self._row = {c.chunk_id: i for i, c in enumerate(self.chunks)}
        i = self._row.get(chunk.chunk_id)
        return i if i is not None and self.chunks[i].text == chunk.text else None

    def sentence_terms(self, chunk: Chunk) -> tuple[frozenset[str], ...]:
        """The terms of each sentence of ``chunk`` (from the index; analysed now for a chunk
        it does not hold)."""
        i = self._row_of(chunk)
        return tuple(map(frozenset, self.sentences[i])) if i is not None else sentence_sets(
            chunk.text)

    def words_key(self, chunk: Chunk) -> int:
        """``words_key`` of ``chunk``'s text (from the index when it holds the chunk)."""
        i = self._row_of(chunk)
        return int(self.keys[i]) if i is not None else cached_words_key(chunk.text)

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency; unseen terms weigh the most."""
        n = len(self.chunks)
        return math.log(1 + (n + 1) / (self.df.get(term, 0) + 0.5))

    @classmethod
    def build(cls, chunks: Sequence[Chunk], fingerprint: str) -> LexicalIndex:
        corpus = [terms(lexical_text(c)) or ["_"] for c in chunks]
        df = Counter(t for doc in corpus for t in set(doc))
        words = Counter(w for c in chunks for w in _WORD.findall(fold(f"{c.title} {c.text}")))
        index = cls(None, list(chunks), fingerprint, dict(df), dict(words))
        if corpus:
            import bm25s  # index time only: queries score with numpy

            model = bm25s.BM25(k1=1.2, b=0.75)
            model.index(corpus, show_progress=False)
            index._model = model
            index.scores = _Scores.of(model)
        return index

    def search(self, query: str, k: int) -> list[tuple[Chunk, float]]:
        """Top ``k`` chunks by BM25 score (only those sharing a term with the query)."""
        return self.search_terms(terms(query), k)

    def search_terms(self, q: list[str], k: int) -> list[tuple[Chunk, float]]:
        """``search`` for an already analysed query (e.g. spelling-corrected terms)."""
        if not q or not self.chunks or self.scores is None:
            return []
        k = min(k, len(self.chunks))
        scores = self.scores.get_scores(q)  # read-only arrays: safe across threads
        if k < len(scores):
            top = np.argpartition(-scores, k - 1)[:k]
        else:
            top = np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.chunks[i], float(scores[i])) for i in top if scores[i] > 0]

    def save(self, folder: Path) -> None:
        tmp = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self._model is not None:
            self._model.save(str(tmp / "bm25"))
        self.sentences.save(tmp, "chunk_sentences")
        np.save(tmp / "chunk_keys.npy", self.keys)
        with open(tmp / "chunks.json", "w", encoding="utf-8") as f:
            json.dump({"fingerprint": self.fingerprint, "analyzer": ANALYZER, "df": self.df,
                       "words": self.words,
                       "chunks": [c.__dict__ | {"also_in": list(c.also_in)}
                                  for c in self.chunks]}, f)
        sums = {str(p.relative_to(tmp)): _sha256(p) for p in sorted(tmp.rglob("*"))
                if p.is_file()}
        with open(tmp / CHECKSUMS, "w", encoding="utf-8") as f:
            json.dump(sums, f)
        old = folder.with_name(f"{folder.name}.{os.getpid()}.old")
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)  # a reader sees the old copy or the new one, never half of one
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        """The saved index; ``ValueError`` when it was built by another text analyzer or its
        files do not match the checksums written with them (the caller rebuilds it)."""
        try:
            with open(folder / CHECKSUMS, encoding="utf-8") as f:
                sums = json.load(f)
        except FileNotFoundError:
            sums = {}  # written before checksums were: the arrays are still bounds-checked
        for name, digest in sums.items():
            if _sha256(folder / name) != digest:
                raise ValueError(f"{folder}: {name} is damaged")
        with open(folder / "chunks.json", encoding="utf-8") as f:
            data = json.load(f)
        if data.get("analyzer") != ANALYZER or "words" not in data:
            raise ValueError(f"{folder}: built with analyzer {data.get('analyzer')}")
        chunks = [Chunk(**(c | {"also_in": tuple(c["also_in"])})) for c in data["chunks"]]
        scores = _Scores.load(folder / "bm25") if chunks else None
        if scores is not None and scores.num_docs != len(chunks):
            raise ValueError(f"{folder}: the BM25 matrix does not match its chunk list")
        sentences = TermTable.load(folder, "chunk_sentences")
        keys = np.load(folder / "chunk_keys.npy", allow_pickle=False)
        if len(sentences) != len(chunks) or keys.shape != (len(chunks),):
            raise ValueError(f"{folder}: the chunk analyses do not match its chunk list")
        return cls(scores, chunks, data["fingerprint"], data["df"], data["words"], sentences,
                   keys)


CHECKSUMS = "checksums.json"


@lru_cache(maxsize=4096)
def sentence_sets(text: str) -> tuple[frozenset[str], ...]:
    """The term set of each sentence of a chunk no index holds (cached: chunks recur)."""
    return tuple(map(frozenset, chunk_sentence_terms(text)))


@lru_cache(maxsize=8192)
def cached_words_key(text: str) -> int:
    """``words_key`` of a chunk no index holds (cached likewise)."""
    return words_key(text)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def lexical_dir(home: Path, collection: str = DEFAULT_COLLECTION) -> Path:
    """Where one collection's BM25 index lives (the default collection keeps its old place)."""
    return home / "bm25" / ("current" if collection == DEFAULT_COLLECTION else collection)


def build_lexical(chunks: Sequence[Chunk], home: Path, fingerprint: str,
                  collection: str = DEFAULT_COLLECTION) -> LexicalIndex:
    """Build and save the lexical index for ``chunks`` of ``collection``."""
    index = LexicalIndex.build(chunks, fingerprint)
    index.save(lexical_dir(home, collection))
    return index
