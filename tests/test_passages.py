"""eval.passages: every suite question's passages without the model, what they hold, and which
questions a retrieval change moves. A real Retriever over the seed articles, HashEmbedder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from eval.passages import main, moved, report, screen, write_moved
from eval.suite import SuiteSet
from index.store import Store
from qa.retrieval import Retriever
from qa.service import run_index
from qa.settings import RetrievalSettings, load_settings

D4 = "004_2498656e7b287085.txt"
RECORDS = [
    {"id": "a", "type": "fact", "question": "How many people left eastern Aleppo?",
     "key_facts": [["3,179", "3179"]], "gold": [D4]},
    {"id": "b", "type": "fact", "question": "What did Peskov decline?",
     "key_facts": [["no such words anywhere"]], "gold": [D4]},
    {"id": "c", "type": "unanswerable", "question": "What is the population of Aleppo?"},
    {"id": "d", "type": "followup", "question": "And children?", "key_facts": [["1,519"]],
     "gold": [D4],
     "history": [["How many left?", "3,179 [1]."]]},
]  # fmt: skip


@pytest.fixture
def suite(tmp_path: Path, seeds_dir: Path, fake_embedder):
    settings = load_settings(data_dir=tmp_path / "data", embed__mode="fake")
    run_index(settings, [seeds_dir], fake_embedder)
    records = tmp_path / "set.jsonl"
    records.write_text("".join(json.dumps(r) + "\n" for r in RECORDS), "utf-8")
    text = (seeds_dir / "004_2498656e7b287085.txt").read_text("utf-8")
    labelled = tmp_path / "rag_dataset.json"
    labelled.write_text(json.dumps({"examples": [
        {"query": "How many checkpoints were established?", "reference_answer": "seven",
         "reference_contexts": [text[:400]]},
    ]}), "utf-8")  # fmt: skip
    sets = [
        SuiteSet("news", "records", records, seeds_dir),
        SuiteSet("labelled", "labelled", labelled, seeds_dir),
    ]
    store = Store.open(settings.data_dir)
    retriever = Retriever(store, fake_embedder, RetrievalSettings(), settings.data_dir / "bm25")
    closed: list[str] = []

    def opener(s: SuiteSet):
        return retriever.passages, fake_embedder.count_tokens, lambda: closed.append(s.name)

    return sets, opener, retriever, closed


def test_screen_counts_key_facts_in_the_passages_of_standalone_answerable_questions(suite):
    sets, opener, _, closed = suite
    news, labelled = screen(sets, opener)
    assert closed == ["news", "labelled"]
    assert set(news.spans) == {"a", "b", "c", "d"}  # every question gets passages
    assert (news.covered, news.scored, news.missed) == (1, 2, ["b"])  # c, d not scored
    assert news.tokens > 0
    assert labelled.scored == 1 and labelled.spans["0"]
    table = report([news, labelled])
    assert "| news | 4 | 1/2 |" in table
    assert "news: missed b" in table


def test_moved_questions_are_listed_and_written_as_sets_of_their_own(suite, tmp_path):
    sets, opener, retriever, _ = suite
    before = {"sets": {s.name: s.__dict__ for s in screen(sets, opener)}}
    before = json.loads(json.dumps(before))  # as saved by --out
    assert moved(before, screen(sets, opener)) == {"news": [], "labelled": []}
    # A narrower window moves the passages.
    retriever.settings = RetrievalSettings(window=0, passage_tokens=20)
    now = screen(sets, opener)
    ids = moved(before, now)
    assert ids["news"] and set(ids["news"]) <= {"a", "b", "c", "d"}
    assert "passages moved for" in report(now, ids)
    out = tmp_path / "moved"
    written = write_moved(sets, ids, out)
    news = [json.loads(line) for line in (out / "news.jsonl").read_text().splitlines()]
    assert [r["id"] for r in news] == ids["news"]
    if ids["labelled"]:
        assert json.loads((out / "labelled.json").read_text())["examples"]
    assert all(p.exists() for p in written)


def test_cli_errors_are_plain(tmp_path):
    runner = CliRunner()
    r = runner.invoke(main, ["--changed-dir", str(tmp_path / "x")])
    assert r.exit_code == 2 and "--changed-dir needs --against" in r.output
    bad = tmp_path / "bad.json"
    bad.write_text("{", "utf-8")
    r = runner.invoke(main, ["--against", str(bad)])
    assert r.exit_code == 1 and "not a saved --out file" in r.output
    r = runner.invoke(main, ["--only", "nope"])
    assert r.exit_code == 2 and "No suite set named nope" in r.output
