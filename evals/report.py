"""Render eval summaries: the terminal table, report.md, report.json and PNG charts."""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SEED_COLUMNS = ("n", "hit_rate", "mrr", "fact_accuracy", "citation_precision",
                "citation_recall", "refusal_accuracy", "false_refusal_rate")
MULTIHOP_COLUMNS = ("n", "Hits@10", "MRR@10", "all_evidence@10", "answer_accuracy",
                    "yesno_balanced_accuracy", "entity_accuracy", "refusal_accuracy",
                    "false_refusal_rate")
HEADLINE = ("hit_rate", "mrr", "fact_accuracy", "citation_precision", "citation_recall",
            "refusal_accuracy", "false_refusal_rate", "auroc", "p50_ms", "p95_ms")
MULTIHOP_HEADLINE = ("Hits@4", "Hits@10", "MRR@10", "MAP@10", "doc_recall@10",
                     "all_evidence@10", "mean_passage_chars", "answer_accuracy",
                     "answer_accuracy_non_null", "yesno_accuracy", "yesno_balanced_accuracy",
                     "entity_accuracy")


def fmt(v: Any) -> str:  # Any: a JSON value
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) >= 10 else f"{v:.3f}"
    return str(v)


# Any: JSON values
def table(rows: Sequence[Sequence[Any]], header: Sequence[str], markdown: bool = False) -> str:
    cells = [[str(h) for h in header]] + [[fmt(c) for c in r] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in cells[1:]]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    out = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                     for i, (c, w) in enumerate(zip(r, widths, strict=True))) for r in cells]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def columns(summary: dict[str, Any]) -> tuple[str, ...]:  # Any: JSON
    return MULTIHOP_COLUMNS if summary["suite"] == "multihop" else SEED_COLUMNS


def category_table(summary: dict[str, Any], markdown: bool = False) -> str:  # Any: JSON
    cols = columns(summary)
    rows = [[name, *(g.get(c) for c in cols)] for name, g in summary["categories"].items()]
    rows.append(["ALL", *(summary["metrics"].get(c) for c in cols)])
    return table(rows, ["category", *cols], markdown)


def headline_keys(summary: dict[str, Any]) -> tuple[str, ...]:  # Any: JSON
    extra = MULTIHOP_HEADLINE if summary["suite"] == "multihop" else ()
    return HEADLINE + extra


def json_line(summary: dict[str, Any]) -> str:  # Any: JSON
    """The one-line JSON object for ``--json``: the headline keys first, then the rest."""
    mets = summary["metrics"]
    keys = list(headline_keys(summary)) + [k for k in mets if k not in headline_keys(summary)]
    # Any: JSON
    obj: dict[str, Any] = {"suite": summary["suite"], "split": summary.get("headline_split")}
    obj.update({k: _clean(mets.get(k)) for k in keys})
    obj["splits"] = {s: {k: _clean(v) for k, v in b.items()}
                     for s, b in (summary.get("splits") or {}).items()}
    obj["gate"] = summary.get("gate", {})
    return json.dumps(obj, ensure_ascii=False)


def _clean(v: Any) -> Any:  # Any: a JSON value
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 4)
    return v


def split_table(summary: dict[str, Any], markdown: bool = False) -> str:  # Any: JSON
    """The headline metrics, one column per split run (train, dev)."""
    splits = summary.get("splits") or {"all": summary["metrics"]}
    rows = [[k, *(splits[s].get(k) for s in splits)] for k in headline_keys(summary)]
    return table(rows, ["metric", *splits], markdown)


def render_text(summary: dict[str, Any]) -> str:  # Any: JSON
    head = summary.get("headline_split") or "all"
    parts = [f"== rag eval --suite {summary['suite']} ==",
             f"per category ({head}):", category_table(summary), ""]
    parts.append(split_table(summary))
    if summary.get("calibration"):
        parts += ["", "calibration (answered questions):", calibration_table(summary)]
    gate = summary.get("gate") or {}
    if gate.get("failures"):
        parts += ["", "GATE FAILED (evals/thresholds.toml):"]
        parts += [f"  {f}" for f in gate["failures"]]
    elif gate.get("checked"):
        parts += ["", f"gate passed ({gate['checked']} bounds)"]
    return "\n".join(parts)


