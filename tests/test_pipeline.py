"""The answer path as stages: every decision path, run with a scripted FakeGenerator, leaves
its origin, reason and trace on the answer; the policy's checks can be turned off by name;
one sentence-vector cache means no text is embedded twice for one question."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from eval.dataset import EvalRecord
from eval.metrics import aggregate, score_answer
from eval.report import render_report
from qa.answerer import Answerer
from qa.citations import CitationChecker, Numbering
from qa.errors import QAError
from qa.judge import Claim
from qa.pipeline import compose
from qa.pipeline.vectors import SentenceVectors
from qa.policy import CHECKS, Policy
from qa.prompts import REFUSAL, REFUSED, part_refused
from qa.reader import Reading
from qa.schema import Answer, Citation, Origin, Reason, Sentence, Trace
from qa.service import build_answerer, run_index
from qa.settings import load_settings
from qa.testing import FakeGenerator, HashEmbedder
from tests.test_reader import LEFT, PASSAGES, StubRetriever, passage

CHECKPOINTS_Q = "What did Peskov say about the checkpoints in western Aleppo?"
PESKOV = "Peskov said seven checkpoints were established in western Aleppo [2]."
LEFT_ANSWER = "3,179 people left eastern Aleppo through the humanitarian corridors [1]."


class NoAnswerJudge:
    """States every claim, but never that a quote answers a question."""

    def score(self, items: Sequence[Claim]) -> list[float]:
        return [0.0 if i.claim.startswith("The answer to") else 1.0 for i in items]


def make(*replies: str, passages=PASSAGES, judge=None, **kwargs) -> tuple[Answerer, FakeGenerator]:
    gen = FakeGenerator(replies)
    checker = CitationChecker(HashEmbedder(), judge=judge)
    retriever = StubRetriever(list(passages))
    return Answerer(retriever, gen, checker, **kwargs), gen  # type: ignore[arg-type]


def outcome(answer: Answer) -> tuple[Origin, Reason | None, tuple[str, ...]]:
    return answer.origin, answer.reason, answer.trace.checks


def test_an_answer_that_stands_is_the_models():
    answerer, gen = make(LEFT_ANSWER)
    answer = answerer.ask(LEFT)
    assert outcome(answer) == (Origin.MODEL, None, ())
    t = answer.trace
    assert (t.passages, t.repointed, t.dropped, t.retried, t.parts) == (3, 0, 0, False, None)
    assert t.context_tokens and t.context_tokens > 0
    assert None not in (t.retrieve_ms, t.first_token_ms, t.generate_ms, t.read_ms, t.total_ms)
    assert (t.rewrite_ms, t.retry_ms) == (None, None)
    assert answer.timings == t.timings() and set(answer.timings) == {
        "retrieve_ms", "first_token_ms", "generate_ms", "read_ms", "total_ms",
    }  # fmt: skip
    assert not any(k.startswith(("refused_", "extractive_")) for k in answer.stats)
    out = answer.to_json(debug=True)
    assert (out["origin"], out["reason"]) == ("model", None)
    assert out["stats"]["passages"] == 3 and out["stats"]["repointed"] == 0


def test_a_citation_to_the_wrong_passage_is_repointed_and_the_answer_stands():
    answerer, _ = make(LEFT_ANSWER.replace("[1]", "[2]"))
    answer = answerer.ask(LEFT)
    assert outcome(answer) == (Origin.MODEL, None, ())
    assert answer.trace.repointed == 1 and answer.stats["repointed"] == 1
    assert [c.source for c in answer.citations] == ["center.txt"]


@pytest.mark.parametrize(
    "reply, reason",
    [
        (REFUSAL, Reason.MODEL_REFUSED),
        ("", Reason.MODEL_REFUSED),
        ("Over 80,000 Syrians have been freed [1].", Reason.CONTRADICTED),
        ("People left eastern Aleppo through the humanitarian corridors [1].", Reason.RESTATED),
        (
            "Families left eastern Aleppo through the humanitarian corridors [1].",
            Reason.ANSWER_TYPE,
        ),
    ],
)
def test_a_doubted_answer_gives_way_to_the_sentence_that_plainly_answers(reply, reason):
    answerer, gen = make(reply)
    answer = answerer.ask(LEFT)
    assert outcome(answer) == (Origin.EXTRACTIVE, reason, (reason.value,))
    assert "3,179" in answer.text and answer.citations[0].source == "center.txt"
    assert answer.stats[f"extractive_{reason.stat}"] == 1
    assert not answer.trace.retried and len(gen.history) == 1
    assert answer.raw_text == reply
    assert answer.to_json()["reason"] == reason.value


def test_a_second_look_that_answers_is_the_models_answer():
    answerer, gen = make(REFUSAL, PESKOV)
    answer = answerer.ask(CHECKPOINTS_Q)
    assert outcome(answer) == (Origin.MODEL, None, ("model_refused",))
    assert answer.trace.retried and answer.trace.retry_answered
    assert answer.trace.retry_ms is not None and answer.raw_text == PESKOV
    assert (answer.stats["retried"], answer.stats["retry_answered"]) == (1, 1)
    assert answer.trace.repointed == 0  # the second look's verification
    assert len(gen.history) == 2


def test_a_second_look_that_refuses_too_is_a_refusal_for_the_first_reason():
    answerer, gen = make(REFUSAL, "PWNED [1].")
    answer = answerer.ask(CHECKPOINTS_Q)
    assert outcome(answer) == (
        Origin.REFUSAL,
        Reason.MODEL_REFUSED,
        ("model_refused", "unsupported"),
    )
    assert answer.refused and answer.trace.retried and not answer.trace.retry_answered
    assert answer.stats["refused_model"] == 1 and "repointed" not in answer.stats
    assert answer.raw_text == REFUSAL


def test_nothing_close_enough_is_refused_without_the_model():
    answerer, gen = make(passages=[])
    answer = answerer.ask(LEFT)
    assert outcome(answer) == (Origin.REFUSAL, Reason.LOW_RELEVANCE, ("low_relevance",))
    assert gen.history == [] and answer.stats == {"refused_low_relevance": 1}
    assert answer.timings["first_token_ms"] == answer.timings["total_ms"]
    assert answer.text == "The documents do not contain the answer."


def test_an_answer_no_source_supports_is_refused_after_a_second_look():
    answerer, gen = make("PWNED [1].", "PWNED [2].")
    answer = answerer.ask("Why did people leave eastern Aleppo through the corridors?")
    assert outcome(answer) == (Origin.REFUSAL, Reason.UNSUPPORTED, ("unsupported", "unsupported"))
    assert answer.stats["refused_unsupported"] == 1 and answer.stats["retried"] == 1
    assert "PWNED" not in answer.text


def test_an_answer_without_the_asked_for_kind_is_refused():
    answerer, _ = make("Families left eastern Aleppo through the humanitarian corridors [1].")
    answerer.retry_sentences = 0
    answerer.reader.read = lambda q, ps: Reading("number", [])  # type: ignore[method-assign]
    answer = answerer.ask(LEFT)
    assert outcome(answer) == (Origin.REFUSAL, Reason.ANSWER_TYPE, ("answer_type",))
    assert answer.stats["refused_answer_type"] == 1 and not answer.trace.retried


def test_an_answer_about_something_else_is_refused():
    answerer, _ = make("Seven checkpoints were established in western Aleppo [2].")
    answerer.retry_sentences = 0
    answer = answerer.ask("How many Russian servicemen have been killed in Syria?")
    assert outcome(answer) == (Origin.REFUSAL, Reason.OFF_QUESTION, ("off_question",))


def test_an_answer_from_a_document_that_never_names_the_asked_code_is_refused():
    files = passage(1, "files.html", "The first argument is a string containing the filename.")
    cli = passage(
        2, "cli.html", "An ArgumentParser object holds what is needed to parse a command line."
    )
    question = "Which ArgumentParser parameter reads the arguments from a file?"
    answerer, _ = make(
        "The first argument is a string containing the filename [1].", passages=[files, cli]
    )
    answerer.retry_sentences = 0
    answer = answerer.ask(question)
    assert outcome(answer) == (Origin.REFUSAL, Reason.OFF_QUESTION, ("off_question",))
    # The same answer stands when its document names the code.
    files = replace(files, text=files.text + " ArgumentParser reads it.")
    files = replace(files, end=files.start + len(files.text))
    answerer, _ = make(
        "The first argument is a string containing the filename [1].", passages=[files, cli]
    )
    assert answerer.ask(question).origin == Origin.MODEL


def test_quotes_the_judge_says_do_not_answer_the_question_are_refused():
    answerer, _ = make(LEFT_ANSWER, judge=NoAnswerJudge())
    answer = answerer.ask(LEFT)
    # The reader's sentence is decisive, but the judge says it does not answer either.
    assert outcome(answer) == (Origin.REFUSAL, Reason.NOT_ANSWERED, ("not_answered",))
    assert answer.stats["refused_not_answered"] == 1


def test_the_parts_of_a_two_part_question_are_joined():
    answerer, _ = make(LEFT_ANSWER)  # the second part: the default reply, a refusal
    answer = answerer.ask(
        "How many people left eastern Aleppo through the humanitarian corridors, and what "
        "did Peskov say about the weather in Sochi on that day?"
    )
    assert outcome(answer) == (Origin.JOINED, None, ("model_refused", "model_refused"))
    assert not answer.refused and answer.trace.parts == 2 and answer.stats["parts"] == 2
    assert answer.stats["refused_model"] == 1 and answer.stats["passages"] == 6
    assert answer.trace.passages == 6 and answer.trace.retried
    assert answer.timings["total_ms"] >= answer.timings["retrieve_ms"]


def _cite(n: int, source: str, start: int) -> Citation:
    return Citation(n, source, source, f"quote {source} {start}", start, start + 12, 1, None, 0.5)


def test_joined_parts_share_one_renumbering_with_the_checker():
    """compose.joined numbers citations as the checker does (qa.citations.Numbering): in the
    order first cited, one number per quote, a refused part said in words."""
    a, b = _cite(1, "a.txt", 0), _cite(2, "b.txt", 40)
    first = Answer.create(
        "q1",
        Origin.MODEL,
        Trace(),
        text="X [2]. Y [1][2].",
        citations=[a, b],
        sentences=[Sentence("X.", (2,)), Sentence("Y.", (1, 2))],
    )
    second = Answer.create(
        "q2", Origin.MODEL, Trace(), text="Z [1].", citations=[replace(b, n=1)],
        sentences=[Sentence("Z.", (1,))],
    )  # fmt: skip
    third = Answer.create("q3", Origin.REFUSAL, Trace(), reason=Reason.MODEL_REFUSED, text="-")
    joined = compose.joined("q", "q", [first, second, third], Trace())
    assert [(c.n, c.source) for c in joined.citations] == [(1, "b.txt"), (2, "a.txt")]
    assert [s.citations for s in joined.sentences] == [(1,), (2, 1), (1,), ()]
    assert joined.text == f"X [1]. Y [2][1]. Z [1]. {part_refused('q3')}"
    numbering = Numbering()
    assert numbering.add([a, b, a]) == [1, 2] and numbering.add([replace(b, n=7)]) == [2]
    assert [c.n for c in numbering.citations] == [1, 2]
    everything_refused = compose.joined("q", "q", [third], Trace())
    assert everything_refused.refused and everything_refused.text == REFUSED


def test_a_follow_up_is_rewritten_and_searched_for_as_rewritten():
    standalone = "How many people left eastern Aleppo through the humanitarian corridors?"
    answerer, gen = make(standalone, LEFT_ANSWER)
    history = [("What happened in eastern Aleppo?", "Many left [1].")]
    answer = answerer.ask("And how many of them left?", history)
    assert outcome(answer) == (Origin.MODEL, None, ())
    assert answer.standalone_question == standalone and answer.trace.rewrite_ms is not None
    assert answerer.retriever.queries == [standalone]  # type: ignore[attr-defined]
    assert "rewrite_ms" in answer.timings and "standalone_question" in answer.to_json()


def test_a_follow_ups_answer_that_repeats_the_previous_turn_is_no_answer():
    history = [
        (
            "Who reported that 3,179 people left eastern Aleppo through the corridors?",
            "The Reconciliation Center [1].",
        )
    ]
    standalone = "What did the Reconciliation Center count among the people who left?"
    repeat = "The Reconciliation Center reported that 3,179 people left eastern Aleppo [1]."
    answerer, gen = make(standalone, repeat, REFUSAL)
    answer = answerer.ask("What did it count among them?", history)
    assert outcome(answer)[:2] == (Origin.REFUSAL, Reason.RESTATED)
    # Words of the follow-up's own make it an answer to the follow-up.
    counted = "The Reconciliation Center counted 1,519 children among them [1]."
    answerer, gen = make(standalone, counted)
    assert outcome(answerer.ask("What did it count among them?", history))[:2] == (
        Origin.MODEL,
        None,
    )
    # The same answer to a question asked on its own stands.
    answerer, gen = make(repeat)
    assert answerer.ask(history[0][0]).origin is Origin.MODEL


# -- the policy ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "off, reply, question, expect",
    [
        ("contradicted", "Over 80,000 Syrians have been freed [1].", LEFT, (Origin.MODEL, None)),
        ("extractive", REFUSAL, LEFT, (Origin.REFUSAL, Reason.MODEL_REFUSED)),
        ("retry", REFUSAL, CHECKPOINTS_Q, (Origin.REFUSAL, Reason.MODEL_REFUSED)),
        ("low_relevance", LEFT_ANSWER, LEFT, (Origin.MODEL, None)),
    ],
)
def test_a_check_turned_off_does_not_apply(off, reply, question, expect):
    answerer, gen = make(reply, PESKOV, policy_off=off, min_relevance=0.99)
    if off != "low_relevance":
        answerer.min_relevance = 0.3
    answer = answerer.ask(question)
    assert (answer.origin, answer.reason) == expect
    assert len(gen.history) == 1  # no second look in any of these


def test_policy_names_are_checked_and_unsupported_stays_on(monkeypatch):
    monkeypatch.setenv("QA_POLICY_OFF", "retry, off_question")
    assert Policy.build(load_settings().policy_off).off == {"retry", "off_question"}
    with pytest.raises(QAError, match="no check contradicted_x.*the checks are low_relevance"):
        Policy.build("contradicted_x")
    with pytest.raises(QAError, match="'unsupported' cannot be turned off"):
        Policy.build("unsupported")
    assert CHECKS[:2] == ("low_relevance", "model_refused") and "extractive" in CHECKS
    policy = Policy.build(min_relevance=0.4, retry_sentences=5)
    assert (policy.low_relevance.min_similarity, policy.retry.sentences) == (0.4, 5)
    assert [c.name.value for c in Policy.build("contradicted").checks] == [
        "model_refused", "unsupported", "restated", "answer_type", "off_question",
        "not_answered",
    ]  # fmt: skip


def test_an_answer_has_one_constructor_and_its_reason_goes_with_its_origin():
    with pytest.raises(ValueError, match="reason"):
        Answer.create("q", Origin.REFUSAL, Trace(), text="No.")
    with pytest.raises(ValueError, match="reason"):
        Answer.create("q", Origin.MODEL, Trace(), reason=Reason.UNSUPPORTED, text="Yes.")
    a = Answer.create(
        "q", Origin.REFUSAL, Trace(total_ms=2.0), reason=Reason.MODEL_REFUSED, text="No."
    )
    assert a.refused and a.stats == {"refused_model": 1} and a.timings == {"total_ms": 2.0}


# -- the eval counts the checks --------------------------------------------------------------


def test_eval_counts_how_often_each_check_fired():
    record = EvalRecord(id="q1", type="fact", question=LEFT, key_facts=(("3,179",),))
    answerer, _ = make(REFUSAL)
    extracted = answerer.ask(LEFT)
    answerer, _ = make(passages=[])
    refused = answerer.ask(LEFT)
    rows = [
        {"type": "fact", "scores": score_answer(record, extracted, 6)},
        {"type": "fact", "scores": score_answer(record, refused, 6)},
    ]
    old = {k: v for k, v in rows[0]["scores"].items() if k not in ("checks", "outcomes")}
    rows.append({"type": "fact", "scores": old})  # a row written before checks were recorded
    checks = aggregate(rows, 6)["checks"]
    assert checks["model_refused"] == {"fired": 1, "refused": 0, "extractive": 1}
    assert checks["low_relevance"] == {"fired": 1, "refused": 1, "extractive": 0}
    assert checks["contradicted"] == {"fired": 0, "refused": 0, "extractive": 0}
    assert checks["retry"] == {"fired": 0, "answered": 0}
    assert (
        rows[0]["scores"]["origin"] == "extractive"
        and rows[1]["scores"]["reason"] == "low_relevance"
    )
    results = {
        "aggregates": aggregate(rows, 6),
        "questions": [
            {**r, "id": f"q{i}", "question": LEFT, "key_facts": [["3,179"]], "gold": []}
            for i, r in enumerate(rows)
        ],
    }
    report = render_report(results)
    assert "## Acceptance checks" in report
    assert "| model_refused | 1 | 0 | 1 |" in report and "| low_relevance | 1 | 1 | 0 |" in report
    del results["aggregates"]["checks"]
    assert "## Acceptance checks" not in render_report(results)  # an older results.json


# -- one sentence-vector cache ---------------------------------------------------------------


class CountingEmbedder(HashEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.texts: Counter[str] = Counter()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts.update(texts)
        return super().embed(texts)

    def reset(self) -> None:
        self.calls, self.texts = 0, Counter()


@pytest.fixture
def seeded(tmp_path: Path, seeds_dir: Path):
    settings = load_settings(
        data_dir=tmp_path / "data", embed__mode="fake", llm__mode="fake", policy_off="contradicted"
    )
    run_index(settings, [seeds_dir], HashEmbedder())
    embedder, gen = CountingEmbedder(), FakeGenerator()
    return build_answerer(settings, embedder=embedder, generator=gen), embedder, gen


def test_no_text_is_embedded_twice_for_one_question(seeded):
    answerer, embedder, gen = seeded
    assert answerer.policy.off == {"contradicted"}  # QA_POLICY_OFF reaches the answerer
    assert isinstance(answerer.checker.embedder, SentenceVectors)
    assert answerer.retriever.embedder is answerer.checker.embedder is answerer.reader.embedder
    question = "How many checkpoints were established in western Aleppo?"
    gen.enqueue("Seven checkpoints were established in western Aleppo [1].")
    answer = answerer.ask(question)
    assert not answer.refused
    # The query (once, though retrieval and the reader both embed it), the new sentences of
    # retrieval, the reader's quotations, the answer's claims: before the cache, 8 calls and
    # 89 texts of which 29 were embedded again (the checker's and reader's own copies).
    assert max(embedder.texts.values()) == 1 and embedder.texts[question] == 1
    assert embedder.calls <= 4
    embedder.reset()
    # A second look (refused, retried over twice the passages) embeds only what is new.
    second = answerer.ask("Why were checkpoints established in western Aleppo?")
    assert second.trace.retried and max(embedder.texts.values(), default=1) == 1
    embedder.reset()
    gen.enqueue("Seven checkpoints were established in western Aleppo [1].")
    assert answerer.ask(question).text == answer.text
    assert embedder.calls == 0  # everything asked again is known


def test_the_cache_forgets_the_least_recently_used_and_stands_in_for_its_embedder():
    inner = CountingEmbedder()
    cache = SentenceVectors(inner, capacity=2)
    first = cache.embed(["a b", "c d", "a b"])
    assert inner.texts == Counter({"a b": 1, "c d": 1}) and first.shape == (3, inner.dim)
    assert np.array_equal(first[0], first[2]) and np.array_equal(
        first, inner.embed(["a b", "c d", "a b"])
    )
    inner.reset()
    cache.embed(["e f"])  # "a b" goes: the least recently used
    cache.embed(["c d", "a b"])
    assert inner.texts == Counter({"e f": 1, "a b": 1})
    assert (cache.name, cache.dim, cache.count_tokens("a b")) == (inner.name, inner.dim, 2)
    assert cache.token_spans("a b") == inner.token_spans("a b")


class SureJudge:
    """States every claim; gives ``p`` that a quote answers a question."""

    def __init__(self, p: float) -> None:
        self.p = p

    def score(self, items: Sequence[Claim]) -> list[float]:
        return [self.p if i.claim.startswith("The answer to") else 1.0 for i in items]


def test_a_refusal_gives_way_to_the_sentence_the_judge_is_sure_answers():
    # The model refuses twice (its first look and the second look over the best sentences).
    answerer, gen = make(REFUSAL, REFUSAL, judge=SureJudge(0.95))
    reading = answerer.reader.read(CHECKPOINTS_Q, PASSAGES)
    assert reading.best is not None and reading.decisive is None
    answer = answerer.ask(CHECKPOINTS_Q)
    assert outcome(answer) == (
        Origin.EXTRACTIVE,
        Reason.MODEL_REFUSED,
        ("model_refused", "model_refused", "judged_sentence"),
    )
    assert answer.citations[0].quote == reading.best.text and reading.best.text in answer.text
    assert answer.trace.retried and len(gen.history) == 2


def test_the_second_looks_answer_comes_before_the_judges_sentence():
    answerer, gen = make(REFUSAL, PESKOV, judge=SureJudge(0.95))
    answer = answerer.ask(CHECKPOINTS_Q)
    assert answer.origin is Origin.MODEL and "seven checkpoints" in answer.text
    assert "judged_sentence" not in answer.trace.checks and answer.trace.retry_answered


@pytest.mark.parametrize(
    "p,off",
    [(0.8, ""), (0.95, "judged_sentence"), (0.95, "extractive")],
    ids=str,
)
def test_a_judge_that_is_not_sure_or_turned_off_leaves_a_refusal(p, off):
    # 0.8 is above the citation judge's 0.6, below QA_CHECK_EXTRACT_MIN's 0.9.
    answerer, gen = make(REFUSAL, REFUSAL, judge=SureJudge(p), policy_off=off)
    answer = answerer.ask(CHECKPOINTS_Q)
    assert "judged_sentence" not in answer.trace.checks
    assert outcome(answer)[:2] == (Origin.REFUSAL, Reason.MODEL_REFUSED)


def test_without_a_second_look_the_judges_sentence_is_still_the_last_resort():
    answerer, gen = make(REFUSAL, judge=SureJudge(0.95), policy_off="retry")
    answer = answerer.ask(CHECKPOINTS_Q)
    assert answer.origin is Origin.EXTRACTIVE and len(gen.history) == 1


def test_the_judged_sentence_threshold_is_a_setting(tmp_path):
    assert load_settings(data_dir=tmp_path).check.extract_min == 0.9
    s = load_settings(data_dir=tmp_path, check__extract_min=0.5)
    answerer, _ = make(REFUSAL, REFUSAL, judge=SureJudge(0.8), judged_min=s.check.extract_min)
    assert answerer.ask(CHECKPOINTS_Q).origin is Origin.EXTRACTIVE


def test_a_number_the_quote_gives_to_something_else_is_no_answer_to_how_many():
    text = (
        "3,179 people, including 1,519 children – among them 138 newborn babies – have left "
        "eastern Aleppo through the corridors."
    )
    babies = "How many newborn babies were among the people who left eastern Aleppo?"
    answerer, _ = make("1,519 [1].", passages=[passage(1, "left.txt", text)])
    answerer.retry_sentences = 0
    assert outcome(answerer.ask(babies))[1] == Reason.OFF_QUESTION
    answerer, _ = make("138 [1].", passages=[passage(1, "left.txt", text)])
    answer = answerer.ask(babies)
    assert outcome(answer) == (Origin.MODEL, None, ()) and "138" in answer.text
