"""An extractive reader: which single source sentence answers the question?

The 1.5B model sometimes says "the sources do not contain the answer" when source [1] holds
it, and sometimes copies the wrong number from a passage it was given. The reader is a cheap,
model-free cross-check (one embedding call over ~20 sentences):

- every sentence of the retrieved passages (and every quotation that runs over several sentences
  to its attribution) is scored by its cosine to the question, the share of the question's
  words it holds (weighted so words found in few sentences count more), and whether it holds
  something of the kind the question asks for (a number for "how many", a percentage for "what
  share", a date for "when", a name for "who");
- the best sentence is *decisive* when the question asks for a kind of thing, the sentence
  holds one, covers much of the question and clearly beats the runner-up.

The answerer uses a decisive sentence, quoted verbatim with its citation, when the model
refuses or is not supported by the sources, or when the model's answer contradicts it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from index.chunking import ends_sentence
from index.embedder import Embedder
from qa.prompts import is_instruction
from qa.retrieval import SENTENCES, SentenceRules
from qa.schema import Citation, Passage
from qa.text import (
    answers_type,
    content_terms,
    expected_answer_type,
    open_quotation,
    words,
)


@dataclass(frozen=True)
class ReaderTuning:
    """How the reader scores sentences, and when its best one is decisive."""

    # A sentence's score: its cosine to the question, plus these times its weighted share of
    # the question's words and whether it holds the asked-for kind.
    coverage_weight: float = 0.6
    type_weight: float = 0.4
    # Chosen on the development suite with ``python -m eval.reader_sweep`` (retrieval and the
    # reader alone, over seeds, python_docs and all 2,914 SQuAD 2.0 questions): at these
    # values 183 decisive sentences hold a key fact and 7 do not; no point of the grid does
    # better on both. On SQuAD's adversarial unanswerable questions 139 more fire, and at
    # every point of the grid they are 0.38-0.46 of those that fire: these thresholds cannot
    # tell them, so a decisive sentence is quoted only when the judge (on by default) agrees
    # that it answers the question asked.
    decisive_margin: float = 0.25  # the best beats the best one not overlapping it by this
    decisive_coverage: float = 0.4  # and holds this weighted share of the question's words
    decisive_similarity: float = 0.45  # and is this close to the question (cosine)
    sentences: SentenceRules = SENTENCES  # how passages are cut, as retrieval cuts them


TUNING = ReaderTuning()


@dataclass(frozen=True)
class Span:
    passage: int  # passage number n
    source: str  # its document
    start: int  # offsets into the source document
    end: int
    text: str
    similarity: float  # cosine to the question
    coverage: float  # weighted share of the question's words
    typed: bool  # holds something of the kind the question asks for
    score: float

    def overlaps(self, start: int, end: int) -> bool:
        return self.start < end and start < self.end


@dataclass(frozen=True)
class Reading:
    kind: str | None  # what the question asks for (number, date, name) or None
    spans: list[Span]  # best first
    tuning: ReaderTuning = TUNING  # the reader's, for when a span is decisive

    @property
    def best(self) -> Span | None:
        return self.spans[0] if self.spans else None

    @property
    def margin(self) -> float:
        """How far the best span beats the best one that does not overlap it."""
        return self.margin_over(lambda span: True)

    def margin_over(self, rivals: Callable[[Span], bool]) -> float:
        """How far the best span beats the best one that does not overlap it and that
        ``rivals`` counts as a rival."""
        if not self.spans:
            return 0.0
        best = self.spans[0]
        rival = next(
            (s for s in self.spans[1:] if not s.overlaps(best.start, best.end) and rivals(s)),
            None,
        )
        return best.score - (rival.score if rival else 0.0)

    def distinct(self, n: int) -> list[Span]:
        """The ``n`` best spans that do not overlap one another."""
        out: list[Span] = []
        for span in self.spans:
            if len(out) == n:
                break
            if not any(span.overlaps(o.start, o.end) for o in out):
                out.append(span)
        return out

    def _answers(self, span: Span | None) -> bool:
        return (
            span is not None
            and self.kind is not None
            and span.typed
            and span.coverage >= self.tuning.decisive_coverage
            and span.similarity >= self.tuning.decisive_similarity
        )

    @property
    def decisive(self) -> Span | None:
        """The best sentence, if it answers the question on its own beyond reasonable doubt."""
        best = self.best
        decisive = self._answers(best) and self.margin >= self.tuning.decisive_margin
        return best if decisive else None

    def agreed(self, citations: Sequence[Citation], cited: Sequence[int] = ()) -> Span | None:
        """The best sentence, if it answers the question and the model chose it: a verified
        citation quotes it, or the model cited its passage (``cited``: the passage numbers the
        model wrote, before verification). The model's choice stands in for the margin."""
        best = self.best
        if best is None or not self._answers(best):
            return None
        quoted = any(c.source == best.source and best.overlaps(c.start, c.end) for c in citations)
        return best if quoted or best.passage in cited else None


