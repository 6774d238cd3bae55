"""Compose: a decision → the :class:`~qa.schema.Answer` (the model's verified answer, one
sentence quoted, a refusal, or the answers to a question's parts joined)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from qa.citations import Verified, cite, with_markers
from qa.prompts import REFUSAL
from qa.reader import Span
from qa.schema import Answer, Citation, Origin, Passage, Reason, Sentence, Trace

REFUSED = REFUSAL.replace("sources", "documents")  # what the reader is shown


def accepted(
    question: str,
    standalone: str,
    verified: Verified,
    passages: Sequence[Passage],
    trace: Trace,
    raw: str,
) -> Answer:
    return Answer.create(
        question,
        Origin.MODEL,
        trace,
        text=verified.text,
        citations=verified.citations,
        sentences=verified.sentences,
        standalone=standalone,
        passages=passages,
        raw_text=raw,
    )


def extractive(
    question: str,
    standalone: str,
    passages: Sequence[Passage],
    span: Span,
    reason: Reason,
    trace: Trace,
    raw: str,
) -> Answer:
    """The answer as the one source sentence that holds it, quoted verbatim and cited."""
    passage = next(p for p in passages if p.n == span.passage)
    quoted = f"“{' '.join(span.text.split())}”"
    return Answer.create(
        question,
        Origin.EXTRACTIVE,
        trace,
        reason=reason,
        text=f"{quoted} [1]",
        citations=[cite(passage, 1, span.start, span.end, span.score)],
        sentences=[Sentence(text=quoted, citations=(1,), supported=True)],
        standalone=standalone,
        passages=passages,
        raw_text=raw,
    )


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
    return Answer.create(
        question,
        Origin.REFUSAL,
        trace,
        reason=reason,
        text=REFUSED,
        standalone=standalone,
        passages=passages,
        raw_text=raw,
    )


def joined(question: str, standalone: str, answers: Sequence[Answer], trace: Trace) -> Answer:
    """One answer from the answers to the parts of a question, citations renumbered."""
    citations: list[Citation] = []
    numbering: dict[tuple[str, int, int], int] = {}
    sentences: list[Sentence] = []
    passages: list[Passage] = []
    for answer in answers:
        passages += [replace(p, n=len(passages) + i) for i, p in enumerate(answer.passages, 1)]
        if answer.refused:
            sentences.append(
                Sentence(f"The documents do not answer “{answer.question}”", (), supported=True)
            )
            continue
        local = {c.n: c for c in answer.citations}
        for sentence in answer.sentences:
            ns = []
            for n in sentence.citations:
                c = local[n]
                key = (c.source, c.start, c.end)
                if key not in numbering:
                    numbering[key] = len(citations) + 1
                    citations.append(replace(c, n=numbering[key]))
                ns.append(numbering[key])
            sentences.append(replace(sentence, citations=tuple(ns)))
    refused = all(a.refused for a in answers)
    return Answer.create(
        question,
        Origin.JOINED,
        trace,
        text=REFUSED if refused else " ".join(with_markers(s.text, s.citations) for s in sentences),
        citations=citations,
        sentences=[] if refused else sentences,
        standalone=standalone,
        passages=passages,
        raw_text=" ".join(a.raw_text for a in answers),
        parts=answers,
    )
