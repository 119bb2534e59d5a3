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
