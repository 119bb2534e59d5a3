"""REST: the documents of a collection (list, add, open, delete, re-index) and the collections."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, File, Query, UploadFile
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from rag.errors import IngestError
from ui.api_errors import ERROR_RESPONSES
from ui.service import Service

COLLECTION = Query(default=None, max_length=40,
                   description="the collection (default: RAG_COLLECTION, 'articles')")
MAX_FILES = 20  # per request (the body as a whole is capped by ui.guard)

DOC_EXAMPLE: dict[str, Any] = {  # Any: JSON
    "id": "000_c2c3de656e4087f2",
    "title": "Putin calls US warning of terror attack 'provocative'",
    "file_name": "000_c2c3de656e4087f2.txt", "source": "", "published": "2024-03-26",
    "passages": 4, "added": "2026-11-23T10:02:11Z", "also_published_as": []}


class DocumentList(BaseModel):
    collection: str
    count: int
    documents: list[dict[str, Any]]  # Any: JSON

    model_config = {"json_schema_extra": {"examples": [
        {"collection": "articles", "count": 1, "documents": [DOC_EXAMPLE]}]}}


class DocumentOut(BaseModel):
    """One document opened: its listing, its cleaned text and its passages' spans."""

    id: str
    title: str
    file_name: str
    source: str
    published: str | None
    passages: int
    added: str | None
    also_published_as: list[str]
    text: str = Field(description="the cleaned article text; citation offsets index into it")
    passage_spans: list[dict[str, int]] = Field(
        description="each passage as character offsets into text")

    model_config = {"json_schema_extra": {"examples": [
        {**DOC_EXAMPLE, "text": "Russian President Vladimir Putin ...",
         "passage_spans": [{"n": 1, "start": 0, "end": 1180}]}]}}


class Removed(BaseModel):
    removed: list[str]
    unfolded: list[str] = Field(description="duplicate copies taken off their original's list")
    total_articles: int
    total_chunks: int


class Reindexed(BaseModel):
    id: str
    changed: bool = Field(description="whether the file's text differed from the indexed one")
    passages: int


class Added(BaseModel):
    """What an upload did: the indexer's lists, and one outcome per file, in the order sent."""

    added: list[str]
    updated: list[str]
    unchanged: list[str]
    duplicates: list[dict[str, str]]
    indexed: int = Field(description="files indexed (new, changed or already there)")
    skipped: int = Field(description="files not indexed; each one's message says why")
    summary: str = Field(description="e.g. '2 indexed, 1 skipped: scan.pdf'")
    files: list[dict[str, Any]] = Field(  # Any: JSON
        description="per file: file_name, id, status (indexed|skipped), message, "
                    "same_story_as")
    total_articles: int

    model_config = {"json_schema_extra": {"examples": [{
        "added": ["upload-3f2a9c1d0e4b5a68"], "updated": [], "unchanged": [], "duplicates": [],
        "indexed": 1, "skipped": 1, "summary": "1 indexed, 1 skipped: scan.pdf",
        "files": [
            {"file_name": "ferry.txt", "id": "upload-3f2a9c1d0e4b5a68", "status": "indexed",
             "message": "", "same_story_as": ""},
            {"file_name": "scan.pdf", "id": "", "status": "skipped",
             "message": "the PDF has no text layer (a scan?); run OCR on it first",
             "same_story_as": ""}],
        "total_articles": 2}]}}


def documents_router(service: Service) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["documents"], responses=ERROR_RESPONSES)

    @router.get("/collections")
    def collections() -> dict[str, Any]:  # Any: JSON
        """The collections (named indexes) in this RAG_HOME, and the default one."""
        return {"default": service.settings.collection, "collections": service.collections()}

    @router.get("/documents", response_model=DocumentList)
    def documents(collection: str | None = COLLECTION) -> dict[str, Any]:  # Any: JSON
        """The indexed documents: title, file name, publisher, date, passages, when added."""
        name = service.collection(collection)
        docs = [d.to_dict() for d in service.documents(name)]
        return {"collection": name, "count": len(docs), "documents": docs}

    @router.post("/documents", response_model=Added)
    async def add_documents(files: list[UploadFile] = File(  # noqa: B008 - FastAPI's idiom
                                description=".txt, .md, .html, .pdf or .docx files, up to "
                                            "RAG_MAX_FILE_MB (default 10) each"),
                            collection: str | None = COLLECTION) -> dict[str, Any]:  # Any: JSON
        """Add articles. Each file is checked and indexed on its own: a file that cannot be
        read is skipped (its entry says why and what to do) and the others still go in. When
        no file could be indexed, nothing changes and the answer is a 422 naming the first.
        A new collection name creates that collection."""
        if len(files) > MAX_FILES:
            raise IngestError(f"{len(files)} files at once; send at most {MAX_FILES}")
        limit = service.settings.max_file_bytes
        pairs = []
        for f in files:
            data = await f.read(limit + 1)
            pairs.append((f.filename or "unnamed.txt", data))
        result = await run_in_threadpool(service.add_files, pairs, None, collection)
        if not result.indexed:
            first = result.skipped[0]
            raise IngestError(f"{first.name}: {first.message}")
        r = result.report
        assert r is not None  # something was indexed
        return {"added": list(r.added), "updated": list(r.updated),
                "unchanged": list(r.unchanged),
                "duplicates": [{"id": d, "same_as": c} for d, c in r.duplicates],
                **result.to_dict(),
                "files": [{"file_name": o.name, "id": o.doc_id, "status": o.to_dict()["status"],
                           "message": o.message, "same_story_as": o.same_story_as}
                          for o in result.outcomes],
                "total_articles": r.total_articles}

    @router.get("/documents/{doc_id}", response_model=DocumentOut)
    def document(doc_id: str, collection: str | None = COLLECTION) -> dict[str, Any]:  # Any: JSON
        """One document: its cleaned text and the passages it was cut into."""
        return service.document(doc_id, collection).to_dict()

    @router.delete("/documents/{doc_id}", response_model=Removed)
    # Any: JSON
    def delete_document(doc_id: str, collection: str | None = COLLECTION) -> dict[str, Any]:
        """Delete a document: its record, its passages and its BM25 entries, all at once."""
        r = service.remove_documents([doc_id], collection)
        return {"removed": list(r.removed), "unfolded": list(r.unfolded),
                "total_articles": r.total_articles, "total_chunks": r.total_chunks}

    @router.post("/documents/{doc_id}/reindex", response_model=Reindexed)
    # Any: JSON
    def reindex_document(doc_id: str, collection: str | None = COLLECTION) -> dict[str, Any]:
        """Read the document's file again and rewrite its passages."""
        r = service.reindex_document(doc_id, collection)
        return {"id": r.doc_id, "changed": r.changed, "passages": r.passages}

    return router
