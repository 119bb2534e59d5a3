"""Question analysis, once per question: what kind of answer is wanted, about what.

Everything comes from the parse (rag.nlp): the question word and the noun it asks about
("which country" -> country), whether it is a yes/no question (an auxiliary opens the main
clause: "Did…", "Is it true that…", "After X, did Y…") or offers options ("consistent or
inconsistent?"), the names it is about (entities and proper nouns, never a capitalised
opener like "Under" or "Besides"), its content terms (spelling-corrected against the
collection's words), ordinals and years.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import Any

from rag.dates import dates_named
from rag.names import Sources
from rag.nlp import parse
from rag.text import STOPWORDS, fold, question_clauses, question_parts, stem, terms

# What each kind of question is answered by. ``which`` is typed by its head noun instead.
KINDS = ("who", "which", "when", "where", "how_many", "how_long", "why", "how", "what",
         "yesno", "choice", "other")
# The noun a wh-word stands for when the question gives none: what the answer is.
IMPLIED_HEAD = {"who": "person", "whom": "person", "whose": "person", "when": "date",
                "where": "place", "how_many": "number", "how_long": "duration"}
_WH_TAGS = {"WDT", "WP", "WP$", "WRB"}
_AUX_LEMMAS = {"be", "do", "have", "can", "could", "will", "would", "should", "may", "might",
               "must", "shall"}
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "last": -1,
             "latest": -1, "earliest": 1}
_COUNTS = {"two": 2, "three": 3, "four": 4, "five": 5, "both": 2}
# Question words and verbs that carry no content of their own: "when did it happen".
GENERIC = frozenset(terms("happen happened occur occurred take place describe described "
                          "mention mentioned report reported article articles source sources "
                          "give make get use term kind type way according"))
_PUBLISHED_RX = re.compile(r"\b(?:article|story|piece|report)\b.*\bpublished\b|\bpublication "
                           r"date\b", re.IGNORECASE)


@dataclass(frozen=True)
class Query:
    """A question, analysed once. ``terms`` and ``entities`` are spelling-corrected stems."""

    text: str
    kind: str  # one of KINDS
    search: str = ""  # the question with its misspellings corrected: what retrieval reads
    head: str = ""  # the noun the answer is an instance of: "country", "person", "date"
    terms: tuple[str, ...] = ()  # content terms, for BM25 and coverage
    entities: tuple[str, ...] = ()  # stems of the names the answer must be about
    names: tuple[str, ...] = ()  # those names as written ("the US Embassy", "Moscow")
    options: tuple[str, ...] = ()  # "consistent or inconsistent": the offered answers
    plural: bool = False  # "which countries": several may answer
    count: int | None = None  # "which two officials"
    ordinal: int | None = None  # "the first", "the last" (-1)
    years: tuple[str, ...] = ()  # years the question names
    dates: tuple[str, ...] = ()  # full dates it names (ISO)
    negated: bool = False  # "did X not…", "never"
    weekday: bool = False  # "which day of the week"
    published: bool = False  # "when was the X article published": the article's own date
    definition: bool = False  # "who is Matthew Miller?", "what is ISIS-K?"
    verb: str = ""  # the main verb's stem ("warn")
    pairs: frozenset[tuple[str, str]] = frozenset()  # adjacent terms, in the question's order
    clauses: tuple[str, ...] = ()  # parts that different articles may answer
    sources: frozenset[str] = frozenset()  # doc_ids of the articles the question names

    @property
    def typed(self) -> bool:
        """Whether the answer is a thing of one type (a name, a date, a number), not a
        clause ("why", "how", "what did X say") or a yes/no."""
        return self.kind in ("who", "which", "when", "where", "how_many", "how_long") and not (
            self.definition or self.published)


class Speller:
    """Corrects a misspelt question word to a collection word: the nearest by optimal string
    alignment distance (rapidfuzz, C++), the most frequent among equally near ones.

    rapidfuzz compares the word with every collection word, 4.6 ms a word at 37,000 words,
    and needs no table. symspellpy, used before, answers in microseconds but built its table
    on the first word that needed it: 1.7-2.7 s of the first misspelt question of every
    process. On 375 misspellings of MultiHop-RAG corpus words both gave the same corrections."""

    MAX_WORD = 40  # longer "words" (URLs, hashes, a pasted blob) are left alone

    def __init__(self, words: Mapping[str, int], dictionary: frozenset[str] = frozenset()) -> None:
        self.words = words
        self.dictionary = dictionary

    @cached_property
    def _choices(self) -> tuple[list[str], list[int]]:
        """The collection words a correction may be (and their counts), in one list."""
        kept = [(w, int(n)) for w, n in self.words.items()
                if 3 <= len(w) <= self.MAX_WORD and w.isalpha()]
        return [w for w, _ in kept], [n for _, n in kept]

    def correct(self, word: str) -> str | None:
        """The most frequent collection word within one edit (two for long words) of
        ``word``; None when ``word`` is known, a real word, or nothing is close."""
        w = fold(word)
        if (len(w) < 4 or len(w) > self.MAX_WORD or not w.isalpha() or w in self.words
                or w in self.dictionary):
            return None
        from rapidfuzz import process
        from rapidfuzz.distance import OSA

        choices, counts = self._choices
        near = process.extract(w, choices, scorer=OSA.distance,
                               score_cutoff=1 if len(w) < 8 else 2, limit=None)
        if not near:
            return None
        return str(min(near, key=lambda m: (m[1], -counts[m[2]], m[0]))[0])


def analyze(question: str, df: Mapping[str, int] | None = None,
            speller: Speller | None = None) -> Query:
    """The kind of answer wanted and the names the question is about."""
    q = question.strip()
    fixes: dict[str, str] = {}
    if speller is not None and df is not None:
        for w in re.findall(r"[^\W\d_]+", q):
            if fold(w) not in STOPWORDS and fold(w) not in fixes:
                fixed = speller.correct(w)
                if fixed and stem(fixed) != stem(fold(w)):
                    fixes[fold(w)] = fixed
    text_fixed = _apply(q, fixes)
    doc = parse(text_fixed)  # the parse reads the corrected words ("Wich" -> "Which")
    toks = list(doc)
    kind, head, wh_at = _kind(toks)
    options = _options(toks)
    if kind == "yesno" and options:
        kind = "choice"
    names = _names(doc, wh_at)
    ents = [t for n in names for t in terms(n)]
    qterms = [t for t in terms(text_fixed) if t not in GENERIC]
    seq = terms(text_fixed)
    low = fold(q)
    head_tok = next((t for t in toks if t.text == head), None)
    plural = bool(head_tok is not None and head_tok.tag_ in ("NNS", "NNPS")) or " and who " in low
    count = next((_COUNTS[fold(t.text)] for t in toks[wh_at: wh_at + 3] if wh_at >= 0
                  and fold(t.text) in _COUNTS), None)
    verb = next((t for t in toks if t.dep_ == "ROOT"), None)
    definition = kind in ("who", "what") and bool(re.match(
        r"^\s*(?:who|what)\s+(?:is|was|are|were)\s+(?!the\s+(?:name|number)\b)", low)) and (
        len(toks) <= 8)
    return Query(
        text=q, kind=kind, search=text_fixed, head=head or IMPLIED_HEAD.get(kind, ""),
        terms=tuple(dict.fromkeys(qterms)), entities=tuple(dict.fromkeys(ents)),
        names=tuple(names), options=options, plural=plural or count is not None and count > 1,
        count=count, ordinal=next((_ORDINALS[fold(t.text)] for t in toks
                                   if fold(t.text) in _ORDINALS and t.dep_ in ("amod", "advmod")),
                                  None),
        years=tuple(sorted({t.text for t in toks if re.fullmatch(r"(?:19|20)\d\d", t.text)})),
        dates=tuple(sorted(dates_named(q))),
        negated=any(t.dep_ == "neg" or fold(t.text) in ("never", "not") for t in toks),
        weekday=bool(re.search(r"\bday of the week\b|\b(?:which|what) day\b", low)),
        published=kind == "when" and bool(_PUBLISHED_RX.search(q)),
        definition=definition,
        verb=stem(fold(verb.lemma_)) if verb is not None and verb.pos_ == "VERB" else "",
        pairs=frozenset(zip(seq, seq[1:])),
        clauses=tuple(question_clauses(q) or question_parts(q)),
    )


def _apply(text: str, fixes: Mapping[str, str]) -> str:
    if not fixes:
        return text
    def fix(m: re.Match[str]) -> str:
        got = fixes.get(fold(m.group()))
        if got is None:
            return m.group()
        return got[:1].upper() + got[1:] if m.group()[:1].isupper() else got

    return re.sub(r"[\w’']+", fix, text)


def _kind(toks: list[Any]) -> tuple[str, str, int]:  # Any: spaCy Tokens
    """(kind, head noun, index of the question word) from the tokens.

    A question is yes/no when an auxiliary opens its main clause (at the start, or after a
    fronted phrase and a comma) before any question word; otherwise the first question word
    decides, with the noun it asks about ("which two officials" -> officials)."""
    wh = next((i for i, t in enumerate(toks) if t.tag_ in _WH_TAGS
               and fold(t.text) in ("what", "which", "who", "whom", "whose", "when", "where",
                                     "why", "how")), -1)
    aux = next((i for i, t in enumerate(toks)
                if t.lemma_.lower() in _AUX_LEMMAS and t.tag_ in ("VBD", "VBZ", "VBP", "MD", "VB")
                and (i == 0 or toks[i - 1].text == "," or _before_subject(t))), -1)
    if aux >= 0 and (wh < 0 or aux < wh):
        return "yesno", "", -1
    if wh < 0:
        return "other", "", -1
    word = fold(toks[wh].text)
    nxt = [t for t in toks[wh + 1: wh + 5]]
    if word == "how":
        adj = fold(nxt[0].text) if nxt else ""
        if adj in ("many", "much"):
            noun = next((t.text for t in nxt[1:3] if t.pos_ in ("NOUN", "PROPN")), "")
            return "how_many", noun, wh
        if adj in ("long", "old", "far", "big", "large", "often"):
            return ("how_long" if adj == "long" else "how_many"), "", wh
        return "how", "", wh
    if word in ("what", "which"):
        noun = next((t for t in nxt if t.pos_ in ("NOUN", "PROPN")), None)
        between = nxt[: nxt.index(noun)] if noun is not None else []
        if noun is not None and all(t.pos_ in ("NUM", "ADJ", "DET") for t in between):
            head = noun.text
            if fold(head) in ("date", "day", "year", "month", "time", "week"):
                return "when", fold(head), wh
            if fold(head) in ("percentage", "percent", "number", "amount", "figure", "total"):
                return "how_many", fold(head), wh
            return "which", head, wh
        return ("what" if word == "what" else "which"), "", wh
    return {"who": "who", "whom": "who", "whose": "who", "when": "when",
            "where": "where", "why": "why"}.get(word, "other"), "", wh


def _before_subject(t: Any) -> bool:  # Any: a spaCy Token
    """Whether an auxiliary of the main clause comes before its subject ("On April 3 did the
    minister call ...": the inversion that makes a question, after any fronted phrase)."""
    verb = t if t.dep_ == "ROOT" else t.head
    if t.dep_ not in ("aux", "auxpass", "ROOT") or verb.dep_ != "ROOT":
        return False
    if any(c.i < t.i and c.dep_ not in _FRONTED for c in verb.children):
        return False  # "Wich think tank does he work for": an object moved to the front
    subject = next((c for c in verb.children if c.dep_ in ("nsubj", "nsubjpass", "expl")), None)
    return subject is not None and subject.i > t.i


# What may stand before the auxiliary of a yes/no question: phrases of time, place, manner.
_FRONTED = frozenset({"prep", "advmod", "npadvmod", "advcl", "intj", "punct", "cc"})


_MODIFIER_POS = frozenset({"ADJ", "ADV", "ADP", "SCONJ"})
_CLAUSE_POS = frozenset({"VERB", "AUX"})


def _options(toks: list[Any]) -> tuple[str, ...]:  # Any: spaCy Tokens
    """"A or B": the two offered answers. After a colon or comma ("Which came first: A or
    B?", "…, Naryshkin or Peskov?") they are the text on either side of "or"; elsewhere the
    two conjuncts the parser joins ("consistent or inconsistent with X")."""
    ors = [t for t in toks if fold(t.text) == "or" and 0 < t.i < len(toks) - 1]
    if not ors:
        return ()
    t = ors[-1]
    text = t.doc.text
    left_text = text[: t.idx]
    cut = max(left_text.rfind(","), left_text.rfind(":"))
    right_text = text[t.idx + len(t.text):].strip()
    left, right = _conjuncts(t, toks)
    # Two modifiers joined ("a consistent or inconsistent account", "before or after") are
    # the options whatever precedes them; the text after a comma is for phrases.
    modifiers = left.pos_ in _MODIFIER_POS and right.pos_ in _MODIFIER_POS
    if cut >= 0 and "," not in right_text and not modifiers:
        a, b = left_text[cut + 1:], right_text
    else:
        a, b = _conjunct_text(left, t.i), _conjunct_text(right, t.i)
    a, b = _clean_option(a), _clean_option(b)
    if a and b and len(a.split()) <= 12 and len(b.split()) <= 12:
        return (a, b)
    return ()


def _conjuncts(t: Any, toks: list[Any]) -> tuple[Any, Any]:  # Any: spaCy Tokens
    """The two words "or" joins: the first conjunct (the head "or" hangs from) and its
    ``conj`` after "or"; the words beside "or" when the parser joins nothing or joins two
    clauses. A preposition stands for its object ("with Shoigu or with Naryshkin"), unless
    two different ones are the options ("before or after")."""
    left = t.head if t.dep_ == "cc" and t.head.i < t.i else toks[t.i - 1]
    right = next((c for c in left.children if c.dep_ == "conj" and c.i > t.i), None)
    if right is None or {left.pos_, right.pos_} & _CLAUSE_POS:
        left, right = toks[t.i - 1], toks[t.i + 1]
    if not (left.pos_ == right.pos_ == "ADP" and fold(left.text) != fold(right.text)):
        left, right = _object(left), _object(right)
    return left, right


def _object(tok: Any) -> Any:  # Any: a spaCy Token
    if tok.pos_ != "ADP":
        return tok
    return next((c for c in tok.children if c.dep_ == "pobj"), tok)


# Words an option keeps with its head: adjectives and numbers, and the parts of a name. A
# common noun's "compound" is often a misparsed verb ("show agreement or disagreement").
_OPTION_DEPS = frozenset({"amod", "nummod"})


def _conjunct_text(tok: Any, or_at: int) -> str:  # Any: a spaCy Token
    """A conjunct's words: the whole name it is part of ("the New York Times", not
    "Times"; not one name spanning "or"), or the word with its adjectives and numbers ("a
    private warning", "March 7")."""
    ent = next((e for e in tok.doc.ents
                if e.start <= tok.i < e.end and not e.start <= or_at < e.end), None)
    if ent is not None and ent.label_ not in ("CARDINAL", "ORDINAL"):
        return str(ent.text)
    kept, todo = {tok.i}, [tok]
    while todo:
        head = todo.pop()
        for c in head.children:
            if c.dep_ in _OPTION_DEPS or c.dep_ == "compound" and head.pos_ == "PROPN":
                kept.add(c.i)
                todo.append(c)
    lo, hi = min(kept), max(kept)
    if lo <= or_at <= hi:
        lo = hi = tok.i
    return str(tok.doc[lo: hi + 1].text)


def _clean_option(s: str) -> str:
    s = s.strip(" '\"‘’“”,.?:;")
    return re.sub(r"^(?:the|The)\s+", "", s)


def _names(doc: Any, wh_at: int) -> list[str]:  # Any: a spaCy Doc
    """The names a question is about: its entities (not dates or numbers) and proper nouns
    outside them. A capitalised first word ("Under", "Besides", "List") is a name only when
    the parser says it is one."""
    out: list[str] = []
    covered: set[int] = set()
    for ent in doc.ents:
        if ent.label_ in ("DATE", "TIME", "CARDINAL", "ORDINAL", "PERCENT", "MONEY",
                          "QUANTITY"):
            covered |= set(range(ent.start, ent.end))
            continue
        out.append(ent.text)
        covered |= set(range(ent.start, ent.end))
    run: list[str] = []
    for t in doc:
        if t.i not in covered and t.pos_ == "PROPN" and t.i != wh_at:
            run.append(t.text)
            continue
        if run:
            out.append(" ".join(run))
            run = []
    if run:
        out.append(" ".join(run))
    return list(dict.fromkeys(n.strip() for n in out if terms(n)))


def with_sources(query: Query, sources: Sources) -> Query:
    """``query`` limited to ``sources``: the names that named them are no longer asked about."""
    drop = set(sources.words)
    return replace(query, sources=sources.docs,
                   terms=tuple(t for t in query.terms if t not in drop),
                   entities=tuple(e for e in query.entities if e not in drop),
                   names=tuple(n for n in query.names if not set(terms(n)) <= drop),
                   pairs=frozenset(p for p in query.pairs if not drop & set(p)))


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Whole words of the embedder's English vocabulary: a dictionary that ships offline."""
    from rag.embeddings import model_path

    with open(model_path() / "vocab.txt", encoding="utf-8") as f:
        return frozenset(w for w in (ln.strip() for ln in f) if w.isalpha() and len(w) > 2)
