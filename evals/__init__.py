"""The eval suite: seed questions over the bundled articles and the MultiHop-RAG benchmark.

Run it with ``rag eval`` (see :mod:`evals.cli`); the metrics are pure functions in
:mod:`evals.metrics`.
"""

from __future__ import annotations

from pathlib import Path

EVALS_DIR = Path(__file__).resolve().parent
CASES_PATH = EVALS_DIR / "cases.jsonl"
THRESHOLDS_PATH = EVALS_DIR / "thresholds.toml"
MULTIHOP_DIR = EVALS_DIR / "data" / "multihop_rag"

__all__ = ["CASES_PATH", "EVALS_DIR", "MULTIHOP_DIR", "THRESHOLDS_PATH"]
