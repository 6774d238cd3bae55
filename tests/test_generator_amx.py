"""llama.cpp 0.3.x crashes in its AMX matrix product on CPUs with AMX: the local generator
turns the extra buffer types off there (QA_LLM_REPACK=auto)."""

from __future__ import annotations

import pytest

from qa.generator import _extra_buffers, cpu_has_amx


def test_amx_is_read_from_the_cpu_flags(tmp_path):
    amx = tmp_path / "amx"
    amx.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f amx_bf16 amx_tile amx_int8\n")
    plain = tmp_path / "plain"
    plain.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f\n")
    assert cpu_has_amx(str(amx)) and not cpu_has_amx(str(plain))
    assert not cpu_has_amx(str(tmp_path / "missing"))


def test_extra_buffers_are_turned_off_only_while_a_model_loads():
    binding = pytest.importorskip("llama_cpp.llama")
    default = binding.llama_cpp.llama_model_default_params
    assert default().use_extra_bufts
    with _extra_buffers(False):
        assert not binding.llama_cpp.llama_model_default_params().use_extra_bufts
    assert binding.llama_cpp.llama_model_default_params is default
    with _extra_buffers(True):
        assert binding.llama_cpp.llama_model_default_params().use_extra_bufts


@pytest.mark.parametrize(("mode", "extra"), [("off", False), ("on", True)])
def test_the_server_wrapper_loads_its_models_under_the_same_guard(monkeypatch, mode, extra):
    """``python -m qa.llm_server`` runs llama_cpp.server with QA_LLM_REPACK applied to every
    model it loads, and hands it its arguments unchanged."""
    binding = pytest.importorskip("llama_cpp.llama")
    from qa import llm_server

    seen = {}

    def run_module(name, run_name, alter_sys):
        import sys

        seen.update(
            name=name,
            run_name=run_name,
            argv=list(sys.argv[1:]),
            extra=binding.llama_cpp.llama_model_default_params().use_extra_bufts,
        )

    monkeypatch.setenv("QA_LLM_REPACK", mode)
    monkeypatch.setattr(llm_server.runpy, "run_module", run_module)
    monkeypatch.setattr("sys.argv", ["qa.llm_server", "--model", "m.gguf", "--port", "8000"])
    llm_server.main()
    assert seen == {
        "name": "llama_cpp.server",
        "run_name": "__main__",
        "argv": ["--model", "m.gguf", "--port", "8000"],
        "extra": extra,
    }
    assert binding.llama_cpp.llama_model_default_params().use_extra_bufts
