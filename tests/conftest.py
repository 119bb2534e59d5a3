"""Shared fixtures: real Chroma stores in temporary RAG_HOMEs, built with the real model."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from rag import Engine, Settings  # noqa: E402

ARTICLES = Path(__file__).resolve().parent.parent / "data" / "articles"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """End a server the tests started: politely, then by force."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def settings_for(home: Path) -> Settings:
    """Settings for a store under ``home`` (the environment's other settings kept)."""
    return Settings.from_env().with_(home=home, chroma_url=None, articles_dir=ARTICLES)


# A test collection: doc_id -> (title, publication date or None, publisher, text).
Story = dict[str, tuple[str, str | None, str, str]]


def story_engine(home: Path, story: Story) -> Engine:
    """An engine over ``story``, indexed into a fresh store under ``home``."""
    from index import SourceDoc, index_documents

    docs = [SourceDoc(doc_id=k, text=body, source_path=f"{k}.txt", title=title,
                      published=date, source=source)
            for k, (title, date, source, body) in story.items()]
    index_documents(docs, settings_for(home))
    return Engine(settings_for(home))


@pytest.fixture(scope="session")
def indexed_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A RAG_HOME holding the five bundled articles, indexed once per test session."""
    from index import index_paths

    home = tmp_path_factory.mktemp("rag_home")
    index_paths([ARTICLES], settings_for(home))
    return home


@pytest.fixture(scope="session")
def engine(indexed_home: Path) -> Engine:
    """An engine over ``indexed_home``; it never re-indexes on its own."""
    return Engine(settings_for(indexed_home))


@pytest.fixture()
def tmp_home(tmp_path: Path) -> Iterator[Path]:
    """An empty RAG_HOME."""
    home = tmp_path / "home"
    home.mkdir()
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture()
def articles_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled articles."""
    dst = tmp_path / "articles"
    shutil.copytree(ARTICLES, dst)
    return dst
