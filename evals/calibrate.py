"""Fit the answer step's models on the TRAIN splits; write ``rag/models.json``.

    python -m evals.calibrate [--limit N] [--dry-run]

Data: the train split of the seed cases and of MultiHop-RAG (never dev: dev is what
``rag eval`` reports). The models are fitted in the order answering runs them, each on the
features the steps before it produce with the models fitted so far:

0. ``article``: is a candidate passage's article one that holds part of the answer (a gold
   evidence article)? It picks which articles get a place among the ``k`` passages. Fitted
   on the stores with more articles than places (the seeds' five all get one anyway).
1. ``sentence``: does a sentence of the retrieved passages hold the answer (a gold evidence
   span or fact)?
2. ``candidate``: is a typed candidate the gold answer?
3. ``yesno``: is the answer to a yes/no (or two-option) question "Yes" (the first option)?
   Its question-word features are the lemmas at least ``MIN_WORD_QUESTIONS`` train yes/no
   questions use.
4. ``answerable``: do the sources answer the question at all? Its refusal threshold is
   chosen on train to balance refusing the unanswerable and answering the rest.
5. ``confidence``: is the answer given right?

Each is a scikit-learn logistic regression on standardised features or gradient-boosted trees,
whichever has the lower 5-fold cross-validated log loss on train, with its regularisation (or
size) chosen the same way. Cross-validated train figures are printed and recorded in the
artefact; dev figures come from ``rag eval``.

Cross-fitting: every train question has one fold (``fold_of``, from its key alone), shared by
every stage's cross-validation, and each stage keeps, beside its model fitted on every
question, the ``N_FOLDS`` models fitted without one fold. A later stage computes a question's
features with the earlier stages' models that did not see that question's fold, so it learns
from predictions as good as the ones it gets at run time, not from in-sample ones (trees fit
their own train rows far better than new questions). Each question still goes through each
stage once; the shipped models are the ones fitted on every question, and thresholds are
chosen on the out-of-fold predictions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from evals import MULTIHOP_DIR
from evals import metrics as m
from evals.cli import DEFAULT_CACHE, _seed_home
from evals.runner import eval_settings, load_cases, stderr
from rag import prepare as prep
from rag import typed, yesno
from rag.decision import answerable_features, confidence_features, unsaid_no
from rag.engine import Engine
from rag.models import MODELS_PATH, Features, Linear, Model, Models, Tree, Trees, model_from_json
from rag.question import Query, analyze

CACHE = Path(os.environ.get("RAG_EVAL_CACHE", DEFAULT_CACHE))
MIN_WORD_QUESTIONS = 15
C_GRID = (0.01, 0.1, 1.0)
TREE_GRID = ((100, 3), (300, 3))  # (trees, depth)
MIN_BALANCED = 20
STAGES = ("options", "article", "sentence", "candidate", "yesno", "answerable", "confidence")
N_FOLDS = 5
THRESHOLD_STAGE = {"choice_above": "options", "yes_above": "yesno",  # who fits each
                   "refuse_below": "answerable"}
# The fold models of a fit, for --from-stage (not shipped: only the calibration reads them).
FOLDS_PATH = CACHE / "calibrate-folds.json"


@dataclass(frozen=True)
class Item:
    """One train question with what its labels are judged by."""

    source: str  # seeds | multihop
    qid: str
    question: str
    answerable: bool
    answers: tuple[str, ...]  # seeds: accepted-answer regexes
    gold: str  # multihop: the benchmark's answer
    gold_docs: frozenset[str]
    evidence: tuple[str, ...]  # seeds: spans; multihop: facts
    yes: bool | None  # the gold Yes/No, for yes/no questions

    @property
    def key(self) -> str:
        """"suite:question": the fit's group (one question's rows stay in one fold)."""
        return f"{self.source}:{self.qid}"

    def holds(self, text: str) -> bool:
        """Whether ``text`` names the gold answer."""
        if self.source == "seeds":
            return m.matches_any(self.answers, text)
        return typed.matches(text, self.gold)


def seed_items(limit: int | None) -> list[Item]:
    out = []
    for c in load_cases():
        if c.split != "train":
            continue
        yes = None
        if "yes-no" in c.tags and c.answerable:
            said_yes, said_no = (m.matches_any(c.answers, w) for w in ("Yes", "No"))
            yes = said_yes if said_yes != said_no else None
        out.append(Item("seeds", c.id, c.question, c.answerable, c.answers, "",
                        frozenset(c.doc_ids), c.evidence, yes))
    return out[:limit]


def multihop_items(limit: int | None) -> list[Item]:
    from evals import multihop

    qs = multihop.select(multihop.load_questions(MULTIHOP_DIR), limit, "train")
    out = []
    for q in qs:
        gold = multihop.gold_answer(q.answer)
        out.append(Item("multihop", q.qid, q.query, not q.is_null, (), gold,
                        frozenset(e.doc_id for e in q.evidence),
                        tuple(e.fact for e in q.evidence),
                        {"yes": True, "no": False}.get(gold.lower())))
    return out


def sentence_label(item: Item, ev: Any) -> bool:
    """Whether a sentence holds the item's answer: a gold span (seeds) or overlaps a gold
    fact (MultiHop-RAG), in a gold article."""
    if not item.answerable or not ({ev.doc_id, *ev.passage.chunk.also_in} & item.gold_docs):
        return False
    if item.source == "seeds":
        return any(m.contains(ev.text, e) for e in item.evidence) or (
            not item.evidence and m.matches_any(item.answers, ev.text))
    s = m.squash(ev.text)
    return any(f in s or (len(s) > 40 and s in f) for f in map(m.squash, item.evidence))


def choice_yes(query: Query, item: Item) -> bool | None:
    """For a two-option question whose gold answer is one of the options: is it the first?
    (None when the gold names neither or both.)"""
    if len(query.options) != 2 or not (item.gold or item.answers):
        return None
    if item.gold:
        a, b = (m.mentions(o, item.gold) or m.mentions(item.gold, o) for o in query.options)
    else:  # seeds: the accepted answers match one option's words
        a, b = (m.matches_any(item.answers, o) for o in query.options)
    return a if a != b else None


def balanced_cut(values: Sequence[float], labels: Sequence[bool]) -> tuple[float, float]:
    """The cut ``t`` for "label when value >= t" with the best balanced accuracy (the mean of
    the two recalls), and that accuracy; among equally good cuts, the middle one, so that a
    clean gap is cut halfway."""
    s, y = np.array(values, dtype=float), np.array(labels, dtype=bool)
    u = np.unique(s)
    cuts = np.concatenate(([u[0] - 0.01], (u[1:] + u[:-1]) / 2, [u[-1] + 0.01]))
    bal = np.array([(np.mean(s[y] >= t) + np.mean(s[~y] < t)) / 2 for t in cuts])
    best = np.flatnonzero(bal == bal.max())
    return float(cuts[best[len(best) // 2]]), float(bal.max())


def fold_of(key: str) -> int:
    """A question's fold, from its key alone ("suite:question"): the same in every stage and
    every run, whichever questions are in (``--limit``)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % N_FOLDS


