"""Retrieval: dense (LlamaIndex over Chroma) and lexical (BM25), fused, duplicates collapsed,
re-scored by sentence, and the ``k`` passages chosen so that the articles most likely to hold
part of the answer (the fitted ``article`` model, when there is one) each get a place."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from rag.dates import dates_named
from rag.embeddings import Embedder
from rag.lexical import LexicalIndex, build_lexical, cached_words_key, lexical_dir, sentence_sets
from rag.models import Features, Model
from rag.names import publishers_named
from rag.sentences import SentenceIndex, analysed, build_sentences, sentences_dir
from rag.store import Store
from rag.text import question_clauses, question_parts, term_set, terms
from rag.types import Article, Chunk, Passage

RRF_K = 60  # the constant from Cormack et al.; flat enough that both lists matter
# What the ``article`` model reads of each candidate passage (see ``candidate_features``).
ARTICLE_FEATURES = (
    "score", "fused", "fused_rank", "rank", "article_rank", "in_article", "article_passages",
    "clause_best", "clause_mean", "clauses", "clause_rank", "clauses_near", "clause_gap",
    "named", "dated", "n_named", "also", "dense_rank", "lexical_rank", "title_cover",
    "sentence_sim", "article_sim")
NEAR_CLAUSE_RANK = 3  # "clauses_near": clauses for which the article is among the first few
DenseHits = list[tuple[Chunk, float]]  # dense candidates: live chunks with their similarity


@dataclass(frozen=True)
class Fusion:
    """How dense and lexical rankings are combined, and how the ``k`` passages are chosen."""

    dense: float = 0.3  # MiniLM trails BM25 on news (MultiHop-RAG); it still rescues paraphrases
    lexical: float = 1.0
    depth: int = 50  # candidates taken from each list
    window: int = 1600  # widen each passage to about this many characters of its article
    per_doc: int = 3  # at most this many passages from one article (0: no limit)
    spread: int = 8  # up to this many articles get a passage before any article gets a second
    spread_min: float = 0.5  # ...if their best passage scores this share of the best one
    rerank: int = 100  # candidates re-scored by their best sentence (0: off)
    rerank_weight: float = 0.6  # share of the sentence score in the re-scored rank
    named_bonus: float = 0.2  # for an article by a publisher, or of a date, the question names
    clause_depth: int = 20  # each clause's own BM25 top passages join the candidates


@dataclass(frozen=True)
class Candidates:
    """The re-scored candidate passages of one question, best first, with what the
    ``article`` model reads of each (None when re-scoring is off)."""

    passages: tuple[Passage, ...]
    covers: Mapping[str, tuple[float, ...]]  # chunk_id -> its share of each clause
    features: Features | None


class Retriever:
    """Hybrid retriever over one store. Thread-safe; the lexical index reloads when stale."""

    def __init__(self, store: Store, embedder: Embedder, fusion: Fusion | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.fusion = fusion or Fusion()
        self._lexical: LexicalIndex | None = None
        self._sentences: SentenceIndex | None = None
        self._checked = 0.0
        self._sentences_checked = 0.0
        self._lock = threading.Lock()

    # -- dense ---------------------------------------------------------------------------

    def dense(self, vector: np.ndarray, n: int) -> DenseHits:
        """Nearest chunks by embedding (LlamaIndex's Chroma vector store, run in the search
        worker for an embedded store); the score is used for ranking only."""
        from rag.worker import nearest

        n = max(1, min(n, self.store.chunk_count()))
        found = nearest(self.store.chunks, vector.tolist(), n)
        arts = self.store.articles()
        out = []
        for node_id, text, m, score in found:
            a = arts.get(m.get("doc_id", ""))
            if a is None or a.content_hash != m.get("content_hash"):
                continue  # a chunk of an article being rewritten, or left by a crash
            chunk = Chunk(chunk_id=node_id, doc_id=m["doc_id"],
                          text=text, start=int(m["start"]), end=int(m["end"]),
                          title=m.get("title", ""), published=m.get("published") or None,
                          also_in=a.also_published_as, source=a.source)
            out.append((chunk, score))
        return out

    # -- lexical -------------------------------------------------------------------------

    def lexical_index(self) -> LexicalIndex:
        """The BM25 index matching the store, loaded once and re-checked at most every second."""
        with self._lock:
            now = time.monotonic()
            if self._lexical is not None and now - self._checked < 1.0:
                return self._lexical
            self._checked = now
            fp = self.store.fingerprint()
            if self._lexical is not None and self._lexical.fingerprint == fp:
                return self._lexical
            folder = lexical_dir(self.store.settings.home, self.store.settings.collection)
            try:
                idx = LexicalIndex.load(folder)
                if idx.fingerprint != fp:
                    raise FileNotFoundError(folder)
            except (FileNotFoundError, ValueError, KeyError, OSError):
                # Written by another machine (shared Chroma server) or lost: rebuild it here.
                idx = build_lexical(self.store.live_chunks(), self.store.settings.home, fp,
                                    self.store.settings.collection)
            self._lexical = idx
            return idx

    def sentence_index(self) -> SentenceIndex:
        """The sentence vectors matching the store, loaded once and re-checked at most every
        second; rebuilt from the store (one embedding pass) when missing or stale, and its
        term tables made again (no embedding) when they are missing."""
        with self._lock:
            now = time.monotonic()
            if self._sentences is not None and now - self._sentences_checked < 1.0:
                return self._sentences
            self._sentences_checked = now
            fp = self.store.fingerprint()
            if self._sentences is not None and self._sentences.fingerprint == fp:
                return self._sentences
            folder = sentences_dir(self.store.settings.home, self.store.settings.collection)
            previous: SentenceIndex | None = None
            try:
                previous = SentenceIndex.load(folder)
                if (previous.fingerprint == fp and previous.terms is not None
                        and previous.firsts is not None):
                    self._sentences = previous
                    return previous
            except (FileNotFoundError, ValueError, KeyError, OSError):
                previous = None
            articles = self.store.articles(max_age=0)
            if previous is not None and previous.fingerprint == fp:
                index = analysed(previous, articles)  # only the term tables were missing
            else:
                index = analysed(build_sentences(articles, self.embedder.embed, fp, previous),
                                 articles, previous)
            index.save(folder)
            self._sentences = index
            return index

    # -- fused ---------------------------------------------------------------------------

    def retrieve(self, query: str, k: int, vector: np.ndarray | None = None,
                 lexical_terms: list[str] | None = None, ranker: Model | None = None,
                 dense: DenseHits | None = None) -> list[Passage]:
        """The ``k`` best passages, best first, near-duplicate passages collapsed.

        ``lexical_terms`` replaces the analysed query for BM25 (e.g. spelling-corrected);
        ``ranker`` is the fitted ``article`` model that picks which articles get a place;
        ``dense`` is ``dense_for(vector, k)`` when the caller has it already."""
        return self.choose(self.candidates(query, k, vector, lexical_terms, dense), k, ranker)

    def _depth(self, k: int) -> int:
        """How many dense and BM25 candidates are fetched for ``k`` passages."""
        return max(self.fusion.depth, k * 3, self.fusion.rerank)

    def dense_for(self, vector: np.ndarray, k: int) -> DenseHits:
        """The dense candidates for ``k`` passages (none when fusion leaves dense out)."""
        return self.dense(vector, self._depth(k)) if self.fusion.dense else []

    def candidates(self, query: str, k: int, vector: np.ndarray | None = None,
                   lexical_terms: list[str] | None = None,
                   dense: DenseHits | None = None) -> Candidates:
        """Dense and BM25 candidates fused, each clause's own BM25 hits added, all re-scored
        by their best sentence (what ``choose`` picks ``k`` passages from)."""
        if vector is None:
            vector = self.embedder.embed([query])[0]
        depth = self._depth(k)
        if dense is None:
            dense = self.dense_for(vector, k)
        lexical = []
        if self.fusion.lexical:
            index = self.lexical_index()
            lexical = (index.search_terms(lexical_terms, depth) if lexical_terms is not None
                       else index.search(query, depth))
        f = self.fusion
        wanted = max(k * 3 if f.per_doc else k, f.rerank)
        index = self.lexical_index()
        passages = fuse(dense, lexical, wanted, f, index.words_key)
        if not f.rerank:
            return Candidates(tuple(passages), {}, None)
        articles = self.store.articles()
        clauses = question_clauses(query)
        if f.clause_depth and f.lexical and clauses:
            passages = _with_clause_hits(passages, self.lexical_index(), clauses,
                                         f.clause_depth)
        fused = {p.chunk_id: p for p in passages}
        named = publishers_named(query, articles).docs
        dates = dates_named(query)
        bonus = {p.doc_id: f.named_bonus for p in passages
                 if p.doc_id in named or (p.published or "")[:10] in dates}
        clause_bonus = [{d: f.named_bonus for d in publishers_named(c, articles).docs}
                        for c in clauses]
        idf = self.lexical_index().idf
        passages, covers = rerank(query, passages, idf, f.rerank_weight, lexical_terms, bonus,
                                  clause_bonus, index.sentence_terms)
        wanted_terms = set(lexical_terms if lexical_terms is not None else terms(query))
        total = sum(idf(t) for t in wanted_terms) or 1.0
        title_cover = {p.doc_id: sum(idf(t) for t in wanted_terms & term_set(p.title)) / total
                       for p in passages}
        ranks = ({c.chunk_id: i for i, (c, _) in enumerate(dense)},
                 {c.chunk_id: i for i, (c, _) in enumerate(lexical)})
        similarity = self._similarity(passages, articles, vector)
        features = candidate_features(passages, fused, covers, named, dates, ranks, title_cover,
                                      depth, similarity)
        return Candidates(tuple(passages), covers, features)

    def _similarity(self, passages: Sequence[Passage], articles: Mapping[str, Article],
                    vector: np.ndarray) -> dict[str, tuple[float, float]]:
        """For each candidate: its best sentence's cosine to the question, and its article's
        best (sentence vectors stored at index time; nothing is embedded here). Cosines to
        each clause, which needed the clauses embedded, did not help the article model on
        train (5-fold, three fold draws)."""
        index = self.sentence_index()
        q = np.asarray(vector, np.float32)
        by_doc: dict[str, list[Passage]] = {}
        for p in passages:
            by_doc.setdefault(p.doc_id, []).append(p)
        blocks: list[np.ndarray] = []
        found: list[tuple[list[Passage], np.ndarray]] = []  # passages, their article's spans
        for doc, ps in by_doc.items():
            art = articles.get(doc)
            vecs = index.of(art) if art is not None else None
            if art is None or vecs is None or not len(vecs) or not art.sentences():
                continue
            spans = np.asarray(art.sentences()[: len(vecs)])
            blocks.append(vecs[: len(spans)])
            found.append((ps, spans))
        if not blocks:
            return {}
        # One product for every candidate article's sentences, not one per article (a loop
        # over ~60 articles was 10 ms of the answer; issue 14).
        sims_all = np.concatenate(blocks) @ q
        out: dict[str, tuple[float, float]] = {}
        at = 0
        for ps, spans in found:
            sims = sims_all[at : at + len(spans)]
            at += len(spans)
            lo = np.array([p.start for p in ps])[:, None]
            hi = np.array([p.end for p in ps])[:, None]
            inside = (spans[:, 0] < hi) & (spans[:, 1] > lo)  # (passages, sentences)
            best = np.where(inside, sims, -np.inf).max(axis=1)
            whole = float(sims.max())
            hits = np.asarray(inside.any(axis=1))
            for p, b, hit in zip(ps, best, hits):
                if hit:
                    out[p.chunk_id] = (float(b), whole)
        return out

    def choose(self, found: Candidates, k: int, ranker: Model | None = None) -> list[Passage]:
        """``k`` of the candidates, several articles given a place, widened."""
        f = self.fusion
        passages = list(found.passages)
        articles = self.store.articles()
        if f.per_doc:
            chance = (ranker.prob(found.features)
                      if ranker is not None and found.features is not None and passages
                      else None)
            passages = spread(passages, found.covers, f, k, articles, chance)
        passages = passages[:k]
        if f.window:
            passages = widen(passages, articles, f.window)
        return passages


def candidate_features(passages: Sequence[Passage], fused: Mapping[str, Passage],
                       covers: Mapping[str, tuple[float, ...]], named: Collection[str],
                       dates: Collection[str],
                       list_ranks: tuple[Mapping[str, int], Mapping[str, int]] = ({}, {}),
                       title_cover: Mapping[str, float] | None = None, depth: int = 100,
                       similarity: Mapping[str, tuple[float, float]] | None = None
                       ) -> Features:
    """What the ``article`` model reads of each re-scored candidate: its scores and ranks
    before and after re-scoring and in the dense and BM25 lists (``list_ranks``; ``depth``
    when absent), its article's rank and number of candidates, how much of each clause it
    holds and how its article ranks for each clause, whether its publisher or date is the
    one the question names, the share of the question its article's title holds, and its
    best sentence's (and its article's best) cosine to the question."""
    top = max((p.score for p in passages), default=1.0) or 1.0
    order = list(dict.fromkeys(p.doc_id for p in passages))
    article_rank = {d: i for i, d in enumerate(order)}
    per_article = Counter(p.doc_id for p in passages)
    n = len(next(iter(covers.values()), ()))
    clause_rank: list[dict[str, int]] = []
    clause_top: list[float] = []
    for i in range(n):
        best: dict[str, float] = {}
        for p in sorted(passages, key=lambda p: -covers[p.chunk_id][i]):
            best.setdefault(p.doc_id, covers[p.chunk_id][i])
        clause_rank.append({d: j for j, d in enumerate(best)})
        clause_top.append(max(best.values(), default=0.0))
    similarity = similarity or {}
    seen: Counter[str] = Counter()
    rows = []
    for pos, p in enumerate(passages):
        before = fused[p.chunk_id]
        cov = covers.get(p.chunk_id, ())
        ranks = [r[p.doc_id] for r in clause_rank]
        row = {"score": p.score / top, "fused": before.score,
               "fused_rank": math.log1p(before.rank - 1), "rank": math.log1p(pos),
               "article_rank": math.log1p(article_rank[p.doc_id]),
               "in_article": seen[p.doc_id], "article_passages": per_article[p.doc_id],
               "clauses": n, "named": float(p.doc_id in named),
               "dated": float((p.published or "")[:10] in dates),
               "n_named": math.log1p(len(named)), "also": len(p.chunk.also_in),
               "dense_rank": math.log1p(list_ranks[0].get(p.chunk_id, depth)),
               "lexical_rank": math.log1p(list_ranks[1].get(p.chunk_id, depth)),
               "title_cover": (title_cover or {}).get(p.doc_id, 0.0)}
        if p.chunk_id in similarity:
            row["sentence_sim"], row["article_sim"] = similarity[p.chunk_id]
        if n:  # a question of one clause: these stay 0 (the re-scored score says it all)
            row |= {"clause_best": max(cov), "clause_mean": sum(cov) / n,
                    "clause_rank": min(ranks),
                    "clauses_near": sum(r < NEAR_CLAUSE_RANK for r in ranks),
                    "clause_gap": min(t - c for t, c in zip(clause_top, cov))}
        seen[p.doc_id] += 1
        rows.append(row)
    return Features.of(ARTICLE_FEATURES, rows)


def _with_clause_hits(passages: list[Passage], index: LexicalIndex, clauses: Sequence[str],
                      depth: int) -> list[Passage]:
    """``passages`` and, after them, each clause's own best BM25 passages: an article that
    answers one clause of a long question may rank low for the question as a whole."""
    have = {p.chunk_id for p in passages}
    floor = min((p.score for p in passages), default=0.0)
    out = list(passages)
    for clause in clauses:
        for chunk, _ in index.search_terms(terms(clause), depth):
            if chunk.chunk_id not in have:
                have.add(chunk.chunk_id)
                out.append(Passage(chunk=chunk, score=floor, rank=len(out) + 1))
    return out


def rerank(query: str, passages: list[Passage], idf: Callable[[str], float], weight: float,
           query_terms: list[str] | None = None, bonus: Mapping[str, float] | None = None,
           clause_bonus: Sequence[Mapping[str, float]] = (),
           sentence_terms: Callable[[Chunk], tuple[frozenset[str], ...]] | None = None,
           ) -> tuple[list[Passage], dict[str, tuple[float, ...]]]:
    """Re-score candidates by their single best sentence: the idf-weighted share of the
    question's terms (or of one part's, for a multi-part question) that the sentence holds.

    A passage holding the fact in one sentence beats one that merely shares many words
    scattered over it. The title and publisher count at half weight ("the TechCrunch
    article on ..."); ``bonus`` is added per article (one the question names).
    Also returns, for a question of several clauses, each candidate's share of each clause
    alone ("covered by TechCrunch for A, noted by Polygon for B"), by chunk id in the
    candidates' order before re-scoring; ``clause_bonus[i]`` favours the articles of a
    publisher clause ``i`` itself names. ``sentence_terms`` gives a chunk's sentences'
    terms (the lexical index's, analysed at index time); by default they are analysed here."""
    if not passages:
        return passages, {}
    sentence_terms = sentence_terms or (lambda c: sentence_sets(c.text))
    bonus = bonus or {}
    full = set(query_terms if query_terms is not None else terms(query))
    parts = [set(terms(p)) for p in question_parts(query)]
    groups = [(g, sum(idf(t) for t in g) or 1.0) for g in [full, *(parts if len(parts) > 1
                                                                      else [])]]
    clauses = [(g, sum(idf(t) for t in g) or 1.0)
               for g in (set(terms(c)) for c in question_clauses(query))]
    # Each question term's weight computed once, looked up in C after: the same values, so
    # the same sums (idf was called 124k times over 40 questions, issue 14).
    idf_of = {t: idf(t) for g, _ in [*groups, *clauses] for t in g}.__getitem__
    top = max(p.score for p in passages) or 1.0
    scored = []
    per_clause: list[list[float]] = [[] for _ in clauses]
    for p in passages:
        context = term_set(f"{p.title} {p.source}")
        sentences = sentence_terms(p.chunk)
        best = max(_cover(g, total, sentences, context, idf_of) for g, total in groups)
        extra = bonus.get(p.doc_id, 0.0)
        scored.append(((1 - weight) * p.score / top + weight * best + extra, p))
        for i, (g, total) in enumerate(clauses):
            own = clause_bonus[i].get(p.doc_id, 0.0) if i < len(clause_bonus) else extra
            per_clause[i].append(_cover(g, total, sentences, context, idf_of) + own)
    covers = {p.chunk_id: tuple(sc[j] for sc in per_clause) for j, p in enumerate(passages)}
    scored.sort(key=lambda x: -x[0])
    return ([replace(p, score=round(sc, 6), rank=i) for i, (sc, p) in enumerate(scored, start=1)],
            covers)


def _cover(group: set[str], total: float, sentences: Sequence[frozenset[str]],
           context: frozenset[str], idf: Callable[[str], float]) -> float:
    """The idf-weighted share of ``group`` the best sentence holds; the title and publisher
    (``context``) supply a missing term at half weight."""
    ctx = {t: 0.5 * idf(t) for t in group & context}
    return max((sum(map(idf, group & words)) + sum(w for t, w in ctx.items()
                                                   if t not in words)) / total
               for words in sentences or (frozenset(),))


def _leaders(covers: Mapping[str, tuple[float, ...]], passages: Sequence[Passage]) -> list[str]:
    """The article that best answers each clause alone, in clause order (``covers`` is in
    the candidates' order before re-scoring: the first of equals wins)."""
    doc = {p.chunk_id: p.doc_id for p in passages}
    n = len(next(iter(covers.values()), ()))
    return list(dict.fromkeys(doc[max(covers, key=lambda c: covers[c][i])] for i in range(n)))


def spread(passages: list[Passage], covers: Mapping[str, tuple[float, ...]], fusion: Fusion,
           k: int, articles: Mapping[str, Article], chance: np.ndarray | None = None
           ) -> list[Passage]:
    """Choose ``k`` of the ranked passages so that several articles get a place.

    First up to ``fusion.spread`` articles get their best passage: with ``chance`` (the
    ``article`` model's probability for each passage), the articles most likely to hold part
    of the answer; without, each clause's leading article, then the next best articles that
    score at least ``fusion.spread_min`` of the best. Then the best remaining passages, at
    most ``fusion.per_doc`` per article, skipping one that a chosen passage's widened window
    already covers. Best first."""
    best: dict[str, Passage] = {}
    for p in passages:
        best.setdefault(p.doc_id, p)
    if chance is not None:
        docs = list(dict.fromkeys(passages[int(i)].doc_id
                                  for i in np.argsort(-chance, kind="stable")))
    else:
        top = passages[0].score if passages else 0.0
        strong = [d for d, p in best.items() if p.score >= fusion.spread_min * top]
        docs = list(dict.fromkeys([d for d in _leaders(covers, passages) if d in best]
                                  + strong))
    chosen = [best[d] for d in docs[: min(k, fusion.spread)]]
    windows: dict[str, list[tuple[int, int]]] = {}
    for p in chosen:
        windows.setdefault(p.doc_id, []).append(_window(p, articles.get(p.doc_id), fusion.window))
    for p in passages:
        if len(chosen) >= k:
            break
        taken = windows.get(p.doc_id, [])
        if len(taken) >= fusion.per_doc or any(p.start < e and s < p.end for s, e in taken):
            continue  # enough of this article, or already inside a chosen window
        chosen.append(p)
        windows.setdefault(p.doc_id, []).append(
            _window(p, articles.get(p.doc_id), fusion.window))
    chosen.sort(key=lambda p: -p.score)
    return [replace(p, rank=i) for i, p in enumerate(chosen, start=1)]


def _window(p: Passage, art: Article | None, chars: int) -> tuple[int, int]:
    """``p`` grown by whole sentences on both sides up to about ``chars`` characters."""
    start, end = p.start, p.end
    if art is None or not chars or end - start >= chars:
        return start, end
    spans = art.sentences()
    before = [s for s in spans if s[1] <= start][::-1]
    after = [s for s in spans if s[0] >= end]
    i = j = 0
    while True:
        grown = False
        if j < len(after) and after[j][1] - start <= chars:
            end, j, grown = after[j][1], j + 1, True
        if i < len(before) and end - before[i][0] <= chars:
            start, i, grown = before[i][0], i + 1, True
        if not grown:
            return start, end


def widen(passages: list[Passage], articles: Mapping[str, Article], chars: int
          ) -> list[Passage]:
    """Grow each passage by whole sentences on both sides up to about ``chars`` characters,
    so a fact cut by a chunk boundary is whole; overlapping windows of one article merge."""
    out: list[Passage] = []
    taken: dict[str, list[tuple[int, int]]] = {}
    for p in passages:
        art = articles.get(p.doc_id)
        start, end = _window(p, art, chars)
        if any(s < end and start < e for s, e in taken.get(p.doc_id, [])):
            start, end = p.start, p.end  # keep the neighbour's window, not a second copy
        taken.setdefault(p.doc_id, []).append((start, end))
        text = art.text[start:end] if art is not None else p.text
        out.append(replace(p, chunk=replace(p.chunk, text=text, start=start, end=end)))
    return out


def fuse(dense: Sequence[tuple[Chunk, float]], lexical: Sequence[tuple[Chunk, float]], k: int,
         fusion: Fusion, key_of: Callable[[Chunk], int] | None = None) -> list[Passage]:
    """Weighted reciprocal rank fusion, then collapse of passages with the same words
    (``key_of``: a chunk's ``words_key``, from the lexical index when given)."""
    key_of = key_of or (lambda c: cached_words_key(c.text))
    scores: dict[str, float] = {}
    chunks: dict[str, Chunk] = {}
    for weight, ranked in ((fusion.dense, dense), (fusion.lexical, lexical)):
        for rank, (chunk, _) in enumerate(ranked, start=1):
            scores[chunk.chunk_id] = scores.get(chunk.chunk_id, 0.0) + weight / (RRF_K + rank)
            chunks.setdefault(chunk.chunk_id, chunk)
    order = sorted(scores, key=lambda cid: (-scores[cid], cid))
    best = max(scores.values(), default=1.0)
    passages: list[Passage] = []
    seen: dict[int, int] = {}
    for cid in order:
        chunk = chunks[cid]
        key = key_of(chunk)
        if key in seen:  # the same passage published in another article: list both sources
            i = seen[key]
            kept = passages[i].chunk
            also = tuple(sorted({*kept.also_in, chunk.doc_id, *chunk.also_in} - {kept.doc_id}))
            passages[i] = replace(passages[i], chunk=replace(kept, also_in=also))
            continue
        seen[key] = len(passages)
        passages.append(Passage(chunk=chunk, score=scores[cid] / best, rank=len(passages) + 1))
        if len(passages) >= k:
            break
    return passages
