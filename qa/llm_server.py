"""llama-cpp-python's OpenAI-compatible server, with the local model's CPU guard.

``python -m qa.llm_server --model M.gguf ...`` takes ``python -m llama_cpp.server``'s
arguments unchanged. On CPUs with AMX (or with QA_LLM_REPACK=off) every model the server
loads is built with llama.cpp's extra buffer types off, as qa's own local model is; the
plain server crashes at its first decode there (llama.cpp #20824).
"""

from __future__ import annotations

import runpy

from qa.generator import _extra_buffers, repack_enabled
from qa.settings import load_settings


def main() -> None:
    with _extra_buffers(repack_enabled(load_settings().llm.repack)):
        runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
