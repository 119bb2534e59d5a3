"""Near-duplicate articles: the same story published twice, perhaps with extra furniture.

A MinHash LSH index (datasketch) proposes the likely twins of each new article, so a run
compares a new article with a handful of others instead of with every stored one. A proposed
pair is then checked exactly (share of shared word 5-grams), and folded only when the
sentences the two versions share in rewritten form agree on their numbers, dates and names:
two versions that disagree on a fact ("137 killed" and "144 killed") both stay, so the
disagreement can be shown.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.text import STOPWORDS, split_sentences, terms
from rag.types import Article

SHINGLE = 5
CONTAINMENT = 0.8  # share of the smaller article's shingles found in the other
# LSH proposes pairs whose estimated Jaccard similarity is about this or more: a copy with
# 0.8 containment and up to ~2.3 times the length of the other still clears it.
LSH_THRESHOLD = 0.3
NUM_PERM = 128
SEED = 1
SCHEME = "affine32"  # datasketch's permutation scheme; saved signatures must share it
# Two rewritten sentences are the same sentence when they share this share of their words.
ALIGN = 0.5

_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
_NUMBER_WORDS |= {w: str(10 * i) for i, w in enumerate(
    "twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}
_NUMBER_WORDS |= {"dozen": "12", "hundred": "100", "thousand": "1000", "million": "1000000",
                  "billion": "1000000000", "dozens": "dozens", "hundreds": "hundreds",
                  "thousands": "thousands", "millions": "millions"}
_CALENDAR = {
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday",
    "saturday", "sunday",
}
_WORD = re.compile(r"\w+", re.UNICODE)
_TOKEN = re.compile(r"\d[\d,.]*\d|\d|[^\W\d_][\w'’.-]*", re.UNICODE)


@dataclass(frozen=True)
class Conflict:
    """Two near-duplicates kept apart: the first facts they disagree on."""

    doc_id: str
    other: str
    detail: str  # "137 vs 144"


@dataclass(frozen=True)
class Grouping:
    """Groups of near-duplicates (canonical first; singletons are groups of one), the pairs
    kept apart because they disagree, and how many pairs were compared exactly."""

    groups: list[list[Article]]
    conflicts: list[Conflict]
    compared: int = 0


def shingles(text: str) -> frozenset[int]:
    """Hashed word 5-grams of the article's lower-cased words (crc32: the same on every run).

    Plain words, not stems or accent-folded words: copies share their exact words, and
    stemming made shingling ten times slower.
    """
    words = _WORD.findall(text.lower())
    if len(words) < SHINGLE:
        return frozenset({zlib.crc32(" ".join(words).encode())})
    n = len(words) - SHINGLE + 1
    return frozenset(zlib.crc32(" ".join(words[i : i + SHINGLE]).encode()) for i in range(n))


def containment(a: frozenset[int], b: frozenset[int]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def signature(sh: Collection[int]) -> np.ndarray:
    """The MinHash signature of a shingle set (the shingles are already 32-bit hashes)."""
    from datasketch import MinHash

    m = MinHash(num_perm=NUM_PERM, seed=SEED, hashfunc=int, scheme=SCHEME)
    m.update_batch(list(sh))
    return np.asarray(m.hashvalues)


def load_signatures(path: Path) -> dict[str, np.ndarray]:
    """Signatures saved by an earlier run, by article content hash; {} when absent or
    unreadable (they are only a cache: any missing one is computed again)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            keys, values, scheme = f["keys"], f["values"], str(f["scheme"])
        if (scheme != SCHEME or values.ndim != 2 or values.shape[1] != NUM_PERM
                or len(keys) != len(values)):
            return {}
        return {str(k): v for k, v in zip(keys, values)}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return {}


def save_signatures(path: Path, sigs: dict[str, np.ndarray]) -> None:
    """Write the cache atomically (a reader never sees half a file)."""
    keys = sorted(sigs)
    values = np.stack([sigs[k] for k in keys]) if keys else np.zeros((0, NUM_PERM), np.uint32)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, keys=np.array(keys, dtype=str), values=values, scheme=np.array(SCHEME))
    tmp.replace(path)


