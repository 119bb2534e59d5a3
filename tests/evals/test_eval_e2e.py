"""`rag eval` end to end on real stores: the JSON contract, the report and the gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals import THRESHOLDS_PATH
from evals.cli import main

SEED_KEYS = {"hit_rate", "mrr", "fact_accuracy", "citation_precision", "citation_recall",
             "refusal_accuracy", "false_refusal_rate", "p50_ms", "p95_ms"}
MULTIHOP_KEYS = SEED_KEYS | {"Hits@4", "Hits@10", "MRR@10", "MAP@10", "doc_recall@10",
                             "all_evidence@10", "mean_passage_chars"}


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def rates_ok(d: dict, keys: set[str]) -> None:
    for k in keys - {"p50_ms", "p95_ms", "mean_passage_chars"}:
        assert d[k] is None or 0.0 <= d[k] <= 1.0, (k, d[k])
    assert d["p50_ms"] > 0 and d["p95_ms"] >= d["p50_ms"]


@pytest.fixture(scope="module")
def seeds_run(indexed_home: Path, tmp_path_factory: pytest.TempPathFactory,
              ) -> tuple[int, str, Path]:
    report = tmp_path_factory.mktemp("seed_report")
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["--suite", "seeds", "--home", str(indexed_home), "--json", "--quiet",
                     "--report", str(report)])
    return code, buf.getvalue(), report


def test_seeds_suite_json_report_and_shipped_floors(seeds_run: tuple[int, str, Path]) -> None:
    code, out, report = seeds_run
    d = last_json(out)
    assert set(d) >= SEED_KEYS
    rates_ok(d, SEED_KEYS)
    assert d["n"] >= 60 and d["n_unanswerable"] >= 12
    assert "category" in out and "unanswerable" in out  # the per-category table
    assert code == 0, f"the shipped floors fail: {d['gate']}"
    for name in ("report.md", "report.json", "metrics_by_category.png", "latency.png"):
        assert (report / name).stat().st_size > 0
    full = json.loads((report / "report.json").read_text())
    assert len(full["cases"]) == sum(v["n"] for v in d["splits"].values())  # both splits
    assert (report / "metrics_by_category.png").read_bytes()[:4] == b"\x89PNG"


def test_a_floor_above_the_result_fails(indexed_home: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--suite", "seeds", "--home", str(indexed_home), "--limit", "6", "--json", "-q"]
    t = tmp_path / "t.toml"
    t.write_text("[seeds]\nfact_accuracy = 0.0\n")
    assert main([*args, "--thresholds", str(t)]) == 0
    got = last_json(capsys.readouterr().out)["fact_accuracy"]
    t.write_text(f"[seeds]\nfact_accuracy = {got + 0.01}\n")
    assert main([*args, "--thresholds", str(t)]) == 1
    out = capsys.readouterr().out
    assert "GATE FAILED" in out and last_json(out)["gate"]["failures"]


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--suite", "nope"]) == 2
    assert main(["--limit", "0"]) == 2
    assert main(["--thresholds", str(tmp_path / "missing.toml")]) == 2
    assert main(["--home", str(tmp_path / "missing")]) == 2
    capsys.readouterr()


def test_shipped_thresholds_cover_both_suites() -> None:
    from evals.runner import load_thresholds

    for suite in ("seeds", "multihop"):
        floors, _ = load_thresholds(THRESHOLDS_PATH, suite)
        assert floors, suite


def test_multihop_suite_on_a_slice(multihop_slice: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--suite", "multihop", "--data", str(multihop_slice), "--cache-dir",
            str(tmp_path / "cache"), "--json", "--no-gate", "--report", str(tmp_path / "r")]
    assert main(args) == 0
    captured = capsys.readouterr()
    d = last_json(captured.out)
    assert set(d) >= MULTIHOP_KEYS
    rates_ok(d, MULTIHOP_KEYS)
    assert d["n_non_null"] == 4 and d["n_null"] == 1
    assert d["mean_passage_chars"] > 0
    assert d["Hits@10"] >= d["Hits@4"] and d["doc_recall@10"] >= d["all_evidence@10"]
    stores = list((tmp_path / "cache").glob("multihop-*/complete.json"))
    assert len(stores) == 1, "the store is cached under the corpus hash"
    # second run reuses the indexed store instead of embedding again
    assert main([*args[:-2], "--limit", "2"]) == 0
    assert "reusing" in capsys.readouterr().err
    assert (tmp_path / "r" / "report.md").exists()