class SentenceReader:
    def __init__(self, embedder: Embedder, tuning: ReaderTuning = TUNING) -> None:
        self.embedder = embedder
        self.tuning = tuning

    def read(self, question: str, passages: Sequence[Passage]) -> Reading:
        kind = expected_answer_type(question)
        found: list[tuple[Passage, int, int, str]] = []
        for p in passages:
            sentences = self.tuning.sentences.split(p.text)
            reach = self.tuning.sentences.quotation_sentences
            title = _label(p.title)
            for a, b in sentences + _quotations(p.text, sentences, reach):
                text = p.text[a:b]
                if is_instruction(text):  # withheld from the model, never an answer
                    continue
                if title and _label(text) == title and not ends_sentence(text):
                    continue  # the document's title line names it and states nothing
                found.append((p, a, b, text))
        if not found:
            return Reading(kind, [], self.tuning)
        texts = [t for *_, t in found]
        vecs = self.embedder.embed([question, *texts])
        sims = vecs[1:] @ vecs[0]
        coverages = weighted_coverage(question, texts)
        spans = []
        for (p, a, b, text), sim, cov in zip(found, sims, coverages, strict=True):
            typed = kind is not None and answers_type(text, question)
            t = self.tuning
            score = float(sim) + t.coverage_weight * cov + t.type_weight * typed
            spans.append(
                Span(p.n, p.doc_id, p.start + a, p.start + b, text, float(sim), cov, typed, score)
            )
        spans.sort(key=lambda s: -s.score)
        return Reading(kind, spans, self.tuning)


def _label(text: str) -> str:
    """``text`` as a label to compare: its words, in order."""
    return " ".join(words(text))


def _quotations(
    text: str, sentences: Sequence[tuple[int, int]], reach: int
) -> list[tuple[int, int]]:
    """Spans of quotations that run over several sentences up to their attribution
    (“... is closed. ... Visitors should use the east gate,” the mayor said on Tuesday.): who
    said it and when are only in the last sentence, what was said only in the first."""
    out = []
    for i, (a, b) in enumerate(sentences):
        if not open_quotation(text[a:b]):
            continue
        for j in range(i + 1, min(i + reach, len(sentences))):
            if not open_quotation(text[a : sentences[j][1]]):
                out.append((a, sentences[j][1]))
                break
    return out


def weighted_coverage(question: str, texts: Sequence[str]) -> list[float]:
    """For each text, the share of the question's words it holds; a word that many of the
    texts hold (the topic: "Lyon", "the mayor") weighs less than one only a few hold."""
    q_terms = set(content_terms(question))
    if not q_terms:
        return [0.0] * len(texts)
    t_terms = [set(content_terms(t)) for t in texts]
    n = len(texts)
    idf = {t: math.log(1 + n / (1 + sum(t in s for s in t_terms))) for t in q_terms}
    total = sum(idf.values()) or 1.0
    return [sum(idf[t] for t in q_terms & s) / total for s in t_terms]
