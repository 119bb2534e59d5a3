"""Near-duplicate articles: the same story published twice, perhaps with extra furniture."""

from __future__ import annotations

from collections.abc import Sequence

from rag.text import terms
from rag.types import Article

SHINGLE = 5
CONTAINMENT = 0.8  # share of the smaller article's shingles found in the other


def shingles(text: str) -> frozenset[int]:
    """Hashed word 5-grams of the article's content words."""
    words = terms(text, keep_stopwords=True)
    if len(words) < SHINGLE:
        return frozenset({hash(" ".join(words))})
    n = len(words) - SHINGLE + 1
    return frozenset(hash(" ".join(words[i : i + SHINGLE])) for i in range(n))


def containment(a: frozenset[int], b: frozenset[int]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def _rank(a: Article) -> tuple[int, int, str]:
    """Canonical copy: the one with a publish date, then the longer text, then the lower id."""
    return (0 if a.published else 1, -len(a.text), a.doc_id)


def group_duplicates(articles: Sequence[Article]) -> list[list[Article]]:
    """Groups of near-duplicates, canonical first; singletons are groups of one."""
    sh = [shingles(a.text) for a in articles]
    parent = list(range(len(articles)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(articles)):
        for j in range(i + 1, len(articles)):
            if containment(sh[i], sh[j]) >= CONTAINMENT:
                parent[find(j)] = find(i)
    groups: dict[int, list[Article]] = {}
    for i, a in enumerate(articles):
        groups.setdefault(find(i), []).append(a)
    return [sorted(g, key=_rank) for g in groups.values()]
