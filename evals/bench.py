"""``rag bench``: what a user sees, beside the LlamaIndex pipeline a user would write instead.

``rag bench --corpus multihop`` indexes the 609 MultiHop-RAG articles and asks dev questions
that were never asked before in the process that answers them (the warm-up uses a different,
train-split question), so no cache of an earlier answer helps. ``--corpus seeds`` does the same
over the five bundled articles and the seed cases. Questions come through the evals API
(:func:`evals.runner.load_cases`, :func:`evals.multihop.load_questions` and ``select``).

Every measurement runs in its own subprocess (``--worker NAME``) so import costs, model loads
and peak memory are those of one real process. Figures are wall-clock on a possibly shared
machine: the load average at the start and the end of the run is reported beside them, and the
ratios to the baseline (measured in the same run, on the same corpus and questions) are the
figures to compare across runs.

The baseline: ``Document`` (``SimpleDirectoryReader`` for the bundled articles) ->
``VectorStoreIndex`` over a Chroma collection with the same MiniLM model through
``HuggingFaceEmbedding`` (sentence-transformers), LlamaIndex's default ``SentenceSplitter``, and
``as_retriever()`` with its defaults. It has no answer step (LlamaIndex's default LLM is
OpenAI), so our whole answer is compared with its retrieval.

The machine's limit: a GEMM rate measured on this CPU (numpy float32, onnxruntime float32
``MatMul`` and int8 ``MatMulInteger``) beside the embedder's arithmetic over the tokens indexed,
so indexing is shown as a share of what the CPU can do.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals import EVALS_DIR, MULTIHOP_DIR

if TYPE_CHECKING:
    from rag import Settings

CORPORA = ("seeds", "multihop")
QUICK_ARTICLES = 40  # --quick --corpus multihop indexes the first 40 articles only
ROOT = EVALS_DIR.parent  # the workers run from the project folder (evals/ importable)
DEFAULT_CACHE = Path(os.environ.get("RAG_EVAL_CACHE", ROOT / ".eval-cache"))


# ---- helpers ---------------------------------------------------------------------------------

def _pct(xs: Sequence[float], p: float) -> float | None:
    """The ``p``-th percentile (nearest rank); None for no samples."""
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _settings(home: Path) -> Settings:
    from evals.runner import eval_settings

    return eval_settings(home)


def _log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ---- corpus and questions (through the evals API) -------------------------------------------

def questions(corpus: str, limit: int | None) -> list[str]:
    """The measured questions: distinct dev-split questions in file order (multihop: the
    stratified ``select`` over question types), at most ``limit``."""
    if corpus == "seeds":
        from evals.runner import load_cases

        qs = [c.question for c in load_cases() if c.split == "dev"]
    else:
        from evals import multihop

        seen: set[str] = set()
        distinct = [q for q in multihop.load_questions(MULTIHOP_DIR)
                    if not (q.query in seen or seen.add(q.query))]  # type: ignore[func-returns-value]
        qs = [q.query for q in multihop.select(distinct, limit, "dev")]
    out = list(dict.fromkeys(qs))
    return out[:limit] if limit is not None else out


def warmup_question(corpus: str) -> str:
    """A train-split question: never one of the measured (dev) questions."""
    dev = set(questions(corpus, None))
    if corpus == "seeds":
        from evals.runner import load_cases

        train = [c.question for c in load_cases() if c.split == "train"]
    else:
        from evals import multihop

        train = [q.query for q in multihop.load_questions(MULTIHOP_DIR) if q.split == "train"]
    return next(q for q in train if q not in dev)


def _multihop_docs(limit: int | None) -> list[dict[str, Any]]:  # Any: JSON
    """The MultiHop-RAG articles through :func:`evals.multihop.load_corpus` (first ``limit``)."""
    from evals import multihop

    docs = multihop.load_corpus(MULTIHOP_DIR)
    return docs[:limit] if limit else docs


def _article_files() -> list[Path]:
    articles = _settings(ROOT / "unused").articles_dir
    return [p for p in sorted(articles.iterdir()) if p.is_file()]


def _corpus_key(corpus: str, limit: int | None) -> tuple[str, str]:
    """(cache name, corpus digest): the same as ``rag eval`` uses, so the stores are shared."""
    from evals.runner import sha256_files

    if corpus == "multihop":
        sha = sha256_files([MULTIHOP_DIR / "corpus.jsonl"])
        if limit:
            return f"multihop{limit}", hashlib.sha256(f"{sha}|{limit}".encode()).hexdigest()
        return "multihop", sha
    return "seeds", sha256_files(_article_files())


def _build(corpus: str, limit: int | None) -> Callable[[Any], object]:  # Any: a Settings or a path
    if corpus == "multihop":
        from evals import multihop

        return lambda s: multihop.index_corpus(_multihop_docs(limit), s)
    from index import index_paths

    return lambda s: index_paths([s.articles_dir], s, progress=False)


# ---- the machine's limit ---------------------------------------------------------------------

def model_flops(seq_lens: Sequence[int]) -> tuple[float, dict[str, Any]]:  # Any: JSON
    """Multiply-add FLOPs of the embedder's forward passes over sequences of ``seq_lens`` tokens
    (padding not counted). Per layer a token costs 2 x (4 d^2 + 2 d f) in the Q, K, V, output and
    feed-forward matmuls, and 4 n d in attention (Q K^T and A V over a sequence of n):

        FLOPs = sum over sequences of L (2 n (4 d^2 + 2 d f) + 4 n^2 d)

    The word-embedding table (30522 x d) is a lookup, not a matmul, so it is not counted."""
    from rag.embeddings import model_path

    cfg = json.loads((model_path() / "config.json").read_text())
    d, f, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    matmul_params = layers * (4 * d * d + 2 * d * f)
    flops = sum(2 * n * matmul_params + layers * 4 * n * n * d for n in seq_lens)
    return float(flops), {"hidden": d, "ffn": f, "layers": layers,
                          "matmul_params": matmul_params,
                          "formula": "sum_seq L*(2n(4d^2+2df) + 4n^2 d)"}


def _best_rate(fn: Callable[[], object], ops: float, budget_s: float) -> float:
    """Operations per second of the fastest of repeated calls within ``budget_s``."""
    fn()  # first call: allocation, thread pool start
    best, t_end = float("inf"), time.perf_counter() + budget_s
    while time.perf_counter() < t_end:
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return ops / best


def gemm_rates(budget_s: float = 1.0, m: int = 4096, k: int = 384, n: int = 1536
               ) -> dict[str, Any]:  # Any: JSON
    """GEMM rates on this CPU in GFLOP/s (int8: GOP/s), on the shape of MiniLM's feed-forward
    matmul (a batch of 32 sequences of 128 tokens, 384 -> 1536), all cores, best of repeats."""
    import numpy as np

    rng = np.random.default_rng(0)
    ops = 2.0 * m * k * n
    a, b = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n),
                                                                              dtype=np.float32)
    out: dict[str, Any] = {"shape": [m, k, n],  # Any: JSON
                           "numpy_fp32_gflops": _best_rate(lambda: a @ b, ops, budget_s) / 1e9}
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper

        # Any: onnxruntime objects
        def session(op: str, a_type: int, b_arr: Any, y_type: int) -> Any:
            graph = helper.make_graph(
                [helper.make_node(op, ["A", "B"], ["Y"])], "gemm",
                [helper.make_tensor_value_info("A", a_type, [m, k])],
                [helper.make_tensor_value_info("Y", y_type, [m, n])],
                [numpy_helper.from_array(b_arr, "B")])
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
            model.ir_version = 8
            return ort.InferenceSession(model.SerializeToString(),
                                        providers=["CPUExecutionProvider"])

        s32 = session("MatMul", TensorProto.FLOAT, b, TensorProto.FLOAT)
        out["ort_fp32_gflops"] = _best_rate(lambda: s32.run(None, {"A": a}), ops, budget_s) / 1e9
        a8 = rng.integers(0, 255, (m, k), dtype=np.uint8)  # u8 x s8: ORT's dynamic-quant path
        b8 = rng.integers(-127, 127, (k, n), dtype=np.int8)
        s8 = session("MatMulInteger", TensorProto.UINT8, b8, TensorProto.INT32)
        out["int8_gops"] = _best_rate(lambda: s8.run(None, {"A": a8}), ops, budget_s) / 1e9
        out["int8_via"] = "onnxruntime MatMulInteger (uint8 x int8)"
    except Exception as e:  # noqa: BLE001 - no onnx: numpy's (unblocked) int8 matmul instead
        a8 = rng.integers(-127, 127, (m, k), dtype=np.int8)
        b8 = rng.integers(-127, 127, (k, n), dtype=np.int8)
        out["int8_gops"] = _best_rate(lambda: np.matmul(a8, b8, dtype=np.int32), ops,
                                      budget_s) / 1e9
        out["int8_via"] = f"numpy int8 -> int32 (onnxruntime unavailable: {e})"
    out["fp32_gflops"] = max(out["numpy_fp32_gflops"], out.get("ort_fp32_gflops", 0.0))
    return out


# ---- workers (each runs in its own process and prints one JSON line) ------------------------

def w_index(cache_root: Path, corpus: str, limit: int, fresh: int) -> dict[str, Any]:  # Any: JSON
    """Our ingestion into the cached store (``fresh``: rebuilt even when cached), counting the
    word pieces the embedder reads. The caller times the whole process."""
    from evals.runner import cached_home
    from rag.embeddings import MAX_TOKENS, get_embedder

    name, sha = _corpus_key(corpus, limit or None)
    base = cache_root / f"{name}-{sha[:12]}"
    if fresh:
        (base / "complete.json").unlink(missing_ok=True)  # cached_home rebuilds it from scratch
    # The instances the indexer below will use: the chunk pass's (none by default: chunk
    # vectors are pooled from the sentences'; int8 or fp32 by RAG_CHUNK_VECTORS) and the
    # sentence pass's.
    chunk_emb = get_embedder(_settings(base), chunks=True)
    emb = get_embedder(_settings(base))
    seq_lens: list[int] = []
    counting = [0.0]

    def counting_embed(e: Any) -> Any:  # Any: an Embedder; its counted ``embed``
        embed = e.embed

        def counted(texts: list[str], batch_size: int | None = None) -> Any:  # Any: numpy arrays
            t = time.perf_counter()
            seq_lens.extend(min(n + 2, MAX_TOKENS) for n in e.count_tokens(list(texts)))
            counting[0] += time.perf_counter() - t
            return embed(texts, batch_size)
        return counted

    for e in {id(x): x for x in (chunk_emb, emb)}.values():
        e.embed = counting_embed(e)  # type: ignore[method-assign]
    built: dict[str, Any] = {}  # Any: JSON
    build = _build(corpus, limit or None)

    def timed(s: Any) -> object:  # Any: a Settings
        t = time.perf_counter()
        report = build(s)
        built["build_s"] = time.perf_counter() - t - counting[0]
        built["chunks"] = getattr(report, "total_chunks", None)
        return report

    home = cached_home(cache_root, name, sha, _settings(cache_root / "unused"), timed, _log)
    flops, model = model_flops(seq_lens)
    articles = len(_multihop_docs(limit or None) if corpus == "multihop" else _article_files())
    return {"home": str(home), "built": bool(built), "articles": articles,
            **built, "tokens": sum(seq_lens), "sequences": len(seq_lens), "flops": flops,
            "model": model, "counting_s": counting[0], "rss_mb": _rss_mb(),
            "embed_backend": emb.backend, "chunk_backend": chunk_emb.backend,
            "done_at": time.time()}


def w_cold(home: Path, question: str) -> dict[str, Any]:  # Any: JSON
    """Process start to first answer: imports, store open, model load, one answer."""
    from rag.engine import Engine

    ans = Engine(_settings(home)).answer(question)
    return {"done_at": time.time(), "cpu_s": _cpu_s(), "rss_mb": _rss_mb(),
            "refused": ans.refused}


def _timed(fn: Callable[[str], object], qs: Sequence[str]) -> list[float]:
    out = []
    for q in qs:
        t = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - t) * 1000)
    return out


def w_answer(home: Path, corpus: str, n: int) -> dict[str, Any]:  # Any: JSON
    """``answer(q)`` on an open engine, each question asked once; warmed up on another one."""
    from rag.engine import Engine

    eng = Engine(_settings(home))
    eng.answer(warmup_question(corpus))
    stages: dict[str, list[float]] = {}

    def ask(q: str) -> None:
        for name, value in eng.answer(q).timings.items():  # retrieve_ms, evidence_ms, total_ms
            stages.setdefault(name, []).append(value)

    ms = _timed(ask, questions(corpus, n or None))
    return {"answer_ms": ms, "stage_ms": stages, "rss_mb": _rss_mb(),
            "embed_backend": eng.embedder.backend}


def w_retrieve(home: Path, corpus: str, n: int) -> dict[str, Any]:  # Any: JSON
    """``retrieve(q, k=top_k)`` in a process of its own: the same questions, fresh here too."""
    from rag.engine import Engine

    eng = Engine(_settings(home))
    k = eng.settings.top_k
    eng.retrieve(warmup_question(corpus), k=k)
    ms = _timed(lambda q: eng.retrieve(q, k=k), questions(corpus, n or None))
    return {"retrieve_ms": ms, "rss_mb": _rss_mb()}


def _baseline_embed() -> Any:  # Any: LlamaIndex's HuggingFaceEmbedding
    from rag.embeddings import model_path
    from rag.settings import offline_env

    offline_env()
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    return HuggingFaceEmbedding(model_name=str(model_path()), device="cpu")


def _baseline_store(path: Path) -> Any:  # Any: LlamaIndex's ChromaVectorStore
    import chromadb
    from llama_index.core import StorageContext
    from llama_index.vector_stores.chroma import ChromaVectorStore

    client = chromadb.PersistentClient(path=str(path))
    vs = ChromaVectorStore(chroma_collection=client.get_or_create_collection("baseline"))
    return vs, StorageContext.from_defaults(vector_store=vs)


def w_baseline_index(home: Path, corpus: str, limit: int) -> dict[str, Any]:  # Any: JSON
    """The same corpus the way the LlamaIndex starter does it, into an empty ``home``."""
    from llama_index.core import Document, SimpleDirectoryReader, VectorStoreIndex

    if corpus == "seeds":
        docs = SimpleDirectoryReader(str(_settings(home).articles_dir)).load_data()
    else:
        docs = [Document(text=d["body"], metadata={"title": d.get("title") or ""},
                         doc_id=d["doc_id"]) for d in _multihop_docs(limit or None)]
    t = time.perf_counter()
    vs, ctx = _baseline_store(home)
    VectorStoreIndex.from_documents(docs, storage_context=ctx, embed_model=_baseline_embed())
    return {"articles": len(docs), "chunks": vs._collection.count(),
            "build_s": time.perf_counter() - t, "rss_mb": _rss_mb(), "done_at": time.time()}


def w_baseline_cold(home: Path, question: str) -> dict[str, Any]:  # Any: JSON
    """Process start to first retrieval for the baseline."""
    from llama_index.core import VectorStoreIndex

    vs, _ = _baseline_store(home)
    VectorStoreIndex.from_vector_store(vs, embed_model=_baseline_embed()).as_retriever(
    ).retrieve(question)
    return {"done_at": time.time(), "cpu_s": _cpu_s(), "rss_mb": _rss_mb()}


def w_baseline_retrieve(home: Path, corpus: str, n: int) -> dict[str, Any]:  # Any: JSON
    from llama_index.core import VectorStoreIndex

    vs, _ = _baseline_store(home)
    retriever = VectorStoreIndex.from_vector_store(
        vs, embed_model=_baseline_embed()).as_retriever()
    retriever.retrieve(warmup_question(corpus))
    ms = _timed(retriever.retrieve, questions(corpus, n or None))
    return {"retrieve_ms": ms, "rss_mb": _rss_mb()}


def w_gemm(budget_s: str) -> dict[str, Any]:  # Any: JSON
    return gemm_rates(float(budget_s))


def w_scale(home: Path, n: int, source: str) -> dict[str, Any]:  # Any: JSON
    """Query latency over ``n`` synthetic chunks in a real store (Chroma HNSW + BM25).

    Vectors are real chunk embeddings (from ``source``, an indexed store) plus noise,
    renormalised: clustered like real text, unlike uniform random vectors, which would flatter
    HNSW. Texts are real chunk texts with a unique marker. Written straight into the store
    (embedding 100k texts would measure the model, not the store)."""
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
    settings = _settings(home)
    emb = get_embedder(settings)
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
    build_lexical(all_chunks, settings.home, fp, settings.collection)
    store.commit(fp)
    lex_s = time.perf_counter() - t1
    retriever = Retriever(store, emb)
    qs = [t[:200] for t in base_txt[:40]]
    qvecs = emb.embed(qs)
    for q in qs[:3]:
        retriever.retrieve(q, k=8)

    def search(v: Any) -> Callable[[str], object]:  # v: one query vector
        return lambda _q: store.query(v, 50)

    dense = [t for v in qvecs for t in _timed(search(v), [""])]
    lexical = _timed(lambda q: retriever.lexical_index().search(q, 50), qs)
    hybrid = _timed(lambda q: retriever.retrieve(q, k=8), qs)
    return {"chunks": store.chunk_count(), "insert_s": build_s, "bm25_build_s": lex_s,
            "dense_p50_ms": _pct(dense, 50), "lexical_p50_ms": _pct(lexical, 50),
            "retrieve_p50_ms": _pct(hybrid, 50), "retrieve_p95_ms": _pct(hybrid, 95),
            "rss_mb": _rss_mb()}


WORKERS: dict[str, Callable[..., dict[str, Any]]] = {  # Any: JSON
    "index": w_index, "cold": w_cold, "answer": w_answer, "retrieve": w_retrieve,
    "baseline-index": w_baseline_index, "baseline-cold": w_baseline_cold,
    "baseline-retrieve": w_baseline_retrieve, "gemm": w_gemm, "scale": w_scale,
}


def _worker_args(name: str, rest: list[str]) -> list[Any]:  # Any: command-line values
    if name == "gemm":
        return rest
    return [Path(rest[0]), *(int(x) if x.isdigit() else x for x in rest[1:])]


def _run(name: str, *args: object, timeout: float | None = 3600) -> dict[str, Any]:  # Any: JSON
    """Run one worker in a fresh interpreter; its last stdout line is its JSON result.
    ``wall_s``: from launching the interpreter to the worker's ``done_at``."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "ANONYMIZED_TELEMETRY": "False", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "evals.bench", "--worker", name, *map(str, args)]
    started = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=ROOT)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"bench worker {name} failed ({proc.returncode}):\n"
                           f"{proc.stderr[-2000:]}")
    out: dict[str, Any] = json.loads(lines[-1])  # Any: JSON
    if "done_at" in out:
        out["wall_s"] = out.pop("done_at") - started
    return out


