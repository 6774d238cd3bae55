"""The evaluation set through the real embedded models.

Two kinds of bar:
- the issue's floors (key facts >= 0.90, citation precision >= 0.90, every unanswerable
  question refused, <= 5% false refusals) are checked by ``runner.check_floors`` and printed;
  the packaged 1.5B model does not reach all of them yet (see README, "Evaluation");
- the figures measured on this machine are guarded below, a little under what was measured,
  so a change that makes answers, citations or refusals worse fails the suite.
Speed is reported in the results (and by eval/bench.py), never asserted here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval import runner
from eval.dataset import load_records
from qa.service import build_answerer, run_index
from qa.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent

# Measured 2026-11-23 with the packaged model (key facts 0.898, citation precision 1.00,
# refusal recall 1.00, false refusals 0.061), minus a margin for run-to-run noise.
GUARDS = {
    "key_fact_accuracy": (">=", 0.84),
    "citation_precision": (">=", 0.95),
    "refusal_recall": (">=", 0.90),
    "false_refusal_rate": ("<=", 0.12),
    "hit_at_k": (">=", 0.95),
}


@pytest.mark.real
def test_seeds_eval_holds_its_measured_quality(tmp_path, real_embedder):
    settings = load_settings(data_dir=tmp_path / "data")
    run_index(settings, [ROOT / "seeds"], real_embedder)
    answerer = build_answerer(settings, embedder=real_embedder)
    records = load_records(ROOT / "eval" / "seeds.jsonl")
    out = tmp_path / "eval"
    result = runner.run_eval(answerer, records, out, k=settings.retrieval.k, progress=False)
    for name in ("results.json", "report.md", "accuracy_by_type.png", "latency.png"):
        assert (out / name).stat().st_size > 0
    agg = result["aggregates"]
    print(json.dumps(agg, indent=2))
    print("issue floors not met:", runner.check_floors(agg))
    assert agg["errors"] == 0
    for key, (op, bar) in GUARDS.items():
        value = agg[key]
        assert value is not None, key
        assert (value >= bar) if op == ">=" else (value <= bar), (
            f"{key} = {value:.3f}, guard {op} {bar}"
        )
