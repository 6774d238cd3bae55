"""The language profile: one frozen object holds the language's words, and the helpers read it."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from index.chunking import split_sentences
from qa import language
from qa.prompts import is_refusal
from qa.text import content_terms, expected_answer_type, numbers, stem

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def toy_language() -> Iterator[language.LanguageProfile]:
    """A made-up profile, to show that every rule reads the active one (not a copy)."""
    toy = dataclasses.replace(
        language.ENGLISH,
        code="xx",
        stopwords=frozenset({"le", "la", "est"}),
        number_words={"sept": "7", "un": "1"},
        answer_types=(("number", r"\bcombien\b"),),
        refusal_phrases=("pas de réponse",),
        abbreviations=frozenset({"mme"}),
        stem_suffixes=("ées",),
    )
    previous = language.set_active(toy)
    try:
        yield toy
    finally:
        language.set_active(previous)


def test_english_is_active_and_frozen() -> None:
    assert language.active() is language.ENGLISH
    assert language.PROFILES["en"] is language.ENGLISH
    with pytest.raises(dataclasses.FrozenInstanceError):
        language.ENGLISH.stopwords = frozenset()  # type: ignore[misc]
    with pytest.raises(TypeError):
        language.ENGLISH.number_words["eleventy"] = "110"  # type: ignore[index]


def test_helpers_follow_the_active_profile(toy_language) -> None:
    assert content_terms("le chat est là") == ["chat", "là"]
    assert numbers("sept chats, un chien") == {"7"}  # the word for 1 is not a number
    assert expected_answer_type("Combien de chats?") == "number"
    assert expected_answer_type("How many cats?") is None
    assert stem("fermées") == "ferm"
    assert is_refusal("Il n'y a pas de réponse.")
    assert not is_refusal("The sources do not contain the answer.")
    assert [s for s in _sentences("Mme. Curie est là. Elle lit.")] == [
        "Mme. Curie est là.",
        "Elle lit.",
    ]


def test_english_refusals_come_from_the_profile() -> None:
    assert "do not contain the answer" in language.ENGLISH.refusal_phrases
    assert is_refusal("The sources do NOT contain the answer.")
    assert not is_refusal("The ferry resumed on 3 May [1].")


def test_no_word_lists_outside_the_profile() -> None:
    """The English words the profile holds are not written out again in qa/ or index/."""
    probes = [
        r"\bthirteen\b",
        r"\bjanuary\W+february\b",
        r"\bmonday\W+tuesday\b",
        r"\bthemselves\W+then\b",
        r"does not contain the answer",
        r"\bMrs\W+Ms\W+Dr\b",
    ]
    allowed = {ROOT / "index" / "language.py"}
    for folder in ("qa", "index"):
        for path in (ROOT / folder).rglob("*.py"):
            if path in allowed:
                continue
            text = path.read_text(encoding="utf-8")
            for probe in probes:
                assert not re.search(probe, text, re.I), f"{path.name} holds {probe}"


def _sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


@pytest.mark.parametrize(
    "question, leans",
    [
        ("And how many of them were pardoned?", True),
        ("What did he tell the BBC?", True),
        ("What about the second one", True),
        ("Why did Putin want to extend the pause?", True),
        ("How many people left Aleppo on Friday?", False),
        ("Which firmware version added Matter support?", False),
    ],
)
def test_follow_up_pattern_finds_questions_that_need_the_conversation(question, leans) -> None:
    pattern = re.compile(language.ENGLISH.follow_up_pattern, re.IGNORECASE)
    assert bool(pattern.search(question)) is leans
