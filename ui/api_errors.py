"""Errors of the REST API as one line of JSON: ``{"error": "...", "field": "question"}``.

The message says what to do and never repeats what was sent (a 2,000-character question, a
file's bytes or a path do not come back in an error), and names no server path
(``ui.render.public_message``: RAG_HOME, RAG_ARTICLES or an ellipsis instead).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.errors import (
    BackendError,
    ConversationNotFound,
    DocumentNotFound,
    EmbeddingMismatch,
    IndexNotFound,
    IngestError,
    InvalidOption,
    InvalidQuestion,
    RagError,
    StoreError,
)
from ui.render import public_message

if TYPE_CHECKING:
    from rag.settings import Settings

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """What every failed request returns."""

    error: str = Field(description="what went wrong and what to do")
    field: str | None = Field(default=None, description="the request field at fault, if one is")

    model_config = {"json_schema_extra": {"examples": [
        {"error": "the question is empty; ask something about the articles", "field": "question"}
    ]}}


def error_response(status: int, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "field": field}, status_code=status)


# (error class, HTTP status, field) - the first match wins, so subclasses come first.
_STATUS: Sequence[tuple[type[RagError], int, str | None]] = (
    (InvalidQuestion, 422, "question"),
    (InvalidOption, 422, None),
    (DocumentNotFound, 404, "id"),
    (ConversationNotFound, 404, "conversation_id"),
    (IngestError, 422, "file"),
    (BackendError, 400, "backend"),
    (IndexNotFound, 503, None),
    (EmbeddingMismatch, 503, None),
    (StoreError, 503, None),
)


def rag_error_response(e: RagError, settings: Settings | None = None) -> JSONResponse:
    """The response for one of our named errors; server paths in it are replaced."""
    message = public_message(e, settings)
    for cls, status, field in _STATUS:
        if isinstance(e, cls):
            if status >= 500:
                log.warning("request failed: %s", message)
            return error_response(status, message, getattr(e, "field", None) or field)
    log.warning("request failed: %s", message)
    return error_response(500, message)


_MESSAGES = {
    "missing": "{field} is required",
    "string_too_long": "{field} is too long: at most {max_length} characters",
    "string_too_short": "{field} is empty",
    "too_long": "{field} has too many items: at most {max_length}",
    "greater_than_equal": "{field} must be at least {ge}",
    "less_than_equal": "{field} must be at most {le}",
    "int_parsing": "{field} must be a whole number",
    "int_type": "{field} must be a whole number",
    "string_type": "{field} must be text",
    "json_invalid": "the body is not valid JSON",
    "model_attributes_type": "the body must be a JSON object",
    "dict_type": "the body must be a JSON object",
}


def validation_message(errors: Sequence[Mapping[str, Any]]) -> tuple[str, str | None]:  # Any: JSON
    """The first validation error as (message, field), built without the rejected input."""
    if not errors:
        return "the request is not valid", None
    err = errors[0]
    loc = [str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path")]
    field = ".".join(loc) or None
    template = _MESSAGES.get(str(err.get("type")))
    ctx = {k: v for k, v in (err.get("ctx") or {}).items() if isinstance(v, int | float | str)}
    if template:
        try:
            return template.format(field=field or "the body", **ctx), field
        except KeyError:
            pass
    # pydantic's own message names what is expected, not what was sent
    return f"{field or 'the body'}: {err.get('msg', 'not valid')}", field


def install_error_handlers(api: FastAPI, settings: Settings | None = None) -> None:
    """Every error from /api comes back as one line of ``ErrorBody`` JSON."""

    async def on_validation(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        message, field = validation_message(exc.errors())
        return error_response(422, message, field)

    async def on_rag_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RagError)
        return rag_error_response(exc, settings)

    async def on_http(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else "the request failed"
        if exc.status_code == 404 and detail == "Not Found":
            detail = "no such route; the routes are listed at /docs"
        return JSONResponse({"error": detail, "field": None}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    api.add_exception_handler(RequestValidationError, on_validation)
    api.add_exception_handler(RagError, on_rag_error)
    api.add_exception_handler(StarletteHTTPException, on_http)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {  # Any: JSON
    404: {"model": ErrorBody, "description": "no such document or conversation"},
    422: {"model": ErrorBody, "description": "a field is missing or out of range"},
    503: {"model": ErrorBody, "description": "the index is missing or unreachable"},
}
