"""The evaluation set through the real embedded models: the quality floors must hold.

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


@pytest.mark.real
def test_seeds_eval_meets_the_floors(tmp_path, real_embedder):
    settings = load_settings(data_dir=tmp_path / "data")
    run_index(settings, [ROOT / "seeds"], real_embedder)
    answerer = build_answerer(settings, embedder=real_embedder)
    records = load_records(ROOT / "eval" / "seeds.jsonl")
    out = tmp_path / "eval"
    result = runner.run_eval(answerer, records, out, k=settings.retrieval.k, progress=False)
    for name in ("results.json", "report.md", "accuracy_by_type.png", "latency.png"):
        assert (out / name).stat().st_size > 0
    agg = result["aggregates"]
    print(json.dumps(agg, indent=2))  # shown with -s and in the CI log on failure
    assert runner.check_floors(agg) == [], runner.check_floors(agg)
