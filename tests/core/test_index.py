"""Indexing into real Chroma with the real model: idempotent, provenance kept, nothing lost."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from index import index_paths
from rag import Engine, IngestError
from rag.errors import EmbeddingMismatch
from rag.store import Store
from tests.conftest import settings_for


def snapshot(home: Path) -> tuple[dict[str, str], list[str]]:
    store = Store(settings_for(home))
    arts = {d: a.content_hash for d, a in store.articles(max_age=0).items()}
    return arts, sorted(c.chunk_id for c, _ in store.iter_chunks())


def test_reindexing_the_same_files_adds_nothing(articles_copy: Path, tmp_home: Path) -> None:
    s = settings_for(tmp_home)
    first = index_paths([articles_copy], s)
    assert len(first.added) == 4 and first.chunks_written > 0
    before = snapshot(tmp_home)
    again = index_paths([articles_copy], s)
    assert again.added == () and again.updated == () and again.chunks_written == 0
    assert sorted(again.unchanged) == sorted(first.added)
    assert snapshot(tmp_home) == before


def test_a_changed_file_replaces_its_old_chunks(articles_copy: Path, tmp_home: Path) -> None:
    s = settings_for(tmp_home)
    index_paths([articles_copy], s)
    f = next(articles_copy.glob("001_*.txt"))
    f.write_text(f.read_text().replace("Adrienne Watson", "Adrienne Q. Watson"))
    report = index_paths([articles_copy], s)
    assert report.updated == ("001_a5ae63caa8fa8001",)
    store = Store(s)
    texts = [c.text for c, _ in store.iter_chunks() if c.doc_id == "001_a5ae63caa8fa8001"]
    assert any("Adrienne Q. Watson" in t for t in texts)
    assert not any("Adrienne Watson" in t for t in texts)  # old chunks are gone
    assert len(store.live_chunks()) == store.chunk_count()


def test_near_duplicates_keep_one_copy_with_provenance(indexed_home: Path) -> None:
    store = Store(settings_for(indexed_home))
    arts = store.articles(max_age=0)
    assert "003_5868e0cb99ad3839" in arts and "004_b0e8c07438467e07" not in arts
    assert arts["003_5868e0cb99ad3839"].also_published_as == ("004_b0e8c07438467e07",)
    assert all(c.doc_id != "004_b0e8c07438467e07" for c, _ in store.iter_chunks())
    docs = Engine(settings_for(indexed_home), auto_index=False).documents()
    row = next(d for d in docs if d["doc_id"] == "003_5868e0cb99ad3839")
    assert row["also_published_as"] == ["004_b0e8c07438467e07"] and row["chunks"] > 0


def test_a_duplicate_arriving_later_is_folded_in(articles_copy: Path, tmp_home: Path) -> None:
    s = settings_for(tmp_home)
    dup = next(articles_copy.glob("004_*.txt"))
    index_paths([dup], s)  # indexed alone first: it is its own article
    assert "004_b0e8c07438467e07" in Store(s).articles(max_age=0)
    report = index_paths([next(articles_copy.glob("003_*.txt"))], s)
    assert ("004_b0e8c07438467e07", "003_5868e0cb99ad3839") in report.duplicates
    arts = Store(s).articles(max_age=0)
    assert set(arts) == {"003_5868e0cb99ad3839"}
    assert arts["003_5868e0cb99ad3839"].also_published_as == ("004_b0e8c07438467e07",)


def test_bad_input_changes_nothing(indexed_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "copy"
    shutil.copytree(indexed_home, home)
    before = snapshot(home)
    s = settings_for(home)
    bad = tmp_path / "in"
    bad.mkdir()
    (bad / "good.txt").write_text("A fine article about a storm that hit the coast.\n")
    (bad / "image.txt").write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(IngestError, match="image.txt"):
        index_paths([bad], s)
    with pytest.raises(IngestError, match="unsupported file type"):
        index_paths([tmp_path / "notes.docx"] if (tmp_path / "notes.docx").write_text("x")
                    else [], s)
    with pytest.raises(IngestError, match="no such file"):
        index_paths([tmp_path / "nope"], s)
    assert snapshot(home) == before


def test_another_embedding_model_is_refused(indexed_home: Path) -> None:
    with pytest.raises(EmbeddingMismatch, match="rag index --rebuild"):
        Store(settings_for(indexed_home), embed_model="other/model", dim=768)
