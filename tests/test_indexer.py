"""Incremental indexing: idempotent re-runs, edits, deletions, bad files, crashes and locks."""

from __future__ import annotations

import collections
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from index.chunking import chunk_document
from index.indexer import IndexBusyError, Indexer, IndexReport, index_lock
from index.loaders import LoadError, load, walk
from index.store import Store

ROOT = Path(__file__).resolve().parent.parent
EXTS = (".txt", ".md", ".html", ".htm", ".pdf")
WRITES = (
    "add_chunks",
    "add_many",
    "commit",
    "commit_many",
    "uncommit",
    "uncommit_many",
    "delete_stale_chunks",
    "delete_stale_many",
    "delete_version",
    "purge_orphans",
    "set_state",
    "bump_generation",
)


class SpyStore(Store):
    """Records every write, and raises KeyboardInterrupt on the ``stop_at``-th call of ``stop_on``."""

    def __init__(self, client, stop_on: str | None = None, stop_at: int = 0) -> None:
        super().__init__(client)
        self.calls: list[str] = []
        self.stop_on, self.stop_at = stop_on, stop_at

    def __getattribute__(self, name: str):
        attr = super().__getattribute__(name)
        if name not in WRITES:
            return attr

        def recorded(*args, **kwargs):
            self.calls.append(name)
            if name == self.stop_on and self.calls.count(name) == self.stop_at:
                raise KeyboardInterrupt
            return attr(*args, **kwargs)

        return recorded


class InterruptingEmbedder:
    """Embeds like ``inner`` and raises KeyboardInterrupt on call number ``stop_at``."""

    def __init__(self, inner, stop_at: int) -> None:
        self.inner, self.stop_at, self.calls = inner, stop_at, 0
        self.name, self.dim = inner.name, inner.dim
        self.count_tokens, self.token_spans = inner.count_tokens, inner.token_spans

    def embed(self, texts):
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        return self.inner.embed(texts)


def expected_chunks(embedder, *roots: Path) -> int:
    """What a complete index of ``roots`` holds (Indexer defaults, unreadable files left out)."""
    total = 0
    for root in roots:
        for source in walk(root, list(EXTS)):
            try:
                doc = load(source)
            except LoadError:
                continue
            total += len(chunk_document(doc, embedder.count_tokens, embedder.token_spans, 200, 1))
    return total


def assert_consistent(store: Store) -> dict:
    """Readers see exactly the committed documents' chunks: no duplicates, no half documents."""
    committed = store.committed()
    visible = list(store.iter_chunks(committed))
    ids = [c.chunk_id for c in visible]
    assert len(ids) == len(set(ids)), "duplicate chunks are visible"
    per_doc = collections.Counter(c.doc_id for c in visible)
    assert per_doc == {d: r.chunks for d, r in committed.items() if r.chunks}
    for doc_id, rec in committed.items():
        want = {f"{doc_id}::{rec.content_hash}::{i}" for i in range(rec.chunks)}
        assert {c.chunk_id for c in visible if c.doc_id == doc_id} == want
    # Each chunk is a slice of its document's committed version, not of an older one.
    texts = {d: store.document_text(d) for d in committed}
    for c in visible:
        assert texts[c.doc_id][c.start : c.end] == c.text
    return committed


def top_doc(store: Store, embedder, text: str) -> str | None:
    hits = store.query(embedder.embed([text])[0], 1, store.committed())
    return hits[0].chunk.doc_id if hits else None


def make_corpus(root: Path, n_files: int, seed: int = 0) -> None:
    """Small English-like files, each with a unique marker word."""
    rng = random.Random(seed)
    words = (
        "river stone market engine garden lantern harbour violin copper meadow orbit canyon "
        "thunder pepper quartz signal ferry tide orchard bridge"
    ).split()
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n_files):
        sentences = [
            " ".join(rng.choice(words) for _ in range(rng.randint(6, 14))).capitalize()
            + f" marker{i}x{j}."
            for j in range(rng.randint(1, 4))
        ]
        (root / f"f{i:04d}.txt").write_text(f"Note {i}\n\n" + " ".join(sentences) + "\n")


