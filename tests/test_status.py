"""`qa status` answers from a snapshot stamped with the generation marker: no model, no Chroma."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qa.errors import IndexMissingError
from qa.service import run_index
from qa.settings import load_settings
from qa.status import SNAPSHOT, index_status

ROOT = Path(__file__).resolve().parent.parent


def _settings(data_dir: Path):
    return load_settings(data_dir=data_dir, embed__mode="fake", llm__mode="fake")


def test_snapshot_follows_the_generation_marker(seeds_dir: Path, data_dir: Path) -> None:
    settings = _settings(data_dir)
    run_index(settings, [seeds_dir])
    first = index_status(settings)
    assert first["documents"] == 5 and first["chunks"] > 0
    assert first["embedder"] == "hash-bow" and first["generator"] == "fake"
    snap = json.loads((data_dir / SNAPSHOT).read_text())
    assert snap["marker"] == (data_dir / "generation").read_text().strip()
    assert index_status(settings) == first  # served from the snapshot

    (seeds_dir / "new.txt").write_text(
        "Title line\n\nA new document about ferries and timetables.\n"
    )
    run_index(settings, [seeds_dir])
    second = index_status(settings)  # the marker moved: read from the store again
    assert second["documents"] == 6
    assert any(s["doc_id"].endswith("new.txt") for s in second["sources"])


def test_a_stale_or_broken_snapshot_is_never_served(seeds_dir: Path, data_dir: Path) -> None:
    settings = _settings(data_dir)
    run_index(settings, [seeds_dir])
    (data_dir / SNAPSHOT).write_text(json.dumps({"marker": "old", "status": {"documents": 99}}))
    assert index_status(settings)["documents"] == 5
    (data_dir / SNAPSHOT).write_text("{not json")
    assert index_status(settings)["documents"] == 5


def test_missing_index_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="qa index"):
        index_status(_settings(tmp_path / "nothing"))


def _status_process(data_dir: Path, heavy: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    """``qa status --data-dir data_dir`` in a fresh process, which prints ``EXIT=<code>`` if
    the command exits and ``HEAVY=`` followed by those of ``heavy`` that it imported."""
    probe = (
        "import sys\n"
        "from app.cli import main\n"
        "try:\n"
        "    main(['status', '--data-dir', sys.argv[1]])\n"
        "except SystemExit as exc:\n"
        "    print('EXIT=%s' % exc.code)\n"
        f"heavy = [m for m in {heavy!r} if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    env = {**os.environ, "QA_EMBED_MODE": "fake", "QA_LLM_MODE": "fake"}
    return subprocess.run(
        [sys.executable, "-c", probe, str(data_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


def test_status_process_imports_no_model_and_no_chroma(seeds_dir: Path, data_dir: Path) -> None:
    settings = _settings(data_dir)
    run_index(settings, [seeds_dir])
    index_status(settings)  # writes the snapshot
    out = _status_process(data_dir, ("chromadb", "llama_cpp", "onnxruntime", "gradio")).stdout
    assert "5 documents" in out
    assert "HEAVY=\n" in out


def test_status_of_a_missing_index_is_said_before_chroma_is_imported(tmp_path: Path) -> None:
    done = _status_process(
        tmp_path / "nothing", ("chromadb", "qa.service", "llama_cpp", "onnxruntime")
    )
    assert "EXIT=1" in done.stdout
    assert "HEAVY=\n" in done.stdout
    assert "No index at" in done.stderr and "qa index" in done.stderr
