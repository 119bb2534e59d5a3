"""The committed index's article records in one file, read by an engine instead of Chroma."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from index import index_paths
from rag import Engine, snapshot
from rag.errors import EmbeddingMismatch
from rag.store import Store, committed_fingerprint, live_home
from tests.conftest import settings_for
from tests.core.test_startup import answers_without_importing


@pytest.fixture()
def home_copy(indexed_home: Path, tmp_path: Path) -> Path:
    """A writable copy of the indexed store."""
    dst = tmp_path / "home"
    shutil.copytree(indexed_home, dst, ignore=shutil.ignore_patterns("index.lock"))
    return dst


def _engine_store(home: Path) -> Store:
    settings = settings_for(home)
    return Store(settings, embed_model=Engine(settings).embedder.name, dim=384,
                 search_soon=True)


def test_indexing_writes_the_snapshot_an_engine_then_starts_from(indexed_home: Path) -> None:
    settings = settings_for(indexed_home)
    live = live_home(indexed_home)
    fingerprint = committed_fingerprint(live)
    snap = snapshot.load(live, settings.collection, fingerprint)
    assert snap is not None and fingerprint
    from_chroma = Store(settings)  # a store opened the usual way
    assert snap.articles == from_chroma.articles(max_age=0)
    assert snap.chunk_count == from_chroma.chunk_count()
    store = _engine_store(indexed_home)
    assert store._docs is None  # Chroma not opened in this process
    assert store.articles() == snap.articles and store.fingerprint() == fingerprint
    assert store.chunk_count() == snap.chunk_count
    assert store.docs.count() == len(snap.articles)  # anything else opens Chroma on demand
    assert store.articles() == snap.articles


def test_an_engine_answers_from_the_snapshot_without_importing_chromadb(
        indexed_home: Path) -> None:
    answers_without_importing(indexed_home, "chromadb")


def test_a_damaged_or_stale_snapshot_is_passed_over_and_written_again(home_copy: Path) -> None:
    settings = settings_for(home_copy)
    live = live_home(home_copy)
    path = snapshot.path_for(live, settings.collection)
    want = Store(settings).articles(max_age=0)
    path.write_bytes(b"\x80\x05not a pickle")
    store = _engine_store(home_copy)
    assert store._snap is None and store.articles() == want  # read from Chroma
    fresh = snapshot.load(live, settings.collection, committed_fingerprint(live))
    assert fresh is not None and fresh.articles == want  # and the snapshot made again
    # One written at another commit (a stale copy) is not trusted either.
    snapshot.save(live, snapshot.Snapshot(settings.collection, "another-commit", "m", 384, 1,
                                          {}))
    store = _engine_store(home_copy)
    assert store._snap is None and store.articles() == want


def test_a_later_commit_is_read_from_chroma_and_snapshotted(home_copy: Path,
                                                           tmp_path: Path) -> None:
    settings = settings_for(home_copy)
    engine = Engine(settings)
    before = dict(engine.articles())
    assert engine.store._snap is not None
    held = _engine_store(home_copy)  # a store kept open across the commit
    new = tmp_path / "more" / "extra.txt"
    new.parent.mkdir()
    new.write_text("Lunar probe lands\n\nA lunar probe named Quillfeather landed on the Moon's "
                   "far side on Tuesday, the agency said, after a journey of forty days.\n",
                   encoding="utf-8")
    index_paths([new.parent], settings)
    engine.store._stamp_at = 0.0  # as if a second had passed: the engine checks the stamp
    after = engine.articles()
    assert len(after) == len(before) + 1
    assert held.articles() == after  # not its snapshot's: a later commit is read
    assert engine.store._snap is not None  # reopened from the snapshot the commit wrote
    assert "Quillfeather" in engine.retrieve("Which probe landed on the Moon?", k=1)[0].text
    live = live_home(home_copy)
    snap = snapshot.load(live, settings.collection, committed_fingerprint(live))
    assert snap is not None and snap.articles == after


def test_the_snapshot_refuses_another_embedding_model(indexed_home: Path) -> None:
    with pytest.raises(EmbeddingMismatch):
        Store(settings_for(indexed_home), embed_model="another-model", dim=768,
              search_soon=True)
