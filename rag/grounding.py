"""The post-generation check: keep only the generated sentences that their sources support.

An LLM's draft is split into sentences; each sentence's ``[n]`` markers are parsed and the
sentence is matched, span by span, against the passages it cites (lexical overlap of content
words plus embedding similarity). Numbers, dates and names in a kept sentence must appear in
its quote. Unsupported sentences go to ``Answer.unsupported``; markers are renumbered in order of
appearance and every ``Citation.quote`` is an exact substring of the article text. When nothing
supported remains, the caller's extractive answer is returned instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from rag.text import STOPWORDS, split_sentences, terms
from rag.types import Answer, Article, Citation, Passage

Embed = Callable[[list[str]], np.ndarray]

# Chosen on the eval questions (see tests/llm/test_grounding_rate.py, which measures them):
# a supported sentence shares at least LEX_MIN of its content words with its quote and is close
# to it in embedding space; a near-copy of the quote (LEX_STRONG) needs no embedding agreement.
LEX_MIN = 0.5
COS_MIN = 0.55
LEX_STRONG = 0.8
MAX_WINDOW = 2  # a quote is one sentence of the passage, or two adjacent ones

_MARKER = re.compile(
    r"\s*\[(?:(?:passage|source|doc)\s*)?(\d+(?:\s*[,;]\s*(?:(?:passage|source|doc)\s*)?\d+)*)\]",
    re.IGNORECASE,
)
_MARKER_RUN = re.compile(rf"(?:{_MARKER.pattern})+", re.IGNORECASE)
_ENUMERATION = re.compile(r"(?:^|(?<=[.!?\]:])|\n)[ \t]*\d{1,2}[.)](?=\s|$)", re.MULTILINE)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’.\-]*[A-Za-z0-9]|[A-Za-z0-9]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NEGATION = {"not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "without"}
_NUMBER_WORDS = {
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "dozen", "dozens", "hundred", "hundreds", "thousand", "thousands", "million",
    "millions", "billion", "first", "second", "third", "fourth", "fifth",
}  # fmt: skip
# What a generated sentence may never carry, whatever its support: a link, an image, markup
# (a rendered answer must load nothing), or an instruction (a passage giving orders that the
# model repeated). Instructions are phrases addressed to a model or reader, not news prose.
_MARKUP = re.compile(
    r"(?i)(?:https?:|ftp:|data:|javascript:|file:)|www\.|!\[|\]\(|<\s*/?\s*[a-z!][^>]*>"
    r"|&(?:lt|gt|#\d+);|\b[\w.-]+\.(?:com|net|org|io|ru|xyz)/"
)
_INSTRUCTION = re.compile(
    r"(?i)\b(?:ignore|disregard|forget|override)\b[^.]{0,40}\b(?:instructions?|prompts?|"
    r"rules|above|previous|prior|earlier)\b"
    r"|\b(?:system|developer)\s+(?:prompt|message|instructions?)\b"
    r"|\byou\s+(?:must|should|will|are\s+now|have\s+to|need\s+to)\s+(?:answer|say|reply|"
    r"respond|tell|write|output|include|repeat|ignore|state|claim)\b"
    r"|\bas\s+an?\s+(?:ai|assistant|language\s+model|chatbot)\b"
    r"|\b(?:the|this)\s+(?:assistant|chatbot)\s+(?:must|should|will)\b"
    r"|^\s*(?:please\s+)?(?:always|never|do\s+not|don't)?\s*(?:ignore|disregard|answer|reply|"
    r"respond|say|tell\s+(?:the\s+)?(?:user|reader)|output|print|repeat|visit|click|"
    r"include\s+(?:this|the\s+following))\b"
    r"|\bnew\s+instructions?\b"
)


def forbidden(sentence: str) -> str | None:
    """Why a generated sentence may not be shown at all (link, image, markup, instruction)."""
    if _MARKUP.search(sentence):
        return "carries a link, image or markup"
    if _INSTRUCTION.search(sentence):
        return "is an instruction, not a claim"
    return None


# Aliases the corpus uses for the same name; compared after dots are stripped ("U.S." -> "US").
_ALIASES = {"united states": "US", "america": "US", "usa": "US"}


@dataclass(frozen=True)
class Support:
    """A passage span that supports a sentence: offsets index into the article text."""

    passage: int  # 0-based index into the passages
    start: int
    end: int
    quote: str
    lexical: float
    cosine: float

    @property
    def score(self) -> float:
        return (self.lexical + self.cosine) / 2


@dataclass(frozen=True)
class SentenceCheck:
    """The verdict on one generated sentence."""

    text: str  # the sentence without its markers
    cited: tuple[int, ...]  # the 1-based passage numbers the model gave, valid or not
    supports: tuple[Support, ...]  # empty when unsupported
    reason: str  # "ok", "reattributed", or why it was dropped

    @property
    def supported(self) -> bool:
        return bool(self.supports)


# --- text helpers -------------------------------------------------------------------------


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    return split_sentences(text)


def parse_markers(sentence: str) -> tuple[str, tuple[int, ...]]:
    """The sentence without ``[n]`` markers, and the numbers the markers carried, in order."""
    numbers: list[int] = []
    for m in _MARKER.finditer(sentence):
        numbers += [int(x) for x in re.findall(r"\d+", m.group(1))]
    clean = _MARKER.sub("", sentence)
    clean = re.sub(r"\s+([.,;:!?])", r"\1", clean)  # "blackmail [1]." left "blackmail ."
    return re.sub(r"\s{2,}", " ", clean).strip(), tuple(dict.fromkeys(numbers))


def split_draft(draft: str) -> list[str]:
    """Sentences of a generated answer, each keeping the markers that follow it.

    Models often write "... blackmail. [1]": the marker belongs to the sentence before it.
    """
    # "1." list numbering would glue to a sentence ("... [1]. 2. Next"): make it a line break
    draft = _ENUMERATION.sub("\n", draft).strip()
    spans = _sentence_spans(draft) if draft else []
    parts = [draft[s:e].strip() for s, e in spans]
    out: list[str] = []
    for part in parts:
        lead = _MARKER_RUN.match(part)
        if lead and out:
            out[-1] += " " + lead.group(0).strip()
            part = part[lead.end() :].strip()
        if part:
            out.append(part)
    return out


def _norm(token: str) -> str:
    token = token.replace("’", "'")
    token = re.sub(r"'s$", "", token)
    return token.replace(".", "").strip("'-")


def _tokens(text: str) -> list[str]:
    return [t for t in (_norm(w) for w in _WORD.findall(text)) if t]


def content_words(text: str) -> set[str]:
    """Folded, stemmed words that carry meaning (stopwords and markers removed)."""
    return set(terms(_MARKER.sub(" ", text)))


def _token_set(text: str) -> set[str]:
    """Every surface form a check may look for: tokens, hyphen parts, lower-cased too."""
    out: set[str] = set()
    for tok in _tokens(text):
        for part in [tok, *tok.split("-")]:
            if part:
                out.add(part)
                out.add(part.lower())
    low = text.lower()
    for alias, target in _ALIASES.items():
        if alias in low:
            out.add(target)
    return out


def required_terms(sentence: str, vocabulary: str = "") -> set[str]:
    """Numbers, number words, and names in ``sentence`` that a supporting quote must contain.

    A capitalised first word is a name only when ``vocabulary`` (the passages) never uses it in
    lower case: "Despite ..." is an ordinary word, "Biden ..." is a name.
    """
    sentence = _MARKER.sub(" ", sentence)
    terms = {n.replace(",", "").rstrip(".") for n in _NUMBER.findall(sentence)}
    tokens = _tokens(sentence)
    lower_vocab = {t for t in _tokens(vocabulary) if t.islower()}
    for i, tok in enumerate(tokens):
        low = tok.lower()
        if low in _NUMBER_WORDS:
            terms.add(low)
        if not tok[0].isupper() or tok == "I":
            continue
        if i == 0 and (low in STOPWORDS or low in lower_vocab) and not tok.isupper():
            continue
        if low in STOPWORDS and not tok.isupper():
            continue
        terms.add(_ALIASES.get(low, tok))
    phrase = sentence.lower()
    for alias, target in _ALIASES.items():
        if " " in alias and alias in phrase:
            terms -= set(alias.title().split())
            terms.add(target)
    return {t for t in terms if t}


def missing_terms(sentence: str, quote: str, vocabulary: str = "") -> set[str]:
    """The required terms of ``sentence`` that ``quote`` lacks."""
    have = _token_set(quote)
    have |= {n.replace(",", "").rstrip(".") for n in _NUMBER.findall(quote)}
    return {
        t for t in required_terms(sentence, vocabulary) if t not in have and t.lower() not in have
    }


def _negated(text: str) -> bool:
    low = text.lower().replace("’", "'")
    return bool(_NEGATION & set(re.findall(r"[a-z]+", low))) or "n't" in low


def lexical_support(sentence: str, quote: str) -> float:
    """Share of the sentence's content words found in the quote."""
    words = content_words(sentence)
    if not words:
        return 0.0
    return len(words & content_words(quote)) / len(words)


