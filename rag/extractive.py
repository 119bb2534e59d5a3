"""The default, offline synthesizer: the short answer, then the source sentences themselves.

Grounded by construction: every sentence of the answer is a verbatim quote of an article,
marked ``[n]``; the only words added are the short answer (a name, a date or a figure found
in the quoted sentence, a resolved date, a day count worked out from two quoted dates,
"Yes" or "No") and, where sources disagree, the words that say so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from rag import combine
from rag.dates import weekday_notes
from rag.decision import says_yes
from rag.evidence import Evidence
from rag.models import Models, shipped
from rag.prepare import Prepared
from rag.settings import Settings
from rag.typed import Candidate
from rag.types import Answer, Article, Citation

# The fitted models' outputs are probabilities: a sentence or a candidate is shown beside the
# best one when it is more likely than not to answer too.
LIKELY = 0.5
MAX_QUOTES = 3


@dataclass(frozen=True)
class Draft:
    """An answer before it is written out: the short answer and the sentences to quote."""

    short: str | None
    quotes: tuple[Evidence, ...]
    lead: str | None = None  # what stands before the quotes when it is not the short answer


class ExtractiveSynthesizer:
    """Leads with the typed answer (or Yes/No) and quotes the sentences that give it."""

    name = "extractive"

    def __init__(self, settings: Settings | None = None, models: Models | None = None) -> None:
        self.settings = settings
        self.models = models

    def answer(self, prepared: Prepared, articles: Mapping[str, Article]) -> Answer:
        final: Answer | None = None
        for item in self.stream(prepared, articles):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def stream(self, prepared: Prepared, articles: Mapping[str, Article]
               ) -> Iterator[str | Answer]:
        """The lead first, then one quoted sentence at a time, then the ``Answer``."""
        draft = compose(prepared, articles, self.models or shipped())
        text_parts: list[str] = []
        citations: list[Citation] = []
        lead = draft.lead or draft.short
        if lead:
            piece = f"{lead}:" if draft.quotes else f"{lead}."
            text_parts.append(piece)
            yield piece
        for n, ev in enumerate(draft.quotes, start=1):
            p = ev.passage
            start, end = readable(ev.text)
            quote = ev.text[start:end]
            citations.append(Citation(
                n=n, doc_id=p.doc_id, title=p.title, published=p.published, quote=quote,
                start=ev.start + start, end=ev.start + end, score=round(ev.score, 4),
                also_in=p.chunk.also_in, note=weekday_notes(quote, p.published),
                source=p.source))
            piece = f"\u201c{quote}\u201d [{n}]"
            yield (" " if text_parts else "") + piece
            text_parts.append(piece)
        yield Answer(question=prepared.query.text, text=" ".join(text_parts),
                     citations=tuple(citations), backend=self.name, short=draft.short,
                     passages=prepared.passages)


# Markup and links a document may carry in its text (an <img> tag, a Markdown image or link, a
# bare URL): quoted back, the answer would carry them to the page or the caller.
_MARKUP = re.compile(r"<[^<>]{1,500}>|!?\[[^\]]{0,200}\]\([^)\s]{0,500}\)|\b(?:https?|ftp)://\S+",
                     re.I)


def readable(sentence: str) -> tuple[int, int]:
    """The span of ``sentence`` to quote: all of it, or, when it carries markup or links, its
    longest stretch without any (still verbatim: a substring of the article)."""
    cuts = [(m.start(), m.end()) for m in _MARKUP.finditer(sentence)]
    if not cuts:
        return 0, len(sentence)
    bounds = [0, *(x for c in cuts for x in c), len(sentence)]
    pieces = [(bounds[i], bounds[i + 1]) for i in range(0, len(bounds), 2)]
    s, e = max(pieces, key=lambda se: len(sentence[se[0]:se[1]].strip()))
    while s < e and sentence[s].isspace():
        s += 1
    while e > s and sentence[e - 1].isspace():
        e -= 1
    return s, e


def compose(prepared: Prepared, articles: Mapping[str, Article], models: Models) -> Draft:
    """What to say: by the kind of question, from the prepared evidence."""
    q = prepared.query
    evidence = prepared.evidence
    if not evidence:
        return Draft(None, ())
    if q.published:
        return _published(prepared)
    worked = combine.work_out(q, evidence, articles)
    if worked is not None:
        return Draft(worked.short, worked.quotes, worked.lead)
    if q.kind in ("yesno", "choice") and prepared.yes is not None:
        return _yes_no(prepared, models)
    if q.typed and prepared.candidates:
        return _typed(prepared)
    return Draft(None, _best_sentences(evidence))


def _published(prepared: Prepared) -> Draft:
    """"When was the X article published?": the article's own date."""
    ev = next((e for e in prepared.evidence if e.passage.published), prepared.evidence[0])
    p = ev.passage
    if not p.published:
        return Draft(None, (ev,))
    day = date.fromisoformat(p.published[:10])
    spoken = f"{day.day} {day:%B %Y}"
    name = f"The {p.source} article" if p.source else "The article"
    return Draft(spoken, (ev,), f"{name} was published on {spoken}")