def calibration_table(summary: dict[str, Any], markdown: bool = False) -> str:  # Any: JSON
    rows = [[f"[{b['lo']:.1f}, {b['hi']:.1f})", b["n"], b["mean_confidence"], b["accuracy"]]
            for b in summary["calibration"]]
    return table(rows, ["confidence", "n", "mean_conf", "accuracy"], markdown)


# Any: JSON
def write_report(out_dir: Path, summary: dict[str, Any], cases: list[dict[str, Any]]) -> list[Path]:
    """Write report.md, report.json and the charts; return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "report.json", out_dir / "report.md"]
    written[0].write_text(
        json.dumps({"summary": summary, "cases": cases}, indent=2, ensure_ascii=False, default=str)
    )
    charts = _charts(out_dir, summary, cases)
    md = [
        f"# Eval report: {summary['suite']}",
        "",
        (f"Machine: {platform.machine()} / {platform.processor() or 'cpu'}, "
         f"Python {platform.python_version()}; {summary.get('when', '')}"),
        "",
        "## Headline (train and dev side by side; the gate reads dev)",
        "",
        split_table(summary, markdown=True),
        "",
        f"## Per category ({summary.get('headline_split') or 'all'})",
        "",
        category_table(summary, markdown=True),
    ]
    if summary.get("calibration"):
        md += ["", "## Calibration (answered questions)", "", calibration_table(summary, True)]
    gate = summary.get("gate") or {}
    md += ["", "## Gate", ""]
    md += [f"- FAILED: {f}" for f in gate.get("failures", [])] or ["- passed"]
    wrong = [c for c in cases if c.get("correct") is False]
    if wrong:
        md += ["", "## Wrong answers", ""]
        for c in wrong[:60]:
            ans = str(c.get("answer", "")).replace("\n", " ")[:200]
            md.append(f"- `{c['id']}` {c.get('question', '')} -> {ans}")
    md += ["", "## Charts", ""] + [f"![{p.stem}]({p.name})" for p in charts]
    written[1].write_text("\n".join(md) + "\n")
    return written + charts


# Any: JSON
def _charts(out_dir: Path, summary: dict[str, Any], cases: list[dict[str, Any]]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # no display on CI or servers
    import matplotlib.pyplot as plt

    paths = []
    cats = summary["categories"]
    names = list(cats)
    keys = (("hit_rate", "fact_accuracy", "citation_recall", "refusal_accuracy")
            if summary["suite"] == "seeds"
            else ("Hits@10", "MRR@10", "all_evidence@10", "refusal_accuracy"))
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(names) + 2), 4))
    width = 0.8 / len(keys)
    for i, key in enumerate(keys):
        vals = [cats[n].get(key) or 0.0 for n in names]
        ax.bar([x + i * width for x in range(len(names))], vals, width, label=key)
    centre = width * (len(keys) - 1) / 2
    ax.set_xticks([x + centre for x in range(len(names))], names, rotation=45, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"{summary['suite']}: metrics per category")
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out_dir / "metrics_by_category.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    lat = [c["latency_ms"] for c in cases if c.get("latency_ms") is not None]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(lat, bins=30)
    for q, style in ((summary["metrics"].get("p50_ms"), "--"),
                     (summary["metrics"].get("p95_ms"), ":")):
        if q is not None:
            ax.axvline(q, linestyle=style, color="k")
    ax.set_xlabel("answer() latency, ms (dashed p50, dotted p95)")
    ax.set_ylabel("questions")
    ax.set_title(f"{summary['suite']}: latency")
    fig.tight_layout()
    paths.append(out_dir / "latency.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    if summary.get("calibration"):
        rows = [b for b in summary["calibration"] if b["n"]]
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.plot([0, 1], [0, 1], ":", color="grey")
        ax.plot([b["mean_confidence"] for b in rows], [b["accuracy"] for b in rows], "o-")
        for b in rows:
            ax.annotate(str(b["n"]), (b["mean_confidence"], b["accuracy"]), fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("mean confidence")
        ax.set_ylabel("accuracy")
        ax.set_title("calibration (n per bucket)")
        fig.tight_layout()
        paths.append(out_dir / "calibration.png")
        fig.savefig(paths[-1], dpi=100)
        plt.close(fig)
    return paths
