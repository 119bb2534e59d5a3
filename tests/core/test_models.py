"""The fitted-model artefact: named features, probabilities, a fingerprint, a round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.errors import RagError
from rag.models import Features, Linear, Models, shipped


def test_a_linear_model_reads_its_own_features_only() -> None:
    m = Linear(("a", "b"), (0.0, 0.0), (1.0, 2.0), (1.0, -1.0), 0.0)
    x = Features.of(("a", "b"), [{"a": 2.0, "b": 2.0}, {"a": 0.0}])
    p = m.prob(x)
    assert p[0] == pytest.approx(1 / (1 + np.exp(-1.0)))  # (2/1)*1 + (2/2)*-1 = 1
    assert p[1] == pytest.approx(0.5)
    with pytest.raises(RagError, match="refit"):
        m.prob(Features.of(("b", "a"), [{"a": 1.0}]))


def test_models_round_trip_with_a_stable_fingerprint(tmp_path: Path) -> None:
    m = Models({"x": Linear(("a",), (0.5,), (1.0,), (2.0,), -1.0)}, {"t": 0.25}, "test")
    path = tmp_path / "m.json"
    m.save(path)
    back = Models.load(path)
    assert back.fingerprint == m.fingerprint and back.threshold("t", 0.9) == 0.25
    assert back.get("x") == m.get("x")
    assert Models({"x": Linear(("a",), (0.5,), (1.0,), (2.5,), -1.0)}).fingerprint != m.fingerprint


def test_the_shipped_models_cover_every_step() -> None:
    models = shipped()
    assert {"sentence", "candidate", "yesno", "answerable", "confidence"} <= set(models.fitted)
    assert {"refuse_below", "yes_above"} <= set(models.thresholds)
    assert "train" in models.fitted_on
