"""The server: REST routes under /api and the Gradio chat page mounted at /.

Safe by default: analytics, monitoring, run history and the MCP server are off; every request
passes ``ui.guard.Guard`` (Host allow-list, token, same-origin, body and upload limits, no URL
fetching, files only from this session's uploads); Gradio's temporary files live inside
RAG_HOME, private to the user; errors never show server paths or echo the request; and the
browser is told to load images only from this server.
"""

from __future__ import annotations

import os

# Must be set before gradio is imported: it reads this at import time.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import FastAPI
from gradio import utils as gr_utils

from rag.settings import MAX_K, MAX_QUESTION_CHARS, Settings
from rag.store import Store
from ui.guard import Guard, ServerSettings
from ui.page import CSS, HEAD, build_page, theme
from ui.routes import add_routes
from ui.service import Service
from ui.uploads import forget_uncommitted, make_private, private_dir

log = logging.getLogger(__name__)

# What RAG_HOME holds besides Gradio's temporary folder (tmp/), none of it ever served.
PRIVATE_NAMES = ("chroma", "bm25", "gens", "uploads", "index.lock", "CURRENT",
                 "conversations.sqlite3", "ask_history", "minhash.npz")


def upload_body_limit(server: ServerSettings, max_file_bytes: int) -> int:
    """One upload request (Gradio's upload route or POST /api/documents): the guard's limit
    (42 MB), or one file at the size limit (RAG_MAX_FILE_MB) when that is larger."""
    return max(server.max_upload_body, max_file_bytes + (64 << 10))

Scope = MutableMapping[str, Any]  # Any: ASGI messages
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]  # Any: ASGI messages
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]




class SecurityHeaders:
    """Images (and frames) only from this server: model output can never pull a tracker in."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        # Any: an ASGI message
        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                headers += [
                    (
                        b"content-security-policy",
                        b"img-src 'self' data: blob:; frame-ancestors 'self'; object-src 'none'",
                    ),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(
    settings: Settings | None = None, *, warm: bool = True, server: ServerSettings | None = None
) -> FastAPI:
    """The FastAPI app: /api routes, and the chat page at / (Gradio)."""
    settings = settings or Settings.from_env()
    server = server or ServerSettings.from_env()
    server = replace(server, max_upload_body=upload_body_limit(server, settings.max_file_bytes))
    home = Path(settings.home).resolve()
    make_private(home)
    # Gradio's raw uploads go inside RAG_HOME, private, unless the operator chose a folder;
    # Gradio reads this when the page is built, so it is set before that.
    os.environ.setdefault("GRADIO_TEMP_DIR", str(home / "tmp" / "gradio"))
    upload_cache = private_dir(Path(gr_utils.get_upload_folder()))
    service = Service(settings)
    # Never served, whatever a file URL says: the index, raw uploads, the articles.
    private = [*(home / name for name in PRIVATE_NAMES), Path(settings.articles_dir).resolve()]

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Load the models while the user reads the page, not on the first question; forget
        # raw uploads that a crash kept out of the index.
        threading.Thread(target=_start_up, args=(service, warm), daemon=True).start()
        yield

    api = FastAPI(
        title="Ask the news",
        lifespan=lifespan,
        description="Cited answers from news articles, offline. Errors are one line of JSON: "
        '`{"error": "...", "field": "question"}`.',
        version=_version(),
        docs_url=None,  # ui/routes_docs.py serves /docs from local assets (FastAPI's use a CDN)
        redoc_url=None,
    )
    api.state.service = service

    @api.get("/api/health")
    def health() -> dict[str, Any]:  # Any: JSON
        """Liveness, without loading any model."""
        return {
            "status": "ok",
            "indexed": service.is_indexed(),
            "backend": settings.backend,
            "backends": service.backends(),
            "collection": settings.collection,
            "max_question_chars": MAX_QUESTION_CHARS,
            "max_k": MAX_K,
        }

    add_routes(api, service)

    page = build_page(service)
    page.queue(default_concurrency_limit=4, max_size=64)
    app = gr.mount_gradio_app(
        api,
        page,
        path="/",
        footer_links=[],
        run_history=False,
        enable_monitoring=False,
        mcp_server=False,
        ssr_mode=False,
        pwa=False,
        max_file_size=settings.max_file_bytes,
        allowed_paths=[],
        # Belt and braces: Gradio's own check also refuses these, whatever its cache dir is.
        blocked_paths=[str(p) for p in private],
        css=CSS,
        theme=theme(),
        head=HEAD,
    )
    # Gradio checks that an event's files were uploaded only once it thinks it "launched";
    # mounted apps never launch, so without this any readable server path would be accepted.
    page.has_launched = True
    app.add_middleware(SecurityHeaders)
    app.add_middleware(
        Guard,
        settings=server,
        upload_dirs=[upload_cache, service.uploads_dir],
        denied_dirs=private,
    )
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rag-cited")
    except PackageNotFoundError:
        return "0"



def _start_up(service: Service, warm: bool) -> None:
    if not warm and not service.uploads_dir.is_dir():
        return
    with service._index_lock:  # not while an upload is being indexed
        try:
            articles = dict(service.articles())
            # Every collection shares the uploads folder: a file is kept if any indexes it.
            for name in service.collections():
                if name != service.settings.collection:
                    articles.update(Store(service.settings_for(name)).articles(max_age=0))
        except Exception as e:  # noqa: BLE001 - optional here; the page reports real errors
            log.info("warm-up skipped: %s", type(e).__name__)
            return
        indexed = set(articles) | {d for a in articles.values() for d in a.also_published_as}
        removed = forget_uncommitted(service.uploads_dir, indexed)
    if removed:
        log.warning("removed %d upload(s) a crash kept out of the index", removed)
