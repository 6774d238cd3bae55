"""A changed chunker re-chunks: each record names the chunker key it was cut with, `qa index`
cuts the files of another key again (crash-safe, like an edit), and `qa status` says so."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from index import chunking
from index.chunking import ChunkerRecord, chunk_document, current_chunker, only_settings_differ
from index.indexer import Indexer
from index.loaders import load, walk
from index.store import Store, chunk_version
from qa.library import Library
from qa.retrieval import Retriever
from qa.service import build_answerer, run_index
from qa.settings import RetrievalSettings, load_settings
from qa.status import index_status
from qa.testing import FakeGenerator
from tests.test_indexer import (
    EXTS,
    ROOT,
    CountingEmbedder,
    InterruptingEmbedder,
    SpyStore,
    assert_consistent,
    expected_chunks,
    make_corpus,
    run,
    top_doc,
    write_big,
)


def bump(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a developer does after changing the splitting rules."""
    monkeypatch.setattr(chunking, "CHUNKER_VERSION", chunking.CHUNKER_VERSION + 1)


def key(chunk_tokens: int = 200, overlap: int = 1) -> str:
    return current_chunker(chunk_tokens, overlap).key()


def visible_texts(store: Store) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for c in sorted(store.iter_chunks(store.committed()), key=lambda c: c.chunk_id):
        out.setdefault(c.doc_id, []).append(c.text)
    return out


def cut(embedder, root: Path, chunk_tokens: int = 200, overlap: int = 1) -> dict[str, list[str]]:
    """What the current chunker cuts from ``root``'s files, per document."""
    out = {}
    for source in walk(root, list(EXTS)):
        doc = load(source)
        chunks = chunk_document(
            doc, embedder.count_tokens, embedder.token_spans, chunk_tokens, overlap
        )
        out[doc.doc_id] = sorted(c.text for c in chunks)
    return out


@pytest.fixture(autouse=True)
def _info_logs(caplog: pytest.LogCaptureFixture) -> None:
    """The re-chunk line is logged at info when no notice sink is given (as in these runs)."""
    caplog.set_level(logging.INFO, logger="index.indexer")


def rechunk_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("re-chunking")]


def legacy_index(store: Store, embedder, root: Path) -> None:
    """An index as written before chunker keys were recorded: records without a key or a
    source hash, chunks and record named by the content hash alone."""
    for source in walk(root, list(EXTS)):
        doc = load(source)
        chunks = chunk_document(doc, embedder.count_tokens, embedder.token_spans, 200, 1)
        store.add_many([(doc, chunks, embedder.embed([c.text for c in chunks]))])
        store.docs.upsert(
            ids=[doc.doc_id],
            embeddings=[[1.0]],
            documents=[doc.text],
            metadatas=[
                {
                    "path": doc.path,
                    "root": str(root.resolve()),
                    "title": doc.title,
                    "hash": doc.content_hash[:16],
                    "chunks": len(chunks),
                    "pages": "[]",
                }
            ],
        )


# -- the key ---------------------------------------------------------------------------------


def test_the_key_names_the_rules_the_settings_and_the_language() -> None:
    base = current_chunker(200, 1)
    assert ChunkerRecord.parse(base.key()) == base
    assert base.version == chunking.CHUNKER_VERSION and base.language.startswith("en-")
    assert len({key(), key(120), key(200, 2)}) == 3
    assert ChunkerRecord.parse("") is None and ChunkerRecord.parse("chunker of 2019") is None
    assert only_settings_differ([key(120), key(200, 2)], base)
    older = replace(base, version=base.version - 1).key()
    assert not only_settings_differ([key(120), older], base)
    assert not only_settings_differ([""], base) and not only_settings_differ([], base)
    # Without a key the version is the content hash (the store's format before keys).
    assert chunk_version("ab" * 32, "") == "ab" * 32
    assert chunk_version("ab" * 32, key())[:16] != chunk_version("ab" * 32, key(120))[:16]


