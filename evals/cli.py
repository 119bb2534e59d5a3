"""``rag eval``: run a suite, print the table (and JSON), write the report, apply the gate.

Exit codes: 0 all floors met, 1 a metric broke a bound in evals/thresholds.toml,
2 a usage or setup error.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evals import CASES_PATH, MULTIHOP_DIR, THRESHOLDS_PATH

DEFAULT_CACHE = Path(__file__).resolve().parent.parent / ".eval-cache"
Log = Callable[[str], None]
Outcome = tuple[dict[str, Any], list[dict[str, Any]]]  # Any: JSON (the summary, case rows)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rag eval", description=__doc__.splitlines()[0])
    p.add_argument("--suite", choices=("seeds", "multihop"), default="seeds")
    p.add_argument("--split", choices=("train", "dev", "all"), default="all",
                   help="which split to run (default: both, reported side by side); the gate "
                   "reads dev: train is what the system is tuned on")
    p.add_argument("--limit", type=int, help="only the first N questions of each split run "
                   "(multihop: spread round-robin over the question types)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object with the metrics as the last line")
    p.add_argument("--report", type=Path, metavar="DIR",
                   help="write report.md, report.json and PNG charts to DIR")
    p.add_argument("--thresholds", type=Path, default=THRESHOLDS_PATH,
                   help="floors file (default: evals/thresholds.toml)")
    p.add_argument("--no-gate", action="store_true", help="report only; always exit 0")
    p.add_argument("--home", type=Path, help="seeds: evaluate this already indexed RAG_HOME "
                   "instead of a cached store of the bundled articles")
    p.add_argument("--cases", type=Path, default=CASES_PATH, help="seeds: the case file")
    p.add_argument("--data", type=Path, default=MULTIHOP_DIR,
                   help="multihop: directory with corpus.jsonl and questions.jsonl")
    p.add_argument("--cache-dir", type=Path,
                   default=Path(os.environ.get("RAG_EVAL_CACHE", DEFAULT_CACHE)),
                   help="where indexed eval stores are cached (default: .eval-cache/)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on bad usage, 0 on --help
        return int(e.code or 0)
    if args.limit is not None and args.limit <= 0:
        parser.print_usage(sys.stderr)
        print("rag eval: error: --limit must be a positive integer", file=sys.stderr)
        return 2
    if not args.no_gate and not args.thresholds.is_file():
        print(f"rag eval: error: no thresholds file at {args.thresholds}", file=sys.stderr)
        return 2

    from evals import runner
    from rag.errors import RagError

    log = (lambda _msg: None) if args.quiet else runner.stderr
    try:
        if args.suite == "seeds":
            summary, cases = _seeds(args, log)
        else:
            summary, cases = _multihop(args, log)
    except (RagError, FileNotFoundError, ValueError) as e:
        print(f"rag eval: error: {e}", file=sys.stderr)
        return 2

    summary["when"] = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    summary["limit"] = args.limit
    failures: list[str] = []
    if not args.no_gate and summary.get("headline_split") != "dev":
        log("no gate: the floors in evals/thresholds.toml are for the dev split")
    elif not args.no_gate:
        floors, ceilings = runner.load_thresholds(args.thresholds, args.suite)
        failures = [str(f) for f in runner.check_gates(summary["metrics"], floors, ceilings)]
        summary["gate"] = {"thresholds": str(args.thresholds), "checked":
                           len(floors) + len(ceilings), "failures": failures}

    from evals import report

    print(report.render_text(summary))
    if args.report:
        for path in report.write_report(args.report, summary, cases):
            log(f"wrote {path}")
    if args.json:
        print(report.json_line(summary), flush=True)
    return 1 if failures else 0


def _seeds(args: argparse.Namespace, log: Log) -> Outcome:
    from evals import runner
    from index import index_bundled
    from rag import Engine

    cases = [c for c in runner.load_cases(args.cases)
             if args.split in ("all", c.split)]
    if args.limit is not None:
        cases = [c for s in runner.SPLITS for c in [c for c in cases if c.split == s][: args.limit]]
    if args.home is not None:
        if not args.home.is_dir():
            raise FileNotFoundError(f"--home {args.home} is not a directory")
        home = args.home
    else:
        home = _seed_home(args.cache_dir, log)
    engine = Engine(runner.eval_settings(home), on_empty=index_bundled)
    results = runner.run_seeds(engine, cases, log=None if args.quiet else log)
    rows = []
    for r in results:
        d = dataclasses.asdict(r)
        d["correct"] = r.correct
        rows.append(d)
    return runner.summarize_seeds(results), rows


def _seed_home(cache_root: Path, log: Log) -> Path:
    """The bundled articles, indexed once into a cached store keyed by their bytes."""
    from evals import runner
    from index import index_paths

    settings = runner.eval_settings(cache_root / "unused")
    files = [p for p in sorted(settings.articles_dir.iterdir()) if p.is_file()]
    if not files:
        raise FileNotFoundError(f"no articles in {settings.articles_dir}")
    return runner.cached_home(
        cache_root, "seeds", runner.sha256_files(files), settings,
        lambda s: index_paths([s.articles_dir], s, progress=False), log,
    )


def _multihop(args: argparse.Namespace, log: Log) -> Outcome:
    from evals import multihop, runner
    from index import index_bundled
    from rag import Engine

    data: Path = args.data
    multihop.verify_checksums(data)
    every = multihop.load_questions(data)
    splits = runner.SPLITS if args.split == "all" else (args.split,)
    questions = [q for s in splits for q in multihop.select(every, args.limit, s)]
    corpus_sha = runner.sha256_files([data / "corpus.jsonl"])
    settings = runner.eval_settings(args.cache_dir / "unused")
    home = runner.cached_home(
        args.cache_dir, "multihop", corpus_sha, settings,
        lambda s: multihop.index_corpus(multihop.load_corpus(data), s), log,
    )
    engine = Engine(runner.eval_settings(home), on_empty=index_bundled)
    results = multihop.run_multihop(engine, questions, log=None if args.quiet else log)
    summary = multihop.summarize_multihop(results)
    summary["corpus_sha256"] = corpus_sha
    rows = multihop.result_dicts(results)
    for row, q in zip(rows, questions, strict=True):
        row["question"] = q.query
        row["id"] = q.qid
        row["correct"] = row["answer_correct"]
    return summary, rows


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
