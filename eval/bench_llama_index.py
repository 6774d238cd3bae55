"""What qa's llama-index pieces (:mod:`qa.llama_index`) cost over calling qa directly:
``QARetriever.retrieve`` vs ``Retriever.passages`` and ``QAQueryEngine.query`` vs
``Answerer.ask``, with the fakes (hashed embedder, scripted generator) over a temporary index
of seeds/, so the figures are the wrappers' own cost and no model's.

    python -m eval.bench_llama_index --reps 200
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from qa.answerer import Answerer
from qa.schema import Answer, Passage

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "How many checkpoints were established in western Aleppo?"
REPLY = "Seven checkpoints were established in western Aleppo [1]."


def _ms(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000.0


def measure(answerer: Answerer, question: str = QUESTION, reps: int = 200) -> dict[str, Any]:
    """Median ms per call of each pair, the two calls of a pair taking turns (so a load on the
    machine slows both alike), and whether each pair gave the same result. ``answerer``'s
    generator must be a :class:`~qa.testing.FakeGenerator` (its replies are set here)."""
    from llama_index.core.base.response.schema import Response

    from qa.llama_index import QAQueryEngine, QARetriever

    gen = answerer.generator
    gen.default = REPLY  # type: ignore[attr-defined]
    retriever = QARetriever.from_answerer(answerer)
    engine = QAQueryEngine(answerer=answerer)
    raw = answerer.retriever.passages(question, answerer.k)
    nodes = retriever.retrieve(question)
    same_passages = [(p.doc_id, p.start, p.end, p.text, p.score) for p in raw] == [
        (
            n.node.metadata["doc_id"],
            n.node.metadata["start"],
            n.node.metadata["end"],
            n.node.get_content(),
            n.score,
        )
        for n in nodes
    ]
    asked = answerer.ask(question)
    queried = engine.query(question)
    assert isinstance(queried, Response)
    same_answer = asked.text == queried.response and [
        (c.source, c.start, c.end, c.quote) for c in asked.citations
    ] == [
        (
            n.node.metadata["doc_id"],
            n.node.metadata["start"],
            n.node.metadata["end"],
            n.node.get_content(),
        )
        for n in queried.source_nodes
    ]
    times: dict[str, list[float]] = {k: [] for k in ("passages", "retrieve", "ask", "query")}
    for _ in range(reps):
        times["passages"].append(_ms(lambda: answerer.retriever.passages(question, answerer.k)))
        times["retrieve"].append(_ms(lambda: retriever.retrieve(question)))
        times["ask"].append(_ms(lambda: answerer.ask(question)))
        times["query"].append(_ms(lambda: engine.query(question)))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "reps": reps,
        "ms": {k: round(v, 3) for k, v in med.items()},
        "wrapper_ms": wrapper_only(raw, asked, question, 10 * reps),
        "retrieve_overhead_ms": round(med["retrieve"] - med["passages"], 3),
        "query_overhead_ms": round(med["query"] - med["ask"], 3),
        "retrieve_ratio": round(med["retrieve"] / med["passages"], 3),
        "query_ratio": round(med["query"] / med["ask"], 3),
        "same_passages": same_passages,
        "same_answer": same_answer,
    }


class _Fixed:
    """Gives the same passages and answer every time: what is left is the wrapper's cost."""

    def __init__(self, passages: list[Passage], answer: Answer) -> None:
        self.k = len(passages)
        self.retriever = self
        self._passages = passages
        self._answer = answer

    def passages(self, query: str, k: int | None = None) -> list[Passage]:
        return self._passages

    def ask(self, question: str) -> Answer:
        return self._answer


def wrapper_only(
    passages: list[Passage], answer: Answer, question: str, reps: int
) -> dict[str, float]:
    """Median ms that ``QARetriever.retrieve`` and ``QAQueryEngine.query`` add to a search and
    an answer that cost nothing (llama-index's spans and callbacks, the node conversions), and
    that ``QALLM.chat`` adds to a generator's reply."""
    from llama_index.core.base.llms.types import ChatMessage, MessageRole

    from qa.llama_index import QALLM, QAQueryEngine, QARetriever
    from qa.testing import FakeGenerator

    fixed = _Fixed(passages, answer)
    retriever = QARetriever(fixed, fixed.k)
    engine = QAQueryEngine(answerer=fixed)
    gen = FakeGenerator(default=REPLY)
    llm = QALLM(gen)
    turns = [{"role": "user", "content": question}]
    messages = [ChatMessage(role=MessageRole.USER, content=question)]
    times: dict[str, list[float]] = {k: [] for k in ("retrieve", "query", "stream", "chat")}
    for _ in range(reps):
        times["retrieve"].append(_ms(lambda: retriever.retrieve(question)))
        times["query"].append(_ms(lambda: engine.query(question)))
        times["stream"].append(_ms(lambda: "".join(gen.stream(turns))))
        times["chat"].append(_ms(lambda: llm.chat(messages)))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "retrieve": round(med["retrieve"], 4),
        "query": round(med["query"], 4),
        "llm": round(med["chat"] - med["stream"], 4),
    }


def fake_answerer(data_dir: Path, seeds: Path = ROOT / "seeds") -> Answerer:
    """An answerer on the fakes over a new index of ``seeds`` in ``data_dir``."""
    from qa.service import build_answerer, run_index
    from qa.settings import load_settings
    from qa.testing import FakeGenerator, HashEmbedder

    settings = load_settings(data_dir=data_dir, embed__mode="fake", llm__mode="fake")
    embedder = HashEmbedder()
    run_index(settings, [seeds], embedder)
    return build_answerer(settings, embedder=embedder, generator=FakeGenerator())


@click.command()
@click.option("--reps", type=click.IntRange(min=1), default=200, show_default=True)
def main(reps: int) -> None:
    """Time qa's llama-index wrappers against qa's own calls, on the fakes."""
    folder = Path(tempfile.mkdtemp(prefix="qa-bench-li-"))
    try:
        result = measure(fake_answerer(folder / "data"), reps=reps)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    ms = result["ms"]
    click.echo(
        f"retrieve: QARetriever {ms['retrieve']:.3f} ms vs Retriever.passages "
        f"{ms['passages']:.3f} ms (+{result['retrieve_overhead_ms']:.3f} ms, "
        f"x{result['retrieve_ratio']:.3f}); same passages: {result['same_passages']}"
    )
    click.echo(
        f"answer: QAQueryEngine.query {ms['query']:.3f} ms vs Answerer.ask {ms['ask']:.3f} ms "
        f"(+{result['query_overhead_ms']:.3f} ms, x{result['query_ratio']:.3f}); "
        f"same answer: {result['same_answer']} ({reps} calls each, medians)"
    )
    w = result["wrapper_ms"]
    click.echo(
        f"the wrappers alone (over a search and an answer that cost nothing): "
        f"retrieve {w['retrieve']:.4f} ms, query {w['query']:.4f} ms a call; "
        f"QALLM.chat adds {w['llm']:.4f} ms to a reply"
    )


if __name__ == "__main__":
    main()