def test_another_abbreviation_list_is_another_chunker() -> None:
    from index import language

    before = key()
    fewer = replace(language.ENGLISH, abbreviations=language.ENGLISH.abbreviations - {"dr"})
    previous = language.set_active(fewer)
    try:
        assert key() != before
    finally:
        language.set_active(previous)
    assert key() == before


# -- re-chunking -----------------------------------------------------------------------------


def test_a_changed_chunker_rechunks_every_file_once(
    store: Store, fake_embedder, seeds_dir: Path, monkeypatch, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="index.indexer")
    run(store, fake_embedder, seeds_dir)
    assert {r.chunker for r in store.committed().values()} == {key()}
    before = visible_texts(store)
    old_ids = {c.chunk_id for c in store.iter_chunks(store.committed())}

    bump(monkeypatch)
    report = run(store, fake_embedder, seeds_dir)
    assert (report.rechunked, report.updated, report.added, report.unchanged) == (5, 0, 0, 0)
    assert report.changed and "0 updated, 5 re-chunked, 0 removed" in report.summary()
    assert rechunk_lines(caplog) == ["re-chunking 5 files: the chunker changed"]
    committed = assert_consistent(store)
    assert {r.chunker for r in committed.values()} == {key()}
    # Same rules, so the same texts, under new ids; the old version's chunks are gone.
    assert visible_texts(store) == before
    assert not old_ids & {c.chunk_id for c in store.iter_chunks(committed)}
    assert store.count_chunks() == expected_chunks(fake_embedder, seeds_dir)

    caplog.clear()
    again = run(store, fake_embedder, seeds_dir)
    assert (again.unchanged, again.rechunked, again.chunks_written) == (5, 0, 0)
    assert rechunk_lines(caplog) == []


def test_the_rechunk_line_is_a_notice_not_a_warning(
    store: Store, fake_embedder, seeds_dir: Path, monkeypatch, caplog
) -> None:
    run(store, fake_embedder, seeds_dir)
    bump(monkeypatch)
    notices: list[str] = []
    Indexer(store, fake_embedder).run([seeds_dir], on_notice=notices.append)
    assert notices == ["re-chunking 5 files: the chunker changed"]
    assert rechunk_lines(caplog) == []  # given to the sink, not logged as well
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_other_chunk_settings_recut_to_what_the_chunker_cuts_now(
    store: Store, fake_embedder, seeds_dir: Path, caplog
) -> None:
    run(store, fake_embedder, seeds_dir)
    edited = seeds_dir / "002_e50b3248676841e1.txt"
    edited.write_text(edited.read_text() + "\nA closing line.\n")
    report = run(store, fake_embedder, seeds_dir, chunk_tokens=60)
    # The edited file counts as updated; the four others only had to be cut again.
    assert (report.rechunked, report.updated) == (4, 1)
    assert rechunk_lines(caplog) == ["re-chunking 5 files: the chunk settings changed"]
    assert_consistent(store)
    got = {d: sorted(texts) for d, texts in visible_texts(store).items()}
    assert got == cut(fake_embedder, seeds_dir, chunk_tokens=60)
    assert store.count_chunks() == sum(len(t) for t in got.values())


def test_an_index_from_before_chunker_keys_answers_and_is_rechunked(
    store: Store, fake_embedder, seeds_dir: Path, data_dir: Path, caplog
) -> None:
    legacy_index(store, fake_embedder, seeds_dir)
    committed = assert_consistent(store)
    assert {(r.chunker, r.source_hash == r.content_hash) for r in committed.values()} == {
        ("", True)
    }
    # Read as it is: the retriever finds its passages without any re-chunking.
    some = "seeds/004_2498656e7b287085.txt"
    assert top_doc(store, fake_embedder, store.document_text(some) or "") == some
    retriever = Retriever(store, fake_embedder, RetrievalSettings(), data_dir.parent / "bm25")
    passages = retriever.passages("How many militants were pardoned?")
    assert passages and all(p.text for p in passages)

    before = store.count_chunks()
    report = run(store, fake_embedder, seeds_dir)
    assert (report.rechunked, report.orphans_purged) == (5, 0)
    assert rechunk_lines(caplog) == ["re-chunking 5 files: the chunker changed"]
    assert {r.chunker for r in assert_consistent(store).values()} == {key()}
    assert store.count_chunks() == before == expected_chunks(fake_embedder, seeds_dir)


