"""qa.llama_prefix.HeldStates with a stand-in for llama-cpp-python's Llama (no model): which
tokens it evaluates, restores and keeps. tests/test_llama_prefix.py runs it on the real model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from qa import llama_prefix
from qa.llama_prefix import HeldStates


class FakeLlama:
    """Holds ``input_ids[:n_tokens]`` as its context; its "state" is that token list."""

    def __init__(self) -> None:
        self.input_ids = np.zeros(64, dtype=np.intc)
        self.n_tokens = 0
        self._requires_eval = True
        self._ctx = self  # HeldStates reads llm._ctx.ctx
        self.ctx = self
        self.evaluated: list[list[int]] = []

    def eval(self, tokens: list[int]) -> None:
        self.evaluated.append(list(tokens))
        self.input_ids[self.n_tokens : self.n_tokens + len(tokens)] = tokens
        self.n_tokens += len(tokens)
        self._requires_eval = False

    def reset(self) -> None:
        self.n_tokens = 0

    def held(self) -> list[int]:
        return [int(t) for t in self.input_ids[: self.n_tokens]]


@pytest.fixture(autouse=True)
def token_states(monkeypatch: pytest.MonkeyPatch) -> None:
    def get(ctx: Any) -> bytes:
        return bytes(ctx.held())

    def put(ctx: Any, state: bytes) -> None:
        ctx.input_ids[: len(state)] = list(state)
        ctx.n_tokens = len(state)

    monkeypatch.setattr(llama_prefix, "state_bytes", get)
    monkeypatch.setattr(llama_prefix, "set_state_bytes", put)


def test_a_start_is_computed_once_then_restored_after_another_prompt() -> None:
    llm, held = FakeLlama(), HeldStates()
    llm.eval([1, 2, 3, 9, 9])  # the answer prefix 1 2 3, then a question
    assert held.reach(llm, [1, 2, 3, 4, 5]) == "computed"
    assert llm.evaluated[-1] == [4, 5]  # only what the context did not share
    assert llm.held() == [1, 2, 3, 4, 5]
    llm.n_tokens = 3
    llm.eval([7, 7])  # an answer's prompt: the prefix, then its sources
    assert held.reach(llm, [1, 2, 3]) == "held"  # llama.cpp reuses it on its own
    assert held.reach(llm, [1, 2, 3, 4, 5]) == "restored"
    assert llm.held() == [1, 2, 3, 4, 5] and llm._requires_eval
    assert llm.evaluated[-1] == [7, 7]  # nothing evaluated for the restore


def test_only_the_most_recently_used_states_are_kept() -> None:
    llm, held = FakeLlama(), HeldStates(most=2)
    llm.eval([0])
    for start in ([0, 1], [0, 3], [0, 5]):
        assert held.reach(llm, start) == "computed"
    assert held.reach(llm, [0, 3]) == "restored"
    assert held.reach(llm, [0, 1]) == "computed"  # the oldest was dropped
    assert held.reach(llm, [0, 5]) == "computed"  # [0, 3] was used after it


def test_the_states_kept_stay_within_their_bytes() -> None:
    llm, held = FakeLlama(), HeldStates(max_bytes=5)
    llm.eval([0])
    assert held.reach(llm, [0, 1, 2]) == "computed"
    assert held.reach(llm, [0, 3, 4]) == "computed"
    assert held.size == 3  # the older state (3 bytes) was dropped for the newer
    assert held.reach(llm, [0, 1, 2, 3, 4, 5]) == "computed"
    assert held.size == 0  # one state over the limit is not kept


def test_a_first_prompt_is_left_to_llama_cpp_whole() -> None:
    """Nothing shared (a new process): the prompt is processed as it always was."""
    llm, held = FakeLlama(), HeldStates()
    assert held.reach(llm, [1, 2, 3]) == "skipped"
    assert llm.evaluated == [] and llm.n_tokens == 0


def test_a_state_llama_cpp_refuses_is_computed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    llm, held = FakeLlama(), HeldStates()
    llm.eval([1])
    assert held.reach(llm, [1, 2, 3]) == "computed"
    llm.n_tokens = 1
    llm.eval([8])

    def refuse(ctx: Any, state: bytes) -> None:
        raise ValueError("llama.cpp refused the state")

    monkeypatch.setattr(llama_prefix, "set_state_bytes", refuse)
    assert held.reach(llm, [1, 2, 3]) == "skipped"  # reset: llama.cpp processes it whole
    assert llm.n_tokens == 0
