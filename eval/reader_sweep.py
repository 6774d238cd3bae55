"""How often is the reader's *decisive* sentence right, on every set of the development suite?

The reader (:mod:`qa.reader`) calls its best sentence decisive when it holds the kind of thing
the question asks for, covers enough of the question, is close enough to it and beats the
runner-up by a margin. A decisive sentence outranks the model: an answer that contradicts it
is refused, and it is quoted when the model's answer fails. So a wrong decisive sentence costs
a right answer, and one on an unanswerable question can put forward an answer to it (the
judge has the last word on that). This script measures it without the model: retrieval and the
reader only, a few minutes on two cores.

For each question of the suite's record sets (follow-ups with history are left out: their
retrieval query is rewritten by the model) it retrieves the passages, reads them, and counts
for each (margin, coverage, similarity) of a grid how many decisive sentences hold a key fact
(*right*), how many do not (*wrong*), and how many answer an unanswerable question
(*unanswerable*). The reader's thresholds are chosen from this table on the whole suite::

    python -m eval.reader_sweep                       # the suite's record sets
    python -m eval.reader_sweep --set F.jsonl --docs DIR --name mine   # one of yours
    python -m eval.reader_sweep --only seeds --set F.jsonl --docs DIR  # both
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click

from eval.dataset import DatasetError, EvalRecord, load_records
from eval.metrics import key_facts_ok
from eval.workspace import Workspaces
from qa.reader import TUNING, ReaderTuning, Reading

MARGINS = (0.15, 0.2, 0.25, 0.3, 0.35)
COVERAGES = (0.3, 0.4, 0.5)
SIMILARITIES = (0.35, 0.45, 0.55)
OUTCOMES = ("right", "wrong", "unanswerable")


@dataclass(frozen=True)
class Read:
    """One question of a set and the reader's reading of its retrieved passages."""

    set_name: str
    record: EvalRecord
    reading: Reading


def outcome(read: Read, tuning: ReaderTuning) -> str | None:
    """What the decisive sentence under ``tuning`` is for this question: None when there is
    none, else right / wrong / unanswerable."""
    span = replace(read.reading, tuning=tuning).decisive
    if span is None:
        return None
    if not read.record.answerable:
        return "unanswerable"
    return "right" if key_facts_ok(span.text, read.record.key_facts) else "wrong"


def tally(reads: Iterable[Read], tuning: ReaderTuning) -> dict[str, dict[str, int]]:
    """Per set (and "all"): questions, questions asking for a kind of thing, and the count of
    each outcome."""
    out: dict[str, dict[str, int]] = {}
    for read in reads:
        found = outcome(read, tuning)
        for name in (read.set_name, "all"):
            row = out.setdefault(name, _empty_row())
            row["questions"] += 1
            row["typed"] += read.reading.kind is not None
            if found is not None:
                row[found] += 1
    return out


def _empty_row() -> dict[str, int]:
    return {"questions": 0, "typed": 0, **dict.fromkeys(OUTCOMES, 0)}


def grid(
    base: ReaderTuning = TUNING,
    margins: Sequence[float] = MARGINS,
    coverages: Sequence[float] = COVERAGES,
    similarities: Sequence[float] = SIMILARITIES,
) -> list[ReaderTuning]:
    return [
        replace(base, decisive_margin=m, decisive_coverage=c, decisive_similarity=s)
        for m, c, s in itertools.product(margins, coverages, similarities)
    ]


def read_set(
    name: str, records: Sequence[EvalRecord], docs: Path, workspaces: Workspaces
) -> list[Read]:
    """Retrieve and read every question of ``records`` (not the follow-ups) over ``docs``."""
    from qa.answerer import Answerer
    from qa.reader import SentenceReader

    workspace = workspaces.open(docs)
    try:
        answerer = workspace.answerer
        assert isinstance(answerer, Answerer)  # the product's, built by the workspace
        retriever = answerer.retriever
        reader = SentenceReader(retriever.embedder)
        return [
            Read(name, r, reader.read(r.question, retriever.passages(r.question)))
            for r in records
            if not r.history
        ]
    finally:
        workspace.close()


