"""The product's nouns. The CLI, the web chat and the evaluation all render these;
none of them parses answer text back into structure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from index.schema import Chunk, Document

__all__ = [
    "Answer",
    "Chunk",
    "Citation",
    "Delta",
    "Document",
    "Done",
    "Passage",
    "Sentence",
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
    score: float  # fused retrieval score
    similarity: float  # cosine similarity of the passage to the question
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


@dataclass
class Answer:
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
