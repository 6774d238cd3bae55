"""Render the development suite: one Markdown table, a row per set, and the issue's floors.

``FLOORS`` are the per-set floors of the issue that set up the suite ("Answers you can trust
on any corpus"); a row lists the ones it breaks. They are targets to report against, not
thresholds of the answerer.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from eval.report import fmt, table

ROOT = Path(__file__).resolve().parent.parent

# The floors for "your documentation set", held by each documentation set of the suite.
DOCUMENTATION_FLOORS = (
    ("key_fact_accuracy", ">=", 0.75, "key facts"),
    ("citation_precision", ">=", 0.90, "citation precision"),
    ("refusal_recall", ">=", 0.75, "refusal recall"),
    ("false_refusal_rate", "<=", 0.10, "false refusals"),
    ("followup_accuracy", ">=", 0.75, "follow-ups"),
)
# set name -> (row metric, comparison, threshold, what)
FLOORS: dict[str, tuple[tuple[str, str, float, str], ...]] = {
    "seeds": (
        ("key_fact_accuracy", ">=", 0.90, "key facts"),
        ("citation_precision", ">=", 0.95, "citation precision"),
        ("refusal_recall", ">=", 1.0, "refusal recall"),
        ("false_refusal_rate", "<=", 0.05, "false refusals"),
        ("followup_accuracy", ">=", 7 / 8, "follow-ups"),
    ),
    "squad2_dev": (
        ("key_fact_accuracy", ">=", 0.75, "key facts"),
        ("citation_precision", ">=", 0.90, "citation precision"),
        ("refusal_recall", ">=", 0.60, "refusal recall"),
        ("false_refusal_rate", "<=", 0.10, "false refusals"),
    ),
    "squad_followups": (("followup_accuracy", ">=", 0.75, "follow-ups"),),
    "python_docs": DOCUMENTATION_FLOORS,
    "node_docs": DOCUMENTATION_FLOORS,
}


def broken_floors(row: dict[str, Any]) -> list[str]:
    """The floors of ``FLOORS[row's set]`` that the row breaks, one short phrase each."""
    out = []
    for key, op, bar, what in FLOORS.get(row["name"], ()):
        value = row.get(key)
        if value is None and key == "followup_accuracy" and row.get("followups"):
            value = row["followups_correct"] / row["followups"]
        if value is None:
            continue
        if not (value >= bar if op == ">=" else value <= bar):
            out.append(f"{what} {value:.2f} (floor {op} {bar:.2f})")
    return out


COLUMNS = (
    "set",
    "n",
    "key facts",
    "cit. precision",
    "cit. recall",
    "refusal recall",
    "false refusals",
    "follow-ups",
    "hit@k",
    "first token / total p50",
    "time",
    "floors",
    "other",
)


def _s(ms: Any) -> str:
    return f"{ms / 1000:.1f} s" if isinstance(ms, int | float) else "n/a"


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "n/a"
    if seconds >= 90:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def _rel(path: str) -> str:
    """A path relative to the checkout when it is near it (``../shared/...``)."""
    rel = os.path.relpath(path, ROOT)
    return rel if not rel.startswith("../..") else path


def floors_ok(row: dict[str, Any]) -> str:
    return "hold" if row["name"] in FLOORS else ""


def table_rows(suite: dict[str, Any]) -> list[list[Any]]:
    """One list of cells per set, in ``COLUMNS`` order."""
    out: list[list[Any]] = []
    for r in suite["rows"]:
        if r["status"] not in ("done", "running"):
            note = r["status"] + (f": {r['error']}" if r.get("error") else "")
            out.append([r["name"], "", *[""] * 10, note])
            continue
        latency = f"{_s(r['first_token_ms_p50'])} / {_s(r['total_ms_p50'])}"
        time_cell = (
            f"{_duration(r['time_s'])} (index {_duration(r['index_s'])})"
            if r["status"] == "done"
            else "running"
        )
        errors = f"{r['errors']} errors" if r.get("errors") else ""
        if r["status"] == "running":
            errors = "; ".join(filter(None, [f"running: first {r['n']} questions so far", errors]))
        if r["kind"] == "labelled":
            other = (
                f"answer similarity {fmt(r['answer_similarity_mean'])} mean / "
                f"{fmt(r['answer_similarity_p50'])} p50; MRR {fmt(r['mrr'])}; "
                f"refused {r['refused']}"
            )
            other = "; ".join(filter(None, [other, errors]))
            out.append([r["name"], r["n"], *["n/a"] * 6, r["hit_at_k"], latency, time_cell, other])
            continue
        follow = f"{r['followups_correct']}/{r['followups']}" if r["followups"] else "n/a"
        out.append(
            [
                r["name"],
                r["n"],
                r["key_fact_accuracy"],
                r["citation_precision"],
                r["citation_recall"],
                r["refusal_recall"] if r["n_unanswerable"] else "n/a",
                r["false_refusal_rate"],
                follow,
                r["hit_at_k"],
                latency,
                time_cell,
                ("broken: " + "; ".join(broken)) if (broken := broken_floors(r)) else floors_ok(r),
                errors,
            ]
        )
    return out


def render_suite(suite: dict[str, Any]) -> str:
    """The suite as Markdown: one table, a row per set, then what each set is."""
    meta = suite["meta"]
    lines = ["# Development suite", ""]
    limit = f", {meta['limit']} questions of each set, spread evenly" if meta.get("limit") else ""
    so_far = " so far" if any(r["status"] in ("pending", "running") for r in suite["rows"]) else ""
    lines += [
        f"Created {meta['created']}, k={meta['k']}{limit}, {_duration(meta['elapsed_s'])}{so_far}.",
        "",
    ]
    lines += table(COLUMNS, table_rows(suite))
    lines += ["", "Sets:", ""]
    for r in suite["rows"]:
        lines.append(
            f"- **{r['name']}**: {r['about'] or r['kind']}; `{_rel(r['set'])}` over `{_rel(r['docs'])}`"
        )
    lines += [
        "",
        "Key facts, citation recall, hit@k and false refusals are over answerable questions; "
        "refusal recall over unanswerable ones; follow-ups counts follow-up questions whose "
        "answer holds every key fact. For the labelled set hit@k is the share of questions "
        "whose passages hold a reference context. Time includes indexing. Floors are the "
        "per-set floors of the issue that set up the suite (`eval/suite_report.py`).",
    ]
    return "\n".join(lines) + "\n"
