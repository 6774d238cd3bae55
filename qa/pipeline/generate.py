"""Generate: the question and its passages → the model's answer, streamed piece by piece,
then the whole :class:`Draft`."""

from __future__ import annotations

import time
from collections.abc import Generator as Stream
from collections.abc import Sequence
from dataclasses import dataclass

from qa.generator import Generator
from qa.prompts import answer_messages
from qa.schema import Delta, Passage


@dataclass(frozen=True)
class Draft:
    text: str  # what the model wrote, stripped; not yet verified
    context_tokens: int  # tokens of the last message (sources and question)
    first_token_ms: float | None  # since the question; None: the model wrote nothing
    ms: float  # the step, prompt included


def generate(
    generator: Generator, question: str, passages: Sequence[Passage], t0: float
) -> Stream[Delta, None, Draft]:
    """Yields the model's answer as it writes it; returns the :class:`Draft` (``t0``: when
    the question was asked)."""
    t1 = time.perf_counter()
    messages = answer_messages(question, passages)
    context_tokens = generator.count_tokens(messages[-1]["content"])
    pieces: list[str] = []
    first = None
    for piece in generator.stream(messages):
        if not pieces:
            first = (time.perf_counter() - t0) * 1000.0
        pieces.append(piece)
        yield Delta(piece)
    return Draft(
        "".join(pieces).strip(), context_tokens, first, (time.perf_counter() - t1) * 1000.0
    )


def complete(generator: Generator, question: str, passages: Sequence[Passage]) -> str:
    """The model's whole answer at once (the second look, which is not streamed)."""
    return "".join(generator.stream(answer_messages(question, passages))).strip()
