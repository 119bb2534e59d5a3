"""The edges between the packages (issue 13): rag/ is filled by a hook it is given, never by
importing index/; Settings is the one reader of the environment. `make lint` checks the import
layers themselves (lint-imports) and the types (mypy)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag import Engine, IndexNotFound, Settings
from rag.errors import ConfigError

RAG = Path(__file__).resolve().parents[2] / "rag"


def test_the_installed_indexer_is_the_default_hook() -> None:
    from index import index_bundled
    from rag.engine import default_on_empty

    assert default_on_empty() is index_bundled  # the 'rag.on_empty' entry point


def test_an_empty_store_calls_the_hook_the_engine_was_given(tmp_path: Path) -> None:
    settings = Settings().with_(home=tmp_path / "home", articles_dir=tmp_path / "none")
    calls: list[Settings] = []
    with pytest.raises(IndexNotFound):  # the hook indexed nothing: the store is still missing
        _ = Engine(settings, on_empty=calls.append).store
    assert calls == [settings]
    with pytest.raises(IndexNotFound):  # no hook: no indexing
        _ = Engine(settings).store


def test_the_bundled_hook_leaves_a_server_alone(tmp_path: Path) -> None:
    from index import index_bundled

    index_bundled(Settings().with_(home=tmp_path, chroma_url="http://127.0.0.1:9"))
    index_bundled(Settings().with_(home=tmp_path, articles_dir=tmp_path / "none"))
    assert not any(tmp_path.iterdir())


def test_settings_hold_the_embedding_configuration() -> None:
    s = Settings.from_env({"RAG_EMBED_BACKEND": "Torch", "XDG_CACHE_HOME": "/tmp/c"})
    assert (s.embed_backend, s.cache_dir) == ("torch", Path("/tmp/c"))
    assert Settings.from_env({}).embed_backend == "onnx"
    with pytest.raises(ConfigError, match="RAG_EMBED_BACKEND"):
        Settings.from_env({"RAG_EMBED_BACKEND": "cuda"})
    with pytest.raises(ConfigError, match="RAG_EMBED_MODEL"):
        Settings.from_env({"RAG_EMBED_MODEL": "bert-base-uncased"})


def test_the_embedder_follows_the_settings() -> None:
    from rag.embeddings import get_embedder, onnx_path

    a = get_embedder(Settings().with_(embed_backend="torch", cache_dir=Path("/tmp/c")))
    assert a.requested == "torch" and a.cache == Path("/tmp/c")
    assert get_embedder(Settings().with_(embed_backend="torch", cache_dir=Path("/tmp/c"))) is a
    assert get_embedder(Settings()) is not a
    assert onnx_path(Path("/tmp/c")).parent == Path("/tmp/c/rag-cited")


def test_chunk_vectors_are_pooled_unless_int8_or_fp32_is_asked() -> None:
    import numpy as np

    from rag.embeddings import get_embedder

    assert Settings.from_env({}).chunk_vectors == "pooled"
    assert Settings.from_env({"RAG_CHUNK_VECTORS": "FP32"}).chunk_vectors == "fp32"
    with pytest.raises(ConfigError, match="RAG_CHUNK_VECTORS"):
        Settings.from_env({"RAG_CHUNK_VECTORS": "int4"})
    int8_settings = Settings().with_(chunk_vectors="int8")
    fp32, int8 = get_embedder(Settings()), get_embedder(int8_settings, chunks=True)
    assert (fp32.backend, int8.backend) == ("onnx", "onnx-int8")
    assert get_embedder(Settings(), chunks=True) is fp32  # pooled: no model of its own
    assert get_embedder(Settings().with_(chunk_vectors="fp32"), chunks=True).backend == "onnx"
    texts = ["The US Embassy in Moscow warned of planned attacks on large gatherings.",
             "Sam Bankman-Fried was found guilty of fraud by a jury in New York."]
    a, b = fp32.embed(texts), int8.embed(texts)
    cos = (a * b).sum(axis=1)
    assert not np.array_equal(a, b) and cos.min() > 0.98  # another model, nearly the same
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)


def test_an_int8_chunk_vector_depends_on_its_chunk_alone() -> None:
    """Activations are quantized per model call: a chunk embedded beside others would get
    another vector than alone (cosine ~0.98 in batches of 32), so re-indexing an article
    could move vectors it did not change."""
    import numpy as np

    from rag.embeddings import get_embedder

    int8 = get_embedder(Settings().with_(chunk_vectors="int8"), chunks=True)
    chunk = "The US Embassy in Moscow warned of planned attacks on large gatherings. " * 3
    others = ["Sam Bankman-Fried was found guilty of fraud by a jury in New York. " * 8,
              "Taylor Swift cheered from a box seat at Arrowhead Stadium.", "FTX collapsed."]
    alone = int8.embed([chunk])[0]
    beside = int8.embed([*others, chunk])[-1]
    assert np.array_equal(alone, beside)


def test_a_damaged_int8_model_falls_back_to_fp32_and_is_made_again(tmp_path: Path) -> None:
    import shutil

    from rag.embeddings import Embedder, get_embedder, int8_path, onnx_path

    cache = tmp_path / "cache"
    fp32 = onnx_path(cache)
    fp32.parent.mkdir(parents=True)
    get_embedder(Settings()).model  # noqa: B018 - makes the real export when there is none
    shutil.copy(onnx_path(Settings().cache_dir), fp32)
    int8_path(fp32).write_bytes(b"not a model")  # a torn or damaged file
    first = Embedder(cache=cache, int8=True)
    assert first.backend == "onnx"  # the chunk pass still runs, in fp32
    assert not int8_path(fp32).exists()
    again = Embedder(cache=cache, int8=True)
    assert again.backend == "onnx-int8" and int8_path(fp32).exists()


def test_remembered_vectors_are_the_ones_a_batch_gives() -> None:
    import numpy as np

    from rag.embeddings import get_embedder

    e = get_embedder(Settings())  # the ONNX backend, as answering uses it
    names = ["a newspaper", "The New York Times", "TechCrunch", "Sam Bankman-Fried", "FTX"]
    want = e.embed(names)
    assert np.array_equal(e.embed_each(names[:2]), want[:2])  # each alone in its batch
    calls: list[list[str]] = []
    embed = e.embed

    def counted(texts: list[str], batch_size: int = 32) -> np.ndarray:
        calls.append(list(texts))
        return embed(texts, batch_size)

    e.embed = counted  # type: ignore[method-assign]
    try:
        got = e.embed_each(names + names[:1])
    finally:
        del e.embed
    assert np.array_equal(got, np.vstack([want, want[:1]]))
    assert calls == [names[2:]]  # only the texts it had not seen, once each
    assert e.embed_each([]).shape == (0, e.dim)


def test_only_settings_reads_the_environment() -> None:
    readers = [f"{p.name}:{n}" for p in sorted(RAG.glob("*.py")) if p.name != "settings.py"
               for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
               if re.search(r"os\.environ|getenv\(", line)]
    assert readers == []