# ---- the benchmark ---------------------------------------------------------------------------

def run(corpus: str, n_questions: int | None, *, quick: bool, reuse_index: bool,
        cache_root: Path, scale_sizes: Sequence[int] = (),
        log: Callable[[str], None] = _log) -> dict[str, Any]:  # Any: JSON
    limit = QUICK_ARTICLES if quick and corpus == "multihop" else 0
    if n_questions is None:
        n_questions = 10 if quick else 100 if corpus == "multihop" else None
    qs = questions(corpus, n_questions)
    cold_runs = 1 if quick else 3
    load_start = [round(x, 2) for x in os.getloadavg()]
    res: dict[str, Any] = {  # Any: JSON
        "date": date.today().isoformat(), "corpus": corpus, "quick": quick,
        "articles_limit": limit or None, "n_questions": len(qs), "split": "dev",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                   f"Python {platform.python_version()}"}
    name, sha = _corpus_key(corpus, limit or None)

    log(f"indexing {name} ({'reused when cached' if reuse_index else 'measured'})")
    ix = _run("index", cache_root, corpus, limit, 0 if reuse_index else 1, timeout=None)
    home = Path(ix["home"])
    res["index_reused"] = not ix["built"]
    res["index_s"] = ix["wall_s"] if ix["built"] else None  # process start to committed store
    res["index_build_s"] = ix.get("build_s")
    res["index_articles"] = ix["articles"]
    res["index_chunks"] = ix.get("chunks")
    res["index_articles_per_s"] = _ratio(ix["articles"], res["index_s"])
    res["index_chunks_per_s"] = _ratio(res["index_chunks"], res["index_s"])
    res["index_tokens"] = ix["tokens"] if ix["built"] else None
    res["index_flops"] = ix["flops"] if ix["built"] else None
    res["embed_flops_formula"] = ix["model"]["formula"]
    res["embed_matmul_params"] = ix["model"]["matmul_params"]
    res["embed_backend"] = ix["embed_backend"]
    res["chunk_backend"] = ix.get("chunk_backend", ix["embed_backend"])  # a cached run's: none

    log("GEMM rate of this CPU (numpy fp32, onnxruntime fp32 and int8)")
    gemm = _run("gemm", 0.3 if quick else 1.5)
    res["gemm"] = gemm
    res["gemm_fp32_gflops"] = gemm["fp32_gflops"]
    res["gemm_int8_gops"] = gemm["int8_gops"]
    fp32_rate = gemm["fp32_gflops"] * 1e9
    # The embedder's arithmetic per second of indexing, over what this CPU's GEMM can do.
    res["cpu_share"] = _ratio(_ratio(res["index_flops"], res["index_s"]), fp32_rate)
    # The same over the ingestion call alone (no interpreter start, imports or model load).
    res["cpu_share_build"] = _ratio(_ratio(res["index_flops"], res["index_build_s"]), fp32_rate)
    res["index_floor_fp32_s"] = _ratio(res["index_flops"], fp32_rate)
    res["index_floor_int8_s"] = _ratio(res["index_flops"], gemm["int8_gops"] * 1e9)

    log(f"cold start x{cold_runs} (process start to first answer)")
    colds = [_run("cold", home, qs[0]) for _ in range(cold_runs)]
    res["cold_start_s"] = statistics.median(c["wall_s"] for c in colds)
    res["cold_start_cpu_s"] = statistics.median(c["cpu_s"] for c in colds)

    log(f"{len(qs)} answers, each question new to the process")
    ans = _run("answer", home, corpus, n_questions or 0)
    res["answer_p50_ms"] = _pct(ans["answer_ms"], 50)
    res["answer_p95_ms"] = _pct(ans["answer_ms"], 95)
    # Each stage of those answers, as the engine timed it (Answer.timings).
    res["stages"] = {name.removesuffix("_ms"): {"p50_ms": _pct(v, 50), "p95_ms": _pct(v, 95)}
                     for name, v in sorted(ans["stage_ms"].items())}
    log(f"{len(qs)} retrievals (a process of their own, same questions)")
    ret = _run("retrieve", home, corpus, n_questions or 0)
    res["retrieve_p50_ms"] = _pct(ret["retrieve_ms"], 50)
    res["retrieve_p95_ms"] = _pct(ret["retrieve_ms"], 95)
    res["index_rss_mb"] = ix["rss_mb"] if ix["built"] else None
    res["answer_rss_mb"] = max(c["rss_mb"] for c in [*colds, ans, ret])
    res["peak_rss_mb"] = max(res["answer_rss_mb"], res["index_rss_mb"] or 0)

    log("baseline: LlamaIndex VectorStoreIndex over Chroma, HuggingFaceEmbedding")
    bhome = cache_root / f"bench-baseline-{name}-{sha[:12]}"
    marker = bhome.parent / f"{bhome.name}.complete"
    bix: dict[str, Any] | None = None  # Any: JSON
    if not (reuse_index and marker.exists()):
        marker.unlink(missing_ok=True)
        shutil.rmtree(bhome, ignore_errors=True)
        bhome.mkdir(parents=True)
        bix = _run("baseline-index", bhome, corpus, limit, timeout=None)
        marker.write_text(json.dumps({"corpus_sha256": sha}))
    res["baseline_index_s"] = bix["wall_s"] if bix else None
    res["baseline_index_chunks"] = bix["chunks"] if bix else None
    res["baseline_index_articles_per_s"] = _ratio(bix["articles"], bix["wall_s"]) if bix else None
    res["baseline_index_chunks_per_s"] = _ratio(bix["chunks"], bix["wall_s"]) if bix else None
    bcolds = [_run("baseline-cold", bhome, qs[0]) for _ in range(cold_runs)]
    res["baseline_cold_start_s"] = statistics.median(c["wall_s"] for c in bcolds)
    bret = _run("baseline-retrieve", bhome, corpus, n_questions or 0)
    res["baseline_retrieve_p50_ms"] = _pct(bret["retrieve_ms"], 50)
    res["baseline_retrieve_p95_ms"] = _pct(bret["retrieve_ms"], 95)
    res["baseline_peak_rss_mb"] = max(c["rss_mb"] for c in [*bcolds, bret, *([bix] if bix
                                                                              else [])])

    scale: list[dict[str, Any]] = []  # Any: JSON
    for n in scale_sizes:
        log(f"scale: {n:,} synthetic chunks")
        sdir = cache_root / f"bench-scale{n}"
        shutil.rmtree(sdir, ignore_errors=True)
        try:
            scale.append(_run("scale", sdir, n, home))
        finally:
            shutil.rmtree(sdir, ignore_errors=True)
    res["scale"] = scale

    res["ratio_answer_p50_vs_baseline_retrieve_p50"] = _ratio(res["answer_p50_ms"],
                                                              res["baseline_retrieve_p50_ms"])
    res["ratio_retrieve_p50_vs_baseline"] = _ratio(res["retrieve_p50_ms"],
                                                   res["baseline_retrieve_p50_ms"])
    res["ratio_retrieve_p95_vs_baseline"] = _ratio(res["retrieve_p95_ms"],
                                                   res["baseline_retrieve_p95_ms"])
    res["ratio_cold_start_vs_baseline"] = _ratio(res["cold_start_s"],
                                                 res["baseline_cold_start_s"])
    res["ratio_index_s_vs_baseline"] = _ratio(res["index_s"], res["baseline_index_s"])
    res["ratio_peak_rss_vs_baseline"] = _ratio(res["peak_rss_mb"], res["baseline_peak_rss_mb"])
    res["load_avg"] = {"start": load_start, "end": [round(x, 2) for x in os.getloadavg()]}
    if corpus == "multihop" and not quick:  # issue 14's targets, for the full corpus
        res["targets"] = {
            "answer_p50_ms<=150": res["answer_p50_ms"] <= 150,
            "answer_p95_ms<=400": res["answer_p95_ms"] <= 400,
            "answer_p50<=2x_baseline_retrieve_p50":
                res["ratio_answer_p50_vs_baseline_retrieve_p50"] <= 2,
            "index_s<=180": None if res["index_s"] is None else res["index_s"] <= 180,
            "cold_start_s<=3": res["cold_start_s"] <= 3,
            "peak_rss_mb<=1536": res["peak_rss_mb"] <= 1536,
        }
    return res


