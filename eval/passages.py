"""Screen a retrieval change on the whole suite in about a minute, without the model.

A change to retrieval or chunking moves the passages of some questions and leaves the rest
alone; only the moved ones can change their answers. This script asks every question of the
suite's sets for its passages (no model) and prints, per set, how many standalone answerable
questions get every key fact among their passages (the labelled set: a reference context),
and the passage tokens per question::

    python -m eval.passages --out before.json              # on the code before the change
    python -m eval.passages --against before.json --changed-dir moved/   # after it

``--against`` lists, per set, the questions whose passages differ from the saved run, and
``--changed-dir`` writes them as sets of their own (``moved/<set>.jsonl``, or
``moved/<set>.json`` for a LabelledRagDataset), to be run with ``qa eval --set ... --docs ...``
(``--labelled ... --sources ...``) on the code before and after the change. The questions
that did not move keep their answers (decoding is greedy).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from eval.dataset import load_records
from eval.labelled import is_hit, load_labelled
from eval.metrics import key_fact_hits
from eval.suite import SuiteSet, default_suite, select
from qa.errors import QAError
from qa.schema import Passage

Span = tuple[str, int, int]


@dataclass
class SetScreen:
    """One set's passages: the spans each question got, and the figures."""

    name: str
    spans: dict[str, list[Span]] = field(default_factory=dict)
    covered: int = 0  # standalone answerable questions with every key fact in their passages
    scored: int = 0  # standalone answerable questions (labelled: every question)
    tokens: int = 0  # passage tokens over all questions
    seconds: float = 0.0
    missed: list[str] = field(default_factory=list)

    def row(self) -> str:
        n = max(1, len(self.spans))
        share = f"{self.covered}/{self.scored}" if self.scored else "-"
        return (
            f"| {self.name} | {len(self.spans)} | {share} | {self.tokens / n:.0f} | "
            f"{self.seconds:.1f} s |"
        )


Passages = Callable[[str], Sequence[Passage]]
Opener = Callable[[SuiteSet], tuple[Passages, Callable[[str], int], Callable[[], None]]]


def questions(s: SuiteSet) -> list[dict[str, Any]]:
    """The set's questions as records: id, question, and key facts or reference contexts."""
    if s.kind == "labelled":
        return [
            {"id": str(i), "question": ex.query, "contexts": list(ex.reference_contexts)}
            for i, ex in enumerate(load_labelled(s.set_path))
        ]
    return [
        {
            "id": r.id,
            "question": r.question,
            # scored: standalone answerable questions (a follow-up's passages come from its
            # rewrite)
            "key_facts": r.key_facts if r.answerable and not r.history else (),
        }
        for r in load_records(s.set_path)
    ]


def screen_set(s: SuiteSet, passages: Passages, count_tokens: Callable[[str], int]) -> SetScreen:
    out = SetScreen(s.name)
    t0 = time.perf_counter()
    for row in questions(s):
        got = passages(row["question"])
        out.spans[row["id"]] = [(p.doc_id, p.start, p.end) for p in got]
        out.tokens += sum(count_tokens(p.text) for p in got)
        if "contexts" in row:
            out.scored += 1
            ok = any(is_hit(p.text, c) for p in got for c in row["contexts"])
        elif row["key_facts"]:
            out.scored += 1
            ok = all(key_fact_hits("\n".join(p.text for p in got), row["key_facts"]))
        else:
            continue
        out.covered += ok
        if not ok:
            out.missed.append(row["id"])
    out.seconds = time.perf_counter() - t0
    return out


def screen(sets: Sequence[SuiteSet], opener: Opener) -> list[SetScreen]:
    out = []
    for s in sets:
        passages, count_tokens, close = opener(s)
        try:
            out.append(screen_set(s, passages, count_tokens))
        finally:
            close()
    return out


def moved(before: dict[str, Any], now: Sequence[SetScreen]) -> dict[str, list[str]]:
    """Per set of ``now`` that ``before`` (a saved ``--out`` file) also has, the ids of the
    questions whose passages differ."""
    out = {}
    for s in now:
        old = before.get("sets", {}).get(s.name, {}).get("spans")
        if old is None:
            continue
        out[s.name] = [
            qid
            for qid, spans in s.spans.items()
            if [tuple(x) for x in old.get(qid, [])] != [tuple(x) for x in spans]
        ]
    return out


