"""Retrieval: dense (LlamaIndex over Chroma) and lexical (BM25), fused, duplicates collapsed."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from rag.embeddings import Embedder, llama_embedding
from rag.lexical import LexicalIndex, build_lexical, lexical_dir
from rag.store import Store
from rag.text import terms
from rag.types import Chunk, Passage

RRF_K = 60  # the constant from Cormack et al.; flat enough that both lists matter


@dataclass(frozen=True)
class Fusion:
    """How dense and lexical rankings are combined (weights of reciprocal rank fusion)."""

    dense: float = 1.0
    lexical: float = 1.0
    depth: int = 50  # candidates taken from each list


class Retriever:
    """Hybrid retriever over one store. Thread-safe; the lexical index reloads when stale."""

    def __init__(self, store: Store, embedder: Embedder, fusion: Fusion | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.fusion = fusion or Fusion()
        self._lexical: LexicalIndex | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._dense: Any = None

    # -- dense ---------------------------------------------------------------------------

    def _llama_retriever(self, n: int) -> Any:
        """LlamaIndex's retriever over the Chroma collection, built once."""
        if self._dense is None:
            from llama_index.core import VectorStoreIndex
            from llama_index.vector_stores.chroma import ChromaVectorStore

            vs = ChromaVectorStore(chroma_collection=self.store.chunks)
            self._dense = VectorStoreIndex.from_vector_store(
                vs, embed_model=llama_embedding(self.embedder))
        return self._dense.as_retriever(similarity_top_k=n)

    def dense(self, query: str, vector: np.ndarray, n: int) -> list[tuple[Chunk, float]]:
        """Nearest chunks by embedding; LlamaIndex's score is used for ranking only."""
        from llama_index.core.schema import QueryBundle

        n = max(1, min(n, self.store.chunk_count()))
        nodes = self._llama_retriever(n).retrieve(
            QueryBundle(query_str=query, embedding=vector.tolist()))
        arts = self.store.articles()
        out = []
        for nws in nodes:
            m = nws.node.metadata
            a = arts.get(m.get("doc_id", ""))
            if a is None or a.content_hash != m.get("content_hash"):
                continue  # a chunk of an article being rewritten, or left by a crash
            chunk = Chunk(chunk_id=nws.node.node_id, doc_id=m["doc_id"],
                          text=nws.node.get_content(), start=int(m["start"]), end=int(m["end"]),
                          title=m.get("title", ""), published=m.get("published") or None,
                          also_in=a.also_published_as)
            out.append((chunk, float(nws.score or 0.0)))
        return out

    # -- lexical -------------------------------------------------------------------------

    def lexical_index(self) -> LexicalIndex:
        """The BM25 index matching the store, loaded once and re-checked at most every second."""
        with self._lock:
            now = time.monotonic()
            if self._lexical is not None and now - self._checked < 1.0:
                return self._lexical
            self._checked = now
            fp = self.store.fingerprint()
            if self._lexical is not None and self._lexical.fingerprint == fp:
                return self._lexical
            folder = lexical_dir(self.store.settings.home)
            try:
                idx = LexicalIndex.load(folder)
                if idx.fingerprint != fp:
                    raise FileNotFoundError(folder)
            except (FileNotFoundError, ValueError, KeyError, OSError):
                # Written by another machine (shared Chroma server) or lost: rebuild it here.
                idx = build_lexical(self.store.live_chunks(), self.store.settings.home, fp)
            self._lexical = idx
            return idx

    # -- fused ---------------------------------------------------------------------------

    def retrieve(self, query: str, k: int, vector: np.ndarray | None = None,
                 lexical_terms: list[str] | None = None) -> list[Passage]:
        """The ``k`` best passages, best first, near-duplicate passages collapsed.

        ``lexical_terms`` replaces the analysed query for BM25 (e.g. spelling-corrected)."""
        if vector is None:
            vector = self.embedder.embed([query])[0]
        depth = max(self.fusion.depth, k * 3)
        dense = self.dense(query, vector, depth) if self.fusion.dense else []
        lexical = []
        if self.fusion.lexical:
            index = self.lexical_index()
            lexical = (index.search_terms(lexical_terms, depth) if lexical_terms is not None
                       else index.search(query, depth))
        return fuse(dense, lexical, k, self.fusion)


def fuse(dense: Sequence[tuple[Chunk, float]], lexical: Sequence[tuple[Chunk, float]], k: int,
         fusion: Fusion) -> list[Passage]:
    """Weighted reciprocal rank fusion, then collapse of passages with the same words."""
    scores: dict[str, float] = {}
    chunks: dict[str, Chunk] = {}
    for weight, ranked in ((fusion.dense, dense), (fusion.lexical, lexical)):
        for rank, (chunk, _) in enumerate(ranked, start=1):
            scores[chunk.chunk_id] = scores.get(chunk.chunk_id, 0.0) + weight / (RRF_K + rank)
            chunks.setdefault(chunk.chunk_id, chunk)
    order = sorted(scores, key=lambda cid: (-scores[cid], cid))
    best = max(scores.values(), default=1.0)
    passages: list[Passage] = []
    seen: dict[tuple[str, ...], int] = {}
    for cid in order:
        chunk = chunks[cid]
        key = tuple(terms(chunk.text, keep_stopwords=True))
        if key in seen:  # the same passage published in another article: list both sources
            i = seen[key]
            kept = passages[i].chunk
            also = tuple(sorted({*kept.also_in, chunk.doc_id, *chunk.also_in} - {kept.doc_id}))
            passages[i] = replace(passages[i], chunk=replace(kept, also_in=also))
            continue
        seen[key] = len(passages)
        passages.append(Passage(chunk=chunk, score=scores[cid] / best, rank=len(passages) + 1))
        if len(passages) >= k:
            break
    return passages
