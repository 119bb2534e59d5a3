"""What a fresh process loads before its first answer (cold start, issue 14)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rag import Engine
from rag.store import Store
from rag.worker import search_worker
from tests.conftest import settings_for


def _passes_in_a_fresh_interpreter(code: str) -> None:
    """Run ``code`` in a new Python process from the repository root; it must exit 0."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-2000:]


def test_spacy_loads_without_torch_and_torch_still_imports_after() -> None:
    # A fresh interpreter: the test session itself may have imported torch already.
    code = ("import sys\n"
            "from rag import nlp\n"
            "doc = nlp.parse('When did the US warn Russia?')\n"
            "assert [t.ent_type_ for t in doc if t.text == 'Russia'] == ['GPE']\n"
            "assert 'torch' not in sys.modules, 'spaCy pulled torch in'\n"
            "import torch\n"
            "assert torch.tensor([1.0]).sum().item() == 1.0\n")
    _passes_in_a_fresh_interpreter(code)


def test_the_search_child_starts_with_the_store_and_serves_the_first_search(
        indexed_home: Path) -> None:
    engine = Engine(settings_for(indexed_home))
    store = engine.store
    worker = search_worker(store.settings.home / "chroma", f"{store.settings.collection}_chunks",
                           indexed_home)
    assert worker.pid() is not None  # started when the store opened, before any search
    passages = engine.retrieve("When did the US warn Russia about an attack?", k=3)
    assert len(passages) == 3
    assert worker.fingerprint == store.fingerprint()  # the child reported what it opened


def test_a_child_that_opened_an_older_index_reopens_before_searching(
        indexed_home: Path) -> None:
    engine = Engine(settings_for(indexed_home))
    store = engine.store
    worker = search_worker(store.settings.home / "chroma", f"{store.settings.collection}_chunks",
                           indexed_home)
    worker.close()
    worker.start_soon()
    vec = engine.embedder.embed(["Crocus City Hall attack"])[0].tolist()
    # As if a commit landed between the child opening the index and this search.
    got = worker.query("a-newer-fingerprint", query_embeddings=[vec], n_results=2)
    assert len(got["ids"][0]) == 2 and worker.fingerprint == "a-newer-fingerprint"


def test_a_store_opened_only_to_read_records_starts_no_search_child(
        indexed_home: Path) -> None:
    store = Store(settings_for(indexed_home))
    worker = search_worker(store.settings.home / "chroma", f"{store.settings.collection}_chunks",
                           indexed_home)
    worker.close()
    Store(settings_for(indexed_home)).articles()  # `rag docs`, the page's article list
    assert worker.pid() is None


def test_the_dense_search_is_llamaindex_in_the_child_and_the_asker_never_imports_it(
        indexed_home: Path) -> None:
    # A fresh interpreter answering from the embedded store: LlamaIndex (~2 s of imports) is
    # the search child's, not the asking process's.
    answers_without_importing(indexed_home, "llama_index")


def answers_without_importing(home: Path, package: str) -> None:
    """A fresh interpreter answers a question from the store at ``home`` with citations and
    never imports ``package``."""
    code = ("import sys\n"
            "from pathlib import Path\n"
            "from rag import Engine\n"
            "from tests.conftest import settings_for\n"
            f"engine = Engine(settings_for(Path({str(home)!r})))\n"
            "a = engine.answer('When did the US warn Russia about an attack?')\n"
            "assert a.citations, a.text\n"
            f"assert not [m for m in sys.modules if m.startswith({package!r})], 'imported'\n")
    _passes_in_a_fresh_interpreter(code)


def test_the_childs_nearest_chunks_are_llamaindexs_retriever_results(
        indexed_home: Path) -> None:
    from llama_index.core import VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.schema import QueryBundle
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from rag.worker import IsolatedCollection, nearest

    engine = Engine(settings_for(indexed_home))
    chunks = engine.store.chunks
    assert isinstance(chunks, IsolatedCollection)
    # The reference: LlamaIndex's own retriever over the same collection in this process
    # (the embedding is given, so its embedding model is never called).
    index = VectorStoreIndex.from_vector_store(ChromaVectorStore(chroma_collection=chunks),
                                               embed_model=MockEmbedding(embed_dim=384))
    for question in ("When did the US warn Russia?", "Who claimed the Crocus attack?"):
        vec = engine.embedder.embed([question])[0].tolist()
        want = index.as_retriever(similarity_top_k=8).retrieve(
            QueryBundle(query_str=question, embedding=vec))
        got = nearest(chunks, vec, 8)
        assert [(n.node.node_id, n.node.get_content(), n.node.metadata) for n in want] == [
            (cid, text, meta) for cid, text, meta, _ in got]
        assert [round(float(n.score or 0), 6) for n in want] == [round(s, 6) for *_, s in got]


def test_a_child_whose_parent_leaves_without_reading_it_ends_quietly(
        indexed_home: Path) -> None:
    # A process that opens the store and exits before any search never reads the child's
    # "opened" message: closing the socket then resets it, and the child must not die with
    # a traceback on the user's terminal.
    settings = settings_for(indexed_home)
    worker = search_worker(indexed_home / "chroma", f"{settings.collection}_chunks",
                           indexed_home)
    worker.close()
    worker.start_soon()
    proc, conn = worker._proc, worker._conn
    assert proc is not None and conn is not None
    assert conn.poll(120)  # the child opened the index and said so; nobody reads it
    assert conn.recv()[0] == "ok"
    conn.send(("nearest", {"embedding": [0.0] * 384, "n": 1}))  # a search nobody reads
    conn.close()
    assert proc.wait(timeout=60) == 0
    worker._proc, worker._conn, worker._opening = None, None, False
