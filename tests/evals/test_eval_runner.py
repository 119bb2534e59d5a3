"""Pure tests of case scoring, the multihop loader and the gate (real rag types, no model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals import MULTIHOP_DIR, multihop, runner
from rag.types import Answer, Chunk, Citation, Passage

A2 = "002_dbb109389ccf9eef"
CASE = runner.Case(
    id="t1", question="How many gunmen stormed the concert hall?", answers=(r"\bfour\b|\b4\b",),
    doc_ids=(A2,), evidence=("Four gunmen stormed the concert hall",), tags=("number",),
    answerable=True,
)
TEXT = "Four gunmen stormed the concert hall outside Moscow just before a concert."


def passage(doc: str, text: str, rank: int, also_in: tuple[str, ...] = ()) -> Passage:
    return Passage(Chunk(f"{doc}-{rank}", doc, text, 0, len(text), also_in=also_in), 1.0, rank)


def cite(n: int, doc: str, quote: str) -> Citation:
    return Citation(n, doc, "t", None, quote, 0, len(quote), 1.0)


def test_score_case_right_answer() -> None:
    ps = [passage("x", "unrelated", 1), passage(A2, TEXT, 2)]
    ans = Answer(CASE.question, "Four gunmen [1].", (cite(1, A2, TEXT), cite(2, "x", "unrelated")),
                 confidence=0.9)
    r = runner.score_case(CASE, ps, ans, 5.0, 1.0)
    assert r.fact_correct and r.correct
    assert r.doc_rank == 2 and r.span_rank == 2
    assert r.citation_ok == (True, False) and r.evidence_recall == 1.0


def test_score_case_refusal_and_wrong_answer() -> None:
    refused = runner.score_case(CASE, [], Answer(CASE.question, "I can't say.", refused=True),
                                1.0, 1.0)
    assert refused.fact_correct is False and refused.evidence_recall == 0.0
    assert refused.doc_rank is None and not refused.correct
    wrong = runner.score_case(CASE, [passage("y", TEXT, 1, also_in=(A2,))],
                              Answer(CASE.question, "Twelve [1]", (cite(1, A2, "twelve"),)),
                              1.0, 1.0)
    assert wrong.fact_correct is False and wrong.citation_ok == (False,)
    assert wrong.doc_rank == 1, "a near-duplicate copy counts as the gold document"


def test_a_metadata_answer_is_supported_by_the_cited_publication_date() -> None:
    from dataclasses import replace

    case = runner.Case("m", "When was the article published?", ("2024-03-25|25 March",),
                       (A2,), (), ("date", "metadata"), True)
    dated = replace(cite(1, A2, TEXT), published="2024-03-25")
    ans = Answer(case.question, "Published on 25 March 2024: ... [1]", (dated,))
    assert runner.score_case(case, [], ans, 1.0, 1.0).citation_ok == (True,)
    undated = Answer(case.question, ans.text, (cite(1, A2, TEXT),))
    assert runner.score_case(case, [], undated, 1.0, 1.0).citation_ok == (False,)
    content = replace(case, tags=("date",))  # a content question needs the date in the quote
    assert runner.score_case(content, [], ans, 1.0, 1.0).citation_ok == (False,)


def test_unanswerable_scores_only_refusal() -> None:
    case = runner.Case("u", "When did the UK warn Russia?", (), (), (), ("unanswerable",), False)
    r = runner.score_case(case, [passage(A2, TEXT, 1)], Answer(case.question, "x", refused=True),
                          1.0, 1.0)
    assert r.correct and r.fact_correct is None and r.span_rank is None
    s = runner.summarize_seeds([r])
    assert s["metrics"]["refusal_accuracy"] == 1.0 and s["metrics"]["fact_accuracy"] is None


def test_summarize_seeds_per_category() -> None:
    ok = runner.score_case(CASE, [passage(A2, TEXT, 1)],
                           Answer(CASE.question, "Four [1]", (cite(1, A2, TEXT),), confidence=0.8),
                           10.0, 1.0)
    bad_case = runner.Case("t2", "q", (r"Peskov",), (A2,), ("Peskov said",), ("person",), True)
    bad = runner.score_case(bad_case, [passage(A2, TEXT, 1)],
                            Answer("q", "Four", (), confidence=0.7), 30.0, 1.0)
    s = runner.summarize_seeds([ok, bad])
    mets = s["metrics"]
    assert mets["fact_accuracy"] == 0.5 and mets["hit_rate"] == 0.5 and mets["mrr"] == 0.5
    assert mets["citation_recall"] == 0.5 and mets["false_refusal_rate"] == 0.0
    assert mets["p50_ms"] == 20.0
    assert s["categories"]["number"]["fact_accuracy"] == 1.0
    assert s["categories"]["person"]["fact_accuracy"] == 0.0
    assert sum(b["n"] for b in s["calibration"]) == 2


def test_load_cases_rejects_bad_files(tmp_path: Path) -> None:
    f = tmp_path / "c.jsonl"
    row = {"id": "a", "question": "q", "answers": ["x"], "doc_ids": ["d"], "evidence": "x",
           "tags": [], "answerable": True, "split": "train"}
    f.write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(ValueError, match="duplicate"):
        runner.load_cases(f)
    f.write_text(json.dumps({**row, "answerable": False}) + "\n")
    with pytest.raises(ValueError, match="unanswerable"):
        runner.load_cases(f)
    f.write_text(json.dumps({**row, "split": "test"}) + "\n")
    with pytest.raises(ValueError, match="split"):
        runner.load_cases(f)


def test_summaries_give_train_and_dev_side_by_side_and_the_headline_is_dev() -> None:
    from dataclasses import replace

    dev = replace(CASE, id="d1", split="dev")
    a = runner.score_case(CASE, [], Answer(CASE.question, "Four [1]"), 1.0, 1.0)
    b = runner.score_case(dev, [], Answer(dev.question, "twelve"), 1.0, 1.0)
    s = runner.summarize_seeds([a, b])
    assert s["headline_split"] == "dev" and set(s["splits"]) == {"train", "dev"}
    assert s["splits"]["train"]["fact_accuracy"] == 1.0
    assert s["metrics"]["fact_accuracy"] == s["splits"]["dev"]["fact_accuracy"] == 0.0


def test_gates(tmp_path: Path) -> None:
    t = tmp_path / "t.toml"
    t.write_text('[seeds]\nfact_accuracy = 0.9\nmrr = 0.5\n"Hits@10" = 0.1\n'
                 "[seeds.ceilings]\nfalse_refusal_rate = 0.05\n")
    floors, ceilings = runner.load_thresholds(t, "seeds")
    assert floors == {"fact_accuracy": 0.9, "mrr": 0.5, "Hits@10": 0.1}
    assert ceilings == {"false_refusal_rate": 0.05}
    mets = {"fact_accuracy": 0.95, "mrr": None, "false_refusal_rate": 0.2}
    fails = runner.check_gates(mets, floors, ceilings)
    assert sorted(f.metric for f in fails) == ["Hits@10", "false_refusal_rate"]
    assert runner.check_gates({"fact_accuracy": 0.89}, {"fact_accuracy": 0.9}, {})
    assert not runner.check_gates({"fact_accuracy": 0.9}, {"fact_accuracy": 0.9}, {})


def test_shipped_benchmark_is_intact() -> None:
    multihop.verify_checksums(MULTIHOP_DIR)  # raises on a modified file
    qs = multihop.load_questions()
    assert len(qs) == 2156 and sum(q.is_null for q in qs) == 254
    assert sum(q.split == "dev" for q in qs) == 619 and len(multihop.load_corpus()) == 609
    docs = {d["doc_id"]: d["body"] for d in multihop.load_corpus()}
    for q in qs:
        for e in q.evidence:
            assert e.fact in docs[e.doc_id]
    assert (MULTIHOP_DIR / "README.txt").read_text().count("ODC-BY") >= 1


def test_select_keeps_every_type() -> None:
    qs = multihop.load_questions()
    picked = multihop.select(qs, 8)
    assert len(picked) == 8
    assert {q.question_type for q in picked} == {q.question_type for q in qs}
    assert multihop.select(qs, None) == qs


def test_cached_home_builds_once_and_rebuilds_on_new_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag import Settings

    builds: list[Path] = []

    def build(s: Settings) -> None:
        builds.append(s.home)
        (s.home / "built").write_text("x")

    fp = {"v": "one"}
    monkeypatch.setattr(runner, "index_fingerprint", lambda _s: fp["v"])
    settings = Settings()
    home = runner.cached_home(tmp_path, "mh", "ab" * 32, settings, build, lambda _m: None)
    assert home == tmp_path / "mh-abababababab" / "home" and (home / "built").exists()
    assert runner.cached_home(tmp_path, "mh", "ab" * 32, settings, build, lambda _m: None) == home
    assert len(builds) == 1, "a complete store is reused"
    fp["v"] = "two"
    (home / "stale").write_text("old chunks")
    runner.cached_home(tmp_path, "mh", "ab" * 32, settings, build, lambda _m: None)
    assert len(builds) == 2 and not (home / "stale").exists(), "new ingestion code rebuilds"


def test_the_store_fingerprint_reads_code_not_comments() -> None:
    code = 'def f(x):\n    """Doc."""\n    return x + 1\n'
    commented = 'def f(x):  # Any: a boundary\n    """Doc."""\n\n    return x + 1  # why\n'
    assert runner._code_only(code) == runner._code_only(commented)
    assert runner._code_only(code) != runner._code_only(code.replace("+ 1", "+ 2"))
    assert runner._code_only(code) != runner._code_only(code.replace("Doc.", "Other."))


def test_multihop_answers_are_judged_by_kind() -> None:
    def q(answer: str, ev: tuple[multihop.Evidence, ...] = (multihop.Evidence(A2, "x"),)
          ) -> multihop.Question:
        return multihop.Question("q1", "?", answer, "comparison_query", ev, "dev")

    def judge(question: multihop.Question, ans: Answer) -> bool:
        return multihop.score_question(question, [], ans, 1.0, 1.0).answer_correct

    assert judge(q("Yes"), Answer("?", "Yes: “x” [1]", short="Yes"))
    assert not judge(q("No"), Answer("?", "Yes: “x” [1]", short="Yes"))
    assert not judge(q("Yes"), Answer("?", "The articles don't say.", refused=True))
    # A name counts when the short answer gives it, not when a quote merely holds it.
    assert judge(q("Google"), Answer("?", "Google: “x” [1]", short="Google"))
    assert not judge(q("Google"), Answer("?", "Apple: “Google sued” [1]", short="Apple"))
    assert not judge(q("Consistent"), Answer("?", "Inconsistent.", short="Inconsistent"))
    # The gold's full stop and leading article are not part of the name.
    assert judge(q("Sam Altman."), Answer("?", "Sam Altman: “x” [1]", short="Sam Altman"))
    assert judge(q("The Federal Reserve"),
                 Answer("?", "Federal Reserve: “x” [1]", short="Federal Reserve"))
    assert not judge(q("The Federal Reserve"), Answer("?", "Fed: “x” [1]", short="Fed"))
    assert judge(q("Insufficient information.", ()), Answer("?", "x", refused=True))
