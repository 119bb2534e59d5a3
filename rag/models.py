"""The fitted models of the answer step, and the named features they read.

Every decision that weighs evidence is a model fitted on the train splits by
``python -m evals.calibrate`` (scikit-learn at fit time: a logistic regression or gradient-
boosted trees, whichever cross-validates better; numpy alone at ask time): which
articles get a place among the passages (``article``), which sentences answer
(``sentence``), which candidate is the answer (``candidate``), yes or no (``yesno``),
whether the sources answer at all (``answerable``) and how sure the answer is
(``confidence``). They live in one versioned artefact, ``rag/models.json``, with the feature
names each was fitted on, a fingerprint of its content, what it was fitted on, and its
fitted thresholds. No weight is typed in by hand.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import RagError

MODELS_PATH = Path(__file__).with_name("models.json")
FORMAT = 2


@dataclass(frozen=True)
class Features:
    """A feature matrix with its column names: one row per candidate (sentence, answer...)."""

    names: tuple[str, ...]
    values: np.ndarray  # float32, shape (rows, len(names))

    @classmethod
    def of(cls, names: Sequence[str], rows: Sequence[Mapping[str, float]]) -> Features:
        """From dict rows; a missing name is 0."""
        arr = np.array([[float(r.get(n, 0.0)) for n in names] for r in rows],
                       dtype=np.float32).reshape(len(rows), len(names))
        return cls(tuple(names), arr)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.names.index(name)]

    def row(self, i: int) -> dict[str, float]:
        return {n: float(v) for n, v in zip(self.names, self.values[i])}


@dataclass(frozen=True)
class Linear:
    """A logistic model over named, standardised features."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def logit(self, x: Features) -> np.ndarray:
        if x.names != self.features:
            raise RagError(f"the model was fitted on features {self.features}, given {x.names}; "
                           "refit with 'python -m evals.calibrate'")
        z = (x.values - np.asarray(self.mean, np.float32)) / np.asarray(self.scale, np.float32)
        return z @ np.asarray(self.coef, np.float32) + np.float32(self.intercept)

    def prob(self, x: Features) -> np.ndarray:
        """P(positive) for each row."""
        if not len(x):
            return np.zeros(0, dtype=np.float32)
        p: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(self.logit(x), -30, 30)))
        return p

    def to_json(self) -> dict[str, Any]:  # Any: JSON
        return {"features": list(self.features), "mean": [round(v, 6) for v in self.mean],
                "scale": [round(v, 6) for v in self.scale],
                "coef": [round(v, 6) for v in self.coef], "intercept": round(self.intercept, 6)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Linear:  # Any: JSON
        return cls(tuple(d["features"]), tuple(map(float, d["mean"])),
                   tuple(map(float, d["scale"])), tuple(map(float, d["coef"])),
                   float(d["intercept"]))


@dataclass(frozen=True)
class Tree:
    """One regression tree: node arrays; a leaf has feature -1. ``x <= threshold`` goes left."""

    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    value: tuple[float, ...]


@dataclass(frozen=True)
class Trees:
    """Gradient-boosted trees over named features (the sum of the trees is the log-odds)."""

    features: tuple[str, ...]
    base: float
    trees: tuple[Tree, ...]

    def logit(self, x: Features) -> np.ndarray:
        if x.names != self.features:
            raise RagError(f"the model was fitted on features {self.features}, given {x.names}; "
                           "refit with 'python -m evals.calibrate'")
        # Every tree descends at once, one level per step (arrays of trees x rows): walking
        # the 100 trees one by one was ~3,000 small numpy calls, 4 ms a call and 13 ms an
        # answer (issue 14). The leaves are then added tree by tree, in the fitted order, so
        # the sum is the one the tree-by-tree walk gave, to the last bit.
        f, t, lo, hi, v = self._stacked()
        trees = np.arange(len(f))[:, None]
        rows = np.arange(len(x))[None, :]
        node = np.zeros((len(f), len(x)), dtype=np.int64)
        while True:
            feat = f[trees, node]
            inner = feat >= 0
            if not inner.any():
                break
            value = x.values[rows, np.where(inner, feat, 0)]
            step = np.where(value <= t[trees, node], lo[trees, node], hi[trees, node])
            node = np.where(inner, step, node)
        raw = np.full(len(x), self.base, dtype=np.float64)
        for leaf in v[trees, node]:
            raw += leaf
        return raw

    def prob(self, x: Features) -> np.ndarray:
        if not len(x):
            return np.zeros(0, dtype=np.float32)
        p: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(self.logit(x), -30, 30)))
        return p

    def _stacked(self) -> tuple[np.ndarray, ...]:
        """The trees' node arrays, one row per tree, padded with leaves no path reaches."""
        cached = self.__dict__.get("_np")
        if cached is None:
            width = max((len(t.feature) for t in self.trees), default=1)
            shape = (len(self.trees), width)
            f = np.full(shape, -1, np.int64)
            th, v = np.zeros(shape, np.float64), np.zeros(shape, np.float64)
            lo, hi = np.zeros(shape, np.int64), np.zeros(shape, np.int64)
            for i, tree in enumerate(self.trees):
                n = len(tree.feature)
                f[i, :n], th[i, :n], v[i, :n] = tree.feature, tree.threshold, tree.value
                lo[i, :n], hi[i, :n] = tree.left, tree.right
            cached = (f, th, lo, hi, v)
            object.__setattr__(self, "_np", cached)  # derived once from the frozen fields
        return cached

    def to_json(self) -> dict[str, Any]:  # Any: JSON
        return {"kind": "trees", "features": list(self.features), "base": round(self.base, 8),
                "trees": [{"f": list(t.feature), "t": [round(v, 8) for v in t.threshold],
                           "l": list(t.left), "r": list(t.right),
                           "v": [round(v, 8) for v in t.value]} for t in self.trees]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Trees:  # Any: JSON
        return cls(tuple(d["features"]), float(d["base"]),
                   tuple(Tree(tuple(t["f"]), tuple(t["t"]), tuple(t["l"]), tuple(t["r"]),
                              tuple(t["v"])) for t in d["trees"]))


Model = Linear | Trees


def model_from_json(d: Mapping[str, Any]) -> Model:  # Any: JSON
    return Trees.from_json(d) if d.get("kind") == "trees" else Linear.from_json(d)


@dataclass(frozen=True)
class Models:
    """Every fitted model and threshold of the answer step."""

    fitted: Mapping[str, Model] = field(default_factory=dict)
    thresholds: Mapping[str, float] = field(default_factory=dict)
    fitted_on: str = ""
    figures: Mapping[str, Any] = field(default_factory=dict)  # train figures, for the record

    def get(self, name: str) -> Model | None:
        return self.fitted.get(name)

    def threshold(self, name: str, default: float) -> float:
        """A fitted threshold; ``default`` only before the first fit (documented where used)."""
        return float(self.thresholds.get(name, default))

    @property
    def fingerprint(self) -> str:
        """A digest of the fitted content: two artefacts with the same one decide alike."""
        body = json.dumps({"fitted": {k: v.to_json() for k, v in sorted(self.fitted.items())},
                           "thresholds": dict(sorted(self.thresholds.items()))}, sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:  # Any: JSON
        return {"format": FORMAT, "fingerprint": self.fingerprint, "fitted_on": self.fitted_on,
                "thresholds": {k: round(v, 6) for k, v in sorted(self.thresholds.items())},
                "fitted": {k: v.to_json() for k, v in sorted(self.fitted.items())},
                "figures": self.figures}

    def save(self, path: Path = MODELS_PATH) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path = MODELS_PATH) -> Models:
        """The artefact at ``path``; an empty set of models when there is none yet."""
        if not path.exists():
            return cls()
        d = json.loads(path.read_text(encoding="utf-8"))
        if d.get("format") != FORMAT:
            raise RagError(f"{path} has format {d.get('format')}, this code reads {FORMAT}; "
                           "refit with 'python -m evals.calibrate'")
        return cls({k: model_from_json(v) for k, v in d.get("fitted", {}).items()},
                   {k: float(v) for k, v in d.get("thresholds", {}).items()},
                   str(d.get("fitted_on", "")), d.get("figures", {}))


@lru_cache(maxsize=1)
def shipped() -> Models:
    """The models shipped with the package (``rag/models.json``), loaded once."""
    return Models.load()