# --- spans --------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _chunk_sentences(text: str) -> tuple[tuple[int, int], ...]:
    spans = []
    for s, e in _sentence_spans(text):
        # trim whitespace so a quote never starts or ends with it
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            spans.append((s, e))
    return tuple(spans)


def candidate_spans(passage: Passage) -> list[tuple[int, int]]:
    """Windows of one to MAX_WINDOW adjacent sentences, as offsets into the article text."""
    sents = _chunk_sentences(passage.text)
    out = []
    for i in range(len(sents)):
        for w in range(1, MAX_WINDOW + 1):
            if i + w <= len(sents):
                out.append((passage.start + sents[i][0], passage.start + sents[i + w - 1][1]))
    return out or [(passage.start, passage.end)]


# --- the check ----------------------------------------------------------------------------


def _default_embed() -> Embed:
    from rag.embeddings import get_embedder

    return get_embedder().embed


class _EmbedCache:
    """Embeds each distinct text once per check: spans repeat across sentences."""

    def __init__(self, embed: Embed) -> None:
        self._embed = embed
        self._vecs: dict[str, np.ndarray] = {}

    def prime(self, texts: Sequence[str]) -> None:
        todo = list(dict.fromkeys(t for t in texts if t not in self._vecs))
        if todo:
            for t, v in zip(todo, np.asarray(self._embed(todo), dtype=np.float32), strict=True):
                self._vecs[t] = v

    def cos(self, a: str, b: str) -> float:
        self.prime([a, b])
        va, vb = self._vecs[a], self._vecs[b]
        denom = float(np.linalg.norm(va) * np.linalg.norm(vb)) or 1.0
        return float(va @ vb) / denom


