"""Names: which articles a question names as its sources, and when two names are one.

A question may name its sources by publisher ("according to the Daily Express", "the
TechCrunch article"), by publication date ("the article published on December 15, 2023") or by
a name the article carries ("the TURAN report"). Those names find the articles; they are not
facts the answer must contain.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rag.dates import FULL_DATE_RX, dates_named
from rag.text import fold, terms
from rag.types import Article, Passage

_RUN = r"[A-Z][\w.'’&\-]*(?:\s+(?:of\s+|&\s+|the\s+)?[A-Z][\w.'’&\-]*)*"
_CAPS_RX = re.compile(_RUN)
# "according to RIA Novosti", "the TURAN report", "the Verge article": a source by name.
_CITED_RX = re.compile(rf"\baccording to (?:the\s+)?({_RUN})|\b(?:the|a|an)\s+({_RUN})(?:'s)?\s+"
                       r"(?:report|reports|article|articles|story|piece|account|coverage)\b")
_PUBLISHED_ON_RX = re.compile(r"\b(?:published|posted|reported|released|dated|from)\s+(?:on\s+)?"
                              rf"(?:{FULL_DATE_RX.pattern})", re.IGNORECASE)


@dataclass(frozen=True)
class Sources:
    """The articles a question names as its sources, and the words that named them."""

    docs: frozenset[str] = frozenset()
    words: frozenset[str] = frozenset()


@lru_cache(maxsize=4096)
def name_terms(name: str) -> frozenset[str]:
    """A name's terms, analysed once (publisher names are compared on every question)."""
    return frozenset(terms(name))


@lru_cache(maxsize=256)
def _all_terms(text: str) -> frozenset[str]:
    """Every term of an article (its title, publisher and text): cached, since the same
    articles are retrieved for many questions that name a source ("the TURAN report");
    256 articles' sets are ~10 MB."""
    return frozenset(terms(text))


def _publisher_groups(question: str, articles: Mapping[str, Article]
                      ) -> list[tuple[frozenset[str], frozenset[str]]]:
    """For each publisher the question names: its articles and the words that named it. A
    publisher is named by its whole name, capitalised ("The Independent - Life and Style"),
    or by most of its words in one capitalised run ("the Verge" for "The Verge", not "US"
    for "Daily Express US"); words that a whole name took name no other publisher ("The
    Independent - Sports" is not named by "The Independent - Life and Style")."""
    runs = [set(terms(r)) for r in _CAPS_RX.findall(question.replace("'", " ").replace('"', " "))]
    by_publisher: dict[str, set[str]] = {}
    for a in articles.values():
        if a.source:
            by_publisher.setdefault(a.source, set()).add(a.doc_id)
    whole = [name for name in by_publisher if _names_whole(question, name)]
    taken = frozenset().union(*(name_terms(n) for n in whole))
    groups = [(frozenset(by_publisher[n]), name_terms(n)) for n in whole]
    for name, ids in by_publisher.items():
        pub = name_terms(name)
        if name in whole:
            continue
        for run in runs:
            hit = run & pub if len(run) > len(pub) else run
            if hit and pub and hit <= pub and 2 * len(hit) >= len(pub) and not hit <= taken:
                groups.append((frozenset(ids), frozenset(hit)))
                break
    return groups


@lru_cache(maxsize=4096)
def _whole_name_rx(name: str) -> re.Pattern[str] | None:
    words = re.findall(r"\w+", name)
    if not words:
        return None
    return re.compile(r"\b" + r"\W+".join(map(re.escape, words)) + r"\b", re.IGNORECASE)


def _names_whole(question: str, name: str) -> bool:
    """Whether the question spells the publisher's whole name, starting with a capital
    (punctuation between its words aside)."""
    rx = _whole_name_rx(name)
    return rx is not None and any(question[m.start()].isupper() or question[m.start()].isdigit()
                                  for m in rx.finditer(question))


def publishers_named(question: str, articles: Mapping[str, Article]) -> Sources:
    """Every article by a publisher the question names."""
    groups = _publisher_groups(question, articles)
    return Sources(frozenset().union(*(d for d, _ in groups)),
                   frozenset().union(*(w for _, w in groups)))


def named_sources(question: str, articles: Mapping[str, Article],
                  passages: Sequence[Passage]) -> Sources:
    """Articles the question attributes the fact to: by publisher, any article in the
    collection, narrowed to the ones of a publication date the question gives ("the
    TechCrunch article published on December 15, 2023"); or by a name the article carries
    ("the TURAN report"), looked for only among the articles the ``passages`` come from, so
    the cost does not grow with the collection. Empty when the question names none, or a
    name no article carries."""
    groups = _publisher_groups(question, articles)
    words: set[str] = set().union(*(w for _, w in groups))
    days = frozenset().union(*(dates_named(m.group()) for m in _PUBLISHED_ON_RX.finditer(question)))
    dated = {a.doc_id for a in articles.values() if (a.published or "")[:10] in days}
    docs: set[str] = set()
    for ids, _ in groups:
        docs |= (ids & dated) or ids  # that publisher's article of that day, if there is one
    if dated:
        if not any(ids & dated for ids, _ in groups):
            docs |= dated
        for m in _PUBLISHED_ON_RX.finditer(question):
            words |= set(terms(m.group())) - set(terms("published posted reported released"))
    among = {p.doc_id: articles[p.doc_id] for p in passages if p.doc_id in articles}
    for m in _CITED_RX.finditer(question):
        run = set(terms(m.group(1) or m.group(2))) - words
        if not run:
            continue
        hits = {a.doc_id for a in among.values()
                if run <= _all_terms(f"{a.title} {a.source} {a.text}")}
        if hits and len(hits) < len(among):  # a name every article carries picks none
            docs |= hits
            words |= run
    return Sources(frozenset(docs), frozenset(words))


def name_key(text: str) -> str:
    """The comparable form of a name: folded, without a leading article or a possessive
    ("The Verge's" -> "verge")."""
    t = fold(text).strip(" \"'“”‘’.,;:()[]")
    t = re.sub(r"^(?:the|a|an)\s+", "", t)
    t = re.sub(r"(?:'s|')$", "", t)
    return re.sub(r"\s+", " ", t)


def same_name(a: str, b: str) -> bool:
    """Whether two mentions name the same thing: equal, or one a run of the other's words
    ("Bankman-Fried" and "Sam Bankman-Fried"; not "Sam" and "Sam Altman" unless it is the
    last name)."""
    ka, kb = name_key(a), name_key(b)
    if ka == kb:
        return True
    short, long_ = (ka, kb) if len(ka) < len(kb) else (kb, ka)
    if not short or len(short) < 3:
        return False
    words = long_.split()
    return short in words[-1:] or short == long_.split(" ", 1)[-1] or (
        len(short.split()) > 1 and short in long_)
