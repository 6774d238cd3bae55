"""The `qa` command line (click): index, status, ask, chat, model; `qa eval` is in
:mod:`app.cli_eval`."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

import click

from app import options
from app.options import data_dir_option
from qa.errors import QAError

log = logging.getLogger(__name__)

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
    fresh = not logging.getLogger().handlers
    logging.basicConfig(level=level, format="%(levelname)s %(name)s %(message)s")
    if fresh:  # bm25s sets its logger to DEBUG on import, after this: filter at the handler
        logging.getLogger().handlers[0].setLevel(level)
    for noisy in ("bm25s", "httpx", "chromadb", "urllib3"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@data_dir_option
def index(paths: tuple[Path, ...], data_dir: Path | None) -> None:
    """Index folders or files (recursively). Unchanged files are skipped, changed ones
    replaced, deleted ones removed."""
    from index.indexer import IndexBusyError
    from qa.progress import ProgressLines
    from qa.service import run_index

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        click.echo(f"Error: no such file or folder: {', '.join(missing)}", err=True)
        sys.exit(2)
    settings = options.settings(data_dir=data_dir)
    # A terminal gets a bar; a log file or a pipe gets a line every few seconds.
    tty = sys.stderr.isatty()
    lines = None if tty else ProgressLines(lambda line: click.echo(line, err=True))
    try:
        report = run_index(
            settings,
            list(paths),
            progress=tty,
            on_progress=lines,
            on_notice=lambda line: click.echo(line, err=True),
        )
    except IndexBusyError as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        click.echo(
            "Interrupted: every document finished so far is indexed (a large file resumes "
            "where it stopped); run the same command again to finish.",
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
    from qa.status import index_status  # no model, and Chroma only when the index changed

    settings = options.settings(data_dir=data_dir)
    info = index_status(settings)
    info["data_dir"] = str(settings.data_dir)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"{info['documents']} documents, {info['chunks']} chunks in {info['store']}")
    click.echo(
        f"embedder: {info['embedder']}; generator: {info['generator']} ({settings.llm.mode})"
    )
    for note in info.get("notes", []):  # e.g. documents cut by an older chunker
        click.echo(note)
    for src in info["sources"]:
        click.echo(f"  {src['doc_id']}  ({src['chunks']} chunks)  {src['title'][:70]}")


class _Failure(QAError):
    """An error of `qa ask` with its stable ``kind`` for --json (and the exit code)."""

    def __init__(self, message: str, kind: str, code: int = 1) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code


def _error_kind(exc: BaseException) -> str:
    """A stable short name for --json: no_index, bad_question, model, store, or error."""
    from qa.errors import IndexMissingError, InputError, ModelError

    kind = getattr(exc, "kind", None)
    if isinstance(kind, str):
        return kind
    for cls, name in ((IndexMissingError, "no_index"), (InputError, "bad_question")):
        if isinstance(exc, cls):
            return name
    if isinstance(exc, ModelError):
        return "model"  # the model could not be loaded, or its server not reached
    from index.store import StoreError

    return "store" if isinstance(exc.__cause__, StoreError) else "error"


def _error_json(exc: BaseException, **where: object) -> str:
    return json.dumps({**where, "error": str(exc), "kind": _error_kind(exc)}, ensure_ascii=False)


def _read_history(path: Path | None) -> list[tuple[str, str]]:
    if path is None:
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return _turns(data)
    except FileNotFoundError:
        raise _Failure(f"--history {path}: no such file.", "bad_history") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _Failure(f"--history {path}: cannot read it ({exc}).", "bad_history") from None
    except ValueError as exc:
        raise _Failure(
            f"--history {path} is not a JSON list of [question, answer] pairs ({exc}).",
            "bad_history",
        ) from None


def _turns(data: object) -> list[tuple[str, str]]:
    """``[[question, answer], ...]`` as pairs of strings; ValueError says what is wrong."""
    if not isinstance(data, list):
        raise ValueError(f"expected a list, got {type(data).__name__}")
    turns = []
    for i, pair in enumerate(data, start=1):
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            raise ValueError(f"item {i} is not a [question, answer] pair")
        turns.append((str(pair[0]), str(pair[1])))
    return turns


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
    type=click.Path(path_type=Path),
    help="JSON list of [question, answer] pairs: the conversation so far.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print one JSON object (or one per line with --batch). Errors too: {"error": ..., '
    '"kind": ...} on stdout, with a non-zero exit code.',
)
@click.option(
    "--batch",
    type=click.Path(allow_dash=True, path_type=Path),
    help='JSONL file ("-" for stdin) of {"question": ..., "history": [...]}. A bad line gets an '
    "error object and the run goes on; no index or a model failure ends the run.",
)
@click.option(
    "--debug", is_flag=True, help="Include passages, raw model output and stats in the JSON."
)
@click.pass_context
def ask(ctx, question, data_dir, history, as_json, batch, debug) -> None:
    """Answer QUESTION from the indexed documents, with verified citations.

    Exit codes: 0 answered (a refusal is an answer), 1 an error (with --batch: any line
    failed), 2 a usage error. Error kinds in --json: no_index, bad_question, bad_history,
    bad_batch, bad_line, model, store, settings, usage, error, internal.
    """
    try:
        if batch is not None:
            ctx.exit(_ask_batch(batch, data_dir, debug))
        if question is None:
            raise _Failure("Give a QUESTION, or --batch FILE.", "usage", code=2)
        _ask_one(question, data_dir, history, as_json, debug)
    except QAError as exc:
        code = getattr(exc, "code", 1)
        if as_json:
            click.echo(_error_json(exc))
            ctx.exit(code)
        if code == 2:
            raise click.UsageError(str(exc)) from exc
        raise click.ClickException(str(exc)) from exc
    except (click.exceptions.Exit, click.ClickException, KeyboardInterrupt):
        raise
    except Exception as exc:
        if not as_json:
            raise
        log.exception("qa ask failed")
        click.echo(json.dumps({"error": f"unexpected error: {exc!r}", "kind": "internal"}))
        ctx.exit(1)


def _ask_one(question: str, data_dir, history, as_json: bool, debug: bool) -> None:
    from qa.schema import Delta, Done
    from qa.service import build_answerer

    turns = _read_history(history)  # a bad file fails before anything loads
    settings = options.settings(data_dir=data_dir)
    t0 = time.perf_counter()
    from qa.answerer import validate_question

    # Empty or too long: said before anything loads. Then the model loads in the background
    # while retrieval runs.
    validate_question(question, settings.max_question_chars)
    answerer = build_answerer(settings, preload=True)
    answer = None
    live = not as_json and sys.stderr.isatty()
    for event in answerer.stream(question, turns):
        if isinstance(event, Delta) and live:
            click.echo(click.style(event.text, dim=True), nl=False, err=True)
        elif isinstance(event, Done):
            answer = event.answer
    if answer is None:
        raise _Failure("The answer stopped before it was finished; see the log.", "error")
    answer.timings.setdefault("process_ms", (time.perf_counter() - t0) * 1000)
    if as_json:
        click.echo(json.dumps(answer.to_json(debug=debug), ensure_ascii=False, indent=None))
    else:
        if live:
            click.echo("\n" + click.style("— verified —", dim=True), err=True)
        _print_answer(answer)


def _ask_batch(batch: Path, data_dir, debug: bool) -> int:
    """One JSON line per input line: the answer, or ``{"line", "question", "error", "kind"}``.
    A bad line (not JSON, no question, bad history, empty or too long question) is reported
    and the run goes on; an error that every later line would hit too (no index, the model,
    the store) is reported on its line and ends the run. Returns the exit code."""
    from qa.service import build_answerer

    try:
        stream = click.open_file(str(batch), "r", encoding="utf-8")
    except OSError as exc:
        raise _Failure(f"--batch {batch}: cannot read it ({exc}).", "bad_batch") from None
    failed = False
    with stream:
        answerer = build_answerer(options.settings(data_dir=data_dir))
        try:
            for n, line in enumerate(stream, start=1):
                outcome = _batch_line(answerer, n, line, debug)
                failed |= outcome != "ok"
                if outcome == "stop":
                    return 1
        except UnicodeDecodeError as exc:
            raise _Failure(
                f"--batch {batch} is not UTF-8 text ({exc.reason} at byte {exc.start}).",
                "bad_batch",
            ) from None
    return 1 if failed else 0


def _batch_line(answerer, n: int, line: str, debug: bool) -> str:
    """Answer one --batch line and print its JSON; "ok", "bad" (go on) or "stop"."""
    from qa.errors import InputError

    if not line.strip():
        return "ok"
    question = None
    try:
        item = json.loads(line)
        if not isinstance(item, dict) or not isinstance(item.get("question"), str):
            raise ValueError('expected {"question": "...", "history": [...]}')
        question = item["question"]
        turns = _turns(item.get("history", []))
    except ValueError as exc:
        click.echo(_error_json(_Failure(f"bad input line: {exc}", "bad_line"), line=n))
        return "bad"
    try:
        ans = answerer.ask(question, turns)
    except InputError as exc:
        click.echo(_error_json(exc, line=n, question=question))
        return "bad"
    except QAError as exc:  # no index, the model, the store: every later line would fail too
        click.echo(_error_json(exc, line=n, question=question))
        return "stop"
    click.echo(json.dumps(ans.to_json(debug=debug), ensure_ascii=False))
    return "ok"


@main.command()
@data_dir_option
@click.option(
    "--host", envvar="QA_UI_HOST", default=None, help="Interface to listen on (default 127.0.0.1)."
)
@click.option(
    "--port",
    envvar="QA_UI_PORT",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port (default 7860).",
)
@click.option(
    "--auth-file",
    envvar="QA_UI_AUTH_FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Require a login: a file of user:password lines that only you can read (chmod 600).",
)
@click.option(
    "--auth",
    envvar="QA_UI_AUTH",
    default=None,
    help="user:password to require a login. Discouraged on the command line, where `ps` shows "
    "it to every user: use --auth-file or set QA_UI_AUTH.",
)
def chat(data_dir, host, port, auth_file, auth) -> None:
    """Open the web chat (http://127.0.0.1:7860 by default).

    To require a login, pass --auth-file FILE (user:password lines, chmod 600; or set
    QA_UI_AUTH_FILE), or set QA_UI_AUTH=user:password. The port and the login are checked
    before anything loads.
    """
    from ui.security import LoginThrottle, check_port, resolve_accounts  # no Gradio yet

    settings = options.settings(
        data_dir=data_dir, ui__host=host, ui__port=port, ui__auth=auth, ui__auth_file=auth_file
    )
    accounts = resolve_accounts(settings.ui.auth, settings.ui.auth_file)
    check_port(settings.ui.host, settings.ui.port)

    from qa.service import build_answerer

    answerer = build_answerer(settings)
    click.echo("Loading the model…", err=True)
    if hasattr(answerer.generator, "load"):
        answerer.generator.load()
    from qa.library import Library
    from ui.app import build_app, launch  # the UI depends on qa, never the other way round

    # what is indexed, re-indexing and uploads from the Collection tab
    library = Library(settings, answerer.retriever, generator=answerer.generator.name)
    # one upload limit: the page's label, the library's check and the upload route
    library.max_bytes = min(library.max_bytes, int(settings.ui.max_upload_mb * 1_000_000))
    app = build_app(answerer, library)  # example questions come from the index
    try:
        launch(
            app,
            host=settings.ui.host,
            port=settings.ui.port,
            auth=accounts,
            throttle=LoginThrottle.from_settings(settings.ui),
            max_upload_mb=library.max_bytes / 1_000_000,  # the upload route refuses bigger files
            prevent_thread_lock=True,
        )
    except OSError:  # taken while the model loaded
        check_port(settings.ui.host, settings.ui.port)
        raise
    click.echo(f"qa web chat on http://{settings.ui.host}:{settings.ui.port}", err=True)
    try:
        app.block_thread()
    finally:
        app.close()


@main.command()
@click.option("--quiet", is_flag=True, help="Print nothing when the model is ready.")
def model(quiet: bool) -> None:
    """Assemble and verify the packaged generator model, and load the embedder (building the
    int8 one once when QA_EMBED_INT8=dynamic); `make install` runs it."""
    from qa.gguf import packaged_model
    from qa.service import open_embedder

    settings = options.settings()
    if settings.embed.mode == "local":
        embedder = open_embedder(settings)
        if not quiet:
            click.echo(f"embedder ready: {embedder.name}")
    if settings.llm.model_path:
        click.echo(f"QA_LLM_MODEL_PATH is set: using {settings.llm.model_path}")
        return
    path = packaged_model(settings.model_cache)
    if not quiet:
        click.echo(f"model ready: {path}")


from app.cli_eval import eval_command  # noqa: E402  (registers `qa eval`)

main.add_command(eval_command)

if __name__ == "__main__":
    main()
