"""Fit the refusal rule and the confidence model; write ``rag/calibration.json``.

    python -m evals.calibrate [--no-multihop] [--dry-run]

Data: the seed cases (answerable vs. not, and whether the extractive answer is right) and the
MultiHop-RAG questions (null questions must be refused; the others hold an answer in the
corpus). The refusal rule has three thresholds (``focus_min``, ``dense_min``, ``unknown_max``, see
``rag.evidence.Calibration``), chosen by a grid search that first keeps the false-refusal
rate on answerable seed questions at or under 3%, then maximises refusal accuracy on the
unanswerable ones (seed and null). Confidence is a logistic regression over the same
features, fitted to "answered correctly" on the seeds. Leave-one-out figures are printed so
the fit is not judged on the data it saw alone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from evals import MULTIHOP_DIR
from evals import metrics as m
from evals.cli import DEFAULT_CACHE, _seed_home
from evals.runner import eval_settings, load_cases, stderr
from rag import Engine
from rag.backends import get_synthesizer
from rag.evidence import CALIBRATION_PATH, FEATURES, Calibration

FRR_CAP = 0.03
CACHE = Path(os.environ.get("RAG_EVAL_CACHE", DEFAULT_CACHE))


@dataclass(frozen=True)
class Row:
    """One question's features and labels."""

    source: str  # seeds | multihop
    answerable: bool
    correct: bool  # answerable and the extractive answer matched (seeds only)
    features: tuple[float, ...]


def seed_rows(engine: Engine) -> list[Row]:
    synth = get_synthesizer("extractive", engine.settings)
    rows = []
    for case in load_cases():
        query, passages, evidence, decision, _ = engine.prepare(case.question)
        ans = synth.answer(query.text, passages, engine.articles(), evidence)
        ok = case.answerable and m.fact_correct(case.answers, ans.text, False)
        rows.append(Row("seeds", case.answerable, bool(ok), decision.features))
    return rows


def multihop_rows() -> list[Row]:
    from evals import multihop, runner

    data = MULTIHOP_DIR
    corpus_sha = runner.sha256_files([data / "corpus.jsonl"])
    settings = eval_settings(CACHE / "unused")
    home = runner.cached_home(CACHE, "multihop", corpus_sha, settings,
                              lambda s: multihop.index_corpus(multihop.load_corpus(data), s),
                              stderr)
    engine = Engine(eval_settings(home), auto_index=False)
    rows = []
    for q in multihop.load_questions(data):
        *_, decision, _ = engine.prepare(q.query)
        rows.append(Row("multihop", not q.is_null, False, decision.features))
    return rows


def rule_figures(rows: list[Row], cal: Calibration) -> dict[str, float]:
    def rate(sel: list[Row], want_refused: bool) -> float:
        if not sel:
            return float("nan")
        return sum(cal.refuses(r.features) == want_refused for r in sel) / len(sel)

    seeds_a = [r for r in rows if r.source == "seeds" and r.answerable]
    seeds_u = [r for r in rows if r.source == "seeds" and not r.answerable]
    mh_a = [r for r in rows if r.source == "multihop" and r.answerable]
    mh_u = [r for r in rows if r.source == "multihop" and not r.answerable]
    return {"seed_refusal_accuracy": rate(seeds_u, True),
            "seed_false_refusal_rate": 1 - rate(seeds_a, False),
            "multihop_null_refusal_accuracy": rate(mh_u, True),
            "multihop_false_refusal_rate": 1 - rate(mh_a, False)}


def fit_rule(rows: list[Row]) -> Calibration:
    """The thresholds: FRR on answerable seeds <= FRR_CAP, then the most refusals of the
    unanswerable questions, then the fewest false refusals on MultiHop-RAG, then the
    loosest rule (lowest focus_min, highest unknown_max)."""
    best: tuple[tuple[float, ...], Calibration] | None = None
    unans = [r for r in rows if not r.answerable]
    for unknown_max in np.arange(0.5, 1.01, 0.1):
        for focus_min in np.arange(0.0, 0.81, 0.02):
            for dense_min in np.arange(0.40, 1.01, 0.02):
                cal = Calibration(focus_min=round(float(focus_min), 2),
                                  dense_min=round(float(dense_min), 2),
                                  unknown_max=round(float(unknown_max), 2))
                f = rule_figures(rows, cal)
                if f["seed_false_refusal_rate"] > FRR_CAP:
                    continue
                refused = sum(cal.refuses(r.features) for r in unans) / len(unans)
                mh_frr = f["multihop_false_refusal_rate"]
                key = (refused, -(0.0 if np.isnan(mh_frr) else mh_frr), -cal.focus_min,
                       cal.unknown_max)
                if best is None or key > best[0]:
                    best = (key, cal)
    if best is None:
        raise SystemExit("no thresholds keep the seed false-refusal rate under the cap")
    return best[1]


def loo_rule(rows: list[Row]) -> dict[str, float]:
    """Leave-one-out over the seed rows: refit without each, judge it."""
    seeds = [i for i, r in enumerate(rows) if r.source == "seeds"]
    right_u = wrong_a = n_u = n_a = 0
    for i in seeds:
        ref = fit_rule(rows[:i] + rows[i + 1 :]).refuses(rows[i].features)
        if rows[i].answerable:
            n_a += 1
            wrong_a += ref
        else:
            n_u += 1
            right_u += ref
    return {"loo_seed_refusal_accuracy": right_u / max(1, n_u),
            "loo_seed_false_refusal_rate": wrong_a / max(1, n_a)}


def fit_confidence(rows: list[Row]) -> tuple[list[float], float]:
    from sklearn.linear_model import LogisticRegression

    seeds = [r for r in rows if r.source == "seeds"]
    x = np.array([r.features for r in seeds])
    y = np.array([1 if r.correct else 0 for r in seeds])
    clf = LogisticRegression(C=1.0, max_iter=5000).fit(x, y)
    return [round(float(w), 4) for w in clf.coef_[0]], round(float(clf.intercept_[0]), 4)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evals.calibrate",
                                description=(__doc__ or "").split("\n")[0])
    p.add_argument("--no-multihop", action="store_true", help="fit on the seed cases only")
    p.add_argument("--loo", action="store_true", help="also print leave-one-out figures (slow)")
    p.add_argument("--dry-run", action="store_true", help="print, do not write the file")
    args = p.parse_args(argv)

    home = _seed_home(CACHE, stderr)
    rows = seed_rows(Engine(eval_settings(home), auto_index=False))
    if not args.no_multihop:
        rows += multihop_rows()
    before = Calibration.load()
    rule = fit_rule(rows)
    weights, bias = fit_confidence(rows)
    figures = {
        "before": rule_figures(rows, before),
        "after": rule_figures(rows, rule),
    }
    if args.loo:
        figures["leave_one_out"] = loo_rule(rows)
    out = {
        "focus_min": rule.focus_min, "dense_min": rule.dense_min,
        "unknown_max": rule.unknown_max, "weights": weights, "bias": bias,
        "features": list(FEATURES),
        "fitted_on": (f"{sum(r.source == 'seeds' for r in rows)} seed cases, "
                      f"{sum(r.source == 'multihop' for r in rows)} MultiHop-RAG questions, "
                      f"{date.today().isoformat()}"),
        "figures": {k: {n: None if np.isnan(v) else round(v, 3) for n, v in f.items()}
                    for k, f in figures.items()},
    }
    print(json.dumps(out, indent=2))
    if not args.dry_run:
        Path(CALIBRATION_PATH).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {CALIBRATION_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
