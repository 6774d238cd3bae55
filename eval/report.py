"""Render eval results: a Markdown report and PNG plots (matplotlib, Agg canvas)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HEADLINE: tuple[tuple[str, str], ...] = (
    ("key_fact_accuracy", "Key-fact accuracy (answerable)"),
    ("hit_at_k", "Retrieval hit@k (answerable)"),
    ("mrr", "Retrieval MRR (answerable)"),
    ("citation_precision", "Citation precision (micro)"),
    ("citations_total", "Citations"),
    ("citation_recall", "Citation recall (cites a gold doc)"),
    ("refusal_precision", "Refusal precision"),
    ("refusal_recall", "Refusal recall (unanswerable refused)"),
    ("false_refusals", "False refusals"),
    ("false_refusal_rate", "False-refusal rate"),
    ("errors", "Errors"),
    ("first_token_ms_p50", "First token p50 (ms)"),
    ("first_token_ms_p95", "First token p95 (ms)"),
    ("total_ms_p50", "Total p50 (ms)"),
    ("total_ms_p95", "Total p95 (ms)"),
    ("context_tokens_mean", "Context tokens mean"),
    ("context_tokens_p50", "Context tokens p50"),
    ("repointed", "Citations repointed"),
    ("dropped", "Citations dropped"),
)
BY_TYPE: tuple[tuple[str, str], ...] = (
    ("n", "n"),
    ("key_fact_accuracy", "key facts"),
    ("hit_at_k", "hit@k"),
    ("mrr", "MRR"),
    ("citation_precision", "cit. precision"),
    ("citation_recall", "cit. recall"),
    ("refusal_rate", "refused"),
)


def fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.0f}"
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Markdown table lines; cells are formatted with ``fmt`` and pipes escaped."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return out


def _cell(value: Any) -> str:
    return (value if isinstance(value, str) else fmt(value)).replace("|", "\\|")


def failures(row: dict[str, Any]) -> list[str]:
    """Why one question failed (empty when it passed)."""
    s = row["scores"]
    if s["error"]:
        return [f"error: {s['error']}"]
    reasons = []
    if s["answerable"] and s["refused"]:
        reasons.append("refused an answerable question")
    if not s["answerable"] and not s["refused"]:
        reasons.append("answered an unanswerable question")
    if s["answerable"] and not s["refused"] and not s["key_facts_ok"]:
        missing = [g for g, hit in zip(row["key_facts"], s["key_facts"], strict=False) if not hit]
        reasons.append("key facts missing: " + "; ".join(" / ".join(g) for g in missing))
    wrong = s["citations_total"] - s["citations_correct"]
    if wrong:
        reasons.append(f"{wrong} of {s['citations_total']} citations not supported")
    if s["answerable"] and s["hit"] is False:
        reasons.append("no gold passage retrieved in top k")
    return reasons


def _severity(row: dict[str, Any]) -> float:
    s = row["scores"]
    if s["error"]:
        return 10
    sev = 0.0
    if bool(s["refused"]) != (not s["answerable"]):
        sev += 4
    if s["answerable"] and not s["key_facts_ok"]:
        sev += 3
    if s["citations_total"]:
        sev += 2 * (1 - s["citations_correct"] / s["citations_total"])
    if s["answerable"] and s["hit"] is False:
        sev += 0.5
    return sev


def render_report(results: dict[str, Any], worst: int = 10) -> str:
    """The Markdown report: headline aggregates, a table per question type, worst failures."""
    meta, agg = results.get("meta", {}), results["aggregates"]
    rows = results["questions"]
    lines = ["# Evaluation report", ""]
    lines.append(
        f"{meta.get('n', len(rows))} questions, k={meta.get('k', agg.get('k'))}, "
        f"created {meta.get('created', '?')}, {meta.get('elapsed_s', '?')} s."
    )
    lines.append("")
    floors = results.get("floors", [])
    if floors:
        lines += ["**Floors broken:**", "", *(f"- {f}" for f in floors), ""]
    else:
        lines += ["All floors hold.", ""]

    lines += ["## Headline", ""]
    lines += table(["metric", "value"], [(label, agg.get(key)) for key, label in HEADLINE])
    lines += ["", "## By question type", ""]
    by_type = agg.get("by_type", {})
    lines += table(
        ["type", *(label for _, label in BY_TYPE)],
        [(t, *(g.get(key) for key, _ in BY_TYPE)) for t, g in by_type.items()],
    )

    lines += _checks_table(agg.get("checks"))

    failed = sorted((r for r in rows if failures(r)), key=lambda r: (-_severity(r), r["id"]))
    lines += ["", f"## Worst failures ({min(worst, len(failed))} of {len(failed)})", ""]
    if not failed:
        lines.append("None.")
    for row in failed[:worst]:
        lines += _failure_block(row)
    return "\n".join(lines).rstrip() + "\n"


def _checks_table(checks: dict[str, dict[str, int]] | None) -> list[str]:
    """How often each acceptance check fired (qa/policy.py), and what it made of the answer;
    nothing for results written before checks were recorded."""
    if not checks:
        return []
    retry = checks.get("retry", {})
    judged = checks.get("judged_sentence", {}).get("quoted", 0)
    rows = [
        (name, c.get("fired", 0), c.get("refused", 0), c.get("extractive", 0))
        for name, c in checks.items()
        if name not in ("retry", "judged_sentence")
    ]
    return [
        "",
        "## Acceptance checks",
        "",
        *table(["check", "fired", "refused", "quoted a sentence instead"], rows),
        "",
        f"Second looks: {retry.get('fired', 0)}, answered: {retry.get('answered', 0)}. "
        f"Sentences the judge chose, quoted instead: {judged}.",
    ]


def _quote(text: str) -> list[str]:
    return ["> " + line for line in (text or "(empty)").splitlines()] or ["> (empty)"]


def _failure_block(row: dict[str, Any]) -> list[str]:
    s = row["scores"]
    out = [f"### {row['id']} ({row['type']}): {'; '.join(failures(row))}", ""]
    for q, a in row.get("history", []):
        out += [f"- earlier turn: {q} → {a}"]
    out += [f"- **Question:** {row['question']}"]
    facts = " AND ".join("(" + " / ".join(g) + ")" for g in row["key_facts"]) or "a refusal"
    out += [f"- **Expected:** {facts}; gold: {', '.join(row['gold']) or '-'}"]
    answer = row.get("answer")
    if answer is None:
        return out + [""]
    if answer.get("standalone_question"):
        out += [f"- **Rewritten as:** {answer['standalone_question']}"]
    out += [
        f"- **Answer** (refused: {fmt(answer.get('refused'))}):",
        "",
        *_quote(answer["answer"]),
        "",
    ]
    ok = {c["n"]: c["correct"] for c in s["citations"]}
    for c in answer.get("citations", []):
        mark = "✓" if ok.get(c["n"]) else "✗"
        quote = " ".join(c["quote"].split())
        out.append(f"  - {mark} [{c['n']}] {c['source']} line {c.get('line')}: “{quote}”")
    return out + [""]


# --- plots ---------------------------------------------------------------------------


def _canvas(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _val(v: Any) -> float:
    return float(v) if isinstance(v, int | float) else math.nan


def write_plots(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write ``accuracy_by_type.png`` and ``latency.png``; returns their paths."""
    out_dir = Path(out_dir)
    by_type = results["aggregates"].get("by_type", {})
    types = list(by_type)
    fig = _canvas(7, 4)
    ax = fig.add_subplot()
    series = (
        ("key_fact_accuracy", "key facts"),
        ("citation_precision", "citation precision"),
        ("refusal_rate", "refused"),
    )
    width = 0.8 / len(series)
    for i, (key, label) in enumerate(series):
        xs = [j + (i - 1) * width for j in range(len(types))]
        ax.bar(xs, [_val(by_type[t].get(key)) for t in types], width, label=label)
    ax.set_xticks(range(len(types)), [f"{t}\n(n={by_type[t]['n']})" for t in types])
    ax.set_ylim(0, 1.05)
    ax.axhline(0.9, color="grey", linestyle=":", linewidth=1)
    ax.set_title("Accuracy by question type")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    acc_path = out_dir / "accuracy_by_type.png"
    fig.savefig(acc_path)

    fig = _canvas(7, 4)
    ax = fig.add_subplot()
    rows = results["questions"]
    plotted = False
    for key, label in (("first_token_ms", "first token"), ("total_ms", "total")):
        vals = sorted(v for r in rows if (v := r["scores"].get(key)) is not None)
        if vals:
            ax.plot(
                vals,
                [(i + 1) / len(vals) for i in range(len(vals))],
                drawstyle="steps-post",
                label=label,
            )
            plotted = True
    if plotted:
        ax.set_xlabel("milliseconds")
        ax.set_ylabel("share of questions")
        ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        ax.axhline(0.95, color="grey", linestyle=":", linewidth=1)
        ax.legend(loc="lower right", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no timings recorded", ha="center", va="center")
    ax.set_title("Latency (cumulative)")
    fig.tight_layout()
    lat_path = out_dir / "latency.png"
    fig.savefig(lat_path)
    log.debug("plots written dir=%s", out_dir)
    return [acc_path, lat_path]
