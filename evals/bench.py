"""``rag bench``: speed and memory, beside the LlamaIndex pipeline a user would write instead.

Every measurement runs in its own subprocess (``--worker NAME``) so import costs, model loads
and peak memory are those of one real process, not of the benchmark. Figures are wall-clock;
the CPU seconds beside them show how much of the wall time was waiting for a shared CPU.

The baseline: ``SimpleDirectoryReader`` / ``Document`` -> ``VectorStoreIndex`` over a Chroma
collection with the same MiniLM model through ``HuggingFaceEmbedding`` (sentence-transformers),
LlamaIndex's default ``SentenceSplitter``, and ``as_retriever()``. It has no answer step
(LlamaIndex's default LLM is OpenAI), so answers are compared with our own retrieval only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from rag.settings import PROJECT_ROOT, Settings

QUESTIONS = [
    "when did the US warn Russia?",
    "When did the attack on Crocus City Hall happen?",
    "How many people died in the concert hall attack?",
    "Who claimed responsibility for the attack?",
    "What did Putin say about the US warnings?",
    "Where is Crocus City Hall?",
    "What is the capital of France?",
]
CORPORA = [PROJECT_ROOT / "evals" / "data" / "multihop_rag" / "corpus.jsonl",
           Path("/work/shared/bench/multihop_rag/corpus.jsonl")]


# ---- helpers ---------------------------------------------------------------------------------

def _pct(xs: Sequence[float], p: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _questions(limit: int) -> list[str]:
    """The seed eval questions (data, not an import of evals/), else a built-in handful."""
    path = PROJECT_ROOT / "evals" / "cases.jsonl"
    qs: list[str] = []
    if path.exists():
        qs = [json.loads(line)["question"] for line in path.read_text().splitlines()
              if line.strip()]
    return (qs or QUESTIONS)[:limit]


def _corpus(limit: int | None) -> list[dict[str, Any]]:
    for path in CORPORA:
        if path.exists():
            docs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                    if line.strip()]
            return docs[:limit] if limit else docs
    raise FileNotFoundError("the MultiHop-RAG corpus is missing: evals/data/multihop_rag/")


def _settings(home: Path) -> Settings:
    return Settings.from_env().with_(home=home, chroma_url=None)


def _timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


# ---- workers (each runs in its own process and prints one JSON line) ------------------------

def w_cold(home: Path, question: str) -> dict[str, Any]:
    """Process start to first answer: imports, store open, model load, one answer."""
    from rag.engine import Engine

    ans = Engine(_settings(home), auto_index=False).answer(question)
    return {"done_at": time.time(), "cpu_s": _cpu_s(), "rss_mb": _rss_mb(),
            "refused": ans.refused}


def w_warm(home: Path, n: int) -> dict[str, Any]:
    """Warm ``answer()`` and ``retrieve()`` latencies on an open engine."""
    from rag.engine import Engine

    eng = Engine(_settings(home), auto_index=False)
    qs = _questions(n)
    for q in qs[:5]:
        eng.answer(q)  # warm-up: model loaded, caches filled as in a running server
    answer_ms = [t for q in qs for t in _timed(lambda q=q: eng.answer(q), 1)]
    retrieve_ms = [t for q in qs for t in _timed(lambda q=q: eng.retrieve(q, k=8), 1)]
    return {"answer_ms": answer_ms, "retrieve_ms": retrieve_ms, "rss_mb": _rss_mb(),
            "embed_backend": getattr(eng.embedder, "backend", "torch")}


def w_index(home: Path, limit: int | None) -> dict[str, Any]:
    """Index the MultiHop-RAG corpus into an empty store: chunks per second."""
    from index import SourceDoc, index_documents
    from rag.embeddings import get_embedder

    docs = [SourceDoc(doc_id=d["doc_id"], text=d["body"], source_path=d.get("url") or "",
                      title=d.get("title"), published=(d.get("published_at") or "")[:10] or None)
            for d in _corpus(limit)]
    t0, c0 = time.perf_counter(), _cpu_s()
    get_embedder().embed(["warm-up"])  # model load is cold start, not throughput
    t1, c1 = time.perf_counter(), _cpu_s()
    report = index_documents(docs, _settings(home))
    secs, cpu = time.perf_counter() - t1, _cpu_s() - c1
    return {"docs": len(docs), "chunks": report.chunks_written, "seconds": secs, "cpu_s": cpu,
            "load_s": t1 - t0, "load_cpu_s": c1 - c0, "rss_mb": _rss_mb(),
            "embed_backend": getattr(get_embedder(), "backend", "torch")}


def _baseline_embed() -> Any:
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    from rag.embeddings import model_path

    return HuggingFaceEmbedding(model_name=str(model_path()), device="cpu")


def _baseline_store(path: Path) -> Any:
    import chromadb
    from llama_index.core import StorageContext
    from llama_index.vector_stores.chroma import ChromaVectorStore

    client = chromadb.PersistentClient(path=str(path))
    vs = ChromaVectorStore(chroma_collection=client.get_or_create_collection("baseline"))
    return vs, StorageContext.from_defaults(vector_store=vs)


def w_baseline_index(home: Path, limit: int | None) -> dict[str, Any]:
    """The same corpus the way the LlamaIndex starter does it."""
    from llama_index.core import Document, VectorStoreIndex

    docs = [Document(text=d["body"], metadata={"title": d.get("title") or ""},
                     doc_id=d["doc_id"]) for d in _corpus(limit)]
    t0, c0 = time.perf_counter(), _cpu_s()
    embed = _baseline_embed()
    embed.get_text_embedding("warm-up")
    t1, c1 = time.perf_counter(), _cpu_s()
    vs, ctx = _baseline_store(home / "baseline")
    VectorStoreIndex.from_documents(docs, storage_context=ctx, embed_model=embed)
    secs, cpu = time.perf_counter() - t1, _cpu_s() - c1
    chunks = vs._collection.count()
    return {"docs": len(docs), "chunks": chunks, "seconds": secs, "cpu_s": cpu,
            "load_s": t1 - t0, "load_cpu_s": c1 - c0, "rss_mb": _rss_mb()}


def w_baseline_build(home: Path) -> dict[str, Any]:
    """The baseline index over the bundled articles (SimpleDirectoryReader)."""
    from llama_index.core import SimpleDirectoryReader, VectorStoreIndex

    docs = SimpleDirectoryReader(str(Settings().articles_dir)).load_data()
    _, ctx = _baseline_store(home / "baseline")
    VectorStoreIndex.from_documents(docs, storage_context=ctx, embed_model=_baseline_embed())
    return {"docs": len(docs)}


def w_baseline_cold(home: Path, question: str) -> dict[str, Any]:
    """Process start to first retrieval for the baseline."""
    from llama_index.core import VectorStoreIndex

    vs, _ = _baseline_store(home / "baseline")
    index = VectorStoreIndex.from_vector_store(vs, embed_model=_baseline_embed())
    index.as_retriever().retrieve(question)
    return {"done_at": time.time(), "cpu_s": _cpu_s(), "rss_mb": _rss_mb()}


def w_baseline_warm(home: Path, n: int) -> dict[str, Any]:
    from llama_index.core import VectorStoreIndex

    vs, _ = _baseline_store(home / "baseline")
    retriever = VectorStoreIndex.from_vector_store(
        vs, embed_model=_baseline_embed()).as_retriever()
    qs = _questions(n)
    for q in qs[:5]:
        retriever.retrieve(q)
    ms = [t for q in qs for t in _timed(lambda q=q: retriever.retrieve(q), 1)]
    return {"retrieve_ms": ms, "rss_mb": _rss_mb()}


def w_scale(home: Path, n: int, source: str) -> dict[str, Any]:
    """Query latency over ``n`` synthetic chunks in a real store (Chroma HNSW + BM25).

    Vectors are real chunk embeddings (from ``source``, a MultiHop-RAG store) plus noise,
    renormalised: clustered like real text, unlike uniform random vectors, which would flatter
    HNSW. Texts are real chunk texts with a unique marker. Written straight into the store
    (embedding 100k texts would measure the model, not the store)."""
    import hashlib

    import numpy as np

    from rag.embeddings import get_embedder
    from rag.lexical import build_lexical
    from rag.retrieval import Retriever
    from rag.store import Store
    from rag.types import Article, Chunk

    rng = np.random.default_rng(7)
    src = Store(_settings(Path(source)))
    got = src.chunks.get(include=["embeddings", "documents"])
    base_vecs = np.asarray(got["embeddings"], dtype=np.float32)
    base_txt = [" ".join(t.split()[:60]) for t in got["documents"]]
    emb = get_embedder()
    settings = _settings(home)
    store = Store(settings, create=True, embed_model=emb.name, dim=emb.dim)
    t0 = time.perf_counter()
    per_article, all_chunks, batch = 10, [], []
    for a in range(n // per_article):
        picks = rng.integers(0, len(base_txt), per_article)
        texts = [f"{base_txt[p]} syn{a}x{j}" for j, p in enumerate(picks)]
        body, spans = "", []
        for t in texts:
            spans.append((len(body), len(body) + len(t)))
            body += t + "\n"
        doc_id = f"syn{a:06d}"
        art = Article(doc_id=doc_id, title=f"Synthetic {a}", text=body, source_path="",
                      published="2023-10-01",
                      content_hash=hashlib.sha1(body.encode()).hexdigest())
        vecs = base_vecs[picks] + rng.normal(0, 0.04, (per_article, base_vecs.shape[1]))
        vecs = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)
        chunks = [Chunk(chunk_id=f"{doc_id}:{j}", doc_id=doc_id, text=t, start=s, end=e,
                        title=art.title, published=art.published)
                  for j, (t, (s, e)) in enumerate(zip(texts, spans))]
        all_chunks += chunks
        batch.append((art, chunks, vecs))
        if len(batch) * per_article >= 2000:
            store.put_articles(batch)
            batch = []
    if batch:
        store.put_articles(batch)
    build_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    fp = f"syn{n}"
    build_lexical(all_chunks, settings.home, fp)
    store.commit(fp)
    lex_s = time.perf_counter() - t1
    retriever = Retriever(store, emb)
    qs = _questions(40)
    qvecs = emb.embed(qs)
    for q in qs[:3]:
        retriever.retrieve(q, k=8)
    dense = [t for q, v in zip(qs, qvecs) for t in _timed(lambda v=v: store.query(v, 50), 1)]
    lexical = [t for q in qs for t in
               _timed(lambda q=q: retriever.lexical_index().search(q, 50), 1)]
    hybrid = [t for q in qs for t in _timed(lambda q=q: retriever.retrieve(q, k=8), 1)]
    return {"chunks": store.chunk_count(), "insert_s": build_s, "bm25_build_s": lex_s,
            "dense_p50_ms": _pct(dense, 50), "lexical_p50_ms": _pct(lexical, 50),
            "retrieve_p50_ms": _pct(hybrid, 50), "retrieve_p95_ms": _pct(hybrid, 95),
            "rss_mb": _rss_mb()}


WORKERS: dict[str, Callable[..., dict[str, Any]]] = {
    "cold": w_cold, "warm": w_warm, "index": w_index, "baseline-index": w_baseline_index,
    "baseline-build": w_baseline_build, "baseline-cold": w_baseline_cold,
    "baseline-warm": w_baseline_warm, "scale": w_scale,
}


def _run(name: str, *args: object, timeout: float = 3600) -> dict[str, Any]:
    """Run one worker in a fresh interpreter; its last stdout line is its JSON result."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "ANONYMIZED_TELEMETRY": "False", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "evals.bench", "--worker", name, *map(str, args)]
    started = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=PROJECT_ROOT)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"bench worker {name} failed ({proc.returncode}):\n"
                           f"{proc.stderr[-2000:]}")
    out = json.loads(lines[-1])
    if "done_at" in out:
        out["wall_s"] = out.pop("done_at") - started
    return out


