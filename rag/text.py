"""Text helpers shared by ingestion and answering: sentence spans, terms, stopwords."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from itertools import chain
from typing import Any

# Sentence boundaries: pysbd's word lists and rules, in one fast pass. Measured on 150
# MultiHop-RAG articles (2-core CPU): pysbd itself takes ~65 ms per article (minutes per
# thousand articles at index time), this pass ~1.5 ms; they agree on 94% of sentences, and
# where they differ pysbd mostly errs ("8:15 p.m. | ET", quoted sentences left joined).
# tests/core/test_text.py holds the news-style traps ("Calif.", "J.P. Morgan", '"?" he asked').


@lru_cache(maxsize=1)
def _abbreviations() -> tuple[frozenset[str], frozenset[str], frozenset[str], frozenset[str]]:
    """pysbd's English lists: all abbreviations, those always followed by a name ("Capt.",
    "Dr."), those followed by a number ("No. 1"), and the words that start a sentence after
    an ambiguous abbreviation ("in the U.S. The ...")."""
    from pysbd.lang.english import English

    a = English.Abbreviation
    return (frozenset(a.ABBREVIATIONS) | {"u.s", "u.k", "u.n", "d.c"},
            frozenset(a.PREPOSITIVE_ABBREVIATIONS), frozenset(a.NUMBER_ABBREVIATIONS),
            frozenset(English.AbbreviationReplacer.SENTENCE_STARTERS))


# A sentence ends at . ! ? or an ellipsis, optionally followed by closing quotes/brackets.
_END = re.compile(r"""(?:\.\.\.|…|[.!?])+["'”’)\]]*(?=\s+|$)""")
_PARA = re.compile(r"\n\s*\n|\n")
_INITIALS = re.compile(r"(?:[a-z]\.)+[a-z]|[a-z]")  # "j.p", "u.s", a middle initial "f"


