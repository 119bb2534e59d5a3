"""The server: REST routes under /api and the Gradio chat page mounted at /.

Safe by default: analytics, monitoring, run history and the MCP server are off; uploads are
capped; Gradio's file route serves only its own upload cache (never $RAG_HOME, the raw
articles or anything else on disk); request bodies to /api are capped before they are parsed;
and the browser is told to load images only from this server.
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
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import gradio as gr
from fastapi import FastAPI
from gradio import utils as gr_utils

from index.loader import DEFAULT_MAX_FILE_BYTES
from rag.settings import MAX_K, MAX_QUESTION_CHARS, Settings
from ui.page import CSS, HEAD, build_page, theme
from ui.routes import add_routes
from ui.service import Service

log = logging.getLogger(__name__)

MAX_API_BODY = 64 * 1024  # a 2,000-character question plus a long history fits easily
MAX_UPLOAD_FILES = 20  # POST /api/documents: files per request


def _body_cap(path: str, max_file_bytes: int) -> int:
    """POST /api/documents carries article files: up to 20 of them at the upload limit
    (RAG_MAX_FILE_MB) each; every other /api body is a question."""
    if path.rstrip("/") == "/api/documents":
        return MAX_UPLOAD_FILES * max_file_bytes + 64 * 1024
    return MAX_API_BODY

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _send_json(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _file_route_path(raw: str) -> str | None:
    """The target of a Gradio file URL, decoded until stable (so %252F tricks are seen)."""
    for prefix in ("/gradio_api/file=", "/file="):
        if raw.startswith(prefix):
            target = raw[len(prefix) :]
            for _ in range(5):
                decoded = unquote(target)
                if decoded == target:
                    break
                target = decoded
            return target
    return None


class GuardMiddleware:
    """Caps /api bodies (413) and confines Gradio's file route to Gradio's upload cache (403)."""

    def __init__(self, app: ASGIApp, allowed_dirs: list[Path], denied_dirs: list[Path],
                 max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> None:
        self.app = app
        self.max_file_bytes = max_file_bytes
        self.allowed_dirs = [d.resolve() for d in allowed_dirs]
        self.denied_dirs = [d.resolve() for d in denied_dirs]

    def _file_allowed(self, target: str) -> bool:
        if "://" in target or target.startswith(("http:", "https:", "//")):
            return False  # no fetching of other hosts through us
        try:
            path = Path(target).resolve()
        except (OSError, ValueError):
            return False
        if any(path.is_relative_to(d) for d in self.denied_dirs):
            return False
        return any(path.is_relative_to(d) for d in self.allowed_dirs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        raw_path = scope.get("raw_path")
        raw = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else path
        target = _file_route_path(path) or _file_route_path(raw)
        if target is not None and not self._file_allowed(target):
            await _send_json(send, 403, b'{"detail":"File not allowed."}')
            return
        if path.startswith("/api/") and scope.get("method") in ("POST", "PUT", "PATCH"):
            headers = dict(scope.get("headers") or [])
            length = headers.get(b"content-length")
            cap = _body_cap(path, self.max_file_bytes)
            if length is not None and (not length.isdigit() or int(length) > cap):
                await _send_json(send, 413, b'{"detail":"Request body too large."}')
                return
            # Without a length (chunked), read up to the cap here, then replay it to the app.
            chunks: list[bytes] = []
            size, more = 0, True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                more = bool(message.get("more_body"))
                if size > cap:
                    await _send_json(send, 413, b'{"detail":"Request body too large."}')
                    return
            body = b"".join(chunks)
            replayed = False

            async def replay() -> MutableMapping[str, Any]:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)


class SecurityHeaders:
    """Images (and frames) only from this server: model output can never pull a tracker in."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

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


def create_app(settings: Settings | None = None, *, warm: bool = True) -> FastAPI:
    """The FastAPI app: /api routes, and the chat page at / (Gradio)."""
    settings = settings or Settings.from_env()
    service = Service(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if warm:  # load the models while the user reads the page, not on the first question
            threading.Thread(target=_warm_up, args=(service,), daemon=True).start()
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
    def health() -> dict[str, Any]:
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

    home = Path(settings.home).resolve()
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
        blocked_paths=[str(home), str(Path(settings.articles_dir).resolve())],
        css=CSS,
        theme=theme(),
        head=HEAD,
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(
        GuardMiddleware,
        allowed_dirs=[Path(gr_utils.get_upload_folder())],
        denied_dirs=[home, Path(settings.articles_dir)],
        max_file_bytes=settings.max_file_bytes,
    )
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rag-cited")
    except PackageNotFoundError:
        return "0"


def _warm_up(service: Service) -> None:
    try:
        service.articles()
    except Exception as e:  # noqa: BLE001 - warming is optional; the page reports real errors
        log.info("warm-up skipped: %s", e)
