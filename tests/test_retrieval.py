"""Hybrid retrieval: fusion, BM25 persistence across index changes, exact passages."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.store import Store
from qa.retrieval import Retriever, RetrieverTuning, rrf
from qa.service import run_index
from qa.settings import RetrievalSettings, load_settings


def test_rrf_rewards_agreement():
    scores = rrf([["a", "b", "c"], ["b", "c", "a"]], k=60)
    assert max(scores, key=scores.get) == "b"
    assert rrf([["x"]], k=60)["x"] == pytest.approx(1 / 61)


@pytest.fixture
def setup(tmp_path: Path, seeds_dir, fake_embedder):
    settings = load_settings(data_dir=tmp_path / "data", embed__mode="fake")
    run_index(settings, [seeds_dir], fake_embedder)
    store = Store.open(settings.data_dir)
    retriever = Retriever(store, fake_embedder, RetrievalSettings(), settings.data_dir / "bm25")
    return settings, seeds_dir, retriever


def test_passages_are_exact_spans_of_their_documents(setup):
    _, seeds, retriever = setup
    passages = retriever.passages("How many checkpoints were established in western Aleppo?", 4)
    assert 1 <= len(passages) <= 4
    assert [p.n for p in passages] == list(range(1, len(passages) + 1))
    for p in passages:
        text = (seeds / Path(p.doc_id).name).read_text()
        assert text[p.start : p.end] == p.text
        assert p.line == text.count("\n", 0, p.start) + 1
    assert passages[0].doc_id.endswith("004_2498656e7b287085.txt")


def test_bm25_finds_rare_terms(setup):
    _, _, retriever = setup
    hits = retriever.bm25.search("Konashenkov", 3) if retriever.refresh() else []
    assert hits
    chunk = retriever.store.get_chunks([hits[0][0]])[0]
    assert "Konashenkov" in chunk.text


def test_bm25_cache_follows_index_changes(setup, fake_embedder):
    settings, seeds, retriever = setup
    retriever.refresh()
    assert not retriever.bm25.search("aardvark", 3)
    (seeds / "zoo.txt").write_text("The aardvark escaped from the city zoo on Monday.\n")
    run_index(settings, [seeds], fake_embedder)
    retriever.refresh()
    assert retriever.bm25.search("aardvark", 3)
    cache = settings.data_dir / "bm25"
    assert len(list(cache.iterdir())) == 1  # only the current generation is kept
    # A fresh retriever loads the cached index rather than rebuilding it.
    again = Retriever(Store.open(settings.data_dir), fake_embedder, RetrievalSettings(), cache)
    again.refresh()
    assert again.bm25.search("aardvark", 3)


def test_passages_respect_the_token_budget(setup, fake_embedder):
    from index.chunking import split_sentences

    _, _, retriever = setup
    retriever.settings = RetrievalSettings(passage_tokens=40, window=2)
    for question in ("What did Peskov say about Aleppo?", "How many people left eastern Aleppo?"):
        (p,) = retriever.passages(question, 1)
        single_sentence = len(split_sentences(p.text)) == 1
        assert fake_embedder.count_tokens(p.text) <= 40 or single_sentence


def test_a_quotation_is_followed_to_its_attribution(setup):
    # seeds/002: “The most important thing is that over 80,000 Syrians ... have been freed.
    # Many of them ... Those Syrians had been serving as human shields ...,” Russian Defense
    # Ministry spokesman General Igor Konashenkov said on Tuesday.
    _, _, retriever = setup
    retriever.settings = RetrievalSettings(passage_tokens=40, window=0)
    passages = retriever.passages("most important thing over 80,000 Syrians freed", 1)
    assert passages[0].text.startswith("“The most important thing")
    assert passages[0].text.endswith("Konashenkov said on Tuesday.")


def test_committed_records_are_read_in_pages(setup, monkeypatch):
    """One get of every record fails past ~32k documents, so they are read page by page."""
    _, seeds, retriever = setup
    whole = retriever.store.committed()
    monkeypatch.setattr(Store, "PAGE", 2)  # 5 documents and the state record: three pages
    docs, limits = retriever.store.docs, []

    def get(**kw):
        limits.append(kw.get("limit"))
        return type(docs).get(docs, **kw)

    monkeypatch.setattr(docs, "get", get)
    assert retriever.store.committed() == whole
    assert limits == [2, 2, 2, 2]  # three full pages, then an empty one
    assert sorted(Path(d).name for d in whole) == sorted(p.name for p in seeds.iterdir())


def _old_candidates(retriever, query):
    """Retriever.candidates as it was before the ids-first dense query (the reference)."""
    committed = retriever.refresh()
    n = retriever.settings.candidates
    qvec = retriever.embedder.embed([query])[0]
    dense = retriever.store.query(qvec, n, committed)
    bm25_ids = [cid for cid, _ in retriever.bm25.search(query, n)]
    fused = rrf([[h.chunk.chunk_id for h in dense], bm25_ids], retriever.settings.rrf_k)
    chunks = {h.chunk.chunk_id: h.chunk for h in dense}
    chunks.update((c.chunk_id, c) for c in retriever.store.get_chunks(bm25_ids))
    return [
        (cid, chunks[cid], score) for cid, score in sorted(fused.items(), key=lambda kv: -kv[1])
    ]


QUERIES = [
    "How many checkpoints were established in western Aleppo?",
    "Konashenkov said on Tuesday",
    "What would happen if Assad quit, according to Peskov?",
    "aardvark zoo",
]


def test_candidates_match_the_reference_path(setup):
    _, _, retriever = setup
    retriever.settings = RetrievalSettings(candidates=5)  # fewer than the chunks: a real cut
    for q in QUERIES:
        got = [(c.chunk.chunk_id, c.chunk, c.fused) for c in retriever.candidates(q)]
        assert got == _old_candidates(retriever, q), q


def test_orphan_chunks_never_surface_and_results_stay_the_same(setup, fake_embedder):
    """Invisible chunks (an interrupted run's) nearest to the question: the dense side widens."""
    _, _, retriever = setup
    retriever.settings = RetrievalSettings(candidates=3)
    q = QUERIES[0]
    before = [(c.chunk.chunk_id, c.fused) for c in retriever.candidates(q)]
    vec = fake_embedder.embed([q])[0]
    retriever.store.chunks.upsert(
        ids=[f"seeds/004_2498656e7b287085.txt::{'f' * 16}::{i}" for i in range(12)],
        embeddings=[vec.tolist()] * 12,
        documents=[q] * 12,
        metadatas=[
            {"doc_id": "seeds/004_2498656e7b287085.txt", "hash": "f" * 16, "title": "t",
             "path": "", "start": 0, "end": 1, "line": 1}
        ] * 12,
    )  # fmt: skip
    retriever._total = retriever.store.count_chunks()  # as a refresh would see it
    got = retriever.candidates(q)
    assert [(c.chunk.chunk_id, c.fused) for c in got] == before
    assert not any("ffffffff" in c.chunk.chunk_id for c in got)


def test_bm25s_logs_follow_the_application_config() -> None:
    """bm25s sets its logger to DEBUG on import ("Building index from tokens" on every command)."""
    import logging

    from qa.retrieval import _bm25s

    _bm25s()
    assert logging.getLogger("bm25s").level == logging.NOTSET
    assert not logging.getLogger("bm25s").isEnabledFor(logging.DEBUG) or (
        logging.getLogger().isEnabledFor(logging.DEBUG)
    )


def test_windows_that_join_still_make_k_passages(setup):
    # The best sentences of one paragraph make windows that join into one passage; windows are
    # chosen until there are k passages (or the tokens of k full windows are spent), so the
    # sentence that answers, a little further down, still reaches the model.
    _, _, retriever = setup
    budget = 4 * retriever.settings.passage_tokens
    for question in ("How many people left eastern Aleppo?", "What did Peskov say about Aleppo?"):
        passages = retriever.passages(question, 4)
        used = sum(retriever.embedder.count_tokens(p.text) for p in passages)
        assert len(passages) == 4 or used >= budget


@pytest.fixture
def manual(tmp_path: Path, fake_embedder):
    """A page with a field list rendered as label and value lines, and its title repeated by
    the site's chrome (a table of contents above and below the text)."""
    docs = tmp_path / "manual"
    docs.mkdir()
    chrome = "Table of Contents\n\nBoiler manual\n\nInstallation\n\nMaintenance\n\n"
    body = (
        "Boiler manual\n\nWritten by:\n\nJane Roe and Ann Poe\n\n"
        "The boiler stands behind the door in the basement. Bleed the radiators every two "
        "weeks in winter. The pressure gauge should read between one and two bar.\n\n"
    )
    (docs / "boiler.txt").write_text(chrome + body + chrome)
    settings = load_settings(data_dir=tmp_path / "data", embed__mode="fake")
    run_index(settings, [docs], fake_embedder)
    store = Store.open(settings.data_dir)
    return Retriever(store, fake_embedder, RetrievalSettings(), settings.data_dir / "bm25")


def test_a_window_ending_on_a_label_takes_what_it_announces(manual):
    # A window of the best sentence alone is "Written by:"; the names it announces come too.
    manual.settings = RetrievalSettings(passage_tokens=16, window=0)
    (passage,) = manual.passages("Written by", 1)
    assert passage.text == "Written by:\n\nJane Roe and Ann Poe"


def test_repeated_chrome_fills_one_passage_not_several(manual):
    # "Boiler manual" and "Table of Contents" stand three times in the page: one window of
    # them is enough, the other passages show the text.
    passages = manual.passages("Boiler manual table of contents", 3)
    chrome = [p for p in passages if "Table of Contents" in p.text]
    assert len(chrome) == 1
    assert any("pressure gauge" in p.text or "radiators" in p.text for p in passages)


@pytest.fixture
def api_page(tmp_path: Path, fake_embedder):
    """A Markdown API page whose option list is longer than a chunk: chunks of 80
    word-pieces cut its items, so an option's description and its default fall in
    different chunks."""
    docs = tmp_path / "api"
    docs.mkdir()
    filler = "".join(
        f"Paragraph {n} of the introduction explains the module in general terms.\n\n"
        for n in range(6)
    )
    (docs / "readline.md").write_text(
        "# Readline\n\n" + filler + "## `createInterface(options)`\n\n"
        "* `options` {Object}\n"
        "  * `terminal` {boolean} `true` if the streams should be treated like a TTY.\n"
        "    **Default:** checking `isTTY` on the output stream.\n"
        "  * `historySize` {number} Maximum number of history lines retained. To disable\n"
        "    the history set this value to `0`. This option makes sense only if\n"
        "    `terminal` is set to `true` by the user or by an internal check,\n"
        "    otherwise the history caching mechanism is not initialized at all.\n"
        "    **Default:** `30`.\n"
        "  * `prompt` {string} The prompt string to use. **Default:** `'> '`.\n\n"
        "The `createInterface()` method creates a new interface.\n"
    )
    settings = load_settings(data_dir=tmp_path / "data", embed__mode="fake", index__chunk_tokens=80)
    run_index(settings, [docs], fake_embedder)
    store = Store.open(settings.data_dir)
    # One candidate chunk per passage: the chunks around it are read only as context.
    tuning = RetrieverTuning(extra_chunks=0, min_chunks=1)
    return Retriever(
        store, fake_embedder, RetrievalSettings(), settings.data_dir / "bm25", tuning=tuning
    )


def test_a_window_in_a_list_item_takes_the_whole_item(api_page):
    # The item's first sentence matches; its default, three sentences and one chunk boundary
    # further down, comes with it, and the next item does not.
    api_page.refresh()
    chunks = api_page.store.get_chunks(api_page.bm25.ids)
    assert not any("lines retained" in c.text and "`30`" in c.text for c in chunks), (
        "the fixture must cut the item across chunks"
    )
    passages = api_page.passages("historySize maximum number of history lines retained", 1)
    text = passages[0].text
    assert "* `historySize` {number} Maximum number of history lines retained." in text
    assert text.endswith("**Default:** `30`.")
    assert "`prompt`" not in text


def test_a_window_in_the_middle_of_an_item_reaches_back_to_its_name(api_page):
    passages = api_page.passages("history caching mechanism is not initialized at all", 1)
    assert "* `historySize`" in passages[0].text
    assert passages[0].text.endswith("**Default:** `30`.")
