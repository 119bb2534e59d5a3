"""MultiHop-RAG (Tang & Yang, COLM 2024; ODC-BY 1.0): loader, store and runner.

The corpus (all 609 articles) goes through the product's own ingestion
(``index.index_documents``) into a store of its own, cached by corpus hash. Each question is
asked once with ``answer(q)``: retrieval is scored on the passages the answer used
(``Answer.passages``), the answer on its short answer (``Answer.short``, else its text).
Questions carry the benchmark's split: tune on train, report on dev.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals import MULTIHOP_DIR
from evals import metrics as m
from evals.runner import RETRIEVE_K, by_split, passage_docs, used_passages

if TYPE_CHECKING:
    from rag import Answer, Engine, Passage, Settings

NULL_TYPE = "null_query"
_YES_NO = re.compile(r"^(yes|no)\.?$", re.IGNORECASE)
_FIRST_WORD = re.compile(r"^\W*(\w+)")


@dataclass(frozen=True)
class Evidence:
    doc_id: str
    fact: str


@dataclass(frozen=True)
class Question:
    qid: str
    query: str
    answer: str
    question_type: str
    evidence: tuple[Evidence, ...]
    split: str = "train"

    @property
    def is_null(self) -> bool:
        return self.question_type == NULL_TYPE or not self.evidence

    @property
    def kind(self) -> str:
        """``null``, ``yesno`` (the gold answer is Yes or No) or ``entity`` (a name, or one of
        the options the question offers: "Consistent", "Before", "The Verge")."""
        if self.is_null:
            return "null"
        return "yesno" if _YES_NO.match(self.answer.strip()) else "entity"


def verify_checksums(data_dir: Path) -> None:
    """Check the files against SHA256SUMS when it is there (a silently changed benchmark
    would make figures incomparable)."""
    sums = data_dir / "SHA256SUMS"
    if not sums.exists():
        return
    for line in sums.read_text().splitlines():
        if not line.strip():
            continue
        digest, name = line.split(maxsplit=1)
        got = hashlib.sha256((data_dir / name.strip().lstrip("*")).read_bytes()).hexdigest()
        if got != digest:
            raise ValueError(f"{data_dir / name}: SHA256 mismatch (the benchmark was modified)")


def load_corpus(data_dir: Path = MULTIHOP_DIR) -> list[dict[str, Any]]:  # Any: JSON
    path = data_dir / "corpus.jsonl"
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def load_questions(data_dir: Path = MULTIHOP_DIR) -> list[Question]:
    out = []
    for line in (data_dir / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        out.append(
            Question(
                qid=d["qid"], query=d["query"], answer=d["answer"],
                question_type=d["question_type"],
                evidence=tuple(Evidence(e["doc_id"], e["fact"]) for e in d["evidence"]),
                split=d.get("split", "train"),
            )
        )
    return out


def select(questions: Sequence[Question], limit: int | None,
           split: str | None = None) -> list[Question]:
    """The questions of ``split`` (all when None); with ``limit``, the first ``limit`` taken
    round-robin over question types, in file order within a type, so any limit keeps every
    type (including null) represented: a fixed, stratified part."""
    questions = [q for q in questions if split is None or q.split == split]
    if limit is None or limit >= len(questions):
        return list(questions)
    by_type: dict[str, list[Question]] = defaultdict(list)
    for q in questions:
        by_type[q.question_type].append(q)
    queues = [list(v) for _, v in sorted(by_type.items())]
    out: list[Question] = []
    while len(out) < limit:
        for qs in queues:
            if qs and len(out) < limit:
                out.append(qs.pop(0))
    return out


def index_corpus(docs: Sequence[dict[str, Any]], settings: Settings) -> object:  # Any: JSON
    """Index the benchmark articles through the product's ingestion."""
    from index import SourceDoc, index_documents

    sources = [
        SourceDoc(
            doc_id=d["doc_id"], text=d["body"], source_path=d.get("url") or d["doc_id"],
            title=d.get("title"), published=(d.get("published_at") or "")[:10] or None,
            source=d.get("source") or None,
        )
        for d in docs
    ]
    return index_documents(sources, settings, progress=True)


