"""`qa eval`: run an evaluation set (or a public LabelledRagDataset, or the development suite)
through the real answerer."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from app import options

ROOT = Path(__file__).resolve().parent.parent


@click.command("eval")
@click.option(
    "--set",
    "set_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Evaluation set (JSONL; default eval/seeds.jsonl over seeds/).",
)
@click.option(
    "--docs",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder of documents the set is asked over: indexed into an index of its own under "
    "<data dir>/eval-indexes/ (reused while the files are unchanged). Without it, --set is "
    "asked over the index already at --data-dir.",
)
@click.option(
    "--suite",
    is_flag=True,
    help="Run the development suite (seeds, python_docs, squad_followups, squad2_dev, "
    "blockchain_solana) and print one table, a row per set.",
)
@click.option(
    "--only",
    multiple=True,
    help="With --suite: run only this set (repeatable; the sets run in the order given).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where results.json, report.md and the plots go (default eval/out; "
    "eval/out-suite with --suite).",
)
@click.option(
    "--k", type=int, default=None, help="Passages per question (default QA_RETRIEVAL_K, 6)."
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="QA_DATA_DIR",
    default=None,
    help="Data directory (default .qa/): evaluation indexes go to its eval-indexes/.",
)
@click.option(
    "--compare",
    nargs=2,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Compare two results.json files question by question instead of running.",
)
@click.option(
    "--labelled",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A llama-index LabelledRagDataset rag_dataset.json to run instead of the set.",
)
@click.option(
    "--sources",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder of source files for --labelled (default: source_files/ beside it).",
)
@click.option(
    "--verify",
    is_flag=True,
    help="Measure the citation check on labelled claim/passage pairs instead (eval/verify.jsonl, "
    "or --set FILE): supported claims accepted, unsupported ones rejected, time per check.",
)
@click.option(
    "--limit",
    type=int,
    default=None,
    help="Only N questions of each set, spread evenly over it (keeps its mix of answerable and unanswerable questions).",
)
@click.option(
    "--offset",
    type=int,
    default=0,
    show_default=True,
    help="With --limit: shift the spread by N questions. 0 < N < (set size / limit) gives "
    "another slice with no question of the first, to check a change on questions it was not "
    "developed on.",
)
@click.option(
    "--check-floors",
    is_flag=True,
    help="Exit 1 when a quality floor is broken (with --suite: any set's floor).",
)
def eval_command(
    set_path,
    docs,
    suite,
    only,
    out_dir,
    k,
    data_dir,
    compare,
    labelled,
    sources,
    verify,
    limit,
    offset,
    check_floors,
) -> None:
    """Measure retrieval, answers, citations, refusals and speed; write a report and plots."""
    from eval import runner

    if verify:
        from eval import verify as verify_set

        ctx = click.get_current_context()
        ctx.invoke(
            verify_set.main,
            set_path=set_path or verify_set.DEFAULT_SET,
            json_out=(out_dir / "verify.json") if out_dir else None,
            corpus=(),
            max_errors=30,
        )
        return
    if compare:
        click.echo(runner.compare(*compare))
        return
    if offset and limit is None:
        raise click.UsageError("--offset shifts a --limit slice: add --limit N.")
    if offset < 0:
        raise click.UsageError("--offset must be 0 or more.")
    overrides = {"data_dir": data_dir, "retrieval__k": k}
    progress = sys.stderr.isatty()
    if suite:
        clash = [
            name
            for name, value in (("--set", set_path), ("--docs", docs), ("--labelled", labelled))
            if value
        ]
        if clash:
            raise click.UsageError(f"--suite runs its own sets; drop {', '.join(clash)}.")
        n_broken = _run_suite(
            overrides, list(only), out_dir or Path("eval/out-suite"), limit, offset, progress
        )
        if n_broken and check_floors:
            sys.exit(1)
        return
    if only:
        raise click.UsageError("--only picks sets of the suite: use it with --suite.")
    out_dir = out_dir or Path("eval/out")

    from eval.workspace import Workspaces

    if labelled:
        sources = sources or labelled.parent / "source_files"
        ws = Workspaces(overrides, progress=progress).open(sources)
        click.echo(f"indexed {sources}: {ws.summary}", err=True)
        from eval.labelled import run_labelled

        result = run_labelled(
            ws.answerer, labelled, out_dir, embed=ws.embed, limit=limit, offset=offset
        )
        click.echo(json.dumps(result.get("aggregates", result), indent=2))
        return

    from eval.dataset import load_records, spread

    if set_path is None:
        if docs is not None:
            raise click.UsageError("--docs needs the questions to ask: add --set FILE.")
        set_path, docs = ROOT / "eval" / "seeds.jsonl", ROOT / "seeds"
    records = spread(load_records(set_path), limit, offset)
    if docs is not None:
        workspaces = Workspaces(overrides, progress=progress)
        ws = workspaces.open(docs)
        click.echo(f"indexed {docs} into {ws.data_dir}: {ws.summary}", err=True)
        answerer, settings = ws.answerer, workspaces.base
    else:
        from qa.service import build_answerer

        settings = options.settings(**overrides)
        answerer = build_answerer(settings)
    result = runner.run_eval(answerer, records, out_dir, k=settings.retrieval.k, progress=progress)
    agg = result["aggregates"]
    click.echo(json.dumps(agg, indent=2))
    click.echo(f"report: {out_dir / 'report.md'}", err=True)
    broken = runner.check_floors(agg)
    for line in broken:
        click.echo(f"FLOOR BROKEN: {line}", err=True)
    if broken and check_floors:
        sys.exit(1)


def _run_suite(
    overrides: dict,
    only: list[str],
    out_dir: Path,
    limit: int | None,
    offset: int,
    progress: bool,
) -> int:
    """Run the suite, print its table; returns how many rows break one of their floors.
    ``limit`` and ``offset`` pick every set's questions (``dataset.spread``)."""
    from eval import suite
    from eval.suite_report import broken_floors, render_suite
    from eval.workspace import Workspaces

    sets = suite.select(suite.default_suite(ROOT), only)
    ws = Workspaces(overrides, progress=progress)

    def on_row(row: dict) -> None:
        what = row.get("error") or f"{row['n']} questions"
        click.echo(f"{row['name']}: {row['status']} ({what}) in {row['time_s']} s", err=True)

    result = suite.run_suite(
        sets,
        lambda s: ws.open(s.docs),
        out_dir,
        k=ws.base.retrieval.k,
        limit=limit,
        progress=progress,
        on_row=on_row,
        offset=offset,
    )
    click.echo(render_suite(result))
    click.echo(f"suite report: {out_dir / suite.SUITE_MD}", err=True)
    broken = [r for r in result["rows"] if r["status"] == "done" and broken_floors(r)]
    for r in broken:
        click.echo(f"FLOOR BROKEN: {r['name']}: {'; '.join(broken_floors(r))}", err=True)
    return len(broken)
