"""Unit tests for evals.metrics: pure, fast, hand-computed expectations."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evals import metrics as m


def test_normalize_folds_quotes_dashes_case_and_space() -> None:
    assert m.normalize("ISIS-K \u2013 ISIS\u2019s  branch\n") == "isis-k - isis's branch"
    assert m.contains("calling the warnings \u201cprovocative\u201d", 'warnings "PROVOCATIVE"')
    assert not m.contains("anything", "")
    assert not m.contains("killing 144 people", "killing 137 people")


def test_matches_any_is_case_insensitive_regex() -> None:
    assert m.matches_any([r"March 7|7 March"], "on 7 march the embassy")
    assert not m.matches_any([r"\b144\b"], "1440 people")
    assert not m.matches_any([], "anything")


def test_hit_at_k_and_mrr() -> None:
    ranks = [1, 3, None, 2]
    assert m.hit_at_k(ranks, 1) == 0.25
    assert m.hit_at_k(ranks, 3) == 0.75
    assert m.mrr(ranks) == pytest.approx((1 + 1 / 3 + 0 + 1 / 2) / 4)
    assert m.mrr(ranks, k=2) == pytest.approx((1 + 0 + 0 + 1 / 2) / 4)
    assert m.hit_at_k([], 5) is None and m.mrr([]) is None


def test_doc_rank_counts_near_duplicate_copies() -> None:
    passages = [["a"], ["b", "c"], ["d"]]
    assert m.doc_rank(passages, {"c"}) == 2
    assert m.doc_rank(passages, {"x"}) is None


def test_span_rank_needs_gold_doc_and_evidence() -> None:
    passages = [
        (["a"], "nothing here"), (["b"], "killing 144 people"), (["c"], "killing 144 people")
    ]
    assert m.span_rank(passages, {"c"}, ["Killing  144 people"]) == 3
    assert m.span_rank(passages, {"a", "b"}, ["137"]) is None


def test_fact_and_citation_checks() -> None:
    assert m.fact_correct([r"\b137\b"], "At least 137 people [1]", refused=False)
    assert not m.fact_correct([r"\b137\b"], "At least 137 people [1]", refused=True)
    assert not m.fact_correct([r"\b137\b"], "144 people", refused=False)
    assert m.citation_supports("Peskov said on April 3 that", ["Peskov said on April 3"], [])
    assert m.citation_supports("it was on 3 April", ["nope"], [r"April 3|3 April"])
    assert not m.citation_supports("Iran was warned", ["too general"], [r"Naryshkin"])
    assert m.citation_precision([[True, False], [True, True]]) == 0.75
    assert m.citation_precision([[], []]) is None


def test_evidence_recall_any_versus_all() -> None:
    quotes = ["At least 137 people were killed", "unrelated"]
    ev = ["killing 144 people", "at least 137 people"]
    assert m.evidence_recall(quotes, ev, require_all=False) == 1.0
    assert m.evidence_recall(quotes, ev, require_all=True) == 0.5
    assert m.evidence_recall([], ev, require_all=False) == 0.0
    with pytest.raises(ValueError):
        m.evidence_recall(quotes, [], require_all=False)


def test_refusal_rates() -> None:
    assert m.refusal_accuracy([True, True, False, True]) == 0.75
    assert m.false_refusal_rate([False] * 9 + [True]) == pytest.approx(0.1)
    assert m.refusal_accuracy([]) is None


def test_percentile_matches_linear_interpolation() -> None:
    assert m.percentile([10, 20, 30, 40], 50) == 25
    assert m.percentile([5], 95) == 5
    assert m.percentile(list(range(1, 101)), 95) == pytest.approx(95.05)
    assert m.percentile([], 50) is None
    with pytest.raises(ValueError):
        m.percentile([1.0], 101)


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50), st.floats(0, 100))
def test_percentile_lies_within_range(xs: list[float], q: float) -> None:
    p = m.percentile(xs, q)
    assert p is not None and min(xs) - 1e-6 <= p <= max(xs) + 1e-6


def test_calibration_table_buckets_and_ece() -> None:
    conf = [0.05, 0.1, 0.5, 0.9, 1.0]
    ok = [False, True, True, True, True]
    table = m.calibration_table(conf, ok, buckets=5)
    assert [b.n for b in table] == [2, 0, 1, 0, 2]
    assert table[0].accuracy == 0.5 and table[0].mean_confidence == pytest.approx(0.075)
    assert table[1].accuracy is None
    assert table[4].accuracy == 1.0  # 1.0 falls in the last bucket
    ece = m.expected_calibration_error(table)
    assert ece == pytest.approx((2 * abs(0.5 - 0.075) + abs(1 - 0.5) + 2 * abs(1 - 0.95)) / 5)
    with pytest.raises(ValueError):
        m.calibration_table([0.1], [True, False])


@given(st.lists(st.tuples(st.floats(0, 1), st.booleans()), max_size=40))
def test_calibration_table_partitions_every_answer(rows: list[tuple[float, bool]]) -> None:
    table = m.calibration_table([c for c, _ in rows], [k for _, k in rows])
    assert sum(b.n for b in table) == len(rows)


def test_multihop_scores_follow_the_paper() -> None:
    facts = ["The cat sat.", "The dog  ran."]
    passages = [
        "nothing",
        "x The\ndog ran. y",  # second fact at rank 2 (whitespace-insensitive)
        "also nothing",
        "The cat sat. The dog ran.",  # first fact new at rank 4; second already found
    ]
    docs = [["d9"], ["d2"], ["d9"], ["d1"]]
    s = m.multihop_scores(passages, docs, facts, ["d1", "d2"])
    assert s.hit4 and s.hit10
    assert s.rr10 == 0.5
    assert s.ap10 == pytest.approx((1 / 2 + 1 / 4) / 2)
    assert s.doc_recall10 == 1.0 and s.all_evidence10

    miss = m.multihop_scores(["a"] * 4 + ["The cat sat."], [["d9"]] * 5, facts, ["d1", "d3"])
    assert not miss.hit4 and miss.hit10 and miss.rr10 == 0.2
    assert miss.doc_recall10 == 0.0 and not miss.all_evidence10

    beyond = m.multihop_scores(["x"] * 10 + ["The cat sat."], [["d1"]] * 11, facts, ["d1", "d2"])
    assert not beyond.hit10 and beyond.rr10 == 0 and beyond.ap10 == 0
    assert beyond.doc_recall10 == 0.5
    with pytest.raises(ValueError):
        m.multihop_scores(["x"], [["d1"]], [], [])


def test_multihop_summary_averages() -> None:
    a = m.MultihopScores(True, True, 1.0, 1.0, 1.0, True)
    b = m.MultihopScores(False, True, 0.2, 0.1, 0.5, False)
    s = m.multihop_summary([a, b])
    assert s == {
        "Hits@4": 0.5, "Hits@10": 1.0, "MRR@10": 0.6, "MAP@10": 0.55,
        "doc_recall@10": 0.75, "all_evidence@10": 0.5,
    }
    assert m.multihop_summary([])["Hits@10"] is None


def test_auroc_ranks_right_answers_above_wrong_ones() -> None:
    assert m.auroc([0.9, 0.8, 0.3, 0.1], [True, True, False, False]) == 1.0
    assert m.auroc([0.1, 0.3, 0.8, 0.9], [True, True, False, False]) == 0.0
    assert m.auroc([0.5, 0.5], [True, False]) == 0.5  # a tie counts half
    assert m.auroc([0.5], [True]) is None


def test_balanced_accuracy_and_whole_word_mentions() -> None:
    gold = ["yes", "yes", "yes", "no"]
    assert m.balanced_accuracy(gold, ["yes", "yes", "yes", "yes"]) == 0.5  # always "Yes"
    assert m.balanced_accuracy(gold, ["yes", "no", "yes", "no"]) == (2 / 3 + 1) / 2
    assert m.mentions("They were Consistent.", "consistent")
    assert not m.mentions("Inconsistent", "Consistent")
    assert m.mentions("Sam Bankman-Fried: “...”", "sam bankman-fried")
