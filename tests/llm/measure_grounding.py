"""Measure the grounding check on SmolLM2's answers to the eval questions.

    python -m tests.llm.measure_grounding --url http://127.0.0.1:PORT/v1 [--limit N]

Writes reports/llm_grounding.json: per question the draft's sentences with their verdicts, and a
summary (how often sentences were dropped, how often nothing held and the extractive answer
stood in, latency per answer).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from rag.backends import get_synthesizer
from rag.engine import Engine
from rag.grounding import check_sentences, ground
from rag.llm import MAX_ANSWER_TOKENS, PROMPT_PASSAGES, build_messages
from rag.settings import PROJECT_ROOT, Settings

CASES = PROJECT_ROOT / "evals" / "cases.jsonl"


def measure(settings: Settings, limit: int | None = None) -> dict[str, object]:
    engine = Engine(settings)
    synth = get_synthesizer("openai", settings)
    cases = [json.loads(line) for line in CASES.read_text().splitlines() if line.strip()]
    cases = [c for c in cases if c.get("answerable", True)][:limit]
    rows = []
    for case in cases:
        q = case["question"]
        prepared = engine.prepare(q)
        query, passages = prepared.query, list(prepared.passages)
        if prepared.decision.refuse:
            rows.append({"id": case["id"], "question": q, "refused": True})
            continue
        used = passages[:PROMPT_PASSAGES]
        t0 = time.perf_counter()
        draft = synth.complete(build_messages(query.text, used), MAX_ANSWER_TOKENS)
        t1 = time.perf_counter()
        checks = check_sentences(draft, used)
        answer = ground(
            query.text, draft, used, engine.articles(), backend="openai",
            fallback=lambda p=prepared: synth._extractive(p, engine.articles()),
        )  # fmt: skip
        t2 = time.perf_counter()
        rows.append({
            "id": case["id"], "question": q, "refused": False, "draft": draft,
            "sentences": [
                {"text": c.text, "cited": list(c.cited), "kept": c.supported, "reason": c.reason,
                 "lexical": round(max((s.lexical for s in c.supports), default=0), 3),
                 "cosine": round(max((s.cosine for s in c.supports), default=0), 3)}
                for c in checks
            ],
            "text": answer.text, "backend": answer.backend,
            "generate_s": round(t1 - t0, 2), "ground_s": round(t2 - t1, 2),
        })  # fmt: skip
    answered = [r for r in rows if not r["refused"]]
    sentences = [s for r in answered for s in r["sentences"]]
    dropped = [s for s in sentences if not s["kept"]]
    summary = {
        "questions": len(rows),
        "refused_before_the_model": len(rows) - len(answered),
        "answered_by_the_model": len(answered),
        "draft_sentences": len(sentences),
        "dropped_sentences": len(dropped),
        "sentence_drop_rate": round(len(dropped) / max(1, len(sentences)), 3),
        "answers_with_a_drop": sum(any(not s["kept"] for s in r["sentences"]) for r in answered),
        "extractive_fallbacks": sum(r["backend"] == "extractive" for r in answered),
        "reattributed_sentences": sum(s["reason"] == "reattributed" for s in sentences),
        "generate_s_median": statistics.median([r["generate_s"] for r in answered] or [0]),
        "ground_s_median": statistics.median([r["ground_s"] for r in answered] or [0]),
    }
    return {"summary": summary, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="OpenAI-compatible base URL, ending in /v1")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", type=Path, default=PROJECT_ROOT / "reports" / "llm_grounding.json")
    args = ap.parse_args(argv)
    settings = Settings.from_env().with_(backend="openai", llm_url=args.url, llm_timeout=120.0)
    report = measure(settings, args.limit)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(json.dumps(report["summary"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
