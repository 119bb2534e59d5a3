"""Named errors. Each message says what to do next."""

from __future__ import annotations


class RagError(Exception):
    """Base class for every error the product raises on purpose."""


class ConfigError(RagError, ValueError):
    """A setting in the environment has a value that cannot be used."""


class InvalidQuestion(RagError, ValueError):
    """The question is empty, too long or not text."""


class IngestError(RagError):
    """A file could not be read: missing, unsupported type, binary or undecodable."""


class IndexNotFound(RagError):
    """There is no index yet under RAG_HOME."""


class EmbeddingMismatch(RagError):
    """The store was built with another embedding model than the one configured."""


class StoreError(RagError):
    """The store cannot be opened or written (locked, read-only, full or damaged)."""


class BackendError(RagError):
    """An answering backend is unknown, not installed or failed."""
