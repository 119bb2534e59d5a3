"""Indexing into real Chroma with the real model: idempotent, provenance kept, nothing lost,
every file of a messy folder accounted for."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from index import IndexProgress, index_paths
from index.dedupe import disagreement, group_duplicates, load_signatures
from index.pipeline import SIGNATURES
from rag import Engine
from rag.errors import EmbeddingMismatch
from rag.store import HNSW_EF_SEARCH, Store
from rag.types import Article
from tests.conftest import settings_for

MESSY = Path(__file__).resolve().parents[1] / "data" / "messy"
GOOD = {"beijing-metro-gbk", "council-cycle-lanes", "daily-planet-storm", "ferry-local",
        "ferry-wire", "gare-cafe-latin1", "harbour-annual-report", "harbour-bridge-utf16",
        "moscow-flood-cp1251", "solar-farm"}
BAD = {"empty.txt": "the file is empty",
       "holiday-photo.txt": "this is a PNG image, not a text article",
       "scanned-letter.pdf": "the PDF has no text layer",
       "cookie-wall.html": "no article text left after removing page furniture",
       "figures.csv": "unsupported file type '.csv'",
       "huge.txt": "11 MB is over the 10 MB limit for one file (RAG_MAX_FILE_MB)"}


@pytest.fixture()
def messy(tmp_path: Path) -> Path:
    """A copy of the messy corpus plus a file over the size limit (sparse: costs no disk)."""
    dst = tmp_path / "messy"
    shutil.copytree(MESSY, dst)
    with (dst / "huge.txt").open("wb") as fh:
        fh.truncate(11 * 2**20)
    return dst


@pytest.fixture(scope="module")
def messy_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The messy corpus indexed once, for the tests that only read it."""
    home = tmp_path_factory.mktemp("messy_home")
    index_paths([MESSY], settings_for(home))
    return home


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
    docs = Engine(settings_for(indexed_home)).documents()
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


def test_the_messy_corpus_indexes_in_one_run(messy: Path, tmp_path: Path) -> None:
    """`rag index` as a user runs it: every good file in, every bad one named, exit 1."""
    env = {**os.environ, "RAG_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    env.pop("RAG_CHROMA_URL", None)
    r = subprocess.run([sys.executable, "-m", "rag.cli", "index", str(messy)], env=env,
                       text=True, capture_output=True, timeout=600)
    assert r.returncode == 1, r.stderr
    skipped = [ln for ln in r.stderr.splitlines() if ln.startswith("skipped ")]
    assert len(skipped) == len(BAD)
    for name, why in BAD.items():
        assert any(ln.startswith(f"skipped {messy / name}: {why}") for ln in skipped), name
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("warning ")]
    assert any("gare-cafe-latin1.txt: the encoding is uncertain: read as cp1252" in ln
               for ln in warnings)
    assert any("ferry-" in ln and "disagree (" in ln and "both kept" in ln for ln in warnings)
    summary = r.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"{len(GOOD)} indexed, {len(BAD)} skipped: ")
    for name in BAD:
        assert name in summary
    arts = Store(settings_for(tmp_path / "home")).articles(max_age=0)
    assert set(arts) == GOOD
    # the same outcomes as JSON, for scripts; nothing changes on the second run
    r = subprocess.run([sys.executable, "-m", "rag.cli", "index", "--json", str(messy)],
                       env=env, text=True, capture_output=True, timeout=600)
    out = json.loads(r.stdout)
    assert r.returncode == 1 and out["indexed"] == len(GOOD) and out["skipped"] == len(BAD)
    assert len(out["unchanged"]) == len(GOOD) and out["chunks_written"] == 0
    assert {Path(p["path"]).name for p in out["problems"] if p["status"] == "skipped"} == set(BAD)


