"""The answerer end to end with a fake generator and the hashed fake embedder over seeds/."""

from __future__ import annotations

import pytest

from qa.errors import IndexMissingError, InputError
from qa.prompts import SYSTEM
from qa.reader import Reading
from qa.schema import Delta, Done
from qa.service import build_answerer, run_index
from qa.settings import load_settings

SEEDS_004 = "seeds/004_2498656e7b287085.txt"


def test_answer_streams_then_verifies(answerer, gen, indexed):
    gen.enqueue("Seven checkpoints were established in western Aleppo [1].")
    events = list(answerer.stream("How many checkpoints were established in western Aleppo?"))
    assert isinstance(events[-1], Done)
    deltas = "".join(e.text for e in events if isinstance(e, Delta))
    assert deltas == "Seven checkpoints were established in western Aleppo [1]."
    answer = events[-1].answer
    assert not answer.refused
    cited = answer.citations[0]
    assert cited.source == SEEDS_004
    original = (indexed / "004_2498656e7b287085.txt").read_text()
    assert original[cited.start : cited.end] == cited.quote
    assert cited.line == original.count("\n", 0, cited.start) + 1
    assert {"retrieve_ms", "first_token_ms", "total_ms"} <= set(answer.timings)


def test_prompt_numbers_passages_and_keeps_a_fixed_prefix(answerer, gen):
    answerer.ask("How many checkpoints were established in western Aleppo?")
    asked = len(gen.history)
    answerer.ask("How many militants who are local residents were pardoned?")
    first, second = gen.history[0], gen.history[asked]
    assert first[0] == {"role": "system", "content": SYSTEM}
    assert first[:-1] == second[:-1]  # only the last message changes: llama.cpp reuses the rest
    assert (
        "[1] (" in first[-1]["content"] and "Question: How many checkpoints" in first[-1]["content"]
    )


# No kind of answer to look for, so no source sentence can stand in for the model.
OPEN_QUESTION = "Why were checkpoints established in western Aleppo?"


def test_model_refusal_becomes_a_refused_answer(answerer, gen):
    gen.enqueue("The sources do not contain the answer.")
    answer = answerer.ask(OPEN_QUESTION)
    assert answer.refused and answer.citations == []
    assert "do not contain" in answer.text
    assert answer.stats["refused_model"] == 1 and answer.stats["retried"] == 1


def test_irrelevant_question_is_refused_without_the_model(answerer, gen):
    # words of no document: the hashed fake's cosine (0.13) is its bucket collisions alone
    answer = answerer.ask("xyzzy plugh frotz")
    assert answer.refused
    assert gen.history == []  # the model was never asked
    assert answer.timings["first_token_ms"] == answer.timings["total_ms"]


def test_answer_with_no_supported_sentence_is_refused(answerer, gen):
    gen.enqueue("PWNED [1].", "PWNED [2].")
    answer = answerer.ask(OPEN_QUESTION)
    assert answer.refused and "PWNED" not in answer.text
    assert answer.stats["refused_unsupported"] == 1


def test_follow_up_is_rewritten_before_retrieval(answerer, gen):
    gen.enqueue(
        "How many militants who are local residents were pardoned in Aleppo?",
        "484 militants who are local residents were pardoned [1].",
    )
    history = [("What happened to the militants in Aleppo?", "Many left the city [1].")]
    answer = answerer.ask("And how many of them were pardoned?", history)
    rewrite_prompt = gen.history[0][-1]["content"]
    assert "What happened to the militants in Aleppo?" in rewrite_prompt
    assert "[1]" not in rewrite_prompt  # markers are stripped from the history
    assert (
        answer.standalone_question
        == "How many militants who are local residents were pardoned in Aleppo?"
    )
    assert "Question: How many militants who are local residents" in gen.history[1][-1]["content"]
    assert "484" in answer.text and answer.citations[0].source == "seeds/002_e50b3248676841e1.txt"
    assert "rewrite_ms" in answer.timings


@pytest.mark.parametrize("question", ["", "   \n\t "])
def test_empty_question_is_a_clear_error(answerer, question):
    with pytest.raises(InputError, match="empty"):
        answerer.ask(question)


def test_huge_question_is_refused_with_the_limit(answerer):
    with pytest.raises(InputError, match="2,000"):
        answerer.ask("why " * 600)


def test_missing_index_says_how_to_build_one(tmp_path):
    settings = load_settings(data_dir=tmp_path / "nothing", embed__mode="fake", llm__mode="fake")
    with pytest.raises(IndexMissingError, match="qa index"):
        build_answerer(settings)


def test_answerer_sees_a_reindex_by_another_writer(answerer, gen, settings, indexed, fake_embedder):
    (indexed / "new.txt").write_text(
        "The zebra festival in Quokkaville drew 12,345 visitors on Sunday.\n"
    )
    run_index(settings, [indexed], fake_embedder)  # a second Store, as another process would use
    gen.enqueue("The zebra festival in Quokkaville drew 12,345 visitors [1].")
    answer = answerer.ask("How many visitors did the zebra festival in Quokkaville draw?")
    assert answer.citations and answer.citations[0].source == "seeds/new.txt"


def test_self_contained_question_skips_the_rewrite(answerer, gen):
    gen.enqueue("484 militants who are local residents were pardoned [1].")
    history = [("What happened in Aleppo?", "Many left the city [1].")]
    answer = answerer.ask(
        "How many militants who are local residents were pardoned in Aleppo?", history
    )
    assert len(gen.history) == 1  # one model call: the answer, no rewrite
    assert "rewrite_ms" not in answer.timings
    assert answer.citations


def test_answer_without_the_asked_for_kind_is_refused(answerer, gen):
    gen.enqueue("Checkpoints were established in western Aleppo by the army [1].")
    answerer.retry_sentences = 0
    answerer.reader.read = lambda q, ps: Reading("number", [])  # no sentence to stand in
    answer = answerer.ask("How many checkpoints were established in western Aleppo?")
    assert answer.refused and answer.stats["refused_answer_type"] == 1
