"""The fixed prompt prefix's llama.cpp state on disk: restored in a new model, same answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.generator import make_generator
from qa.prompts import EXAMPLE, answer_messages, rewrite_messages
from qa.schema import Passage
from qa.settings import load_settings

pytestmark = pytest.mark.real

PASSAGES = [
    Passage(
        n=1,
        doc_id="notes/ferry.txt",
        title="Harbour notes",
        text="The new ferry Kestrel carries 240 passengers and entered service on 12 June.",
        start=0,
        end=76,
        line=1,
        page=None,
        score=1.0,
        similarity=0.9,
    )
]


def _answer(gen) -> str:
    return "".join(gen.stream(answer_messages("How many passengers does Kestrel carry?", PASSAGES)))


def _generator():
    return make_generator(load_settings(llm__mode="local", llm__threads=2))


def test_prefix_state_is_saved_once_and_restored_with_identical_answers(tmp_path: Path) -> None:
    first = _generator()
    assert first.warm(EXAMPLE, tmp_path) == "computed"  # type: ignore[attr-defined]
    files = list(tmp_path.glob("prefix-*.state"))
    assert len(files) == 1 and files[0].stat().st_size > 100_000
    assert not list(tmp_path.glob(".*tmp"))  # written under a temporary name, then renamed
    expected = _answer(first)
    assert "240" in expected

    second = _generator()
    assert second.warm(EXAMPLE, tmp_path) == "restored"  # type: ignore[attr-defined]
    assert second._llm.n_tokens > 200  # type: ignore[attr-defined]  # the prefix is held
    assert _answer(second) == expected  # greedy decoding: the restore changes nothing

    # A damaged file is rebuilt, not trusted; a changed prompt writes a new file for it.
    files[0].write_bytes(files[0].read_bytes()[:5000])
    assert second.warm(EXAMPLE, tmp_path) == "computed"  # type: ignore[attr-defined]
    assert _answer(second) == expected
    other = [{**EXAMPLE[0], "content": EXAMPLE[0]["content"] + " Be brief."}, *EXAMPLE[1:]]
    assert second.warm(other, tmp_path) == "computed"  # type: ignore[attr-defined]
    assert len(list(tmp_path.glob("prefix-*.state"))) == 1  # the old prompt's state is removed


def test_a_fixed_start_is_held_in_memory_across_prompts_of_other_starts() -> None:
    """The rewrite prompt (the prefix, a worked rewrite, the conversation) after an answer's
    prompt (the prefix, the sources): its fixed start is restored from memory, not processed
    again, and the rewrite is the same as a fresh model's."""
    history = [("Which ferry carries 240 passengers?", "The Kestrel carries 240 passengers [1].")]
    rewrite = rewrite_messages("When did it enter service?", history)
    gen = _generator()
    first = "".join(gen.stream(rewrite))
    assert gen.fixed_state == "skipped"  # type: ignore[attr-defined]  # a first prompt: whole
    assert "240" in _answer(gen)
    assert gen.fixed_state == "held"  # type: ignore[attr-defined]  # the prefix was still there
    second = "".join(gen.stream(rewrite))
    assert gen.fixed_state == "computed"  # type: ignore[attr-defined]  # from the prefix on
    assert "240" in _answer(gen)
    assert "".join(gen.stream(rewrite)) == second
    assert gen.fixed_state == "restored"  # type: ignore[attr-defined]
    assert first == second  # greedy: as a fresh model writes it
    assert "Kestrel" in first
