"""Typed answers: numbers by value, names with their shorter forms, matches to gold."""

from __future__ import annotations

import pytest

from rag.typed import matches, number_value


@pytest.mark.parametrize(("text", "value"), [
    ("16,000", "16000"), ("four", "4"), ("over 130", "130"), ("2.5 million", "2.5"),
    ("none", None),
])
def test_number_values(text: str, value: str | None) -> None:
    assert number_value(text) == value


def test_a_candidate_matches_the_gold_answer_by_name() -> None:
    assert matches("Sam Bankman-Fried", "Sam Bankman-Fried")
    assert matches("Bankman-Fried", "Sam Bankman-Fried")
    assert matches("the New York Times", "New York Times")
    assert not matches("Sam Altman", "Sam Bankman-Fried")


def test_a_date_belongs_to_the_verb_it_hangs_from() -> None:
    from rag.nlp import governors
    from rag.typed import _governed

    s = ("The United States said on Monday that it had warned Russia early this month about "
         "a planned attack.")
    monday, early = s.index("on Monday"), s.index("early this month")
    assert governors(s, monday, monday + 9)[0] == "say"
    assert governors(s, early, early + 16)[0] == "warn"
    warn = {"warn", "russia", "us"}  # the stems of "when did the US warn Russia?"
    assert _governed(s, early, early + 16, warn) == 1.0
    assert _governed(s, monday, monday + 9, warn) == 0.0


def test_markup_and_links_are_left_out_of_quotes() -> None:
    from rag.extractive import readable

    s = ('Four gunmen were held. <img src="http://evil.example/p.png"> The suspects were '
         'detained in the Bryansk region, police said.')
    a, b = readable(s)
    assert s[a:b] == "The suspects were detained in the Bryansk region, police said."
    assert readable("No markup here.") == (0, 15)


def _name_candidate(text: str, body: str, names: list[tuple[str, str]]) -> tuple[object, dict]:
    """A candidate ``text`` supported by the first sentence of an article ``body`` whose
    tagger found ``names`` (text, label), each at its next place in the body."""
    from rag.evidence import Evidence
    from rag.nlp import Annotation, Mention
    from rag.typed import Candidate
    from rag.types import Article, Chunk, Passage

    at: dict[str, int] = {}
    spans = []
    for t, label in names:  # a name given twice is its first two places
        i = body.index(t, at.get(t, 0))
        at[t] = i + len(t)
        spans.append(Mention(i, i + len(t), label))
    mentions = tuple(sorted(spans))
    art = Article(doc_id="a", title="", text=body, source_path="a",
                  annotation=Annotation(((0, len(body)),), mentions))
    ev = Evidence(Passage(Chunk("a-0", "a", body, 0, len(body)), 1.0, 1), 0, len(body), body,
                  0.9, 0.8, 0.7)
    label = next((lab for t, lab in names if t == text), "PERSON")
    return Candidate(text, label, f"name:{text}", (ev,)), {"a": art}


