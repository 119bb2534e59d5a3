"""Typed answers: numbers by value, names with their shorter forms, matches to gold."""

from __future__ import annotations

import pytest

from rag.typed import matches, number_value


@pytest.mark.parametrize(("text", "value"), [
    ("16,000", "16000"), ("four", "4"), ("over 130", "130"), ("2.5 million", "2.5"),
    ("none", None),
])
def test_number_values(text: str, value: str | None) -> None:
    assert number_value(text) == value


def test_a_candidate_matches_the_gold_answer_by_name() -> None:
    assert matches("Sam Bankman-Fried", "Sam Bankman-Fried")
    assert matches("Bankman-Fried", "Sam Bankman-Fried")
    assert matches("the New York Times", "New York Times")
    assert not matches("Sam Altman", "Sam Bankman-Fried")


def test_a_date_belongs_to_the_verb_it_hangs_from() -> None:
    from rag.nlp import governors
    from rag.typed import _governed

    s = ("The United States said on Monday that it had warned Russia early this month about "
         "a planned attack.")
    monday, early = s.index("on Monday"), s.index("early this month")
    assert governors(s, monday, monday + 9)[0] == "say"
    assert governors(s, early, early + 16)[0] == "warn"
    warn = {"warn", "russia", "us"}  # the stems of "when did the US warn Russia?"
    assert _governed(s, early, early + 16, warn) == 1.0
    assert _governed(s, monday, monday + 9, warn) == 0.0


def test_markup_and_links_are_left_out_of_quotes() -> None:
    from rag.extractive import readable

    s = ('Four gunmen were held. <img src="http://evil.example/p.png"> The suspects were '
         'detained in the Bryansk region, police said.')
    a, b = readable(s)
    assert s[a:b] == "The suspects were detained in the Bryansk region, police said."
    assert readable("No markup here.") == (0, 15)
