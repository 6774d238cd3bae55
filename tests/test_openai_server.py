"""openai mode against a real OpenAI-compatible server: llama-cpp-python's own server,
started on a free loopback port with the packaged GGUF."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from qa.errors import ModelError
from qa.generator import OpenAIGenerator
from qa.service import build_answerer, run_index
from qa.settings import load_settings
from tests.netutil import free_port, stop

pytestmark = pytest.mark.real

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
ALIAS = "qwen2.5-coder-1.5b-instruct"
STARTUP_S = 120


def _get(url: str, timeout: float = 2.0) -> dict:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    with opener.open(url, timeout=timeout) as resp:
        return json.load(resp)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Base URL of a llama-cpp-python server; terminated when the module ends."""
    from qa.gguf import packaged_model

    settings = load_settings()
    model = settings.llm.model_path or packaged_model(settings.model_cache)
    port = free_port()
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    # The server reads HOST, PORT and CONFIG_FILE from the environment over its flags.
    env = {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT", "CONFIG_FILE", "MODEL")}
    cmd = [
        sys.executable, "-m", "qa.llm_server",
        "--model", str(model), "--model_alias", ALIAS,
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "4096", "--n_threads", "2", "--n_threads_batch", "2",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    base_url = f"http://127.0.0.1:{port}/v1"

    def tail() -> str:
        return log_path.read_text(errors="replace")[-3000:]

    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}:\n{tail()}")
            try:
                models = _get(f"{base_url}/models")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"llama_cpp.server not up after {STARTUP_S} s:\n{tail()}")
                time.sleep(0.5)
        assert ALIAS in [m["id"] for m in models["data"]], models
        yield base_url
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, real_embedder) -> Path:
    root = tmp_path_factory.mktemp("openai")
    shutil.copytree(SEEDS, root / "seeds")
    run_index(load_settings(data_dir=root / "data"), [root / "seeds"], real_embedder)
    return root / "data"


def _openai_answerer(data_dir: Path, base_url: str, embedder):
    settings = load_settings(
        data_dir=data_dir,
        llm__mode="openai",
        llm__base_url=base_url,
        llm__model=ALIAS,
        llm__timeout_s=120.0,
    )
    return build_answerer(settings, embedder=embedder)


def test_answers_through_an_openai_compatible_server(server, data_dir, real_embedder) -> None:
    answerer = _openai_answerer(data_dir, server, real_embedder)
    answer = answerer.ask("How many checkpoints were established in western Aleppo?")
    assert isinstance(answerer.generator.load(), OpenAIGenerator)  # really went through the server
    shown = f"answer={answer.text!r} raw={answer.raw_text!r}"
    assert not answer.refused, shown
    assert re.search(r"\b(seven|7)\b", answer.text, re.I), shown
    assert "seeds/004_2498656e7b287085.txt" in {c.source for c in answer.citations}, shown
    text = (data_dir.parent / "seeds/004_2498656e7b287085.txt").read_text(encoding="utf-8")
    for c in answer.citations:
        if c.source == "seeds/004_2498656e7b287085.txt":
            assert c.quote == text[c.start : c.end]
            assert c.line == text.count("\n", 0, c.start) + 1
    assert {"retrieve_ms", "first_token_ms", "total_ms"} <= set(answer.timings)


def test_server_down_is_a_model_error_naming_the_setting(data_dir, real_embedder) -> None:
    port = free_port()  # bound and closed again: nothing listens there
    answerer = _openai_answerer(data_dir, f"http://127.0.0.1:{port}/v1", real_embedder)
    with pytest.raises(ModelError, match="QA_LLM_BASE_URL") as info:
        answerer.ask("How many checkpoints were established in western Aleppo?")
    assert f"127.0.0.1:{port}" in str(info.value)
