"""Eval metrics: pure functions over plain data, no I/O and no model.

Conventions: every rate is in [0, 1]; a metric over an empty set is ``None`` (not 0, which would
read as a failure, and not 1, which would hide a broken run). Ranks are 1-based.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Typographic variants that differ between copies of the same sentence (and between a quote
# and the case file), mapped to one form so a match does not hinge on the publisher's fonts.
_TYPO = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
        "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u00a0": " ", "\u2026": "...",
    }
)


def normalize(text: str) -> str:
    """Case-, whitespace-, quote- and dash-insensitive form used for substring checks."""
    text = unicodedata.normalize("NFKC", text).translate(_TYPO)
    return " ".join(text.split()).casefold()


def squash(text: str) -> str:
    """MultiHop-RAG's form: all whitespace removed (the README's rule), nothing else changed."""
    return "".join(text.split())


def contains(haystack: str, needle: str) -> bool:
    """``needle`` occurs in ``haystack`` under :func:`normalize`."""
    n = normalize(needle)
    return bool(n) and n in normalize(haystack)


def matches_any(patterns: Sequence[str], text: str) -> bool:
    """Any accepted-answer regex (case-insensitive) is found in ``text``."""
    return any(re.search(p, text, re.IGNORECASE) for p in patterns)


def mean(values: Iterable[float]) -> float | None:
    vals = list(values)
    return sum(vals) / len(vals) if vals else None


def rate(flags: Iterable[bool]) -> float | None:
    return mean(1.0 if f else 0.0 for f in flags)


# --- retrieval ---------------------------------------------------------------------------


def first_rank(relevant: Sequence[bool]) -> int | None:
    """1-based rank of the first relevant item, or None."""
    for i, r in enumerate(relevant, start=1):
        if r:
            return i
    return None


def hit_at_k(ranks: Sequence[int | None], k: int) -> float | None:
    """Share of queries whose first relevant item is at rank <= k."""
    return rate(r is not None and r <= k for r in ranks)


def mrr(ranks: Sequence[int | None], k: int | None = None) -> float | None:
    """Mean reciprocal rank of the first relevant item (0 when absent or beyond ``k``)."""
    return mean(0.0 if r is None or (k is not None and r > k) else 1.0 / r for r in ranks)


def doc_rank(passage_docs: Sequence[Sequence[str]], gold_docs: Iterable[str]) -> int | None:
    """Rank of the first passage from a gold document; each entry lists a passage's doc_ids
    (its own first, then the near-duplicate copies it stands for)."""
    gold = set(gold_docs)
    return first_rank([bool(gold.intersection(docs)) for docs in passage_docs])


def span_rank(
    passages: Sequence[tuple[Sequence[str], str]],
    gold_docs: Iterable[str],
    evidence: Sequence[str],
) -> int | None:
    """Rank of the first passage from a gold document whose text holds any evidence span."""
    gold = set(gold_docs)
    return first_rank(
        [bool(gold.intersection(docs)) and any(contains(text, e) for e in evidence)
         for docs, text in passages]
    )


# --- answers and citations ---------------------------------------------------------------


def fact_correct(patterns: Sequence[str], answer_text: str, refused: bool) -> bool:
    """An answerable question was answered (not refused) and an accepted answer appears."""
    return not refused and matches_any(patterns, answer_text)


def citation_supports(quote: str, evidence: Sequence[str], patterns: Sequence[str]) -> bool:
    """A citation is precise when its quote holds an evidence span or an accepted answer."""
    return any(contains(quote, e) for e in evidence) or matches_any(patterns, quote)


def citation_precision(per_case: Sequence[Sequence[bool]]) -> float | None:
    """Micro-averaged share of supporting citations over every citation of every answer."""
    return rate(flag for flags in per_case for flag in flags)


def evidence_recall(quotes: Sequence[str], evidence: Sequence[str], require_all: bool) -> float:
    """How much of the evidence the cited quotes hold: any one alternative suffices, unless
    ``require_all`` (questions that need several sources), then the share found."""
    if not evidence:
        raise ValueError("evidence_recall needs at least one evidence span")
    found = [any(contains(q, e) for q in quotes) for e in evidence]
    if require_all:
        return sum(found) / len(found)
    return 1.0 if any(found) else 0.0


def refusal_accuracy(refused_on_unanswerable: Sequence[bool]) -> float | None:
    """Share of unanswerable questions that were refused."""
    return rate(refused_on_unanswerable)


def false_refusal_rate(refused_on_answerable: Sequence[bool]) -> float | None:
    """Share of answerable questions that were refused."""
    return rate(refused_on_answerable)


# --- latency and calibration -------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default), ``q`` in [0, 100]."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be in [0, 100], got {q}")
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass(frozen=True)
class CalibrationBucket:
    """Answers whose confidence lies in [lo, hi) (the last bucket includes 1.0)."""

    lo: float
    hi: float
    n: int
    mean_confidence: float | None
    accuracy: float | None


def calibration_table(
    confidences: Sequence[float], correct: Sequence[bool], buckets: int = 5
) -> list[CalibrationBucket]:
    """Accuracy per equal-width confidence bucket: a calibrated system has accuracy close to
    the mean confidence in every bucket."""
    if len(confidences) != len(correct):
        raise ValueError("confidences and correct must have the same length")
    rows = []
    for b in range(buckets):
        lo, hi = b / buckets, (b + 1) / buckets
        last = b == buckets - 1
        idx = [i for i, c in enumerate(confidences) if lo <= c < hi or (last and c >= hi)
               or (b == 0 and c < 0)]
        rows.append(
            CalibrationBucket(
                lo=lo, hi=hi, n=len(idx),
                mean_confidence=mean(confidences[i] for i in idx),
                accuracy=rate(correct[i] for i in idx),
            )
        )
    return rows


def expected_calibration_error(table: Sequence[CalibrationBucket]) -> float | None:
    """Bucket-size-weighted mean |accuracy - confidence| (0 is perfect)."""
    total = sum(b.n for b in table)
    if not total:
        return None
    return sum(
        b.n * abs((b.accuracy or 0.0) - (b.mean_confidence or 0.0)) for b in table if b.n
    ) / total


# --- MultiHop-RAG (Tang & Yang 2024, retrieval_evaluate.py semantics) ---------------------


@dataclass(frozen=True)
class MultihopScores:
    """Per-question retrieval scores; averaged over questions they give the paper's metrics."""

    hit4: bool
    hit10: bool
    rr10: float
    ap10: float
    doc_recall10: float
    all_evidence10: bool


