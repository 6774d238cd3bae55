"""Uploads from the web chat: saved into <data_dir>/uploads/, indexed like `qa index`, removable."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from qa.errors import InputError
from qa.library import Library, safe_name
from qa.service import build_answerer, run_index
from qa.settings import load_settings
from qa.testing import FakeGenerator
from ui import collection as tab


@pytest.fixture
def library(tmp_path: Path, data_dir: Path, fake_embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "own.md").write_text("# Own notes\n\nThe boiler was serviced in March.\n")
    settings = load_settings(data_dir=data_dir, index__max_file_mb=0.01)
    run_index(settings, [docs], fake_embedder)
    answerer = build_answerer(settings, embedder=fake_embedder, generator=FakeGenerator())
    return answerer, Library(settings, answerer.retriever)


def upload(tmp_path: Path, name: str, text: str | bytes) -> tuple[str, Path]:
    src = tmp_path / "gradio-tmp" / str(abs(hash((name, text))))
    src.mkdir(parents=True, exist_ok=True)
    path = src / "file"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return name, path


def test_safe_names_stay_in_the_folder() -> None:
    assert safe_name("notes.md") == "notes.md"
    assert safe_name("../../etc/passwd.txt") == "passwd.txt"
    assert safe_name("..\\..\\win.ini.txt") == "win.ini.txt"
    assert safe_name(".hidden.md") == "hidden.md"
    assert safe_name("a<b>|c?.md") == "a_b__c_.md"
    assert safe_name("café – notes.md") == "café _ notes.md"
    assert len(safe_name("x" * 500 + ".md")) <= 120
    for bad in ("..", "/", "\\..", "   ", "<>"):
        with pytest.raises(InputError):
            safe_name(bad)


def test_upload_is_saved_indexed_and_answerable(library, tmp_path: Path) -> None:
    answerer, lib = library
    steps: list[str] = []
    fractions: list[float] = []
    files = [
        upload(
            tmp_path, "../Pump manual.md", "# Pump manual\n\nThe Kestrel pump holds 20 liters.\n"
        ),
        upload(tmp_path, "photo.png", b"\x89PNG"),
        upload(tmp_path, "huge.txt", "x" * 20_000),
        upload(tmp_path, "empty.txt", ""),
    ]
    result = lib.add(files, lambda f, m: (fractions.append(f), steps.append(m)))
    assert result.saved == ["uploads/Pump manual.md"]
    assert [n for n, _ in result.rejected] == ["photo.png", "huge.txt", "empty.txt"]
    reasons = dict(result.rejected)
    assert ".png files are not indexed" in reasons["photo.png"]
    assert "0.02 MB is over the 0.01 MB limit" in reasons["huge.txt"]
    assert (lib.folder / "Pump manual.md").is_file() and lib.folder.parent == Path(
        answerer.retriever.store.data_dir
    ).resolve()
    assert sorted(p.name for p in lib.folder.iterdir()) == ["Pump manual.md"]  # no temp files
    assert steps[0].startswith("Saving") and steps[-1] == "Done"
    assert "Indexing: 1/1 files, 1 chunks" in steps  # the indexer's own progress, per file
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    status = answerer.status()
    assert {s["doc_id"] for s in status["sources"]} == {"docs/own.md", "uploads/Pump manual.md"}
    assert answerer.document("uploads/Pump manual.md")[1].startswith("# Pump manual")
    assert any(
        p.doc_id == "uploads/Pump manual.md" for p in answerer.retrieve("Kestrel pump liters")
    )
    assert lib.uploaded() == ["uploads/Pump manual.md"]


def test_a_second_file_with_the_same_name_never_replaces_the_first(library, tmp_path) -> None:
    _, lib = library
    lib.add([upload(tmp_path, "notes.txt", "First notes about the pump.")])
    again = lib.add([upload(tmp_path, "notes.txt", "First notes about the pump.")])
    assert again.saved == ["uploads/notes.txt"] and again.report.unchanged >= 1
    other = lib.add([upload(tmp_path, "notes.txt", "Other notes about the valve.")])
    assert other.saved == ["uploads/notes-2.txt"]
    assert (lib.folder / "notes.txt").read_text() == "First notes about the pump."


def test_remove_deletes_an_upload_but_never_the_users_own_files(library, tmp_path) -> None:
    answerer, lib = library
    lib.add([upload(tmp_path, "old.md", "# Old\n\nAn outdated note about the pump.\n")])
    report = lib.remove("uploads/old.md")
    assert report.removed == 1 and not (lib.folder / "old.md").exists()
    assert answerer.document("uploads/old.md") is None
    assert [s["doc_id"] for s in answerer.status()["sources"]] == ["docs/own.md"]
    with pytest.raises(InputError, match="not an uploaded document"):
        lib.remove("docs/own.md")
    with pytest.raises(InputError):
        lib.remove("uploads/../../docs/own.md")
    assert (tmp_path / "docs" / "own.md").exists()


def test_collection_tab_handlers_report_progress_and_errors(library, tmp_path) -> None:
    answerer, lib = library
    calls: list[str] = []
    progress = lambda f, m: calls.append(m)  # noqa: E731
    out = tab.add(
        answerer, lib, [str(upload(tmp_path, "pump.md", "# Pump\n\nIt hums.\n")[1])], progress
    )
    # a bare path has no original name: the temporary file's own name is used, and refused
    assert "qa-error" in out and "no extension files are not indexed" in html.unescape(out)

    class Uploaded:  # what Gradio hands over: the temporary path and the original name
        def __init__(self, name: str, path: Path) -> None:
            self.orig_name, self.path = name, str(path)

    out = tab.add(
        answerer, lib, [Uploaded(*upload(tmp_path, "pump.md", "# Pump\n\nIt hums.\n"))], progress
    )
    assert "Added 1 file" in out and "uploads/pump.md" in out
    assert re.search(r"uploads/pump\.md</code>", out) and 'class="qa-tag">uploaded<' in out
    assert "Saving pump.md" in calls and calls[-1] == "Done"
    assert "Choose one or more files" in tab.add(answerer, lib, [], progress)
    assert "Pick an uploaded document" in tab.remove(answerer, lib, None, progress)
    out = tab.remove(answerer, lib, "docs/own.md", progress)
    assert "delete the file there and re-index" in html.unescape(out)
    out = tab.remove(answerer, lib, "uploads/pump.md", progress)
    assert "Removed uploads/pump.md" in out and "uploads/pump.md</code>" not in out
    assert "not available" in tab.add(answerer, None, [], progress)
