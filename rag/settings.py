"""Settings, read from the environment once at the edge (``Settings.from_env()``)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from rag.errors import ConfigError

MAX_QUESTION_CHARS = 2000
MAX_K = 50  # passages per question: beyond this answers get slower, not better
DEFAULT_COLLECTION = "articles"
# Chroma names are 3-63 characters; ours get "_chunks"/"_docs" appended, and become folder names.
_COLLECTION = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ARTICLES = PROJECT_ROOT / "data" / "articles"


def check_k(k: object) -> int:
    """``k`` as an int from 1 to ``MAX_K``; ``InvalidOption`` (field "k") otherwise."""
    from rag.errors import InvalidOption

    if isinstance(k, bool) or not isinstance(k, int | str):
        raise InvalidOption(f"k must be a whole number from 1 to {MAX_K}", "k")
    try:
        value = int(k)
    except ValueError:
        raise InvalidOption(f"k must be a whole number from 1 to {MAX_K}", "k") from None
    if not 1 <= value <= MAX_K:
        raise InvalidOption(f"k is {value}; choose a number of passages from 1 to {MAX_K}", "k")
    return value


def check_collection(name: object) -> str:
    """A collection name: lower-case letters, digits, ``-`` and ``_``, up to 40 characters."""
    from rag.errors import InvalidOption

    if not isinstance(name, str) or not _COLLECTION.match(name):
        raise InvalidOption(
            "a collection name is 1 to 40 lower-case letters, digits, '-' or '_', starting "
            "with a letter or digit (e.g. 'news-2024')", "collection")
    return name


EMBED_MODELS = ("sentence-transformers/all-MiniLM-L6-v2",)  # shipped in a wheel: offline
EMBED_BACKENDS = ("onnx", "torch")
# How index time computes a chunk's vector (questions and sentences are always embedded in
# fp32): "pooled" from its sentences' vectors (no pass over the chunks at all), or the chunk
# text embedded in "int8" or "fp32". See index/pipeline.py for the measurements.
CHUNK_VECTORS = ("pooled", "int8", "fp32")


def offline_env() -> None:
    """Never let a library reach a model hub or phone home: called just before the code that
    loads such a library (the embedding model, the Chroma client), not at import."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _user_cache() -> Path:
    return Path.home() / ".cache"


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Build with ``from_env()``; derive with ``replace()``."""

    home: Path = Path(".rag")
    collection: str = DEFAULT_COLLECTION
    chroma_url: str | None = None
    chroma_token: str | None = None
    embed_model: str = EMBED_MODELS[0]  # the only one shipped; the store records it
    embed_backend: str = "onnx"  # "onnx" (fast start) or "torch" (the reference): same vectors
    chunk_vectors: str = "pooled"  # "pooled" (from the sentence vectors), "int8" or "fp32"
    cache_dir: Path = field(default_factory=_user_cache)  # derived model files (ONNX export)
    chunk_tokens: int = 200  # under MiniLM's 256 word pieces, leaving room for title + date
    top_k: int = 10  # passages read per question (the MultiHop-RAG metrics are @10)
    backend: str = "extractive"
    llm_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_path: str | None = None
    llm_timeout: float = 60.0
    articles_dir: Path = DEFAULT_ARTICLES
    max_file_mb: float = 10.0  # one file's size limit, the same for the CLI, page and API

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 2**20)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env
        d = cls()
        return cls(
            home=Path(e.get("RAG_HOME", str(d.home))),
            collection=check_collection(e.get("RAG_COLLECTION") or d.collection),
            chroma_url=e.get("RAG_CHROMA_URL") or None,
            chroma_token=e.get("RAG_CHROMA_TOKEN") or None,
            embed_model=_choice(e, "RAG_EMBED_MODEL", EMBED_MODELS, d.embed_model),
            embed_backend=_choice(e, "RAG_EMBED_BACKEND", EMBED_BACKENDS, d.embed_backend,
                                  fold=True),
            chunk_vectors=_choice(e, "RAG_CHUNK_VECTORS", CHUNK_VECTORS, d.chunk_vectors,
                                  fold=True),
            cache_dir=Path(e["XDG_CACHE_HOME"]) if e.get("XDG_CACHE_HOME") else d.cache_dir,
            top_k=check_k(e.get("RAG_TOP_K", d.top_k)),
            backend=e.get("RAG_BACKEND", d.backend),
            llm_url=e.get("RAG_LLM_URL") or None,
            llm_model=e.get("RAG_LLM_MODEL") or None,
            llm_api_key=e.get("RAG_LLM_API_KEY") or None,
            llm_path=e.get("RAG_LLM_PATH") or None,
            llm_timeout=float(e.get("RAG_LLM_TIMEOUT", d.llm_timeout)),
            articles_dir=Path(e.get("RAG_ARTICLES", str(d.articles_dir))),
            max_file_mb=_positive(e, "RAG_MAX_FILE_MB", d.max_file_mb),
        )

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str,
            fold: bool = False) -> str:
    """One of ``allowed`` from the environment, or a ``ConfigError`` that lists them."""
    raw = (env.get(name) or "").strip()
    value = raw.lower() if fold else raw
    if not value:
        return default
    if value not in allowed:
        raise ConfigError(f"{name}={raw!r} is not available here; choose one of: "
                          f"{', '.join(allowed)}")
    return value


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    """A positive number from the environment, or a ``ConfigError`` that names the variable."""
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ConfigError(f"{name}={raw!r} is not a positive number of megabytes; "
                          f"unset it for the default ({default:g})")
    return value
