"""The answerer: a question (and chat history) in, a streamed answer with verified citations
out. It runs the stages of :mod:`qa.pipeline` under the checks of :mod:`qa.policy`."""

from __future__ import annotations

import logging
import time
from collections.abc import Generator as Stream
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace

from qa.citations import CitationChecker, judged_claim
from qa.errors import InputError
from qa.generator import Generator
from qa.pipeline import compose
from qa.pipeline.condense import History, Part, condense, needs_rewrite, rewrite, split_question
from qa.pipeline.condense import good_rewrite as _good_rewrite
from qa.pipeline.decide import Action, Look, decide, look, settle
from qa.pipeline.generate import complete, generate
from qa.pipeline.retrieve import focus, retrieve
from qa.policy import Answers, Judged, JudgedSentence, LowRelevance, Policy
from qa.reader import Reading, SentenceReader
from qa.retrieval import Retriever
from qa.schema import Answer, Delta, Done, Passage, Trace, final_answer

__all__ = [
    "Answerer",
    "History",
    "_good_rewrite",
    "needs_rewrite",
    "split_question",
    "validate_question",
]

log = logging.getLogger(__name__)


class Answerer:
    def __init__(
        self,
        retriever: Retriever,
        generator: Generator,
        checker: CitationChecker,
        *,
        reader: SentenceReader | None = None,
        retry_sentences: int = 3,
        k: int = 6,
        min_relevance: float = LowRelevance.min_similarity,
        max_question_chars: int = 2000,
        policy_off: str | Iterable[str] = "",
        judged_min: float = JudgedSentence.min_yes,
    ) -> None:
        self.retriever = retriever
        self.generator = generator
        self.checker = checker
        self.reader = reader or SentenceReader(checker.embedder)
        self.k = k
        self.max_question_chars = max_question_chars
        self.policy = Policy.build(
            policy_off,
            min_relevance=min_relevance,
            retry_sentences=retry_sentences,
            judged_min=judged_min,
        )

    @property
    def retry_sentences(self) -> int:
        return self.policy.retry.sentences

    @retry_sentences.setter
    def retry_sentences(self, n: int) -> None:
        self.policy = replace(self.policy, retry=replace(self.policy.retry, sentences=n))

    @property
    def min_relevance(self) -> float:
        return self.policy.low_relevance.min_similarity

    @min_relevance.setter
    def min_relevance(self, value: float) -> None:
        self.policy = replace(self.policy, low_relevance=LowRelevance(value))

    # -- the main path -------------------------------------------------------------------------

    def ask(self, question: str, history: History = ()) -> Answer:
        return final_answer(self.stream(question, history))

    def stream(self, question: str, history: History = ()) -> Iterator[Delta | Done]:
        question = self.validate(question)
        t0 = time.perf_counter()
        c = condense(question, history, self.rewrite)
        if len(c.parts) == 1:
            trace = Trace(rewrite_ms=c.rewrite_ms)
            answer = yield from self._answer(c.parts[0], question, c.standalone, t0, trace)
            yield Done(answer)
            return
        answers: list[Answer] = []
        for i, part in enumerate(c.parts):
            if i:
                yield Delta(" ")
            answers.append((yield from self._answer(part, part.question, part.question)))
        trace = Trace.joined([a.trace for a in answers], c.rewrite_ms, _ms(t0))
        yield Done(compose.joined(question, c.standalone, answers, trace))

    def _answer(
        self,
        part: Part,
        question: str,
        standalone: str,
        t0: float | None = None,
        trace: Trace | None = None,
    ) -> Stream[Delta, None, Answer]:
        """One question: retrieve, generate (streamed), verify, decide; a second look when
        the policy asks for one."""
        t0 = t0 if t0 is not None else time.perf_counter()
        found = retrieve(self.retriever, part.query, self.k)
        trace = replace(trace or Trace(), retrieve_ms=found.ms)
        gated = self.policy.gate(found.passages)
        if gated is not None:
            log.info("refused reason=%s question=%r", gated, standalone)
            trace = replace(trace, total_ms=_ms(t0), checks=(gated.value,))
            return compose.refusal(question, standalone, found.passages, gated, trace)

        draft = yield from generate(self.generator, standalone, found.passages, t0)
        t2 = time.perf_counter()
        reading = self.reader.read(standalone, found.passages)
        trace = replace(
            trace,
            first_token_ms=draft.first_token_ms,
            generate_ms=draft.ms,
            read_ms=_ms(t2),
            context_tokens=draft.context_tokens,
            passages=len(found.passages),
        )
        first = self._look(draft.text, found.passages, standalone, part, reading)
        trace = _counted(trace, first)
        decision = decide(self.policy, first, standalone, self._answers(), self._judged())
        final = first
        if decision.action is Action.RETRY:
            t3 = time.perf_counter()
            second = self._second_look(part, standalone, found.passages)
            trace = replace(trace, retry_ms=_ms(t3), retried=True)
            trace = replace(trace, checks=trace.checks + _fired(second))
            decision = settle(self.policy, decision, first, second, standalone, self._judged())
            if decision.action is Action.ACCEPT:
                final = second
                trace = replace(_counted(trace, second, checks=False), retry_answered=True)
        trace = replace(trace, total_ms=_ms(t0))
        if decision.action is Action.ACCEPT:
            assert final.checked is not None
            verified = final.checked.verified
            return compose.accepted(
                question, standalone, verified, final.passages, trace, final.draft
            )
        assert decision.reason is not None
        log.info("%s reason=%s question=%r", decision.action, decision.reason, standalone)
        if decision.action is Action.EXTRACT:
            assert decision.span is not None
            if decision.judged:
                trace = replace(trace, checks=trace.checks + (JudgedSentence.name,))
            return compose.extractive(
                question,
                standalone,
                first.passages,
                decision.span,
                decision.reason,
                trace,
                first.draft,
            )
        return compose.refusal(
            question, standalone, first.passages, decision.reason, trace, first.draft
        )

    def _look(
        self,
        draft: str,
        passages: Sequence[Passage],
        standalone: str,
        part: Part,
        reading: Reading,
    ) -> Look:
        return look(
            self.policy,
            self.checker,
            draft,
            passages,
            standalone,
            part.kind,
            reading,
            self._answers(),
            part.turn,
        )

    def _second_look(self, part: Part, standalone: str, passages: Sequence[Passage]) -> Look:
        """The model asked once more, over the best sentences of twice as many passages."""
        wide = retrieve(self.retriever, part.query, 2 * self.k).passages or tuple(passages)
        reading = self.reader.read(standalone, wide)
        focused = focus(wide, reading, self.policy.retry.sentences)
        draft = complete(self.generator, standalone, focused)
        return self._look(draft, wide, standalone, part, reading)

    def answers(self, question: str, answer: str, quotes: Sequence[str]) -> bool:
        """Whether the judge says ``quotes`` give ``answer`` as the answer to ``question``."""
        return self.answered(question, answer, quotes) >= self.checker.tuning.entail_min

    def answered(self, question: str, answer: str, quotes: Sequence[str]) -> float:
        """The judge's probability that ``quotes`` give ``answer`` as the answer to
        ``question``."""
        claim = judged_claim(answer, question, answer)
        return self.checker.entailment(" … ".join(dict.fromkeys(quotes)), claim, answers=True)

    def _answers(self) -> Answers | None:
        return self.answers if self.checker.judge is not None else None

    def _judged(self) -> Judged | None:
        return self.answered if self.checker.judge is not None else None

    # -- steps ---------------------------------------------------------------------------------

    def validate(self, question: str) -> str:
        return validate_question(question, self.max_question_chars)

    def rewrite(self, question: str, history: History) -> str:
        """A standalone version of a follow-up question, written by the model from the history."""
        return rewrite(self.generator, question, history)

    def retrieve(self, question: str) -> list[Passage]:
        return self.retriever.passages(self.validate(question), self.k)


def _fired(seen: Look) -> tuple[str, ...]:
    reason = seen.verdict.reason
    return (reason.value,) if reason is not None else ()


def _counted(trace: Trace, seen: Look, checks: bool = True) -> Trace:
    """``trace`` with the check that fired on ``seen`` and its verification counts."""
    if checks:
        trace = replace(trace, checks=trace.checks + _fired(seen))
    if seen.checked is None:
        return trace
    v = seen.checked.verified
    return replace(
        trace,
        repointed=v.repointed,
        dropped=v.dropped,
        added=v.added,
        removed=len(v.removed),
        judged=v.judged,
    )


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000.0


def validate_question(question: str, max_chars: int) -> str:
    """The question with its whitespace collapsed; empty or over ``max_chars`` is an InputError."""
    if not isinstance(question, str) or not question.strip():
        raise InputError("The question is empty. Type a question about your documents.")
    question = " ".join(question.split())
    if len(question) > max_chars:
        raise InputError(
            f"The question is {len(question):,} characters long; the limit is "
            f"{max_chars:,}. Ask a shorter question (or raise QA_MAX_QUESTION_CHARS)."
        )
    return question
