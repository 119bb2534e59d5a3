"""The evidence step's lookups against the plain scans they replace, on the bundled articles
parsed by the real spaCy model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag.nlp import annotate
from rag.text import first_offsets, terms

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


def test_first_offsets_are_the_first_whitespace_token_holding_the_term(texts: list[str]) -> None:
    for text in texts:
        want: dict[str, int] = {}
        for m in re.finditer(r"\S+", text):
            for t in terms(m.group()):
                want.setdefault(t, m.start())
        assert want
        assert first_offsets(text) == want


def test_sentences_parsed_ahead_in_a_batch_parse_as_they_do_one_by_one(texts: list[str]) -> None:
    from rag import nlp
    from rag.text import split_sentences

    sentences = [t[s:e] for t in texts for s, e in split_sentences(t)][:150]
    one = [nlp.model()(s, disable=["ner"]) for s in sentences]
    nlp.parse_syntax_ahead(sentences)
    got = [nlp.parse_syntax(s) for s in sentences]

    def parse(doc: object) -> list[tuple[str, int, str, str, str]]:
        return [(t.text, t.head.i, t.dep_, t.pos_, t.lemma_) for t in doc]  # type: ignore[attr-defined]

    assert [parse(d) for d in got] == [parse(d) for d in one]
    assert all(d is nlp.parse_syntax(s) for d, s in zip(got, sentences))  # not parsed again
    # A full cache drops its oldest parses first.
    kept = nlp._SYNTAX_KEPT
    try:
        nlp._SYNTAX_KEPT = 10
        nlp._syntax.clear()
        nlp.parse_syntax_ahead(sentences[:20])
        assert len(nlp._syntax) <= 10 and sentences[19] in nlp._syntax
    finally:
        nlp._SYNTAX_KEPT = kept
