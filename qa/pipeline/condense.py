"""Condense: a question and the conversation so far → a standalone question, the query that
retrieval searches for, and its parts, each with the kind of answer it asks for."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qa.generator import Generator
from qa.language import active
from qa.prompts import is_refusal, rewrite_messages
from qa.text import content_terms, expected_answer_type

log = logging.getLogger(__name__)

History = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class CondenseTuning:
    """When a follow-up is rewritten, which rewrite is kept, and when a question is split."""

    rewrite_tokens: int = 48  # most tokens of the model's rewrite
    leaning_terms: int = 4  # a question with fewer content words may lean on earlier turns
    # Share of the follow-up's own words a rewrite must keep. Measured at 0.5 on the suite's
    # 46 follow-ups and not kept: rejected rewrites 18 -> 7 and 38 -> 39 answered right, but a
    # two-word follow-up may then lose its verb ("How many of them were immediately
    # pardoned?" -> "... chose to surrender immediately ...?"), and seeds q53 was answered
    # with the 507 who surrendered, verified: a false answer.
    kept_terms: float = 0.75
    rewrite_length: int = 3  # a rewrite longer than this times the question ...
    rewrite_slack: int = 200  # ... plus this many characters is rejected
    part_terms: int = 2  # each part of a split question has at least this many content words


TUNING = CondenseTuning()


@dataclass(frozen=True)
class Part:
    """One thing the question asks: its text, what retrieval searches for, and the kind of
    answer it asks for (number, share, date, name; None: anything)."""

    question: str
    query: str
    kind: str | None
    turn: Turn | None = None  # a follow-up's: as asked, and the turn it follows


@dataclass(frozen=True)
class Turn:
    """A follow-up as asked ("Whom does it appoint?") and the previous turn, its question and
    answer: an answer that only repeats that turn answers the previous question again."""

    asked: str
    previous: str


@dataclass(frozen=True)
class Condensed:
    question: str  # as asked (whitespace collapsed)
    standalone: str  # readable without the conversation
    query: str  # what retrieval searches for
    parts: tuple[Part, ...]  # one, or the two things a two-part question asks
    rewrite_ms: float | None  # the model rewrote a follow-up in this long


def condense(
    question: str,
    history: History,
    rewrite: Callable[[str, History], str],
    tuning: CondenseTuning = TUNING,
) -> Condensed:
    """``question`` made standalone (``rewrite``: a follow-up, by the model) and split."""
    t0 = time.perf_counter()
    standalone = query = question
    rewrite_ms = None
    turn = None
    if history and needs_rewrite(question, tuning):
        turn = Turn(question, " ".join(history[-1]))
        standalone = rewrite(question, history)
        rewrite_ms = (time.perf_counter() - t0) * 1000.0
        # The search is for the standalone question alone. Searching with the previous
        # question beside it was tried and measured worse: on seeds two of the eight
        # follow-ups were refused (their passages moved), against none.
        query = standalone
    texts = split_question(standalone, tuning)
    if len(texts) == 1:
        kind = expected_answer_type(standalone)
        parts: tuple[Part, ...] = (Part(standalone, query, kind, turn),)
    else:
        # "How many X, and how many Y?": each part is retrieved and answered on its own (a
        # small model answers one thing from six passages far better than two).
        parts = tuple(Part(t, t, expected_answer_type(t), turn) for t in texts)
    return Condensed(question, standalone, query, parts, rewrite_ms)


def rewrite(
    generator: Generator, question: str, history: History, tuning: CondenseTuning = TUNING
) -> str:
    """A standalone version of a follow-up question, written by the model from the history."""
    profile = active()
    messages = rewrite_messages(question, history)
    reply = "".join(generator.stream(messages, max_tokens=tuning.rewrite_tokens)).strip()
    line = reply.splitlines()[0].strip() if reply else ""
    line = re.sub(profile.rewrite_label_pattern, "", line, flags=re.I).strip().strip('"“”')
    if not good_rewrite(line, question, tuning):
        # The model wrote a statement, a template ("[insert ...]") or dropped words of the
        # follow-up ("closed"): keep the follow-up as asked, with its context.
        log.info("rewrite rejected question=%r reply=%r", question, line)
        return profile.follow_up_context.format(question=question, previous=history[-1][0])
    log.info("rewrote question=%r standalone=%r", question, line)
    return line


def good_rewrite(line: str, question: str, tuning: CondenseTuning = TUNING) -> bool:
    """A standalone question that keeps what the follow-up itself asks about: one question,
    not a statement, and not the previous question joined to it. (A follow-up the model
    returns unchanged is kept: rejecting it was measured worse on squad_followups, where one
    such follow-up was already standalone and its context led to the previous answer.)"""
    longest = tuning.rewrite_length * len(question) + tuning.rewrite_slack
    if not line or len(line) > longest or is_refusal(line):
        return False
    if not line.endswith("?") or re.search(r"[\[\]{}<>]", line):
        return False
    if re.search(r"\?\s+\S", line):
        return False  # two questions (the previous one, then the follow-up), not one
    if not same_question_word(question, line):
        return False  # "Whom does it appoint?" -> "Which body appoints ...?" asks another thing
    own = set(content_terms(question))
    return not own or len(own & set(content_terms(line))) / len(own) >= tuning.kept_terms


def same_question_word(question: str, line: str) -> bool:
    """Whether ``line`` asks with a question word of the class ``question`` opens with (who,
    whom, whose; what, which; ...). A follow-up that opens with none asks in any way."""
    profile = active()
    m = re.match(profile.question_word_pattern, question, re.IGNORECASE)
    if not m:
        return True
    asked = m.group(1).lower()
    same = next((c for c in profile.question_word_classes if asked in c), frozenset({asked}))
    return bool(same & {w.lower() for w in re.findall(r"\w+", line)})


def needs_rewrite(question: str, tuning: CondenseTuning = TUNING) -> bool:
    """Whether a question in a conversation may lean on earlier turns (pronouns, 'and ...?',
    very short). Self-contained questions skip the rewrite and its model call."""
    leans = re.search(active().follow_up_pattern, question, re.IGNORECASE)
    return bool(leans) or len(content_terms(question)) < tuning.leaning_terms


def split_question(question: str, tuning: CondenseTuning = TUNING) -> list[str]:
    """A question that asks two things ("How many X, and how many Y?", "Name the X who ...,
    and the Y who ...") as two questions; any other question as itself."""
    profile = active()
    text = question.strip()
    end = text[-1] if text[-1:] in "?." else "?"
    body = text.rstrip("?.").strip()
    m = re.match(profile.split_wh_pattern, body, re.IGNORECASE)
    if m:
        parts = [m["a"], m["b"]]
    else:
        m = re.match(profile.split_list_pattern, body, re.IGNORECASE)
        if not m:
            return [question]
        parts = [f"{m['verb']} {m['a']}", f"{m['verb']} {m['b']}"]
    if any(len(content_terms(p)) < tuning.part_terms for p in parts):
        return [question]
    return [p[0].upper() + p[1:].rstrip(",;: ") + end for p in parts]
