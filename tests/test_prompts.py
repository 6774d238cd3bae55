"""Prompts as package files: the packaged texts give today's prefix byte for byte, and a
QA_PROMPTS_DIR folder replaces the files it holds (or fails, naming the file)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from qa import prompts
from qa.prompts import PromptError

# sha256 of the prefix texts as they were when they were Python constants (before the move to
# qa/prompt_files/). The llama.cpp prefix state on disk and every eval result depend on them:
# change them only on purpose, and then run `qa eval --compare`.
PREFIX_SHA256 = "12e8412316246e721d6e51e66e553db8e8716c4befa2bfa10df9dfbb4d586b35"
MESSAGES_SHA256 = "6206d2edf9e45a2472ff3381c4f385d11edb1c1e23bcc07d2aa2c4fbe450073f"


def _sha(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


@pytest.fixture(autouse=True)
def packaged():
    yield
    prompts.use(None)  # one test's folder never leaks into the next


def test_packaged_prompts_are_todays_prefix_byte_for_byte() -> None:
    texts = {"example": prompts.EXAMPLE, "rewrite": prompts.REWRITE, "system": prompts.SYSTEM}
    assert _sha(texts) == PREFIX_SHA256
    messages = [
        prompts.answer_messages("Q?", []),
        prompts.rewrite_messages("And it?", [("Who?", "Bob [1].")]),
    ]
    assert hashlib.sha256(json.dumps(messages, ensure_ascii=False).encode()).hexdigest() == (
        MESSAGES_SHA256
    )
    assert prompts.EXAMPLE[-1] == {"role": "assistant", "content": prompts.REFUSAL}
    assert prompts.prefix() == prompts.EXAMPLE
    assert {"answer_example.txt", "answer_system.txt", "rewrite.txt"} <= set(
        prompts.packaged_names()
    )


def test_the_rewrite_prompt_shows_a_worked_rewrite_first() -> None:
    """The packaged worked rewrite (rewrite_example.txt) comes as its own turns, put through
    the same template as the real follow-up, between the fixed prefix and the real one."""
    messages = prompts.rewrite_messages("And it?", [("Who?", "Bob [1].")])
    assert messages[: len(prompts.EXAMPLE)] == prompts.EXAMPLE
    user, assistant, real = messages[len(prompts.EXAMPLE) :]
    assert (user["role"], assistant["role"], real["role"]) == ("user", "assistant", "user")
    assert user["content"] == prompts.REWRITE.format(
        history="Q: Which company built the ferry that serves Tarn?\n"
        "A: The ferry was built by Ellis Yards in 1998.",
        question="When did they deliver it?",
    )
    assert assistant["content"] == "When did Ellis Yards deliver the ferry that serves Tarn?"
    assert real["content"] == prompts.REWRITE.format(history="Q: Who?\nA: Bob.", question="And it?")


def test_a_rewrite_template_of_ones_own_renders_the_worked_rewrite_too(tmp_path: Path) -> None:
    (tmp_path / "rewrite.txt").write_text("Make it standalone.\n{history}\nQ: {question}\n")
    (tmp_path / "rewrite_example.txt").write_text(
        "=== user ===\nQ: Who won?\nA: Ana.\nWhen did she win?\n"
        "=== assistant ===\nWhen did Ana win?\n"
    )
    prompts.use(tmp_path)
    messages = prompts.rewrite_messages("Why?", [("Who lost?", "Ben.")])
    assert [m["content"] for m in messages[-3:]] == [
        "Make it standalone.\nQ: Who won?\nA: Ana.\nQ: When did she win?",
        "When did Ana win?",
        "Make it standalone.\nQ: Who lost?\nA: Ben.\nQ: Why?",
    ]


def test_a_prompts_folder_replaces_the_files_it_holds(tmp_path: Path) -> None:
    (tmp_path / "answer_system.txt").write_text("Answer in French. Else say: {refusal}\n")
    prompts.use(tmp_path)
    messages = prompts.answer_messages("Q?", [])
    assert messages[0]["content"] == f"Answer in French. Else say: {prompts.REFUSAL}"
    assert messages[1:-1] == prompts.EXAMPLE[1:]  # the example it lacks stays packaged
    assert prompts.load("rewrite.txt") == prompts.REWRITE
    prompts.use(None)
    assert prompts.answer_messages("Q?", [])[:-1] == prompts.EXAMPLE


def test_an_example_file_of_other_turns(tmp_path: Path) -> None:
    (tmp_path / "answer_example.txt").write_text(
        "=== user ===\nSources:\n[1] (A) Water boils at 100 C.\n\nQuestion: When?\n"
        "=== assistant ===\nAt 100 C [1].\n"
    )
    assert prompts.use(tmp_path).prefix()[1:] == [
        {"role": "user", "content": "Sources:\n[1] (A) Water boils at 100 C.\n\nQuestion: When?"},
        {"role": "assistant", "content": "At 100 C [1]."},
    ]


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("answer_example.txt", "Sources: [1] ...\n", "must start with a '=== user ===' line"),
        ("answer_example.txt", "=== user ===\nQ?\n", "alternate user, assistant"),
        ("answer_example.txt", "=== user ===\n\n=== assistant ===\nA\n", "user turn on line 1"),
        ("rewrite.txt", "Rewrite {question} given {turns}\n", "only {history} and {question}"),
        (
            "rewrite_example.txt",
            "=== user ===\nWhen did she win?\n=== assistant ===\nWhen did Ana win?\n",
            "the conversation's lines, then the follow-up",
        ),
        ("answer-system.txt", "typo\n", "is not a prompt file"),
    ],
)
def test_a_bad_prompts_folder_names_the_file_and_changes_nothing(
    tmp_path: Path, name: str, text: str, says: str
) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(PromptError, match=r"(?s)" + name.replace(".", r"\.") + ".*") as err:
        prompts.use(tmp_path)
    assert says in str(err.value)
    assert prompts.prefix() == prompts.EXAMPLE  # the packaged prompts are still in use


def test_a_missing_or_unreadable_override_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="not a folder"):
        prompts.use(tmp_path / "nowhere")
    (tmp_path / "answer_system.txt").write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(PromptError, match=r"Cannot read the prompt file .*answer_system\.txt"):
        prompts.use(tmp_path)
    with pytest.raises(PromptError, match="No prompt file 'judge.txt'"):
        prompts.load("judge.txt")


def test_qa_prompts_dir_reaches_the_answerer(tmp_path: Path, monkeypatch) -> None:
    from qa.service import build_answerer
    from qa.settings import load_settings

    monkeypatch.setenv("QA_PROMPTS_DIR", str(tmp_path / "missing"))
    settings = load_settings(data_dir=tmp_path / "data", embed__mode="fake", llm__mode="fake")
    assert settings.prompts_dir == tmp_path / "missing"
    with pytest.raises(PromptError, match="QA_PROMPTS_DIR .*missing is not a folder"):
        build_answerer(settings)  # said before the index is even looked for