def test_a_file_with_no_text_left_is_skipped_and_the_rest_indexed(indexed_home: Path,
                                                                  tmp_path: Path) -> None:
    home = tmp_path / "copy"
    shutil.copytree(indexed_home, home)
    s = settings_for(home)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.txt").write_text("A storm hit the coast of Eastport on Monday night.\n")
    (folder / "furniture.txt").write_text("Share this:\nLeave a Reply\nRelated posts\n")
    (folder / "image.txt").write_bytes(b"\x00\x01\x02binary")
    report = index_paths([folder], s)
    assert report.added == ("good",) and not report.ok
    assert {Path(p.path).name: p.message for p in report.skipped} == {
        "furniture.txt": "no article text left after removing page furniture (menus, banners, "
                         "footers); is this a news article?",
        "image.txt": "looks like a binary file, not text; give a .txt, .md, .html, .pdf or "
                     ".docx article"}
    arts = Store(s).articles(max_age=0)
    assert "good" in arts and "furniture" not in arts and len(arts) == 5


def test_nothing_to_index_changes_nothing_even_with_rebuild(indexed_home: Path,
                                                           tmp_path: Path) -> None:
    home = tmp_path / "copy"
    shutil.copytree(indexed_home, home)
    before = snapshot(home)
    s = settings_for(home)
    (tmp_path / "notes.xlsx").write_bytes(b"PK\x03\x04")
    report = index_paths([tmp_path / "notes.xlsx", tmp_path / "nope"], s, rebuild=True)
    assert report.indexed == 0 and [p.message.split(";")[0] for p in report.skipped] == [
        "no such file or folder", "unsupported file type '.xlsx'"]  # sorted by path
    assert report.total_articles == 4  # what the untouched index still holds
    assert snapshot(home) == before


def test_a_citation_into_a_pdf_names_its_page(messy_home: Path) -> None:
    engine = Engine(settings_for(messy_home))
    arts = engine.articles()
    pdf = arts["harbour-annual-report"]
    assert [p for _, p in pdf.pages] == [1, 2]
    for question, page in (("Who said the port could grow while cutting its emissions?", 2),
                           ("How much cargo did the Harbour Authority handle in 2023?", 1)):
        ans = engine.answer(question)
        cite = next(c for c in ans.citations if c.doc_id == "harbour-annual-report")
        assert cite.page == page, (question, cite)
        assert pdf.text[cite.start : cite.end] == cite.quote
        assert ans.to_dict()["citations"][0]["page"] == cite.page
    docx = arts["council-cycle-lanes"]
    ans = engine.answer("Which street's shop owners asked about delivery bays?")
    cite = next(c for c in ans.citations if c.doc_id == "council-cycle-lanes")
    assert cite.page == 2 and docx.text[cite.start : cite.end] == cite.quote
    plain = next(c for c in engine.answer("How many homes did the storm flood?").citations)
    assert plain.page is None  # a web page has no pages


def test_near_duplicates_that_disagree_stay_apart(messy_home: Path) -> None:
    arts = Store(settings_for(messy_home)).articles(max_age=0)
    assert {"ferry-wire", "ferry-local"} <= set(arts)
    assert "twelve people were killed" in arts["ferry-wire"].text
    assert "fourteen people were killed" in arts["ferry-local"].text
    assert arts["ferry-wire"].also_published_as == ()


def test_disagreement_is_on_facts_not_wording() -> None:
    a = "At least 137 people were killed in Moscow on Friday. The gunmen fled."
    assert disagreement(a, a.replace("137", "144")) == "137 vs 144"
    assert disagreement(a, a.replace("Friday", "Saturday")) == "friday vs saturday"
    assert disagreement(a, a.replace("Moscow", "Paris")) == "Moscow vs Paris"
    assert disagreement(a, a.replace("At least 137 people", "Many people")) == ""  # left out
    assert disagreement(a, a + " Extra teaser about another story.") == ""
    assert disagreement(a, "Completely different words about a storm in 1931.") == ""


def synthetic(n: int, seed: int = 7) -> list[Article]:
    rnd = random.Random(seed)
    vocab = [f"w{i}" for i in range(5000)]
    return [Article(doc_id=f"a{i:04d}", title="", text=" ".join(rnd.choices(vocab, k=300)),
                    source_path="", content_hash=f"h{i}") for i in range(n)]


