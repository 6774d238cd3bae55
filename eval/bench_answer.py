"""Answer-speed sections of eval/bench.py: warm time to first token and total, context size,
follow-up rewrite cost, and a cold `qa ask` process."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eval.bench import Bench

ROOT = Path(__file__).resolve().parent.parent

FOLLOW_UPS = [
    (
        [
            (
                "How many checkpoints were established in western Aleppo?",
                "Seven checkpoints were established [1].",
            )
        ],
        "And how many between eastern and western Aleppo?",
    ),
    (
        [("How many people left eastern Aleppo through the corridors?", "3,179 people left [1].")],
        "How many of them were children?",
    ),
]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def bench_answer(ctx: Bench) -> dict[str, Any]:
    """A warm answerer over seeds/: per-question timings with the packaged local model."""
    from eval.bench import QUESTIONS
    from qa.service import build_answerer
    from qa.settings import load_settings

    settings = load_settings(data_dir=ctx.seeds_index())
    answerer = build_answerer(settings, embedder=ctx.embedder())
    t0 = time.perf_counter()
    answerer.generator.load()  # type: ignore[attr-defined]
    load_ms = (time.perf_counter() - t0) * 1000
    answerer.ask(QUESTIONS[0])  # fills llama.cpp's cache with the fixed prompt prefix
    questions = QUESTIONS[:3] if ctx.quick else QUESTIONS
    first, total, context, retrieve, refused = [], [], [], [], 0
    for q in questions:
        a = answerer.ask(q)
        total.append(a.timings["total_ms"])
        first.append(a.timings["first_token_ms"])
        retrieve.append(a.timings["retrieve_ms"])
        refused += a.refused
        if "context_tokens" in a.stats:
            context.append(a.stats["context_tokens"])
    rewrite = []
    for history, q in FOLLOW_UPS[:1] if ctx.quick else FOLLOW_UPS:
        a = answerer.ask(q, history)
        rewrite.append(a.timings.get("rewrite_ms", 0.0))
    return {
        "model_load_ms": load_ms,
        "questions": len(questions),
        "refused": refused,
        "retrieve_p50_ms": _pct(retrieve, 50),
        "first_token_p50_ms": _pct(first, 50),
        "first_token_p95_ms": _pct(first, 95),
        "total_p50_ms": _pct(total, 50),
        "total_p95_ms": _pct(total, 95),
        "context_tokens_mean": statistics.mean(context) if context else 0,
        "followup_rewrite_mean_ms": statistics.mean(rewrite),
    }


def bench_cold_ask(ctx: Bench) -> dict[str, Any]:
    """`qa ask --json` in a new process: imports, model load, retrieval and the answer."""
    from eval.bench import QUESTIONS

    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "ask",
            QUESTIONS[4],
            "--json",
            "--data-dir",
            str(ctx.seeds_index()),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    wall_ms = (time.perf_counter() - t0) * 1000
    out = json.loads(proc.stdout)
    return {
        "cold_ask_wall_ms": wall_ms,
        "in_process_total_ms": out["timings"]["total_ms"],
        "refused": out["refused"],
    }
