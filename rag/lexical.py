"""The lexical (BM25) index: built once per indexing run, saved beside the store, loaded once.

It is keyed by the store's fingerprint, so a process whose copy is stale (another process
indexed since) notices and reloads; a missing copy (a fresh machine pointed at a shared Chroma
server) is rebuilt from the store's chunks.
"""

from __future__ import annotations

import json
import math
import shutil
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.text import terms
from rag.types import Chunk


def lexical_text(chunk: Chunk) -> str:
    """What BM25 reads for a chunk: title, date and text."""
    return f"{chunk.title}\n{chunk.published or ''}\n{chunk.text}"


class LexicalIndex:
    """BM25 over chunk texts (bm25s), with the chunks it indexes."""

    def __init__(self, model: object, chunks: list[Chunk], fingerprint: str,
                 df: dict[str, int]) -> None:
        self.model = model
        self.chunks = chunks
        self.fingerprint = fingerprint
        self.df = df  # chunks containing each term: idf weights for sentence scoring
        self._lock = threading.Lock()

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency; unseen terms weigh the most."""
        n = len(self.chunks)
        return math.log(1 + (n + 1) / (self.df.get(term, 0) + 0.5))

    @classmethod
    def build(cls, chunks: Sequence[Chunk], fingerprint: str) -> LexicalIndex:
        import bm25s

        model = bm25s.BM25(k1=1.2, b=0.75)
        corpus = [terms(lexical_text(c)) or ["_"] for c in chunks]
        if corpus:
            model.index(corpus, show_progress=False)
        df = Counter(t for doc in corpus for t in set(doc))
        return cls(model, list(chunks), fingerprint, dict(df))

    def search(self, query: str, k: int) -> list[tuple[Chunk, float]]:
        """Top ``k`` chunks by BM25 score (only those sharing a term with the query)."""
        q = terms(query)
        if not q or not self.chunks:
            return []
        k = min(k, len(self.chunks))
        with self._lock:
            scores = np.asarray(self.model.get_scores(q), dtype=np.float32)
        if k < len(scores):
            top = np.argpartition(-scores, k - 1)[:k]
        else:
            top = np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.chunks[i], float(scores[i])) for i in top if scores[i] > 0]

    def save(self, folder: Path) -> None:
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self.chunks:
            self.model.save(str(tmp / "bm25"))
        with open(tmp / "chunks.json", "w", encoding="utf-8") as f:
            json.dump({"fingerprint": self.fingerprint, "df": self.df,
                       "chunks": [c.__dict__ | {"also_in": list(c.also_in)}
                                  for c in self.chunks]}, f)
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)  # atomic: a reader sees the old copy or the new one, never half

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        import bm25s

        with open(folder / "chunks.json", encoding="utf-8") as f:
            data = json.load(f)
        chunks = [Chunk(**(c | {"also_in": tuple(c["also_in"])})) for c in data["chunks"]]
        model = bm25s.BM25.load(str(folder / "bm25")) if chunks else bm25s.BM25()
        return cls(model, chunks, data["fingerprint"], data["df"])


def lexical_dir(home: Path) -> Path:
    return home / "bm25" / "current"


def build_lexical(chunks: Sequence[Chunk], home: Path, fingerprint: str) -> LexicalIndex:
    """Build and save the lexical index for ``chunks``."""
    index = LexicalIndex.build(chunks, fingerprint)
    index.save(lexical_dir(home))
    return index
