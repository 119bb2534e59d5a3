"""Run the seed suite against an engine, summarise it, and gate on the floors.

Also holds what both suites share: the cached eval stores and the thresholds gate.
"""

from __future__ import annotations

import ast
import fcntl
import hashlib
import json
import shutil
import sys
import textwrap
import time
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from evals import CASES_PATH
from evals import metrics as m

if TYPE_CHECKING:
    from rag import Answer, Citation, Engine, Passage, Settings


class _Split(Protocol):  # a CaseResult or a multihop QuestionResult
    @property
    def split(self) -> str: ...


R = TypeVar("R", bound=_Split)

RETRIEVE_K = 10  # passages fetched for the retrieval metrics (MRR is @10)
HIT_K = 5  # ``hit_rate`` is evidence-span hit@5
SPLITS = ("train", "dev")  # tune and fit on train; report (and gate) on dev
# index/ modules shaping chunks
_CONTENT_MODULES = ("loader", "clean", "html", "paged", "dedupe", "chunker")


# --- cases ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One seed question. ``evidence`` lists alternative spans (any one must be cited), or,
    with ``evidence_all``, spans from several sources that must all be cited."""

    id: str
    question: str
    answers: tuple[str, ...]
    doc_ids: tuple[str, ...]
    evidence: tuple[str, ...]
    tags: tuple[str, ...]
    answerable: bool
    evidence_all: bool = False
    split: str = "train"


def load_cases(path: Path = CASES_PATH) -> list[Case]:
    """Read and validate ``cases.jsonl`` (fails loudly: a broken case file must not pass)."""
    cases: list[Case] = []
    seen: set[str] = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        d = json.loads(line)
        ev = d.get("evidence")
        evidence = () if ev is None else (ev,) if isinstance(ev, str) else tuple(ev)
        case = Case(
            id=str(d["id"]),
            question=str(d["question"]),
            answers=tuple(d.get("answers") or ()),
            doc_ids=tuple(d.get("doc_ids") or ()),
            evidence=evidence,
            tags=tuple(d.get("tags") or ()),
            answerable=bool(d["answerable"]),
            evidence_all=bool(d.get("evidence_all", False)),
            split=str(d.get("split", "")),
        )
        if case.split not in SPLITS:
            raise ValueError(f"{path}:{n}: case {case.id} needs a split: one of {SPLITS}")
        if case.id in seen:
            raise ValueError(f"{path}:{n}: duplicate case id {case.id!r}")
        seen.add(case.id)
        if case.answerable and not (case.answers and case.doc_ids):
            raise ValueError(f"{path}:{n}: answerable case {case.id} needs answers and doc_ids")
        if not case.answerable and (case.answers or case.evidence):
            raise ValueError(f"{path}:{n}: unanswerable case {case.id} must have no answers")
        cases.append(case)
    return cases


# --- running ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseResult:
    """What one case produced and how it scored. ``None`` means "does not apply"."""

    id: str
    question: str
    tags: tuple[str, ...]
    answerable: bool
    split: str
    refused: bool
    answer: str
    confidence: float
    latency_ms: float
    retrieve_ms: float
    doc_rank: int | None
    span_rank: int | None
    fact_correct: bool | None
    citation_ok: tuple[bool, ...]
    evidence_recall: float | None
    citations: tuple[dict[str, Any], ...]  # Any: JSON
    retrieved: tuple[str, ...]  # doc_ids in rank order, for the report

    @property
    def correct(self) -> bool:
        """Right outcome: a correct answer, or a refusal of an unanswerable question."""
        return bool(self.fact_correct) if self.answerable else self.refused


def passage_docs(passage: Passage) -> tuple[str, ...]:
    """A passage's own doc_id first, then the near-duplicate copies it stands for."""
    return (passage.doc_id, *tuple(getattr(passage.chunk, "also_in", ()) or ()))


def _cited(citation: Citation, case: Case) -> str:
    """What a citation offers as support: its quote, and for a question about an article's
    own metadata ("when was it published"), the publication date it carries."""
    if "metadata" in case.tags:
        return f"{citation.quote} {citation.published or ''}"
    return str(citation.quote)