def multihop_scores(
    passages: Sequence[str],
    passage_docs: Sequence[Sequence[str]],
    facts: Sequence[str],
    gold_docs: Sequence[str],
) -> MultihopScores:
    """Score one non-null question.

    A passage is a hit when a gold fact, whitespace removed, lies inside it (whitespace
    removed). MAP@10 credits each fact once, at the first rank where it is found:
    sum over ranks r of (new facts found at r) / r, divided by min(#facts, 10).
    Document level: passages mapped to doc_ids in rank order, first occurrence kept.
    """
    if not facts:
        raise ValueError("multihop_scores is for non-null questions (facts must not be empty)")
    gold = [squash(f) for f in facts]
    found: list[str] = []
    first: int | None = None
    ap = 0.0
    for rank, text in enumerate(passages[:10], start=1):
        t = squash(text)
        if not any(g in t for g in gold):
            continue
        if first is None:
            first = rank
        new = [g for g in gold if g in t and g not in found]
        found.extend(new)
        ap += len(new) / rank
    docs: list[str] = []
    for ids in passage_docs[:10]:
        for d in ids:
            if d not in docs:
                docs.append(d)
    top_docs = set(docs[:10])
    gold_set = set(gold_docs)
    return MultihopScores(
        hit4=first is not None and first <= 4,
        hit10=first is not None,
        rr10=1.0 / first if first else 0.0,
        ap10=ap / min(len(gold), 10),
        doc_recall10=len(gold_set & top_docs) / len(gold_set) if gold_set else 0.0,
        all_evidence10=bool(gold_set) and gold_set <= top_docs,
    )


def multihop_summary(scores: Sequence[MultihopScores]) -> dict[str, float | None]:
    """The paper's names for the averages, plus the document-level figures."""
    return {
        "Hits@4": rate(s.hit4 for s in scores),
        "Hits@10": rate(s.hit10 for s in scores),
        "MRR@10": mean(s.rr10 for s in scores),
        "MAP@10": mean(s.ap10 for s in scores),
        "doc_recall@10": mean(s.doc_recall10 for s in scores),
        "all_evidence@10": rate(s.all_evidence10 for s in scores),
    }


# --- answers: accuracy by kind and the confidence's ranking power ---------------------------


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Area under the ROC curve: the chance that a right answer has a higher confidence than
    a wrong one (ties count half). 0.5 is no better than chance; None without both kinds."""
    if len(scores) != len(labels):
        raise ValueError("scores and labels must have the same length")
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return None
    # Mann-Whitney U from average ranks (ties share their rank).
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    r_pos = sum(r for r, y in zip(ranks, labels) if y)
    return (r_pos - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def balanced_accuracy(gold: Sequence[str], predicted: Sequence[str | None]) -> float | None:
    """The mean over gold classes of the share predicted right (recall per class), so that
    always giving one answer scores 1 / (number of classes)."""
    classes = sorted(set(gold))
    recalls = [rate(p == c for g, p in zip(gold, predicted) if g == c) for c in classes]
    got = [r for r in recalls if r is not None]
    return sum(got) / len(got) if got else None


def mentions(text: str, answer: str) -> bool:
    """``answer`` occurs in ``text`` as whole words (under :func:`normalize`): "Consistent"
    is not found in "Inconsistent"."""
    n = normalize(answer)
    if not n:
        return False
    return re.search(rf"(?<!\w){re.escape(n)}(?!\w)", normalize(text)) is not None
