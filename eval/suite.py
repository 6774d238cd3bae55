"""The development suite: several evaluation sets, each over its own documents, in one table.

Every set is asked over an index of its own (``eval.workspace``: under the data dir,
``eval-indexes/<folder name>-<hash of its path>/``), which later runs reuse: the incremental
indexer skips unchanged files. A set whose files are missing is reported as missing, a set
that fails is reported with its error, and the suite goes on. ``suite.json`` and
``suite.md`` are rewritten after every set, so a run that is stopped keeps what it finished.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from eval.dataset import load_records, spread
from eval.labelled import run_labelled
from eval.metrics import aggregate
from eval.runner import run_eval
from eval.suite_report import render_suite
from eval.workspace import Workspace
from qa.errors import QAError

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
SUITE_JSON = "suite.json"
SUITE_MD = "suite.md"
PARTIAL_EVERY = 10  # questions between two writes of a running set's row


@dataclass(frozen=True)
class SuiteSet:
    """One row of the suite: a set file (JSONL records or a LabelledRagDataset) and the
    folder of documents it is asked over."""

    name: str
    kind: Literal["records", "labelled"]
    set_path: Path
    docs: Path
    about: str = ""

    def missing(self) -> list[str]:
        """The paths this set needs that are not there."""
        out = []
        if not self.set_path.is_file():
            out.append(str(self.set_path))
        if not self.docs.is_dir():
            out.append(str(self.docs))
        return out


def default_suite(root: Path = ROOT, shared: Path | None = None) -> list[SuiteSet]:
    """The development suite. ``shared`` (the datasets folder beside the checkout, as in CI)
    defaults to ``<root>/../shared``. Ordered small to large, so a run that is cut short
    still has the most rows."""
    shared = shared or root.parent / "shared"
    squad = shared / "datasets" / "squad2_dev"
    solana = shared / "datasets" / "blockchain_solana"
    return [
        SuiteSet(
            "seeds", "records", root / "eval" / "seeds.jsonl", root / "seeds", "5 news articles"
        ),
        SuiteSet(
            "python_docs",
            "records",
            root / "eval" / "python_docs.jsonl",
            root / "eval" / "corpora" / "python_docs" / "docs",
            "9 pages of the Python 3.11 tutorial and HOWTOs (HTML)",
        ),
        SuiteSet(
            "node_docs",
            "records",
            root / "eval" / "node_docs.jsonl",
            root / "eval" / "corpora" / "node_docs" / "docs",
            "16 pages of the Node.js 20 API documentation (Markdown)",
        ),
        SuiteSet(
            "squad_followups",
            "records",
            root / "eval" / "squad_followups.jsonl",
            squad / "docs",
            "follow-ups with history over 306 Wikipedia paragraphs",
        ),
        SuiteSet(
            "squad2_dev",
            "records",
            squad / "sample.jsonl",
            squad / "docs",
            "SQuAD 2.0 sample over 306 Wikipedia paragraphs",
        ),
        SuiteSet(
            "blockchain_solana",
            "labelled",
            solana / "rag_dataset.json",
            solana / "source_files",
            "LabelledRagDataset over one PDF",
        ),
    ]


def select(sets: Sequence[SuiteSet], names: Sequence[str]) -> list[SuiteSet]:
    """The sets named in ``names``, in that order (all when empty); an unknown name is an
    error."""
    if not names:
        return list(sets)
    known = {s.name: s for s in sets}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise QAError(f"No suite set named {', '.join(unknown)}: choose from {', '.join(known)}.")
    return [known[n] for n in dict.fromkeys(names)]


Prepare = Callable[[SuiteSet], Workspace]


def run_suite(
    sets: Sequence[SuiteSet],
    prepare: Prepare,
    out_dir: Path,
    k: int,
    limit: int | None = None,
    progress: bool = False,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    offset: int = 0,
) -> dict[str, Any]:
    """Run every set: ``prepare(set)`` indexes its documents and gives the answerer, then the
    set is evaluated into ``out_dir/<name>/``. After each set its row is added and
    ``suite.json`` and ``suite.md`` are rewritten (rows not run yet are "pending").
    ``limit`` keeps N questions of every set, spread evenly (``dataset.spread``), shifted by
    ``offset`` questions. Returns the suite dict."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    suite: dict[str, Any] = {
        "meta": {
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "k": k,
            "limit": limit,
            "offset": offset,
            "elapsed_s": 0.0,
        },
        "rows": [_pending(s) for s in sets],
    }
    _write(suite, out_dir)
    for i, s in enumerate(sets):

        def partial(metrics: dict[str, Any], i: int = i, s: SuiteSet = s) -> None:
            suite["rows"][i] = {**_pending(s), **metrics, "status": "running"}
            suite["meta"]["elapsed_s"] = round(time.perf_counter() - started, 1)
            _write(suite, out_dir)

        row = _run_one(s, prepare, out_dir / s.name, k, limit, offset, progress, partial)
        suite["rows"][i] = row
        suite["meta"]["elapsed_s"] = round(time.perf_counter() - started, 1)
        _write(suite, out_dir)
        log.info("suite set done name=%s status=%s time_s=%s", s.name, row["status"], row["time_s"])
        if on_row:
            on_row(row)
    return suite