def test_a_new_article_is_compared_with_its_likely_twins_only() -> None:
    stored = synthetic(400)
    twin = Article(doc_id="new", title="", text=stored[123].text + " A teaser tail.",
                   source_path="", content_hash="new")
    cache: dict = {}
    grouping = group_duplicates([*stored, twin], new={"new"}, cache=cache)
    # all pairs would be 400 comparisons for the new article (80,200 for the whole pool)
    assert grouping.compared <= 3
    folded = next(g for g in grouping.groups if len(g) > 1)
    assert {a.doc_id for a in folded} == {"a0123", "new"}
    assert len(cache) == 401
    again = group_duplicates([*stored, twin], new={"new"}, cache=cache)
    assert len(cache) == 401 and again.groups == grouping.groups


def test_near_duplicate_signatures_are_kept_between_runs(articles_copy: Path,
                                                         tmp_home: Path) -> None:
    s = settings_for(tmp_home)
    index_paths([articles_copy], s)
    cached = load_signatures(tmp_home / SIGNATURES)
    stored = Store(s).articles(max_age=0)
    assert set(cached) == {a.content_hash for a in stored.values()}
    (tmp_home / SIGNATURES).write_bytes(b"damaged")  # only a cache: rebuilt, never trusted
    assert load_signatures(tmp_home / SIGNATURES) == {}
    report = index_paths([articles_copy], s)
    assert len(report.unchanged) == 4
    assert set(load_signatures(tmp_home / SIGNATURES)) == set(cached)


def test_searches_examine_enough_candidates_and_older_indexes_are_upgraded(
        articles_copy: Path, tmp_home: Path) -> None:
    """Chroma's default search depth (100) missed true neighbours on a real corpus, and
    different ones in two processes, so a server and ``rag.answer()`` could cite differently."""
    s = settings_for(tmp_home)
    index_paths([articles_copy], s)
    store = Store(s, create=True)
    for col in (store.chunks, store.docs):
        assert col.configuration_json["hnsw"]["ef_search"] == HNSW_EF_SEARCH > 100
        col.modify(configuration={"hnsw": {"ef_search": 100}})  # as indexes made before it
    reopened = Store(s, create=True)
    for col in (reopened.chunks, reopened.docs):
        assert col.configuration_json["hnsw"]["ef_search"] == HNSW_EF_SEARCH
    assert Engine(s).retrieve("When did the US warn Russia?", k=5)  # still answers


def test_progress_counts_chunks_from_the_first_article_on(tmp_home: Path) -> None:
    events: list[IndexProgress] = []
    one = Path(__file__).resolve().parents[2] / "data" / "articles"
    index_paths([next(one.glob("002_*.txt"))], settings_for(tmp_home), progress=events.append)
    stages = [e.stage for e in events]
    assert stages[0] == "reading" and stages[-1] == "done"
    embedding = [e for e in events if e.stage == "embedding"]
    assert embedding[0].chunks_done == 0 and embedding[0].articles_total == 1
    total = embedding[0].chunks_total
    assert total > 1 and embedding[-1].chunks_done == total and embedding[-1].articles_done == 1
    done = [e.chunks_done for e in embedding]
    assert done == sorted(done)
    assert embedding[0].describe() == f"Embedding 0/{total} chunks · 0/1 article"
    assert [e.fraction for e in events] == sorted(e.fraction for e in events)


def test_another_embedding_model_is_refused(indexed_home: Path) -> None:
    with pytest.raises(EmbeddingMismatch, match="rag index --rebuild"):
        Store(settings_for(indexed_home), embed_model="other/model", dim=768)


