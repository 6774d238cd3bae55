"""The entailment judge: its prompt, its reading of yes/no, and the real model on clear cases."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from qa.judge import (
    Claim,
    _openai_yes,
    _yes_probability,
    judge_messages,
    make_judge,
)
from qa.settings import load_settings


def test_the_prompt_is_a_fixed_prefix_then_the_item():
    plain = judge_messages()
    item = judge_messages(Claim("The ferry  carries\n240 people.", "It carries 240 people."))
    assert item[: len(plain)] == plain
    assert [m["role"] for m in plain[1:3]] == ["user", "assistant"]
    assert plain[-1]["content"] in ("Yes", "No")
    # Every worked example is in the form the items are asked in.
    for m in plain[1::2]:
        assert m["content"].startswith("Passage: ")
        assert m["content"].endswith("\nDoes the passage state the claim?")
    assert item[-1] == {
        "role": "user",
        "content": "Passage: The ferry carries 240 people.\nClaim: It carries 240 people.\n"
        "Does the passage state the claim?",
    }


def test_yes_probability_weighs_every_spelling_of_yes_against_no():
    logits = {1: 2.0, 2: 2.0, 3: 1.0}  # two spellings of yes, one of no
    p = _yes_probability(logits, [1, 2], [3])
    assert p == pytest.approx(2 * math.e**2 / (2 * math.e**2 + math.e))


def _response(tokens=None, text="Yes"):
    content = (
        [SimpleNamespace(top_logprobs=[SimpleNamespace(token=t, logprob=lp) for t, lp in tokens])]
        if tokens is not None
        else None
    )
    return SimpleNamespace(
        choices=[
            SimpleNamespace(
                logprobs=SimpleNamespace(content=content), message=SimpleNamespace(content=text)
            )
        ]
    )


def test_openai_logprobs_are_read_as_yes_against_no():
    r = _response([("Yes", math.log(0.6)), ("No", math.log(0.2)), (" yes", math.log(0.1))])
    assert _openai_yes(r) == pytest.approx(0.7 / 0.9)
    assert _openai_yes(_response([("No", -0.1), ("Maybe", -3.0)])) == 0.0
    assert _openai_yes(_response(None, text="No.")) == 0.0  # a server without logprobs
    assert _openai_yes(_response(None, text="yes")) == 1.0


def test_no_judge_when_it_is_off_or_the_generator_has_no_model():
    from qa.testing import FakeGenerator

    assert make_judge(load_settings(check__judge="off"), FakeGenerator()) is None
    assert make_judge(load_settings(llm__mode="fake"), FakeGenerator()) is None


def test_the_backend_follows_what_the_generator_can_be_asked_through():
    from qa.judge import LlamaJudge, OpenAIJudge
    from qa.service import LazyGenerator

    settings = load_settings()
    model, client = object(), object()

    class WithModel:  # as qa.generator.LocalGenerator
        def llama(self):
            return model

    class WithClient:  # as qa.generator.OpenAIGenerator
        def chat_client(self):
            return client

    judge = make_judge(settings, WithModel())
    assert isinstance(judge, LlamaJudge) and judge._model() is model
    judge = make_judge(settings, WithClient())
    assert isinstance(judge, OpenAIJudge) and judge._client() is client
    assert judge._model == settings.llm.model
    # A lazily loaded generator offers what its mode will load, and loads nothing yet.
    lazy = LazyGenerator(load_settings(llm__mode="local"))
    assert isinstance(make_judge(settings, lazy), LlamaJudge) and lazy._inner is None
    lazy = LazyGenerator(load_settings(llm__mode="openai"))
    assert isinstance(make_judge(settings, lazy), OpenAIJudge) and lazy._inner is None
    assert make_judge(settings, LazyGenerator(load_settings(llm__mode="fake"))) is None


@pytest.mark.real
def test_the_real_judge_tells_a_stated_claim_from_a_reversed_one(tmp_path: Path) -> None:
    from qa.generator import make_generator
    from qa.judge import LlamaJudge

    settings = load_settings(llm__mode="local", llm__threads=2)
    gen = make_generator(settings)
    judge = LlamaJudge(gen.llama, cache_dir=str(tmp_path))  # type: ignore[attr-defined]
    passage = (
        "The harbour office said the night ferry will not run in January, because its engine "
        "is being replaced."
    )
    stated, reversed_, invented = judge.score(
        [
            Claim(passage, "The night ferry will not run in January."),
            Claim(passage, "The night ferry will run in January."),
            Claim(passage, "The night ferry's engine is being repaired by Volvo."),
        ]
    )
    assert stated >= 0.85 > reversed_
    assert invented < 0.85
    assert len(list(tmp_path.glob("judge-*.state"))) == 1
    # A second judge restores the saved prefix and gives the same verdicts.
    again = LlamaJudge(gen.llama, cache_dir=str(tmp_path))  # type: ignore[attr-defined]
    s2, r2, _ = again.score(
        [
            Claim(passage, "The night ferry will not run in January."),
            Claim(passage, "The night ferry will run in January."),
            Claim(passage, "x"),
        ]
    )
    assert s2 >= 0.85 > r2


@pytest.mark.real
def test_the_packaged_probe_applies_to_the_packaged_model_and_sees_a_swapped_role(
    tmp_path: Path,
) -> None:
    from qa.generator import make_generator
    from qa.judge import LlamaJudge
    from qa.judge_probe import packaged

    settings = load_settings(llm__mode="local", llm__threads=2)
    gen = make_generator(settings)
    judge = LlamaJudge(gen.llama, cache_dir=str(tmp_path), probe=packaged())  # type: ignore[attr-defined]
    plain = LlamaJudge(gen.llama, cache_dir=str(tmp_path))  # type: ignore[attr-defined]
    passage = (
        "At the meeting on Monday, the treasurer Anna Berg said that the chairman Tom Lind had "
        "approved the new budget of 40,000 euros."
    )
    claims = [
        Claim(passage, "Anna Berg said the chairman had approved a budget of 40,000 euros."),
        Claim(passage, "Tom Lind said the treasurer had approved the new budget."),
        Claim(passage, "The chairman rejected the new budget."),
    ]
    stated, swapped, reversed_ = judge.score(claims)
    assert judge.probe is not None  # trained for this model and these prompt files
    assert plain.probe is None
    assert stated >= 0.6 > max(swapped, reversed_)
    print("probe", stated, swapped, reversed_, "plain", plain.score(claims))