def _fmt(tuning: ReaderTuning) -> str:
    return (
        f"margin {tuning.decisive_margin:.2f} coverage {tuning.decisive_coverage:.2f} "
        f"similarity {tuning.decisive_similarity:.2f}"
    )


def render(reads: Sequence[Read], tunings: Sequence[ReaderTuning]) -> tuple[str, list[Any]]:
    """The table at the reader's tuning per set, then the grid over all sets."""
    lines = [f"Reader's tuning: {_fmt(TUNING)}", ""]
    lines.append("| set | questions | asking a kind | right | wrong | unanswerable |")
    lines.append("|---|---|---|---|---|---|")
    rows = tally(reads, TUNING)
    for name in [*(n for n in rows if n != "all"), "all"]:
        row = rows.get(name) or _empty_row()
        lines.append(
            f"| {name} | {row['questions']} | {row['typed']} | {row['right']} | "
            f"{row['wrong']} | {row['unanswerable']} |"
        )
    lines += ["", "Grid, all sets: right / wrong / unanswerable (share right)"]
    table = []
    for tuning in tunings:
        row = tally(reads, tuning).get("all") or _empty_row()
        fired = sum(row[o] for o in OUTCOMES)
        share = row["right"] / fired if fired else 0.0
        mark = "  <- the reader's" if tuning == TUNING else ""
        lines.append(
            f"  {_fmt(tuning)}: {row['right']} / {row['wrong']} / {row['unanswerable']} "
            f"({share:.3f}){mark}"
        )
        table.append({"tuning": _fmt(tuning), **{o: row[o] for o in OUTCOMES}})
    return "\n".join(lines), table


@click.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path(".qa"),
              show_default=True, help="Where the evaluation indexes are (built if missing).")  # fmt: skip
@click.option("--only", multiple=True,
              help="Only this suite set (repeatable); with --set, none unless named.")  # fmt: skip
@click.option("--set", "set_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Also this set of records ...")  # fmt: skip
@click.option("--docs", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="... over this folder.")  # fmt: skip
@click.option("--name", default="extra", show_default=True, help="That set's row name.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the grid as JSON to this file.")  # fmt: skip
def main(
    data_dir: Path,
    only: tuple[str, ...],
    set_path: Path | None,
    docs: Path | None,
    name: str,
    json_out: Path | None,
) -> None:
    """How often the reader's decisive sentence is right, per set, over a grid of its
    thresholds (retrieval and the reader only; no language model)."""
    from eval.suite import default_suite, select

    if (set_path is None) != (docs is None):
        raise click.UsageError("--set and --docs go together.")
    sets = []
    if only or set_path is None:  # with --set, the suite's sets only when --only names them
        suite = select(default_suite(), only)
        # the labelled PDF set has reference answers, not key facts
        sets = [(s.name, s.set_path, s.docs) for s in suite if s.kind == "records"]
    if set_path is not None and docs is not None:
        sets.append((name, set_path, docs))
    started = time.perf_counter()
    workspaces = Workspaces({"data_dir": data_dir})  # one embedder for every set
    reads: list[Read] = []
    for set_name, path, folder in sets:
        if not (path.is_file() and folder.is_dir()):
            click.echo(f"skipped {set_name}: {path} or {folder} is missing", err=True)
            continue
        try:
            records = load_records(path)
        except DatasetError as exc:
            raise click.ClickException(str(exc)) from exc
        reads += read_set(set_name, records, folder, workspaces)
    text, table = render(reads, grid())
    click.echo(text)
    click.echo(f"\n{len(reads)} questions in {time.perf_counter() - started:.0f} s")
    if json_out is not None:
        json_out.write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":
    main()
