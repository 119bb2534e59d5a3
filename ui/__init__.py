"""The chat page and REST API (``rag serve``): a FastAPI app with the Gradio page mounted at /."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from rag.settings import Settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, *, warm: bool = True) -> FastAPI:
    """The server app; importing ``ui`` stays cheap until this is called."""
    from ui.app import create_app as _create

    return _create(settings, warm=warm)
