"""Compose: a decision → the :class:`~qa.schema.Answer` (the model's verified answer, one
sentence quoted, a refusal, or the answers to a question's parts joined)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from qa.citations import Numbering, Verified, cite, with_markers
from qa.prompts import REFUSED, part_refused
from qa.reader import Span
from qa.retrieval import SENTENCES
from qa.schema import Answer, Citation, Origin, Passage, Reason, Sentence, Trace

_ENDS_SENTENCE = re.compile(r"[.!?][\"'”’)\]]*$")


def accepted(
    question: str,
    standalone: str,
    verified: Verified,
    passages: Sequence[Passage],
    trace: Trace,
    raw: str,
) -> Answer:
    """The model's answer: its verified sentences and their citations."""
    said = (verified.text, verified.citations, verified.sentences)
    return _answer(question, standalone, passages, trace, raw, Origin.MODEL, None, *said)


def extractive(
    question: str,
    standalone: str,
    passages: Sequence[Passage],
    span: Span,
    reason: Reason,
    trace: Trace,
    raw: str,
) -> Answer:
    """The answer as the one source sentence that holds it, quoted verbatim and cited; with
    the sentence before it when it opens by pointing back at that one ("It appoints the
    board ...": the sentence before says what "it" is)."""
    passage = next(p for p in passages if p.n == span.passage)
    start = _antecedent(passage, span)
    text = " ".join(passage.text[start - passage.start : span.end - passage.start].split())
    # A sentence that holds a quotation of its own ("“It is open,” she said.") is shown
    # as it is: wrapped in quotes again it would read ““It is open,” she said.”
    quoted = text if any(q in text for q in '"“”') else f"“{text}”"
    said = (
        f"{quoted} [1]",
        [cite(passage, 1, start, span.end, span.score)],
        [Sentence(text=quoted, citations=(1,), supported=True)],
    )
    return _answer(question, standalone, passages, trace, raw, Origin.EXTRACTIVE, reason, *said)


def _antecedent(passage: Passage, span: Span) -> int:
    """Where the quote of ``span`` starts: at the sentence before it, in the same passage,
    when the span opens with a word that points back (see ``SentenceRules.points_back``)
    and that sentence ends as a sentence does (a title line names no antecedent)."""
    if not SENTENCES.points_back(span.text):
        return span.start
    rel = span.start - passage.start
    before = SENTENCES.split(passage.text[:rel])
    if not before:
        return span.start
    a, b = before[-1]
    if not _ENDS_SENTENCE.search(passage.text[a:b]):
        return span.start
    return passage.start + a


def refusal(
    question: str,
    standalone: str,
    passages: Sequence[Passage],
    reason: Reason,
    trace: Trace,
    raw: str = "",
) -> Answer:
    if trace.first_token_ms is None:  # the refusal is the first (and only) output
        trace = replace(trace, first_token_ms=trace.total_ms)
    return _answer(question, standalone, passages, trace, raw, Origin.REFUSAL, reason, REFUSED)


def _answer(
    question: str,
    standalone: str,
    passages: Sequence[Passage],
    trace: Trace,
    raw: str,
    origin: Origin,
    reason: Reason | None,
    text: str,
    citations: Sequence[Citation] = (),
    sentences: Sequence[Sentence] = (),
) -> Answer:
    return Answer.create(
        question,
        origin,
        trace,
        reason=reason,
        text=text,
        citations=citations,
        sentences=sentences,
        standalone=standalone,
        passages=passages,
        raw_text=raw,
    )


def joined(question: str, standalone: str, answers: Sequence[Answer], trace: Trace) -> Answer:
    """One answer from the answers to the parts of a question, citations renumbered."""
    numbering = Numbering()
    sentences: list[Sentence] = []
    passages: list[Passage] = []
    for answer in answers:
        passages += [replace(p, n=len(passages) + i) for i, p in enumerate(answer.passages, 1)]
        if answer.refused:
            sentences.append(Sentence(part_refused(answer.question), (), supported=True))
            continue
        local = {c.n: c for c in answer.citations}
        for sentence in answer.sentences:
            ns = numbering.add([local[n] for n in sentence.citations])
            sentences.append(replace(sentence, citations=tuple(ns)))
    refused = all(a.refused for a in answers)
    return Answer.create(
        question,
        Origin.JOINED,
        trace,
        text=REFUSED if refused else " ".join(with_markers(s.text, s.citations) for s in sentences),
        citations=numbering.citations,
        sentences=[] if refused else sentences,
        standalone=standalone,
        passages=passages,
        raw_text=" ".join(a.raw_text for a in answers),
        parts=answers,
    )
