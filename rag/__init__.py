"""Cited answers from news articles, offline.

    >>> from rag import answer
    >>> a = answer("when did the US warn Russia?")
    >>> a.text, a.citations, a.refused
"""

from rag.engine import Engine, answer, get_engine, retrieve
from rag.errors import (
    BackendError,
    EmbeddingMismatch,
    IndexNotFound,
    IngestError,
    InvalidQuestion,
    RagError,
    StoreError,
)
from rag.settings import Settings
from rag.types import Answer, Article, Chunk, Citation, Passage

__all__ = [
    "Answer", "Article", "BackendError", "Chunk", "Citation", "EmbeddingMismatch", "Engine",
    "IndexNotFound", "IngestError", "InvalidQuestion", "Passage", "RagError", "Settings",
    "StoreError", "answer", "get_engine", "retrieve",
]


def __getattr__(name: str) -> object:
    # Chat pulls in the LLM layer: import it only when asked for.
    if name == "Chat":
        from rag.chat import Chat

        return Chat
    raise AttributeError(name)