def split_sentences(text: str, base: int = 0) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` into ``text`` (shifted by ``base``), whitespace trimmed.

    Line breaks always end a sentence: headlines and list items often carry no full stop.
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    for para in [*_PARA.finditer(text), None]:
        stop = para.start() if para else len(text)
        _split_block(text, pos, stop, spans)
        if para:
            pos = para.end()
    return [(s + base, e + base) for s, e in spans]


def _split_block(text: str, start: int, stop: int, out: list[tuple[int, int]]) -> None:
    known, before_name, before_number, starters = _abbreviations()
    begin = start
    for m in _END.finditer(text, start, stop):
        end = m.end()
        rest = text[end:stop].lstrip()
        if rest[:1].islower() or rest[:1] in (",", ";", ":"):
            continue  # '"Where were you?" he asked', "panic… in our country": it goes on
        if m.group().rstrip("\"'”’)]") == ".":  # one full stop: perhaps an abbreviation's
            word = re.search(r"([\w.’'-]+)\.$", text[begin : m.start() + 1])
            written = word.group(1).lstrip("\"'“‘(") if word else ""
            token = written.lower()
            nxt = re.match(r"[\w’']*", rest).group()  # type: ignore[union-attr]
            if token in before_name:
                continue  # "Capt. John Smith", "Dr. Who"
            if token in before_number and rest[:1].isdigit():
                continue  # "No. 1"
            ambiguous = _INITIALS.fullmatch(token) or (
                token in known and (written[:1].isupper() or "." in token))
            if ambiguous and nxt not in starters:
                continue  # "J.P. Morgan", "the U.S. Embassy", "Calif. Officials"
        _push(text, begin, end, out)
        begin = end
    _push(text, begin, stop, out)


def _push(text: str, start: int, end: int, out: list[tuple[int, int]]) -> None:
    seg = text[start:end]
    left = len(seg) - len(seg.lstrip())
    right = len(seg.rstrip())
    if right > left:
        out.append((start + left, start + right))


STOPWORDS = frozenset(
    """a an the and or but if of to in on at by for with from as is are was were be been being
    this that these those it its it's into about over after before than then so such not no
    do does did done has have had having i you he she we they them his her their our your my me
    him what which who whom whose when where why how can could would should will may might
    must shall there here also just only very more most much many any some all each both other
    according said says say told tell one two did didn't does doesn't -- up out off same
    per via while during until again further once""".split()
)

_PHRASE_MAP = {"united states": "us", "united kingdom": "uk", "islamic state": "isis"}
_PHRASES = re.compile("|".join(_PHRASE_MAP))
_ACRONYM = re.compile(r"\b(?:[a-z]\.){2,}")  # u.s. -> us, u.k. -> uk
_WORD = re.compile(r"[\w][\w'’\-]*", re.UNICODE)


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _strip_combining(m: re.Match[str]) -> str:
    return "".join(c for c in m.group() if not unicodedata.combining(c))


def fold(text: str) -> str:
    """Lower-case, strip accents and unify quotes: the form terms are compared in."""
    text = unicodedata.normalize("NFKD", text)
    # Combining marks are never ASCII: only the non-ASCII runs are looked at character by
    # character. The loop over every character was a tenth of the answer time (issue 14).
    if not text.isascii():
        text = _NON_ASCII.sub(_strip_combining, text)
    return text.lower().replace("’", "'").replace("‘", "'")


# Bump when ``terms`` or ``split_sentences`` changes: saved lexical indexes and sentence
# terms built with another version are rebuilt.
ANALYZER = "snowball-4"

# Spelling variants and demonyms folded to one form, so "defence" meets "defense" and
# "Russian officials" meets "Russia".
_VARIANTS = {
    "defence": "defense", "offence": "offense", "centre": "center", "organisation":
    "organization", "organise": "organize", "programme": "program", "labour": "labor",
    "favour": "favor", "honour": "honor", "rumour": "rumor", "licence": "license",
    "american": "us", "americans": "us", "america": "us", "russian": "russia",
    "russians": "russia", "ukrainian": "ukraine", "ukrainians": "ukraine", "iranian": "iran",
    "french": "france", "british": "uk", "britain": "uk", "afghan": "afghanistan",
    "syrian": "syria", "chinese": "china", "german": "germany", "israeli": "israel",
    "washington": "us", "kremlin": "russia", "moscow's": "moscow",
    # News says "killed" where readers ask "died": one meaning, one term.
    "die": "kill", "died": "kill", "dies": "kill", "dead": "kill", "death": "kill",
    "deaths": "kill",
}


@lru_cache(maxsize=1)
def _stemmer() -> Any:  # PyStemmer's Stemmer (no type information): a boundary
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Snowball (Porter 2) stem of a folded word: warn/warned/warning, declare/declaring."""
    if word.endswith(("'s", "’s")):
        word = word[:-2]
    word = _VARIANTS.get(word, word)
    return str(_stemmer().stemWord(word))


def terms(text: str, keep_stopwords: bool = False) -> list[str]:
    """Stemmed, folded content words of ``text``."""
    folded = _ACRONYM.sub(lambda m: m.group().replace(".", ""), fold(text))
    folded = _PHRASES.sub(lambda m: _PHRASE_MAP[m.group()], folded)
    words = _WORD.findall(folded)
    return list(chain.from_iterable(map((_KEPT if keep_stopwords else _CONTENT).__getitem__,
                                        words)))


@lru_cache(maxsize=65536)
def term_set(text: str) -> frozenset[str]:
    """``terms`` of ``text`` as a set, cached: titles, mentions and sentences recur across
    questions."""
    return frozenset(terms(text))


class _WordTerms(dict[str, tuple[str, ...]]):
    """The terms of each word of folded text, computed on first sight. Words recur, and
    looking them up in C (``map`` over ``__getitem__``) replaced a Python loop of checks per
    word: ``terms`` over the sentences of the retrieved passages was a third of the answer
    time (issue 14). Bounded: cleared when it outgrows ``LIMIT`` words."""

    LIMIT = 200_000

    def __init__(self, keep_stopwords: bool) -> None:
        super().__init__()
        self.keep_stopwords = keep_stopwords

    def __missing__(self, word: str) -> tuple[str, ...]:
        if len(self) >= self.LIMIT:
            self.clear()
        w = word.strip("'-")
        if not w or (not self.keep_stopwords and w in STOPWORDS):
            got: tuple[str, ...] = ()
        elif "-" in w:  # "Afghanistan-based", "state-run": the parts count as words too
            got = (stem(w), *(stem(p) for p in w.split("-") if len(p) > 2 and p not in STOPWORDS))
        else:
            got = (stem(w),)
        self[word] = got
        return got


_CONTENT, _KEPT = _WordTerms(False), _WordTerms(True)


class _TokenTerms(dict[str, tuple[str, ...]]):
    """One whitespace-delimited token's terms, computed on first sight and looked up in C
    (tokens recur within and across articles). Bounded: cleared past ``LIMIT`` tokens."""

    LIMIT = 200_000

    def __missing__(self, token: str) -> tuple[str, ...]:
        if len(self) >= self.LIMIT:
            self.clear()
        got = self[token] = tuple(terms(token))
        return got


_TOKEN = re.compile(r"\S+")
_TOKEN_TERMS = _TokenTerms()


def first_offsets(text: str) -> dict[str, int]:
    """Where each term first occurs in ``text``: the offset of the first whitespace-delimited
    token whose terms hold it ("Miller" for the "miller" of a later "Miller's"). The distinct
    tokens are analysed, not every token (a whole article's map, ~1 ms)."""
    first: dict[str, int] = {}
    for m in _TOKEN.finditer(text):
        first.setdefault(m.group(), m.start())  # in order of first occurrence
    out: dict[str, int] = {}
    for tok, at in first.items():
        for t in _TOKEN_TERMS[tok]:
            out.setdefault(t, at)
    return out


# Where a multi-part question splits into parts that different articles may answer.
_PARTS = re.compile(r",?\s+\b(?:while|whereas|compared to|in contrast to|as opposed to|and does|"
                    r"and did|and do|and is|and was|and has|but|than|and also)\b\s+|,\s+and\s+",
                    re.IGNORECASE)


def question_parts(question: str) -> list[str]:
    """The parts of a multi-part question (one part for a simple question)."""
    parts = [p for p in _PARTS.split(question) if len(terms(p)) >= 3]
    return parts or [question]


# Finer than parts: the clauses of "Which company, covered by X for A, noted by Y for B, ...",
# each of which one article may answer.
_CLAUSES = re.compile(r"[,;?]|\b(?:while|whereas|compared to|in contrast to|as opposed to|but|"
                      r"than|and also|and does|and did|and is|and was|and has|and the|before|"
                      r"after)\b", re.IGNORECASE)


def question_clauses(question: str) -> list[str]:
    """The clauses of a question that has several (none for a one-clause question)."""
    found = [c for c in _CLAUSES.split(question) if len(terms(c)) >= 3]
    return found if len(found) > 1 else []
