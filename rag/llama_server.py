"""``python -m llama_cpp.server``, unchanged, but with llama.cpp's extra weight buffers turned off.

Why: on CPUs with AMX (this machine's VM among them) llama.cpp's extra buffer types (AMX and
repacked weights) segfault on the first batched prompt; plain CPU buffers work. llama-cpp-python
exposes no server flag for ``use_extra_bufts``, so the default model params are wrapped here.
Usage is the server's own: ``python -m rag.llama_server --model M.gguf --port P``.
"""

from __future__ import annotations

import runpy

import llama_cpp.llama_cpp as llama_cpp

_default_params = llama_cpp.llama_model_default_params


def _params_without_extra_bufts() -> llama_cpp.llama_model_params:
    params: llama_cpp.llama_model_params = _default_params()
    params.use_extra_bufts = False
    return params


if __name__ == "__main__":
    llama_cpp.llama_model_default_params = _params_without_extra_bufts
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
