"""Which of the suite's answers would a change to the citation check move?

``eval/verify.jsonl`` measures the check on labelled pairs, but its claims are not the model's
answers: a change that rejects more of its unsupported pairs can also turn down right answers
(the model's own paraphrases, restatements of the question), and only the suite shows that.
Running the suite again takes hours on two cores. This script takes the answers a suite run
already stored (``qa eval --suite --out OUT`` writes each draft as the model wrote it, and the
passages it was given) and verifies every draft again twice: with the check as the settings
give it, and with the change. It lists the answers whose verified sentences or citations
differ, by what the answer was (right, wrong, a false refusal, an unanswerable question
answered or refused), so a change is run on the sets it moves and nowhere else::

    python -m eval.reverify OUT --check probe=on          # a setting of QA_CHECK_*
    python -m eval.reverify OUT1 OUT2 --tuning names_min=0.67   # a field of CheckTuning

A moved answer is not yet a changed answer: the acceptance checks after verification (and a
re-pointed citation) decide that. An answer that did not move keeps its verification, so the
run can be limited to the sets with moved answers. The draft is re-verified under the question
recorded with the answer; a draft of the second look is checked against the first passages.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import click

from eval.runner import RESULTS
from qa.citations import TUNING, CheckTuning, CitationChecker, Verified
from qa.schema import Passage

OUTCOMES = ("right", "wrong", "refused", "unanswerable answered", "unanswerable refused")
Signature = tuple[str, tuple[tuple[str, tuple[int, ...], bool], ...]]


@dataclass(frozen=True)
class Stored:
    """One stored answer of a suite run: what it was, and what its draft was checked against."""

    set_name: str
    id: str
    outcome: str  # one of OUTCOMES
    question: str
    draft: str
    passages: tuple[Passage, ...]


@dataclass(frozen=True)
class Moved:
    answer: Stored
    before: str  # the verified text with the check as it is
    after: str  # ... and with the change


def outcome(scores: dict[str, Any]) -> str:
    """What an answer was, from its scores in ``results.json``."""
    if not scores.get("answerable", True):
        return "unanswerable refused" if scores.get("refused") else "unanswerable answered"
    if scores.get("refused"):
        return "refused"
    return "right" if scores.get("key_facts_ok") else "wrong"


def stored_answers(folder: Path) -> tuple[list[Stored], list[Path]]:
    """The answers of every ``results.json`` in ``folder`` (a suite run's ``--out``, or one
    set's folder) that hold a draft and its passages, and the files that hold none (a
    labelled set's results, which have no per-question answers)."""
    paths = (
        [folder / RESULTS] if (folder / RESULTS).is_file() else sorted(folder.glob(f"*/{RESULTS}"))
    )
    names = {f.name for f in fields(Passage)}
    out: list[Stored] = []
    skipped: list[Path] = []
    for path in paths:
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path} cannot be read as a results file ({exc})") from exc
        rows = data.get("questions") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            skipped.append(path)
            continue
        for row in rows:
            answer = row.get("answer") or {}
            draft, passages = answer.get("raw_answer"), answer.get("passages")
            if not draft or not passages:
                continue  # refused before the model wrote, or an error
            out.append(
                Stored(
                    set_name=path.parent.name,
                    id=str(row.get("id", "")),
                    outcome=outcome(row.get("scores") or {}),
                    question=str(answer.get("question") or row.get("question", "")),
                    draft=str(draft),
                    passages=tuple(
                        Passage(**{k: v for k, v in p.items() if k in names}) for p in passages
                    ),
                )
            )
    return out, skipped


def signature(verified: Verified) -> Signature:
    """What verification decided: the text, and each sentence with its citations."""
    return verified.text, tuple(
        (s.text, tuple(s.citations), s.supported) for s in verified.sentences
    )


def reverify(
    answers: Iterable[Stored],
    before: CitationChecker,
    after: CitationChecker,
    progress: Callable[[int], None] | None = None,
) -> list[Moved]:
    """The answers whose verification differs between the two checkers."""
    moved = []
    for i, a in enumerate(answers, 1):
        old = before.verify(a.draft, a.passages, a.question)
        new = after.verify(a.draft, a.passages, a.question)
        if signature(old) != signature(new):
            moved.append(Moved(a, old.text, new.text))
        if progress:
            progress(i)
    return moved