def _f(x: float | None, fmt: str, unit: str = "") -> str:
    return "-" if x is None else f"{x:{fmt}}{unit}"


def report(r: dict[str, Any]) -> str:  # Any: JSON
    """The text report: our figures, the baseline's, and ours / baseline."""
    rows = [
        ("answer p50 / p95", f"{_f(r['answer_p50_ms'], '.0f')} / "
         f"{_f(r['answer_p95_ms'], '.0f')} ms", "-",
         _f(r["ratio_answer_p50_vs_baseline_retrieve_p50"], ".2f", "x (p50 vs its retrieval)")),
        ("retrieval p50 / p95", f"{_f(r['retrieve_p50_ms'], '.0f')} / "
         f"{_f(r['retrieve_p95_ms'], '.0f')} ms",
         f"{_f(r['baseline_retrieve_p50_ms'], '.0f')} / "
         f"{_f(r['baseline_retrieve_p95_ms'], '.0f')} ms",
         _f(r["ratio_retrieve_p50_vs_baseline"], ".2f", "x")),
        ("cold start to first answer", _f(r["cold_start_s"], ".1f", " s"),
         _f(r["baseline_cold_start_s"], ".1f", " s"), _f(r["ratio_cold_start_vs_baseline"],
                                                          ".2f", "x")),
        ("indexing, all included", _f(r["index_s"], ".0f", " s"),
         _f(r["baseline_index_s"], ".0f", " s"), _f(r["ratio_index_s_vs_baseline"], ".2f", "x")),
        ("  articles/s", _f(r["index_articles_per_s"], ".2f"),
         _f(r["baseline_index_articles_per_s"], ".2f"), ""),
        ("  chunks/s (chunks)", f"{_f(r['index_chunks_per_s'], '.1f')} "
         f"({_f(r['index_chunks'], 'd')})", f"{_f(r['baseline_index_chunks_per_s'], '.1f')} "
         f"({_f(r['baseline_index_chunks'], 'd')})", ""),
        ("peak RSS", _f(r["peak_rss_mb"], ".0f", " MB"), _f(r["baseline_peak_rss_mb"], ".0f",
                                                           " MB"),
         _f(r["ratio_peak_rss_vs_baseline"], ".2f", "x")),
    ]
    la = r["load_avg"]
    what = (f"{r['index_articles']} articles" + (", first articles only (--quick)"
                                                  if r["articles_limit"] else ""))
    out = [f"rag bench --corpus {r['corpus']}, {r['date']}, {r['machine']}, "
           f"embeddings: {r['embed_backend']} (chunk vectors: {r['chunk_backend']})",
           f"{what}; {r['n_questions']} {r['split']}-split questions, each new to the process "
           f"that answers it; load average {la['start'][0]} at start, {la['end'][0]} at end",
           "", f"{'':28}{'rag':>20}{'LlamaIndex':>20}{'rag / LlamaIndex':>30}"]
    out += [f"{a:28}{b:>20}{c:>20}{d:>30}" for a, b, c, d in rows]
    out += [f"  {name + ' p50 / p95':26}{_f(v['p50_ms'], '.0f')} / {_f(v['p95_ms'], '.0f')} ms"
            for name, v in r.get("stages", {}).items()]
    if r["index_s"] is None:
        out += ["", "indexing: not measured (--reuse-index found a cached store)"]
    g = r["gemm"]
    out += ["", f"CPU GEMM rate ({'x'.join(map(str, g['shape']))}): fp32 "
            f"{g['fp32_gflops']:.0f} GFLOP/s (numpy {g['numpy_fp32_gflops']:.0f}, onnxruntime "
            f"{_f(g.get('ort_fp32_gflops'), '.0f')}), int8 {g['int8_gops']:.0f} GOP/s "
            f"({g['int8_via']})"]
    if r["cpu_share"] is not None:
        out.append(
            f"indexing as a share of the CPU: {r['index_tokens']:,} tokens x MiniLM "
            f"({r['embed_flops_formula']}; {r['embed_matmul_params'] / 1e6:.1f}M matmul params) "
            f"= {r['index_flops'] / 1e12:.2f} TFLOP in {r['index_s']:.0f} s: "
            f"{100 * r['cpu_share']:.1f}% of the fp32 GEMM rate "
            f"({100 * r['cpu_share_build']:.1f}% within the ingestion call, "
            f"{r['index_build_s']:.0f} s); at that rate the arithmetic alone takes "
            f"{r['index_floor_fp32_s']:.1f} s (int8: {r['index_floor_int8_s']:.1f} s)")
    if r["scale"]:
        out += ["", f"{'scale (chunks)':>16}{'retrieve p50':>14}{'p95':>10}{'dense p50':>12}"
                f"{'bm25 p50':>10}{'insert s':>10}"]
        out += [f"{s['chunks']:>16,}{s['retrieve_p50_ms']:>12.1f}ms{s['retrieve_p95_ms']:>8.1f}ms"
                f"{s['dense_p50_ms']:>10.1f}ms{s['lexical_p50_ms']:>8.1f}ms{s['insert_s']:>10.0f}"
                for s in r["scale"]]
    if r.get("targets"):
        out += ["", "targets (issue 14): " + ", ".join(
            f"{k} {'-' if v is None else 'met' if v else 'NOT met'}"
            for k, v in r["targets"].items())]
    return "\n".join(out)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rag bench",
        description="Speed and memory as a user sees them: answers to questions never asked "
                    "before, cold start, indexing with everything included, peak memory, and "
                    "the machine's GEMM rate, beside a plain LlamaIndex pipeline over the same "
                    "corpus and questions in the same run.")
    p.add_argument("--corpus", choices=CORPORA, default="seeds",
                   help="seeds: the bundled articles and seed cases (default); multihop: the "
                        "609 MultiHop-RAG articles and their questions")
    p.add_argument("--questions", type=int, default=None, metavar="N",
                   help="dev-split questions to time (default: 100 for multihop, all for seeds)")
    p.add_argument("--reuse-index", action="store_true",
                   help="use the cached indexed stores when they exist (indexing is then not "
                        "measured: index_s is null); without it the stores are rebuilt and "
                        "timed")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                   help="where indexed stores are cached, shared with rag eval "
                        "(default: $RAG_EVAL_CACHE or .eval-cache/)")
    p.add_argument("--quick", action="store_true",
                   help="a short run: 10 questions, one cold start, multihop cut to "
                        f"{QUICK_ARTICLES} articles")
    p.add_argument("--scale", default="",
                   help="comma-separated synthetic store sizes for a retrieval scale sweep "
                        "(e.g. 10000,100000; default none)")
    p.add_argument("--json", action="store_true", help="print one JSON object (the last line)")
    p.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.worker:
        name, *rest = args.worker
        print(json.dumps(WORKERS[name](*_worker_args(name, rest))))
        return 0
    if args.questions is not None and args.questions <= 0:
        parser.error("--questions must be a positive integer")
    scale_sizes = [int(x) for x in args.scale.split(",") if x.strip()]
    res = run(args.corpus, args.questions, quick=args.quick, reuse_index=args.reuse_index,
              cache_root=args.cache_dir.resolve(), scale_sizes=scale_sizes)
    print(json.dumps(res) if args.json else report(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
