"""Question analysis and source naming, as pure functions."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from rag.evidence import Calibration, SentenceCache, Sources, analyze, named_sources, without
from rag.types import Article, Chunk, Passage


def _article(doc_id: str, text: str, source: str = "") -> Article:
    return Article(doc_id=doc_id, title="", text=text, source_path=doc_id, source=source)


ARTICLES = {
    "a": _article("a", "Miller answered TURAN's questions.", source=""),
    "b": _article("b", "The toll rose.", source="Daily Express US"),
    "c": _article("c", "Officials met in Moscow.", source="TechCrunch"),
}


def _found(articles: dict[str, Article], *doc_ids: str) -> list[Passage]:
    """Passages retrieved from ``doc_ids`` (all of ``articles`` when none are given)."""
    ids = doc_ids or tuple(articles)
    return [Passage(chunk=Chunk(chunk_id=f"{d}-0", doc_id=d, text=articles[d].text, start=0,
                                end=len(articles[d].text), title="", published=None),
                    score=1.0, rank=i + 1) for i, d in enumerate(ids)]


def test_a_publisher_is_named_by_most_of_its_words() -> None:
    # The publisher is found collection-wide, even when none of its articles was retrieved.
    s = named_sources("According to the Daily Express, who?", ARTICLES, _found(ARTICLES, "a"))
    assert s.docs == {"b"}
    # "US" alone is one word of three: not a name for "Daily Express US".
    assert named_sources("What did the US say?", ARTICLES, _found(ARTICLES)).docs == frozenset()


def test_the_x_report_finds_the_article_that_carries_x() -> None:
    s = named_sources("What toll does the TURAN report give?", ARTICLES, _found(ARTICLES))
    assert s.docs == {"a"}
    assert s.words == {"turan"}


def test_a_name_is_looked_for_only_in_the_retrieved_articles() -> None:
    # The publisher is known collection-wide; a name inside an article's text only counts
    # when that article was retrieved.
    s = named_sources("What toll does the TURAN report give?", ARTICLES, _found(ARTICLES, "b", "c"))
    assert s.docs == frozenset()


def test_a_publication_date_names_the_article_and_is_no_longer_asked_about() -> None:
    arts = {"v": replace(_article("v", "Search changed."), published="2023-11-01"),
            "w": replace(_article("w", "Other news."), published="2023-11-02")}
    q = ("Between the report published on November 1, 2023, and the one from 2 November 2023, "
         "did the portrayal of Google change?")
    s = named_sources(q, arts, [])
    assert s.docs == {"v", "w"}
    stripped = without(analyze(q), s)
    assert stripped.entities == ("googl",)  # not "between", not the dates
    # A date in the story, not a publication date, names nothing.
    assert named_sources("What happened on November 1, 2023?", arts, []).docs == frozenset()


def test_a_name_in_every_article_names_none() -> None:
    arts = {k: _article(k, "Reuters said so.") for k in "xy"}
    s = named_sources("What does the Reuters report say?", arts, _found(arts))
    assert s.docs == frozenset()


def test_without_drops_the_source_words_from_what_is_asked() -> None:
    q = analyze("According to the Daily Express, how many people died?")
    stripped = without(q, Sources(frozenset({"b"}), frozenset({"daili", "express"})))
    assert stripped.sources == {"b"}
    assert "express" not in stripped.terms and "express" not in stripped.entities
    assert all("express" not in p for p in stripped.pairs)
    assert "kill" in stripped.terms


def test_the_verb_of_a_which_question() -> None:
    assert analyze("Which countries warned Russia?").verb == "warn"
    assert analyze("Which newspaper confirmed the report?").verb == "confirm"
    assert analyze("When did the US warn Russia?").verb == ""


def test_when_asks_for_a_date_only_as_the_question_word() -> None:
    assert analyze("When did the US warn Russia?").kind == "when"
    assert analyze("According to Reuters, when did Iran warn Moscow?").kind == "when"
    assert analyze("Which band was playing when the attack began?").kind == "what"
    assert analyze("How did Putin describe it when he addressed the nation?").kind == "what"
    assert analyze("Did TechCrunch report it when the suit was filed?").kind == "yesno"


def test_similarity_excuses_low_coverage_only_in_the_collection_s_words() -> None:
    cal = Calibration(focus_min=0.4, dense_min=0.5, unknown_max=0.7)
    #        dense lexical entities focus unknown kind top
    paraphrase = (0.6, 0.3, 1.0, 0.1, 0.0, 1.0, 0.5)
    unknown_topic = (0.6, 0.3, 1.0, 0.1, 0.75, 1.0, 0.5)
    assert not cal.refuses(paraphrase)
    assert cal.refuses(unknown_topic)
    assert cal.refuses((0.9, 0.9, 0.5, 1.0, 0.0, 1.0, 0.9))  # a name asked about is missing
    assert not cal.refuses((0.3, 0.3, 1.0, 0.5, 0.9, 1.0, 0.5))  # covered: no excuse needed


def test_pairs_keep_the_question_order() -> None:
    q = analyze("Who is Russia's ambassador to the United States?")
    assert ("russia", "ambassador") in q.pairs
    assert ("ambassador", "russia") not in q.pairs


class _CountingEmbedder:
    """Embeds each sentence as a vector of its length (enough to tell sentences apart)."""

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.array([[float(len(t))] for t in texts])


def test_one_chunk_widened_two_ways_keeps_both_windows_apart() -> None:
    text = "First one here. Second one here. Third one here."
    chunk = Chunk(chunk_id="c1", doc_id="d", text=text[16:32], start=16, end=32)
    narrow = Passage(chunk=chunk, score=1.0, rank=1)
    wide = Passage(chunk=replace(chunk, text=text, start=0, end=len(text)), score=1.0, rank=1)
    cache = SentenceCache(_CountingEmbedder())  # type: ignore[arg-type]
    (spans_n, _), = cache.get([narrow])
    (spans_w, _), = cache.get([wide])
    assert spans_n == [(16, 32)]
    assert [text[s:e] for s, e in spans_w] == ["First one here.", "Second one here.",
                                              "Third one here."]
