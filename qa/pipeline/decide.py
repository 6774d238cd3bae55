"""Decide: a draft, verified, put to the checks of :mod:`qa.policy` → accept it, quote the
sentence that plainly answers (or that the judge is sure answers) instead (extract), ask once
more (retry), or refuse."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from qa.citations import CitationChecker
from qa.pipeline.condense import Turn
from qa.pipeline.verify import Checked, verify
from qa.policy import Answers, Evidence, Judged, Policy, Verdict
from qa.reader import Reading, Span
from qa.schema import Passage, Reason


class Action(StrEnum):
    ACCEPT = "accept"
    EXTRACT = "extract"
    RETRY = "retry"
    REFUSE = "refuse"


@dataclass(frozen=True)
class Look:
    """One draft of the model and what the checks made of it."""

    draft: str
    passages: tuple[Passage, ...]
    reading: Reading
    checked: Checked | None  # None: a check on the draft alone fired, it was not verified
    verdict: Verdict
    turn: Turn | None = None  # a follow-up's, as asked and the turn it follows


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: Reason | None = None  # the check that fired (None: accepted)
    span: Span | None = None  # extract: the sentence to quote
    judged: bool = False  # extract: the judge chose the sentence (judged_sentence)


def look(
    policy: Policy,
    checker: CitationChecker,
    draft: str,
    passages: Sequence[Passage],
    question: str,
    kind: str | None,
    reading: Reading,
    answers: Answers | None,
    turn: Turn | None = None,
) -> Look:
    """``draft`` verified against ``passages`` (unless a check on the draft alone fires) and
    put to the policy's checks; ``turn``: a follow-up's, as asked and the turn it follows."""
    e = Evidence(question, kind, draft, passages, reading, answers=answers, turn=turn)
    verdict = policy.screen(e)
    checked = None
    if verdict.reason is None:
        checked = verify(checker, draft, passages, question)
        verdict = policy.review(
            Evidence(question, kind, draft, passages, reading, checked, answers, turn)
        )
    return Look(draft, tuple(passages), reading, checked, verdict, turn)


def decide(
    policy: Policy,
    first: Look,
    question: str,
    answers: Answers | None,
    judged: Judged | None = None,
) -> Decision:
    reason = first.verdict.reason
    if reason is None:
        return Decision(Action.ACCEPT)
    # The sentence that plainly answers, or the reader's best one that the model cited but
    # whose answer it did not write (a role for the name: "The council's spokesman said ...").
    decisive = first.reading.decisive or first.verdict.agreed
    if policy.wants_retry(reason, decisive):
        return Decision(Action.RETRY, reason)
    if policy.allows_extract(decisive, question, answers, first.passages, first.turn):
        return Decision(Action.EXTRACT, reason, decisive)
    return last_resort(policy, first, reason, question, judged)


def settle(
    policy: Policy,
    first: Decision,
    first_look: Look,
    second: Look,
    question: str,
    judged: Judged | None = None,
) -> Decision:
    """After the second look: its answer if it stands, else the first look's last resort."""
    if second.verdict.reason is None:
        return Decision(Action.ACCEPT)
    assert first.reason is not None
    return last_resort(policy, first_look, first.reason, question, judged)


def last_resort(
    policy: Policy, first: Look, reason: Reason, question: str, judged: Judged | None
) -> Decision:
    """Before refusing: the first look's best sentence, when the judge is sure it answers. It
    comes after the second look: a model answer that passes every check is worth more than a
    sentence chosen by one judge call (on the suite the second look answered where the judge
    was sure of a wrong sentence, and never the reverse)."""
    span = policy.judged_span(reason, first.reading, question, judged, first.passages, first.turn)
    if span is not None:
        return Decision(Action.EXTRACT, reason, span, judged=True)
    return Decision(Action.REFUSE, reason)
