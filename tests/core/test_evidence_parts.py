"""The evidence step's lookups against the plain scans they replace, on the bundled articles
parsed by the real spaCy model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag.evidence import _first_seen
from rag.nlp import annotate
from rag.text import terms

ARTICLES = sorted((Path(__file__).resolve().parents[2] / "data" / "articles").glob("*.txt"))


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in ARTICLES]


def test_mentions_of_a_span_are_the_ones_inside_it(texts: list[str]) -> None:
    for text, ann in zip(texts, annotate(texts)):
        assert ann.mentions
        for s, e in [*ann.sentences, (0, len(text)), (5, 6), (len(text), len(text))]:
            want = tuple(m for m in ann.mentions if m.start >= s and m.end <= e)
            assert ann.mentions_in(s, e) == want


def test_first_seen_is_the_first_whitespace_token_holding_the_term(texts: list[str]) -> None:
    for text in texts:
        want: dict[str, int] = {}
        for m in re.finditer(r"\S+", text):
            for t in terms(m.group()):
                want.setdefault(t, m.start())
        first = _first_seen(text)
        assert want
        assert all(first.get(t, -1) == at for t, at in want.items())
        assert first.get("zzzz-not-a-term", -7) == -7
