"""The product's nouns. The CLI, the web chat and the evaluation all render these;
none of them parses answer text back into structure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

from index.schema import Chunk, Document

__all__ = [
    "Answer",
    "Chunk",
    "Citation",
    "Delta",
    "Document",
    "Done",
    "Origin",
    "Passage",
    "Reason",
    "Sentence",
    "Trace",
    "final_answer",
]


@dataclass(frozen=True)
class Passage:
    """A span of a document sent to the model as source ``[n]``. ``text == doc.text[start:end]``."""

    n: int
    doc_id: str
    title: str
    text: str
    start: int
    end: int
    line: int
    page: int | None
    # Both describe the passage's best sentence, the one its window grew from (the ranking
    # is per sentence, not per passage): ``score`` is its ranking score in retrieval (cosine
    # to the query + 0.35 * share of the query's words + 0.15 * its chunk's fused rank score
    # relative to the best), ``similarity`` its cosine to the query alone.
    score: float
    similarity: float
    path: str = ""


@dataclass(frozen=True)
class Citation:
    """One numbered reference. ``quote == original_text[start:end]`` of ``source``."""

    n: int
    source: str
    title: str
    quote: str
    start: int
    end: int
    line: int
    page: int | None
    score: float
    path: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "source": self.source,
            "title": self.title,
            "quote": self.quote,
            "start": self.start,
            "end": self.end,
            "line": self.line,
            "page": self.page,
            "score": round(self.score, 4),
        }


@dataclass(frozen=True)
class Sentence:
    """A sentence of the answer, its citation numbers, and whether they were verified."""

    text: str
    citations: tuple[int, ...] = ()
    supported: bool = True


class Origin(StrEnum):
    """Which path made an answer."""

    MODEL = "model"  # the model's answer, verified (citations re-pointed or dropped as needed)
    EXTRACTIVE = "extractive"  # one source sentence quoted verbatim instead of the model's answer
    REFUSAL = "refusal"  # "The documents do not contain the answer."
    JOINED = "joined"  # the answers to the parts of a two-part question, joined


class Reason(StrEnum):
    """Why an answer is not the model's own: the name of the policy check that fired
    (:mod:`qa.policy`)."""

    LOW_RELEVANCE = "low_relevance"  # no passage close enough to the question: model not asked
    MODEL_REFUSED = "model_refused"  # the model said the sources hold no answer (or nothing)
    UNSUPPORTED = "unsupported"  # no sentence of the answer is supported by a source
    NOT_ANSWERED = "not_answered"  # the judge: the quotes do not answer the question asked
    RESTATED = "restated"  # the answer only restates the question, with no word of its own
    ANSWER_TYPE = "answer_type"  # the asked-for kind (a number...) is not in it
    CONTRADICTED = "contradicted"  # another item than the one sentence that plainly answers
    OFF_QUESTION = "off_question"  # the cited passages are about something else

    @property
    def stat(self) -> str:
        """The name in the ``refused_<name>`` / ``extractive_<name>`` counters of ``stats``."""
        return "model" if self is Reason.MODEL_REFUSED else self.value


_TIMINGS = ("rewrite_ms", "retrieve_ms", "first_token_ms", "generate_ms", "read_ms", "retry_ms")
_COUNTS = ("context_tokens", "passages", "repointed", "dropped", "added", "removed", "judged")


@dataclass(frozen=True)
class Trace:
    """How one answer was made: timings (ms since the question, or the step's own) and counts.
    None: the step did not run. ``checks`` names the policy checks that fired, in order, over
    every look at the question (and its parts)."""

    rewrite_ms: float | None = None
    retrieve_ms: float | None = None
    first_token_ms: float | None = None  # since the question (a part: since the part)
    generate_ms: float | None = None
    read_ms: float | None = None
    retry_ms: float | None = None
    total_ms: float | None = None
    context_tokens: int | None = None  # tokens of the sources and question sent to the model
    passages: int | None = None  # passages sent to the model
    repointed: int | None = None  # citations moved to a passage that supports the sentence
    dropped: int | None = None  # citations dropped
    added: int | None = None  # citations added to a sentence that had none
    removed: int | None = None  # sentences no quote states, left out of the answer
    judged: int | None = None  # entailment-judge calls made while verifying
    retried: bool = False  # the model was asked a second time, over the best sentences
    retry_answered: bool = False  # and that second answer was accepted
    parts: int | None = None  # a joined answer: how many parts
    checks: tuple[str, ...] = ()

    def timings(self) -> dict[str, float]:
        """The timings that were measured, by name (``Answer.timings``)."""
        return {k: v for k in (*_TIMINGS, "total_ms") if (v := getattr(self, k)) is not None}

    def stats(self) -> dict[str, int]:
        """The counts that were taken, by name (``Answer.stats`` without the outcome)."""
        out = {k: v for k in _COUNTS if (v := getattr(self, k)) is not None}
        if self.retried:
            out["retried"] = 1
        if self.retry_answered:
            out["retry_answered"] = 1
        if self.parts is not None:
            out["parts"] = self.parts
        return out

    @classmethod
    def joined(cls, parts: Sequence[Trace], rewrite_ms: float | None, total_ms: float) -> Trace:
        """The trace of answers joined from ``parts``: their timings and counts added up
        (the first token is the first part's), their checks in order."""
        values: dict[str, Any] = {"rewrite_ms": rewrite_ms, "total_ms": total_ms}
        for f in fields(cls):
            if f.name in ("rewrite_ms", "total_ms", "parts", "checks"):
                continue
            got = [v for t in parts if (v := getattr(t, f.name)) is not None]
            if f.name in ("retried", "retry_answered"):
                values[f.name] = any(got)
            elif f.name == "first_token_ms":
                values[f.name] = got[0] if got else None
            else:
                values[f.name] = sum(got) if got else None
        checks = tuple(c for t in parts for c in t.checks)
        return cls(parts=len(parts), checks=checks, **values)


@dataclass
class Answer:
    """An answer. The answer path builds it with :meth:`create` only; ``timings`` and ``stats``
    are read-outs of ``trace`` (and the outcome) for the JSON that the CLI and eval write."""

    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    refused: bool = False
    sentences: list[Sentence] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    standalone_question: str | None = None
    passages: list[Passage] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)  # repointed, dropped, context_tokens...
    raw_text: str = ""  # what the model wrote, before verification
    origin: Origin = Origin.MODEL
    reason: Reason | None = None  # the check that made it extractive or a refusal
    trace: Trace = field(default_factory=Trace)

    @classmethod
    def create(
        cls,
        question: str,
        origin: Origin,
        trace: Trace,
        *,
        reason: Reason | None = None,
        text: str,
        citations: Sequence[Citation] = (),
        sentences: Sequence[Sentence] = (),
        standalone: str | None = None,
        passages: Sequence[Passage] = (),
        raw_text: str = "",
        parts: Sequence[Answer] = (),
    ) -> Answer:
        """Every answer the answer path gives: the model's, a quoted sentence, a refusal, or
        ``parts`` joined (refused when every part is)."""
        if (origin in (Origin.EXTRACTIVE, Origin.REFUSAL)) != (reason is not None):
            raise ValueError(
                f"{origin} answer with reason {reason}: extractive answers and "
                "refusals have a reason, the others none"
            )
        if origin is Origin.JOINED:
            stats: dict[str, int] = {"parts": len(parts)}
            for part in parts:
                stats.update({k: stats.get(k, 0) + v for k, v in part.stats.items()})
            refused = all(p.refused for p in parts)
        else:
            stats = trace.stats()
            if reason is not None:
                outcome = "refused" if origin is Origin.REFUSAL else "extractive"
                stats[f"{outcome}_{reason.stat}"] = 1
            refused = origin is Origin.REFUSAL
        return cls(
            question=question,
            text=text,
            citations=list(citations),
            refused=refused,
            sentences=list(sentences),
            timings=trace.timings(),
            standalone_question=standalone,
            passages=list(passages),
            stats=stats,
            raw_text=raw_text,
            origin=origin,
            reason=reason,
            trace=trace,
        )

    def to_json(self, debug: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "question": self.question,
            "answer": self.text,
            "refused": self.refused,
            "citations": [c.to_json() for c in self.citations],
            "sentences": [
                {"text": s.text, "citations": list(s.citations), "supported": s.supported}
                for s in self.sentences
            ],
            "timings": {k: round(v, 1) for k, v in self.timings.items()},
            "origin": self.origin.value,
            "reason": self.reason.value if self.reason else None,
        }
        if self.standalone_question and self.standalone_question != self.question:
            out["standalone_question"] = self.standalone_question
        if debug:
            out["stats"] = dict(self.stats)
            out["raw_answer"] = self.raw_text
            out["passages"] = [asdict(p) for p in self.passages]
        return out


@dataclass(frozen=True)
class Delta:
    """A piece of the answer as the model writes it (before verification)."""

    text: str


@dataclass(frozen=True)
class Done:
    """The final, verified answer; always the last event of a stream."""

    answer: Answer


def final_answer(events: Iterable[Delta | Done]) -> Answer:
    """Run a stream to its end and return the answer of its ``Done`` event."""
    answer = None
    for event in events:
        if isinstance(event, Done):
            answer = event.answer
    if answer is None:
        raise RuntimeError("the answer stream ended without a Done event")
    return answer