def _rank(a: Article) -> tuple[int, int, str]:
    """Canonical copy: the one with a publish date, then the longer text, then the lower id."""
    return (0 if a.published else 1, -len(a.text), a.doc_id)


def group_duplicates(articles: Sequence[Article], new: Collection[str] | None = None,
                     cache: dict[str, np.ndarray] | None = None) -> Grouping:
    """Group near-duplicates among ``articles``.

    Only pairs with at least one article in ``new`` (doc ids; default: all) are looked for:
    pairs of stored articles were settled when the later of them arrived. ``cache`` maps
    content hashes to signatures; missing ones are computed and added to it.
    """
    from datasketch import LeanMinHash, MinHashLSH

    cache = {} if cache is None else cache
    sh: dict[int, frozenset[int]] = {}

    def shingles_of(i: int) -> frozenset[int]:
        if i not in sh:
            sh[i] = shingles(articles[i].text)
        return sh[i]

    lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=NUM_PERM)
    sigs: list[Any] = []  # Any: datasketch MinHash
    for i, a in enumerate(articles):
        key = a.content_hash or f"text:{zlib.crc32(a.text.encode())}"
        if key not in cache:
            cache[key] = signature(shingles_of(i))
        sigs.append(LeanMinHash(seed=SEED, hashvalues=cache[key], scheme=SCHEME))
        lsh.insert(i, sigs[-1])
    parent = list(range(len(articles)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    conflicts: list[Conflict] = []
    compared = 0
    seen: set[tuple[int, int]] = set()
    for i, a in enumerate(articles):
        if new is not None and a.doc_id not in new:
            continue
        for j in lsh.query(sigs[i]):
            pair = (min(i, j), max(i, j))
            if i == j or pair in seen:
                continue
            seen.add(pair)
            compared += 1
            if containment(shingles_of(i), shingles_of(j)) < CONTAINMENT:
                continue
            detail = disagreement(a.text, articles[j].text)
            if detail:
                conflicts.append(Conflict(a.doc_id, articles[j].doc_id, detail))
                continue
            parent[find(j)] = find(i)
    groups: dict[int, list[Article]] = {}
    for i, a in enumerate(articles):
        groups.setdefault(find(i), []).append(a)
    return Grouping([sorted(g, key=_rank) for g in groups.values()], conflicts, compared)


def facts(sentence: str) -> tuple[set[str], set[str], set[str]]:
    """(numbers, calendar words, names) of a sentence; names are capitalised words after its
    first word, so a sentence opener is not taken for a name."""
    numbers: set[str] = set()
    calendar: set[str] = set()
    names: set[str] = set()
    for k, tok in enumerate(_TOKEN.findall(sentence)):
        low = tok.lower().rstrip(".")
        if tok[0].isdigit():
            numbers.add(tok.replace(",", "").rstrip("."))
        elif low in _NUMBER_WORDS:
            numbers.add(_NUMBER_WORDS[low])
        elif low in _CALENDAR:
            calendar.add(low)
        elif k > 0 and tok[0].isupper() and low not in STOPWORDS:
            names.add(tok.rstrip(".").replace("’", "'"))
    return numbers, calendar, names


def disagreement(a: str, b: str) -> str:
    """The first fact on which the rewritten sentences two versions share differ ("137 vs
    144"), or "" when they agree. A fact one version leaves out is no disagreement; one it
    replaces with another is."""
    sa = [a[s:e] for s, e in split_sentences(a)]
    sb = [b[s:e] for s, e in split_sentences(b)]
    exact = set(sa) & set(sb)
    words_b = [(t, set(terms(t, keep_stopwords=True))) for t in sb if t not in exact]
    for s in sa:
        if s in exact:
            continue
        ws = set(terms(s, keep_stopwords=True))
        if not ws:
            continue
        best, score = "", 0.0
        for t, wt in words_b:
            j = len(ws & wt) / len(ws | wt) if wt else 0.0
            if j > score:
                best, score = t, j
        if score < ALIGN:
            continue
        for x, y in zip(facts(s), facts(best)):
            only_x, only_y = x - y, y - x
            if only_x and only_y:
                return f"{', '.join(sorted(only_x)[:2])} vs {', '.join(sorted(only_y)[:2])}"
    return ""
