"""Date phrases resolved against the publication date (dateparser underneath)."""

from __future__ import annotations

import pytest

from rag.dates import Resolved, dates_named, days_between, resolve, weekday_notes


def test_relative_periods_resolve_to_their_month_or_year() -> None:
    assert resolve("early this month", "2024-03-25") == Resolved("2024-03", "month")
    assert resolve("last year", "2024-03-25") == Resolved("2023", "year")
    assert resolve("this month", None) is None  # no publication date: no anchor


@pytest.mark.parametrize(("phrase", "published", "iso", "grain"), [
    ("Friday 22 March", "2024-03-25", "2024-03-22", "day"),
    ("on Friday", "2024-03-25", "2024-03-22", "day"),
    ("March 7", "2024-03-25", "2024-03-07", "day"),
    ("on Monday", "2024-03-26", "2024-03-25", "day"),
    ("Oct. 30", "2023-11-02", "2023-10-30", "day"),
    ("November 5, 2023", None, "2023-11-05", "day"),
    ("2004", None, "2004", "year"),
    ("December", "2024-03-25", "2023-12", "month"),
])
def test_calendar_phrases_resolve(phrase: str, published: str | None, iso: str,
                                  grain: str) -> None:
    assert resolve(phrase, published) == Resolved(iso, grain)


@pytest.mark.parametrize(("phrase", "published"), [
    ("two weeks", "2024-03-25"),  # a duration
    ("three days before the attack", "2024-03-25"),  # relative to an event
    ("Monday", "2024-03-25"),  # the publication's own weekday: that day or a week before
    ("April 3", None),  # which year depends on when the article appeared
])
def test_other_phrases_do_not_become_dates(phrase: str, published: str | None) -> None:
    assert resolve(phrase, published) is None


def test_day_counts_named_dates_and_weekday_notes() -> None:
    assert days_between(Resolved("2024-03-07", "day"), Resolved("2024-03-22", "day")) == 15
    assert days_between(Resolved("2024", "year"), Resolved("2024-03-22", "day")) is None
    assert dates_named("published on November 1, 2023 and on 2023-10-05") == {
        "2023-11-01", "2023-10-05"}
    assert weekday_notes("on Friday and on Tuesday", "2024-03-25") == (
        "Friday = 2024-03-22; Tuesday = 2024-03-19")
