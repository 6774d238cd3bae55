"""The evaluation harness: dataset validation, metrics, runner, report, labelled datasets,
and a guard on the real eval/seeds.jsonl."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import pytest

from eval.dataset import DatasetError, EvalRecord, load_records, parse_record
from eval.labelled import is_hit, load_labelled, run_labelled
from eval.metrics import (
    aggregate,
    citation_correct,
    contains,
    gold_rank,
    key_facts_ok,
    normalise,
    score_answer,
)
from eval.runner import check_floors, compare, run_eval
from qa.errors import InputError
from qa.schema import Answer, Citation, Passage, Sentence

ROOT = Path(__file__).resolve().parent.parent
SEEDS_JSONL = ROOT / "eval" / "seeds.jsonl"
D2 = "seeds/002_e50b3248676841e1.txt"
D4 = "seeds/004_2498656e7b287085.txt"
CORRIDORS = "3,179 people, including 1,519 children – among them 138 newborn babies – have left eastern Aleppo"


def passage(doc_id: str, text: str = "text", n: int = 1) -> Passage:
    return Passage(n, doc_id, "title", text, 0, len(text), 1, None, 0.5, 0.5)


def cite(n: int, source: str, quote: str) -> Citation:
    return Citation(n, source, "title", quote, 0, len(quote), 1, None, 0.5)


def answer(
    question: str,
    text: str,
    citations: Sequence[Citation] = (),
    passages: Sequence[Passage] = (),
    refused: bool = False,
    total_ms: float = 100.0,
) -> Answer:
    """An Answer whose sentences are ``text`` split on '. ', each citing the [n] it holds."""
    sentences = [
        Sentence(s, tuple(int(n) for n in re.findall(r"\[(\d+)\]", s)))
        for s in re.split(r"(?<=\.)\s+", text)
        if s
    ]
    return Answer(
        question=question,
        text=text,
        citations=list(citations),
        refused=refused,
        sentences=sentences,
        timings={"retrieve_ms": 5.0, "first_token_ms": total_ms / 2, "total_ms": total_ms},
        passages=list(passages),
        stats={"context_tokens": 300, "repointed": 1, "dropped": 0},
    )


class FakeAnswerer:
    """Returns canned answers by question, raises canned exceptions, records every call."""

    def __init__(self, replies: dict[str, Answer | Exception]) -> None:
        self.replies = replies
        self.calls: list[tuple[str, list[tuple[str, str]]]] = []

    def ask(self, question: str, history: Sequence[tuple[str, str]] = ()) -> Answer:
        self.calls.append((question, list(history)))
        reply = self.replies[question]
        if isinstance(reply, Exception):
            raise reply
        return reply

    def retrieve(self, question: str) -> list[Passage]:
        return []


def rec(**kw: object) -> EvalRecord:
    base: dict[str, object] = {"id": "q1", "type": "fact", "question": "How many?"}
    base.update(kw)
    return parse_record(base)


# --- dataset -------------------------------------------------------------------------


def test_load_records_names_the_bad_line(tmp_path: Path) -> None:
    good = {"id": "q1", "type": "fact", "question": "Q?", "key_facts": [["a"]], "gold": ["d"]}
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps(good) + "\n\n{not json\n")
    with pytest.raises(DatasetError, match=r"line 3: not valid JSON"):
        load_records(path)
    path.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n")
    with pytest.raises(DatasetError, match=r"line 2: duplicate id 'q1' \(first on line 1\)"):
        load_records(path)
    path.write_text(json.dumps(good) + "\n")
    assert load_records(path) == [EvalRecord("q1", "fact", "Q?", (("a",),), ("d",), ())]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": "trivia"}, "expected one of"),
        ({"question": " "}, "'question' must be a non-empty string"),
        ({"key_facts": [[]], "gold": ["d"]}, "key_facts group 0"),
        ({"key_facts": [["a"]], "gold": []}, "at least one gold document"),
        ({"type": "unanswerable", "key_facts": [["a"]]}, "must have empty"),
        ({"type": "multi", "key_facts": [["a"]], "gold": ["d", "d"]}, "two gold documents"),
        ({"type": "followup", "key_facts": [["a"]], "gold": ["d"]}, "non-empty 'history'"),
        ({"history": [["only a question"]], "key_facts": [["a"]], "gold": ["d"]}, "history turn 0"),
        ({"golds": ["d"]}, "unknown field"),
    ],
)
def test_parse_record_rejects(fields: dict[str, object], message: str) -> None:
    with pytest.raises(DatasetError, match=re.escape(message)):
        rec(**fields)


# --- metrics -------------------------------------------------------------------------


def test_key_fact_normalisation() -> None:
    assert normalise("“Röttgen’s”  3,179 —  1,234,567") == '"rottgen\'s" 3179 - 1234567'
    assert contains("Some 3179 people left", "3,179")
    assert contains("3,179 PEOPLE left", "3179")
    assert contains("Jabhat al-Nusra", "NUSRA")
    assert not contains("3179 people", "7"), "a number must not match inside another number"
    assert not contains("Russia and Iran", "US"), "word boundaries: US is not inside Russia"
    assert contains("Over 80 thousand", "80 thousand")
    facts = [["3,179", "3179"], ["seven", "7"]]
    assert key_facts_ok("3179 people; Seven checkpoints", facts)
    assert not key_facts_ok("3179 people; 17 checkpoints", facts)


def test_citation_precision_correct_vs_wrong_quote() -> None:
    good = cite(1, D2, CORRIDORS)
    wrong = cite(2, D4, "Seven checkpoints were established in western Aleppo")
    sentence = ["3,179 people left eastern Aleppo [1]."]
    assert citation_correct(good, sentence, [["3179"]])
    assert not citation_correct(wrong, sentence, [["3179"]])
    # without key facts: every number and name of the citing sentence must be in the quote
    assert citation_correct(good, ["Some 1,519 children left Aleppo [1]."])
    assert not citation_correct(good, ["Some 1,519 children left Homs [1]."])
    assert not citation_correct(good, []), "a citation no sentence uses is not verified"

    a = answer("q", "3,179 people left [1]. Of them 1,519 were children [2].", [good, wrong])
    scores = score_answer(rec(key_facts=[["3179"]], gold=[D2]), a, k=3)
    assert [c["correct"] for c in scores["citations"]] == [True, False]
    assert scores["citation_precision"] == 0.5
    assert scores["cites_gold"] is True


def test_hit_at_k_and_mrr() -> None:
    ps = [passage("seeds/000.txt"), passage("seeds/001.txt"), passage(D2)]
    assert gold_rank(ps, [D2]) == 3
    assert gold_rank(ps, ["/abs/path/to/" + D2]) == 3, "ids from another index root still match"
    assert gold_rank(ps, ["seeds/009.txt"]) is None
    r = rec(key_facts=[["x"]], gold=[D2])
    s3 = score_answer(r, answer("q", "x", passages=ps), k=3)
    s2 = score_answer(r, answer("q", "x", passages=ps), k=2)
    assert (s3["hit"], s2["hit"], s3["rr"]) == (True, False, pytest.approx(1 / 3))
    rows = [{"type": "fact", "scores": s3}, {"type": "fact", "scores": s2}]
    assert aggregate(rows, 3)["mrr"] == pytest.approx(1 / 3)


def test_refusal_precision_recall_and_floors() -> None:
    una = rec(type="unanswerable")
    ans = rec(key_facts=[["x"]], gold=[D2])
    rows = [
        {"type": "unanswerable", "scores": score_answer(una, answer("q", "no", refused=True), 3)},
        {"type": "unanswerable", "scores": score_answer(una, answer("q", "y"), 3)},
        {"type": "fact", "scores": score_answer(ans, answer("q", "no", refused=True), 3)},
        {"type": "fact", "scores": score_answer(ans, answer("q", "x [1].", [cite(1, D2, "x")]), 3)},
    ]
    agg = aggregate(rows, 3)
    assert agg["refusal_recall"] == 0.5
    assert agg["refusal_precision"] == 0.5
    assert (agg["false_refusals"], agg["false_refusal_rate"]) == (1, 0.5)
    assert agg["key_fact_accuracy"] == 0.5
    assert agg["by_type"]["unanswerable"]["refusal_rate"] == 0.5
    broken = check_floors(agg)
    assert len(broken) == 3 and any("unanswerable questions refused" in b for b in broken)
    assert not any("citation precision" in b for b in broken)
    perfect = {**agg, "key_fact_accuracy": 0.95, "refusal_recall": 1.0, "false_refusal_rate": 0.0}
    assert check_floors(perfect) == []
    assert check_floors({**perfect, "citation_precision": None}) == [
        "citation precision: no citations at all (floor >= 0.90)"
    ]


# --- runner, report, compare ---------------------------------------------------------


def _records() -> list[EvalRecord]:
    return [
        rec(id="q1", question="How many left?", key_facts=[["3,179"]], gold=[D2]),
        rec(id="q2", type="unanswerable", question="Capital of France?"),
        rec(
            id="q3",
            type="followup",
            question="And children?",
            key_facts=[["1519"]],
            gold=[D2],
            history=[["How many left?", "3,179 [1]."]],
        ),
    ]


def test_run_eval_writes_results_report_and_plots(tmp_path: Path) -> None:
    good = cite(1, D2, CORRIDORS)
    fake = FakeAnswerer(
        {
            "How many left?": answer(
                "How many left?", "3179 people left [1].", [good], [passage(D2)]
            ),
            "Capital of France?": answer(
                "Capital of France?", "Paris is the capital.", total_ms=50
            ),
            "And children?": InputError("question too long"),
        }
    )
    results = run_eval(fake, _records(), tmp_path / "a", k=4, progress=False)
    assert fake.calls[2] == ("And children?", [("How many left?", "3,179 [1].")])
    agg = results["aggregates"]
    assert agg["n"] == 3 and agg["errors"] == 1
    assert agg["key_fact_accuracy"] == 0.5 and agg["refusal_recall"] == 0.0
    assert agg["citation_precision"] == 1.0 and agg["repointed"] == 2
    assert agg["total_ms_p50"] == 75.0
    on_disk = json.loads((tmp_path / "a" / "results.json").read_text())
    assert on_disk["questions"][2]["scores"]["error"] == "InputError: question too long"
    assert on_disk["questions"][0]["answer"]["passages"][0]["doc_id"] == D2
    assert "unanswerable questions refused" in " ".join(on_disk["floors"])
    report = (tmp_path / "a" / "report.md").read_text()
    assert "| fact | 1 | 1.000 |" in report
    assert "### q2 (unanswerable): answered an unanswerable question" in report
    assert "> Paris is the capital." in report
    assert "error: InputError: question too long" in report
    for png in ("accuracy_by_type.png", "latency.png"):
        assert (tmp_path / "a" / png).read_bytes()[:4] == b"\x89PNG"

    fake.replies["Capital of France?"] = answer(
        "Capital of France?", "I can't answer.", refused=True
    )
    fake.replies["How many left?"] = answer("How many left?", "Many left [1].", [cite(1, D4, "x")])
    run_eval(fake, _records(), tmp_path / "b", k=4, progress=False)
    diff = compare(tmp_path / "a", tmp_path / "b" / "results.json")
    better, worse = diff.split("## Worse")
    assert "q2 (unanswerable) Capital of France?: refused ✗→✓" in better
    assert "q1 (fact) How many left?: key facts ✓→✗" in worse
    assert "citation precision 1.00→0.00" in worse
    assert "| refusal_recall | 0.000 | 1.000 | +1.000 |" in diff
    # an answerable question answered wrongly is worse than refused, and the reverse better
    fake.replies["How many left?"] = answer("How many left?", "I can't answer.", refused=True)
    run_eval(fake, _records(), tmp_path / "c", k=4, progress=False)
    better, worse = compare(tmp_path / "b", tmp_path / "c").split("## Worse")
    assert "q1 (fact) How many left?: refused, was wrong" in better
    better, worse = compare(tmp_path / "c", tmp_path / "b").split("## Worse")
    assert "q1 (fact) How many left?: answered wrongly" in worse
    better, worse = compare(tmp_path / "a", tmp_path / "c").split("## Worse")
    assert "q1 (fact) How many left?: key facts ✓→✗; refused ✓→✗" in worse


# --- labelled datasets ---------------------------------------------------------------

CONTEXT = (
    "Proof of History is a sequence of computation that provides a way to cryptographically "
    "verify passage of time between two events. It uses a cryptographically secure function "
    "written so that output cannot be predicted from the input, and must be completely executed "
    "to generate the output."
)


def test_is_hit_tolerates_pdf_spacing() -> None:
    broken = CONTEXT.replace("computation", "comput ation").replace(
        "cryptographically", "crypto-\ngraphically"
    )
    assert is_hit(broken[40:200], CONTEXT)
    assert not is_hit(
        "Tower BFT is a PBFT-like consensus algorithm that uses the PoH clock.", CONTEXT
    )


def test_run_labelled_on_synthetic_dataset(tmp_path: Path, fake_embedder) -> None:
    data = {
        "examples": [
            {
                "query": "What is PoH?",
                "query_by": {"type": "ai"},
                "reference_answer": "A verifiable clock of computation.",
                "reference_contexts": [CONTEXT],
                "reference_answer_by": None,
            },
            {
                "query": "Who wrote it?",
                "reference_answer": "Xiangyu Li and others.",
                "reference_contexts": ["Xiangyu Li, Xinyu Wang"],
            },
            {"query": "Skipped by limit", "reference_answer": "", "reference_contexts": []},
        ]
    }
    path = tmp_path / "rag_dataset.json"
    path.write_text(json.dumps(data))
    fake = FakeAnswerer(
        {
            "What is PoH?": answer(
                "What is PoH?",
                "PoH is a verifiable clock of computation.",
                passages=[
                    passage("pdf/a.pdf", "unrelated words"),
                    passage("pdf/a.pdf", CONTEXT[10:220]),
                ],
            ),
            "Who wrote it?": InputError("nope"),
        }
    )
    results = run_labelled(
        fake, path, tmp_path / "out", fake_embedder.embed, limit=2, progress=False
    )
    first, second = results["examples"]
    assert (first["hit"], first["rank"]) == (True, 2)
    assert first["similarity"] > 0.5
    assert second["error"] == "InputError: nope" and second["similarity"] is None
    agg = results["aggregates"]
    assert (agg["n"], agg["errors"], agg["retrieval_hit_rate"], agg["mrr"]) == (2, 1, 0.5, 0.25)
    assert json.loads((tmp_path / "out" / "results.json").read_text())["aggregates"] == agg
    assert "What is PoH?" in (tmp_path / "out" / "report.md").read_text()

    path.write_text(json.dumps({"examples": [{"query": "", "reference_answer": "x"}]}))
    with pytest.raises(DatasetError, match="example 0: 'query'"):
        load_labelled(path)


# --- the real evaluation set ---------------------------------------------------------


def test_seeds_jsonl_is_sound() -> None:
    records = load_records(SEEDS_JSONL)
    counts = Counter(r.type for r in records)
    assert len(records) >= 44
    assert counts["multi"] >= 4 and counts["unanswerable"] >= 8 and counts["followup"] >= 6
    assert counts["fact"] > len(records) / 2
    docs = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "seeds").glob("*.txt"))
    assert {g for r in records for g in r.gold} == set(docs), "every seed document is used"
    for r in records:
        for g in r.gold:
            assert (ROOT / g).is_file(), f"{r.id}: gold {g} does not exist"
        if r.type == "followup":
            assert all(q and a for q, a in r.history), r.id
        if r.answerable:
            texts = [(ROOT / g).read_text("utf-8") for g in r.gold]
            for group in r.key_facts:
                assert any(contains(t, s) for t in texts for s in group), (
                    f"{r.id}: {group} not in gold"
                )


SQUAD_FOLLOWUPS_JSONL = ROOT / "eval" / "squad_followups.jsonl"
SQUAD_DOCS = ROOT.parent / "shared" / "datasets" / "squad2_dev" / "docs"


@lru_cache(maxsize=64)
def _indexed_text(path: Path) -> str:
    """The text the indexer sees (for HTML: the visible text, entities decoded)."""
    from index.loaders import Source, load

    return load(Source(path, path.parent)).text


def _assert_key_facts_in_gold(records: Sequence[EvalRecord], resolve) -> None:
    for r in records:
        if r.type == "followup":
            assert r.history and all(q and a for q, a in r.history), r.id
        texts = [_indexed_text(resolve(g)) for g in r.gold]
        for group in r.key_facts:
            assert any(contains(t, s) for t in texts for s in group), f"{r.id}: {group} not in gold"


@pytest.mark.parametrize(
    ("name", "suffix", "unanswerable", "followups"),
    [("python_docs", ".html", 10, 8), ("node_docs", ".md", 8, 4)],
)
def test_documentation_set_is_sound(name: str, suffix: str, unanswerable: int, followups: int):
    """A documentation set of the suite: facts, unanswerable questions and follow-ups over
    every page of its corpus, each key fact spelled as the page's indexed text has it."""
    records = load_records(ROOT / "eval" / f"{name}.jsonl")
    counts = Counter(r.type for r in records)
    assert len(records) >= 40
    assert counts["unanswerable"] >= unanswerable and counts["followup"] >= followups
    corpus = ROOT / "eval" / "corpora" / name
    pages = sorted(p.relative_to(ROOT).as_posix() for p in (corpus / "docs").rglob(f"*{suffix}"))
    assert {g for r in records for g in r.gold} == set(pages), "every page is used"
    assert all(not r.gold and not r.key_facts for r in records if r.type == "unanswerable")
    assert sum(p.stat().st_size for p in corpus.rglob("*") if p.is_file()) < 2_000_000
    assert (corpus / "PROVENANCE.md").is_file() and (corpus / "LICENSE.txt").is_file()
    _assert_key_facts_in_gold(records, lambda g: ROOT / g)


@pytest.mark.skipif(not SQUAD_DOCS.is_dir(), reason=f"{SQUAD_DOCS} is not on this machine")
def test_squad_followups_jsonl_is_sound() -> None:
    records = load_records(SQUAD_FOLLOWUPS_JSONL)
    assert len(records) >= 20 and {r.type for r in records} == {"followup"}
    for r in records:
        for g in r.gold:
            assert (SQUAD_DOCS / g).is_file(), f"{r.id}: gold {g} does not exist"
    _assert_key_facts_in_gold(records, lambda g: SQUAD_DOCS / g)
