"""The judge's probe: its arithmetic, its file, when it applies, and how it is trained."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest

from eval.train_probe import (
    ACCEPTED,
    ENTAIL_MIN,
    EXTRACT_MIN,
    TRAIN_DIR,
    Features,
    apply,
    auc,
    fit,
    held_out,
    scale,
    train_files,
)
from eval.verify import DEFAULT_SET, load_pairs
from qa.judge import LlamaJudge, make_judge
from qa.judge_probe import ModelKey, Probe, matching, packaged, token_hash
from qa.settings import load_settings

KEY = ModelKey(n_params=10, size=20, n_embd=3, prefix=token_hash([1, 2, 3]))


def test_the_score_is_a_logistic_of_the_hidden_state_and_the_yes_log_odds():
    probe = Probe(KEY, weights=(0.5, -1.0, 2.0), yes_weight=0.25, bias=-0.1)
    hidden, p_yes = [1.0, 2.0, 0.5], 0.8
    z = -0.1 + 0.25 * math.log(0.8 / 0.2) + (0.5 - 2.0 + 1.0)
    assert probe.score(hidden, p_yes) == pytest.approx(1 / (1 + math.exp(-z)))
    # P(yes) of exactly 0 or 1 stays finite
    assert 0.0 < probe.score(hidden, 0.0) < probe.score(hidden, 1.0) < 1.0
    with pytest.raises(ValueError):
        probe.score([1.0, 2.0], p_yes)  # a hidden state of another width


def test_a_probe_round_trips_through_its_file(tmp_path: Path):
    probe = Probe(KEY, weights=(0.5, -1.0, 2.0), yes_weight=0.25, bias=-0.1, notes="n")
    path = tmp_path / "p.json"
    probe.save(path)
    assert Probe.from_json(json.loads(path.read_text())) == probe
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]  # no temporary file left


def test_a_probe_applies_only_to_the_model_and_prompt_it_was_trained_for(caplog):
    probe = Probe(KEY, weights=(0.0, 0.0, 0.0), yes_weight=1.0, bias=0.0)
    assert matching(probe, KEY) is probe
    assert matching(None, KEY) is None
    with caplog.at_level(logging.INFO, logger="qa.judge_probe"):
        other_prompt = ModelKey(10, 20, 3, token_hash([1, 2, 4]))
        assert matching(probe, other_prompt) is None
        assert matching(probe, ModelKey(11, 20, 3, KEY.prefix)) is None
    assert "plain P(yes)" in caplog.text


def test_the_packaged_probe_is_for_the_packaged_model_and_the_setting_turns_it_on():
    probe = packaged()
    assert probe is not None
    assert probe.key.n_embd == len(probe.weights) == 1536  # Qwen2.5-1.5B's width
    assert "judge_train" in probe.notes
    model = object()

    class WithModel:
        def llama(self):
            return model

    judge = make_judge(load_settings(check__probe="on"), WithModel())
    assert isinstance(judge, LlamaJudge) and judge._probe_file == probe
    for settings in (load_settings(), load_settings(check__probe="off")):  # off by default
        judge = make_judge(settings, WithModel())
        assert isinstance(judge, LlamaJudge) and judge._probe_file is None


def _features(x: np.ndarray, y: np.ndarray, p_yes: np.ndarray, framed: np.ndarray) -> Features:
    corpus = np.array(["a", "b", "c", "d"])[np.arange(len(y)) % 4]
    return Features([str(i) for i in range(len(y))], p_yes, x, y, corpus, framed)


def test_training_finds_the_direction_that_separates_the_labels():
    rng = np.random.default_rng(0)
    n = 400
    y = (rng.random(n) < 0.4).astype(float)
    x = rng.normal(size=(n, 8))
    x[:, 3] += 2.5 * (2 * y - 1)  # one informative dimension
    p_yes = np.full(n, 0.5)  # an uninformative judge
    f = _features(x, y, p_yes, np.zeros(n, bool))
    held = held_out(f, 10.0)
    assert auc(held, y) > 0.95
    beta = fit(f.x, y, 10.0)
    assert np.argmax(np.abs(beta[:-2])) == 3


def test_the_scale_puts_the_judges_thresholds_at_the_chosen_operating_points():
    rng = np.random.default_rng(1)
    n = 600
    y = (rng.random(n) < 0.5).astype(float)
    x = rng.normal(size=(n, 4))
    x[:, 0] += 1.5 * (2 * y - 1)
    framed = rng.random(n) < 0.5
    p_yes = np.clip(0.5 + 0.4 * (2 * y - 1) + rng.normal(scale=0.2, size=n), 0.01, 0.99)
    f = _features(x, y, p_yes, framed)
    held = held_out(f, 10.0)
    beta = fit(f.x, y, 10.0)
    scaled, note = scale(beta, f, held)
    # the ranking is unchanged; only the scale moves
    raw, new = apply(beta, f.x), apply(scaled, f.x)
    assert np.all(np.diff(new[np.argsort(raw)]) >= -1e-12)
    # a held-out score at the ACCEPTED quantile of supported claims maps to ENTAIL_MIN
    t1 = float(np.quantile(held[y == 1], 1 - ACCEPTED))
    z1 = math.log(t1 / (1 - t1))
    a = (scaled[:-1] @ np.ones(1 + 4)) / (beta[:-1] @ np.ones(1 + 4))  # the common factor
    b = scaled[-1] - a * beta[-1]
    assert 1 / (1 + math.exp(-(a * z1 + b))) == pytest.approx(ENTAIL_MIN)
    share = (p_yes[framed & (y == 1)] >= EXTRACT_MIN).mean()
    t2 = float(np.quantile(held[framed & (y == 1)], 1 - share))
    z2 = math.log(t2 / (1 - t2))
    assert 1 / (1 + math.exp(-(a * z2 + b))) == pytest.approx(EXTRACT_MIN)
    assert "a=" in note


def test_the_training_pairs_are_other_documents_than_verify_jsonl():
    files = train_files()
    assert len(files) >= 4
    unused = train_files(TRAIN_DIR / "unused")  # written, measured, not trained on
    train = [p for f in files + unused for p in load_pairs(f)]
    held = load_pairs(DEFAULT_SET)
    assert len(train) >= 1000
    assert not {p.corpus for p in train} & {p.corpus for p in held}
    assert not {p.passage for p in train} & {p.passage for p in held}
    assert len({p.id for p in train}) == len(train)
    # both labels and every hard edit in each file
    for f in files:
        pairs = load_pairs(f)
        edits = {p.edit for p in pairs}
        assert {"entity", "role", "relation", "negation", "number"} <= edits, f
        assert 0.3 < sum(p.supported for p in pairs) / len(pairs) < 0.6, f
