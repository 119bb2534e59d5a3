"""Answers worked out from two facts: days between two dated events, which came first.

Each event the question names is dated from the evidence: the sentence that best covers the
event's words and gives a date that resolves to a day (rag.dates: "on Friday" in a piece of
25 March 2024 is 22 March 2024). The answer quotes both sentences, so the arithmetic can be
checked against them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from rag.dates import Resolved, days_between, resolve, resolve_near
from rag.evidence import Evidence
from rag.nlp import own_phrases
from rag.question import Query
from rag.text import terms
from rag.types import Article

DEPTH = 25  # evidence sentences an event's date is looked for in
_UNITS = {"day": 1, "days": 1, "week": 7, "weeks": 7}
_BETWEEN = re.compile(r"\bbetween\s+(.+?)\s+and\s+(.+?)\??$", re.IGNORECASE)
# "How many days before the attack did Putin dismiss the warnings?": (Putin…, the attack)
_GAP = re.compile(r"\b(?:before|after)\s+(.+?)\s+(?:did|was|were|had|has|does|do)\s+(.+?)\??$",
                  re.IGNORECASE)
_FIRST = re.compile(r"\b(?:first|earlier|sooner|before the other)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Worked:
    short: str
    quotes: tuple[Evidence, ...]
    lead: str | None = None


@dataclass(frozen=True)
class Dated:
    """An event of the question, dated by one evidence sentence."""

    event: str
    date: Resolved
    evidence: Evidence
    start: int  # where the date is written in its article


def work_out(q: Query, evidence: Sequence[Evidence], articles: Mapping[str, Article]
             ) -> Worked | None:
    """A worked-out answer when the question asks for one and both facts are found in the
    evidence (best first)."""
    if q.kind == "how_many" and q.head.lower() in _UNITS:
        return _count(q, evidence, articles, _UNITS[q.head.lower()], q.head.lower())
    if len(q.options) == 2 and _FIRST.search(q.text):
        return _first(q, evidence, articles)
    return None


def date_of(event: str, evidence: Sequence[Evidence], articles: Mapping[str, Article],
            exclude: Dated | None = None, anchor: str | None = None) -> Dated | None:
    """The event's date: from the sentence covering most of its words that gives a date
    resolving to a day; of those, the date whose own phrase (``own_phrases``) holds most of
    the event's words, the shorter phrase first ("the Washington Post reported April 2" and "the
    deadly March 22 attack" in one sentence; "the US said on Monday … about a planned attack"
    dates the saying, not the attack), then the better-scored sentence. ``exclude`` is the
    other event's date: two events may share a sentence but not a date in it. In an article
    with no publication date, "April 2" is read in the year nearest ``anchor`` (the other
    event's date, else the newest publication date among the evidence, else in the
    collection)."""
    if anchor is None:
        dated = ([a.published[:10] for ev in evidence[:DEPTH]
                  if (a := articles.get(ev.doc_id)) is not None and a.published]
                 or [a.published[:10] for a in articles.values() if a.published])
        anchor = max(dated) if dated else None
    words = set(terms(event))
    if not words:
        return None
    best: tuple[tuple[float, float, int, float], Dated] | None = None
    for ev in evidence[:DEPTH]:
        art = articles.get(ev.doc_id)
        if art is None:
            continue
        cover = len(words & set(terms(ev.text))) / len(words)
        if cover < 0.5:
            continue
        dates = [m for m in ev.mentions if m.label == "DATE"]
        phrases = own_phrases(ev.text, [(m.start - ev.start, m.end - ev.start) for m in dates])
        for m, own in zip(dates, phrases):
            if exclude is not None and ev is exclude.evidence and m.start == exclude.start:
                continue
            written = art.text[m.start:m.end]
            got = (resolve(written, art.published) if art.published else
                   resolve_near(written, anchor) if anchor else None)
            if got is None or got.grain != "day":
                continue
            key = (cover, len(words & set(terms(own))) / len(words), -len(own), ev.score)
            if best is None or key > best[0]:
                best = (key, Dated(event, got, ev, m.start))
    return best[1] if best else None


def _events(question: str) -> tuple[str, str] | None:
    """The two events a day count is between."""
    m = _BETWEEN.search(question)
    if m:
        return m.group(1), m.group(2)
    m = _GAP.search(question)
    if m and terms(m.group(1)) and terms(m.group(2)):
        return m.group(2), m.group(1)
    return None


def _count(q: Query, evidence: Sequence[Evidence], articles: Mapping[str, Article], unit: int,
           unit_word: str) -> Worked | None:
    events = _events(q.text)
    if events is None:
        return None
    a = date_of(events[0], evidence, articles)
    b = date_of(events[1], evidence, articles, exclude=a,
                anchor=a.date.iso if a else None)
    if a is not None and b is not None and not articles[a.evidence.doc_id].published:
        a = date_of(events[0], evidence, articles, exclude=b,
                    anchor=b.date.iso)  # read "March 3" in the year of the dated event
    if a is None or b is None or a.date == b.date:
        return None
    days = days_between(a.date, b.date)
    if days is None:
        return None
    n = abs(days) / unit
    amount = f"{n:g} {unit_word if n != 1 else unit_word.rstrip('s')}"
    lead = (f"{amount} ({_spoken(a.date)} to {_spoken(b.date)})" if days > 0 else
            f"{amount} ({_spoken(b.date)} to {_spoken(a.date)})")
    return Worked(amount, _quotes(a, b), lead)


def _first(q: Query, evidence: Sequence[Evidence], articles: Mapping[str, Article]
           ) -> Worked | None:
    a_text, b_text = q.options
    a = date_of(a_text, evidence, articles)
    b = date_of(b_text, evidence, articles, exclude=a,
                anchor=a.date.iso if a else None)
    if a is None or b is None:
        return None
    if a.date == b.date:
        return Worked("The same day", _quotes(a, b),
                      f"The same day ({_spoken(a.date)})")
    first, second = (a, b) if date.fromisoformat(a.date.iso) < date.fromisoformat(
        b.date.iso) else (b, a)
    short = first.event[:1].upper() + first.event[1:]
    return Worked(short, _quotes(first, second),
                  f"{short} ({_spoken(first.date)}, before {_spoken(second.date)})")


def _quotes(a: Dated, b: Dated) -> tuple[Evidence, ...]:
    """The sentences that date the two events, once each (one sentence may date both)."""
    return (a.evidence,) if a.evidence is b.evidence else (a.evidence, b.evidence)


def _spoken(d: Resolved) -> str:
    return d.spoken()
