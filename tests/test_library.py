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
from tests.ui_fakes import FakeDocuments
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


SEEDS_004 = "seeds/004_2498656e7b287085.txt"


@pytest.fixture
def seeds(seeds_dir: Path, data_dir: Path, fake_embedder):
    """The answerer and the library over one index of seeds/: two objects, one retriever."""
    settings = load_settings(data_dir=data_dir, embed__mode="fake", llm__mode="fake")
    run_index(settings, [seeds_dir], fake_embedder)
    answerer = build_answerer(settings, embedder=fake_embedder, generator=FakeGenerator())
    return answerer, Library(settings, answerer.retriever, generator="fake"), seeds_dir


def test_status_lists_documents(seeds) -> None:
    answerer, lib, _ = seeds
    info = lib.status()
    assert info["documents"] == 5 and info["chunks"] > 5
    assert {s["doc_id"] for s in info["sources"]} >= {SEEDS_004}
    assert info["embedder"] == "hash-bow" and info["generator"] == "fake"
    assert not any(hasattr(answerer, m) for m in ("status", "document", "reindex"))


def test_document_returns_original_text(seeds) -> None:
    _, lib, seeds_dir = seeds
    title, text = lib.document(SEEDS_004)
    assert text == (seeds_dir / "004_2498656e7b287085.txt").read_text()
    assert title.startswith("Kremlin rules out")
    assert lib.document("nope.txt") is None


def test_reindex_uses_the_indexed_folders_and_the_answerer_sees_it(seeds) -> None:
    answerer, lib, seeds_dir = seeds
    (seeds_dir / "000_189bb96c564e9f36.txt").unlink()
    (seeds_dir / "new.txt").write_text("The zebra festival in Quokkaville drew 12,345 visitors.\n")
    calls: list[tuple[float, str]] = []
    summary = lib.reindex(lambda f, msg: calls.append((f, msg)))
    assert "1 added" in summary and "1 removed" in summary
    assert lib.status()["documents"] == 5
    assert calls[0] == (0.0, "Re-indexing 1 folder(s)") and calls[-1] == (1.0, "Done")
    files = [msg for _, msg in calls if msg.startswith("Indexing:")]
    assert files and files[-1].startswith("Indexing: 5/5 files")
    assert [f for f, _ in calls] == sorted(f for f, _ in calls)
    assert answerer.retrieve("zebra festival Quokkaville")[0].doc_id == "seeds/new.txt"


def test_reindex_says_before_it_cuts_files_again_with_new_chunk_settings(
    seeds_dir: Path, data_dir: Path, fake_embedder
) -> None:
    settings = load_settings(data_dir=data_dir, embed__mode="fake", llm__mode="fake")
    run_index(settings, [seeds_dir], fake_embedder)
    smaller = settings.model_copy(
        update={"index": settings.index.model_copy(update={"chunk_tokens": 120})}
    )
    answerer = build_answerer(smaller, embedder=fake_embedder, generator=FakeGenerator())
    calls: list[tuple[float, str]] = []
    summary = Library(smaller, answerer.retriever).reindex(lambda f, m: calls.append((f, m)))
    # The page shows the same line `qa index` prints, before the long work, then the count.
    assert (0.0, "Re-chunking 5 files: the chunk settings changed") in calls
    assert "5 re-chunked" in summary


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
    status = lib.status()
    assert {s["doc_id"] for s in status["sources"]} == {"docs/own.md", "uploads/Pump manual.md"}
    assert lib.document("uploads/Pump manual.md")[1].startswith("# Pump manual")
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
    assert lib.document("uploads/old.md") is None
    assert [s["doc_id"] for s in lib.status()["sources"]] == ["docs/own.md"]
    with pytest.raises(InputError, match="not an uploaded document"):
        lib.remove("docs/own.md")
    with pytest.raises(InputError):
        lib.remove("uploads/../../docs/own.md")
    assert (tmp_path / "docs" / "own.md").exists()


def test_collection_tab_handlers_report_progress_and_errors(library, tmp_path) -> None:
    answerer, lib = library
    calls: list[str] = []
    progress = lambda f, m: calls.append(m)  # noqa: E731
    out = tab.add(lib, [str(upload(tmp_path, "pump.md", "# Pump\n\nIt hums.\n")[1])], progress)
    # a bare path has no original name: the temporary file's own name is used, and refused
    assert "qa-error" in out and "no extension files are not indexed" in html.unescape(out)

    class Uploaded:  # what Gradio hands over: the temporary path and the original name
        def __init__(self, name: str, path: Path) -> None:
            self.orig_name, self.path = name, str(path)

    out = tab.add(lib, [Uploaded(*upload(tmp_path, "pump.md", "# Pump\n\nIt hums.\n"))], progress)
    assert "Added 1 file" in out and "uploads/pump.md" in out
    assert re.search(r"uploads/pump\.md</code>", out) and 'class="qa-tag">uploaded<' in out
    assert "Saving pump.md" in calls and calls[-1] == "Done"
    assert "Choose one or more files" in tab.add(lib, [], progress)
    assert "Pick an uploaded document" in tab.remove(lib, None, progress)
    out = tab.remove(lib, "docs/own.md", progress)
    assert "delete the file there and re-index" in html.unescape(out)
    out = tab.remove(lib, "uploads/pump.md", progress)
    assert "Removed uploads/pump.md" in out and "uploads/pump.md</code>" not in out
    assert "not available" in tab.add(FakeDocuments(), [], progress)  # no uploads
