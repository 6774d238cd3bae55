"""eval/verify.jsonl (labelled claim/passage pairs) and its harness, eval/verify.py."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from eval.verify import (
    DEFAULT_SET,
    EDITS,
    ROOT,
    SUPPORTED_EDITS,
    UNSUPPORTED_EDITS,
    VerifyPair,
    checker_check,
    evaluate,
    format_report,
    load_pairs,
    main,
    to_json,
)
from index.loaders import Source, read
from qa.citations import CitationChecker
from qa.schema import Passage
from qa.testing import HashEmbedder

PAIRS = load_pairs(DEFAULT_SET)
MIN_PER_CORPUS = {"squad": 50, "python_docs": 50, "seeds": 50, "solana": 25, "node_docs": 40}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_the_set_is_large_and_spread_over_the_corpora() -> None:
    assert len(PAIRS) >= 240
    per_corpus = Counter(p.corpus for p in PAIRS)
    assert set(per_corpus) == set(MIN_PER_CORPUS)
    for corpus, least in MIN_PER_CORPUS.items():
        assert per_corpus[corpus] >= least, (corpus, per_corpus[corpus])


def test_at_least_half_unsupported_and_mostly_minimal_edits() -> None:
    labels = Counter(p.label for p in PAIRS)
    assert labels["unsupported"] >= len(PAIRS) / 2
    unsupported = [p for p in PAIRS if not p.supported]
    minimal = [p for p in unsupported if p.edit != "unstated"]
    assert len(minimal) > 0.75 * len(unsupported)
    for corpus in MIN_PER_CORPUS:  # every corpus has both labels
        assert {p.label for p in PAIRS if p.corpus == corpus} == {"supported", "unsupported"}


def test_every_edit_kind_is_present() -> None:
    edits = Counter(p.edit for p in PAIRS)
    assert set(edits) == set(EDITS)
    for edit in UNSUPPORTED_EDITS:
        assert edits[edit] >= 10, (edit, edits[edit])
    # Enough reworded and copied supported claims to measure false rejections.
    assert edits["paraphrase"] >= 30 and edits["copy"] >= 30


def test_ids_are_unique_and_name_their_corpus() -> None:
    ids = [p.id for p in PAIRS]
    assert len(ids) == len(set(ids))
    assert all(p.id.startswith(f"{p.corpus}-") for p in PAIRS)


def test_passages_occur_verbatim_in_their_sources() -> None:
    texts: dict[str, str] = {}
    missing = []
    for p in PAIRS:
        if p.source not in texts:
            path = (ROOT / p.source).resolve()
            if not path.is_file():
                missing.append(p.source)
                continue
            texts[p.source] = _norm(read(Source(path, path.parent)).doc.text)
        assert _norm(p.passage) in texts[p.source], (p.id, p.passage[:80])
    if missing:
        outside = [s for s in missing if not (ROOT / s).resolve().is_relative_to(ROOT)]
        assert outside == missing, f"missing sources inside the repository: {missing}"
        pytest.skip(f"shared datasets not here: {sorted(set(missing))[:3]}")


def test_supported_claims_are_written_as_labelled() -> None:
    for p in PAIRS:
        claim, passage = _norm(p.claim).lower(), _norm(p.passage).lower()
        if p.edit == "copy":  # a run of at least six words of the passage, as it is
            run = re.findall(r"\S+", claim.rstrip("."))
            assert any(" ".join(run[i : i + 6]) in passage for i in range(max(1, len(run) - 5))), (
                p.id
            )
        if p.edit in ("paraphrase", "none") or not p.supported:
            assert claim.rstrip(".") not in passage, f"{p.id} copies its passage"


def _write(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _row(i: str, corpus: str, label: str, edit: str, claim: str) -> dict[str, Any]:
    return {
        "id": i,
        "corpus": corpus,
        "source": "x.txt",
        "passage": "The cat sat on the mat.",
        "claim": claim,
        "label": label,
        "edit": edit,
        "question": "Where did the cat sit?",
    }


TINY = [
    _row("a-1", "a", "supported", "copy", "yes: the cat sat on the mat"),
    _row("a-2", "a", "supported", "paraphrase", "no: a cat was sitting on a mat"),
    _row("a-3", "a", "unsupported", "negation", "no: the cat did not sit on the mat"),
    _row("b-1", "b", "supported", "none", "yes: the cat sat"),
    _row("b-2", "b", "unsupported", "number", "yes: two cats sat on the mat"),
    _row("b-3", "b", "unsupported", "negation", "no: the cat stood"),
]


def test_evaluate_counts_and_shares_per_corpus_and_edit(tmp_path: Path) -> None:
    pairs = load_pairs(_write(tmp_path, TINY))
    seen: list[tuple[str, str, str]] = []

    def says_yes(claim: str, passage: str, question: str) -> bool:
        seen.append((claim, passage, question))
        return claim.startswith("yes")

    done: list[int] = []
    report = evaluate(says_yes, pairs, lambda d, total: done.append(d))
    assert done == [1, 2, 3, 4, 5, 6]
    assert seen[0] == (
        "yes: the cat sat on the mat",
        "The cat sat on the mat.",
        "Where did the cat sit?",
    )
    o = report.overall
    assert (o.supported, o.accepted, o.unsupported, o.rejected) == (3, 2, 3, 2)
    assert report.pairs == 6
    assert report.by_corpus["a"].accepted_share == 0.5
    assert report.by_corpus["a"].rejected_share == 1.0
    assert report.by_corpus["b"].accepted_share == 1.0
    assert report.by_corpus["b"].rejected_share == 0.5
    assert report.by_edit["negation"].rejected == 2 and report.by_edit["negation"].unsupported == 2
    assert report.by_edit["number"].rejected_share == 0.0
    assert report.by_edit["copy"].rejected_share is None  # no unsupported copies
    assert list(report.by_edit) == ["none", "paraphrase", "copy", "negation", "number"]
    assert [(e.id, e.label) for e in report.errors] == [
        ("a-2", "supported"),
        ("b-2", "unsupported"),
    ]
    assert report.mean_ms >= 0 and report.p50_ms >= 0

    data = json.loads(json.dumps(to_json(report)))
    assert data["overall"]["supported_accepted_share"] == pytest.approx(2 / 3, abs=1e-4)
    assert data["by_edit"]["number"]["unsupported_rejected"] == 0
    assert [e["id"] for e in data["errors"]] == ["a-2", "b-2"]

    text = format_report(report, max_errors=1)
    assert "| **all** (6) | 0.67 (2/3) | 0.67 (2/3) |" in text
    assert "| a | 0.50 (1/2) | 1.00 (1/1) |" in text
    assert "| edit: copy | 1.00 (1/1) | — |" in text
    assert "`a-2` supported (paraphrase), rejected" in text
    assert "b-2" not in text and "1 more" in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"label": "maybe"}, "label 'maybe'"),
        ({"edit": "negation"}, "does not fit label 'supported'"),
        ({"claim": ""}, "missing or empty claim"),
    ],
)
def test_a_bad_pair_is_an_error_naming_its_line(
    tmp_path: Path, change: dict[str, str], message: str
) -> None:
    rows = [TINY[0], {**TINY[1], **change}]
    with pytest.raises(ValueError, match=message) as err:
        load_pairs(_write(tmp_path, rows))
    assert "pairs.jsonl:2" in str(err.value)


def test_a_repeated_id_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'a-1' is used twice"):
        load_pairs(_write(tmp_path, [TINY[0], TINY[0]]))


def test_checker_check_hands_the_passage_as_source_one() -> None:
    calls: list[tuple[str, Passage, str]] = []

    class Recorder:
        def support(
            self, claim: str, passage: Passage, claim_vec: Any = None, given: str = ""
        ) -> Any:
            calls.append((claim, passage, given))
            return type("S", (), {"ok": "mat" in claim})()

    check = checker_check(Recorder())
    assert check("The cat sat on the mat.", "A cat. It sat.", "Where?") is True
    assert check("The dog ran.", "A cat. It sat.", "") is False
    claim, p, given = calls[0]
    assert (p.n, p.start, p.end, p.text, given) == (
        1,
        0,
        len("A cat. It sat."),
        "A cat. It sat.",
        "Where?",
    )


def test_checker_check_with_a_real_checker_on_fake_vectors() -> None:
    check = checker_check(CitationChecker(HashEmbedder()))
    passage = "Seven checkpoints were established in western Aleppo. The weather was mild."
    assert check("Seven checkpoints were established in western Aleppo.", passage, "")
    assert not check("Nine checkpoints were established in western Aleppo.", passage, "")


def test_the_command_prints_the_table_and_writes_json(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("QA_EMBED_MODE", "fake")
    monkeypatch.setenv("QA_LLM_MODE", "fake")
    rows = [
        {**_row("s-1", "s", "supported", "copy", "The cat sat on the mat."), "question": ""},
        {**_row("s-2", "s", "unsupported", "number", "Two cats sat on the mat."), "question": ""},
        {**_row("t-1", "t", "unsupported", "unstated", "Dogs bark at night."), "question": ""},
    ]
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        main, ["--set", str(_write(tmp_path, rows)), "--json", str(out), "--corpus", "s"]
    )
    assert result.exit_code == 0, result.output
    assert "| **all** (2) | 1.00 (1/1) | 1.00 (1/1) |" in result.output
    data = json.loads(out.read_text())
    assert data["pairs"] == 2 and data["meta"]["judge"] == "off"
    assert set(data["by_corpus"]) == {"s"}


def test_the_command_says_what_is_wrong_with_the_set(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("{not json\n")
    result = CliRunner().invoke(main, ["--set", str(path)])
    assert result.exit_code != 0
    assert "bad.jsonl:1: not JSON" in result.output


def test_pair_supported_property() -> None:
    p = VerifyPair("x-1", "x", "s", "p", "c", "supported", "none")
    assert p.supported and p.edit in SUPPORTED_EDITS and p.question == ""