@dataclass(frozen=True, eq=False)
class Fitted:
    """One stage's fit: the model to ship, and the cross-fitting models."""

    model: Model  # fitted on every row
    fold_models: tuple[Model, ...]  # [k]: fitted on the rows outside fold k
    oof: np.ndarray  # each row's probability from the fold model that did not see it
    figures: dict[str, Any]


def _constant(names: tuple[str, ...], p: float) -> Linear:
    """P = ``p`` whatever the features (a fold whose train rows all have one label)."""
    p = min(max(p, 1e-6), 1 - 1e-6)
    return Linear(names, (0.0,) * len(names), (1.0,) * len(names), (0.0,) * len(names),
                  float(np.log(p / (1 - p))))


def fit(name: str, x: Features, y: Sequence[bool], groups: Sequence[str]) -> Fitted:
    """The better of a logistic regression (C from ``C_GRID``) and gradient-boosted trees
    (``TREE_GRID``), judged by cross-validated log loss on train over the shared folds
    (``fold_of`` each row's group); the chosen kind fitted on every row, and once without each
    fold (the models a later stage reads a question's features from).

    The two suites weigh the same in the fit, however many rows each brings (``groups`` are
    "suite:question"): questions like the seeds' matter as much as MultiHop-RAG's; but only
    when each suite has at least ``MIN_BALANCED`` rows of each label, so that a handful of
    rows is never made to weigh as much as a thousand."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss, roc_auc_score

    X = x.values.astype(np.float64)
    Y = np.array(y, dtype=int)
    if len(set(Y)) < 2:
        raise SystemExit(f"{name}: the train labels are all {Y[0]}; nothing to fit")
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    Z = (X - mean) / scale
    fold = np.array([fold_of(g) for g in groups])
    suite = np.array([g.split(":", 1)[0] for g in groups])
    W = np.ones(len(Y))
    counts = [int(np.sum((suite == s) & (label == Y))) for s in set(suite) for label in (0, 1)]
    if min(counts) >= MIN_BALANCED:
        for s in set(suite):
            W[suite == s] = len(Y) / (len(set(suite)) * np.sum(suite == s))

    def linear(c: float) -> Any:
        return LogisticRegression(C=c, max_iter=5000)

    def trees(cfg: tuple[int, int]) -> Any:
        return HistGradientBoostingClassifier(
            max_iter=cfg[0], max_depth=cfg[1], learning_rate=0.1, min_samples_leaf=20,
            l2_regularization=1.0, early_stopping=False, random_state=0)

    def fitted(kind: str, param: Any, rows: np.ndarray) -> Any:  # Any: a classifier
        """The ``kind`` model fitted on ``rows``; a float P when their labels are all one."""
        if len(set(Y[rows])) < 2:
            return float(Y[rows].mean()) if rows.any() else 0.5
        if kind == "linear":
            return linear(param).fit(Z[rows], Y[rows], sample_weight=W[rows])
        return trees(param).fit(X[rows], Y[rows], sample_weight=W[rows])

    def prob(kind: str, clf: Any, rows: np.ndarray) -> np.ndarray:
        if isinstance(clf, float):
            return np.full(int(rows.sum()), clf)
        return np.asarray(clf.predict_proba((Z if kind == "linear" else X)[rows])[:, 1])

    def export(kind: str, clf: Any) -> Model:
        """A fitted model as rag.models evaluates it."""
        if isinstance(clf, float):
            return _constant(x.names, clf)
        if kind == "linear":
            return Linear(x.names, tuple(map(float, mean)), tuple(map(float, scale)),
                          tuple(map(float, clf.coef_[0])), float(clf.intercept_[0]))
        return _export_trees(x.names, clf)

    candidates: list[tuple[str, Any]] = [("linear", c) for c in C_GRID] + [
        ("trees", cfg) for cfg in TREE_GRID]
    best: tuple[float, str, Any, np.ndarray, list[Any]] | None = None
    for kind, param in candidates:
        pred = np.zeros(len(Y))
        clfs = [fitted(kind, param, fold != k) for k in range(N_FOLDS)]
        for k, clf in enumerate(clfs):
            pred[fold == k] = prob(kind, clf, fold == k)
        loss = float(log_loss(Y, np.clip(pred, 1e-6, 1 - 1e-6), sample_weight=W))
        if best is None or loss < best[0]:
            best = (loss, kind, param, pred, clfs)
    assert best is not None
    loss, kind, param, pred, clfs = best
    model = export(kind, fitted(kind, param, np.ones(len(Y), dtype=bool)))
    fold_models = tuple(export(kind, clf) for clf in clfs)
    figures = {"n": int(len(Y)), "positives": int(Y.sum()), "model": kind, "param": str(param),
               "suites_balanced": bool(len(set(W)) > 1),
               "cv_log_loss": round(loss, 4),
               "cv_auroc": round(float(roc_auc_score(Y, pred, sample_weight=W)), 4)}
    stderr(f"{name}: {figures}")
    return Fitted(model, fold_models, pred, figures)


def _export_trees(names: tuple[str, ...], clf: Any) -> Trees:
    """scikit-learn's fitted trees as plain arrays (rag.models.Trees evaluates them)."""
    out = []
    for (pred,) in clf._predictors:  # noqa: SLF001 - sklearn keeps the fitted trees here
        n = pred.nodes
        leaf = n["is_leaf"].astype(bool)
        out.append(Tree(tuple(int(f) if not lf else -1 for f, lf in zip(n["feature_idx"], leaf)),
                        tuple(float(t) for t in n["num_threshold"]),
                        tuple(int(v) for v in n["left"]), tuple(int(v) for v in n["right"]),
                        tuple(float(v) for v in n["value"])))
    return Trees(names, float(np.ravel(clf._baseline_prediction)[0]), tuple(out))  # noqa: SLF001


