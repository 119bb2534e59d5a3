"""What a fresh process loads before its first answer (cold start, issue 14)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rag import Engine
from rag.store import Store
from rag.worker import search_worker
from tests.conftest import settings_for


def test_spacy_loads_without_torch_and_torch_still_imports_after() -> None:
    # A fresh interpreter: the test session itself may have imported torch already.
    code = ("import sys\n"
            "from rag import nlp\n"
            "doc = nlp.parse('When did the US warn Russia?')\n"
            "assert [t.ent_type_ for t in doc if t.text == 'Russia'] == ['GPE']\n"
            "assert 'torch' not in sys.modules, 'spaCy pulled torch in'\n"
            "import torch\n"
            "assert torch.tensor([1.0]).sum().item() == 1.0\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-2000:]


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
