"""Generation sections of eval/bench.py: prompt-lookup decoding against plain decoding, and
where a cold start's time goes.

``bench_generation`` replays the exact prompts the answerer sends for the bench questions
(answers, rewrites and second looks) through two models loaded side by side, one plain and one
with llama-cpp-python's prompt-lookup draft, interleaved so machine noise falls on both alike.
It reports tokens/s of each, their ratio, first-token times and how many answers came out
identical (greedy decoding must not change them).

``bench_cold_breakdown`` runs a new process that times each step of a cold ``qa ask``:
imports, opening Chroma, loading BM25 and the embedder, loading the model and restoring the
prompt prefix (in the background), retrieval, and the first answer character.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eval.bench import Bench

ROOT = Path(__file__).resolve().parent.parent


class _Recorder:
    """A generator that passes through and keeps every prompt it was given."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.prompts: list[list[dict[str, str]]] = []

    def stream(self, messages: Sequence[dict[str, str]], max_tokens: int | None = None):
        self.prompts.append([dict(m) for m in messages])
        return self.inner.stream(messages, max_tokens)

    def count_tokens(self, text: str) -> int:
        return int(self.inner.count_tokens(text))


def _timed(gen: Any, messages: list[dict[str, str]]) -> tuple[str, float, float, int]:
    t0 = time.perf_counter()
    first = None
    pieces: list[str] = []
    stream: Iterator[str] = gen.stream(messages)
    for piece in stream:
        if first is None:
            first = time.perf_counter() - t0
        pieces.append(piece)
    total = time.perf_counter() - t0
    text = "".join(pieces)
    return text, (first or total) * 1000, total * 1000, gen.count_tokens(text) if text else 0


def bench_generation(ctx: Bench) -> dict[str, Any]:
    """Plain greedy decoding against prompt-lookup decoding on the answerer's own prompts."""
    from eval.bench import QUESTIONS
    from qa.generator import LocalGenerator, make_generator
    from qa.prompts import EXAMPLE
    from qa.service import build_answerer
    from qa.settings import load_settings

    settings = load_settings(data_dir=ctx.seeds_index())
    plain = make_generator(settings)
    assert isinstance(plain, LocalGenerator)
    recorder = _Recorder(plain)
    answerer = build_answerer(settings, embedder=ctx.embedder(), generator=recorder)  # type: ignore[arg-type]
    for q in QUESTIONS[:3] if ctx.quick else QUESTIONS:
        answerer.ask(q)
    prompts = recorder.prompts
    lookup = LocalGenerator(
        plain.model_path,
        settings.llm.n_ctx,
        settings.llm.threads,
        settings.llm.temperature,
        settings.llm.max_tokens,
        prompt_lookup=10,
    )
    for gen in (plain, lookup):
        gen.warm(EXAMPLE, ctx.workdir / "prefix")
    rows: dict[str, list[tuple[str, float, float, int]]] = {"plain": [], "lookup": []}
    for i, messages in enumerate(prompts):
        order = [("plain", plain), ("lookup", lookup)]
        for name, gen in order if i % 2 == 0 else order[::-1]:
            rows[name].append(_timed(gen, messages))

    def rate(name: str) -> float:
        # decode speed: tokens after the first over the time after the first token
        toks = sum(max(0, r[3] - 1) for r in rows[name])
        secs = sum((r[2] - r[1]) / 1000 for r in rows[name])
        return toks / secs if secs else 0.0

    same = sum(a[0] == b[0] for a, b in zip(rows["plain"], rows["lookup"], strict=True))
    plain_rate, lookup_rate = rate("plain"), rate("lookup")
    return {
        "prompts": len(prompts),
        "plain_decode_tokens_per_s": plain_rate,
        "lookup_decode_tokens_per_s": lookup_rate,
        "lookup_speedup": lookup_rate / plain_rate if plain_rate else 0.0,
        "plain_first_token_p50_ms": statistics.median(r[1] for r in rows["plain"]),
        "lookup_first_token_p50_ms": statistics.median(r[1] for r in rows["lookup"]),
        "plain_total_p50_ms": statistics.median(r[2] for r in rows["plain"]),
        "lookup_total_p50_ms": statistics.median(r[2] for r in rows["lookup"]),
        "identical_answers": f"{same}/{len(prompts)}",
    }


