"""When the evidence can say "No": pure functions over hand-made evidence."""

from __future__ import annotations

from rag.evidence import Evidence
from rag.names import Sources
from rag.nlp import Mention
from rag.question import Query, analyze, with_sources
from rag.types import Article, Chunk, Passage
from rag.yesno import opposed


def _evidence(doc_id: str, text: str, source: str = "",
              mentions: tuple[Mention, ...] = ()) -> tuple[Evidence, Article]:
    art = Article(doc_id=doc_id, title="", text=text, source_path=doc_id, source=source,
                  published="2024-05-10")
    chunk = Chunk(chunk_id=f"{doc_id}-0", doc_id=doc_id, text=text, start=0, end=len(text),
                  source=source)
    return Evidence(Passage(chunk, 1.0, 1), 0, len(text), text, 0.9, 0.8, 0.7,
                    mentions), art


def _opposed(query: Query, *found: tuple[Evidence, Article]) -> bool:
    return opposed(query, [ev for ev, _ in found], {a.doc_id: a for _, a in found})


def test_absence_is_not_a_no() -> None:
    ev = _evidence("a", "The bridge was closed after a storm damaged its cables.")
    assert not _opposed(analyze("Did the mayor resign over the storm?"), ev)


def test_a_negation_a_figure_or_another_name_is_a_no() -> None:
    assert _opposed(analyze("Did the bridge reopen on Friday?"),
                    _evidence("a", "The bridge did not reopen on Friday, Lund said."))
    assert _opposed(analyze("Was the hall stormed by two gunmen?"),
                    _evidence("a", "Four gunmen stormed the hall."))
    text = "ISIS-K is based in Afghanistan."
    start = text.index("Afghanistan")
    assert _opposed(analyze("Is ISIS-K based in Syria?"),
                    _evidence("a", text, mentions=(Mention(start, start + 11, "GPE"),)))


def test_what_a_named_and_found_source_does_not_say_is_a_no() -> None:
    ev = _evidence("x", "The bridge was closed after a storm.", source="Coast Herald")
    q = with_sources(analyze("Does the Coast Herald say the mayor resigned?"),
                     Sources(frozenset({"x"}), frozenset({"coast", "herald"})))
    assert _opposed(q, ev)
    # Named but not among the evidence: its silence is not known.
    other = _evidence("y", "The bridge was closed after a storm.", source="Valley Post")
    assert not _opposed(q, other)