def run(store: Store, embedder, *targets: Path, **kwargs) -> IndexReport:
    return Indexer(store, embedder, **kwargs).run(list(targets))


# -- the normal life of an index -----------------------------------------------------------


def test_index_seeds(store: Store, fake_embedder, seeds_dir: Path) -> None:
    report = run(store, fake_embedder, seeds_dir)
    n = expected_chunks(fake_embedder, seeds_dir)
    assert (report.added, report.updated, report.removed, report.skipped) == (5, 0, 0, [])
    assert report.chunks_written == n == store.count_chunks()
    committed = assert_consistent(store)
    assert sorted(committed) == sorted(f"seeds/{p.name}" for p in seeds_dir.iterdir())
    assert all(r.root == str(seeds_dir.resolve()) for r in committed.values())
    assert store.generation() and store.state()["dirty"] is False
    assert top_doc(store, fake_embedder, "Vitaly Churkin envoy tactical tricks regroup") == (
        "seeds/004_2498656e7b287085.txt"
    )
    assert "5 added" in report.summary()
    assert (report.total_documents, report.total_chunks) == (len(committed), n)


def test_reindex_writes_nothing(store: Store, fake_embedder, seeds_dir: Path) -> None:
    run(store, fake_embedder, seeds_dir)
    count, gen = store.count_chunks(), store.generation()
    spy = SpyStore(store.client)
    report = run(spy, fake_embedder, seeds_dir)
    assert (report.unchanged, report.chunks_written, report.changed) == (5, 0, False)
    assert spy.calls == []  # not a single write reached Chroma
    assert store.count_chunks() == count and store.generation() == gen


def test_an_edited_file_replaces_its_old_chunks(
    store: Store, fake_embedder, seeds_dir: Path
) -> None:
    run(store, fake_embedder, seeds_dir)
    path = seeds_dir / "002_e50b3248676841e1.txt"
    path.write_text(
        path.read_text().replace("507 fighters", "611 fighters") + "\nA brand new closing line.\n"
    )
    gen = store.generation()
    report = run(store, fake_embedder, seeds_dir)
    assert (report.updated, report.unchanged, report.added) == (1, 4, 0)
    assert store.generation() != gen
    assert store.count_chunks() == expected_chunks(fake_embedder, seeds_dir)
    assert_consistent(store)
    doc_id = "seeds/002_e50b3248676841e1.txt"
    stored = store.chunks.get(where={"doc_id": doc_id}, include=["documents"])
    assert not any("507 fighters" in t for t in stored["documents"])  # gone, not just hidden
    assert any("611 fighters" in t for t in stored["documents"])
    hits = store.query(
        fake_embedder.embed(["507 fighters chose to leave"])[0], 30, store.committed()
    )
    assert not any("507 fighters" in h.chunk.text for h in hits)


def test_a_deleted_file_is_removed(store: Store, fake_embedder, seeds_dir: Path) -> None:
    run(store, fake_embedder, seeds_dir)
    (seeds_dir / "000_189bb96c564e9f36.txt").unlink()
    report = run(store, fake_embedder, seeds_dir)
    assert (report.removed, report.unchanged) == (1, 4)
    assert "seeds/000_189bb96c564e9f36.txt" not in store.committed()
    assert store.chunks.get(where={"doc_id": "seeds/000_189bb96c564e9f36.txt"})["ids"] == []
    assert store.count_chunks() == expected_chunks(fake_embedder, seeds_dir)
    assert_consistent(store)


