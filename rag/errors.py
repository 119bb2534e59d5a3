"""Named errors. Each message says what to do next."""

from __future__ import annotations


class RagError(Exception):
    """Base class for every error the product raises on purpose."""


class ConfigError(RagError, ValueError):
    """A setting in the environment has a value that cannot be used."""


class InvalidQuestion(RagError, ValueError):
    """The question is empty, too long or not text."""

    field = "question"


class InvalidOption(RagError, ValueError):
    """An option is out of range or unknown (``-k 0``, a bad collection name).

    ``field`` names the option, for the REST API's error JSON."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class DocumentNotFound(RagError, KeyError):
    """No indexed document has this id in this collection."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConversationNotFound(RagError, KeyError):
    """No stored conversation has this id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


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
