"""Run the evaluation set through an answerer, write results, check floors, compare runs.

The answerer is duck-typed: anything with ``ask(question, history) -> Answer`` will do,
so tests hand in a fake.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from eval.dataset import EvalRecord
from eval.metrics import aggregate, error_scores, score_answer
from eval.report import render_report, write_plots
from qa.errors import QAError
from qa.schema import Answer

log = logging.getLogger(__name__)

RESULTS = "results.json"
REPORT = "report.md"

# (aggregate key, comparison, threshold, description)
FLOORS: tuple[tuple[str, str, float, str], ...] = (
    ("key_fact_accuracy", ">=", 0.90, "key-fact accuracy on answerable questions"),
    ("citation_precision", ">=", 0.90, "citation precision"),
    ("refusal_recall", ">=", 1.0, "unanswerable questions refused"),
    ("false_refusal_rate", "<=", 0.05, "false refusals of answerable questions"),
)


class SupportsAsk(Protocol):
    def ask(self, question: str, history: Sequence[tuple[str, str]] = ...) -> Answer: ...


def run_eval(
    answerer: SupportsAsk,
    records: Sequence[EvalRecord],
    out_dir: Path,
    k: int = 5,
    progress: bool = True,
    on_question: Callable[[Sequence[dict[str, Any]]], None] | None = None,
) -> dict[str, Any]:
    """Ask every record, score it, and write ``results.json``, ``report.md`` and plots.

    A ``QAError`` raised for one question is recorded as that question's error and the run
    goes on. ``on_question(rows)`` is called after each question with the rows so far.
    Returns the results dict (``meta``, ``aggregates``, ``floors``, ``questions``).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for rec in tqdm(records, desc="eval", unit="q", disable=not progress):
        row: dict[str, Any] = {
            "id": rec.id,
            "type": rec.type,
            "question": rec.question,
            "history": [list(t) for t in rec.history],
            "key_facts": [list(g) for g in rec.key_facts],
            "gold": list(rec.gold),
        }
        try:
            answer = answerer.ask(rec.question, list(rec.history))
        except QAError as e:
            log.warning("question failed id=%s error=%r", rec.id, str(e))
            row.update(answer=None, scores=error_scores(rec, f"{type(e).__name__}: {e}"))
        else:
            row.update(answer=answer.to_json(debug=True), scores=score_answer(rec, answer, k))
        rows.append(row)
        if on_question:
            on_question(rows)

    aggregates = aggregate(rows, k)
    elapsed = time.perf_counter() - started
    results: dict[str, Any] = {
        "meta": {
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "k": k,
            "n": len(rows),
            "elapsed_s": round(elapsed, 1),
        },
        "aggregates": aggregates,
        "floors": check_floors(aggregates),
        "questions": rows,
    }
    (out_dir / RESULTS).write_text(json.dumps(results, indent=2, ensure_ascii=False), "utf-8")
    (out_dir / REPORT).write_text(render_report(results), "utf-8")
    write_plots(results, out_dir)
    log.info(
        "eval done n=%d errors=%d key_fact_accuracy=%s floors_broken=%d elapsed_s=%.1f out=%s",
        len(rows),
        aggregates["errors"],
        aggregates["key_fact_accuracy"],
        len(results["floors"]),
        elapsed,
        out_dir,
    )
    return results


def check_floors(aggregates: dict[str, Any]) -> list[str]:
    """The floors the aggregates break, one message each; empty when all hold."""
    broken: list[str] = []
    for key, op, threshold, what in FLOORS:
        value = aggregates.get(key)
        if value is None:
            if key == "citation_precision" and aggregates.get("n_answerable"):
                broken.append(f"{what}: no citations at all (floor {op} {threshold:.2f})")
            continue
        ok = value >= threshold if op == ">=" else value <= threshold
        if not ok:
            broken.append(f"{what}: {value:.3f}, floor {op} {threshold:.2f}")
    return broken


