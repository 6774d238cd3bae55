"""Indexing and retrieval with the real model work with no network at all (`unshare -n`).

The socket guard in conftest.py catches Python connections in the test process; this test
goes further: a child process in its own network namespace has no interface but a downed
loopback, so any download, telemetry call or DNS lookup at run time would fail it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

_SCRIPT = """
import json, sys
from pathlib import Path
from index.embedder import MiniLMEmbedder
from index.indexer import Indexer
from index.store import Store

seeds, data = Path(sys.argv[1]), Path(sys.argv[2])
embedder = MiniLMEmbedder(threads=1)
store = Store.open(data)
report = Indexer(store, embedder).run([seeds])
question = "Why does Putin consider resuming airstrikes on Aleppo inexpedient?"
hits = store.query(embedder.embed([question])[0], 4, store.committed())
print(json.dumps({"added": report.added, "chunks": store.count_chunks(),
                  "docs": [h.chunk.doc_id for h in hits]}))
"""


def _no_network_available() -> str | None:
    if shutil.which("unshare") is None:
        return "`unshare` is not installed"
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"`unshare -n` is not permitted here ({probe.stderr.strip() or probe.returncode})"
    return None


@pytest.mark.real
def test_index_and_query_without_a_network(seeds_dir: Path, tmp_path: Path) -> None:
    why = _no_network_available()
    if why:
        pytest.skip(f"cannot take the network away: {why}")
    # No offline switches and no warm caches: only what is installed may be used.
    env = {
        k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    }
    env.update(HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", _SCRIPT, str(seeds_dir), str(tmp_path / "data")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["added"] == 5 and result["chunks"] > 0
    assert result["docs"][0] == "seeds/001_0e8f7a4add8d36b7.txt"