def write_moved(sets: Sequence[SuiteSet], ids: dict[str, list[str]], out_dir: Path) -> list[Path]:
    """The moved questions of each set as a set file of its own; the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for s in sets:
        keep = set(ids.get(s.name, []))
        if not keep:
            continue
        if s.kind == "labelled":
            data = json.loads(s.set_path.read_text("utf-8"))
            data["examples"] = [e for i, e in enumerate(data["examples"]) if str(i) in keep]
            path = out_dir / f"{s.name}.json"
            path.write_text(json.dumps(data), "utf-8")
        else:
            lines = s.set_path.read_text("utf-8").splitlines()
            chosen = [line for line in lines if line.strip() and json.loads(line)["id"] in keep]
            path = out_dir / f"{s.name}.jsonl"
            path.write_text("".join(line + "\n" for line in chosen), "utf-8")
        written.append(path)
    return written


def report(screens: Sequence[SetScreen], moves: dict[str, list[str]] | None = None) -> str:
    lines = [
        "| set | questions | key facts in passages (labelled: a reference context) | tokens / question | time |",
        "|---|---|---|---|---|",
        *(s.row() for s in screens),
    ]
    for s in screens:
        if s.missed:
            lines.append(f"{s.name}: missed {', '.join(s.missed)}")
    if moves is not None:
        for name, ids in moves.items():
            total = next(len(s.spans) for s in screens if s.name == name)
            shown = ", ".join(ids[:20]) + (" ..." if len(ids) > 20 else "")
            lines.append(
                f"{name}: passages moved for {len(ids)}/{total}" + (f": {shown}" if ids else "")
            )
    return "\n".join(lines)


def _workspace_opener(data_dir: Path | None) -> Opener:
    from eval.workspace import Workspaces

    spaces = Workspaces({"data_dir": data_dir})

    def open_set(s: SuiteSet):
        ws = spaces.open(s.docs)
        retriever = ws.answerer.retriever  # type: ignore[attr-defined]
        return retriever.passages, spaces.embedder.count_tokens, ws.close

    return open_set


@click.command()
@click.option("--only", multiple=True, help="Screen only this set (repeatable).")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Data directory whose eval-indexes/ are used (default: the settings').")  # fmt: skip
@click.option("--out", "out_file", type=click.Path(path_type=Path), default=None,
              help="Write every question's passages and the figures here (JSON).")  # fmt: skip
@click.option("--against", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="A saved --out file: list the questions whose passages moved.")  # fmt: skip
@click.option("--changed-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="With --against: write the moved questions of each set as a set file here.")  # fmt: skip
def main(
    only: tuple[str, ...],
    data_dir: Path | None,
    out_file: Path | None,
    against: Path | None,
    changed_dir: Path | None,
) -> None:
    """Every suite question's passages (no model): key facts in them, tokens, what moved."""
    if changed_dir is not None and against is None:
        raise click.UsageError("--changed-dir needs --against (the run to compare with).")
    before = None
    if against is not None:
        try:
            before = json.loads(against.read_text("utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise click.ClickException(f"{against}: not a saved --out file ({e}).") from e
    try:
        sets = select(default_suite(), only)
    except QAError as e:
        raise click.UsageError(str(e)) from e
    missing = [f"{s.name}: {', '.join(s.missing())}" for s in sets if s.missing()]
    if missing:
        raise click.ClickException("Missing: " + "; ".join(missing))
    screens = screen(sets, _workspace_opener(data_dir))
    moves = moved(before, screens) if before is not None else None
    click.echo(report(screens, moves))
    if out_file is not None:
        out_file.write_text(
            json.dumps({"sets": {s.name: s.__dict__ for s in screens}}, indent=1), "utf-8"
        )
    if changed_dir is not None and moves is not None:
        for path in write_moved(sets, moves, changed_dir):
            click.echo(f"wrote {path}")


if __name__ == "__main__":
    main()