@dataclass(frozen=True)
class QuestionResult:
    qid: str
    question_type: str
    split: str
    kind: str  # null | yesno | entity
    gold: str  # the benchmark's answer
    is_null: bool
    refused: bool
    said: str | None  # yesno: the answer's Yes/No (None when it gave neither)
    short: str | None  # the short answer given
    answer: str  # the answer's text
    answer_correct: bool  # null: refused; yesno: the same Yes/No; entity: the gold answer named
    confidence: float
    citation_ok: tuple[bool, ...]  # citation from a gold evidence document
    cited_gold_share: float | None  # share of gold documents cited
    latency_ms: float
    retrieve_ms: float
    passage_chars: tuple[int, ...]
    scores: m.MultihopScores | None


def gold_answer(answer: str) -> str:
    """The benchmark's answer as a name to look for: without the full stop 13 of its 768
    entity answers end with ("Sam Altman.") and without a leading article ("The Federal
    Reserve"), neither of which an answer naming the thing needs to repeat."""
    return re.sub(r"^(?:the|The)\s+", "", answer.strip().rstrip(".").strip())


def judged_text(answer: Answer) -> str:
    """What an answer is judged on: its short answer when it gives one ("Yes", "Sam
    Bankman-Fried"), else its whole text. Judging the short answer keeps a quote that happens
    to hold the gold name from counting as an answer that named it."""
    return str(getattr(answer, "short", None) or answer.text)


def yes_or_no(answer: Answer) -> str | None:
    """"yes" or "no" when the answer (its short answer, else its first word) says so."""
    if answer.refused:
        return None
    m_ = _FIRST_WORD.match(judged_text(answer))
    word = m_.group(1).lower() if m_ else ""
    return word if word in ("yes", "no") else None


def score_question(q: Question, passages: Sequence[Passage], answer: Answer, latency_ms: float,
                   retrieve_ms: float) -> QuestionResult:
    """Score one question from the passages its answer used and the answer itself."""
    gold_docs = sorted({e.doc_id for e in q.evidence})
    scores = None
    if not q.is_null:
        scores = m.multihop_scores(
            [p.text for p in passages], [passage_docs(p) for p in passages],
            [e.fact for e in q.evidence], gold_docs,
        )
    cited = {d for c in answer.citations for d in (c.doc_id, *getattr(c, "also_in", ()))}
    said = yes_or_no(answer) if q.kind == "yesno" else None
    if q.kind == "null":
        correct = bool(answer.refused)
    elif q.kind == "yesno":
        correct = said == gold_answer(q.answer).lower()
    else:
        correct = not answer.refused and m.mentions(judged_text(answer), gold_answer(q.answer))
    return QuestionResult(
        qid=q.qid,
        question_type=q.question_type,
        split=q.split,
        kind=q.kind,
        gold=q.answer,
        is_null=q.is_null,
        refused=bool(answer.refused),
        said=said,
        short=getattr(answer, "short", None),
        answer=answer.text,
        answer_correct=correct,
        confidence=float(answer.confidence),
        citation_ok=() if q.is_null else tuple(
            bool({c.doc_id, *getattr(c, "also_in", ())} & set(gold_docs))
            for c in answer.citations
        ),
        cited_gold_share=None if q.is_null else len(cited & set(gold_docs)) / len(gold_docs),
        latency_ms=latency_ms,
        retrieve_ms=retrieve_ms,
        passage_chars=tuple(len(p.text) for p in passages),
        scores=scores,
    )


