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
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from gradio import utils as gr_utils
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from rag.errors import BackendError, IndexNotFound, InvalidQuestion, RagError
from rag.settings import MAX_QUESTION_CHARS, Settings
from ui.guard import Guard, ServerSettings
from ui.page import CSS, HEAD, build_page, theme
from ui.render import public_message
from ui.service import Service
from ui.uploads import MAX_UPLOAD_BYTES, forget_uncommitted, make_private, private_dir

log = logging.getLogger(__name__)

# What RAG_HOME holds besides Gradio's temporary folder (tmp/), none of it ever served.
PRIVATE_NAMES = ("chroma", "bm25", "gens", "uploads", "index.lock", "CURRENT")

MAX_HISTORY = 40

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Message(BaseModel):
    """One earlier turn of a conversation."""

    role: str = Field(pattern="^(user|assistant)$")
    content: str = Field(max_length=20_000)


class AskRequest(BaseModel):
    """Body of POST /api/ask."""

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    k: int | None = Field(default=None, ge=1, le=50)
    backend: str | None = Field(default=None, max_length=40)
    history: list[Message] | None = Field(default=None, max_length=MAX_HISTORY)


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


def create_app(
    settings: Settings | None = None, *, warm: bool = True, server: ServerSettings | None = None
) -> FastAPI:
    """The FastAPI app: /api routes, and the chat page at / (Gradio)."""
    settings = settings or Settings.from_env()
    server = server or ServerSettings.from_env()
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
        docs_url=None,  # the interactive docs load scripts from a CDN: not offline, not needed
        redoc_url=None,
    )
    api.state.service = service

    def public(e: BaseException) -> str:
        return public_message(e, settings)

    @api.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        """One line naming the field, never echoing what was sent (FastAPI's default does)."""
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        return JSONResponse(
            {"detail": f"invalid {where}: {first.get('msg', 'not understood')}"}, 422
        )

    @api.get("/api/health")
    def health() -> dict[str, Any]:
        """Liveness, without loading any model."""
        return {
            "status": "ok",
            "indexed": service.is_indexed(),
            "backend": settings.backend,
            "max_question_chars": MAX_QUESTION_CHARS,
        }

    @api.post("/api/ask")
    async def ask(req: AskRequest) -> JSONResponse:
        """Answer JSON, the same as ``rag.answer(question).to_dict()``."""
        history = [m.model_dump() for m in req.history] if req.history else None
        try:
            result = await run_in_threadpool(
                service.answer, req.question, req.k, req.backend, history
            )
        except InvalidQuestion as e:
            raise HTTPException(422, public(e)) from e
        except IndexNotFound as e:
            raise HTTPException(503, public(e)) from e
        except BackendError as e:
            raise HTTPException(400, public(e)) from e
        except RagError as e:
            log.warning("answering failed: %s", public(e))
            raise HTTPException(500, public(e)) from e
        return JSONResponse(result.to_dict())

    @api.get("/api/documents")
    async def documents() -> dict[str, Any]:
        """The indexed articles: title, date, chunk count, folded duplicates."""
        try:
            docs = await run_in_threadpool(service.documents)
        except IndexNotFound:
            docs = []
        except RagError as e:
            raise HTTPException(500, public(e)) from e
        # Server paths are nobody's business but the operator's.
        docs = [{k: v for k, v in d.items() if k != "source_path"} for d in docs]
        return {"count": len(docs), "documents": docs}

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
        max_file_size=MAX_UPLOAD_BYTES,
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


def _start_up(service: Service, warm: bool) -> None:
    if not warm and not service.uploads_dir.is_dir():
        return
    with service._index_lock:  # not while an upload is being indexed
        try:
            articles = service.articles()
        except Exception as e:  # noqa: BLE001 - optional here; the page reports real errors
            log.info("warm-up skipped: %s", type(e).__name__)
            return
        indexed = set(articles) | {d for a in articles.values() for d in a.also_published_as}
        removed = forget_uncommitted(service.uploads_dir, indexed)
    if removed:
        log.warning("removed %d upload(s) a crash kept out of the index", removed)
