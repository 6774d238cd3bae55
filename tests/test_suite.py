"""The development suite and `qa eval --set/--docs/--suite`: evaluation indexes of their own,
one table a row per set, partial results written as each set finishes, missing and failing
sets reported instead of crashing. Fakes only (HashEmbedder, FakeGenerator, FakeAnswerer)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main
from eval.suite import SUITE_JSON, SUITE_MD, SuiteSet, default_suite, run_suite, select
from eval.suite_report import broken_floors
from eval.workspace import Workspace, eval_index_dir
from qa.errors import QAError
from tests.test_eval import CONTEXT, CORRIDORS, D2, FakeAnswerer, answer, cite, passage

ROOT = Path(__file__).resolve().parent.parent


def _write_set(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    return path


RECORDS = [
    {
        "id": "a",
        "type": "fact",
        "question": "How many left?",
        "key_facts": [["3179"]],
        "gold": [D2],
    },
    {"id": "b", "type": "unanswerable", "question": "Capital of France?"},
    {
        "id": "c",
        "type": "followup",
        "question": "And children?",
        "key_facts": [["1519"]],
        "gold": [D2],
        "history": [["How many left?", "3,179 [1]."]],
    },
]


def test_eval_index_dir_is_stable_per_folder(tmp_path: Path) -> None:
    a, b = tmp_path / "x" / "docs", tmp_path / "y" / "docs"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    data = tmp_path / "data"
    assert eval_index_dir(data, a) == eval_index_dir(data, tmp_path / "x" / ".." / "x" / "docs")
    assert eval_index_dir(data, a) != eval_index_dir(data, b), "same name, other folder"
    assert eval_index_dir(data, a).parent == data / "eval-indexes"
    assert eval_index_dir(data, a).name.startswith("docs-")
    # Another embedder builds an index of its own instead of being refused by this one.
    assert eval_index_dir(data, a, "all-MiniLM-L6-v2-int8-dq") != eval_index_dir(
        data, a, "all-MiniLM-L6-v2-int8"
    )
    assert eval_index_dir(data, a, "x").parent == data / "eval-indexes"


def test_run_suite_rows_partial_results_missing_and_failing_sets(tmp_path: Path, fake_embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    labelled = tmp_path / "rag_dataset.json"
    labelled.write_text(
        json.dumps(
            {
                "examples": [
                    {
                        "query": "What is PoH?",
                        "reference_answer": "A verifiable clock of computation.",
                        "reference_contexts": [CONTEXT],
                    }
                ]
            }
        )
    )
    sets = [
        SuiteSet("news", "records", _write_set(tmp_path / "news.jsonl", RECORDS), docs),
        SuiteSet("gone", "records", tmp_path / "absent.jsonl", docs),
        SuiteSet("broken", "records", tmp_path / "news.jsonl", tmp_path),
        SuiteSet("pdf", "labelled", labelled, docs),
    ]
    fake = FakeAnswerer(
        {
            "How many left?": answer(
                "How many left?", "3179 people left [1].", [cite(1, D2, CORRIDORS)], [passage(D2)]
            ),
            "Capital of France?": answer("Capital of France?", "No.", refused=True),
            "And children?": answer("And children?", "Many children left.", total_ms=300),
            "What is PoH?": answer(
                "What is PoH?",
                "PoH is a verifiable clock of computation.",
                passages=[passage("pdf/a.pdf", CONTEXT)],
            ),
        }
    )
    closed: list[str] = []

    def prepare(s: SuiteSet) -> Workspace:
        if s.name == "broken":
            raise QAError("another process is indexing")
        return Workspace(
            fake, fake_embedder.embed, index_s=2.5, close=lambda: closed.append(s.name)
        )

    seen: list[dict] = []

    def on_row(row: dict) -> None:  # what is on disk when each set has just finished
        seen.append(json.loads((tmp_path / "out" / SUITE_JSON).read_text()))

    suite = run_suite(sets, prepare, tmp_path / "out", k=6, on_row=on_row)

    statuses = [[r["status"] for r in snap["rows"]] for snap in seen]
    assert statuses[0] == ["done", "pending", "pending", "pending"]
    assert statuses[-1] == ["done", "missing", "error", "done"]
    assert closed == ["news", "pdf"], "every opened workspace is closed"
    assert fake.calls[2] == ("And children?", [("How many left?", "3,179 [1].")])

    news, gone, broken, pdf = suite["rows"]
    assert (news["n"], news["key_fact_accuracy"], news["refusal_recall"]) == (3, 0.5, 1.0)
    assert (news["followups_correct"], news["followups"]) == (0, 1)
    assert news["false_refusal_rate"] == 0.0 and news["citation_precision"] == 1.0
    assert news["index_s"] == 2.5 and news["time_s"] is not None
    assert (tmp_path / "out" / "news" / "results.json").is_file()
    assert str(tmp_path / "absent.jsonl") in gone["error"]
    assert broken["error"] == "QAError: another process is indexing"
    assert pdf["hit_at_k"] == 1.0 and pdf["answer_similarity_mean"] > 0.5
    assert (tmp_path / "out" / "pdf" / "results.json").is_file()

    md = (tmp_path / "out" / SUITE_MD).read_text()
    assert "| set | n | key facts | cit. precision |" in md
    assert "| news | 3 | 0.500 | 1.000 | 0.500 | 1.000 | 0.000 | 0/1 | 0.500 |" in md
    assert "missing: not found:" in md and "error: QAError: another process is indexing" in md
    assert "| pdf | 1 | n/a |" in md and "answer similarity" in md
    assert "so far" not in md


def test_a_running_set_shows_its_questions_so_far(tmp_path: Path, monkeypatch, fake_embedder):
    import eval.suite

    monkeypatch.setattr(eval.suite, "PARTIAL_EVERY", 1)
    docs = tmp_path / "docs"
    docs.mkdir()
    on_disk: list[dict] = []

    class Peeking(FakeAnswerer):
        def ask(self, question, history=()):
            on_disk.append(json.loads((tmp_path / "out" / SUITE_JSON).read_text()))
            return super().ask(question, history)

    fake = Peeking({r["question"]: answer(r["question"], "No.", refused=True) for r in RECORDS})
    sets = [SuiteSet("news", "records", _write_set(tmp_path / "news.jsonl", RECORDS), docs)]
    run_suite(sets, lambda s: Workspace(fake, fake_embedder.embed), tmp_path / "out", k=6)
    rows = [snap["rows"][0] for snap in on_disk]
    assert [(r["status"], r["n"]) for r in rows] == [
        ("pending", None),
        ("running", 1),
        ("running", 2),
    ]
    assert rows[2]["false_refusal_rate"] == 1.0, "the running row holds the rows so far"
    md = (tmp_path / "out" / SUITE_MD).read_text()
    assert "running:" not in md and "| news | 3 |" in md


def test_rows_name_the_floors_they_break() -> None:
    row = {
        "name": "python_docs",
        "status": "done",
        "kind": "records",
        "key_fact_accuracy": 0.5,
        "citation_precision": 0.95,
        "refusal_recall": None,
        "false_refusal_rate": 0.2,
        "followups_correct": 6,
        "followups": 8,
    }
    assert broken_floors(row) == [
        "key facts 0.50 (floor >= 0.75)",
        "false refusals 0.20 (floor <= 0.10)",
    ]
    assert broken_floors({**row, "followups_correct": 5})[-1] == "follow-ups 0.62 (floor >= 0.75)"
    assert broken_floors({**row, "name": "elsewhere"}) == [], "only the issue's sets have floors"


def test_select_names_unknown_sets() -> None:
    sets = default_suite(ROOT)
    assert [s.name for s in select(sets, ["python_docs", "seeds", "python_docs"])] == [
        "python_docs",
        "seeds",
    ], "in the order asked, once each"
    assert [s.name for s in select(sets, [])] == [s.name for s in sets]
    with pytest.raises(QAError, match="No suite set named nope: choose from seeds, python_docs"):
        select(sets, ["nope"])


def test_default_suite_points_at_the_repository_sets(tmp_path: Path) -> None:
    sets = {s.name: s for s in default_suite(ROOT, shared=tmp_path / "no-shared")}
    assert set(sets) == {
        "seeds",
        "python_docs",
        "node_docs",
        "squad_followups",
        "squad2_dev",
        "blockchain_solana",
    }
    for name in ("seeds", "python_docs", "node_docs"):
        assert sets[name].missing() == [], name
    assert sets["squad_followups"].set_path.is_file()
    assert sets["squad2_dev"].missing(), "without shared/ the SQuAD set is missing, not a crash"
    assert sets["blockchain_solana"].kind == "labelled"


# --- the command line, with the fake embedder and generator ------------------------------


@pytest.fixture
def fake_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_EMBED_MODE", "fake")
    monkeypatch.setenv("QA_LLM_MODE", "fake")


def _seed_set(tmp_path: Path) -> Path:
    lines = (ROOT / "eval" / "seeds.jsonl").read_text("utf-8").splitlines()[:2]
    path = tmp_path / "two.jsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def test_cli_set_and_docs_use_an_index_of_their_own(tmp_path: Path, fake_env, seeds_dir) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    args = ["eval", "--set", str(_seed_set(tmp_path)), "--docs", str(seeds_dir)]
    args += ["--data-dir", str(data), "--out", str(out)]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "5 added" in first.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["meta"]["n"] == 2
    assert results["questions"][0]["answer"]["passages"], "the set was asked over the folder"
    index = eval_index_dir(data, seeds_dir, "hash-bow")  # the fake embedder's index
    assert (index / "chroma").is_dir()
    assert not (data / "chroma").exists(), "the user's own index is not touched"

    second = CliRunner().invoke(main, args)
    assert second.exit_code == 0, second.output
    assert "0 added, 0 updated, 0 removed, 5 unchanged" in second.stderr, "reused"

    (seeds_dir / "000_extra.txt").write_text("A new document about something else.\n")
    third = CliRunner().invoke(main, args)
    assert "1 added, 0 updated, 0 removed, 5 unchanged" in third.stderr


def test_cli_set_without_docs_needs_an_index(tmp_path: Path, fake_env) -> None:
    res = CliRunner().invoke(
        main, ["eval", "--set", str(_seed_set(tmp_path)), "--data-dir", str(tmp_path / "none")]
    )
    assert res.exit_code == 1 and "No index at" in res.output


def test_cli_suite_prints_one_table_and_writes_reports(tmp_path: Path, fake_env) -> None:
    out = tmp_path / "suite"
    args = ["eval", "--suite", "--only", "seeds", "--only", "python_docs", "--limit", "2"]
    args += ["--check-floors", "--data-dir", str(tmp_path / "data"), "--out", str(out)]
    res = CliRunner().invoke(main, args)
    # the fake generator refuses every question: the table is printed, the floors break
    assert res.exit_code == 1, res.output
    assert "| seeds | 2 |" in res.stdout and "| python_docs | 2 |" in res.stdout
    assert "FLOOR BROKEN: python_docs: " in res.stderr and "(floor <= 0.10)" in res.stderr
    assert "seeds: done (2 questions)" in res.stderr
    suite = json.loads((out / SUITE_JSON).read_text())
    assert [r["status"] for r in suite["rows"]] == ["done", "done"]
    assert suite["meta"]["limit"] == 2
    for name in ("seeds", "python_docs"):
        assert (out / name / "report.md").is_file()
    assert len(list((tmp_path / "data" / "eval-indexes").iterdir())) == 2


def test_cli_suite_offset_asks_another_slice(tmp_path: Path, fake_env) -> None:
    def asked(offset: str) -> list[str]:
        out = tmp_path / f"suite-{offset}"
        args = ["eval", "--suite", "--only", "seeds", "--limit", "3", "--offset", offset]
        res = CliRunner().invoke(
            main, [*args, "--data-dir", str(tmp_path / "d"), "--out", str(out)]
        )
        assert res.exit_code == 0, res.output
        assert json.loads((out / SUITE_JSON).read_text())["meta"]["offset"] == int(offset)
        rows = json.loads((out / "seeds" / "results.json").read_text())["questions"]
        return [q["id"] for q in rows]

    first, second = asked("0"), asked("2")
    assert len(first) == len(second) == 3 and not set(first) & set(second)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--suite", "--docs", "."], "--suite runs its own sets; drop --docs"),
        (["--suite", "--only", "nope"], "No suite set named nope"),
        (["--only", "seeds"], "--only picks sets of the suite"),
        (["--docs", "."], "--docs needs the questions to ask: add --set FILE."),
        (["--suite", "--offset", "2"], "--offset shifts a --limit slice: add --limit N."),
        (["--suite", "--limit", "4", "--offset", "-1"], "--offset must be 0 or more."),
    ],
)
def test_cli_suite_rejects_bad_options(tmp_path: Path, fake_env, extra, message) -> None:
    res = CliRunner().invoke(main, ["eval", *extra, "--data-dir", str(tmp_path / "d")])
    assert res.exit_code != 0 and message in res.output
    assert not (tmp_path / "d").exists()