def test_chunk_vectors_are_pooled_from_the_stored_sentence_vectors(tmp_home: Path) -> None:
    """The default index run embeds sentences only: each stored chunk vector is the
    length-weighted mean of its sentences' vectors, the ones the sentence index keeps; the
    names recognised meanwhile are each article's own."""
    import numpy as np

    from rag.embeddings import get_embedder
    from rag.nlp import annotate
    from rag.sentences import SentenceIndex, pool_chunks, sentences_dir

    s = settings_for(tmp_home)
    assert s.chunk_vectors == "pooled"
    one = Path(__file__).resolve().parents[2] / "data" / "articles"
    emb = get_embedder(s)
    embedded: list[str] = []
    real = emb.embed

    def spy(texts: list[str], batch_size: int | None = None) -> np.ndarray:
        embedded.extend(texts)
        return real(texts, batch_size)

    emb.embed = spy  # type: ignore[method-assign]
    try:
        index_paths([next(one.glob("002_*.txt")), next(one.glob("004_*.txt"))], s)
    finally:
        del emb.embed
    store = Store(s)
    arts = store.articles(max_age=0)
    sentences = {a.text[b:e] for a in arts.values() for b, e in a.sentences()}
    assert embedded and set(embedded) <= sentences  # no chunk text was embedded
    # The names were recognised on their own thread, each article's attached to it.
    assert all(a.annotation == annotate([a.text])[0] and a.annotation.mentions
               for a in arts.values())
    index = SentenceIndex.load(sentences_dir(store.settings.home))
    got = store.chunks.get(include=["embeddings", "metadatas"])
    assert len(got["ids"]) > 2
    for vec, meta in zip(got["embeddings"], got["metadatas"], strict=True):
        art = arts[meta["doc_id"]]
        own = index.of(art)
        assert own is not None
        want = pool_chunks(art.sentences(), own, [(int(meta["start"]), int(meta["end"]))])[0]
        # stored vectors: float16 sentence rows in the index, float32 pooled from the run's
        assert float(np.dot(want, np.asarray(vec))) > 0.999


def test_pooling_weights_sentences_by_their_characters_inside_the_chunk() -> None:
    import numpy as np

    from rag.sentences import pool_chunks

    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], np.float32)
    sentences = [(0, 30), (31, 41), (42, 60)]
    got = pool_chunks(sentences, vectors, [(0, 41), (42, 60), (61, 70), (20, 45)])
    first = np.array([30.0, 10.0]) / np.hypot(30.0, 10.0)
    assert np.allclose(got[0], first) and np.allclose(got[1], vectors[2])
    assert not got[2].any()  # no sentence inside: the caller embeds such a chunk itself
    mixed = 10 * vectors[0] + 10 * vectors[1] + 3 * vectors[2]
    assert np.allclose(got[3], mixed / np.linalg.norm(mixed))


def test_pooled_and_embedded_chunk_vectors_are_not_mixed_in_one_store(tmp_home: Path) -> None:
    """A store of embedded chunk texts refuses pooled vectors (and the reverse) before anything
    changes, but not a run with nothing to write; --rebuild starts it over with the
    configured kind."""
    one = Path(__file__).resolve().parents[2] / "data" / "articles"
    first, second = next(one.glob("002_*.txt")), next(one.glob("004_*.txt"))
    s = settings_for(tmp_home)
    index_paths([first], s.with_(chunk_vectors="int8"))
    before = snapshot(tmp_home)
    assert Store(s).chunk_vectors() == "int8"
    with pytest.raises(EmbeddingMismatch, match="RAG_CHUNK_VECTORS=int8"):
        index_paths([first, second], s)
    assert snapshot(tmp_home) == before
    assert index_paths([first], s).unchanged  # nothing to write: the store keeps answering
    index_paths([first, second], s.with_(chunk_vectors="fp32"))  # text vectors both: they mix
    index_paths([first, second], s, rebuild=True)
    assert Store(s).chunk_vectors() == "pooled" and len(snapshot(tmp_home)[0]) == 2
    with pytest.raises(EmbeddingMismatch, match="rebuild"):
        index_paths([next(one.glob("003_*.txt"))], s.with_(chunk_vectors="int8"))
