"""Choosing and re-scoring passages, as pure functions over real rag types (no model)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from rag.dates import dates_named
from rag.models import Linear
from rag.retrieval import ARTICLE_FEATURES, Fusion, _leaders, candidate_features, rerank, spread
from rag.text import question_clauses
from rag.types import Article, Chunk, Passage

SENTENCE = "Filler words stand here to pad the article out. "  # 48 characters


def _article(doc_id: str, n: int = 40, source: str = "") -> Article:
    return Article(doc_id=doc_id, title="", text=SENTENCE * n, source_path=doc_id, source=source)


def _passage(art: Article, sentence: int, score: float, text: str | None = None) -> Passage:
    start = sentence * len(SENTENCE)
    body = text if text is not None else art.text[start : start + len(SENTENCE)]
    return Passage(chunk=Chunk(chunk_id=f"{art.doc_id}-{sentence}", doc_id=art.doc_id, text=body,
                               start=start, end=start + len(body), source=art.source),
                   score=score, rank=1)


def test_spread_gives_strong_articles_a_place_before_second_passages() -> None:
    a, b, c, d = (_article(x) for x in "abcd")
    arts = {x.doc_id: x for x in (a, b, c, d)}
    ranked = [_passage(a, 0, 1.0), _passage(a, 2, 0.95), _passage(a, 30, 0.9),
              _passage(b, 5, 0.8), _passage(d, 5, 0.3), _passage(c, 5, 0.2)]
    fusion = Fusion(window=300, spread=8, spread_min=0.5, per_doc=3)
    c_leads = {p.chunk_id: (float(p.doc_id == "c"),) for p in ranked}  # one clause, c's
    got = spread(ranked, c_leads, fusion, k=3, articles=arts)
    # c leads a clause; a and b are strong; d is weak. a's second passage lies inside the
    # window its first is widened to, so it is skipped for the far one.
    assert [(p.doc_id, p.start) for p in got] == [("a", 0), ("b", 240), ("c", 240)]
    got = spread(ranked, {}, fusion, k=4, articles=arts)
    assert [(p.doc_id, p.start) for p in got] == [("a", 0), ("a", 1440), ("b", 240), ("d", 240)]
    assert [p.rank for p in got] == [1, 2, 3, 4]


def test_spread_gives_a_place_to_the_articles_the_model_finds_likely() -> None:
    a, b, c, d = (_article(x) for x in "abcd")
    arts = {x.doc_id: x for x in (a, b, c, d)}
    ranked = [_passage(a, 0, 1.0), _passage(a, 30, 0.9), _passage(b, 5, 0.8),
              _passage(d, 5, 0.3), _passage(c, 5, 0.2)]
    fusion = Fusion(window=300, spread=2, spread_min=0.5, per_doc=3)
    chance = np.array([0.9, 0.9, 0.1, 0.2, 0.7])  # c is weak by score, likely by the model
    got = spread(ranked, {}, fusion, k=3, articles=arts, chance=chance)
    # the two likeliest articles first (a, c), then the best remaining passage by score
    assert [(p.doc_id, p.start) for p in got] == [("a", 0), ("a", 1440), ("c", 240)]
    got = spread(ranked, {}, fusion, k=3, articles=arts)  # without the model: by score
    assert [(p.doc_id, p.start) for p in got] == [("a", 0), ("a", 1440), ("b", 240)]


def test_spread_keeps_at_most_per_doc_passages_of_an_article() -> None:
    a = _article("a", 200)
    ranked = [_passage(a, i * 20, 1.0 - i / 100) for i in range(8)]
    got = spread(ranked, {}, Fusion(window=300, per_doc=2), k=10, articles={"a": a})
    assert len(got) == 2


def test_rerank_favours_the_named_article_and_finds_each_clause_s_article() -> None:
    a, b = _article("a", source="TechCrunch"), _article("b", source="Polygon")
    ranked = [_passage(a, 0, 1.0, "Amazon can build factories from the ground up."),
              _passage(b, 0, 1.0, "A two-pack of USB-C cables costs $15.99 at Amazon.")]
    q = ("Which company, covered for its ability to build factories, "
         "also sells a two-pack of USB-C cables?")
    got, covers = rerank(q, ranked, lambda t: 1.0, 0.6)
    assert _leaders(covers, got) == ["a", "b"]  # one article per clause, in question order
    plain = {p.doc_id: p.score for p in got}
    got, _ = rerank(q, ranked, lambda t: 1.0, 0.6, bonus={"b": 0.2})
    assert {p.doc_id: p.score for p in got}["b"] > plain["b"]
    assert got[0].doc_id == "b"


def test_dates_a_question_names() -> None:
    q = "Between the report published on November 1, 2023, and the one of 15 Dec 2023?"
    assert dates_named(q) == {"2023-11-01", "2023-12-15"}
    assert dates_named("What happened on February 30, 2023 or in March?") == frozenset()


def test_a_question_s_clauses() -> None:
    assert question_clauses("When did the US warn Russia?") == []
    got = question_clauses("Which company, covered by TechCrunch for building factories, also "
                           "sells cables as noted by Polygon?")
    assert [c.strip() for c in got] == ["covered by TechCrunch for building factories",
                                        "also sells cables as noted by Polygon"]


def test_the_article_model_reads_ranks_clauses_and_named_sources() -> None:
    a, b = _article("a", source="TechCrunch"), _article("b", source="Polygon")
    fused = [_passage(a, 0, 1.0, "Amazon can build factories from the ground up."),
             _passage(a, 9, 0.9, "Amazon hires."),
             _passage(b, 0, 0.5, "A two-pack of USB-C cables costs $15.99 at Amazon.")]
    fused = [replace(p, rank=i) for i, p in enumerate(fused, start=1)]
    q = ("Which company, covered for its ability to build factories, "
         "also sells a two-pack of USB-C cables?")
    got, covers = rerank(q, fused, lambda t: 1.0, 0.6)
    x = candidate_features(got, {p.chunk_id: p for p in fused}, covers, {"b"}, set(),
                           ({"a-0": 0}, {"b-0": 4}), {"b": 0.5}, 100, {"a-0": (0.8, 0.9)})
    assert x.names == ARTICLE_FEATURES and len(x) == len(got)
    row = {p.chunk_id: x.row(i) for i, p in enumerate(got)}
    cables, second = row["b-0"], row["a-9"]
    assert cables["clauses"] == 2 and cables["clause_rank"] == 0  # b leads the second clause
    assert cables["named"] == 1.0 and second["named"] == 0.0
    assert second["in_article"] == 1 and second["article_passages"] == 2
    assert cables["fused"] == 0.5 and row["a-0"]["fused_rank"] == 0.0
    # ranks in the dense and BM25 lists (absent: the depth searched), title, similarity
    assert row["a-0"]["dense_rank"] == 0.0 and cables["dense_rank"] == np.float32(np.log1p(100))
    assert cables["lexical_rank"] == np.float32(np.log1p(4)) and cables["title_cover"] == 0.5
    assert row["a-0"]["sentence_sim"] == np.float32(0.8) and cables["sentence_sim"] == 0.0
    # A model that trusts "named" alone puts b first among the articles.
    named_only = Linear(ARTICLE_FEATURES, (0.0,) * len(ARTICLE_FEATURES),
                        (1.0,) * len(ARTICLE_FEATURES),
                        tuple(float(n == "named") for n in ARTICLE_FEATURES), 0.0)
    chance = named_only.prob(x)
    assert got[int(np.argmax(chance))].doc_id == "b"