# ---- the benchmark ---------------------------------------------------------------------------

def run(quick: bool, scale_sizes: Sequence[int], log: Callable[[str], None]) -> dict[str, Any]:
    from index import index_paths

    n_q = 20 if quick else 97
    corpus_limit = 40 if quick else None
    cold_runs = 2 if quick else 3
    res: dict[str, Any] = {"date": date.today().isoformat(), "quick": quick,
                           "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                                      f"Python {platform.python_version()}",
                           "load_avg": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp:
        tmp_path = Path(tmp)
        home = tmp_path / "bundled"
        log("indexing the bundled articles")
        index_paths([Settings().articles_dir], _settings(home))

        log("cold start (process start to first answer)")
        colds = [_run("cold", home, QUESTIONS[0]) for _ in range(cold_runs)]
        res["cold_start_s"] = statistics.median(c["wall_s"] for c in colds)
        res["cold_start_cpu_s"] = statistics.median(c["cpu_s"] for c in colds)

        log("warm answers")
        warm = _run("warm", home, n_q)
        res["answer_p50_ms"] = _pct(warm["answer_ms"], 50)
        res["answer_p95_ms"] = _pct(warm["answer_ms"], 95)
        res["retrieve_p50_ms"] = _pct(warm["retrieve_ms"], 50)
        res["retrieve_p95_ms"] = _pct(warm["retrieve_ms"], 95)
        res["embed_backend"] = warm["embed_backend"]

        log("baseline: LlamaIndex VectorStoreIndex over Chroma, HuggingFaceEmbedding")
        _run("baseline-build", home)
        bcolds = [_run("baseline-cold", home, QUESTIONS[0]) for _ in range(cold_runs)]
        res["baseline_cold_start_s"] = statistics.median(c["wall_s"] for c in bcolds)
        res["baseline_cold_start_cpu_s"] = statistics.median(c["cpu_s"] for c in bcolds)
        bwarm = _run("baseline-warm", home, n_q)
        res["baseline_retrieve_p50_ms"] = _pct(bwarm["retrieve_ms"], 50)
        res["baseline_retrieve_p95_ms"] = _pct(bwarm["retrieve_ms"], 95)

        log(f"indexing MultiHop-RAG ({corpus_limit or 'all'} articles), ours then baseline")
        ix = _run("index", tmp_path / "multihop", corpus_limit or 0)
        res["index_chunks"] = ix["chunks"]
        res["index_chunks_per_s"] = ix["chunks"] / ix["seconds"]
        res["index_cpu_s"] = ix["cpu_s"]
        bix = _run("baseline-index", tmp_path / "multihop-baseline", corpus_limit or 0)
        res["baseline_index_chunks"] = bix["chunks"]
        res["baseline_index_chunks_per_s"] = bix["chunks"] / bix["seconds"]
        # The baseline's chunks are ~1024 tokens where ours are <= 200 (MiniLM reads 256 and
        # drops the rest): per chunk it does more work, so compare articles per second too.
        res["index_docs_per_s"] = ix["docs"] / ix["seconds"]
        res["baseline_index_docs_per_s"] = bix["docs"] / bix["seconds"]

        res["peak_rss_mb"] = max(c["rss_mb"] for c in [*colds, warm, ix])
        res["baseline_peak_rss_mb"] = max(c["rss_mb"] for c in [*bcolds, bwarm, bix])

        scale: list[dict[str, Any]] = []
        for n in scale_sizes:
            log(f"scale: {n:,} synthetic chunks")
            s = _run("scale", tmp_path / f"scale{n}", n, tmp_path / "multihop")
            scale.append({"chunks": s["chunks"], "retrieve_p50_ms": s["retrieve_p50_ms"],
                          "retrieve_p95_ms": s["retrieve_p95_ms"],
                          "dense_p50_ms": s["dense_p50_ms"], "lexical_p50_ms": s["lexical_p50_ms"],
                          "insert_s": s["insert_s"], "bm25_build_s": s["bm25_build_s"],
                          "rss_mb": s["rss_mb"]})
        res["scale"] = scale

    res["ratios"] = {
        "retrieve_p50_vs_baseline": res["retrieve_p50_ms"] / res["baseline_retrieve_p50_ms"],
        "cold_start_vs_baseline": res["cold_start_s"] / res["baseline_cold_start_s"],
        "index_docs_per_s_vs_baseline":
            res["index_docs_per_s"] / res["baseline_index_docs_per_s"],
        "peak_rss_vs_baseline": res["peak_rss_mb"] / res["baseline_peak_rss_mb"],
    }
    big = max(scale, key=lambda s: s["chunks"]) if scale else None
    res["targets"] = {
        "answer_p50_ms<=25": res["answer_p50_ms"] <= 25,
        "cold_start_s<=3": res["cold_start_s"] <= 3,
        "index_chunks_per_s>=300": res["index_chunks_per_s"] >= 300,
        "retrieve_p50_ms<=100@max_scale": bool(big and big["retrieve_p50_ms"] <= 100),
        "peak_rss_mb<=1024": res["peak_rss_mb"] <= 1024,
    }
    return res


def _table(r: dict[str, Any]) -> str:
    rows = [
        ("warm answer p50 / p95", f"{r['answer_p50_ms']:.1f} / {r['answer_p95_ms']:.1f} ms", "-"),
        ("retrieval p50 / p95", f"{r['retrieve_p50_ms']:.1f} / {r['retrieve_p95_ms']:.1f} ms",
         f"{r['baseline_retrieve_p50_ms']:.1f} / {r['baseline_retrieve_p95_ms']:.1f} ms"),
        ("cold start (wall; cpu)", f"{r['cold_start_s']:.2f} s; {r['cold_start_cpu_s']:.2f} s",
         f"{r['baseline_cold_start_s']:.2f} s; {r['baseline_cold_start_cpu_s']:.2f} s"),
        ("indexing chunks/s", f"{r['index_chunks_per_s']:.0f} ({r['index_chunks']} chunks)",
         f"{r['baseline_index_chunks_per_s']:.0f} ({r['baseline_index_chunks']} chunks)"),
        ("indexing articles/s", f"{r['index_docs_per_s']:.1f}",
         f"{r['baseline_index_docs_per_s']:.1f}"),
        ("peak RSS", f"{r['peak_rss_mb']:.0f} MB", f"{r['baseline_peak_rss_mb']:.0f} MB"),
    ]
    out = [f"rag bench, {r['date']}, {r['machine']}, load average {r['load_avg']}, "
           f"embeddings: {r['embed_backend']}", "",
           f"{'':26}{'rag':>28}{'LlamaIndex baseline':>28}"]
    out += [f"{a:26}{b:>28}{c:>28}" for a, b, c in rows]
    if r["scale"]:
        out += ["", f"{'scale (chunks)':>16}{'retrieve p50':>14}{'p95':>10}{'dense p50':>12}"
                f"{'bm25 p50':>10}{'insert s':>10}"]
        out += [f"{s['chunks']:>16,}{s['retrieve_p50_ms']:>12.1f}ms{s['retrieve_p95_ms']:>8.1f}ms"
                f"{s['dense_p50_ms']:>10.1f}ms{s['lexical_p50_ms']:>8.1f}ms{s['insert_s']:>10.0f}"
                for s in r["scale"]]
    out += ["", "targets: " + ", ".join(f"{k} {'met' if v else 'NOT met'}"
                                        for k, v in r["targets"].items())]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="rag bench", description="Speed and memory figures, "
                                "beside a plain LlamaIndex pipeline over the same data.")
    p.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    p.add_argument("--quick", action="store_true",
                   help="a short run: fewer questions, 40 articles, scale 2k and 10k")
    p.add_argument("--scale", default=None,
                   help="comma-separated synthetic store sizes (default 10000,100000; "
                        "'' for none)")
    p.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        name, *rest = args.worker
        fn = WORKERS[name]
        conv = [Path(rest[0])] + [int(x) if x.isdigit() else x for x in rest[1:]]
        if name in ("index", "baseline-index"):
            conv[1] = conv[1] or None
        print(json.dumps(fn(*conv)))
        return 0
    sizes = ("2000,10000" if args.quick else "10000,100000") if args.scale is None else args.scale
    scale_sizes = [int(x) for x in sizes.split(",") if x.strip()]

    def log(msg: str) -> None:
        print(f"bench: {msg}", file=sys.stderr, flush=True)

    res = run(args.quick, scale_sizes, log)
    if args.json:
        print(json.dumps(res))
    else:
        print(_table(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
