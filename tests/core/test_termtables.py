"""Terms analysed at index time (``rag.termtable``): stored, read back, and the same as the
terms answering would compute from the text."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rag import evidence as ev_mod
from rag.engine import Engine
from rag.lexical import LexicalIndex, chunk_sentence_terms, words_key
from rag.question import analyze
from rag.sentences import SentenceIndex, analysed, build_sentences
from rag.termtable import TermTable
from rag.text import first_offsets, split_sentences, terms
from rag.types import Article, Chunk

TEXT = ("The Kremlin said on Friday that Moscow had received no warning.\n"
        "U.S. officials, however, said Washington warned Russia in early March. "
        "Naïve readers asked why.")


def _article(doc_id: str, text: str = TEXT) -> Article:
    return Article(doc_id=doc_id, title="Warning", text=text, source_path=doc_id,
                   content_hash=str(hash(text)))


def _embed(texts: list[str]) -> np.ndarray:
    """Vectors for the sentence index (what is tested here is its terms, not its vectors)."""
    rng = np.random.default_rng(len(texts))
    v = rng.normal(size=(len(texts), 8)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_a_term_table_reads_back_what_was_stored(tmp_path: Path) -> None:
    rows = [(("kremlin", "said"), ()), (), ((),), (("naïv", "reader"),)]
    table = TermTable.build(rows)
    assert [table[i] for i in range(len(table))] == rows
    table.save(tmp_path, "t")
    loaded = TermTable.load(tmp_path, "t")
    assert [loaded[i] for i in range(len(loaded))] == rows
    (tmp_path / "t.terms").write_bytes(b"kremlin")  # cut short: the offsets no longer fit
    with pytest.raises(ValueError, match="do not match"):
        TermTable.load(tmp_path, "t")


def test_sentence_terms_are_those_of_each_sentence_and_follow_the_text(tmp_path: Path) -> None:
    arts = {"a": _article("a"), "b": _article("b", "Another article. It says little.")}
    index = analysed(build_sentences(arts, _embed, "fp1"), arts)
    for art in arts.values():
        assert index.terms_of(art) == tuple(tuple(terms(art.text[s:e]))
                                            for s, e in art.sentences())
        assert index.first_of(art) == first_offsets(art.text)
    index.save(tmp_path / "s")
    loaded = SentenceIndex.load(tmp_path / "s")
    assert loaded.terms_of(arts["a"]) == index.terms_of(arts["a"])
    assert loaded.first_of(arts["b"]) == first_offsets(arts["b"].text)
    changed = replace(arts["a"], text=TEXT + " More.", content_hash="other")
    assert loaded.terms_of(changed) is None  # another text: not the stored sentences
    assert loaded.first_of(changed) is None


def test_an_index_saved_without_terms_gets_them_and_keeps_its_vectors(tmp_path: Path) -> None:
    arts = {"a": _article("a")}
    old = build_sentences(arts, _embed, "fp1")
    old.save(tmp_path / "s")  # vectors only, as saved before the term tables existed
    loaded = SentenceIndex.load(tmp_path / "s")
    assert loaded.terms is None and loaded.terms_of(arts["a"]) is None
    again = analysed(loaded, arts)
    assert np.array_equal(np.asarray(again.vectors), np.asarray(old.vectors))
    assert again.terms_of(arts["a"]) == analysed(old, arts).terms_of(arts["a"]) is not None
    again.save(tmp_path / "s")
    (tmp_path / "s" / "first.terms").write_bytes(b"")  # damaged: analysed again, vectors kept
    damaged = SentenceIndex.load(tmp_path / "s")
    assert damaged.firsts is None and len(damaged.vectors) == len(old.vectors)


def _chunk(cid: str, text: str) -> Chunk:
    return Chunk(chunk_id=cid, doc_id=cid.split("-")[0], text=text, start=0, end=len(text))


def test_the_lexical_index_keeps_each_chunk_s_sentence_terms_and_words(tmp_path: Path) -> None:
    chunks = [_chunk("a-1", TEXT), _chunk("b-1", "Short one. Two sentences.")]
    index = LexicalIndex.build(chunks, "fp")
    index.save(tmp_path / "lex")
    loaded = LexicalIndex.load(tmp_path / "lex")
    for c in chunks:
        want = tuple(frozenset(terms(c.text[s:e])) for s, e in split_sentences(c.text))
        assert loaded.sentence_terms(c) == index.sentence_terms(c) == want
        assert loaded.words_key(c) == words_key(c.text)
    # the same id with another text (the index is older than the chunk): analysed afresh
    other = _chunk("a-1", "Completely different words here. And more.")
    assert loaded.sentence_terms(other) == tuple(map(frozenset, chunk_sentence_terms(other.text)))
    assert loaded.words_key(other) == words_key(other.text) != loaded.words_key(chunks[0])


def test_words_key_ignores_spacing_and_case_not_words() -> None:
    assert words_key("The  Cat sat\non the mat.") == words_key("the cat sat on the mat")
    assert words_key("the cat sat on the mat") != words_key("the cat sat on a mat")


def test_answering_reads_the_same_sentence_features_from_the_index(engine: Engine) -> None:
    retriever = engine.parts.retriever
    index = retriever.sentence_index()
    assert index.terms is not None and index.firsts is not None  # built with the index
    q = "When did the US embassy warn about an attack on large gatherings?"
    query = analyze(q)
    vec = engine.embedder.embed([q])[0]
    passages = engine.retrieve(q, k=8)
    articles = engine.articles()
    idf = ev_mod.idf_weight(retriever.lexical_index().df)
    stored = ev_mod.sentences_of(query, vec, passages, articles, index, engine.embedder, idf)
    without = SentenceIndex(index.fingerprint, index.vectors, index.rows)  # analysed now
    fresh = ev_mod.sentences_of(query, vec, passages, articles, without, engine.embedder, idf)
    assert len(stored.sentences) > 8
    assert np.array_equal(stored.features.values, fresh.features.values)
