"""REST: stored conversations (list, start, read, export as Markdown, delete)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from ui.api_errors import ERROR_RESPONSES
from ui.service import Service

INFO_EXAMPLE = {"id": "3f9a0c1d2b4e5f60", "title": "When did the US warn Russia?",
                "collection": "articles", "created": "2026-11-23T10:02:11Z",
                "updated": "2026-11-23T10:03:40Z", "turns": 2}


class NewConversation(BaseModel):
    collection: str | None = Field(default=None, max_length=40,
                                   description="the collection it asks (default: RAG_COLLECTION)")


def conversations_router(service: Service) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["conversations"], responses=ERROR_RESPONSES)

    @router.get("/conversations", responses={200: {"content": {"application/json": {
        "example": {"conversations": [INFO_EXAMPLE]}}}}})
    def conversations(collection: str | None = Query(default=None, max_length=40)
                      ) -> dict[str, Any]:  # Any: JSON
        """Stored conversations, the most recent first (of one collection when given)."""
        return {"conversations": [c.to_dict() for c in service.list_conversations(collection)]}

    @router.post("/conversations", status_code=201,
                 responses={201: {"content": {"application/json": {"example": {
                     **INFO_EXAMPLE, "title": "New conversation", "turns": 0}}}}})
    def start(body: NewConversation | None = None) -> dict[str, Any]:  # Any: JSON
        """Start a conversation; pass its id as `conversation_id` to POST /api/ask."""
        return service.start_conversation(body.collection if body else None).to_dict()

    @router.get("/conversations/{conversation_id}")
    def conversation(conversation_id: str) -> dict[str, Any]:  # Any: JSON
        """A conversation with every turn: the question, the question searched for, the answer."""
        return service.conversation(conversation_id).to_dict()

    @router.get("/conversations/{conversation_id}/export",
                responses={200: {"content": {"text/markdown": {"example": (
                    "# When did the US warn Russia?\n\n## 1. When did the US warn Russia?\n\n"
                    "March 7: ... [1]\n\n[1] *U.S. Warned Russia ...* (2024-03-26): “...”\n")}}}})
    def export(conversation_id: str) -> Response:
        """The conversation as Markdown, each answer followed by its numbered sources."""
        text = service.export_conversation(conversation_id)
        return Response(text, media_type="text/markdown; charset=utf-8", headers={
            "content-disposition": f'attachment; filename="conversation-{conversation_id}.md"'})

    @router.delete("/conversations/{conversation_id}", status_code=204)
    def delete(conversation_id: str) -> Response:
        """Forget a conversation."""
        service.delete_conversation(conversation_id)
        return Response(status_code=204)

    return router
