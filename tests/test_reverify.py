"""eval.reverify: the stored drafts of a suite run verified again with and without a change
to the citation check (fake embedder and judges; the real run is ``python -m eval.reverify``)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from eval.reverify import main, outcome, render, reverify, stored_answers, tuned
from qa.citations import TUNING, CitationChecker
from qa.schema import Passage
from qa.testing import HashEmbedder

TEXT = "The council approved the new harbour budget of 4 million euros on Monday."


def passage(text: str = TEXT) -> Passage:
    return Passage(1, "a.txt", "A", text, 0, len(text), 1, None, 1.0, 0.8, path="/docs/a.txt")


def row(qid: str, draft: str | None, scores: dict, question: str = "What did the council do?"):
    answer = {"question": question, "answer": draft or "", "raw_answer": draft,
              "passages": [asdict(passage())] if draft else []}  # fmt: skip
    return {"id": qid, "type": "fact", "question": question, "answer": answer, "scores": scores}


def write_run(tmp_path: Path) -> Path:
    right = {"answerable": True, "refused": False, "key_facts_ok": True}
    wrong = {"answerable": True, "refused": False, "key_facts_ok": False}
    none = {"answerable": False, "refused": True}
    rows = [
        row("q1", "The council approved a harbour budget of 4 million euros [1].", right),
        row("q2", "The council rejected the harbour budget [1].", wrong),
        row("q3", None, none),  # refused before the model wrote: nothing to re-verify
    ]
    (tmp_path / "news").mkdir()
    (tmp_path / "news" / "results.json").write_text(json.dumps({"questions": rows}))
    (tmp_path / "pdf").mkdir()  # a labelled set's results: no per-question answers
    (tmp_path / "pdf" / "results.json").write_text(json.dumps({"aggregates": {}}))
    return tmp_path


class Judge:
    """Yes to every claim, or no to claims that hold ``word``."""

    name = "fake"

    def __init__(self, word: str | None = None) -> None:
        self.word = word

    def score(self, items):
        return [0.0 if self.word and self.word in i.claim else 0.95 for i in items]


def test_outcome_names_what_an_answer_was():
    assert outcome({"answerable": True, "refused": False, "key_facts_ok": True}) == "right"
    assert outcome({"answerable": True, "refused": False, "key_facts_ok": False}) == "wrong"
    assert outcome({"answerable": True, "refused": True}) == "refused"
    assert outcome({"answerable": False, "refused": False}) == "unanswerable answered"
    assert outcome({"answerable": False, "refused": True}) == "unanswerable refused"


def test_stored_answers_are_the_drafts_with_their_passages(tmp_path):
    answers, skipped = stored_answers(write_run(tmp_path))
    assert [(a.set_name, a.id, a.outcome) for a in answers] == [
        ("news", "q1", "right"),
        ("news", "q2", "wrong"),
    ]
    assert answers[0].passages == (passage(),)
    assert skipped == [tmp_path / "pdf" / "results.json"]
    # one set's folder works too
    assert len(stored_answers(tmp_path / "news")[0]) == 2


def test_only_the_answers_whose_verification_changes_are_moved(tmp_path):
    answers, _ = stored_answers(write_run(tmp_path))
    same = reverify(answers, CitationChecker(HashEmbedder(), Judge()),
                    CitationChecker(HashEmbedder(), Judge()))  # fmt: skip
    assert same == []
    # a stricter judge turns down the right answer's claim ("approved")
    moved = reverify(answers, CitationChecker(HashEmbedder(), Judge()),
                     CitationChecker(HashEmbedder(), Judge("approved")))  # fmt: skip
    assert [m.answer.id for m in moved] == ["q1"]
    assert "4 million euros" in moved[0].before and "4 million" not in moved[0].after
    table = render(answers, moved)
    assert "| news | 2 | 1 | 1 | 0 | 0 | 0 | 0 |" in table
    assert "| all | 2 | 1 | 1 | 0 | 0 | 0 | 0 |" in table
    assert "news q1 (right): What did the council do?" in table


def test_a_tuning_change_is_a_number_of_check_tuning():
    assert tuned(TUNING, {"names_min": "0.75", "rivals_max": "2"}).names_min == 0.75
    assert tuned(TUNING, {"rivals_max": "2"}).rivals_max == 2
    with pytest.raises(click.BadParameter, match="not a number of CheckTuning"):
        tuned(TUNING, {"sentences": "x"})
    with pytest.raises(click.BadParameter, match="names_min=high"):
        tuned(TUNING, {"names_min": "high"})


def test_the_command_wants_a_change_and_stored_drafts(tmp_path):
    run = write_run(tmp_path)
    result = CliRunner().invoke(main, [str(run)])
    assert result.exit_code == 2 and "Name a change" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, [str(empty), "--tuning", "names_min=1"])
    assert result.exit_code == 1 and "No stored drafts" in result.output
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "results.json").write_text('{"questions": [')
    result = CliRunner().invoke(main, [str(broken), "--tuning", "names_min=1"])
    assert result.exit_code == 1 and "cannot be read as a results file" in result.output
    result = CliRunner().invoke(main, [str(run), "--tuning", "names_min"])
    assert result.exit_code == 2 and "NAME=VALUE" in result.output
    result = CliRunner().invoke(main, [str(run), "--check", "strict=yes"])
    assert result.exit_code == 2 and "strict: not a QA_CHECK_* setting" in result.output
    result = CliRunner().invoke(main, [str(run), "--check", "probe=maybe"])
    assert result.exit_code == 1 and "QA_CHECK_PROBE" in result.output