def load_results(path: Path | str) -> dict[str, Any]:
    """Read ``results.json``; ``path`` may be the file or the folder that holds it."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS
    if not path.is_file():
        raise QAError(f"No eval results at {path}: run the evaluation first.")
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


def _refusal_right(scores: dict[str, Any]) -> bool:
    return bool(scores["refused"]) == (not scores["answerable"])


def _changes(a: dict[str, Any], b: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(better, worse) descriptions of what changed between two rows of one question."""
    sa, sb = a["scores"], b["scores"]
    better: list[str] = []
    worse: list[str] = []

    def flag(ok_a: Any, ok_b: Any, what: str) -> None:
        if ok_a is None or ok_b is None or bool(ok_a) == bool(ok_b):
            return
        (better if ok_b else worse).append(f"{what} {'✗→✓' if ok_b else '✓→✗'}")

    flag(sa["key_facts_ok"], sb["key_facts_ok"], "key facts")
    if sa["answerable"] and sa["refused"] != sb["refused"] and sb["key_facts_ok"] is not None:
        # An answerable question answered wrongly is worse than refused: a false answer with
        # citations is trusted; a refusal is not.
        if sb["refused"]:
            right = bool(sa["key_facts_ok"])
            (worse if right else better).append("refused ✓→✗" if right else "refused, was wrong")
        else:
            right = bool(sb["key_facts_ok"])
            (better if right else worse).append("answered ✗→✓" if right else "answered wrongly")
    else:
        flag(_refusal_right(sa), _refusal_right(sb), "refused" if sb["refused"] else "answered")
    flag(sa["error"] is None, sb["error"] is None, "no error")
    pa, pb = sa["citation_precision"], sb["citation_precision"]
    if pa is not None and pb is not None and abs(pa - pb) > 1e-9:
        (better if pb > pa else worse).append(f"citation precision {pa:.2f}→{pb:.2f}")
    flag(sa["cites_gold"], sb["cites_gold"], "cites gold")
    return better, worse


def compare(a_path: Path | str, b_path: Path | str) -> str:
    """Markdown: question by question what got better or worse from run A to run B,
    then the change of every numeric aggregate."""
    a, b = load_results(a_path), load_results(b_path)
    rows_a = {r["id"]: r for r in a["questions"]}
    rows_b = {r["id"]: r for r in b["questions"]}
    better: list[str] = []
    worse: list[str] = []
    for qid, rb in rows_b.items():
        ra = rows_a.get(qid)
        if ra is None:
            continue
        up, down = _changes(ra, rb)
        label = f"- {qid} ({rb['type']}) {rb['question']}"
        if up:
            better.append(f"{label}: {'; '.join(up)}")
        if down:
            worse.append(f"{label}: {'; '.join(down)}")
    only_a = sorted(set(rows_a) - set(rows_b))
    only_b = sorted(set(rows_b) - set(rows_a))

    lines = [f"# Eval comparison: {a_path} → {b_path}", ""]
    lines += [f"## Better ({len(better)})", "", *(better or ["- none"]), ""]
    lines += [f"## Worse ({len(worse)})", "", *(worse or ["- none"]), ""]
    if only_a or only_b:
        lines += [
            f"Only in A: {', '.join(only_a) or '-'}; only in B: {', '.join(only_b) or '-'}",
            "",
        ]
    lines += ["## Aggregates", "", "| metric | A | B | Δ |", "|---|---|---|---|"]
    agg_a, agg_b = _flat(a["aggregates"]), _flat(b["aggregates"])
    for key, va in agg_a.items():
        vb = agg_b.get(key)
        if not (_is_num(va) or _is_num(vb)):
            continue
        delta = f"{vb - va:+.3f}" if _is_num(va) and _is_num(vb) else "n/a"
        lines.append(f"| {key} | {_fmt(va)} | {_fmt(vb)} | {delta} |")
    return "\n".join(lines) + "\n"


def _flat(aggregates: dict[str, Any]) -> dict[str, Any]:
    """Top-level aggregates plus ``<type>.<metric>`` for the headline metrics of each type."""
    out = {k: v for k, v in aggregates.items() if k != "by_type"}
    for t, group in aggregates.get("by_type", {}).items():
        for key in ("key_fact_accuracy", "citation_precision", "refusal_rate"):
            out[f"{t}.{key}"] = group.get(key)
    return out


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    return f"{v:.3f}" if isinstance(v, float) else str(v)
