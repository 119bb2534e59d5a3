"""REST: ask a question, whole (POST /api/ask) or streamed as server-sent events."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse, format_sse_event
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from rag.chat import Chat
from rag.engine import check_question
from rag.errors import RagError
from rag.settings import MAX_K, MAX_QUESTION_CHARS
from rag.types import Answer
from ui.api_errors import ERROR_RESPONSES, ErrorBody, rag_error_response
from ui.service import Service

log = logging.getLogger(__name__)

MAX_HISTORY = 40

QUESTION = "When did the US warn Russia?"


class Message(BaseModel):
    """One earlier turn of a conversation the client keeps itself."""

    role: str = Field(pattern="^(user|assistant)$", examples=["user"])
    content: str = Field(max_length=20_000, examples=[QUESTION])


class AskRequest(BaseModel):
    """A question, and optionally where to look and which conversation it continues."""

    question: str = Field(
        description=f"the question, at most {MAX_QUESTION_CHARS:,} characters",
        examples=[QUESTION])
    k: int | None = Field(default=None, ge=1, le=MAX_K,
                          description="passages to retrieve (default: RAG_TOP_K, 8)")
    backend: str | None = Field(default=None, max_length=40,
                                description="an answering backend from GET /api/health")
    collection: str | None = Field(default=None, max_length=40,
                                   description="the collection to ask (default: RAG_COLLECTION)")
    conversation_id: str | None = Field(
        default=None, max_length=64,
        description="a stored conversation (POST /api/conversations): the question is read as "
                    "its follow-up and the turn is kept")
    history: list[Message] | None = Field(
        default=None, max_length=MAX_HISTORY,
        description="earlier turns, for a client that keeps the conversation itself")

    model_config = {"json_schema_extra": {"examples": [
        {"question": QUESTION},
        {"question": "And what did Putin say about it?", "conversation_id": "3f9a0c1d2b4e5f60"},
        {"question": "How many people died?", "k": 12, "collection": "articles"},
    ]}}


ANSWER_EXAMPLE: dict[str, Any] = {  # Any: JSON
    "question": QUESTION,
    "text": "March 7: The U.S. Embassy to Moscow on March 7 warned its citizens to avoid large "
            "gatherings in the city [1]",
    "citations": [{
        "n": 1, "doc_id": "003_5868e0cb99ad3839",
        "title": "U.S. Warned Russia Of Possible ISIS Attack in Moscow - State Dept",
        "published": "2024-03-26",
        "quote": "The U.S. Embassy to Moscow on March 7 warned its citizens to avoid large "
                 "gatherings in the city",
        "start": 1021, "end": 1116, "score": 0.83, "also_in": ["004_b0e8c07438467e07"],
        "note": None, "source": ""}],
    "refused": False, "confidence": 0.94, "backend": "extractive",
    "timings": {"retrieve_ms": 9.1, "evidence_ms": 4.2, "total_ms": 15.3}, "unsupported": [],
}


def _chat_for(service: Service, req: AskRequest) -> Chat:
    chat = service.new_chat(req.collection, req.k, req.backend, req.conversation_id)
    if req.history and not req.conversation_id:
        service.load_messages(chat, [m.model_dump() for m in req.history])
    return chat


def ask_router(service: Service) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["ask"], responses=ERROR_RESPONSES)

    @router.post("/ask", responses={200: {"description": "the answer, as "
                                          "`rag.answer(question).to_dict()` returns it",
                                          "content": {"application/json": {
                                              "example": ANSWER_EXAMPLE}}}})
    async def ask(req: AskRequest) -> JSONResponse:
        """Answer a question with cited passages, or refuse when the articles hold no answer."""

        def run() -> Answer:
            chat = _chat_for(service, req)
            answer = service.answer(req.question, chat)
            if req.conversation_id:
                service.record_turn(req.conversation_id, chat)
            return answer

        result = await run_in_threadpool(run)
        return JSONResponse(result.to_dict())

    @router.post(
        "/ask/stream",
        responses={200: {"description": (
            "Server-sent events: `delta` events (`{\"text\": \"...\"}`) as the answer is "
            "written, then one `answer` event with the Answer JSON of POST /api/ask. A "
            "failure after the stream began is an `error` event with the error JSON."),
            "content": {"text/event-stream": {"example": (
                'event: delta\ndata: {"text": "March 7: The U.S. Embassy..."}\n\n'
                'event: answer\ndata: {"question": "When did the US warn Russia?", ...}\n\n')}}},
            422: {"model": ErrorBody}})
    async def ask_stream(req: AskRequest) -> Any:  # Any: a Starlette response
        """The answer as it is written, for clients that show text as it arrives."""
        # Everything that can be checked is checked before the stream starts, so a bad
        # request is a plain JSON error, not an event.
        try:
            check_question(req.question)
            chat = await run_in_threadpool(_chat_for, service, req)
        except RagError as e:
            return rag_error_response(e, service.settings)

        def events() -> Iterator[bytes]:
            try:
                for item in service.stream(req.question, chat):
                    if isinstance(item, Answer):
                        if req.conversation_id:
                            service.record_turn(req.conversation_id, chat)
                        yield _event("answer", item.to_dict())
                    elif item:
                        yield _event("delta", {"text": item})
            except RagError as e:
                body = rag_error_response(e, service.settings).body
                yield format_sse_event(event="error", data_str=bytes(body).decode())
            except Exception:
                log.exception("answering failed")
                yield _event("error", {"error": "answering failed; see the server log",
                                       "field": None})

        return EventSourceResponse(_iterate(events()))

    return router


def _event(name: str, data: dict[str, Any]) -> bytes:  # Any: JSON
    return format_sse_event(event=name, data_str=json.dumps(data, ensure_ascii=False))


async def _iterate(items: Iterator[bytes]) -> Any:  # Any: an async iterator of bytes
    """Each next() in a worker thread: answering is CPU work that must not block the loop."""
    done = object()
    while True:
        item = await run_in_threadpool(next, items, done)
        if item is done:
            return
        yield item
