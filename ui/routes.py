"""Every REST route under /api, and the API docs: added to the app in one call."""

from __future__ import annotations

from fastapi import FastAPI

from ui.api_errors import install_error_handlers
from ui.routes_ask import ask_router
from ui.routes_conversations import conversations_router
from ui.routes_docs import add_docs
from ui.routes_documents import documents_router
from ui.service import Service


def add_routes(api: FastAPI, service: Service) -> None:
    """The ask, documents and conversations routes, one-line JSON errors, /docs and /redoc."""
    install_error_handlers(api, service.settings)
    api.include_router(ask_router(service))
    api.include_router(documents_router(service))
    api.include_router(conversations_router(service))
    add_docs(api)
