"""The seed case file is well-formed and its facts really are in the articles."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from evals import metrics as m
from evals.runner import Case, load_cases
from rag.settings import DEFAULT_ARTICLES

ARTICLES = {p.stem: p.read_text(encoding="utf-8") for p in DEFAULT_ARTICLES.glob("*.txt")}
CASES = load_cases()
REQUIRED_TAGS = {"date", "number", "person", "quote", "organisation", "place", "cause",
                 "consequence", "multi-doc", "paraphrase", "lowercase", "misspelled",
                 "conflict", "unanswerable", "near-miss"}


def test_case_counts_and_coverage() -> None:
    assert len(CASES) >= 60
    assert sum(not c.answerable for c in CASES) >= 12
    assert set(ARTICLES) <= {d for c in CASES for d in c.doc_ids}, "every article is asked about"
    tags = Counter(t for c in CASES for t in c.tags)
    assert set(tags) >= REQUIRED_TAGS, REQUIRED_TAGS - set(tags)
    assert len({m.normalize(c.question) for c in CASES}) == len(CASES), "no duplicate questions"


def test_half_of_the_cases_are_dev() -> None:
    """Tune on train, report on dev: both splits hold answerable and unanswerable cases."""
    for answerable in (True, False):
        group = [c for c in CASES if c.answerable == answerable]
        dev = sum(c.split == "dev" for c in group)
        assert abs(2 * dev - len(group)) <= 2, (answerable, dev, len(group))


@pytest.mark.parametrize("case", [c for c in CASES if c.answerable], ids=lambda c: c.id)
def test_answerable_case_is_grounded(case: Case) -> None:
    assert set(case.doc_ids) <= set(ARTICLES)
    for p in case.answers:
        re.compile(p)
    for e in case.evidence:
        assert any(m.contains(ARTICLES[d], e) for d in case.doc_ids), f"{e!r} not in the docs"
    if case.evidence_all:
        assert len(case.evidence) >= 2
    elif not {"multi-doc", "derived", "yes-no"} & set(case.tags):
        # (derived: a date or a count worked out from the text; yes-no: "Yes" is not quoted)
        # an accepted answer is literally in a gold article (no pattern that cannot match)
        assert any(m.matches_any(case.answers, m.normalize(ARTICLES[d])) for d in case.doc_ids)


@pytest.mark.parametrize("case", [c for c in CASES if not c.answerable], ids=lambda c: c.id)
def test_unanswerable_case_shape(case: Case) -> None:
    assert not case.answers and not case.evidence and not case.doc_ids
    if "near-miss" in case.tags:
        # a near-miss shares a content word with the corpus, so word overlap alone cannot refuse it
        words = {w for w in re.findall(r"[a-z][a-z-]{3,}", case.question.lower())}
        corpus = m.normalize(" ".join(ARTICLES.values()))
        assert any(w in corpus for w in words), case.question
