"""Answers from real indexes (real Chroma, the real embedding model, the shipped fitted
models): typed short answers, yes/no, conflicts, worked-out dates, refusals; every quote
verbatim and every marker cited."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from rag import Engine, InvalidQuestion
from rag.types import Answer
from tests.conftest import Story, story_engine


def assert_verbatim(engine: Engine, ans: Answer) -> None:
    arts = engine.articles()
    for c in ans.citations:
        assert arts[c.doc_id].text[c.start : c.end] == c.quote
        assert f"[{c.n}]" in ans.text
    markers = {int(m) for m in re.findall(r"\[(\d+)\]", ans.text)}
    assert markers == {c.n for c in ans.citations}


# A small collection written for these tests: the mechanisms, not the bundled articles.
STORY: Story = {
    "harbour-a": ("Harbour bridge closed after storm", "2024-05-10", "Coast Herald",
                  "The Riverton harbour bridge was closed on Tuesday after a storm damaged "
                  "its cables. Mayor Ana Kovac said engineers from Delmont Steel would inspect "
                  "it. At least 40 ships were stranded in the harbour.\n\n"
                  "The city first warned about the cables on April 2. Kovac said the repair "
                  "would cost 3 million euros."),
    "harbour-b": ("Storm strands ships at Riverton", "2024-05-11", "Valley Post",
                  "Some 55 ships were stranded in Riverton harbour when the bridge closed. "
                  "Harbour master Piet Lund said the port of Bellac had offered tugs. "
                  "The bridge did not reopen on Friday, Lund said."),
}


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return story_engine(tmp_path_factory.mktemp("story"), STORY)


@pytest.mark.xfail(strict=True, reason="issue 12 open: the fitted answerable model refuses "
                   "(P 0.44 under the train-fitted threshold 0.95) although the top candidate "
                   "is right: over-refusal, also seen on seeds dev (false refusals 0.34)")
def test_a_typed_question_leads_with_the_named_thing(story: Engine) -> None:
    ans = story.answer("Which company will inspect the bridge?")
    assert not ans.refused and ans.short and "Delmont Steel" in ans.short
    assert ans.text.startswith(ans.short)
    assert_verbatim(story, ans)


def test_a_weekday_becomes_a_calendar_date(story: Engine) -> None:
    ans = story.answer("When was the harbour bridge closed?")
    assert not ans.refused
    assert ans.short == "7 May 2024"  # "on Tuesday" in a piece of Friday 10 May 2024
    assert any(c.note == "Tuesday = 2024-05-07" for c in ans.citations)
    assert_verbatim(story, ans)


@pytest.mark.xfail(strict=True, reason="issue 12 open: the second figure (55) scores 0.47, under "
                   "the 0.5 a rival needs, though both hang from 'stranded'")
def test_sources_that_disagree_are_both_shown(story: Engine) -> None:
    ans = story.answer("How many ships were stranded in the harbour?")
    assert not ans.refused
    assert "disagree" in ans.text and "40" in ans.text and "55" in ans.text
    assert {c.doc_id for c in ans.citations} == {"harbour-a", "harbour-b"}
    assert_verbatim(story, ans)


def test_days_between_two_dated_events_are_worked_out(story: Engine) -> None:
    ans = story.answer("How many days passed between the first warning about the cables and "
                       "the closing of the bridge?")
    assert ans.short == "35 days"  # April 2 to Tuesday 7 May 2024
    assert len(ans.citations) == 2
    assert_verbatim(story, ans)


@pytest.mark.xfail(strict=True, reason="issue 12 open: the yesno model (CV AUROC 0.59 on train, "
                   "fitted mostly on MultiHop comparisons) does not read 'did not reopen' as No")
def test_yes_and_no_are_said_with_their_evidence(story: Engine) -> None:
    yes = story.answer("Was the harbour bridge closed after a storm?")
    assert yes.short == "Yes" and yes.text.startswith("Yes:") and yes.citations
    no = story.answer("Did the bridge reopen on Friday?")
    assert no.short == "No" and no.citations
    assert_verbatim(story, no)


def test_unknown_things_are_refused_in_one_sentence(story: Engine) -> None:
    for q in ("What is the capital of France?", "Who won the 2022 World Cup?"):
        ans = story.answer(q)
        assert ans.refused and ans.citations == () and ans.short is None
        assert ans.text.count(".") == 1
    assert story.answer("Did the mayor resign over the storm?").text == "The articles don't say."


# ---- the bundled articles -----------------------------------------------------------------


def test_when_did_the_us_warn_russia(engine: Engine) -> None:
    ans = engine.answer("when did the US warn Russia?")
    assert not ans.refused
    assert re.search(r"March 7|7 March|early this month|earlier this month", ans.text)
    assert 0.0 < ans.confidence <= 1.0
    assert_verbatim(engine, ans)


def test_when_an_article_was_published_comes_from_its_date(engine: Engine) -> None:
    ans = engine.answer("When was the Daily Express article about Putin dismissing the US "
                        "warning published?")
    assert ans.text.startswith("The Daily Express US article was published on 25 March 2024")
    assert ans.short == "25 March 2024"
    assert [c.published for c in ans.citations] == ["2024-03-25"]
    assert_verbatim(engine, ans)


def test_quotes_are_verbatim_for_many_questions(engine: Engine) -> None:
    for q in ["What did Putin call the US warnings?", "Who is Adrienne Watson?",
              "Which group claimed responsibility?", "what did peskov say about the warning",
              "Did Iran warn Russia too?", "How many people died?"]:
        ans = engine.answer(q)
        assert_verbatim(engine, ans)
        assert ans.refused or ans.citations, q


def test_to_dict_is_json_and_records_the_passages_used(engine: Engine) -> None:
    ans = engine.answer("Who claimed responsibility for the attack?")
    d = json.loads(json.dumps(ans.to_dict()))
    assert d["text"] == ans.text and d["refused"] is False and d["short"] == ans.short
    assert [c["quote"] for c in d["citations"]] == [c.quote for c in ans.citations]
    assert set(d["citations"][0]) >= {"n", "doc_id", "title", "published", "quote", "start",
                                      "end", "score"}
    assert [p["rank"] for p in d["passages"]] == list(range(1, len(ans.passages) + 1))
    assert {c.doc_id for c in ans.citations} <= {p.doc_id for p in ans.passages}


def test_retrieve_returns_ranked_passages(engine: Engine) -> None:
    ps = engine.retrieve("Crocus City Hall death toll", k=5)
    assert [p.rank for p in ps] == list(range(1, len(ps) + 1)) and len(ps) == 5
    assert ps[0].score >= ps[-1].score
    arts = engine.articles()
    for p in ps:
        assert arts[p.doc_id].text[p.start : p.end] == p.text and p.chunk_id


def test_retrieval_spreads_over_articles_without_overlapping_windows(engine: Engine) -> None:
    ps = engine.retrieve("How did the US warn Russia about the attack?", k=8)
    # The four distinct articles (004 is folded into 003) each get a place ...
    assert {p.doc_id[:3] for p in ps} == {"000", "001", "002", "003"}
    # ... and no passage repeats text another passage of its article already holds.
    for a in ps:
        for b in ps:
            assert a is b or a.doc_id != b.doc_id or a.end <= b.start or b.end <= a.start


def test_the_article_model_reads_real_candidates(engine: Engine) -> None:
    from rag.retrieval import ARTICLE_FEATURES

    found = engine.parts.retriever.candidates("How did the US warn Russia about the attack?", 8)
    assert found.features is not None and found.features.names == ARTICLE_FEATURES
    assert len(found.features) == len(found.passages) > 8
    # every candidate's sentences have stored vectors: similarities are real cosines
    sims = found.features.column("sentence_sim")
    assert (sims > 0.2).all() and (sims <= 1.0001).all()
    assert (found.features.column("article_sim") >= sims - 1e-6).all()
    model = engine.models.get("article")
    assert model is not None  # shipped in rag/models.json
    chance = model.prob(found.features)
    assert chance.shape == (len(found.passages),) and ((chance >= 0) & (chance <= 1)).all()


def test_candidate_similarities_are_each_passage_s_best_sentence_cosine(engine: Engine) -> None:
    retriever = engine.parts.retriever
    q = "Which Russian officials denied that Moscow received a warning?"
    vec = engine.embedder.embed([q])[0]
    passages = list(retriever.candidates(q, 8).passages)
    got = retriever._similarity(passages, engine.articles(), vec)
    index = retriever.sentence_index()
    for p in passages:
        art = engine.articles()[p.doc_id]
        vecs = np.asarray(index.of(art), np.float32)
        sims = [float(v @ vec) for v, (s, e) in zip(vecs, art.sentences())
                if s < p.end and e > p.start]
        assert got[p.chunk_id] == pytest.approx((max(sims), float((vecs @ vec).max())))


def test_the_question_parsed_on_its_thread_is_what_one_thread_would_give(
        engine: Engine) -> None:
    from rag import prepare
    from rag.question import analyze

    parts = engine.parts
    lexical = parts.retriever.lexical_index()
    for q in ("When did the US warn Russia?", "Did Putin call the warnings provocative?",
              "Which agnecy did Naryshkin talk to?"):  # misspelt: the speller runs there too
        query, vec, dense = prepare.searched(parts, q, 8)
        assert query == analyze(q, lexical.df, parts.speller(lexical))
        assert np.array_equal(vec, engine.embedder.embed([q])[0])
        assert dense == parts.retriever.dense_for(vec, 8) and dense
        assert ([p.chunk_id for p in parts.retriever.retrieve(q, 8, vec, dense=dense)]
                == [p.chunk_id for p in parts.retriever.retrieve(q, 8, vec)])


def test_a_failed_search_fails_the_question_and_the_parser_thread_goes_on(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from rag import prepare
    from rag.errors import StoreError

    def broken(vector: np.ndarray, k: int) -> None:
        raise StoreError("the search failed")

    with monkeypatch.context() as m:
        m.setattr(engine.parts.retriever, "dense_for", broken)
        with pytest.raises(StoreError):
            prepare.searched(engine.parts, "Who claimed the attack?", 8)
    assert prepare.searched(engine.parts, "Who claimed the attack?", 8)[2]


def test_a_named_publisher_ranks_its_article_first(engine: Engine) -> None:
    ps = engine.retrieve("What did the Daily Express US report about the warning?", k=5)
    assert ps[0].doc_id.startswith("000")  # the Daily Express US article


def test_duplicate_sources_are_listed_on_citations(engine: Engine) -> None:
    ans = engine.answer("What did Matthew Miller say about Ukrainian involvement?")
    c = next(c for c in ans.citations if c.doc_id.startswith("003"))
    assert c.also_in == ("004_b0e8c07438467e07",)


@pytest.mark.parametrize("bad", ["", "   \n\t", "x" * 2001, None])
def test_bad_questions_are_clear_errors(engine: Engine, bad: object) -> None:
    with pytest.raises(InvalidQuestion):
        engine.answer(bad)  # type: ignore[arg-type]