def test_only_the_files_of_the_run_are_rechunked_and_counted(
    store: Store, fake_embedder, tmp_path: Path, monkeypatch, caplog
) -> None:
    make_corpus(tmp_path / "a", 3)
    make_corpus(tmp_path / "b", 4, seed=1)
    run(store, fake_embedder, tmp_path / "a", tmp_path / "b")
    bump(monkeypatch)
    report = run(store, fake_embedder, tmp_path / "b")
    assert report.rechunked == 4
    assert rechunk_lines(caplog) == ["re-chunking 4 files: the chunker changed"]
    keys = {d: r.chunker for d, r in assert_consistent(store).items()}
    assert sorted(d for d, k in keys.items() if k != key()) == [f"a/f000{i}.txt" for i in range(3)]


# -- interrupted re-chunking -----------------------------------------------------------------


@pytest.mark.parametrize("where", ["embedder", "store"])
def test_an_interrupted_rechunk_keeps_every_document_whole_and_finishes(
    store: Store, fake_embedder, tmp_path: Path, monkeypatch, where: str
) -> None:
    corpus = tmp_path / "corpus"
    make_corpus(corpus, 40)
    run(store, fake_embedder, corpus, flush_chunks=8)
    old = key()
    bump(monkeypatch)
    if where == "embedder":  # dies while embedding the third batch
        store_, embedder = store, InterruptingEmbedder(fake_embedder, stop_at=3)
    else:  # dies after a flush's new chunks are written, before their records
        store_, embedder = SpyStore(store.client, stop_on="commit_many", stop_at=3), fake_embedder
    with pytest.raises(KeyboardInterrupt):
        run(store_, embedder, corpus, flush_chunks=8)
    assert store.state()["dirty"] is True
    committed = assert_consistent(store)
    assert len(committed) == 40  # nothing vanished: each one its old cut or its new one
    keys = [r.chunker for r in committed.values()]
    done = keys.count(key())
    assert 0 < done < 40 and keys.count(old) == 40 - done
    for doc_id in sorted(committed)[::7]:
        assert top_doc(store, fake_embedder, store.document_text(doc_id) or "") == doc_id
    orphans = store.count_chunks() - sum(r.chunks for r in committed.values())
    assert (orphans == 0) if where == "embedder" else (orphans >= 8)

    report = run(store, fake_embedder, corpus, flush_chunks=8)
    assert report.orphans_purged == orphans
    assert (report.unchanged, report.rechunked) == (done, 40 - done)
    assert {r.chunker for r in assert_consistent(store).values()} == {key()}
    assert store.count_chunks() == expected_chunks(fake_embedder, corpus)
    assert store.state()["dirty"] is False


