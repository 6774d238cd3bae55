"""The evaluation set through the real embedded models, held to the answerer issue's floors:
key facts >= 0.90, citation precision >= 0.90, every unanswerable question refused, <= 5% false
refusals (``runner.check_floors``). Measured 2026-11-23 with the packaged model: key facts 0.918,
citation precision 1.00, refusal recall 1.00, false refusals 0.041; two runs gave the same 59
answers (greedy decoding). Speed is reported in the results (and by eval/bench.py), never
asserted here.
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

# Beyond the issue's floors: retrieval must keep finding the gold documents.
GUARDS = {"hit_at_k": (">=", 0.95)}


@pytest.mark.real
@pytest.mark.timeout(1800)  # 59 questions through the local model: about 6 min on 2 idle cores
def test_seeds_eval_meets_the_issue_floors(tmp_path, real_embedder):
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
    assert agg["errors"] == 0
    assert runner.check_floors(agg) == []
    for key, (op, bar) in GUARDS.items():
        value = agg[key]
        assert value is not None, key
        assert (value >= bar) if op == ">=" else (value <= bar), (
            f"{key} = {value:.3f}, guard {op} {bar}"
        )
