"""Fixtures for the eval tests: a tiny MultiHop-RAG slice (the full corpus takes minutes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals import MULTIHOP_DIR, multihop


@pytest.fixture(scope="session")
def multihop_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five questions (every type, one null) with their evidence articles and three
    distractors, in the benchmark's own file format."""
    out = tmp_path_factory.mktemp("multihop_slice")
    questions = multihop.select(multihop.load_questions(MULTIHOP_DIR), 5, "train")
    wanted = {e.doc_id for q in questions for e in q.evidence}
    lines = (MULTIHOP_DIR / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    keep = {q.qid for q in questions}
    (out / "questions.jsonl").write_text(
        "\n".join(x for x in lines if json.loads(x)["qid"] in keep) + "\n", encoding="utf-8"
    )
    docs = multihop.load_corpus(MULTIHOP_DIR)
    distractors = [d["doc_id"] for d in docs if d["doc_id"] not in wanted][:3]
    chosen = [d for d in docs if d["doc_id"] in wanted or d["doc_id"] in distractors]
    (out / "corpus.jsonl").write_text(
        "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in chosen), encoding="utf-8"
    )
    return out
