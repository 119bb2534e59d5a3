"""One document at a time, collections and conversations, with real Chroma and the real model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from index import index_paths
from index.manage import reindex_document, remove_documents
from rag.chat import Turn
from rag.conversations import ConversationStore, answer_from_dict, to_markdown
from rag.documents import list_documents, open_document, resolve_document
from rag.engine import Engine
from rag.errors import ConversationNotFound, DocumentNotFound, InvalidOption
from rag.lexical import LexicalIndex, lexical_dir
from rag.settings import Settings, check_collection, check_k
from rag.store import Store, list_collections, live_home
from rag.types import Answer, Citation
from tests.conftest import ARTICLES, settings_for

LAKE = ("Orvin lake ferry\n\nThe ferry Skarvik made its last crossing of Lake Orvin on "
        "12 June 2024.\n")


@pytest.fixture()
def home(indexed_home: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "home"
    shutil.copytree(indexed_home, dst)
    return dst


def test_remove_leaves_no_orphan_chunk_and_updates_bm25(home: Path, tmp_path: Path) -> None:
    settings = settings_for(home)
    lake = tmp_path / "lake.txt"
    lake.write_text(LAKE)
    index_paths([lake], settings)
    assert LexicalIndex.load(lexical_dir(home)).search("Skarvik", 3)
    report = remove_documents(["lake"], settings)
    assert report.removed == ("lake",)
    store = Store(settings)
    assert all(c.doc_id != "lake" for c, _ in store.iter_chunks())  # no orphan chunk
    bm25 = LexicalIndex.load(lexical_dir(home))
    assert not bm25.search("Skarvik", 3) and bm25.fingerprint == store.fingerprint()
    assert "lake" not in Engine(settings).articles()
    with pytest.raises(DocumentNotFound):
        remove_documents(["lake"], settings)


def test_remove_checks_every_id_first(home: Path) -> None:
    settings = settings_for(home)
    with pytest.raises(DocumentNotFound):
        remove_documents(["000_c2c3de656e4087f2", "missing"], settings)
    assert "000_c2c3de656e4087f2" in Store(settings).articles(max_age=0)


def test_removing_a_folded_copy_unfolds_it(home: Path) -> None:
    settings = settings_for(home)
    report = remove_documents(["004_b0e8c07438467e07"], settings)
    assert report.unfolded == ("004_b0e8c07438467e07",) and not report.removed
    canon = Store(settings).articles(max_age=0)["003_5868e0cb99ad3839"]
    assert canon.also_published_as == ()


def test_reindex_rewrites_one_document_from_its_file(home: Path, tmp_path: Path) -> None:
    settings = settings_for(home)
    lake = tmp_path / "lake.txt"
    lake.write_text(LAKE)
    index_paths([lake], settings)
    assert not reindex_document("lake", settings).changed
    lake.write_text(LAKE + "\nCaptain Maren Holt steered the last crossing.\n")
    report = reindex_document("lake", settings)
    assert report.changed and report.passages >= 1
    assert "Maren Holt" in open_document(Store(settings), home, "lake").text
    assert LexicalIndex.load(lexical_dir(home)).search("Maren Holt", 3)
    lake.unlink()
    with pytest.raises(Exception, match="gone"):
        reindex_document("lake", settings)
    assert "lake" in Store(settings).articles(max_age=0)  # a missing file changes nothing


def test_documents_are_listed_by_title_and_file_name(home: Path) -> None:
    docs = list_documents(Store(settings_for(home)), home)
    assert len(docs) == 4 and all(d.passages >= 1 and d.added for d in docs)
    putin = next(d for d in docs if d.doc_id == "000_c2c3de656e4087f2")
    assert putin.file_name == "000_c2c3de656e4087f2.txt" and putin.source == "Daily Express US"
    assert resolve_document(docs, "000_c2c3de656e4087f2.txt") == putin.doc_id
    with pytest.raises(DocumentNotFound):
        resolve_document(docs, "nothing.txt")


def test_collections_are_separate_indexes(home: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake.txt"
    lake.write_text(LAKE)
    lab = settings_for(home).with_(collection="lab")
    index_paths([lake], lab)
    assert list_collections(settings_for(home)) == ["articles", "lab"]
    assert set(Store(lab).articles()) == {"lake"}
    assert "lake" not in Store(settings_for(home)).articles()
    assert lexical_dir(home, "lab").is_dir() and lexical_dir(home).is_dir()
    index_paths([lake], lab, rebuild=True)  # a rebuild of one collection keeps the others
    assert len(Store(settings_for(home)).articles()) == 4
    ans = Engine(lab).answer("When did the Skarvik make its last crossing?")
    assert not ans.refused and ans.citations[0].doc_id == "lake"
    # The rebuild was swapped in as a new generation (issue 17) that carries the other
    # collection over, BM25 included; rebuilding that one keeps "lab" in turn.
    live = live_home(home)
    assert live != home and lexical_dir(live).is_dir() and lexical_dir(live, "lab").is_dir()
    default = Engine(settings_for(home))
    assert not default.answer("Who is Matthew Miller?").refused
    index_paths([ARTICLES], settings_for(home), rebuild=True)
    assert live_home(home) != live and set(Store(lab).articles()) == {"lake"}
    assert list_collections(settings_for(home)) == ["articles", "lab"]


@pytest.mark.parametrize("bad", ["", "Bad Name", "../x", "a" * 41, "-x"])
def test_collection_names_are_checked(bad: str) -> None:
    with pytest.raises(InvalidOption, match="collection name"):
        check_collection(bad)
    with pytest.raises(InvalidOption):
        Settings.from_env({"RAG_COLLECTION": bad or "?"})


@pytest.mark.parametrize("k", [0, -3, 51, "x", True])
def test_k_is_checked_everywhere(engine: Engine, k: object) -> None:
    with pytest.raises(InvalidOption):
        check_k(k)
    if isinstance(k, int):
        with pytest.raises(InvalidOption):
            engine.answer("when did the US warn Russia?", k=k)
        with pytest.raises(InvalidOption):
            engine.retrieve("when did the US warn Russia?", k=k)
    with pytest.raises(InvalidOption):
        Settings.from_env({"RAG_TOP_K": str(k)})


def test_conversations_are_kept_exported_and_deleted(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path)
    conv = store.create("articles")
    cite = Citation(1, "d1", "A title", "2024-03-26", "the quote", 0, 9, 0.9, source="Pub")
    first = Answer(question="When?", text="March 7 [1]", citations=(cite,), confidence=0.9)
    store.add_turn(conv.id, Turn("When?", "When?", first))
    follow = Answer(question="When did the US warn Russia?", text="No.", refused=True)
    store.add_turn(conv.id, Turn("And them?", "When did the US warn Russia?", follow))
    again = ConversationStore(tmp_path).get(conv.id)  # as after a restart
    assert again.info.title == "When?" and again.info.turns == 2
    assert again.turns[0].answer == first and again.turns[1].answer.refused
    assert answer_from_dict(first.to_dict()) == first
    md = to_markdown(again)
    assert md.startswith("# When?") and "[1] *A title* (Pub, 2024-03-26): “the quote”" in md
    assert "*Searched for: When did the US warn Russia?*" in md
    assert [c.id for c in store.list("articles")] == [conv.id] and store.list("other") == []
    store.delete(conv.id)
    with pytest.raises(ConversationNotFound):
        store.get(conv.id)
