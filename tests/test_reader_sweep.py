"""eval.reader_sweep: how often the reader's decisive sentence is right, per set and over a
grid of thresholds (fake models; the real run is ``python -m eval.reader_sweep``)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from click.testing import CliRunner

from eval.dataset import EvalRecord
from eval.reader_sweep import Read, grid, main, outcome, render, tally
from qa.reader import TUNING, Reading, Span


def span(text: str, score: float, start: int = 0) -> Span:
    return Span(1, "a.txt", start, start + len(text), text, 0.8, 0.9, True, score)


def read(set_name: str, record: EvalRecord, *spans: Span, kind: str | None = "number") -> Read:
    return Read(set_name, record, Reading(kind, list(spans)))


LEFT = EvalRecord("q1", "fact", "How many left?", key_facts=(("3,179",),))
NONE = EvalRecord("q2", "unanswerable", "How many stayed?")
RIGHT = span("3,179 people left eastern Aleppo.", 2.0)
OTHER = span("Seven checkpoints were set up.", 1.0, start=100)
CLOSE = span("Seven checkpoints were set up.", 1.9, start=100)


def test_a_decisive_sentence_is_right_wrong_or_answers_the_unanswerable():
    assert outcome(read("s", LEFT, RIGHT, OTHER), TUNING) == "right"
    assert outcome(read("s", LEFT, OTHER, span("No one did.", 0.1, 200)), TUNING) == "wrong"
    assert outcome(read("s", NONE, RIGHT, OTHER), TUNING) == "unanswerable"
    # a runner-up within the margin, or no kind asked for: no decisive sentence at all
    assert outcome(read("s", LEFT, RIGHT, CLOSE), TUNING) is None
    assert outcome(read("s", LEFT, RIGHT, OTHER, kind=None), TUNING) is None


def test_the_grid_varies_the_three_thresholds_from_the_readers_tuning():
    tunings = grid(margins=(0.1, 0.5), coverages=(0.4,), similarities=(0.45, 0.9))
    assert len(tunings) == 4 and TUNING not in tunings
    assert {t.decisive_margin for t in tunings} == {0.1, 0.5}
    # a stricter similarity than the sentence's 0.8 turns the decisive sentence off
    reads = [read("s", LEFT, RIGHT, OTHER)]
    strict = replace(TUNING, decisive_similarity=0.9)
    assert tally(reads, TUNING)["s"]["right"] == 1 and tally(reads, strict)["s"]["right"] == 0


def test_the_table_has_a_row_per_set_then_all():
    reads = [read("a", LEFT, RIGHT, OTHER), read("b", NONE, RIGHT, OTHER), read("b", LEFT)]
    rows = tally(reads, TUNING)
    assert rows["a"] == {"questions": 1, "typed": 1, "right": 1, "wrong": 0, "unanswerable": 0}
    assert rows["b"]["questions"] == 2 and rows["b"]["unanswerable"] == 1
    assert rows["all"]["right"] == 1 and rows["all"]["unanswerable"] == 1
    text, table = render(reads, [TUNING])
    lines = text.splitlines()
    assert [ln.split(" | ")[0] for ln in lines if ln.startswith("| ") and "---" not in ln] == [
        "| set", "| a", "| b", "| all"
    ]  # fmt: skip
    assert "<- the reader's" in text and table[0]["right"] == 1


def test_command_reads_a_set_of_yours(tmp_path: Path, seeds_dir: Path, fake_models) -> None:
    records = tmp_path / "mine.jsonl"
    rows = [
        {"id": "m1", "type": "fact", "question": "How many people left eastern Aleppo?",
         "key_facts": [["3,179"]], "gold": ["seeds/002_e50b3248676841e1.txt"]},
        {"id": "m2", "type": "followup", "question": "And children?", "key_facts": [["1,519"]],
         "gold": ["seeds/002_e50b3248676841e1.txt"], "history": [["How many left?", "3,179 [1]."]]},
    ]  # fmt: skip
    records.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "grid.json"
    args = ["--data-dir", str(tmp_path / "data"), "--set", str(records)]
    args += ["--docs", str(seeds_dir), "--name", "mine", "--json", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    # only the set given (no suite set), and its follow-up is left out
    assert "| mine | 1 | 1 |" in result.output and "| seeds |" not in result.output
    assert "| all | 1 | 1 |" in result.output
    assert len(json.loads(out.read_text())) == len(grid())


def test_command_says_what_is_wrong_with_a_set(tmp_path: Path, seeds_dir: Path) -> None:
    records = tmp_path / "bad.jsonl"
    records.write_text('{"id": "b1", "type": "fact"}\n')
    args = ["--set", str(records), "--docs", str(seeds_dir), "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "bad.jsonl line 1" in result.output


def test_command_needs_set_and_docs_together(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--set", __file__])
    assert result.exit_code != 0 and "--set and --docs go together" in result.output
