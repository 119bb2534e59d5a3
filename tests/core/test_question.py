"""Question analysis from the parse: kinds, heads, names, options, corrections."""

from __future__ import annotations

import pytest

from rag.names import Sources
from rag.question import Speller, analyze, with_sources


@pytest.mark.parametrize(("question", "kind", "head"), [
    ("When did the US Embassy in Moscow warn about an imminent attack?", "when", "date"),
    ("Which company is being challenged by Epic Games?", "which", "company"),
    ("Who claimed responsibility for the attack?", "who", "person"),
    ("How many people were killed in the attack?", "how_many", "people"),
    ("How long before the attack did the US warn Moscow?", "how_long", "duration"),
    ("What percentage of the vote did Putin win?", "how_many", "percentage"),
    ("What day of the week was the hall attacked?", "when", "day"),
    ("Why does ISIS-K target Russia?", "why", ""),
    ("What did Putin call the US warnings?", "what", ""),
    ("Did the US warning include the precise timing?", "yesno", ""),
    ("is it true that four gunmen stormed the hall", "yesno", ""),
    ("After Powell's hikes were reported by Fortune, did Business Line report a change?",
     "yesno", ""),
    ("Was the portrayal in Fortune consistent or inconsistent with TechCrunch's?", "choice", ""),
])
def test_the_kind_and_head_come_from_the_parse(question: str, kind: str, head: str) -> None:
    q = analyze(question)
    assert (q.kind, q.head) == (kind, head)


def test_when_joining_a_clause_does_not_make_a_date_question() -> None:
    q = analyze("Which band was performing at Crocus City Hall when the attack began?")
    assert q.kind == "which" and q.head == "band"


@pytest.mark.parametrize("opener", ["Under", "Besides", "Regarding", "According to"])
def test_a_capitalised_opener_is_not_a_name(opener: str) -> None:
    q = analyze(f"{opener} the warning, which country told Russia about the attack?")
    assert opener.split()[0] not in " ".join(q.names)
    assert q.kind == "which" and q.head == "country"


def test_names_options_counts_and_years() -> None:
    q = analyze("Which two officials said the US had warned Russia in 2024?")
    assert q.count == 2 and q.plural and {"US", "Russia"} <= set(q.names)
    assert q.years == ("2024",)
    c = analyze("Was it reported before or after the TechCrunch article?")
    assert c.kind == "choice" and c.options == ("before", "after")
    d = analyze("Who is Matthew Miller?")
    assert d.definition and not d.typed


@pytest.mark.parametrize(("question", "options"), [
    # Two modifiers joined by "or" are the options, whatever a comma put before them.
    ("After the Fortune report on the trial, did TechCrunch give a consistent or inconsistent "
     "account?", ("consistent", "inconsistent")),
    ("Between the October and the November articles, has the explanation of prop bets "
     "remained consistent or inconsistent?", ("consistent", "inconsistent")),
    # Phrases offered after a colon or a comma stay whole.
    ("Which came first: the embassy's warning about gatherings or the report of the cell?",
     ("embassy's warning about gatherings", "report of the cell")),
    ("Who said the warning was too general, Naryshkin or Peskov?", ("Naryshkin", "Peskov")),
    # Names are offered whole, a repeated preposition stands for its object, a name or a
    # date keeps its words, a noun its adjective.
    ("Did the Washington Post or the New York Times report the reference?",
     ("Washington Post", "New York Times")),
    ("Was the story covered by the Daily Express or by the Guardian?",
     ("Daily Express", "Guardian")),
    ("Did he call Sergei Shoigu or with Sergei Naryshkin?", ("Sergei Shoigu", "Sergei Naryshkin")),
    ("Was the warning issued on March 7 or on March 20?", ("March 7", "March 20")),
    ("Did Miller call it a private warning or a public one?", ("private warning", "public one")),
])
def test_the_options_offered(question: str, options: tuple[str, str]) -> None:
    q = analyze(question)
    assert q.options == options
    assert q.kind in ("choice", "which", "who")


@pytest.mark.parametrize("question", [
    "On April 3 did the French minister call Shoigu?",  # a fronted phrase, no comma
    "In the TechCrunch article, is the trial described as fair?",
    "Did the embassy warn of attacks?",
])
def test_an_auxiliary_before_the_subject_asks_yes_or_no(question: str) -> None:
    assert analyze(question).kind in ("yesno", "choice")


def test_an_auxiliary_after_a_question_word_does_not() -> None:
    assert analyze("On what date did the French minister call Shoigu?").kind == "when"
    assert analyze("What did the minister say?").kind == "what"
    # An object moved to the front (a misspelt question word) is no fronted phrase.
    assert analyze("Wich think tank does Michael Kugleman work for?").kind != "yesno"


def test_a_misspelt_word_is_corrected_to_a_collection_word() -> None:
    speller = Speller({"peskov": 5, "embassy": 9, "kremlin": 4}, frozenset({"said"}))
    q = analyze("What did Peskof say about the embasy?", {"peskov": 1}, speller)
    assert "peskov" in q.terms and "Peskov" in q.search
    assert "embassy" in q.search and "Peskof" not in q.search and "embasy" not in q.search
    assert speller.correct("x" * 100_000) is None  # bounded: a pasted blob is left alone


def test_the_speller_takes_the_nearest_word_then_the_most_frequent() -> None:
    speller = Speller({"bank": 3, "book": 9, "banks": 50, "kremlin": 4, "intelligence": 2,
                       "peskov": 5}, frozenset({"said"}))
    assert speller.correct("Kremlin") is None and speller.correct("said") is None  # known
    assert speller.correct("bonk") == "book"  # one edit from both: the more frequent
    assert speller.correct("kermlin") == "kremlin"  # a swap of two letters is one edit
    assert speller.correct("inteligense") == "intelligence"  # long words: up to two edits
    assert speller.correct("pskof") is None  # short words: one edit only


def test_with_sources_drops_the_source_words() -> None:
    q = analyze("According to the Daily Express, how many people died?")
    s = with_sources(q, Sources(frozenset({"b"}), frozenset({"daili", "express"})))
    assert s.sources == {"b"} and "express" not in s.terms
    assert all("express" not in p for p in s.pairs) and "kill" in s.terms


@pytest.mark.parametrize(("question", "kind"), [
    # Alternatives of one thing: the answer is one of them.
    ("Did TechCrunch give a consistent or inconsistent account of the trial?", "choice"),
    ("Was the Verge report published before or after the TechCrunch article?", "choice"),
    ("Did Fortune report a larger or smaller drop in the shares?", "choice"),
    # Two topics: "Yes" covers them, so it stays a yes/no question.
    ("Did the article discuss conditions or treatments for the disease?", "yesno"),
    ("Did the report quote the coach or the player after the match?", "yesno"),
])
def test_a_choice_needs_options_that_are_alternatives(question: str, kind: str) -> None:
    from rag.embeddings import get_embedder
    from rag.models import shipped
    from rag.prepare import as_choice

    q = analyze(question)
    assert q.kind == "choice"
    read = as_choice(q, get_embedder(), shipped())
    assert read.kind == kind
    assert (read.options == q.options) == (kind == "choice")
