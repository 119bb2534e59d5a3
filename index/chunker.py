"""Articles -> sentence-aligned chunks sized for the embedder, with exact offsets."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from rag.types import Article, Chunk

TokenCounter = Callable[[list[str]], list[int]]


def chunk_id(doc_id: str, start: int, text: str) -> str:
    """Content-derived: the same text at the same place gets the same id on every run."""
    digest = hashlib.sha1(f"{doc_id}\0{start}\0{text}".encode()).hexdigest()[:16]
    return f"{doc_id}:{digest}"


def chunk_article(article: Article, count_tokens: TokenCounter, max_tokens: int = 200,
                  overlap: int = 1) -> list[Chunk]:
    """Pack whole sentences into chunks of at most ``max_tokens`` word pieces (title included).

    Consecutive chunks share ``overlap`` sentences so a fact at a boundary is whole in one of
    them. A sentence longer than the budget is cut at word boundaries.
    """
    text = article.text
    title_cost = count_tokens([article.title])[0] + 4 if article.title else 0
    budget = max(32, max_tokens - title_cost)
    spans = _fit(text, list(article.sentences()), count_tokens, budget)
    costs = count_tokens([text[s:e] for s, e in spans]) if spans else []

    chunks: list[Chunk] = []
    i = 0
    while i < len(spans):
        j, used = i, 0
        while j < len(spans) and (j == i or used + costs[j] <= budget):
            used += costs[j]
            j += 1
        start, end = spans[i][0], spans[j - 1][1]
        body = text[start:end]
        chunks.append(Chunk(chunk_id=chunk_id(article.doc_id, start, body), doc_id=article.doc_id,
                            text=body, start=start, end=end, title=article.title,
                            published=article.published, also_in=article.also_published_as,
                            source=article.source))
        if j >= len(spans):
            break
        i = max(i + 1, j - overlap)
    return chunks


def _fit(text: str, spans: list[tuple[int, int]], count_tokens: TokenCounter,
         budget: int) -> list[tuple[int, int]]:
    """Split any sentence over ``budget`` word pieces at word boundaries."""
    costs = count_tokens([text[s:e] for s, e in spans]) if spans else []
    out: list[tuple[int, int]] = []
    for (s, e), cost in zip(spans, costs):
        if cost <= budget:
            out.append((s, e))
            continue
        pieces = max(2, -(-cost // budget) + 1)
        step = (e - s) // pieces
        cur = s
        while cur < e:
            cut = min(e, cur + step)
            if cut < e:
                space = text.rfind(" ", cur + 1, cut)
                cut = space if space > cur else cut
            out.append((cur, cut))
            cur = cut
            while cur < e and text[cur].isspace():
                cur += 1
    return out
