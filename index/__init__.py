"""Ingestion: article files -> cleaned, de-duplicated, chunked, embedded -> the store."""

from index.loader import FORMATS, Problem, SourceDoc, load_paths
from index.pipeline import IndexReport, index_bundled, index_documents, index_paths, to_article
from index.progress import IndexProgress

__all__ = ["FORMATS", "IndexProgress", "IndexReport", "Problem", "SourceDoc", "index_bundled",
           "index_documents", "index_paths", "load_paths", "to_article"]
