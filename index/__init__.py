"""Ingestion: article files -> cleaned, de-duplicated, chunked, embedded -> the store."""

from index.loader import SourceDoc, load_paths
from index.pipeline import IndexReport, index_documents, index_paths, to_article

__all__ = ["IndexReport", "SourceDoc", "index_documents", "index_paths", "load_paths",
           "to_article"]
