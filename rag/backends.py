"""The answering backends ("synthesizers"), chosen by name through one registry.

A backend's module is imported only when it is chosen, so an optional dependency that is not
installed costs nothing until asked for, and then fails with the install command.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Protocol

from rag.errors import BackendError

if TYPE_CHECKING:
    from rag.prepare import Prepared
    from rag.settings import Settings
    from rag.types import Answer, Article


class Synthesizer(Protocol):
    """Turns a prepared question into a cited answer. Refusal is decided before it is called.

    ``prepared`` holds the question analysed once, the passages, the ranked evidence, the
    typed candidates and the yes/no reading: the extractive backend composes from them; an
    LLM backend prompts with the passages and falls back to the extractive answer
    (``ExtractiveSynthesizer(settings).answer(prepared, articles)``).
    """

    name: str

    def answer(self, prepared: Prepared, articles: Mapping[str, Article]) -> Answer: ...

    def stream(self, prepared: Prepared, articles: Mapping[str, Article]
               ) -> Iterator[str | Answer]:
        """Yield text deltas as they come, then the final checked ``Answer`` last."""
        ...


# name -> "module:factory"; the factory takes (settings) and returns a Synthesizer.
BACKENDS: dict[str, str] = {
    "extractive": "rag.extractive:ExtractiveSynthesizer",
    "openai": "rag.llm:OpenAISynthesizer",
    "local": "rag.llm:LocalSynthesizer",
}

_cache: dict[tuple[str, Settings], Synthesizer] = {}


def get_synthesizer(name: str, settings: Settings) -> Synthesizer:
    """The backend called ``name``, built once per settings."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    key = (name, settings)
    if key not in _cache:
        module, _, factory = BACKENDS[name].partition(":")
        _cache[key] = getattr(importlib.import_module(module), factory)(settings)
    return _cache[key]


# What a backend needs before it can answer: a setting and an installed package.
_NEEDS: dict[str, tuple[str, str]] = {
    "openai": ("llm_url", "llama_index.llms.openai_like"),
    "local": ("llm_path", "llama_cpp"),
}


def configured_backends(settings: Settings) -> list[str]:
    """The backends that can answer with ``settings``: offered by the page, listed by the API.
    (``extractive`` always can; an LLM backend needs its URL or model file and its package.)"""
    from importlib.util import find_spec

    out = []
    for name in BACKENDS:
        setting, package = _NEEDS.get(name, ("", ""))
        if setting and not getattr(settings, setting):
            continue
        try:
            if package and find_spec(package) is None:
                continue
        except (ImportError, ValueError):
            continue
        out.append(name)
    return out
