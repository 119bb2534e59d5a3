"""The grounding check on hand-written passages, with the real embedding model."""

from __future__ import annotations

import re

import pytest

from rag.grounding import check_sentences, ground, parse_markers, required_terms, split_draft
from rag.types import Answer, Article, Passage

pytestmark = pytest.mark.llm

PASSAGES: list[Passage] = []
ARTICLES: dict[str, Article] = {}


def _fallback() -> Answer:
    return Answer("q", "extractive text [1].", backend="extractive")


@pytest.fixture(autouse=True)
def _corpus(hand_corpus: tuple[list[Passage], dict[str, Article]]) -> None:
    global PASSAGES, ARTICLES
    PASSAGES, ARTICLES = hand_corpus


def _ground(draft: str) -> Answer:
    return ground("when did the US warn Russia?", draft, PASSAGES, ARTICLES,
                  backend="openai", fallback=_fallback)  # fmt: skip


def _assert_well_formed(answer: Answer) -> None:
    markers = [int(n) for n in re.findall(r"\[(\d+)\]", answer.text)]
    assert sorted(set(markers)) == [c.n for c in answer.citations]
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    for c in answer.citations:
        assert ARTICLES[c.doc_id].text[c.start : c.end] == c.quote
        assert c.quote == c.quote.strip() and c.quote


def test_hallucinated_date_is_dropped_and_the_correct_sentence_kept() -> None:
    answer = _ground(
        "The US Embassy warned of an imminent attack on March 7, 2014 [1]. "
        "The US Embassy issued a precautionary warning on March 7 [1]."
    )
    assert "2014" not in answer.text
    assert answer.unsupported == ("The US Embassy warned of an imminent attack on March 7, 2014.",)
    assert answer.text.startswith("The US Embassy issued a precautionary warning on March 7 [1]")
    (c,) = answer.citations
    assert "March 7" in c.quote and c.doc_id == "express"
    assert answer.backend == "openai"
    _assert_well_formed(answer)


def test_markers_after_the_full_stop_belong_to_the_sentence_before() -> None:
    assert split_draft("Putin called it blackmail. [1] He said so. [2][3]") == [
        "Putin called it blackmail. [1]",
        "He said so. [2][3]",
    ]
    assert parse_markers("Putin said so [1, 3][Passage 2].") == ("Putin said so.", (1, 3, 2))


def test_marker_to_no_passage_is_removed_and_the_sentence_reattributed() -> None:
    answer = _ground("Four gunmen stormed the concert hall, killing 144 people [7].")
    assert "[7]" not in answer.text and answer.text.endswith("[1].")
    assert answer.citations[0].doc_id == "kyiv" and "144" in answer.citations[0].quote
    _assert_well_formed(answer)


def test_citations_are_renumbered_in_order_of_appearance() -> None:
    answer = _ground(
        "Gunmen stormed Crocus City Hall during a concert [3]. "
        "Putin called the warnings provocative [1]."
    )
    assert answer.text == (
        "Gunmen stormed Crocus City Hall during a concert [1]. "
        "Putin called the warnings provocative [2]."
    )
    assert [c.n for c in answer.citations] == [1, 2]
    assert "Crocus" in answer.citations[0].quote and "provocative" in answer.citations[1].quote
    _assert_well_formed(answer)


@pytest.mark.parametrize(
    "sentence",
    [
        "Biden dismissed the warnings as outright blackmail [1].",  # wrong name
        "Putin dismissed the warnings as blackmail on March 9 [1].",  # wrong date
        "The attack claimed over 200 lives [3].",  # wrong number
        "Putin did not dismiss the warnings [1].",  # negation the source lacks
        "The weather in Moscow was sunny and warm that week [1].",  # unrelated
    ],
)
def test_unsupported_claims_never_reach_the_text(sentence: str) -> None:
    answer = _ground(sentence + " Putin called the warnings provocative [1].")
    assert answer.unsupported == (parse_markers(sentence)[0],)
    assert answer.text == "Putin called the warnings provocative [1]."
    _assert_well_formed(answer)


def test_nothing_supported_returns_the_extractive_answer_with_the_dropped_sentences() -> None:
    answer = _ground("Moscow was attacked on March 7, 2014 by Biden [1]. I don't know.")
    assert answer.backend == "extractive" and answer.text == "extractive text [1]."
    assert "Moscow was attacked on March 7, 2014 by Biden." in answer.unsupported


def test_required_terms_cover_numbers_dates_and_names() -> None:
    terms = required_terms("Putin said on March 7, 2014 that 144 people died in Crocus City Hall")
    assert {"Putin", "March", "7", "2014", "144", "Crocus", "City", "Hall"} <= terms
    # a capitalised first word that the passages use in lower case is not a name
    assert "Despite" not in required_terms("Despite the warning, it happened", "despite it")
    assert "US" in required_terms("The United States warned Moscow")


def test_a_sentence_may_be_supported_by_two_adjacent_source_sentences() -> None:
    (check,) = check_sentences(
        "Putin called the warnings provocative three days before the attack on the concert "
        "hall, which the US Embassy had warned about on March 7 [1].",
        PASSAGES,
    )
    assert check.supported, check.reason
    assert "March 7" in check.supports[0].quote and "provocative" in check.supports[0].quote


def test_list_numbering_is_neither_kept_nor_counted() -> None:
    answer = _ground("1. Putin called the warnings provocative [1]. 2.")
    assert answer.text == "Putin called the warnings provocative [1]."
    assert answer.unsupported == ()
