"""Cross-fitting in the calibration: a later step reads a train question's features from
models that did not train on it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from evals import calibrate as cal
from rag.models import Features

NAMES = ("a", "b", "c")
N_ITEMS = 200
ROWS_PER_ITEM = 3


def items() -> list[cal.Item]:
    return [cal.Item("multihop", f"q{i}", f"question {i}?", True, (), "x", frozenset(), (), None)
            for i in range(N_ITEMS)]


def noise(seed: int = 0) -> tuple[Features, np.ndarray, list[str]]:
    """Rows of random features with random labels, ``ROWS_PER_ITEM`` per item: nothing to
    learn, so only a model that saw a row predicts its label better than chance."""
    rng = np.random.default_rng(seed)
    n = N_ITEMS * ROWS_PER_ITEM
    x = Features(NAMES, rng.normal(size=(n, len(NAMES))).astype(np.float32))
    y = rng.random(n) < 0.5
    groups = [it.key for it in items() for _ in range(ROWS_PER_ITEM)]
    return x, y, groups


def test_every_question_has_one_fold_whatever_else_is_fitted() -> None:
    folds = [cal.fold_of(it.key) for it in items()]
    assert folds == [cal.fold_of(it.key) for it in items()]
    assert set(folds) == set(range(cal.N_FOLDS))
    assert min(np.bincount(folds)) > N_ITEMS / cal.N_FOLDS / 2


@pytest.mark.parametrize("grid", [{"C_GRID": (1.0,), "TREE_GRID": ()},
                                  {"C_GRID": (), "TREE_GRID": ((50, 3),)}])
def test_a_fold_model_never_learns_from_its_fold(monkeypatch: pytest.MonkeyPatch,
                                                 grid: dict[str, tuple[object, ...]]) -> None:
    for name, value in grid.items():
        monkeypatch.setattr(cal, name, value)
    x, y, groups = noise()
    fitted = cal.fit("test", x, list(y), groups)
    fold = np.array([cal.fold_of(g) for g in groups])
    flipped = y ^ (fold == 0)  # other labels for fold 0's rows only
    again = cal.fit("test", x, list(flipped), groups)
    rows = Features(NAMES, x.values[fold == 0])
    assert np.array_equal(again.fold_models[0].prob(rows), fitted.fold_models[0].prob(rows))
    assert not np.array_equal(again.model.prob(x), fitted.model.prob(x))
    for k, model in enumerate(fitted.fold_models):  # the out-of-fold predictions are theirs
        np.testing.assert_allclose(model.prob(Features(NAMES, x.values[fold == k])),
                                   fitted.oof[fold == k], atol=1e-5)


def test_a_later_step_sees_out_of_fold_predictions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trees memorise random labels: the shipped model ranks its own train rows well, but
    what a later step reads for a question must be no better than chance."""
    monkeypatch.setattr(cal, "C_GRID", ())
    monkeypatch.setattr(cal, "TREE_GRID", ((100, 4),))
    x, y, groups = noise(1)
    calibrator = cal.Calibrator(items(), {})
    calibrator._set("sentence", cal.fit("sentence", x, list(y), groups))  # noqa: SLF001
    seen_later = np.zeros(len(y))
    for i, item in enumerate(items()):
        rows = slice(i * ROWS_PER_ITEM, (i + 1) * ROWS_PER_ITEM)
        model = calibrator.models_for(item).get("sentence")
        assert model is not None and model is not calibrator.models.get("sentence")
        seen_later[rows] = model.prob(Features(NAMES, x.values[rows]))
    in_sample = calibrator.models.get("sentence")
    assert in_sample is not None
    assert roc_auc_score(y, in_sample.prob(x)) > 0.8
    assert abs(roc_auc_score(y, seen_later) - 0.5) < 0.1


def test_a_threshold_cuts_a_clean_gap_halfway_and_weighs_both_kinds_alike() -> None:
    t, bal = cal.balanced_cut([0.1, 0.2, 0.3, 0.7, 0.9], [False, False, False, True, True])
    assert t == pytest.approx(0.5) and bal == 1.0
    # One "no" above a "yes": the cut keeps every "yes", halfway down to the next "no".
    t, bal = cal.balanced_cut([0.1, 0.2, 0.3, 0.8, 0.7, 0.9], [False] * 4 + [True] * 2)
    assert t == pytest.approx(0.5) and bal == pytest.approx(0.875)