def test_an_interrupted_rechunk_of_a_large_document_resumes_its_parts(
    store: Store, fake_embedder, tmp_path: Path, monkeypatch
) -> None:
    corpus = tmp_path / "corpus"
    write_big(corpus / "big.txt", 1500)
    run(store, fake_embedder, corpus, flush_chunks=8)
    before = visible_texts(store)
    bump(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        run(store, InterruptingEmbedder(fake_embedder, stop_at=4), corpus, flush_chunks=8)
    assert visible_texts(store) == before  # the old cut, whole, while the new one is in parts
    assert "corpus/big.txt" in store.state()["partial"]
    assert store.committed()["corpus/big.txt"].chunker != key()

    counting = CountingEmbedder(fake_embedder)
    report = run(store, counting, corpus, flush_chunks=8)
    assert report.rechunked == 1 and report.chunks_resumed == 3 * 8
    assert counting.texts == report.chunks_written == len(before["corpus/big.txt"]) - 3 * 8
    assert store.committed()["corpus/big.txt"].chunker == key()
    assert visible_texts(store) == before  # same rules: the same texts
    assert store.count_chunks() == len(before["corpus/big.txt"])
    assert_consistent(store)
    assert store.state()["partial"] == "[]"


# -- status ----------------------------------------------------------------------------------


def _settings(data_dir: Path, **kw):
    return load_settings(data_dir=data_dir, embed__mode="fake", llm__mode="fake", **kw)


def test_status_says_when_documents_were_cut_by_another_chunker(
    seeds_dir: Path, data_dir: Path, monkeypatch
) -> None:
    settings = _settings(data_dir)
    run_index(settings, [seeds_dir])
    fresh = index_status(settings)
    assert (fresh["notes"], fresh["stale_chunker"], fresh["chunker"]) == ([], 0, key())
    assert fresh["chunkers"] == {key(): 5}

    bump(monkeypatch)  # the snapshot still serves; the note compares with the chunker of now
    stale = index_status(settings)
    assert stale["notes"] == [
        "5 of 5 documents chunked with an older chunker; run qa index to refresh"
    ]
    run_index(settings, [seeds_dir])
    assert index_status(settings)["notes"] == []

    other = _settings(data_dir, index__chunk_tokens=120)
    assert index_status(other)["notes"] == [
        "5 of 5 documents chunked with other chunk settings (QA_INDEX_CHUNK_TOKENS, "
        "QA_INDEX_OVERLAP_SENTENCES); run qa index to refresh"
    ]


def test_status_of_an_index_from_before_chunker_keys(
    seeds_dir: Path, data_dir: Path, fake_embedder, fake_models
) -> None:
    store = Store.open(data_dir)
    legacy_index(store, fake_embedder, seeds_dir)
    store.bump_generation()
    store.close()
    settings = _settings(data_dir)
    # A snapshot written by the code before chunkers were counted is not served.
    marker = (data_dir / "generation").read_text().strip()
    (data_dir / "status.json").write_text(
        json.dumps({"marker": marker, "status": {"documents": 5, "chunks": 1, "sources": []}})
    )
    status = index_status(settings)
    assert status["chunkers"] == {"": 5}
    assert status["notes"] == [
        "5 of 5 documents chunked with an older chunker; run qa index to refresh"
    ]
    from app.cli import main

    out = CliRunner().invoke(main, ["status", "--data-dir", str(data_dir)])
    assert out.exit_code == 0, out.output
    assert "5 of 5 documents chunked with an older chunker; run qa index to refresh" in out.output

    # In a process of its own, as a person runs it: the line is on stderr at the default level.
    env = {**os.environ, "QA_EMBED_MODE": "fake", "QA_LLM_MODE": "fake"}
    done = subprocess.run(
        [sys.executable, "-m", "app", "index", str(seeds_dir), "--data-dir", str(data_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    # a progress line, as it is, not a WARNING log record: there is nothing to fix
    assert "re-chunking 5 files: the chunker changed" in done.stderr.splitlines()
    assert "WARNING" not in done.stderr
    assert "0 updated, 5 re-chunked" in done.stdout
    out = CliRunner().invoke(main, ["status", "--data-dir", str(data_dir)])
    assert "older chunker" not in out.output and "5 documents" in out.output


def test_the_library_status_carries_the_note(
    seeds_dir: Path, data_dir: Path, fake_embedder, monkeypatch
) -> None:
    settings = _settings(data_dir)
    run_index(settings, [seeds_dir], fake_embedder)
    answerer = build_answerer(settings, embedder=fake_embedder, generator=FakeGenerator())
    library = Library(settings, answerer.retriever, generator="fake")
    assert library.status()["notes"] == []
    bump(monkeypatch)
    assert library.status()["notes"] == [
        "5 of 5 documents chunked with an older chunker; run qa index to refresh"
    ]
    assert "5 re-chunked" in library.reindex()
    assert library.status()["notes"] == []
