"""Source naming and name matching, as pure functions."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rag.names import named_sources, same_name
from rag.question import analyze, with_sources
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


def test_a_publisher_named_whole_is_found_and_its_shorter_namesakes_are_not() -> None:
    arts = {"l": _article("l", "Smith spoke.", source="The Independent - Life and Style"),
            "s": _article("s", "The match ended.", source="The Independent - Sports"),
            "h": _article("h", "Sleep matters.", source="FOX News - Health"),
            "e": _article("e", "A film opened.", source="FOX News - Entertainment")}
    q = "What did The Independent - Life and Style's report say about Smith?"
    assert named_sources(q, arts, []).docs == {"l"}
    assert named_sources("Does the 'FOX News - Health' article say so?", arts, []).docs == {"h"}
    # Lower case is not a name: "fox news health" in running text names no publisher.
    assert named_sources("is fox news health good?", arts, []).docs == frozenset()
    # Most of a publisher's words still name it when no whole name took them.
    assert named_sources("What did FOX News say?", arts, []).docs == {"h", "e"}


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
    stripped = with_sources(analyze(q), s)
    assert stripped.entities == ("googl",)  # not "between", not the dates
    # A date in the story, not a publication date, names nothing.
    assert named_sources("What happened on November 1, 2023?", arts, []).docs == frozenset()


def test_a_name_in_every_article_names_none() -> None:
    arts = {k: _article(k, "Reuters said so.") for k in "xy"}
    s = named_sources("What does the Reuters report say?", arts, _found(arts))
    assert s.docs == frozenset()


def test_a_publisher_and_a_date_name_that_publisher_s_article_of_that_day() -> None:
    arts = {"t1": replace(_article("t1", "x", source="TechCrunch"), published="2023-12-15"),
            "t2": replace(_article("t2", "y", source="TechCrunch"), published="2023-12-16"),
            "v": replace(_article("v", "z", source="The Verge"), published="2023-12-15")}
    q = "Did the TechCrunch article published on December 15, 2023 and The Verge agree?"
    assert named_sources(q, arts, []).docs == {"t1", "v"}


@pytest.mark.parametrize(("a", "b", "same"), [
    ("Sam Bankman-Fried", "Bankman-Fried", True),
    ("The Verge's", "the verge", True),
    ("Sam Bankman-Fried", "Sam Altman", False),
    ("Sam", "Sam Altman", False),
])
def test_same_name(a: str, b: str, same: bool) -> None:
    assert same_name(a, b) is same