def _stack(parts: list[Features]) -> Features:
    names = parts[0].names
    return Features(names, np.concatenate([p.values for p in parts]).astype(np.float32))


class Calibrator:
    """Runs the train questions through answering, one fitted step at a time; each question
    with the models of the earlier steps that did not train on it (its fold's)."""

    def __init__(self, items: list[Item], engines: dict[str, Engine]) -> None:
        self.items = items
        self.engines = engines
        self.models = Models()  # to ship: each step fitted on every train question
        self.fold_models = tuple(Models() for _ in range(N_FOLDS))  # [k]: without fold k
        self.gathered: dict[str, prep.Gathered] = {}
        self.figures: dict[str, Any] = {}
        self.thresholds: dict[str, float] = {}

    def _gathered(self, item: Item) -> prep.Gathered:
        key = f"{item.source}:{item.qid}"
        if key not in self.gathered:
            engine = self.engines[item.source]
            self.gathered[key] = prep.gather(engine.parts, item.question,
                                             engine.settings.top_k, self.models_for(item))
        return self.gathered[key]

    def _each(self, what: str, fn: Callable[[Item], None]) -> None:
        for i, item in enumerate(self.items, start=1):
            fn(item)
            if i % 200 == 0 or i == len(self.items):
                stderr(f"  {what}: {i}/{len(self.items)}")

    def models_for(self, item: Item) -> Models:
        """The steps fitted so far, each fitted without ``item``'s fold: what a later step
        reads ``item``'s features from (the shipped models have seen it)."""
        return self.fold_models[fold_of(item.key)]

    def _decided(self, item: Item) -> tuple[prep.Gathered, list[Any], list[Any],
                                            yesno.Reading | None, Features]:
        """An item through the fitted steps so far (out of fold): evidence, candidates,
        the yes/no reading, and the ``answerable`` model's features."""
        engine = self.engines[item.source]
        g = self._gathered(item)
        models = self.models_for(item)
        evidence = prep.ranked_evidence(g, models)
        ranked = prep.ranked_candidates(engine.parts, g, evidence, models)
        reading = prep.yes_no(engine.parts, g, evidence, models)
        feats = answerable_features(g.query, g.sentences, evidence, ranked,
                                    engine.retriever.lexical_index().df,
                                    reading.yes if reading else None)
        return g, evidence, ranked, reading, feats

    def _set(self, name: str, fitted: Fitted) -> None:
        self.figures[name] = fitted.figures
        thresholds = dict(self.thresholds)
        self.models = Models({**self.models.fitted, name: fitted.model}, thresholds)
        self.fold_models = tuple(Models({**m.fitted, name: f}, thresholds)
                                 for m, f in zip(self.fold_models, fitted.fold_models,
                                                 strict=True))

    def options(self) -> None:
        """``choice_above``: over train yes/no questions offering "A or B", the similarity of
        A and B that best tells a choice (the gold names one option) from a plain yes/no
        question (the gold is Yes or No), by balanced accuracy; the middle of the best run."""
        sims, real = [], []
        for item in self.items:
            engine = self.engines[item.source]
            lexical = engine.retriever.lexical_index()
            q = analyze(item.question, lexical.df, engine.parts.speller(lexical))
            if q.kind != "choice" or len(q.options) != 2:
                continue
            named = choice_yes(q, item) is not None
            if named or item.yes is not None:
                sims.append(prep.option_similarity(engine.embedder, q.options))
                real.append(named)
        if len(set(real)) < 2:
            stderr("options: the train questions do not hold both kinds; no threshold")
            return
        t, bal = balanced_cut(sims, real)
        self.thresholds["choice_above"] = round(t, 4)
        self.figures["options"] = {"questions": len(sims), "choices": sum(real),
                                   "balanced_accuracy": round(bal, 4)}
        stderr(f"options: choice above similarity {t:.3f} over {len(sims)} questions "
               f"({sum(real)} choices), balanced accuracy {bal:.3f}")
        self.models = Models(self.models.fitted, dict(self.thresholds))
        self.fold_models = tuple(Models(m.fitted, dict(self.thresholds))
                                 for m in self.fold_models)

    def article(self) -> None:
        xs, gs = [], []
        ys: list[bool] = []

        def one(item: Item) -> None:
            engine = self.engines[item.source]
            if (not item.answerable or not item.gold_docs
                    or len(engine.articles()) <= engine.retriever.fusion.spread):
                return
            found = prep.article_candidates(engine.parts, item.question, engine.settings.top_k)
            if found.features is None or not len(found.features):
                return
            xs.append(found.features)
            ys.extend(bool({p.doc_id, *p.chunk.also_in} & item.gold_docs)
                      for p in found.passages)
            gs.extend([item.key] * len(found.passages))

        self._each("articles", one)
        self._set("article", fit("article", _stack(xs), ys, gs))

    def sentence(self) -> None:
        xs, gs = [], []
        ys: list[bool] = []

        def one(item: Item) -> None:
            g = self._gathered(item)
            if not g.sentences.sentences:
                return
            xs.append(g.sentences.features)
            ys.extend(sentence_label(item, ev) for ev in g.sentences.sentences)
            gs.extend([item.key] * len(g.sentences.sentences))

        self._each("sentences", one)
        self._set("sentence", fit("sentence", _stack(xs), ys, gs))

    def candidate(self) -> None:
        xs, gs = [], []
        ys: list[bool] = []

        def one(item: Item) -> None:
            if not item.answerable or item.yes is not None:
                return
            engine = self.engines[item.source]
            g = self._gathered(item)
            found = prep.candidates_of(engine.parts, g,
                                       prep.ranked_evidence(g, self.models_for(item)))
            if not len(found.features):
                return
            xs.append(found.features)
            ys.extend(item.holds(c.text) for c in found.candidates)
            gs.extend([item.key] * len(found.candidates))

        self._each("candidates", one)
        self._set("candidate", fit("candidate", _stack(xs), ys, gs))

    def yesno(self) -> None:
        labelled: list[tuple[Item, bool]] = []
        for item in self.items:
            g = self._gathered(item)
            if g.query.kind not in ("yesno", "choice"):
                continue
            label = item.yes if item.yes is not None else choice_yes(g.query, item)
            if label is not None:
                labelled.append((item, label))
        counts = Counter(w for item, _ in labelled
                         for w in yesno.question_words(self._gathered(item).query))
        words = tuple(sorted(f"{yesno.WORD_PREFIX}{w}" for w, n in counts.items()
                             if n >= MIN_WORD_QUESTIONS))
        xs, ys, gs = [], [], []
        for item, label in labelled:
            engine = self.engines[item.source]
            g = self._gathered(item)
            xs.append(prep.yesno_features(
                engine.parts, g, prep.ranked_evidence(g, self.models_for(item)), words))
            ys.append(label)
            gs.append(item.key)
        fitted = fit("yesno", _stack(xs), ys, gs)
        pred, figures = fitted.oof, fitted.figures
        y = np.array(ys)
        # "Yes" above the threshold that best balances the yes and the no recall (CV, train).
        best_t, best_b = 0.5, -1.0
        for t in np.arange(0.2, 0.81, 0.01):
            b = (np.mean(pred[y] >= t) + np.mean(pred[~y] < t)) / 2
            if b > best_b:
                best_t, best_b = float(t), float(b)
        self.thresholds["yes_above"] = round(best_t, 2)
        figures["cv_balanced_accuracy"] = round(best_b, 4)
        figures["words"] = len(words)
        stderr(f"yesno: threshold {best_t:.2f}, CV balanced accuracy {best_b:.3f}")
        self._set("yesno", fitted)

    def answerable(self) -> None:
        xs, ys, gs, src = [], [], [], []

        def one(item: Item) -> None:
            xs.append(self._decided(item)[4])
            ys.append(item.answerable)
            gs.append(item.key)
            src.append(item.source)

        self._each("answerable", one)
        fitted = fit("answerable", _stack(xs), ys, gs)
        pred, figures, y, src_a = fitted.oof, fitted.figures, np.array(ys), np.array(src)

        def rates(t: float) -> dict[str, float]:
            out = {}
            for s in ("seeds", "multihop"):
                sel = src_a == s
                una, ans = sel & ~y, sel & y
                out[f"{s}_refusal_accuracy"] = float(np.mean(pred[una] < t)) if una.any() else 1.0
                out[f"{s}_false_refusal_rate"] = float(np.mean(pred[ans] < t)) if ans.any() else 0.0
            return out

        # The threshold with the best mean of refusing the unanswerable and answering the
        # answerable, over both suites (cross-validated probabilities, train only).
        best_t, best_v = 0.5, -1.0
        for t in np.arange(0.05, 0.96, 0.01):
            r = rates(float(t))
            v = np.mean([r["seeds_refusal_accuracy"], 1 - r["seeds_false_refusal_rate"],
                         r["multihop_refusal_accuracy"], 1 - r["multihop_false_refusal_rate"]])
            if v > best_v:
                best_t, best_v = float(t), float(v)
        self.thresholds["refuse_below"] = round(best_t, 2)
        figures["cv_at_threshold"] = {k: round(v, 4) for k, v in rates(best_t).items()}
        stderr(f"answerable: refuse below {best_t:.2f}: {figures['cv_at_threshold']}")
        self._set("answerable", fitted)

    def confidence(self) -> None:
        from rag.extractive import ExtractiveSynthesizer

        xs, ys, gs = [], [], []

        def one(item: Item) -> None:
            if not item.answerable:
                return
            engine = self.engines[item.source]
            g, evidence, ranked, reading, feats = self._decided(item)
            models = self.models_for(item)
            p = float(models.fitted["answerable"].prob(feats)[0])
            if p < self.thresholds["refuse_below"] or unsaid_no(g.query, reading, models):
                return  # refused: no answer to be sure of
            from rag.decision import Decision

            yes = reading.yes if reading else None
            prepared = prep.Prepared(g.query, g.passages, tuple(evidence), tuple(ranked), yes,
                                     Decision(False, p, p, feats))
            ans = ExtractiveSynthesizer(models=models).answer(prepared, engine.articles())
            xs.append(confidence_features(g.query, p, feats, ranked, yes))
            ys.append(judge(item, ans))
            gs.append(item.key)

        self._each("confidence", one)
        self._set("confidence", fit("confidence", _stack(xs), ys, gs))


