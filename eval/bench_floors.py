"""The floors the benchmark's figures are held to, printed next to each figure.

A floor is ``(section, figure) -> (op, value)``: ``<=`` for times and memory, ``>=`` for rates.
They are the product's promises on this 2-core machine (seeds unless said otherwise), so a
run shows at a glance which ones hold. Figures without a floor are context.
"""

from __future__ import annotations

from typing import Any

FLOORS: dict[tuple[str, str], tuple[str, float]] = {
    ("cold_breakdown", "first_answer_char_ms"): ("<=", 4000.0),  # a cold `qa ask`, p50
    ("quick_commands", "help_p50_ms"): ("<=", 500.0),
    ("quick_commands", "status_p50_ms"): ("<=", 500.0),
    ("answer", "first_token_p50_ms"): ("<=", 2500.0),  # warm
    ("answer", "total_p50_ms"): ("<=", 7000.0),
    ("chat_memory", "chat_peak_rss_mb"): ("<=", 3072.0),
    ("index", "squad_chunks_per_s"): (">=", 50.0),  # qa index of squad2_dev/docs, end to end
    ("index", "squad_share_of_ceiling_pct"): (">=", 90.0),
    ("scale", "retrieve_p50_ms_at_largest"): ("<=", 50.0),  # hybrid, 50k+ chunks
}


def check(section: str, figure: str, value: Any) -> str:
    """``"<= 4000 ok"`` / ``">= 50 MISSED"`` for a figure with a floor, else ``""``."""
    floor = FLOORS.get((section, figure))
    if floor is None or not isinstance(value, (int, float)):
        return ""
    op, bound = floor
    met = value <= bound if op == "<=" else value >= bound
    return f"{op} {bound:g} {'ok' if met else 'MISSED'}"


def floors_report(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every floor with its figure (None when that section did not run) and whether it holds."""
    out: dict[str, Any] = {}
    for (section, figure), (op, bound) in FLOORS.items():
        value = results.get(section, {}).get(figure)
        verdict = check(section, figure, value)
        out[f"{section}.{figure}"] = {
            "floor": f"{op} {bound:g}",
            "value": value,
            "met": None if not verdict else verdict.endswith("ok"),
        }
    return out