# A cold `qa ask`, step by step, in a new process: the same calls the command makes.
_COLD = r"""
import json, sys, time
t0 = time.perf_counter()
marks = {}
def mark(name): marks[name] = (time.perf_counter() - t0) * 1000
from qa.settings import load_settings
from qa.service import LazyGenerator, build_answerer
from qa.schema import Delta, Done
mark("import_ms")
settings = load_settings(data_dir=sys.argv[1])
gen = LazyGenerator(settings)
gen.preload()
answerer = build_answerer(settings, generator=gen)
mark("open_store_and_embedder_ms")
answerer.retriever.refresh()
mark("bm25_and_records_ms")
first = None
for event in answerer.stream(sys.argv[2]):
    if isinstance(event, Delta) and first is None:
        mark("first_answer_char_ms")
        first = True
    if isinstance(event, Done):
        answer = event.answer
mark("done_ms")
out = {**marks, "model_load_bg_ms": gen.timings.get("load_ms", 0.0),
       "prefix_bg_ms": gen.timings.get("prefix_ms", 0.0),
       "prefix_state": getattr(gen._inner, "prefix_state", "none"),
       "retrieve_ms": answer.timings.get("retrieve_ms", 0.0),
       "prompt_tokens": answer.stats.get("context_tokens", 0)}
print(json.dumps(out), flush=True)
"""


def bench_cold_breakdown(ctx: Bench) -> dict[str, Any]:
    """Where a cold ``qa ask`` spends its time (median of runs; the first run saves the prefix)."""
    from eval.bench import QUESTIONS

    data = ctx.seeds_index()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    runs = []
    for i in range(2 if ctx.quick else 6):
        proc = subprocess.run(
            [sys.executable, "-c", _COLD, str(data), QUESTIONS[i % len(QUESTIONS)]],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    warm_runs = [r for r in runs if r["prefix_state"] == "restored"] or runs
    numeric = [k for k, v in warm_runs[0].items() if isinstance(v, (int, float))]
    out: dict[str, Any] = {k: statistics.median(r[k] for r in warm_runs) for k in numeric}
    out["runs"] = len(warm_runs)
    out["prefix_state"] = warm_runs[0]["prefix_state"]
    computed = [r for r in runs if r["prefix_state"] == "computed"]
    if computed:
        out["prefix_computed_once_ms"] = computed[0]["prefix_bg_ms"]
    return out


def _wall_ms(args: Sequence[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(args, cwd=ROOT, env=env, capture_output=True, check=True)
    return (time.perf_counter() - t0) * 1000


def bench_quick_commands(ctx: Bench) -> dict[str, Any]:
    """`qa --help` and `qa status` in new processes: neither may load a model or Chroma."""
    data = ctx.seeds_index()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    qa = [sys.executable, "-m", "app.cli"]
    _wall_ms([*qa, "status", "--data-dir", str(data)], env)  # writes the status snapshot
    runs = 3 if ctx.quick else 7
    helps = [_wall_ms([*qa, "--help"], env) for _ in range(runs)]
    status = [_wall_ms([*qa, "status", "--data-dir", str(data)], env) for _ in range(runs)]
    return {
        "help_p50_ms": statistics.median(helps),
        "status_p50_ms": statistics.median(status),
    }


def bench_chat_memory(ctx: Bench) -> dict[str, Any]:
    """Peak memory of a real `qa chat` process after it answered one question through /ask."""
    import socket
    import urllib.request

    data = ctx.seeds_index()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(GRADIO_ANALYTICS_ENABLED="False", NO_PROXY="127.0.0.1,localhost")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "chat", "--data-dir", str(data), "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(url, timeout=5).read(100)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("qa chat did not start") from None
                time.sleep(0.5)
        from gradio_client import Client

        from eval.bench import QUESTIONS

        t0 = time.perf_counter()
        result = Client(url, verbose=False).predict(QUESTIONS[4], api_name="/ask")
        ask_ms = (time.perf_counter() - t0) * 1000
        status = Path(f"/proc/{proc.pid}/status").read_text().splitlines()
        hwm = next(line for line in status if line.startswith("VmHWM"))
        return {
            "chat_peak_rss_mb": int(hwm.split()[1]) / 1024,
            "chat_ask_ms": ask_ms,
            "chat_answered": not result.get("refused", True) if isinstance(result, dict) else False,
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
