"""The scale section of the benchmark (``eval/bench.py --scale``): a generated corpus indexed
end to end with the real embedder, then the product's own hybrid retriever timed at each size.

Sizes: seeds/ (about 24 chunks), then a generated corpus grown in place to 10,000 and to
``--scale-chunks`` (50,000 by default) chunks, indexed incrementally with ``run_index`` (so the
index time of a size is the sum of its steps). After each size a fresh process opens the index
as ``qa ask`` would (``build_answerer``), loads or builds the BM25 side, and times retrieval:

- ``retrieve``: ``Retriever.candidates(question)``, BM25 and Chroma fused, query embedding
  included. The floor (p50 <= 50 ms at 50k+ chunks) applies to this.
- ``bm25`` and ``dense``: each side alone, to see which one grows.
- ``passages``: the whole retrieval step with sentence windows (it embeds the candidates'
  sentences, a cost that depends on the question, not on the index size).

Memory is each probe process's peak RSS (VmHWM), that is what a ``qa ask`` process holds.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.chunking import chunk_document, split_sentences
from index.schema import Document

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SQUAD = ROOT.parent / "shared" / "datasets" / "squad2_dev" / "docs"

MID_CHUNKS = 10_000
STEP_CHUNKS = 10_000

_CAPITAL = re.compile(r"(?<=[\s(\"'])[A-Z][a-z]{2,}(?:\s[A-Z][a-z]{2,})?")
_NUMBER = re.compile(r"\d+")


class SentencePool:
    """Sentences of seeds/ and the SQuAD documents, recombined with names and numbers swapped."""

    def __init__(self, folders: Sequence[Path], seed: int) -> None:
        self.sentences: list[str] = []
        names: set[str] = set()
        for folder in folders:
            for path in sorted(folder.glob("*.txt")):
                text = path.read_text(encoding="utf-8")
                for a, b in split_sentences(text):
                    s = " ".join(text[a:b].split())
                    if 40 <= len(s) <= 300:
                        self.sentences.append(s)
                        names.update(_CAPITAL.findall(s))
        self.names = sorted(names)
        self.rng = random.Random(seed)

    def sentence(self) -> str:
        rng = self.rng
        s = rng.choice(self.sentences)
        s = _CAPITAL.sub(lambda m: rng.choice(self.names) if rng.random() < 0.5 else m[0], s)
        return _NUMBER.sub(lambda m: str(rng.randint(1, 10 ** min(4, len(m[0])))), s)

    def document(self, n: int) -> tuple[str, str]:
        """A file name and text: a four-word title and one sentence (two in one of five): a
        brief, a note, a ticket; so one chunk each.

        Short documents keep the embedding work of 50k chunks within reach of a shared 2-core
        machine (about 40 word-pieces a chunk instead of 180, three times the chunks/s);
        retrieval costs grow with the number of chunks, hardly with their length."""
        title = " ".join(self.sentence().split()[:4]).rstrip(",.;:")
        body = " ".join(self.sentence() for _ in range(2 if self.rng.random() < 0.2 else 1))
        return f"doc_{n:06d}.txt", f"{title}\n\n{body}\n"

    def question(self) -> str:
        words = self.sentence().rstrip(".").split()
        lo = self.rng.randint(0, max(0, len(words) - 8))
        return "What about " + " ".join(words[lo : lo + self.rng.randint(5, 10)]) + "?"


def _chunks_in(texts: Sequence[str], embedder: Any, chunk_tokens: int, overlap: int) -> int:
    total = 0
    for text in texts:
        doc = Document("calibrate", "", "", text, "0" * 64)
        total += len(
            chunk_document(doc, embedder.count_tokens, embedder.token_spans, chunk_tokens, overlap)
        )
    return total


def grow_corpus(pool: SentencePool, dest: Path, first: int, chunks: float, per_doc: float) -> int:
    """Write documents ``first``.. until about ``chunks`` more chunks; returns the next number."""
    dest.mkdir(parents=True, exist_ok=True)
    n = first
    for _ in range(max(1, int(chunks / per_doc) + 1)):
        name, text = pool.document(n)
        (dest / name).write_text(text, encoding="utf-8")
        n += 1
    return n


def _vm(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


def _pcts(prefix: str, ms: Sequence[float]) -> dict[str, float]:
    arr = np.asarray(ms, dtype=np.float64)
    return {
        f"{prefix}_p50_ms": float(np.percentile(arr, 50)),
        f"{prefix}_p95_ms": float(np.percentile(arr, 95)),
    }


def probe(data_dir: Path, questions: Sequence[str], only_open: bool = False) -> dict[str, float]:
    """Open the index as ``qa ask`` does and time its retriever (runs in a fresh process).

    ``only_open``: stop once the BM25 side is ready (the first process after indexing builds
    and saves it, which is timed on its own)."""
    from qa.service import build_answerer
    from qa.settings import load_settings

    t0 = time.perf_counter()
    answerer = build_answerer(load_settings(data_dir=data_dir))
    retriever = answerer.retriever
    t1 = time.perf_counter()
    committed = retriever.refresh()  # loads the BM25 cache, or builds and saves it
    t2 = time.perf_counter()
    if only_open:
        return {"open_ms": (t1 - t0) * 1000, "bm25_ready_ms": (t2 - t1) * 1000}
    embedder, n = retriever.embedder, retriever.settings.candidates
    qvecs = embedder.embed(list(questions))
    for q in questions[:5]:  # warm up
        retriever.candidates(q)
    timed: dict[str, list[float]] = {"retrieve": [], "bm25": [], "dense": [], "fuse": []}
    cpu: list[float] = []  # CPU time of the process (all threads): what the machine's load hides
    for _ in range(2):
        for q, v in zip(questions, qvecs, strict=True):
            a, a_cpu = time.perf_counter(), time.process_time()
            retriever.candidates(q)
            b = time.perf_counter()
            cpu.append((time.process_time() - a_cpu) * 1000)
            retriever.bm25.search(q, n)
            c = time.perf_counter()
            retriever.store.query(v, n, committed)
            d = time.perf_counter()
            retriever.candidates(q, v)
            e = time.perf_counter()
            for key, ms in zip(timed, (b - a, c - b, d - c, e - d), strict=True):
                timed[key].append(ms * 1000)
    passages = []
    for q in questions[: max(10, len(questions) // 3)]:
        a = time.perf_counter()
        got = retriever.passages(q)
        passages.append((time.perf_counter() - a) * 1000)
        assert got, f"no passages for {q!r}"
    out: dict[str, float] = {
        "open_ms": (t1 - t0) * 1000,
        "bm25_ready_ms": (t2 - t1) * 1000,
        "chunks": float(sum(r.chunks for r in committed.values())),
    }
    out |= _pcts("retrieve", timed["retrieve"])
    out |= _pcts("retrieve_cpu", cpu)
    out |= _pcts("retrieve_no_embed", timed["fuse"])
    out |= _pcts("bm25", timed["bm25"])
    out |= _pcts("dense", timed["dense"])
    out |= _pcts("passages", passages)
    out["peak_rss_mb"] = _vm("VmHWM")
    out["rss_mb"] = _vm("VmRSS")
    return out


def _run_probe(data_dir: Path, questions_file: Path, only_open: bool = False) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-m", "eval.bench_scale", str(data_dir), str(questions_file)]
        + (["open"] if only_open else []),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"scale probe failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_scale(
    ctx: Any,
    seed_questions: Sequence[str],
    target: int = 50_000,
    log: Any = None,
    keep: Path | None = None,
) -> dict[str, Any]:
    """Index seeds/, then a generated corpus of 10k and ``target`` chunks; time retrieval at each.

    ``keep``: a folder for the corpus, the indexes and ``scale-progress.json`` (the figures and
    index seconds so far), kept afterwards; a run given the same folder goes on from there.
    """
    from qa.service import run_index
    from qa.settings import load_settings

    say = log or (lambda msg: None)
    embedder = ctx.embedder()
    settings = load_settings()
    chunk_tokens, overlap = settings.index.chunk_tokens, settings.index.overlap_sentences
    pool = SentencePool([SEEDS, *([SQUAD] if SQUAD.is_dir() else [])], seed=12)
    questions = [*seed_questions, *(pool.question() for _ in range(60))]
    base = Path(keep) if keep else ctx.workdir
    base.mkdir(parents=True, exist_ok=True)
    qfile = base / "scale-questions.json"
    qfile.write_text(json.dumps(questions))
    sample = [pool.document(-1 - i)[1] for i in range(100)]
    per_doc = _chunks_in(sample, embedder, chunk_tokens, overlap) / len(sample)
    progress_file = base / "scale-progress.json"
    progress: dict[str, Any] = {"figures": {}, "index_s": 0.0, "next_doc": 0, "have": 0}
    if progress_file.exists():
        progress = json.loads(progress_file.read_text())
        say(f"scale: resuming {progress_file} at {progress['have']} chunks")
    out: dict[str, Any] = progress["figures"] | {
        "pool_sentences": len(pool.sentences),
        "pool_names": len(pool.names),
        "chunks_per_doc": per_doc,
        "questions": len(questions),
    }

    def save() -> None:
        progress["figures"] = out
        tmp = progress_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(progress, indent=1))
        tmp.replace(progress_file)

    if "seeds_retrieve_p50_ms" not in out:
        seeds_data = base / "scale-seeds"
        report = run_index(load_settings(data_dir=seeds_data), [SEEDS], embedder)
        _probe_stage(out, "seeds", seeds_data, report.seconds, report.total_chunks, qfile, say)
        save()

    corpus, data = base / "scale-corpus", base / "scale-data"
    sizes = sorted({min(MID_CHUNKS, max(1, target // 5)), target})
    next_doc, index_s, have = progress["next_doc"], progress["index_s"], progress["have"]
    for _ in range(next_doc):  # the generator goes on where the last run stopped
        pool.document(0)
    for size in sizes:
        if f"{_label(size)}_retrieve_p50_ms" in out:
            continue
        while have < size:  # grown in place, 10k at a time: each run indexes only new files
            more = min(STEP_CHUNKS, (size - have) * 1.01)
            next_doc = grow_corpus(pool, corpus, next_doc, more, per_doc)
            report = run_index(load_settings(data_dir=data), [corpus], embedder)
            index_s += report.seconds
            have = report.total_chunks
            progress.update(next_doc=next_doc, index_s=index_s, have=have)
            save()
            say(f"scale: {have} chunks in {next_doc} files after {index_s:.0f} s of indexing")
        _probe_stage(out, _label(size), data, index_s, have, qfile, say)
        save()
        say("scale: figures so far " + json.dumps(out))  # kept in the log if a later step fails
    out["index_peak_rss_mb"] = _vm("VmHWM")
    out["corpus_mb"] = sum(p.stat().st_size for p in corpus.iterdir()) / 1e6
    # The floor (eval/bench_floors.py) holds the largest size to 50 ms; it is only the
    # issue's floor when that size has 50k+ chunks.
    out["largest_chunks"] = have
    out["retrieve_p50_ms_at_largest"] = out[f"{_label(sizes[-1])}_retrieve_p50_ms"]
    out["floor_applies"] = have >= 50_000
    return out


def _label(size: int) -> str:
    return f"{size // 1000}k" if size >= 1000 else str(size)


def _probe_stage(
    out: dict[str, Any],
    label: str,
    data: Path,
    index_s: float,
    chunks: int,
    qfile: Path,
    say: Any,
) -> None:
    first = _run_probe(
        data, qfile, only_open=True
    )  # builds and saves the BM25 cache of this generation
    figures = _run_probe(data, qfile)  # a later process loads it, as `qa ask` does
    out[f"{label}_chunks"] = chunks
    out[f"{label}_index_s"] = index_s
    out[f"{label}_index_chunks_per_s"] = chunks / index_s if index_s else 0.0
    out[f"{label}_bm25_build_ms"] = first["bm25_ready_ms"]
    for key, value in figures.items():
        if key != "chunks":
            out[f"{label}_{key}"] = value
    say(
        f"scale: {label} ({chunks} chunks) retrieve p50 {figures['retrieve_p50_ms']:.1f} ms, "
        f"passages p50 {figures['passages_p50_ms']:.0f} ms, peak {figures['peak_rss_mb']:.0f} MB"
    )


if __name__ == "__main__":
    questions = json.loads(Path(sys.argv[2]).read_text())
    print(json.dumps(probe(Path(sys.argv[1]), questions, only_open=sys.argv[3:] == ["open"])))