def score_case(case: Case, passages: Sequence[Passage], answer: Answer, latency_ms: float,
               retrieve_ms: float) -> CaseResult:
    """Score one case from the retrieved passages and the answer (pure given its inputs)."""
    pdocs = [passage_docs(p) for p in passages]
    quotes = [c.quote for c in answer.citations]
    answerable_with_ev = case.answerable and bool(case.evidence)
    return CaseResult(
        id=case.id,
        question=case.question,
        tags=case.tags,
        answerable=case.answerable,
        split=case.split,
        refused=bool(answer.refused),
        answer=answer.text,
        confidence=float(answer.confidence),
        latency_ms=latency_ms,
        retrieve_ms=retrieve_ms,
        doc_rank=m.doc_rank(pdocs, case.doc_ids) if case.answerable else None,
        span_rank=(m.span_rank(list(zip(pdocs, [p.text for p in passages], strict=True)),
                               case.doc_ids, case.evidence) if answerable_with_ev else None),
        fact_correct=(m.fact_correct(case.answers, answer.text, answer.refused)
                      if case.answerable else None),
        citation_ok=(tuple(m.citation_supports(_cited(c, case), case.evidence, case.answers)
                           for c in answer.citations) if case.answerable else ()),
        evidence_recall=(m.evidence_recall(quotes, case.evidence, case.evidence_all)
                         if answerable_with_ev else None),
        citations=tuple(
            {"n": c.n, "doc_id": c.doc_id, "quote": c.quote, "score": c.score}
            for c in answer.citations
        ),
        retrieved=tuple(p.doc_id for p in passages),
    )


def used_passages(engine: Engine, question: str, answer: Answer, k: int) -> list[Passage]:
    """The passages the answer was built from (``Answer.passages``); a refused answer that
    recorded none is scored on ``retrieve(question, k)``, the same retrieval it ran."""
    return list(answer.passages) or engine.retrieve(question, k=k)


def run_seeds(engine: Engine, cases: Sequence[Case], k: int = RETRIEVE_K,
              log: Callable[[str], None] | None = None) -> list[CaseResult]:
    """Ask every case once with ``answer(q)``; the retrieval metrics score the passages the
    answer used. One untimed warm-up call first so model loading does not land in the
    latencies."""
    if cases:
        engine.answer(cases[0].question)
    results = []
    for i, case in enumerate(cases, start=1):
        t0 = time.perf_counter()
        answer = engine.answer(case.question)
        t1 = time.perf_counter()
        passages = used_passages(engine, case.question, answer, k)
        retrieve_ms = float(answer.timings.get("retrieve_ms", 0.0))
        results.append(score_case(case, passages, answer, (t1 - t0) * 1000, retrieve_ms))
        if log:
            log(f"[{i}/{len(cases)}] {case.id} {'ok' if results[-1].correct else 'WRONG'}")
    return results


def _group_metrics(rs: Sequence[CaseResult]) -> dict[str, float | None]:
    ans = [r for r in rs if r.answerable]
    una = [r for r in rs if not r.answerable]
    span = [r.span_rank for r in ans if r.evidence_recall is not None]
    answered = [r for r in ans if not r.refused]
    return {
        "n": len(rs),
        "hit_rate": m.hit_at_k(span, HIT_K),
        "mrr": m.mrr(span, RETRIEVE_K),
        "fact_accuracy": m.rate(bool(r.fact_correct) for r in ans),
        "citation_precision": m.citation_precision([r.citation_ok for r in answered]),
        "citation_recall": m.mean(r.evidence_recall for r in ans if r.evidence_recall is not None),
        "refusal_accuracy": m.refusal_accuracy([r.refused for r in una]),
        "false_refusal_rate": m.false_refusal_rate([r.refused for r in ans]),
    }


