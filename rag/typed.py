"""Typed answers: the names, dates and numbers in the best evidence that could answer the
question, grouped (one candidate per thing however it is written) and ranked by the fitted
``candidate`` model (rag.models).

A date is one candidate however it is written ("Friday", "22 March", "March 22" in a piece
of 25 March 2024 are all 2024-03-22); a number is one candidate per value; a name is one
candidate with its shorter forms ("Bankman-Fried" joins "Sam Bankman-Fried").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from rag.dates import Resolved, resolve
from rag.embeddings import Embedder
from rag.errors import RagError
from rag.evidence import NAME_LABELS, Evidence, type_fit
from rag.models import Features, Model
from rag.names import name_key, name_terms, same_name
from rag.nlp import governors, parse_syntax_ahead
from rag.question import Query
from rag.text import fold, stem, terms
from rag.types import Article

DEPTH = 12  # evidence sentences candidates are drawn from (the ranked top)
CANDIDATE_FEATURES = (
    "fit", "head_sim", "best", "votes", "first_rank", "n_docs", "n_mentions", "spread",
    "in_question", "near", "is_publisher", "source", "clause_cover", "words", "resolved",
    "year_match", "governed", "is_person", "is_org", "is_place", "is_norp", "is_date", "is_number",
    "is_other",
)
_NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
_LABEL_GROUP = {"PERSON": "is_person", "ORG": "is_org", "GPE": "is_place", "LOC": "is_place",
                "FAC": "is_place", "NORP": "is_norp", "DATE": "is_date", "TIME": "is_date",
                "CARDINAL": "is_number", "QUANTITY": "is_number", "MONEY": "is_number",
                "PERCENT": "is_number"}


@dataclass(frozen=True)
class Candidate:
    """One possible answer and the sentences that give it (best first)."""

    text: str  # as it will be shown: "Sam Bankman-Fried", "22 March 2024", "over 130"
    label: str
    key: str  # what groups its mentions: a resolved date, a number's value, a name
    support: tuple[Evidence, ...]
    date: Resolved | None = None
    score: float = 0.0  # the fitted model's probability that this is the answer
    governed: float = 0.0  # 1 when it hangs from the question's verb ("governed" feature)


@dataclass(frozen=True)
class Found:
    """The candidates of a question with their features, before ranking."""

    candidates: tuple[Candidate, ...]
    features: Features


def number_value(text: str) -> str | None:
    """"16,000" -> "16000", "four" -> "4", "over 130" -> "130"; None without a number."""
    m = re.search(r"\d[\d,]*(?:\.\d+)?", text)
    if m:
        return m.group().replace(",", "").rstrip(".")
    for w in re.findall(r"[a-z]+", fold(text)):
        if w in _NUMBER_WORDS:
            return str(_NUMBER_WORDS[w])
    return None


def _labels(query: Query) -> set[str]:
    if query.kind == "when":
        return {"DATE", "TIME"}
    if query.kind == "how_many":  # "48 hours", "10 days": spaCy labels a span of time DATE/TIME
        return {"CARDINAL", "QUANTITY", "MONEY", "PERCENT", "DATE", "TIME"}
    if query.kind == "how_long":
        return {"DATE", "TIME", "QUANTITY", "CARDINAL"}
    return set(NAME_LABELS)


def gather(query: Query, evidence: Sequence[Evidence], articles: Mapping[str, Article],
           embedder: Embedder, names: Known) -> Found:
    """The candidates of the asked type in the top ``DEPTH`` evidence sentences."""
    if not query.typed or not evidence:
        return Found((), Features.of(CANDIDATE_FEATURES, []))
    wanted = _labels(query)
    fit = type_fit(query, embedder)
    qwords = set(query.terms) | set(query.entities)
    verbs = qwords | ({query.verb} if query.verb else set())
    groups: list[dict[str, object]] = []
    top = list(evidence[:DEPTH])
    # The sentences whose mentions ``_governed`` will read, parsed together.
    parse_syntax_ahead([ev.text for ev in top if any(m.label in wanted for m in ev.mentions)])
    for rank, ev in enumerate(top, start=1):
        art = articles.get(ev.doc_id)
        if art is None:
            continue
        for m in ev.mentions:
            if m.label not in wanted:
                continue
            text = art.text[m.start:m.end].strip()
            if not text or not terms(text, keep_stopwords=True):
                continue
            date = resolve(text, art.published) if m.label in ("DATE", "TIME") else None
            if m.label in ("CARDINAL", "QUANTITY", "MONEY", "PERCENT") or (
                    query.kind == "how_many" and number_value(text)):
                key = f"{m.label}:{number_value(text) or name_key(text)}"
            elif date is not None and query.kind == "when":
                key = f"date:{date.iso}"
            else:
                key = name_key(text)
            g = _find(groups, key, text, m.label)
            if g is None:
                g = {"key": key, "label": m.label, "texts": [], "support": [], "ranks": [],
                     "date": date, "near": 0.0, "governed": 0.0}
                groups.append(g)
            g["texts"].append(text)  # type: ignore[attr-defined]
            if ev not in g["support"]:  # type: ignore[operator]
                g["support"].append(ev)  # type: ignore[attr-defined]
                g["ranks"].append(rank)  # type: ignore[attr-defined]
            g["near"] = max(float(g["near"]), _proximity(art.text, ev.start, m.start, m.end,  # type: ignore[arg-type]
                                                        qwords))
            g["governed"] = max(float(g["governed"]),  # type: ignore[arg-type]
                                _governed(ev.text, m.start - ev.start, m.end - ev.start, verbs))
    groups = _offered(groups, query.options)
    if not groups:
        return Found((), Features.of(CANDIDATE_FEATURES, []))
    texts = [_display(g) for g in groups]
    head_sim = _head_similarity(embedder, query.head, tuple(texts)) if query.kind in (
        "who", "which", "where") else [0.0] * len(groups)
    clause_best = _clause_best(query, top)
    window_text = [fold(p.text) for p in {ev.passage.chunk_id: ev.passage for ev in top}.values()]
    rows, cands = [], []
    for g, text, hs in zip(groups, texts, head_sim):
        support: list[Evidence] = g["support"]  # type: ignore[assignment]
        ranks: list[int] = g["ranks"]  # type: ignore[assignment]
        ct = set(terms(text))
        date = g["date"]  # type: ignore[assignment]  # Resolved | None, as above
        label = str(g["label"])
        if label in NAME_LABELS:
            label = names.label_of(g["texts"], label)  # type: ignore[arg-type]
        key_text = name_key(text)
        row = {
            "fit": fit.get(label, 0.0),
            "head_sim": float(hs),
            "best": max(ev.score for ev in support),
            "votes": sum(ev.score for ev in support),
            "first_rank": 1.0 / min(ranks),
            "n_docs": len({ev.doc_id for ev in support}),
            "n_mentions": len(g["texts"]),  # type: ignore[arg-type]
            "spread": sum(key_text in w for w in window_text) / max(1, len(window_text)),
            "in_question": len(ct & qwords) / len(ct) if ct else 0.0,
            "near": float(g["near"]),  # type: ignore[arg-type]
            "is_publisher": float(name_key(text) in names.publishers),
            "source": float(any(ev.doc_id in query.sources for ev in support)),
            "clause_cover": (sum(any(ev is b for ev in support) for b in clause_best)
                             / len(clause_best) if clause_best else 0.0),
            "words": min(len(text.split()), 6) / 6,
            "resolved": {"day": 1.0, "month": 0.6, "year": 0.3}.get(
                date.grain if date else "", 0.0),
            "year_match": float(bool(query.years) and any(y in text or (date and date.iso[:4] == y)
                                                         for y in query.years)),
            "governed": float(g["governed"]),  # type: ignore[arg-type]
            _LABEL_GROUP.get(label, "is_other"): 1.0,
        }
        rows.append(row)
        cands.append(Candidate(text, label, str(g["key"]), tuple(support), date,
                               governed=float(g["governed"])))  # type: ignore[arg-type]
    return Found(tuple(cands), Features.of(CANDIDATE_FEATURES, rows))


def _find(groups: list[dict[str, object]], key: str, text: str, label: str
          ) -> dict[str, object] | None:
    """The group a mention joins: the same key, or (names) the same name of a like label."""
    for g in groups:
        if g["key"] == key:
            return g
    if label in NAME_LABELS:
        for g in groups:
            if str(g["label"]) in NAME_LABELS and any(
                    same_name(text, t) for t in g["texts"]):  # type: ignore[attr-defined]
                return g
    return None


def _offered(groups: list[dict[str, object]], options: tuple[str, ...]
             ) -> list[dict[str, object]]:
    """When the question offers its answers ("which country warned Moscow, Iran or
    France?") and the evidence names one of them, the answer is among them. Options that
    name no candidate ("due to injuries or team changes") leave every candidate."""
    if len(options) != 2:
        return groups
    kept = [g for g in groups
            if any(same_name(o, t) for o in options for t in g["texts"])]  # type: ignore[attr-defined]
    return kept or groups


def _display(g: Mapping[str, object]) -> str:
    """How a candidate is shown: a resolved date spelled out, else its fullest mention."""
    date: Resolved | None = g["date"]  # type: ignore[assignment]
    if date is not None and str(g["key"]).startswith("date:"):
        return date.spoken()
    texts: list[str] = g["texts"]  # type: ignore[assignment]
    best = max(texts, key=lambda t: (len(t.split()), texts.count(t), len(t)))
    return re.sub(r"^(?:the|The)\s+", "", best)


def in_full(cands: Sequence[Candidate], articles: Mapping[str, Article]) -> list[Candidate]:
    """A one-word name candidate shown by the fuller form its supporting article introduces
    first ("Trump" -> "Donald Trump"): news style names a thing in full once, then shortens it,
    and a bare surname refers to the one introduced first ("Bankman-Fried" is Sam, not his
    brother Gabe named later). The first supporting article that gives a fuller form decides.
    Only the text shown changes; the features were read from the form found.

    Chosen on MultiHop-RAG train, showing the top candidate of the 529 answerable entity
    questions by each rule: the form most often given over all supporting articles (none when
    no form has a majority) named the gold answer 348 times; the first introduced, with
    ``_refers``'s first names, acronyms and clipped names, 356."""
    names = known(articles)
    out = []
    for c in cands:
        text = ""
        if c.label in NAME_LABELS and len(c.text.split()) == 1:
            for doc_id in dict.fromkeys(ev.doc_id for ev in c.support):
                art = articles.get(doc_id)
                if art is not None and art.annotation is not None:
                    text = _introduced(c, art, names.uses)
                    if text:
                        break
        out.append(replace(c, text=text) if text else c)
    return out


# A form the whole collection names only once is taken for a tagging accident: a heading run
# into a name ("GO DEEPER Erling Haaland", "Miscellaneous Amazon"), not a fuller name.
MIN_USES = 2


def _introduced(c: Candidate, art: Article, uses: Mapping[str, int]) -> str:
    """The first fuller form of ``c`` in ``art`` that the collection names at least
    ``MIN_USES`` times (a person's full name before any other longer mention: the small tagger
    gives one word many labels), or ``""``."""
    if art.annotation is None:
        return ""
    spans = [(m.label, re.findall(r"[\w'’.\-]+", art.text[m.start:m.end]))
             for m in art.annotation.mentions if m.label in NAME_LABELS]
    # A word the article names on its own under the same label is a name of its own: "Google
    # Apple" is two names the tagger ran together, not Apple's full name; "Minnesota" (a place)
    # in "Minnesota Vikings" (a team) is not.
    alone = {(fold(w[0]), label) for label, w in spans if len(w) == 1}
    own = {fold(c.text)}
    found: list[tuple[bool, str]] = []
    for label, words in spans:
        if len(words) < 2:
            continue
        words = [*words[:-1], re.sub(r"['’]s?$", "", words[-1])]  # "Sam Bankman-Fried’s"
        extra = {fold(w) for w in words} - own
        name = " ".join(words)
        if (extra and all(w[:1].isupper() for w in words)
                and (label == "PERSON" or not {(w, label) for w in extra} & alone)
                and uses.get(name_key(name), 0) >= MIN_USES and _refers(c, label, words)):
            found.append((label == "PERSON", name))
    people = [name for person, name in found if person]
    return (people or [name for _, name in found] or [""])[0]


def _refers(c: Candidate, label: str, words: Sequence[str]) -> bool:
    """Whether the mention ``words`` (of ``label``) is a fuller form of the candidate: it ends
    with it ("Bankman-Fried", "Vikings"); a person's first name ("Britney" of "Britney
    Spears"); the initials of its capitalised words ("RA", "Rugby Australia"); or its first
    word clipped ("Fed", "Federal Reserve")."""
    short, name = c.text, " ".join(words)
    if same_name(name, short):
        return True
    if c.label == "PERSON" and label == "PERSON":
        return fold(words[0]) == fold(short)
    if short.isupper() and 2 <= len(short) <= 5:
        return "".join(w[0] for w in words if w[:1].isupper()) == short
    return (len(short) >= 3 and short[1:].islower() and words[0].isalpha()
            and words[0].startswith(short) and len(words[0]) > len(short))


def _governed(sentence: str, start: int, end: int, words: set[str]) -> float:
    """1 when the verb a mention hangs from is one the question uses ("warned" for "when did
    the US warn"), 0.5 when a verb further up does, else 0: the event a date belongs to."""
    if start < 0 or end > len(sentence):
        return 0.0
    stems = [stem(fold(v)) for v in governors(sentence, start, end)]
    if stems and stems[0] in words:
        return 1.0
    return 0.5 if any(s in words for s in stems[1:]) else 0.0


def _proximity(text: str, sent_start: int, start: int, end: int, qwords: set[str],
               reach: int = 80) -> float:
    """1 when a question word stands right beside the mention, less with distance."""
    left = terms(text[max(sent_start, start - reach):start])
    right = terms(text[end:end + reach])
    dist = [len(left) - k for k, t in enumerate(left) if t in qwords]
    dist += [k + 1 for k, t in enumerate(right) if t in qwords]
    return 1.0 / min(dist) if dist else 0.0


def _head_similarity(embedder: Embedder, head: str, texts: tuple[str, ...]) -> list[float]:
    """How much each candidate is "a {head}" to the embedder ("a newspaper" ~ "The New York
    Times"): the embedding model's knowledge of what a name is."""
    if not head:
        return [0.0] * len(texts)
    vecs = embedder.embed_each((f"a {head}",) + texts)
    return [float(v) for v in vecs[1:] @ vecs[0]]


def _clause_best(query: Query, top: Sequence[Evidence]) -> list[Evidence]:
    """For a question of several clauses, the sentence that best covers each clause."""
    clauses = [set(terms(c)) for c in query.clauses]
    clauses = [c for c in clauses if c]
    if len(clauses) < 2:
        return []
    return [max(top, key=lambda ev: (len(c & set(terms(ev.text))), ev.score)) for c in clauses]


def rank(found: Found, model: Model | None) -> list[Candidate]:
    """The candidates best first, each scored by the fitted ``candidate`` model."""
    if not len(found.features):
        return []
    if model is None:
        raise RagError("no fitted candidate model in rag/models.json; run "
                       "'python -m evals.calibrate'")
    probs = model.prob(found.features)
    order = np.argsort(-probs, kind="stable")
    return [replace(found.candidates[i], score=float(probs[i])) for i in order]


@dataclass(frozen=True)
class Known:
    """What the whole collection says about names: its publishers as name keys
    ("TechCrunch" -> "techcrunch"), and how often each mention text is tagged with each
    name label."""

    publishers: frozenset[str]
    labels: Mapping[str, Mapping[str, int]]
    uses: Mapping[str, int]  # how often the collection names each name key

    def label_of(self, texts: Sequence[str], found: str) -> str:
        """The name label the collection gives these forms of one name most often: the
        small model tags one name differently from sentence to sentence ("Sam Altman"
        PERSON 37 times; "Altman" GPE 30, ORG 30, PERSON 18 times over MultiHop-RAG), and
        its majority over a collection is a better guess than the one sentence's tag.
        ``found`` (the sentence's own tag) when the forms were never tagged as names."""
        votes: Counter[str] = Counter()
        for t in set(texts):
            votes.update(self.labels.get(t, {}))
        return max(votes, key=lambda lab: (votes[lab], lab == found)) if votes else found


def known(articles: Mapping[str, Article]) -> Known:
    """The collection's ``Known``, computed once per mapping of articles (the store keeps
    one until an indexing run commits): over every article, the publishers cost ~10 ms per
    answer at 609 articles (issue 14); the label counts ~90 ms once (71,000 name mentions)."""
    global _known
    held = _known
    if held is not None and held[0] is articles:
        return held[1]
    labels: dict[str, Counter[str]] = {}
    names = set(NAME_LABELS)
    for a in articles.values():
        if a.annotation is None:
            continue
        for m in a.annotation.mentions:
            if m.label in names:
                labels.setdefault(a.text[m.start:m.end].strip(), Counter())[m.label] += 1
    uses: Counter[str] = Counter()
    for text, counts in labels.items():
        uses[name_key(text)] += sum(counts.values())
    kept = Known(frozenset(name_key(a.source) for a in articles.values() if a.source),
                 labels, uses)
    _known = (articles, kept)
    return kept


_known: tuple[Mapping[str, Article], Known] | None = None


def matches(candidate: str, gold: str) -> bool:
    """Whether a candidate names the gold answer (for fitting and scoring): the same name,
    or the gold's words all in the candidate."""
    if same_name(candidate, gold):
        return True
    g = name_terms(gold)
    return bool(g) and g <= name_terms(candidate)