def run_multihop(engine: Engine, questions: Sequence[Question],
                 log: Callable[[str], None] | None = None) -> list[QuestionResult]:
    if questions:
        engine.answer(questions[0].query)  # warm-up, untimed
    out = []
    for i, q in enumerate(questions, start=1):
        t0 = time.perf_counter()
        answer = engine.answer(q.query)
        t1 = time.perf_counter()
        passages = used_passages(engine, q.query, answer, RETRIEVE_K)
        out.append(score_question(q, passages, answer, (t1 - t0) * 1000,
                                  float(answer.timings.get("retrieve_ms", 0.0))))
        if log and (i % 25 == 0 or i == len(questions)):
            log(f"[{i}/{len(questions)}] questions asked")
    return out


def _group(rs: Sequence[QuestionResult]) -> dict[str, float | None]:
    scored = [r.scores for r in rs if r.scores is not None]
    non_null = [r for r in rs if not r.is_null]
    yesno = [r for r in rs if r.kind == "yesno"]
    d: dict[str, float | None] = {"n": len(rs)}
    d.update(m.multihop_summary(scored))
    d["answer_accuracy"] = m.rate(r.answer_correct for r in rs)
    d["yesno_balanced_accuracy"] = m.balanced_accuracy(
        [gold_answer(r.gold).lower() for r in yesno], [r.said for r in yesno])
    d["entity_accuracy"] = m.rate(r.answer_correct for r in rs if r.kind == "entity")
    d["refusal_accuracy"] = m.refusal_accuracy([r.refused for r in rs if r.is_null])
    d["false_refusal_rate"] = m.false_refusal_rate([r.refused for r in non_null])
    return d


def _block(results: Sequence[QuestionResult]) -> dict[str, Any]:  # Any: JSON
    metrics: dict[str, Any] = _group(results)
    non_null = [r for r in results if not r.is_null]
    chars = [c for r in non_null for c in r.passage_chars]
    lat = [r.latency_ms for r in results]
    answered = [r for r in results if not r.refused]
    conf, right = [r.confidence for r in answered], [r.answer_correct for r in answered]
    table = m.calibration_table(conf, right)
    metrics.update(
        {
            "n_non_null": len(non_null),
            "n_null": len(results) - len(non_null),
            "n_yesno": sum(r.kind == "yesno" for r in results),
            "n_entity": sum(r.kind == "entity" for r in results),
            "hit_rate": metrics["Hits@10"],
            "mrr": metrics["MRR@10"],
            "answer_accuracy_non_null": m.rate(r.answer_correct for r in non_null),
            "yesno_accuracy": m.rate(r.answer_correct for r in results if r.kind == "yesno"),
            "citation_precision": m.citation_precision(
                [r.citation_ok for r in non_null if not r.refused]),
            "citation_recall": m.mean(r.cited_gold_share for r in non_null
                                      if r.cited_gold_share is not None),
            "mean_passage_chars": m.mean(chars),
            "p50_ms": m.percentile(lat, 50),
            "p95_ms": m.percentile(lat, 95),
            "retrieve_p50_ms": m.percentile([r.retrieve_ms for r in results], 50),
            "retrieve_p95_ms": m.percentile([r.retrieve_ms for r in results], 95),
            "ece": m.expected_calibration_error(table),
            "auroc": m.auroc(conf, right),
        }
    )
    types = sorted({r.question_type for r in results})
    return {
        "metrics": metrics,
        "categories": {t: _group([r for r in results if r.question_type == t]) for t in types},
        "calibration": [asdict(b) for b in table],
    }


def summarize_multihop(results: Sequence[QuestionResult]) -> dict[str, Any]:  # Any: JSON
    """The paper's retrieval metrics on the non-null questions, answer accuracy by kind,
    refusal on the null ones; per split, dev as the headline."""
    return by_split("multihop", results, _block)


def result_dicts(results: Sequence[QuestionResult]) -> list[dict[str, Any]]:  # Any: JSON
    return [asdict(r) for r in results]