@pytest.mark.parametrize(("found", "body", "names", "shown"), [
    ("Bankman-Fried", "Sam Bankman-Fried founded FTX. Later Bankman-Fried was tried. "
     "Sam Bankman-Fried spoke.",
     [("Sam Bankman-Fried", "PERSON"), ("Bankman-Fried was", "PERSON"),
      ("Sam Bankman-Fried", "PERSON")], "Sam Bankman-Fried"),
    # A bare surname is the person introduced first, not a relative named after.
    ("Bankman-Fried", "Sam Bankman-Fried's trial began. Gabe Bankman-Fried testified, and "
     "Gabe Bankman-Fried left. Sam Bankman-Fried smiled. Bankman-Fried denied it.",
     [("Sam Bankman-Fried's", "PERSON"), ("Gabe Bankman-Fried", "PERSON"),
      ("Gabe Bankman-Fried", "PERSON"), ("Sam Bankman-Fried", "PERSON")],
     "Sam Bankman-Fried"),
    # Two names the tagger ran together are not a fuller form.
    ("Apple", "Google said so. Google Apple deals grew. Google Apple again.",
     [("Google", "ORG"), ("Google Apple", "ORG"), ("Google Apple", "ORG")], "Apple"),
    # A place before a team's name is part of it: the place is named alone as a place.
    ("Vikings", "Minnesota Vikings won in Minnesota. The Minnesota Vikings lead.",
     [("Minnesota Vikings", "ORG"), ("Minnesota", "GPE"), ("Minnesota Vikings", "ORG")],
     "Minnesota Vikings"),
    # A person's first name alone does not make it a name of its own.
    ("Spears", "Britney Spears spoke. Britney sang. Britney Spears left.",
     [("Britney Spears", "PERSON"), ("Britney", "PERSON"), ("Britney Spears", "PERSON")],
     "Britney Spears"),
    # A person's first name is the person's.
    ("Britney", "Britney Spears spoke. Britney sang. Britney Spears left.",
     [("Britney Spears", "PERSON"), ("Britney", "PERSON"), ("Britney Spears", "PERSON")],
     "Britney Spears"),
    # A person's full name wins over a longer mention the tagger calls something else.
    ("Altman", "The Information Altman piece ran. Sam Altman left. The Information Altman "
     "again. Sam Altman too.",
     [("The Information Altman", "ORG"), ("Sam Altman", "PERSON"),
      ("The Information Altman", "ORG"), ("Sam Altman", "PERSON")], "Sam Altman"),
    # Initials and a clipped first word name the full name.
    ("RA", "Rugby Australia (RA) met. Rugby Australia agreed. RA said so.",
     [("Rugby Australia", "ORG"), ("RA", "ORG"), ("Rugby Australia", "ORG")],
     "Rugby Australia"),
    ("Fed", "The Federal Reserve held. Federal Reserve officials spoke. The Fed waits.",
     [("Federal Reserve", "ORG"), ("Federal Reserve", "ORG"), ("Fed", "ORG")],
     "Federal Reserve"),
    # A form the collection gives once is a heading run into a name, not a fuller name.
    ("Haaland", "GO DEEPER Erling Haaland scores. Haaland scored again.",
     [("GO DEEPER Erling Haaland", "PERSON"), ("Haaland", "PERSON")], "Haaland"),
])
def test_a_one_word_name_is_shown_by_its_fuller_form_in_the_same_article(
        found: str, body: str, names: list[tuple[str, str]], shown: str) -> None:
    from rag.typed import in_full

    c, arts = _name_candidate(found, body, names)
    assert [x.text for x in in_full([c], arts)] == [shown]


def test_a_name_takes_the_label_the_collection_gives_it_most_often() -> None:
    from rag.typed import known

    body = ("Sam Altman spoke. Sam Altman left. Sam Altman returned. Altman smiled. "
            "Israel voted.")
    _, arts = _name_candidate("Altman", body, [
        ("Sam Altman", "PERSON"), ("Sam Altman", "GPE"), ("Sam Altman", "PERSON"),
        ("Altman", "GPE"), ("Israel", "GPE")])
    names = known(arts)
    # One sentence tagged it GPE; the collection tags "Sam Altman" PERSON twice to once.
    assert names.label_of(["Sam Altman"], "GPE") == "PERSON"
    # Forms of one name vote together; a tie keeps the sentence's own tag.
    assert names.label_of(["Altman", "Sam Altman"], "GPE") == "GPE"
    assert names.label_of(["Altman", "Sam Altman"], "PERSON") == "PERSON"
    assert names.label_of(["Altman"], "ORG") == "GPE"
    # A form never tagged as a name keeps the sentence's tag.
    assert names.label_of(["Wang"], "ORG") == "ORG"
    assert known(arts) is names  # computed once per mapping of articles


def test_offered_answers_narrow_the_candidates_when_the_evidence_names_one() -> None:
    from rag.embeddings import get_embedder
    from rag.question import analyze
    from rag.typed import gather, known

    body = "Reuters said Iran, a Russian ally, had warned Moscow. France sent its condolences."
    c, arts = _name_candidate("Iran", body, [("Reuters", "ORG"), ("Iran", "GPE"),
                                             ("Russian", "NORP"), ("Moscow", "GPE"),
                                             ("France", "GPE")])
    from dataclasses import replace

    ev = c.support[0]  # type: ignore[attr-defined]
    evidence = [replace(ev, mentions=arts["a"].annotation.mentions)]

    def found(question: str) -> set[str]:
        q = analyze(question)
        return {x.text for x in gather(q, evidence, arts, get_embedder(), known(arts)).candidates}

    assert found("Which country warned Moscow, Iran or France?") == {"Iran", "France"}
    # Offered words that name no candidate leave them all.
    assert found("Which country warned of attacks on stadiums or concert halls?") >= {
        "Iran", "France", "Moscow"}
