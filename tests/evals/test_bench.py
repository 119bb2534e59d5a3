"""``rag bench`` (evals/bench.py): its questions, its arithmetic, and one short real run.

Timings are never compared with thresholds here: the machine is shared. The run only has to
produce every figure, each a positive number and every ratio finite."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from evals import bench

ROOT = Path(__file__).resolve().parents[2]


def test_rag_bench_dispatches_to_evals() -> None:
    from rag.cli import EXTERNAL

    assert EXTERNAL["bench"][0] == "evals.bench:main"


def test_no_machine_paths_in_the_benchmark() -> None:
    text = (ROOT / "evals" / "bench.py").read_text()
    assert "/work/" not in text and "/home/" not in text


@pytest.mark.parametrize("corpus", bench.CORPORA)
def test_questions_are_distinct_dev_questions_and_warmup_is_not_one(corpus: str) -> None:
    qs = bench.questions(corpus, 30)
    assert len(qs) == 30 == len(set(qs))
    assert bench.warmup_question(corpus) not in bench.questions(corpus, None)


def test_seed_questions_come_from_the_dev_split() -> None:
    from evals.runner import load_cases

    dev = [c.question for c in load_cases() if c.split == "dev"]
    assert bench.questions("seeds", None) == list(dict.fromkeys(dev))


def test_model_flops_follow_the_stated_formula() -> None:
    flops, model = bench.model_flops([10, 20])
    d, f, layers = model["hidden"], model["ffn"], model["layers"]
    assert (d, f, layers) == (384, 1536, 6)  # all-MiniLM-L6-v2
    assert model["matmul_params"] == 6 * (4 * 384 * 384 + 2 * 384 * 1536)
    want = sum(2 * n * model["matmul_params"] + layers * 4 * n * n * d for n in (10, 20))
    assert flops == want


def test_gemm_rates_are_positive() -> None:
    g = bench.gemm_rates(budget_s=0.05, m=256, k=384, n=384)
    assert g["numpy_fp32_gflops"] > 0 and g["fp32_gflops"] > 0 and g["int8_gops"] > 0


def test_bench_help_names_the_options() -> None:
    text = bench.build_parser().format_help()
    for opt in ("--corpus", "--questions", "--reuse-index", "--json", "--quick"):
        assert opt in text


@pytest.mark.slow
def test_quick_json_run_on_the_seeds(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "evals.bench", "--quick", "--json", "--corpus", "seeds",
         "--questions", "5", "--cache-dir", str(tmp_path / "cache")],
        capture_output=True, text=True, cwd=ROOT, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["corpus"] == "seeds" and r["n_questions"] == 5 and r["index_reused"] is False
    positive = ["answer_p50_ms", "answer_p95_ms", "retrieve_p50_ms", "retrieve_p95_ms",
                "index_s", "index_articles_per_s", "index_chunks_per_s", "index_tokens",
                "index_flops", "cold_start_s", "peak_rss_mb", "baseline_retrieve_p50_ms",
                "baseline_index_s", "baseline_cold_start_s", "baseline_peak_rss_mb",
                "gemm_fp32_gflops", "gemm_int8_gops", "cpu_share"]
    for key in positive:
        assert isinstance(r[key], (int, float)) and r[key] > 0, key
    assert r["answer_p95_ms"] >= r["answer_p50_ms"]
    assert {"retrieve", "evidence", "total"} <= set(r["stages"])  # each stage of the answers
    assert all(v["p95_ms"] >= v["p50_ms"] > 0 for v in r["stages"].values())
    ratios = [k for k in r if k.startswith("ratio_")]
    assert len(ratios) >= 5
    for key in ratios:
        assert isinstance(r[key], float) and math.isfinite(r[key]) and r[key] > 0, key
    la = r["load_avg"]
    assert len(la["start"]) == 3 and len(la["end"]) == 3