def render(answers: Sequence[Stored], moved: Sequence[Moved]) -> str:
    """Per set, the answers re-verified and those that moved by outcome; then each moved one."""
    sets = list(dict.fromkeys(a.set_name for a in answers))
    head = "| set | answers | moved | " + " | ".join(OUTCOMES) + " |"
    lines = [head, "|---" * (3 + len(OUTCOMES)) + "|"]
    for name in [*sets, "all"]:
        mine = [m for m in moved if name in ("all", m.answer.set_name)]
        n = sum(name in ("all", a.set_name) for a in answers)
        counts = [sum(m.answer.outcome == o for m in mine) for o in OUTCOMES]
        lines.append(f"| {name} | {n} | {len(mine)} | " + " | ".join(map(str, counts)) + " |")
    for m in moved:
        a = m.answer
        lines += [
            "",
            f"- {a.set_name} {a.id} ({a.outcome}): {a.question}",
            f"  before: {_short(m.before)}",
            f"  after:  {_short(m.after)}",
        ]
    return "\n".join(lines)


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split()) or "(nothing verified)"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pairs(items: Sequence[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r}: write {what} as NAME=VALUE")
        out[key.strip()] = value.strip()
    return out


def tuned(base: CheckTuning, changes: dict[str, str]) -> CheckTuning:
    """``base`` with fields of :class:`CheckTuning` set from text (numbers only)."""
    known = {f.name: f for f in fields(CheckTuning)}
    values: dict[str, Any] = {}
    for key, text in changes.items():
        current = getattr(base, key, None) if key in known else None
        if not isinstance(current, (int, float)) or isinstance(current, bool):
            numeric = sorted(k for k in known if type(getattr(base, k)) in (int, float))
            raise click.BadParameter(f"{key}: not a number of CheckTuning ({', '.join(numeric)})")
        try:
            values[key] = type(current)(text)
        except ValueError as exc:
            raise click.BadParameter(f"{key}={text}: {exc}") from exc
    return replace(base, **values)


@click.command()
@click.argument("runs", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False, path_type=Path))  # fmt: skip
@click.option("--check", "checks", multiple=True, metavar="NAME=VALUE",
              help="A setting of QA_CHECK_* changed (probe=on, entail_min=0.7; repeatable).")  # fmt: skip
@click.option("--tuning", "tunings", multiple=True, metavar="NAME=VALUE",
              help="A number of qa.citations.CheckTuning changed (repeatable).")  # fmt: skip
@click.option("--limit", type=int, default=None, help="Only the first N answers of each run.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the moved answers as JSON to this file.")  # fmt: skip
def main(
    runs: tuple[Path, ...],
    checks: tuple[str, ...],
    tunings: tuple[str, ...],
    limit: int | None,
    json_out: Path | None,
) -> None:
    """Verify the stored drafts of suite runs again, with the check as it is and with a
    change, and list the answers whose verification moves."""
    from qa.errors import QAError
    from qa.service import LazyGenerator, make_checker, open_embedder
    from qa.settings import CheckSettings, load_settings

    if not checks and not tunings:
        raise click.UsageError("Name a change: --check NAME=VALUE or --tuning NAME=VALUE.")
    check_changes = _pairs(checks, "--check")
    unknown = sorted(set(check_changes) - set(CheckSettings.model_fields))
    if unknown:
        known = ", ".join(CheckSettings.model_fields)
        raise click.BadParameter(f"{', '.join(unknown)}: not a QA_CHECK_* setting ({known})")
    tuning_changes = _pairs(tunings, "--tuning")
    tuned(TUNING, tuning_changes)  # a bad name or value is said before anything loads
    try:
        settings = load_settings()
        changed = load_settings(**{f"check__{k}": v for k, v in check_changes.items()})
    except QAError as exc:
        raise click.ClickException(str(exc)) from exc
    answers: list[Stored] = []
    for run in runs:
        try:
            found, skipped = stored_answers(run)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        for path in skipped:
            click.echo(f"skipped {path}: no per-question answers", err=True)
        answers += found[:limit] if limit is not None else found
    if not answers:
        raise click.ClickException(
            "No stored drafts in those runs: run `qa eval --suite --out` first."
        )
    embedder = open_embedder(settings)
    generator = LazyGenerator(settings)  # one model for both judges
    before = make_checker(settings, embedder, generator)
    after = make_checker(changed, embedder, generator)
    after.tuning = tuned(after.tuning, tuning_changes)
    started = time.perf_counter()
    step = max(1, len(answers) // 10)

    def progress(i: int) -> None:
        if i % step == 0 or i == len(answers):
            click.echo(f"reverify: {i}/{len(answers)}", err=True)

    moved = reverify(answers, before, after, progress)
    click.echo(render(answers, moved))
    click.echo(f"\n{len(answers)} answers in {time.perf_counter() - started:.0f} s")
    if json_out is not None:
        rows = [
            {"set": m.answer.set_name, "id": m.answer.id, "outcome": m.answer.outcome,
             "question": m.answer.question, "before": m.before, "after": m.after}
            for m in moved
        ]  # fmt: skip
        json_out.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n", "utf-8")


if __name__ == "__main__":
    main()
