"""The default, offline synthesizer: answers with the source sentences themselves.

Grounded by construction: every sentence of the answer is a verbatim quote of an article,
marked ``[n]``; the only words added are a short lead (the date, number or name asked for)
copied from the quote it stands before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, timedelta

from rag.embeddings import get_embedder
from rag.evidence import (
    NUMBER_RX,
    WEEKDAY_RX,
    Evidence,
    Query,
    SentenceCache,
    analyze,
    date_rx,
    mentions,
    named_sources,
    score_sentences,
    without,
)
from rag.settings import Settings
from rag.text import terms
from rag.types import Answer, Article, Citation, Passage

MAX_SENTENCES = 3


class ExtractiveSynthesizer:
    """Picks the sentences that answer the question and quotes them, each cited."""

    name = "extractive"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings
        self._cache: SentenceCache | None = None

    def answer(self, question: str, passages: list[Passage], articles: Mapping[str, Article],
               evidence: Sequence[Evidence] | None = None) -> Answer:
        query = analyze(question)
        sources = named_sources(question, articles, passages)
        if sources.docs:  # as the engine does: the named articles speak
            query = without(query, sources)
        if evidence is None:
            evidence = self._score(query, passages)
        chosen = select(query, evidence)
        text, citations = render(query, chosen)
        return Answer(question=question, text=text, citations=tuple(citations),
                      backend=self.name)

    def stream(self, question: str, passages: list[Passage], articles: Mapping[str, Article],
               evidence: Sequence[Evidence] | None = None) -> Iterator[str | Answer]:
        ans = self.answer(question, passages, articles, evidence)
        yield ans.text
        yield ans

    def _score(self, query: Query, passages: Sequence[Passage]) -> list[Evidence]:
        """Stand-alone use (no engine): idf from the passages themselves."""
        emb = get_embedder()
        if self._cache is None:
            self._cache = SentenceCache(emb)
        df: dict[str, int] = {}
        for p in passages:
            for t in set(terms(p.text)):
                df[t] = df.get(t, 0) + 1
        n = len(passages) or 1

        def idf(t: str) -> float:
            return 1.0 + (n - df.get(t, 0)) / n

        return score_sentences(query, emb.embed([query.text])[0], passages, self._cache, idf)


def select(query: Query, evidence: Sequence[Evidence]) -> list[Evidence]:
    """One to three sentences, the most direct first, no repeats.

    A second sentence is added only when it earns its place: another source giving a
    different figure (a disagreement is shown, not hidden), another part of a list the
    question asks for ("which countries..."), or another source confirming the same date.
    """
    if not evidence:
        return []
    best = evidence[0]
    if query.published:  # the article's date, shown with its best sentence to say which one
        return [next((ev for ev in evidence if ev.passage.published), best)]
    if query.kind == "when":
        best = _consensus(query, evidence) or best
    if query.kind == "where":
        best = _place_consensus(evidence) or best
    chosen = [best]
    if query.kind == "number":
        if not _figure(best.text):  # a sentence with the figure asked for, if one is close
            best = next((ev for ev in evidence[1:8] if _figure(ev.text)
                         and ev.score >= 0.75 * best.score), best)
            chosen = [best]
        figures = {_figure(best.text)}
        for ev in evidence[:12]:
            fig = _figure(ev.text)
            if (fig and fig not in figures and ev.score >= 0.6 * best.score
                    and ev.dense >= 0.8 * best.dense and len(chosen) < MAX_SENTENCES):
                chosen.append(ev)
                figures.add(fig)
        for doc in sorted(query.sources - {c.passage.doc_id for c in chosen}):
            # "the TURAN report and the Daily Express": each named source gives its figure
            ev = next((e for e in evidence if e.passage.doc_id == doc and _figure(e.text)), None)
            if ev is not None and len(chosen) < MAX_SENTENCES:
                chosen.append(ev)
        return chosen
    if _LIST_RX.search(query.text):
        verb = query.verb if query.verb in terms(best.text) else ""
        count = re.search(r"\b(?:which|what)\s+(two|three)\b", query.text, re.IGNORECASE)
        most = {"two": 2, "three": 3}[count.group(1).lower()] if count else MAX_SENTENCES
        for ev in evidence[:8]:
            if (ev is not best and ev.score >= 0.7 * best.score and len(chosen) < most
                    and all(_distinct(ev, c) for c in chosen)
                    and (not verb or verb in terms(ev.text)) and _new_name(query, ev, chosen)):
                chosen.append(ev)
        return chosen
    if query.kind == "when":
        key = {date_key(p) for p, w in mentions(query, best.text, date_rx(query)) if w >= 0.8}
        for ev in evidence[:8]:
            same_doc = ev.passage.doc_id == best.passage.doc_id
            if ev is best or ev.score < 0.8 * best.score or same_doc:
                continue
            if key & {date_key(p) for p, _ in mentions(query, ev.text, date_rx(query))}:
                chosen.append(ev)  # a second source confirms the date
                break
    return chosen


# Questions whose answer is a list: "which countries", "which two officials", "who ... and who".
_LIST_RX = re.compile(
    r"\b(?:which|what)\s+(?:two|three|several|(?!news\b|does\b|was\b|is\b|has\b)"
    r"\w+(?:ies|[^s\W]s))\b|\bwho\b.*\band who\b|\bboth\b", re.IGNORECASE)


def date_key(phrase: str) -> str:
    """"on March 7" / "7 March" / "March 7th" -> "march 7": one key per date."""
    p = re.sub(r"^(?:on|by|since|last|this|next)\s+", "", phrase.lower()).strip()
    p = re.sub(r"(\d)(?:st|nd|rd|th)\b", r"\1", p)
    m = re.fullmatch(r"(\d{1,2})\s+([a-z]+)(.*)", p)
    return f"{m.group(2)} {m.group(1)}{m.group(3)}" if m else p


# Sentences this close to the best one vote on the answer; weaker ones are about other things.
CONSENSUS = 0.75
_PLACE_NAME_RX = re.compile(r"\b(?:in|at|near|outside|on the outskirts of)\s+(?:the\s+)?"
                            r"([A-Z][\w-]+(?:\s+[A-Z][\w-]+)*)")


def _vote(evidence: Sequence[Evidence],
          answers: Callable[[Evidence], Iterable[tuple[str, float]]]) -> Evidence | None:
    """The answer the strong sentences give most (each vote weighted by the sentence's score
    and the answer's weight in it), and the best sentence giving it."""
    top = evidence[0].score
    votes: dict[str, float] = {}
    holder: dict[str, Evidence] = {}
    for ev in evidence[:12]:
        if ev.score < CONSENSUS * top:
            break
        for key, weight in answers(ev):
            votes[key] = votes.get(key, 0.0) + ev.score * weight
            holder.setdefault(key, ev)
    if not votes:
        return None
    return holder[max(votes, key=lambda k: votes[k])]


def _consensus(query: Query, evidence: Sequence[Evidence]) -> Evidence | None:
    """For "when": the date most strong sentences give next to the asked-about words."""
    return _vote(evidence, lambda ev: [(date_key(p), w) for p, w in
                                       mentions(query, ev.text, date_rx(query))])


def _place_consensus(evidence: Sequence[Evidence]) -> Evidence | None:
    """For "where": the place most of the strong sentences name."""
    return _vote(evidence, lambda ev: [(name, 1.0) for name in
                                       {m.group(1) for m in _PLACE_NAME_RX.finditer(ev.text)}])


def _figure(text: str) -> str | None:
    """The casualty-style figure a sentence gives ("over 130", "137", "144"), if any."""
    m = re.search(r"(?:over|more than|at least|about|around|nearly)?\s*\b(\d{2,}[\d,]*)\b"
                  r"(?=\s+(?:people|lives|dead|killed|victims|deaths|persons))"
                  r"|\b(?:claiming|killing|killed)\s+(?:over|more than|at least|about)?\s*"
                  r"(\d{2,}[\d,]*)", text)
    return (m.group(1) or m.group(2)) if m else None


def _names(text: str) -> set[str]:
    """Capitalised words not opening the sentence: the names a sentence holds."""
    words = re.findall(r"(?<=[\w,;:’”\"] )[A-Z][\w’'.\-]*", text)
    return {t for w in words for t in terms(w)}


def _new_name(query: Query, ev: Evidence, chosen: Sequence[Evidence]) -> bool:
    """A further item of a list names something the question and the items so far do not,
    and covers a name of the question they leave out, if any."""
    said = set().union(*(terms(c.text) for c in chosen))
    missing = set(query.entities) - said
    if missing and not missing & set(terms(ev.text)):
        return False  # "who for the State Department and who for the NSC": the other part
    known = set(query.terms).union(*(_names(c.text) for c in chosen))
    return bool(_names(ev.text) - known)


def _distinct(a: Evidence, b: Evidence) -> bool:
    ta, tb = set(terms(a.text)), set(terms(b.text))
    return len(ta & tb) / (len(ta | tb) or 1) < 0.5


def lead(query: Query, best: Evidence) -> str:
    """The fact asked for, copied from the best sentence, to stand first."""
    if query.published:
        p = best.passage
        if not p.published:
            return ""
        pub = date.fromisoformat(p.published[:10])
        name = f"The {p.source} article" if p.source else "The article"
        return f"{name} was published on {pub.day} {pub:%B %Y}"
    if query.kind == "when":
        dates = [m.group() for m in date_rx(query).finditer(best.text)]
        full = [d for d in dates if re.search(r"\d", d) and not re.fullmatch(r"\d{4}", d)]
        pick = (full or dates or [""])[0]
        return pick[0].upper() + pick[1:] if pick else ""
    if query.kind == "number":
        fig = _figure(best.text)
        if fig:
            m = re.search(rf"(?:over|more than|at least|about|around|nearly)?\s*{fig}", best.text)
            return m.group().strip() if m else fig
        m = NUMBER_RX.search(best.text)
        return m.group() if m else ""
    return ""


_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def resolve_weekdays(text: str, published: str | None) -> str | None:
    """"on Tuesday" in a piece published Monday 25 March 2024 -> "Tuesday = 2024-03-19".

    News writes weekdays for the days just before publication; a weekday equal to the
    publication's own is ambiguous (that day, or a week before) and left alone."""
    if not published:
        return None
    try:
        pub = date.fromisoformat(published[:10])
    except ValueError:
        return None
    notes = []
    for m in WEEKDAY_RX.finditer(text):
        day = _WEEKDAYS.index(m.group().lower())
        back = (pub.weekday() - day) % 7
        if back:
            when = pub - timedelta(days=back)
            note = f"{m.group().capitalize()} = {when.isoformat()}"
            if note not in notes:
                notes.append(note)
    return "; ".join(notes) or None


def render(query: Query, chosen: Sequence[Evidence]) -> tuple[str, list[Citation]]:
    """Answer text with ``[n]`` markers and the citations they point at."""
    citations: list[Citation] = []
    parts: list[str] = []
    for n, ev in enumerate(chosen, start=1):
        p = ev.passage
        citations.append(Citation(n=n, doc_id=p.doc_id, title=p.title, published=p.published,
                                  quote=ev.text, start=ev.start, end=ev.end,
                                  note=resolve_weekdays(ev.text, p.published),
                                  score=round(ev.score, 4), also_in=p.chunk.also_in,
                                  source=p.source))
        parts.append(f"{ev.text} [{n}]")
    if not chosen:
        return "", citations
    head = lead(query, chosen[0])
    if query.kind == "number" and len({_figure(c.text) for c in chosen} - {None}) > 1:
        head = "The sources give different figures"
    body = " ".join(parts)
    return (f"{head}: {body}" if head else body), citations