def _best_support(
    sentence: str, idx: int, passage: Passage, vocab: str, emb: _EmbedCache
) -> tuple[Support | None, str]:
    """The best span of ``passage`` for ``sentence``, or None and why not."""
    text = passage.text
    best: Support | None = None
    best_key: tuple[float, ...] = (-1.0,)
    why = "no span shares enough words"
    scored = []
    for s, e in candidate_spans(passage):
        quote = text[s - passage.start : e - passage.start]
        scored.append((lexical_support(sentence, quote), s, e, quote))
    # embed only the lexically plausible spans: cheap on 2 cores, same verdicts
    plausible = [x for x in scored if x[0] >= LEX_MIN]
    emb.prime([sentence, *(q for *_, q in plausible)])
    for lex, s, e, quote in plausible:
        missing = missing_terms(sentence, quote, vocab)
        if missing:
            why = f"not in the quote: {', '.join(sorted(missing))}"
            continue
        if _negated(sentence) and not _negated(quote):
            why = "negation not in the quote"
            continue
        cos = emb.cos(sentence, quote)
        if not (lex >= LEX_STRONG or cos >= COS_MIN):
            why = f"weak support (lexical {lex:.2f}, cosine {cos:.2f})"
            continue
        # prefer the tightest window among equally good ones
        key = (round((lex + cos) / 2, 3), -(e - s))
        if key > best_key:
            best_key, best = key, Support(idx, s, e, quote, lex, cos)
    return best, ("ok" if best else why)