def test_bad_files_are_skipped_and_named(
    store: Store, fake_embedder, seeds_dir: Path, caplog
) -> None:
    run(store, fake_embedder, seeds_dir)
    (seeds_dir / "bad.txt").write_bytes(b"\x00\x01binary\x00" * 50)
    (seeds_dir / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    (seeds_dir / "new.md").write_text("# Ferries\n\nThe ferry leaves the harbour at dawn.\n")
    with caplog.at_level(logging.INFO, logger="index.indexer"):
        report = run(store, fake_embedder, seeds_dir)
    skipped = dict(report.skipped)
    assert set(skipped) == {str(seeds_dir / "bad.txt"), str(seeds_dir / "broken.pdf")}
    assert "binary" in skipped[str(seeds_dir / "bad.txt")]
    assert "not a readable PDF" in skipped[str(seeds_dir / "broken.pdf")]
    # Logged once at INFO: the caller shows report.skipped (the CLI prints one line each).
    logged = " ".join(r.getMessage() for r in caplog.records if r.name == "index.indexer")
    assert "bad.txt" in logged and "broken.pdf" in logged
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert (report.added, report.unchanged) == (1, 5)
    assert len(store.committed()) == 6
    assert top_doc(store, fake_embedder, "ferry leaves the harbour at dawn") == "seeds/new.md"
    assert_consistent(store)


def test_a_file_that_turns_bad_keeps_its_last_good_version(
    store: Store, fake_embedder, seeds_dir: Path
) -> None:
    run(store, fake_embedder, seeds_dir)
    path = seeds_dir / "004_2498656e7b287085.txt"
    path.write_bytes(b"Kremlin\x00\x01binary")
    report = run(store, fake_embedder, seeds_dir)
    assert [p for p, _ in report.skipped] == [str(path)] and report.removed == 0
    assert "seeds/004_2498656e7b287085.txt" in store.committed()
    assert (
        top_doc(store, fake_embedder, "Vitaly Churkin envoy tactical tricks")
        == "seeds/004_2498656e7b287085.txt"
    )


def test_a_missing_target_writes_nothing(
    store: Store, fake_embedder, seeds_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        run(store, fake_embedder, seeds_dir, tmp_path / "nowhere")
    assert store.count_chunks() == 0 and store.state() == {}


def test_other_roots_and_single_files_are_left_alone(
    store: Store, fake_embedder, seeds_dir: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_text("Quartz crystals glow under lamps.\n")
    single = tmp_path / "single.md"
    single.write_text("# Solo\n\nA lone file about violins.\n")
    run(store, fake_embedder, seeds_dir)
    run(store, fake_embedder, other, single)
    assert len(store.committed()) == 7
    (seeds_dir / "000_189bb96c564e9f36.txt").unlink()
    report = run(store, fake_embedder, seeds_dir)  # only seeds/ records may be removed
    assert report.removed == 1
    assert {"other/x.txt", "single.md"} <= set(store.committed())
    assert store.count_chunks() == expected_chunks(fake_embedder, seeds_dir, other, single)
    assert_consistent(store)


def test_pdf_pages_reach_the_index(store: Store, fake_embedder, tmp_path: Path) -> None:
    from test_loaders import make_pdf

    folder = tmp_path / "pdfs"
    folder.mkdir()
    pages = [
        f"Page {p} is about {word}. " * 30
        for p, word in ((1, "apples"), (2, "pears"), (3, "plums"))
    ]
    (folder / "r.pdf").write_bytes(make_pdf([p.strip() for p in pages]))
    run(store, fake_embedder, folder, chunk_tokens=64)
    hits = store.query(fake_embedder.embed(["Page 3 is about plums"])[0], 1, store.committed())
    assert hits[0].chunk.page == 3 and hits[0].chunk.doc_id == "pdfs/r.pdf"
    assert {c.page for c in store.iter_chunks(store.committed())} == {1, 2, 3}


# -- crashes -------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["embedder", "store"])
def test_an_interrupted_run_leaves_the_previous_state_and_resumes(
    store: Store, fake_embedder, tmp_path: Path, where: str
) -> None:
    corpus = tmp_path / "corpus"
    make_corpus(corpus, 40)
    if where == "embedder":  # dies while embedding the second batch: nothing half-written
        store_, embedder = store, InterruptingEmbedder(fake_embedder, stop_at=2)
    else:  # dies after the 3rd flush's new chunks are written, before their records
        store_ = SpyStore(store.client, stop_on="commit_many", stop_at=3)
        embedder = fake_embedder
    with pytest.raises(KeyboardInterrupt):
        run(store_, embedder, corpus, flush_chunks=8)
    assert store.state()["dirty"] is True
    assert store.generation()  # readers are told to reload what was committed before the stop
    committed = assert_consistent(store)
    assert 0 < len(committed) < 40
    orphans = store.count_chunks() - sum(r.chunks for r in committed.values())
    # The store wrapper stops between a flush's chunks and its records: a flush of orphans.
    if where == "embedder":
        assert orphans == 0
    else:
        assert orphans >= 8 and store_.calls.count("add_many") == 3
    some = sorted(committed)[0]
    assert top_doc(store, fake_embedder, store.document_text(some) or "") == some
    gen = store.generation()

    report = run(store, fake_embedder, corpus, flush_chunks=8)
    assert report.orphans_purged == orphans
    assert report.unchanged == len(committed) and report.added == 40 - len(committed)
    assert store.count_chunks() == expected_chunks(fake_embedder, corpus)
    assert len(assert_consistent(store)) == 40
    assert store.state()["dirty"] is False and store.generation() != gen


def test_an_interrupted_update_keeps_old_versions_whole(
    store: Store, fake_embedder, seeds_dir: Path
) -> None:
    run(store, fake_embedder, seeds_dir)
    for path in seeds_dir.iterdir():
        path.write_text(path.read_text().replace("Aleppo", "Halab") + "\nRevised.\n")
    spy = SpyStore(store.client, stop_on="commit", stop_at=3)
    with pytest.raises(KeyboardInterrupt):
        run(spy, fake_embedder, seeds_dir, flush_chunks=1)
    committed = assert_consistent(store)
    visible = [c.text for c in store.iter_chunks(committed)]
    old = [t for t in visible if "Aleppo" in t]
    new = [t for t in visible if "Halab" in t]
    assert old and new  # two documents updated, three still whole in their old version
    report = run(store, fake_embedder, seeds_dir)
    assert (report.updated, report.unchanged) == (3, 2)
    assert not any("Aleppo" in c.text for c in store.iter_chunks(store.committed()))
    assert store.count_chunks() == expected_chunks(fake_embedder, seeds_dir)
    assert_consistent(store)


_KILLABLE = """
import sys
from pathlib import Path
from qa.testing import HashEmbedder
from index.indexer import Indexer
from index.store import Store

class Loud(Store):
    def commit_many(self, items, **kwargs):
        super().commit_many(items, **kwargs)
        for _ in items:
            print("committed", flush=True)

store = Loud(Store.open(Path(sys.argv[1])).client)
Indexer(store, HashEmbedder(), flush_chunks=8).run([Path(sys.argv[2])])
print("finished", flush=True)
"""


def test_a_killed_indexing_process_resumes(tmp_path: Path, data_dir: Path, fake_embedder) -> None:
    corpus, data = tmp_path / "corpus", data_dir
    make_corpus(corpus, 200)
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLABLE, str(data), str(corpus)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        seen = 0
        for line in child.stdout:
            seen += line.startswith("committed")
            if seen == 60:
                os.kill(child.pid, signal.SIGKILL)  # mid-run, wherever the writer is now
                break
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL, child.stderr.read() if child.stderr else ""

    store = Store.open(data)
    assert store.state()["dirty"] is True
    committed = assert_consistent(store)
    assert 60 <= len(committed) < 200
    some = sorted(committed)[len(committed) // 2]
    assert top_doc(store, fake_embedder, store.document_text(some) or "") == some
    orphans = store.count_chunks() - sum(r.chunks for r in committed.values())

    report = run(store, fake_embedder, corpus)
    assert report.orphans_purged == orphans
    assert report.unchanged == len(committed) and report.added == 200 - len(committed)
    assert store.count_chunks() == expected_chunks(fake_embedder, corpus)
    assert len(assert_consistent(store)) == 200
    store.close()


def test_losing_the_records_rebuilds_without_duplicates(
    store: Store, fake_embedder, seeds_dir: Path
) -> None:
    run(store, fake_embedder, seeds_dir)
    before = store.count_chunks()
    (seeds_dir / "003_16b6c4656c877404.txt").unlink()  # its chunks would be left forever
    store.client.delete_collection("qa-docs")
    fresh = Store(store.client)
    assert fresh.committed() == {} and fresh.state() == {} and fresh.count_chunks() == before
    report = run(fresh, fake_embedder, seeds_dir)
    assert report.orphans_purged == before  # every chunk lost its record
    assert report.added == 4
    assert fresh.count_chunks() == expected_chunks(fake_embedder, seeds_dir)
    assert_consistent(fresh)


# -- batched writes, large documents, progress ---------------------------------------------


class CountingEmbedder:
    """Embeds like ``inner`` and counts the texts it was given."""

    def __init__(self, inner) -> None:
        self.inner, self.texts = inner, 0
        self.name, self.dim = inner.name, inner.dim
        self.count_tokens, self.token_spans = inner.count_tokens, inner.token_spans

    def embed(self, texts):
        self.texts += len(texts)
        return self.inner.embed(texts)


def write_big(path: Path, sentences: int, word: str = "lantern") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(f"Line {i} holds the {word} marker{i} and some words. " for i in range(sentences))
    )


def test_writes_are_batched_per_flush(store: Store, fake_embedder, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    make_corpus(corpus, 60)
    spy = SpyStore(store.client)
    report = run(spy, fake_embedder, corpus, flush_chunks=32)
    flushes = spy.calls.count("add_many")
    assert report.added == 60 and flushes == spy.calls.count("commit_many")
    assert flushes == -(-report.chunks_written // 32) or flushes == report.chunks_written // 32 + 1
    assert flushes <= 5 and "add_chunks" not in spy.calls and "commit" not in spy.calls
    assert_consistent(store)
    for path in sorted(corpus.iterdir())[:20]:  # updates: one batched delete per flush
        path.write_text(path.read_text() + "An added closing line.\n")
    spy.calls.clear()
    report = run(spy, fake_embedder, corpus, flush_chunks=32)
    assert report.updated == 20 and spy.calls.count("delete_stale_many") <= 3
    assert store.count_chunks() == expected_chunks(fake_embedder, corpus)
    assert_consistent(store)


def test_threaded_and_inline_runs_write_the_same_index(
    data_dir: Path, fake_embedder, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    make_corpus(corpus, 30)
    write_big(corpus / "big.txt", 200)
    got = []
    for threaded in (True, False):
        store = Store.open(data_dir / str(threaded))
        Indexer(store, fake_embedder, flush_chunks=16, threaded=threaded).run([corpus])
        chunks = store.chunks.get(include=["embeddings", "documents"])
        got.append(dict(zip(chunks["ids"], chunks["documents"], strict=True)))
        assert_consistent(store)
        store.close()
    assert got[0] == got[1] and len(got[0]) == expected_chunks(fake_embedder, corpus)


def test_a_large_document_is_written_in_parts_and_resumed(
    store: Store, fake_embedder, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    make_corpus(corpus, 3)
    write_big(corpus / "zbig.txt", 2000)
    total = expected_chunks(fake_embedder, corpus)
    # Dies on the 5th embedding call: one flush of small files, then three parts of big.txt.
    dying = InterruptingEmbedder(fake_embedder, stop_at=5)
    with pytest.raises(KeyboardInterrupt):
        run(store, dying, corpus, flush_chunks=8, threaded=False)
    committed = assert_consistent(store)  # readers see no part of big.txt
    assert "corpus/zbig.txt" not in committed and len(committed) == 3
    assert top_doc(store, fake_embedder, "Line 3 holds the lantern marker3") != "corpus/zbig.txt"
    state = store.state()
    assert state["dirty"] is True and "corpus/zbig.txt" in state["partial"]
    written = store.count_chunks() - sum(r.chunks for r in committed.values())
    assert written == 3 * 8

    counting = CountingEmbedder(fake_embedder)
    report = run(store, counting, corpus, flush_chunks=8)
    assert report.orphans_purged == 0  # the parts are kept, not purged
    assert report.chunks_resumed == written and report.added == 1
    assert (
        counting.texts
        == report.chunks_written
        == total - sum(r.chunks for r in committed.values()) - written
    )
    assert "kept from the interrupted run" in report.summary()
    assert store.count_chunks() == total
    assert len(assert_consistent(store)) == 4
    assert (
        top_doc(store, fake_embedder, "Line 1999 holds the lantern marker1999") == "corpus/zbig.txt"
    )
    assert store.state()["partial"] == "[]" and store.state()["dirty"] is False


def test_an_abandoned_large_version_is_cleaned_up(
    store: Store, fake_embedder, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    write_big(corpus / "big.txt", 1500)
    write_big(corpus / "other.txt", 5, word="violin")
    run(store, fake_embedder, corpus, flush_chunks=8)
    before = {c.text for c in store.iter_chunks(store.committed()) if c.doc_id == "corpus/big.txt"}
    write_big(corpus / "big.txt", 1500, word="copper")  # an update, interrupted half-way
    with pytest.raises(KeyboardInterrupt):
        run(store, InterruptingEmbedder(fake_embedder, stop_at=4), corpus, flush_chunks=8)
    visible = {c.text for c in store.iter_chunks(store.committed()) if c.doc_id == "corpus/big.txt"}
    assert visible == before  # the old version, whole
    write_big(corpus / "big.txt", 1500, word="quartz")  # changed again before the next run
    report = run(store, fake_embedder, corpus, flush_chunks=8)
    assert report.updated == 1 and report.chunks_resumed == 0
    assert store.count_chunks() == expected_chunks(fake_embedder, corpus)  # no copper left
    assert not store.chunks.get(where={"doc_id": "corpus/big.txt"}, include=["documents"])[
        "documents"
    ][0].count("copper")
    assert_consistent(store)


def test_a_resumed_document_cut_differently_shows_only_its_new_chunks(
    store: Store, fake_embedder, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    write_big(corpus / "big.txt", 300)
    with pytest.raises(KeyboardInterrupt):
        run(
            store,
            InterruptingEmbedder(fake_embedder, stop_at=6),
            corpus,
            chunk_tokens=20,
            flush_chunks=8,
        )
    report = run(store, fake_embedder, corpus, chunk_tokens=60, flush_chunks=8)
    assert report.added == 1
    assert len(assert_consistent(store)) == 1
    assert store.count_chunks() == store.committed()["corpus/big.txt"].chunks


_KILL_LARGE = """
import sys
from pathlib import Path
from qa.testing import HashEmbedder
from index.indexer import Indexer
from index.store import Store

class Loud(Store):
    def add_many(self, items, **kwargs):
        super().add_many(items, **kwargs)
        print("part", flush=True)

store = Loud(Store.open(Path(sys.argv[1])).client)
Indexer(store, HashEmbedder(), flush_chunks=8).run([Path(sys.argv[2])])
print("finished", flush=True)
"""


def test_a_killed_run_resumes_a_large_document(
    tmp_path: Path, data_dir: Path, fake_embedder
) -> None:
    corpus = tmp_path / "corpus"
    make_corpus(corpus, 2)
    write_big(corpus / "big.txt", 2000)
    child = subprocess.Popen(
        [sys.executable, "-c", _KILL_LARGE, str(data_dir), str(corpus)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        parts = 0
        for line in child.stdout:
            parts += line.startswith("part")
            if parts == 12:
                os.kill(child.pid, signal.SIGKILL)
                break
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    store = Store.open(data_dir)
    committed = assert_consistent(store)
    assert "corpus/big.txt" not in committed
    counting = CountingEmbedder(fake_embedder)
    report = run(store, counting, corpus, flush_chunks=8)
    assert report.chunks_resumed >= 10 * 8  # at least the parts it printed, minus the small flush
    assert counting.texts == report.chunks_written < expected_chunks(fake_embedder, corpus)
    assert store.count_chunks() == expected_chunks(fake_embedder, corpus)
    assert len(assert_consistent(store)) == 3
    store.close()


def test_progress_is_reported_per_file_and_per_part(
    store: Store, fake_embedder, tmp_path: Path
) -> None:
    from index.indexer import Progress

    corpus = tmp_path / "corpus"
    make_corpus(corpus, 10)
    write_big(corpus / "big.txt", 1500)
    seen: list[Progress] = []
    report = Indexer(store, fake_embedder, flush_chunks=8).run([corpus], on_progress=seen.append)
    assert [p.files_done for p in seen] == sorted(p.files_done for p in seen)
    chunks = [p.chunks_written for p in seen]
    assert chunks == sorted(chunks) and len(set(chunks)) > report.chunks_written // 8 // 2
    last = seen[-1]
    assert (last.files_done, last.files_total) == (11, 11)
    assert last.chunks_written == report.chunks_written
    assert last.bytes_done == pytest.approx(last.bytes_total)
    assert last.eta_s == pytest.approx(0.0, abs=1e-6) and last.chunks_per_s > 0
    mid = next(p for p in seen if 0.2 < p.bytes_done / p.bytes_total < 0.8)
    assert mid.eta_s is not None and mid.eta_s > 0


def test_decoded_files_are_named_in_the_summary(
    store: Store, fake_embedder, seeds_dir: Path
) -> None:
    (seeds_dir / "latin.txt").write_bytes(
        "Le caf\u00e9 de la gare ferme t\u00f4t.\n".encode("latin-1")
    )
    (seeds_dir / "win.md").write_bytes("# \u201cQuotes\u201d\n\nA 5 \u20ac fee.\n".encode("cp1252"))
    report = run(store, fake_embedder, seeds_dir)
    assert report.added == 7 and not report.skipped
    assert sorted(report.decoded) == [
        (str(seeds_dir / "latin.txt"), "cp1252"),
        (str(seeds_dir / "win.md"), "cp1252"),
    ]
    assert "decoded as cp1252: latin.txt, win.md" in report.summary()
    assert top_doc(store, fake_embedder, "caf\u00e9 de la gare") == "seeds/latin.txt"


# -- two writers ---------------------------------------------------------------------------

_HOLD_LOCK = """
import sys, time
from pathlib import Path
from index.indexer import index_lock
with index_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_two_writers_at_once_are_refused(data_dir: Path) -> None:
    data = data_dir
    with index_lock(data):
        with pytest.raises(IndexBusyError, match="Another `qa index` is writing"):
            with index_lock(data):
                pass
    with index_lock(data):  # released on exit
        pass

    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(data)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(IndexBusyError):
            with index_lock(data):
                pass
    finally:
        holder.kill()
        holder.wait()
    with index_lock(data):  # a killed holder's lock dies with it
        pass


# -- the real model ------------------------------------------------------------------------

# Questions written from reading seeds/, each with the document that answers it.
# Dense retrieval alone must put that document in the top 4 chunks.
QUESTIONS = [
    ("Is the offer of free passage for militants to leave Aleppo still on the table?", "000"),
    ("Who makes the final decision on stepping up Russia's military activities in Syria?", "000"),
    (
        "Which organization are the people staying in eastern Aleppo united around, according to Peskov?",
        "000",
    ),
    ("Why does Putin consider resuming airstrikes on Aleppo inexpedient?", "001"),
    ("Are there plans for new contacts between Putin and Obama on Syria?", "001"),
    ("How is information about extending the humanitarian pause exchanged with the US?", "001"),
    ("Who will be in charge of operational command of the Russian operation in Syria?", "001"),
    ("How many fighters surrendered to the Syrian Army in 24 hours?", "002"),
    ("What share of UN aid goes to Deir al-Zor?", "002"),
    ("Which German politicians called for more sanctions against Russia?", "002"),
    ("How many children left eastern Aleppo through humanitarian corridors?", "002"),
    (
        "Was extending the humanitarian pause in Aleppo Putin's own decision or a result of the Berlin meeting?",
        "003",
    ),
    ("What would happen if Assad quit, according to Peskov?", "003"),
    ("Who initiated the conversation between Putin and the Iraqi prime minister?", "003"),
    ("Did Russian forces attack civilians in Aleppo, according to Peskov's BBC interview?", "004"),
    ("How many checkpoints were set up in western Aleppo?", "004"),
    ("Who requested the emergency UN Security Council meeting on Aleppo?", "004"),
    ("Does Russia accept accusations of war crimes in Syria?", "004"),
]
# Known to miss with dense retrieval alone (reported to the lead, for hybrid BM25 + dense):
#   "When does Moscow hope to resolve the situation in Aleppo?"          (002)
#   "What did Vitaly Churkin say after the UN Security Council meeting?"  (004)


@pytest.fixture(scope="module")
def real_index(tmp_path_factory, real_embedder):
    seeds = tmp_path_factory.mktemp("real") / "seeds"
    shutil.copytree(ROOT / "seeds", seeds)
    store = Store.open(seeds.parent / "data")
    report = run(store, real_embedder, seeds)
    assert report.added == 5 and not report.skipped
    yield store
    store.close()


@pytest.mark.real
def test_real_index_is_complete_and_within_the_model_window(
    real_index: Store, real_embedder
) -> None:
    assert real_index.count_chunks() == expected_chunks(real_embedder, ROOT / "seeds")
    for c in real_index.iter_chunks(real_index.committed()):
        assert real_embedder.count_tokens(c.text) <= 200
    assert_consistent(real_index)


@pytest.mark.real
@pytest.mark.parametrize(("question", "doc"), QUESTIONS, ids=[q[:40] for q, _ in QUESTIONS])
def test_real_dense_retrieval_finds_the_right_document(
    real_index: Store, real_embedder, question: str, doc: str
) -> None:
    hits = real_index.query(real_embedder.embed([question])[0], 4, real_index.committed())
    found = [h.chunk.doc_id.split("/")[1][:3] for h in hits]
    assert doc in found, f"{question!r}: wanted {doc}, got {found}"


def test_eta_counts_only_the_work_of_this_run() -> None:
    from index.indexer import Progress

    # 80 of 100 bytes were unchanged (or kept from a run before): they say nothing of the pace.
    p = Progress(1, 3, 0, 80.0, 100, 5.0, bytes_reused=80.0)
    assert p.eta_s is None and p.chunks_per_s == 0.0
    p = Progress(2, 3, 40, 90.0, 100, 5.0, bytes_reused=80.0)
    assert p.eta_s == pytest.approx(5.0) and p.chunks_per_s == pytest.approx(8.0)
    assert Progress(3, 3, 50, 100.0, 100, 6.0, bytes_reused=80.0).eta_s == 0.0
