"""Retrieve: a query → the passages sent to the model (:class:`qa.retrieval.Retriever` does
the search); and, for the second look, those passages cut down to their best sentences."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from qa.reader import Reading
from qa.schema import Passage


class PassageSource(Protocol):
    def passages(self, query: str, k: int | None = None) -> list[Passage]: ...


@dataclass(frozen=True)
class Retrieved:
    query: str
    passages: tuple[Passage, ...]  # numbered 1..k, best first
    ms: float


def retrieve(retriever: PassageSource, query: str, k: int) -> Retrieved:
    t0 = time.perf_counter()
    passages = tuple(retriever.passages(query, k))
    return Retrieved(query, passages, (time.perf_counter() - t0) * 1000.0)


def focus(passages: Sequence[Passage], reading: Reading, n: int) -> list[Passage]:
    """The passages cut down to the reader's ``n`` best sentences, keeping their numbers (so
    citations still point into the full passages), best first."""
    by_n = {p.n: p for p in passages}
    picked: dict[int, list[str]] = {}
    for span in reading.distinct(n):
        picked.setdefault(span.passage, []).append(span.text)
    return [replace(by_n[k], text=" … ".join(texts)) for k, texts in picked.items()]
