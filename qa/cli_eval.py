"""`qa eval`: run the evaluation set (or a public LabelledRagDataset) through the real answerer."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command("eval")
@click.option(
    "--set",
    "set_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Evaluation set (JSONL; default eval/seeds.jsonl).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("eval/out"),
    show_default=True,
    help="Where results.json, report.md and the plots go.",
)
@click.option(
    "--k", type=int, default=None, help="Passages per question (default QA_RETRIEVAL_K, 6)."
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="QA_DATA_DIR",
    default=None,
    help="Index to evaluate against (default .qa/; seeds/ is indexed into it first).",
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
@click.option("--limit", type=int, default=None, help="Only the first N questions.")
@click.option("--check-floors", is_flag=True, help="Exit 1 when a quality floor is broken.")
def eval_command(
    set_path, out_dir, k, data_dir, compare, labelled, sources, limit, check_floors
) -> None:
    """Measure retrieval, answers, citations, refusals and speed; write a report and plots."""
    from eval import runner
    from qa.cli import _settings
    from qa.service import build_answerer, open_embedder, run_index

    if compare:
        click.echo(runner.compare(*compare))
        return
    overrides = {"data_dir": data_dir}
    if k:
        overrides["retrieval__k"] = k
    if labelled:
        sources = sources or labelled.parent / "source_files"
        overrides["data_dir"] = data_dir or out_dir / "index"
        settings = _settings(**overrides)
        embedder = open_embedder(settings)
        report = run_index(settings, [sources], embedder, progress=sys.stderr.isatty())
        click.echo(
            f"indexed {sources}: {report.summary()}",
            err=True,
        )
        from eval.labelled import run_labelled

        answerer = build_answerer(settings, embedder=embedder)
        result = run_labelled(answerer, labelled, out_dir, embed=embedder.embed, limit=limit)
        click.echo(json.dumps(result.get("aggregates", result), indent=2))
        return

    settings = _settings(**overrides)
    embedder = open_embedder(settings)
    seeds = Path("seeds")
    if seeds.is_dir():
        run_index(settings, [seeds], embedder)
    from eval.dataset import load_records

    records = load_records(
        set_path or Path(__file__).resolve().parent.parent / "eval" / "seeds.jsonl"
    )
    if limit:
        records = records[:limit]
    answerer = build_answerer(settings, embedder=embedder)
    result = runner.run_eval(
        answerer, records, out_dir, k=settings.retrieval.k, progress=sys.stderr.isatty()
    )
    agg = result["aggregates"]
    click.echo(json.dumps(agg, indent=2))
    click.echo(f"report: {out_dir / 'report.md'}", err=True)
    broken = runner.check_floors(agg)
    for line in broken:
        click.echo(f"FLOOR BROKEN: {line}", err=True)
    if broken and check_floors:
        sys.exit(1)