def _yes_no(prepared: Prepared, models: Models) -> Draft:
    q = prepared.query
    yes = says_yes(prepared.yes or 0.0, models)
    quotes = _best_sentences(prepared.evidence, per_part=True, query_parts=q.clauses)
    if q.kind == "choice" and q.options:
        choice = q.options[0] if yes else q.options[1]
        return Draft(choice[:1].upper() + choice[1:], quotes)
    return Draft("Yes" if yes else "No", quotes)


def _typed(prepared: Prepared) -> Draft:
    q = prepared.query
    cands = list(prepared.candidates)
    best = cands[0]
    if q.plural or (q.count or 0) > 1:
        most = q.count or MAX_QUOTES
        chosen = [best] + [c for c in cands[1:] if c.score >= LIKELY][: most - 1]
        if len(chosen) > 1:
            return Draft(_join([c.text for c in chosen]), _quotes_for(chosen))
    if q.kind in ("when", "how_many"):
        rivals = [c for c in cands[1:] if c.score >= LIKELY and not
                  {e.doc_id for e in c.support} <= {e.doc_id for e in best.support}]
        if rivals:
            chosen = [best, *rivals[: MAX_QUOTES - 1]]
            figures = ", ".join(c.text for c in chosen)
            return Draft(best.text, _quotes_for(chosen),
                         f"The sources disagree ({figures})")
    finer = _finer(best, cands[1:]) if q.kind == "when" else None
    if finer is not None:  # "early this month" and "on March 7", both of the asked event
        return Draft(finer.text, (finer.support[0], best.support[0]))
    text = best.text
    if q.weekday and best.date is not None and best.date.grain == "day":
        text = f"{date.fromisoformat(best.date.iso):%A}, {best.date.spoken()}"
    quotes = [best.support[0]]
    other = next((e for e in best.support[1:] if e.doc_id != best.support[0].doc_id), None)
    if other is not None and other.score >= LIKELY:
        quotes.append(other)  # a second source confirms it
    return Draft(text, tuple(quotes))


def _finer(best: Candidate, others: Sequence[Candidate]) -> Candidate | None:
    """A day inside the best candidate's month or year that hangs from the question's own
    verb as the best one does: the same event, dated more precisely."""
    if best.date is None or best.date.grain == "day" or best.governed < 1.0:
        return None
    return next((c for c in others if c.date is not None and c.date.grain == "day"
                 and c.date.iso.startswith(best.date.iso) and c.governed >= 1.0), None)


def _quotes_for(chosen: Sequence[Candidate]) -> tuple[Evidence, ...]:
    """One supporting sentence per candidate, no sentence twice."""
    out: list[Evidence] = []
    for c in chosen:
        ev = next((e for e in c.support if e not in out), None)
        if ev is not None:
            out.append(ev)
    return tuple(out)


def _best_sentences(evidence: Sequence[Evidence], per_part: bool = False,
                    query_parts: Sequence[str] = ()) -> tuple[Evidence, ...]:
    """The best sentence, and further ones (from other articles) that are likely to answer
    too; for a question of several parts, the best sentence for each part."""
    best = evidence[0]
    chosen = [best]
    if per_part and len(query_parts) > 1:
        from rag.text import terms

        for part in query_parts:
            pt = set(terms(part))
            ev = max(evidence[:10], key=lambda e: (len(pt & set(terms(e.text))), e.score))
            if ev not in chosen and len(chosen) < MAX_QUOTES:
                chosen.append(ev)
        return tuple(chosen)
    for ev in evidence[1:6]:
        if ev.score >= LIKELY and ev.doc_id not in {c.doc_id for c in chosen}:
            chosen.append(ev)
        if len(chosen) == 2:
            break
    return tuple(chosen)


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