def _seed_block(results: Sequence[CaseResult]) -> dict[str, Any]:  # Any: JSON
    """Every metric of one split: headline, per category, calibration."""
    ans = [r for r in results if r.answerable]
    span = [r.span_rank for r in ans if r.evidence_recall is not None]
    docs = [r.doc_rank for r in ans]
    lat = [r.latency_ms for r in results]
    # Calibration is over the answers given: does confidence predict that an answer is right?
    answered = [r for r in results if not r.refused]
    conf, right = [r.confidence for r in answered], [r.correct for r in answered]
    table = m.calibration_table(conf, right)
    metrics: dict[str, Any] = _group_metrics(results)  # Any: JSON
    metrics.update(
        {
            "n_answerable": len(ans),
            "n_unanswerable": len(results) - len(ans),
            "hit@1": m.hit_at_k(span, 1),
            "hit@3": m.hit_at_k(span, 3),
            f"hit@{HIT_K}": m.hit_at_k(span, HIT_K),
            "doc_hit@1": m.hit_at_k(docs, 1),
            "doc_mrr": m.mrr(docs, RETRIEVE_K),
            "p50_ms": m.percentile(lat, 50),
            "p95_ms": m.percentile(lat, 95),
            "retrieve_p50_ms": m.percentile([r.retrieve_ms for r in results], 50),
            "ece": m.expected_calibration_error(table),
            "auroc": m.auroc(conf, right),
        }
    )
    tags = sorted({t for r in results for t in r.tags})
    return {
        "metrics": metrics,
        "categories": {t: _group_metrics([r for r in results if t in r.tags]) for t in tags},
        "calibration": [asdict(b) for b in table],
    }


def summarize_seeds(results: Sequence[CaseResult]) -> dict[str, Any]:  # Any: JSON
    """Metrics per split (train and dev side by side); the headline is dev's."""
    return by_split("seeds", results, _seed_block)


def by_split(suite: str, results: Sequence[R],
             block: Callable[[Sequence[R]], dict[str, Any]]) -> dict[str, Any]:  # Any: JSON
    """``block`` computed for each split present. The headline (``metrics``, ``categories``,
    ``calibration``: what the gate reads) is dev's when dev was run: train is where the
    system is tuned, so only dev says how it does on questions nobody tuned for."""
    splits = {s: block([r for r in results if r.split == s]) for s in SPLITS
              if any(r.split == s for r in results)}
    headline = splits.get("dev") or next(iter(splits.values()), block([]))
    return {"suite": suite, "headline_split": "dev" if "dev" in splits else
            next(iter(splits), None), "splits": {s: b["metrics"] for s, b in splits.items()},
            **headline}


# --- cached eval stores -----------------------------------------------------------------