def save_folds(models: Models, folds: Sequence[Models]) -> None:
    """The fold models beside the eval cache, tied to the artefact they were fitted with."""
    FOLDS_PATH.parent.mkdir(parents=True, exist_ok=True)
    FOLDS_PATH.write_text(json.dumps({"models": models.fingerprint,
                                      "folds": [m.to_json() for m in folds]}), encoding="utf-8")


def load_folds(out: Path) -> tuple[Models, ...]:
    """The fold models saved with the artefact at ``out`` (for --from-stage)."""
    kept = Models.load(out)
    d = json.loads(FOLDS_PATH.read_text(encoding="utf-8")) if FOLDS_PATH.exists() else {}
    if d.get("models") != kept.fingerprint or len(d.get("folds", ())) != N_FOLDS:
        raise SystemExit(f"{FOLDS_PATH} does not hold the fold models of {out}; refit from "
                         "the first stage")
    return tuple(Models({k: model_from_json(v) for k, v in f["fitted"].items()})
                 for f in d["folds"])


def judge(item: Item, answer: Any) -> bool:
    """Whether an answer is right, as ``rag eval`` judges it."""
    if item.source == "seeds":
        return m.fact_correct(item.answers, answer.text, answer.refused)
    from evals.multihop import judged_text, yes_or_no

    if item.yes is not None:
        return yes_or_no(answer) == ("yes" if item.yes else "no")
    return not answer.refused and m.mentions(judged_text(answer), item.gold)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evals.calibrate",
                                description=(__doc__ or "").split("\n")[0])
    p.add_argument("--limit", type=int, help="at most N MultiHop-RAG train questions "
                   "(stratified; for a quick look, not for the shipped models)")
    p.add_argument("--no-multihop", action="store_true", help="fit on the seed cases only")
    p.add_argument("--dry-run", action="store_true", help="print, do not write the file")
    p.add_argument("--out", type=Path, default=MODELS_PATH, help="where to write the models")
    p.add_argument("--from-stage", choices=STAGES, default=STAGES[0],
                   help="keep the models of the earlier stages from --out (and their fold models "
                   f"from {FOLDS_PATH.name} in the eval cache) and refit from this one on "
                   "(when only later features changed)")
    p.add_argument("--only", choices=("options",),
                   help="fit only this stage's threshold, keeping every model and other "
                   "threshold of --out (the later stages keep the fit they had; a full refit "
                   "fits them on the new reading of the questions)")
    args = p.parse_args(argv)

    from evals import multihop, runner

    engines = {"seeds": Engine(eval_settings(_seed_home(CACHE, stderr)),
                               models=Models())}
    items = seed_items(None)
    if not args.no_multihop:
        data = MULTIHOP_DIR
        sha = runner.sha256_files([data / "corpus.jsonl"])
        home = runner.cached_home(CACHE, "multihop", sha, eval_settings(CACHE / "unused"),
                                  lambda s: multihop.index_corpus(multihop.load_corpus(data), s),
                                  stderr)
        engines["multihop"] = Engine(eval_settings(home), models=Models())
        items += multihop_items(args.limit)
    cal = Calibrator(items, engines)
    if args.only:
        return _only(cal, args.only, args.out, args.dry_run)
    start = STAGES.index(args.from_stage)
    if start:
        kept, kept_folds = Models.load(args.out), load_folds(args.out)
        earlier = STAGES[:start]
        cal.thresholds = {k: v for k, v in kept.thresholds.items()
                          if THRESHOLD_STAGE.get(k) in earlier}

        def kept_stages(m: Models) -> Models:
            return Models({k: v for k, v in m.fitted.items() if k in earlier},
                          dict(cal.thresholds))

        cal.models = kept_stages(kept)
        cal.fold_models = tuple(map(kept_stages, kept_folds))
        cal.figures = {k: v for k, v in kept.figures.items() if k in earlier}
    for step in STAGES[start:]:
        getattr(cal, step)()
    counts = Counter(i.source for i in items)
    models = Models(cal.models.fitted, cal.thresholds,
                    fitted_on=(f"train splits: {counts['seeds']} seed cases, "
                               f"{counts['multihop']} MultiHop-RAG questions; "
                               f"{date.today().isoformat()}"),
                    figures=cal.figures)
    if args.dry_run:
        print(models.to_json()["figures"])
        return 0
    models.save(args.out)
    save_folds(models, cal.fold_models)
    print(f"wrote {args.out} (fingerprint {models.fingerprint}); its fold models in "
          f"{FOLDS_PATH}", file=sys.stderr)
    return 0


def _only(cal: Calibrator, stage: str, out: Path, dry_run: bool) -> int:
    """Refit one threshold stage into the artefact at ``out``, the rest kept as it is."""
    kept = Models.load(out)
    cal.models, cal.thresholds, cal.figures = kept, dict(kept.thresholds), dict(kept.figures)
    getattr(cal, stage)()
    note = f"{stage} refitted {date.today().isoformat()}"
    fitted_on = kept.fitted_on if kept.fitted_on.endswith(note) else f"{kept.fitted_on}; {note}"
    models = Models(kept.fitted, cal.thresholds, fitted_on=fitted_on, figures=cal.figures)
    if dry_run:
        print(models.to_json()["figures"].get(stage))
        return 0
    models.save(out)
    if FOLDS_PATH.exists():  # the fold models stay those of the kept stages
        d = json.loads(FOLDS_PATH.read_text(encoding="utf-8"))
        if d.get("models") == kept.fingerprint:
            FOLDS_PATH.write_text(json.dumps({**d, "models": models.fingerprint}),
                                  encoding="utf-8")
    print(f"wrote {out} (fingerprint {models.fingerprint})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
