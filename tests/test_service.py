"""Wiring in qa.service: the background model load and the answerer's re-index progress."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.errors import ModelError
from qa.library import Library
from qa.service import LazyGenerator, build_answerer, run_index
from qa.settings import load_settings


def test_a_failed_background_load_is_raised_where_the_model_is_needed(tmp_path: Path) -> None:
    settings = load_settings(llm__mode="local", llm__model_path=tmp_path / "missing.gguf")
    gen = LazyGenerator(settings)
    gen.preload()
    gen.preload()  # a second call starts nothing more
    with pytest.raises(ModelError, match="No model file"):
        gen.load()
    with pytest.raises(ModelError, match="No model file"):  # and again: never a silent None
        gen.load()


def test_fake_mode_loads_in_the_background_and_records_its_timings() -> None:
    gen = LazyGenerator(load_settings(llm__mode="fake"))
    gen.preload()
    assert gen.load().name == "fake"
    assert set(gen.timings) == {"load_ms", "prefix_ms"}


def test_reindex_reports_each_file(seeds_dir: Path, data_dir: Path) -> None:
    settings = load_settings(data_dir=data_dir, embed__mode="fake", llm__mode="fake")
    run_index(settings, [seeds_dir])
    (seeds_dir / "extra.txt").write_text("Extra\n\nThe harbour opens at six on weekdays.\n")
    calls: list[tuple[float, str]] = []
    library = Library(settings, build_answerer(settings).retriever)
    summary = library.reindex(lambda f, msg: calls.append((f, msg)))
    assert "1 added" in summary
    files = [msg for _, msg in calls if msg.startswith("Indexing:")]
    assert files and files[-1].startswith("Indexing: 6/6 files")
    assert calls[-1] == (1.0, "Done")
    assert all(0.0 <= f <= 1.0 for f, _ in calls)


@pytest.mark.real
def test_errors_are_printed_while_the_model_loads_in_the_background(tmp_path: Path) -> None:
    """llama-cpp-python silences a load by pointing fds 1 and 2 at /dev/null: with the load in
    a background thread, the main thread's error message would vanish with them."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    cmd = [sys.executable, "-m", "app.cli", "ask", "How many?", "--data-dir", str(tmp_path / "x")]
    for extra, stream in (([], "stderr"), (["--json"], "stdout")):
        done = subprocess.run([*cmd, *extra], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 1
        assert "No index at" in getattr(done, stream), (done.stdout, done.stderr)


def test_the_checks_numbers_come_from_settings_with_the_same_defaults(monkeypatch) -> None:
    import inspect

    from qa.citations import CheckTuning
    from qa.pipeline.vectors import SentenceVectors
    from qa.service import make_checker
    from qa.testing import HashEmbedder

    default = make_checker(load_settings(check__judge="off"), HashEmbedder())
    assert default.tuning == CheckTuning()  # the settings' defaults are the checker's
    capacity = inspect.signature(SentenceVectors).parameters["capacity"].default
    assert load_settings().retrieval.vector_cache == capacity
    monkeypatch.setenv("QA_CHECK_SIMILARITY_MIN", "0.7")
    monkeypatch.setenv("QA_CHECK_TERMS_MIN", "0.8")
    monkeypatch.setenv("QA_CHECK_JUDGE_CALLS", "2")
    monkeypatch.setenv("QA_CHECK_ENTAIL_MIN", "0.9")
    monkeypatch.setenv("QA_CHECK_RIVALS", "0")
    monkeypatch.setenv("QA_RETRIEVAL_VECTOR_CACHE", "10")
    settings = load_settings(check__judge="off")
    t = make_checker(settings, HashEmbedder()).tuning
    assert (t.similarity_min, t.terms_min, t.judged_per_sentence, t.entail_min) == (
        0.7,
        0.8,
        2,
        0.9,
    )
    assert t.rivals_max == 0
    assert settings.retrieval.vector_cache == 10
