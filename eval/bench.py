"""Benchmark figures to compare run to run: indexing, cold start, retrieval latency, memory.

    .venv/bin/python eval/bench.py [--json out.json] [--quick]
    .venv/bin/python eval/bench.py --scale [--scale-chunks 50000] [--json out.json]

Each section is a function ``bench_x(ctx) -> dict`` of figures whose names carry their
unit (``_ms``, ``_s``, ``_per_s``, ``_mb``). Adding a section is one line in ``SECTIONS``.
Timings are wall-clock on this machine with whatever else it is running, so compare runs
made on the same machine.
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np

from eval.bench_answer import bench_answer, bench_cold_ask
from eval.bench_floors import check, floors_report
from eval.bench_generation import (
    bench_chat_memory,
    bench_cold_breakdown,
    bench_generation,
    bench_quick_commands,
)
from index.chunking import split_sentences
from index.embedder import MiniLMEmbedder
from index.indexer import Indexer
from index.schema import Document
from index.store import Store

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SQUAD = ROOT.parent / "shared" / "datasets" / "squad2_dev" / "docs"  # beside the checkout

Figures = dict[str, Any]

QUESTIONS = [
    "Is the offer of free passage for militants to leave Aleppo still on the table?",
    "Why does Putin consider resuming airstrikes on Aleppo inexpedient?",
    "How many fighters surrendered to the Syrian Army in 24 hours?",
    "What would happen if Assad quit, according to Peskov?",
    "How many checkpoints were set up in western Aleppo?",
    "Who requested the emergency UN Security Council meeting on Aleppo?",
    "What share of UN aid goes to Deir al-Zor?",
    "Are there plans for new contacts between Putin and Obama on Syria?",
]


@dataclass
class Bench:
    """What the sections share: the size preset, a scratch folder, one loaded model, the seeds index."""

    quick: bool
    workdir: Path
    _embedder: MiniLMEmbedder | None = field(default=None, repr=False)
    _seeds_data: Path | None = None

    def embedder(self) -> MiniLMEmbedder:
        if self._embedder is None:
            self._embedder = MiniLMEmbedder()
        return self._embedder

    def seeds_index(self) -> Path:
        """A data dir holding seeds/ indexed with the real model (built once)."""
        if self._seeds_data is None:
            self._seeds_data = self.workdir / "seeds-data"
            store = Store.open(self._seeds_data)
            Indexer(store, self.embedder()).run([SEEDS])
            store.close()
        return self._seeds_data


class _TimedEmbedder:
    """Passes through to an embedder and adds up the seconds spent in ``embed``."""

    def __init__(self, inner: MiniLMEmbedder) -> None:
        self.inner, self.seconds = inner, 0.0
        self.name, self.dim = inner.name, inner.dim

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return self.inner.token_spans(text)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        t0 = time.perf_counter()
        try:
            return self.inner.embed(texts)
        finally:
            self.seconds += time.perf_counter() - t0


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


# -- corpus --------------------------------------------------------------------------------


def make_corpus(
    dest: Path, total_bytes: int, seed: int = 7, file_bytes: int = 20_000
) -> tuple[int, int]:
    """Write deterministic English-like files to ``dest``: sentences of seeds/ recombined,
    their numbers changed. Returns (files, bytes)."""
    sentences: list[str] = []
    for path in sorted(SEEDS.glob("*")):
        text = path.read_text(encoding="utf-8")
        sentences += [text[a:b] for a, b in split_sentences(text) if b - a > 40]
    rng = random.Random(seed)

    def renumber(s: str) -> str:
        return re.sub(r"\d+", lambda m: str(rng.randint(1, 10 ** len(m.group()))), s)

    dest.mkdir(parents=True, exist_ok=True)
    written = files = 0
    while written < total_bytes:
        parts = [f"Report {files}: {renumber(rng.choice(sentences))[:80]}", ""]
        size = 0
        while size < file_bytes:
            para = " ".join(renumber(rng.choice(sentences)) for _ in range(rng.randint(3, 7)))
            parts.append(para)
            size += len(para) + 2
        data = "\n\n".join(parts).encode()
        (dest / f"report_{files:05d}.txt").write_bytes(data)
        written += len(data)
        files += 1
    return files, written


# -- sections ------------------------------------------------------------------------------


def _index_once(ctx: Bench, corpus: Path, data: Path) -> Figures:
    """Index ``corpus`` in this process; the embedder's ceiling on the same chunks is
    measured before and after it (the mean of both), so load on the machine cancels out."""
    embedder = ctx.embedder()
    timed = _TimedEmbedder(embedder)
    store = Store.open(data)
    texts = _chunk_texts(embedder, corpus)
    before = _embed_ceiling(embedder, texts)
    report = Indexer(store, timed).run([corpus])
    after = _embed_ceiling(embedder, texts)
    chunks = store.count_chunks()
    t0 = time.perf_counter()
    again = Indexer(store, timed).run([corpus])
    noop_s = time.perf_counter() - t0
    store.close()
    assert again.chunks_written == 0 and chunks == len(texts)
    ceiling = (before + after) / 2
    rate = chunks / report.seconds
    return {
        "files": report.added,
        "chunks": chunks,
        "seconds_s": report.seconds,
        "chunks_per_s": rate,
        "ceiling_chunks_per_s": ceiling,  # embedding alone, same chunks, same batch size
        "share_of_ceiling_pct": 100 * rate / ceiling,
        "embed_share_pct": 100 * timed.seconds / report.seconds,
        "reindex_noop_ms": noop_s * 1000,
    }


def _chunk_texts(embedder: MiniLMEmbedder, corpus: Path) -> list[str]:
    """The texts of the chunks indexing ``corpus`` writes (the same lengths as indexed)."""
    from index.chunking import chunk_document
    from index.loaders import LoadError, load, walk

    texts = []
    for source in walk(corpus, [".txt", ".md", ".html", ".htm", ".pdf"], lambda p, r: None):
        try:
            doc = load(source)
        except LoadError:
            continue
        chunks = chunk_document(doc, embedder.count_tokens, embedder.token_spans, 200, 1)
        texts += [c.text for c in chunks]
    return texts


def _embed_ceiling(embedder: MiniLMEmbedder, texts: Sequence[str]) -> float:
    """Chunks/s of embedding alone: ``texts`` in batches of the embedder's own size."""
    embedder.embed(list(texts[:8]))  # warm up
    t0 = time.perf_counter()
    for lo in range(0, len(texts), 128):  # as the indexer hands them over (a flush)
        embedder.embed(list(texts[lo : lo + 128]))
    return len(texts) / (time.perf_counter() - t0)