def check_sentences(
    draft: str, passages: Sequence[Passage], embed: Embed | None = None
) -> list[SentenceCheck]:
    """Verdicts on every sentence of ``draft``, in order."""
    emb = _EmbedCache(embed or _default_embed())
    vocab = "\n".join(p.text for p in passages)
    checks: list[SentenceCheck] = []
    for raw in split_draft(draft):
        text, cited = parse_markers(raw)
        if not any(re.search(r"[a-z]", w) for w in content_words(text)):
            continue  # "1." list numbering, a bare marker: no claim to check, nothing to keep
        why = forbidden(raw)
        if why:  # even when a passage says it word for word: passages are data, not orders
            checks.append(SentenceCheck(text, cited, (), why))
            continue
        valid = [n for n in cited if 1 <= n <= len(passages)]
        supports: list[Support] = []
        reasons: list[str] = []
        for n in valid:
            sup, why = _best_support(text, n - 1, passages[n - 1], vocab, emb)
            if sup:
                supports.append(sup)
            else:
                reasons.append(f"[{n}] {why}")
        reason = "ok"
        if not supports:
            # the model cited nothing, or the wrong passage: accept the best passage that does
            # support the sentence, so the reader still gets a real source
            others = [i for i in range(len(passages)) if i + 1 not in valid]
            found = [s for i in others if (s := _best_support(text, i, passages[i], vocab, emb)[0])]
            if found:
                supports = [max(found, key=lambda s: s.score)]
                reason = "reattributed"
            else:
                reason = "; ".join(reasons) or "no passage supports it"
        checks.append(SentenceCheck(text, cited, tuple(supports), reason))
    return checks


def ground(
    question: str,
    draft: str,
    passages: Sequence[Passage],
    articles: Mapping[str, Article],
    *,
    backend: str,
    fallback: Callable[[], Answer],
    embed: Embed | None = None,
    timings: Mapping[str, float] | None = None,
) -> Answer:
    """Turn an LLM ``draft`` into a checked ``Answer``, or the ``fallback`` when nothing holds."""
    checks = check_sentences(draft, passages, embed)
    dropped = tuple(c.text for c in checks if not c.supported)
    kept = [c for c in checks if c.supported]
    if not kept:
        fb = fallback()
        return replace(fb, unsupported=dropped, timings={**fb.timings, **(timings or {})})

    numbers: dict[tuple[str, int, int], int] = {}  # one number per distinct quote
    citations: list[Citation] = []
    sentences: list[str] = []
    for c in kept:
        marks = []
        for sup in sorted(c.supports, key=lambda s: -s.score):
            p = passages[sup.passage]
            key = (p.doc_id, sup.start, sup.end)
            if key not in numbers:
                numbers[key] = len(numbers) + 1
                article = articles.get(p.doc_id)
                # offsets are into the article text; prove it rather than trust the chunk
                if article is not None and article.text[sup.start : sup.end] != sup.quote:
                    raise AssertionError(f"chunk {p.chunk_id} does not match its article text")
                citations.append(
                    Citation(
                        n=numbers[key],
                        doc_id=p.doc_id,
                        title=article.title if article else p.title,
                        published=article.published if article else p.published,
                        quote=sup.quote,
                        start=sup.start,
                        end=sup.end,
                        score=round(sup.score, 4),
                        also_in=p.chunk.also_in,
                    )
                )
            if f"[{numbers[key]}]" not in marks:
                marks.append(f"[{numbers[key]}]")
        body = c.text.rstrip()
        end = body[-1] if body and body[-1] in ".!?" else "."
        body = body.rstrip(".!? ")
        sentences.append(f"{body} {''.join(marks)}{end}")
    confidence = float(np.mean([max(s.score for s in c.supports) for c in kept]))
    return Answer(
        question=question,
        text=" ".join(sentences),
        citations=tuple(citations),
        refused=False,
        confidence=confidence,
        backend=backend,
        timings=dict(timings or {}),
        unsupported=dropped,
    )