def sha256_files(paths: Iterable[Path]) -> str:
    """One digest over the files' names and bytes (sorted, so order does not matter)."""
    h = hashlib.sha256()
    for p in sorted(paths, key=lambda p: p.name):
        h.update(p.name.encode())
        h.update(b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()


def index_fingerprint(settings: Settings) -> str:
    """What the stored chunks and vectors depend on besides the corpus: the embedding model
    and the chunk vectors' precision, chunk size, the store schema, the lexical analyzer, and
    the code that cleans, splits and embeds text. A change rebuilds the cached store rather
    than scoring stale chunks (upserts would leave the old ones in place); refactors
    elsewhere in the core keep the cache."""
    import inspect

    import index as index_pkg
    from index import pipeline
    from rag import embeddings, nlp, sentences, store, text

    root = Path(index_pkg.__file__).resolve().parent
    h = hashlib.sha256()
    h.update(f"{settings.embed_model}|{settings.chunk_vectors}|{settings.chunk_tokens}|"
             f"{store.SCHEMA}|".encode())
    h.update(f"{text.ANALYZER}|{nlp.NLP_VERSION}|".encode())
    if settings.chunk_vectors == "int8":  # an int8 vector depends on its batch-mates
        h.update(f"int8 batch {embeddings.INT8_BATCH}|".encode())
    for fn in (pipeline.embed_text, text.split_sentences, text._split_block,
               sentences.build_sentences, sentences.pool_chunks):
        h.update(_code_only(textwrap.dedent(inspect.getsource(fn))).encode())
    for name in _CONTENT_MODULES:
        p = root / f"{name}.py"
        if p.exists():
            h.update(name.encode())
            h.update(_code_only(p.read_text(encoding="utf-8")).encode())
    return h.hexdigest()[:16]


def _code_only(source: str) -> str:
    """``source`` as its syntax tree: comments, blank lines and formatting do not change what
    it does, so they must not make a 609-article store be rebuilt (20 min); docstrings,
    names and every statement still count."""
    return ast.dump(ast.parse(source))


def cached_home(cache_root: Path, name: str, corpus_sha: str, settings: Settings,
                build: Callable[[Settings], object], log: Callable[[str], None]) -> Path:
    """A RAG_HOME under ``cache_root/<name>-<hash12>/`` holding the corpus indexed by ``build``;
    reused when complete and built by the same ingestion, rebuilt otherwise."""
    base = cache_root / f"{name}-{corpus_sha[:12]}"
    cache_root.mkdir(parents=True, exist_ok=True)
    # Concurrent evals (two engineers, or CI jobs sharing a cache) must not delete a store
    # that another process is still building: one builds, the others wait, then reuse it.
    with (cache_root / f"{base.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _cached_home(base, corpus_sha, settings, build, log)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _cached_home(base: Path, corpus_sha: str, settings: Settings,
                 build: Callable[[Settings], object], log: Callable[[str], None]) -> Path:
    home = base / "home"
    marker = base / "complete.json"
    fp = index_fingerprint(settings)
    want = {"corpus_sha256": corpus_sha, "fingerprint": fp}
    if marker.exists():
        try:
            if json.loads(marker.read_text()) == want:
                log(f"reusing the indexed store in {base}")
                return home
        except (OSError, ValueError):
            pass
        log(f"the cached store in {base} was built by other code or settings: rebuilding")
    if base.exists():
        shutil.rmtree(base)
    home.mkdir(parents=True)
    t0 = time.perf_counter()
    build(settings.with_(home=home))
    marker.write_text(json.dumps(want))
    log(f"indexed into {base} in {time.perf_counter() - t0:.0f} s")
    return home


def eval_settings(home: Path) -> Settings:
    """Settings for an eval store: the environment's choices, but always a local store."""
    from rag import Settings

    return Settings.from_env().with_(home=home, chroma_url=None)


def stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- gates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateFailure:
    metric: str
    value: float | None
    bound: float
    kind: str  # "floor" or "ceiling"

    def __str__(self) -> str:
        v = "missing" if self.value is None else f"{self.value:.4f}"
        op = ">=" if self.kind == "floor" else "<="
        return f"{self.metric} = {v}, needs {op} {self.bound}"


def load_thresholds(path: Path, suite: str) -> tuple[dict[str, float], dict[str, float]]:
    """Floors (``[suite]``) and ceilings (``[suite.ceilings]``) for one suite."""
    with path.open("rb") as f:
        data = tomllib.load(f)
    section = dict(data.get(suite, {}))
    ceilings = {k: float(v) for k, v in dict(section.pop("ceilings", {})).items()}
    floors = {k: float(v) for k, v in section.items()}
    return floors, ceilings


def check_gates(metrics: dict[str, Any], floors: dict[str, float],  # Any: JSON
                ceilings: dict[str, float]) -> list[GateFailure]:
    """Every floor and ceiling that the metrics break. A gated metric that is missing
    (``None``: e.g. no unanswerable case in a ``--limit`` slice) is skipped, and one that the
    suite does not produce at all is a failure, so a typo in the thresholds cannot pass."""
    fails = []
    for kind, bounds in (("floor", floors), ("ceiling", ceilings)):
        for key, bound in bounds.items():
            if key not in metrics:
                fails.append(GateFailure(key, None, bound, kind))
                continue
            v = metrics[key]
            if v is None:
                continue
            if (kind == "floor" and v < bound) or (kind == "ceiling" and v > bound):
                fails.append(GateFailure(key, v, bound, kind))
    return fails