def _cli_index(
    corpus: Path, data: Path, settings: dict[str, str] | None = None
) -> tuple[float, int]:
    """`qa index corpus` in a new process, as a person runs it (with these ``QA_*``
    ``settings`` only): wall seconds, chunks."""
    exe = Path(sys.executable).with_name("qa")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from app.cli import main; main()"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")} | (settings or {})
    t0 = time.perf_counter()
    done = subprocess.run(
        [*cmd, "index", str(corpus), "--data-dir", str(data)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - t0
    chunks = int(re.search(r"(\d+) chunks written", done.stdout).group(1))  # type: ignore[union-attr]
    return seconds, chunks


def bench_index(ctx: Bench) -> Figures:
    """Indexing throughput with the real model: seeds/, SQuAD paragraphs (in this process
    and as `qa index` end to end, start-up included), and a generated corpus; each beside
    the embedder's ceiling on the same chunks."""
    out: Figures = {}
    for key, value in _index_once(ctx, SEEDS, ctx.workdir / "index-seeds").items():
        out[f"seeds_{key}"] = value
    if SQUAD.is_dir():
        inproc = _index_once(ctx, SQUAD, ctx.workdir / "index-squad")
        runs = [
            _cli_index(SQUAD, ctx.workdir / f"cli-squad-{i}") for i in range(1 if ctx.quick else 2)
        ]
        seconds, chunks = min(runs)
        out["squad_chunks"] = chunks
        out["squad_cli_seconds_s"] = seconds
        out["squad_chunks_per_s"] = chunks / seconds  # `qa index`, end to end (floor >= 50)
        out["squad_ceiling_chunks_per_s"] = inproc["ceiling_chunks_per_s"]
        # Indexing in this process against the ceiling measured around it (floor >= 90 %).
        out["squad_share_of_ceiling_pct"] = inproc["share_of_ceiling_pct"]
        out["squad_inproc_chunks_per_s"] = inproc["chunks_per_s"]
        out["squad_cli_share_of_ceiling_pct"] = (
            100 * out["squad_chunks_per_s"] / inproc["ceiling_chunks_per_s"]
        )
        # QA_EMBED_INT8=dynamic (the model's products in int8) on the same chunks: its
        # ceiling between two of the default's, and `qa index` with it, end to end.
        texts = _chunk_texts(ctx.embedder(), SQUAD)
        dynamic = MiniLMEmbedder(int8="dynamic")
        shipped = [_embed_ceiling(ctx.embedder(), texts)]
        int8 = _embed_ceiling(dynamic, texts)
        shipped.append(_embed_ceiling(ctx.embedder(), texts))
        out["squad_int8_ceiling_chunks_per_s"] = int8
        out["squad_int8_speedup"] = int8 / (sum(shipped) / 2)
        int8_runs = [
            _cli_index(SQUAD, ctx.workdir / f"cli-int8-{i}", {"QA_EMBED_INT8": "dynamic"})
            for i in range(1 if ctx.quick else 2)
        ]
        seconds, chunks = min(int8_runs)
        out["squad_int8_chunks_per_s"] = chunks / seconds  # `qa index`, QA_EMBED_INT8=dynamic
    corpus = ctx.workdir / "corpus"
    files, size = make_corpus(corpus, 300_000 if ctx.quick else 5_200_000)
    out["gen_mb"] = size / 1e6
    for key, value in _index_once(ctx, corpus, ctx.workdir / "index-gen").items():
        out[f"gen_{key}"] = value
    out["gen_kb_per_s"] = 1000 * out["gen_mb"] / out["gen_seconds_s"]
    out["threads"] = os.cpu_count() or 1
    out["embed_batch"] = ctx.embedder()._batch
    out["peak_rss_mb"] = _peak_rss_mb()  # mostly onnxruntime's buffers for a batch of chunks
    return out


_COLD = r"""
import time
t0 = time.perf_counter()
import json, sys
from pathlib import Path
from index.embedder import MiniLMEmbedder
from index.store import Store
t1 = time.perf_counter()
store = Store.open(Path(sys.argv[1]))
committed = store.committed()
t2 = time.perf_counter()
embedder = MiniLMEmbedder()
t3 = time.perf_counter()
vector = embedder.embed([sys.argv[2]])[0]
t4 = time.perf_counter()
hits = store.query(vector, 4, committed)
t5 = time.perf_counter()
# VmHWM, not ru_maxrss: Linux carries the forking parent's peak into a child's ru_maxrss.
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"import_ms": (t1 - t0) * 1e3, "open_store_ms": (t2 - t1) * 1e3,
                  "load_model_ms": (t3 - t2) * 1e3, "embed_ms": (t4 - t3) * 1e3,
                  "query_ms": (t5 - t4) * 1e3, "peak_rss_mb": int(hwm.split()[1]) / 1024,
                  "hits": len(hits)}), flush=True)
"""


def bench_cold_start(ctx: Bench) -> Figures:
    """A new process: import, open the store, load the model, embed a question, query."""
    data = ctx.seeds_index()
    runs = []
    for i in range(1 if ctx.quick else 5):
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", _COLD, str(data), QUESTIONS[i % len(QUESTIONS)]],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        first_result_s = time.perf_counter() - t0
        proc.wait()
        parts = json.loads(line)
        assert parts.pop("hits") > 0, "the cold process found nothing"
        runs.append({"first_result_ms": first_result_s * 1000, **parts})
    out = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    out["runs"] = len(runs)
    return out


def _synthetic_store(ctx: Bench, n_chunks: int, per_doc: int = 100) -> tuple[Store, float]:
    """A store of ``n_chunks`` random unit vectors, inserted directly (no embedding)."""
    rng = np.random.default_rng(n_chunks)
    store = Store.open(ctx.workdir / f"synthetic-{n_chunks}")
    batch = max(1, min(5000, int(store.client.get_max_batch_size())))
    t0 = time.perf_counter()
    for lo in range(0, n_chunks, batch):
        hi = min(n_chunks, lo + batch)
        vecs = rng.standard_normal((hi - lo, 384)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        metas = [
            {"doc_id": f"syn/{i // per_doc}", "hash": f"{i // per_doc:016x}", "title": "synthetic",
             "path": "", "start": 0, "end": 10, "line": 1}
            for i in range(lo, hi)
        ]  # fmt: skip
        store.chunks.upsert(
            ids=[f"syn/{i // per_doc}::{i}" for i in range(lo, hi)],
            embeddings=vecs.tolist(),
            documents=[f"synthetic chunk {i}" for i in range(lo, hi)],
            metadatas=metas,
        )
    insert_s = time.perf_counter() - t0
    for d in range(-(-n_chunks // per_doc)):
        doc = Document(f"syn/{d}", "", "synthetic", "synthetic", f"{d:016x}" + "0" * 48)
        store.commit(doc, "/synthetic", min(per_doc, n_chunks - d * per_doc))
    return store, insert_s


def _query_latency(store: Store, vectors: np.ndarray, repeats: int) -> tuple[list[float], float]:
    t0 = time.perf_counter()
    committed = store.committed()
    committed_ms = (time.perf_counter() - t0) * 1000
    for v in vectors[:5]:  # warm up
        store.query(v, 4, committed)
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        hits = store.query(vectors[i % len(vectors)], 4, committed)
        times.append((time.perf_counter() - t0) * 1000)
        assert len(hits) == 4
    return times, committed_ms


def bench_retrieval(ctx: Bench) -> Figures:
    """Warm dense retrieval latency (top 4) at seeds size and with synthetic vectors."""
    embedder = ctx.embedder()
    repeats = 30 if ctx.quick else 200
    out: Figures = {}

    embedder.embed(QUESTIONS[:2])  # warm up
    embed_ms = []
    for i in range(repeats):
        t0 = time.perf_counter()
        embedder.embed([QUESTIONS[i % len(QUESTIONS)]])
        embed_ms.append((time.perf_counter() - t0) * 1000)
    out["embed_query_p50_ms"] = _percentile(embed_ms, 50)
    out["embed_query_p95_ms"] = _percentile(embed_ms, 95)

    store = Store.open(ctx.seeds_index())
    questions = embedder.embed(QUESTIONS)
    times, committed_ms = _query_latency(store, questions, repeats)
    out["seeds_chunks"] = store.count_chunks()
    out["seeds_query_p50_ms"] = _percentile(times, 50)
    out["seeds_query_p95_ms"] = _percentile(times, 95)
    store.close()

    rng = np.random.default_rng(0)
    probes = rng.standard_normal((64, 384)).astype(np.float32)
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    for n in (1_000, 5_000) if ctx.quick else (10_000, 100_000):
        label = f"{n // 1000}k"
        store, insert_s = _synthetic_store(ctx, n)
        times, committed_ms = _query_latency(store, probes, repeats)
        out[f"{label}_insert_per_s"] = n / insert_s
        out[f"{label}_query_p50_ms"] = _percentile(times, 50)
        out[f"{label}_query_p95_ms"] = _percentile(times, 95)
        out[f"{label}_committed_ms"] = committed_ms
        store.close()
    out["synthetic"] = "random unit 384-d vectors upserted directly, 100 chunks per doc record"
    return out


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_memory(ctx: Bench) -> Figures:
    """Peak resident memory of this process (after every section before it)."""
    return {"peak_rss_mb": _peak_rss_mb()}


# One line per section; each gets the shared Bench and returns its figures.
SECTIONS: list[tuple[str, Callable[[Bench], Figures]]] = [
    ("index", bench_index),
    ("cold_start", bench_cold_start),
    ("retrieval", bench_retrieval),
    ("answer", bench_answer),
    ("cold_ask", bench_cold_ask),
    ("cold_breakdown", bench_cold_breakdown),
    ("quick_commands", bench_quick_commands),
    ("generation", bench_generation),
    ("chat_memory", bench_chat_memory),
    ("memory", bench_memory),  # keep last: it reports the peak of everything above
]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)


def render_table(results: dict[str, Figures]) -> str:
    rows = [
        (section, name, _fmt(v), check(section, name, v))
        for section, figures in results.items()
        for name, v in figures.items()
    ]
    w1 = max(len("section"), *(len(r[0]) for r in rows))
    w2 = max(len("figure"), *(len(r[1]) for r in rows))
    w3 = max(len("value"), *(len(r[2]) for r in rows))
    lines = [
        f"{'section':<{w1}}  {'figure':<{w2}}  {'value':<{w3}}  floor",
        f"{'-' * w1}  {'-' * w2}  {'-' * w3}  -----",
    ]
    lines += [f"{s:<{w1}}  {n:<{w2}}  {v:<{w3}}  {f}".rstrip() for s, n, v, f in rows]
    return "\n".join(lines)


def run_sections(
    ctx: Bench, sections: Sequence[tuple[str, Callable[[Bench], Figures]]] = SECTIONS
) -> dict:
    results: dict[str, Figures] = {}
    for name, fn in sections:
        click.echo(f"bench: {name} ...", err=True)
        t0 = time.perf_counter()
        results[name] = fn(ctx)
        click.echo(f"bench: {name} done in {time.perf_counter() - t0:.1f} s", err=True)
    return results


def _meta(quick: bool, load_before: float) -> dict[str, Any]:
    import chromadb
    import onnxruntime

    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": quick,
        # Other work on the machine slows every figure: compare runs with similar load.
        "load1_before": round(load_before, 2),
        "load1_after": round(os.getloadavg()[0], 2),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "chromadb": chromadb.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


@click.command()
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the figures here.",
)
@click.option("--quick", is_flag=True, help="Small sizes: a smoke test in well under a minute.")
@click.option(
    "--scale",
    is_flag=True,
    help="Run only the scale test: a generated corpus indexed end to end with the real "
    "embedder (50k chunks: 20 min on 2 idle cores, much longer on busy ones), then hybrid "
    "retrieval and memory at seeds, 10k and --scale-chunks chunks.",
)
@click.option(
    "--scale-chunks",
    type=click.IntRange(min=100),
    default=50_000,
    show_default=True,
    help="Chunks of the largest generated corpus (--scale).",
)
@click.option(
    "--scale-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the scale test's corpus, indexes and progress here; run again to go on from it.",
)
@click.option(
    "--only",
    "only",
    multiple=True,
    type=click.Choice([name for name, _ in SECTIONS]),
    help="Run only this section (repeatable); the default runs them all.",
)
def main(
    json_out: Path | None,
    quick: bool,
    scale: bool,
    scale_chunks: int,
    scale_dir: Path | None,
    only: tuple[str, ...],
) -> None:
    """Measure indexing throughput, cold start, retrieval latency and peak memory; print one table."""
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    load_before = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="qa-bench-"))
    sections = [(name, fn) for name, fn in SECTIONS if not only or name in only]
    if scale:
        from eval.bench_scale import bench_scale

        def scale_section(ctx: Bench) -> Figures:
            say = lambda msg: click.echo(msg, err=True)  # noqa: E731
            return bench_scale(ctx, QUESTIONS, target=scale_chunks, log=say, keep=scale_dir)

        sections = [("scale", scale_section)]
    try:
        results = run_sections(Bench(quick=quick, workdir=workdir), sections)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    meta = _meta(quick, load_before)
    click.echo(" ".join(f"{k}={v}" for k, v in meta.items()))
    click.echo(render_table(results))
    if json_out:
        report = {"meta": meta, "sections": results, "floors": floors_report(results)}
        json_out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