def _pending(s: SuiteSet) -> dict[str, Any]:
    return {
        "name": s.name,
        "kind": s.kind,
        "status": "pending",
        "set": str(s.set_path),
        "docs": str(s.docs),
        "about": s.about,
        "n": None,
        "time_s": None,
    }


def _run_one(
    s: SuiteSet,
    prepare: Prepare,
    out: Path,
    k: int,
    limit: int | None,
    offset: int,
    progress: bool,
    partial: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    row = _pending(s)
    missing = s.missing()
    if missing:
        return {**row, "status": "missing", "error": "not found: " + ", ".join(missing)}
    t0 = time.perf_counter()
    try:
        prepared = prepare(s)
    except QAError as e:
        return _failed(row, e, t0)
    try:
        if s.kind == "labelled":
            result = run_labelled(
                prepared.answerer,
                s.set_path,
                out,
                embed=prepared.embed,
                limit=limit,
                progress=progress,
                offset=offset,
            )
            metrics = labelled_row(result)
        else:
            records = spread(load_records(s.set_path), limit, offset)

            def on_question(rows: Sequence[dict[str, Any]]) -> None:
                if len(rows) % PARTIAL_EVERY == 0 and len(rows) < len(records):
                    partial(records_row({"aggregates": aggregate(rows, k), "questions": rows}))

            result = run_eval(
                prepared.answerer, records, out, k=k, progress=progress, on_question=on_question
            )
            metrics = records_row(result)
    except QAError as e:
        return _failed(row, e, t0)
    finally:
        prepared.close()
    return {
        **row,
        **metrics,
        "status": "done",
        "index_s": round(prepared.index_s, 1),
        "index_summary": prepared.summary,
        "time_s": round(time.perf_counter() - t0, 1),
        "out": str(out),
    }


def _failed(row: dict[str, Any], e: QAError, t0: float) -> dict[str, Any]:
    log.warning("suite set failed name=%s error=%r", row["name"], str(e))
    return {
        **row,
        "status": "error",
        "error": f"{type(e).__name__}: {e}",
        "time_s": round(time.perf_counter() - t0, 1),
    }


def records_row(result: dict[str, Any]) -> dict[str, Any]:
    """The suite's metrics of one ``run_eval`` result."""
    agg = result["aggregates"]
    follow = [r for r in result["questions"] if r["type"] == "followup"]
    return {
        "n": agg["n"],
        "errors": agg["errors"],
        "key_fact_accuracy": agg["key_fact_accuracy"],
        "citation_precision": agg["citation_precision"],
        "citation_recall": agg["citation_recall"],
        "refusal_recall": agg["refusal_recall"],
        "n_unanswerable": agg["n_unanswerable"],
        "false_refusal_rate": agg["false_refusal_rate"],
        "followups_correct": sum(bool(r["scores"]["key_facts_ok"]) for r in follow),
        "followups": len(follow),
        "hit_at_k": agg["hit_at_k"],
        "first_token_ms_p50": agg["first_token_ms_p50"],
        "total_ms_p50": agg["total_ms_p50"],
    }


def labelled_row(result: dict[str, Any]) -> dict[str, Any]:
    """The suite's metrics of one ``run_labelled`` result: retrieval hit as hit@k, plus its
    own answer similarity, MRR and refusals."""
    agg = result["aggregates"]
    return {
        "n": agg["n"],
        "errors": agg["errors"],
        "hit_at_k": agg["retrieval_hit_rate"],
        "mrr": agg["mrr"],
        "answer_similarity_mean": agg["answer_similarity_mean"],
        "answer_similarity_p50": agg["answer_similarity_p50"],
        "refused": agg["refused"],
        "first_token_ms_p50": agg["first_token_ms_p50"],
        "total_ms_p50": agg["total_ms_p50"],
    }


def _write(suite: dict[str, Any], out_dir: Path) -> None:
    """Write ``suite.json`` and ``suite.md`` whole (a temp file renamed over the old one)."""
    for name, text in (
        (SUITE_JSON, json.dumps(suite, indent=2, ensure_ascii=False)),
        (SUITE_MD, render_suite(suite)),
    ):
        tmp = out_dir / f".{name}.tmp"
        tmp.write_text(text, "utf-8")
        tmp.replace(out_dir / name)
