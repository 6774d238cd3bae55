"""`qa index` over one folder that holds every odd case at once: exit 0, every good file
indexed, one warning line per skipped entry, progress lines when stderr is not a terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main
from index.store import Store

ROOT = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.usefixtures("fake_models")


def odd_folder(tmp_path: Path) -> tuple[Path, dict[str, str], dict[str, str]]:
    """The folder, the doc ids it must index (with a phrase each), and the entries it must
    skip (with a word of the reason)."""
    outside = tmp_path / "outside"
    (outside / "folder").mkdir(parents=True)
    (outside / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (outside / "folder" / "o.txt").write_text("Outside text.\n")
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "locked").mkdir()
    good = {
        "docs/a.txt": "The ferry leaves the harbour at dawn.",
        "docs/b.md": "Copper kettles hang in the kitchen.",
        "docs/c.html": "The violin was made in Cremona.",
        "docs/sub/d.txt": "Quartz crystals glow under lamps.",
        "docs/caf\\xe9.txt": "Espresso is pulled in thirty seconds.",
        "docs/latin.txt": "Le caf\u00e9 de la gare ferme t\u00f4t.",
        "docs/win.txt": "A \u201cquiet\u201d fee of 5 \u20ac applies.",
        "docs/big.txt": "Line 4999 is about the orchard.",
    }
    (docs / "a.txt").write_text(good["docs/a.txt"] + "\n")
    (docs / "b.md").write_text("# Kettles\n\n" + good["docs/b.md"] + "\n")
    (docs / "c.html").write_text(f"<html><body><p>{good['docs/c.html']}</p></body></html>")
    (docs / "sub" / "d.txt").write_text(good["docs/sub/d.txt"] + "\n")
    with open(os.path.join(os.fsencode(docs), b"caf\xe9.txt"), "wb") as fh:
        fh.write(good["docs/caf\\xe9.txt"].encode() + b"\n")
    (docs / "latin.txt").write_bytes(good["docs/latin.txt"].encode("latin-1") + b"\n")
    (docs / "win.txt").write_bytes(good["docs/win.txt"].encode("cp1252") + b"\r\n")
    (docs / "big.txt").write_text(
        "".join(f"Line {i} is about the orchard. " for i in range(5000))
    )  # ~150 KB, several flushes: progress lines
    (docs / "locked" / "l.txt").write_text("Never read.\n")
    (docs / "passwd.txt").symlink_to(outside / "passwd")
    (docs / "elsewhere").symlink_to(outside / "folder")
    (docs / "sub" / "up").symlink_to(docs)
    (docs / "self.txt").symlink_to(docs / "self.txt")
    (docs / "gone.md").symlink_to(docs / "missing.md")
    (docs / "binary.txt").write_bytes(b"\x00\x01\x02 binary \x00" * 20)
    (docs / "empty.txt").write_bytes(b"")
    skipped = {
        str(docs / "passwd.txt"): "outside the indexed folder",
        str(docs / "elsewhere"): "outside the indexed folder",
        str(docs / "sub" / "up"): "link loop",
        str(docs / "self.txt"): "link loop",
        str(docs / "gone.md"): "broken link",
        str(docs / "locked"): "cannot be read",
        str(docs / "binary.txt"): "looks binary",
        str(docs / "empty.txt"): "is empty",
    }
    return docs, good, skipped


def test_one_odd_file_never_stops_a_folder(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import qa.progress

    docs, good, skipped = odd_folder(tmp_path)
    (docs / "locked").chmod(0)
    real_scandir = os.scandir

    def scandir(path):  # root reads any folder: fail as it would for anyone else
        if isinstance(path, str | os.PathLike) and os.fspath(path) == str(docs / "locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    if os.geteuid() == 0:
        monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(qa.progress, "EVERY_S", 0.0)  # a line on every event
    try:
        result = CliRunner().invoke(main, ["index", str(docs), "--data-dir", str(data_dir)])
    finally:
        (docs / "locked").chmod(0o755)
    assert result.exit_code == 0, result.output
    assert result.exception is None
    err = result.stderr.splitlines()
    warnings = [line for line in err if line.startswith("warning:")]
    assert len(warnings) == len(skipped), "\n".join(warnings)
    for path, why in skipped.items():
        mine = [w for w in warnings if w.startswith(f"warning: skipped {path}: it ")]
        assert len(mine) == 1 and why in mine[0], (path, warnings)
    assert not [line for line in err if line.startswith(("WARNING", "DEBUG", "Traceback"))]
    assert "/etc" not in result.stderr and str(tmp_path / "outside" / "folder" / "o") not in (
        result.stderr
    )

    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"{len(good)} added, 0 updated, 0 removed, 0 unchanged, 8 skipped")
    assert "decoded as cp1252: latin.txt, win.txt" in summary
    progress = [line for line in err if line.startswith("indexing: ")]
    assert progress and "chunks/s" in progress[-1] and "ETA" in progress[-1]
    assert f"/{len(good) + 2} files" in progress[-1]  # binary.txt and empty.txt too

    store = Store.open(data_dir)
    committed = store.committed()
    assert set(committed) == set(good)
    for doc_id, phrase in good.items():
        assert phrase in (store.document_text(doc_id) or ""), doc_id
    store.close()

    again = CliRunner().invoke(main, ["index", str(docs), "--data-dir", str(data_dir)])
    assert again.exit_code == 0 and f"{len(good)} unchanged" in again.stdout


def test_no_debug_lines_from_libraries(tmp_path: Path, data_dir: Path) -> None:
    """`qa ask` used to print `DEBUG bm25s Building index from tokens` on every call."""
    env = {**os.environ, "QA_EMBED_MODE": "fake", "QA_LLM_MODE": "fake"}
    qa = [sys.executable, "-c", "from app.cli import main; main()"]
    subprocess.run(
        [*qa, "index", str(ROOT / "seeds"), "--data-dir", str(data_dir)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    asked = subprocess.run(
        [*qa, "ask", "How many fighters surrendered?", "--data-dir", str(data_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert asked.returncode == 0, asked.stderr
    assert "DEBUG" not in asked.stderr and "bm25s" not in asked.stderr, asked.stderr


def test_progress_lines_are_spaced_and_say_files_chunks_rate_and_eta() -> None:
    from index.indexer import Progress
    from qa.progress import ProgressLines

    now = [0.0]
    lines: list[str] = []
    report = ProgressLines(lines.append, every_s=10.0, clock=lambda: now[0])
    for t in (1.0, 5.0, 10.5, 12.0, 21.0):
        now[0] = t
        report(Progress(3, 306, int(t * 40), t * 1e5, 2_000_000, t))
    assert lines == [
        "indexing: 3/306 files, 420 chunks, 40.0 chunks/s, 1.1 of 2.0 MB, ETA 10 s",
        "indexing: 3/306 files, 840 chunks, 40.0 chunks/s, 2.1 of 2.0 MB, ETA 0 s",
    ]
    now[0] = 40.0
    report(Progress(0, 1, 0, 0.0, 20_000_000, 40.0))
    assert lines[-1].endswith("0.0 of 20.0 MB, ETA unknown")
