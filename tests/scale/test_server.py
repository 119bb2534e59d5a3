"""The core behaviours against a real Chroma server (``RAG_CHROMA_URL``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from scaleutil import (
    ARTICLES,
    auth_proxy,
    env_for,
    rag_cmd,
    server_settings,
)

from index import index_paths
from rag import EmbeddingMismatch, Engine, StoreError
from rag.lexical import lexical_dir
from rag.store import Store
from tests.conftest import free_port

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def served(chroma_server: str, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """The bundled articles indexed into a collection on the server."""
    settings = server_settings(chroma_server, tmp_path_factory.mktemp("server_home"))
    report = index_paths([ARTICLES], settings)
    return settings, report


def test_index_and_answer_through_the_server(served) -> None:  # noqa: ANN001
    settings, report = served
    assert report.total_articles == 4 and report.total_chunks > 0
    assert Store(settings).chunk_count() == report.total_chunks
    ans = Engine(settings).answer("when did the US warn Russia?")
    assert not ans.refused and ans.citations
    arts = Engine(settings).articles()
    for c in ans.citations:
        assert arts[c.doc_id].text[c.start : c.end] == c.quote
    assert "March 7" in ans.text


def test_reindexing_through_the_server_adds_nothing(served) -> None:  # noqa: ANN001
    settings, first = served
    ids = sorted(Store(settings).chunks.get(include=[])["ids"])
    again = index_paths([ARTICLES], settings)
    assert again.added == () and again.updated == () and again.chunks_written == 0
    assert sorted(Store(settings).chunks.get(include=[])["ids"]) == ids
    assert len(ids) == len(set(ids)) == first.total_chunks


def test_another_app_process_shares_the_server(served, tmp_path: Path) -> None:  # noqa: ANN001
    """A second machine: a fresh RAG_HOME (no BM25 copy) pointed at the same server."""
    settings, _ = served
    other = settings.with_(home=tmp_path / "other_home")
    out = subprocess.run(rag_cmd("ask", "--json", "When did the attack on Crocus City Hall "
                                 "happen?"), env=env_for(other), capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    ans = json.loads(out.stdout)
    assert not ans["refused"] and ans["citations"]
    # rebuilt from the server, in the collection's own BM25 folder
    assert (lexical_dir(other.home, other.collection) / "chunks.json").exists()


def test_a_store_built_by_another_model_is_refused(served) -> None:  # noqa: ANN001
    settings, _ = served
    with pytest.raises(EmbeddingMismatch, match="rag index --rebuild"):
        Store(settings, embed_model="some/other-model", dim=768)


def test_server_down_is_a_clear_error(tmp_path: Path) -> None:
    settings = server_settings(f"http://127.0.0.1:{free_port()}", tmp_path)
    with pytest.raises(StoreError, match="cannot reach the Chroma server"):
        Store(settings)
    out = subprocess.run(rag_cmd("ask", "when did the US warn Russia?"), env=env_for(settings),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    assert "cannot reach the Chroma server" in out.stderr and "Traceback" not in out.stderr


def test_server_gone_mid_session_is_a_clear_error(chroma_server: str, tmp_path: Path) -> None:
    """The server stops after the engine opened it: the next question fails cleanly."""
    token = "s3cret"
    with auth_proxy(chroma_server, token) as url:
        settings = server_settings(url, tmp_path, token=token)
        index_paths([ARTICLES], settings)
        engine = Engine(settings)
        assert engine.answer("when did the US warn Russia?").citations
    with pytest.raises(StoreError, match="Chroma server"):
        engine.answer("Who claimed responsibility for the attack?")


def test_bearer_token_is_sent(chroma_server: str, tmp_path: Path) -> None:
    with auth_proxy(chroma_server, "tok-123") as url:
        good = server_settings(url, tmp_path / "a", token="tok-123")
        report = index_paths([ARTICLES], good)
        assert report.total_chunks > 0
        assert Engine(good).answer("when did the US warn Russia?").citations
        bad = good.with_(chroma_token="wrong")
        with pytest.raises(StoreError, match="token|401|Unauthorized"):
            Store(bad)
