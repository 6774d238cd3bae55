"""The answerer: a question (and chat history) in, a streamed answer with verified citations out."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace

from qa.citations import (
    CitationChecker,
    Verified,
    cite,
    judged_claim,
    parse_markers,
    raw_sentences,
    with_markers,
)
from qa.errors import InputError
from qa.generator import Generator
from qa.prompts import REFUSAL, answer_messages, is_refusal, rewrite_messages
from qa.reader import Reading, SentenceReader, Span
from qa.retrieval import Retriever
from qa.schema import Answer, Citation, Delta, Done, Passage, Sentence, final_answer
from qa.text import answers_type, asked_noun, content_terms, expected_answer_type, new_items

log = logging.getLogger(__name__)

# For "how many / when / who" questions, the cited passages must hold at least this weighted
# share of the question's words: "How many servicemen were killed?" is not answered by a
# passage about fighters who surrendered, however well it supports the sentence quoting it.
FOCUS_MIN = 0.3
# Reasons to ask the model once more, over only the best few sentences.
RETRY_REASONS = frozenset({"model", "unsupported", "answer_type", "off_question", "not_answered"})

History = Sequence[tuple[str, str]]


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
        min_relevance: float = 0.3,
        max_question_chars: int = 2000,
    ) -> None:
        self.retriever = retriever
        self.generator = generator
        self.checker = checker
        self.reader = reader or SentenceReader(checker.embedder)
        self.retry_sentences = retry_sentences
        self.k = k
        self.min_relevance = min_relevance
        self.max_question_chars = max_question_chars

    # -- the main path -------------------------------------------------------------------------

    def ask(self, question: str, history: History = ()) -> Answer:
        return final_answer(self.stream(question, history))

    def stream(self, question: str, history: History = ()) -> Iterator[Delta | Done]:
        question = self.validate(question)
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        standalone = query = question
        if history and needs_rewrite(question):
            standalone = self.rewrite(question, history)
            timings["rewrite_ms"] = _ms(t0)
            # The search keeps the conversation's topic too: a rewrite that missed what "it"
            # is still finds the passages about it.
            query = f"{standalone} {history[-1][0]}"
        parts = split_question(standalone)
        if len(parts) == 1:
            yield from self._answer_one(question, standalone, t0, timings, query)
            return
        # "How many X, and how many Y?": each part is retrieved and answered on its own (a
        # small model answers one thing from six passages far better than two), then joined.
        answers: list[Answer] = []
        for i, part in enumerate(parts):
            if i:
                yield Delta(" ")
            for event in self._answer_one(part, part, time.perf_counter(), {}):
                if isinstance(event, Done):
                    answers.append(event.answer)
                else:
                    yield event
        yield Done(join_answers(question, standalone, answers, timings, t0))

    def _answer_one(
        self,
        question: str,
        standalone: str,
        t0: float,
        timings: dict[str, float],
        query: str | None = None,
    ) -> Iterator[Delta | Done]:
        query = query or standalone
        t1 = time.perf_counter()
        passages = self.retriever.passages(query, self.k)
        timings["retrieve_ms"] = _ms(t1)
        best = max((p.similarity for p in passages), default=0.0)
        if not passages or best < self.min_relevance:
            log.info("refused reason=low_relevance best=%.3f question=%r", best, standalone)
            timings["total_ms"] = _ms(t0)
            yield Done(
                self._refusal(question, standalone, passages, timings, reason="low_relevance")
            )
            return

        messages = answer_messages(standalone, passages)
        context_tokens = self.generator.count_tokens(messages[-1]["content"])
        pieces: list[str] = []
        for piece in self.generator.stream(messages):
            if not pieces:
                timings["first_token_ms"] = _ms(t0)
            pieces.append(piece)
            yield Delta(piece)
        raw = "".join(pieces).strip()
        timings["generate_ms"] = _ms(t1) - timings["retrieve_ms"]
        stats = {"context_tokens": context_tokens, "passages": len(passages)}

        t2 = time.perf_counter()
        reading = self.reader.read(standalone, passages)
        decisive = reading.decisive
        timings["read_ms"] = _ms(t2)
        verified, reason, agreed = self._judge(raw, passages, standalone, reading, stats)
        if decisive is None and agreed is not None:
            decisive = agreed  # the model cited the reader's best sentence but missed its answer
        if reason in RETRY_REASONS and decisive is None and self.retry_sentences:
            # The model refused or wrote nothing the sources support. Small models often miss
            # an answer among six passages that they find among its three best sentences; and
            # the answer may sit just outside the six windows, so look twice as wide.
            t3 = time.perf_counter()
            wide = self.retriever.passages(query, 2 * self.k) or list(passages)
            wide_reading = self.reader.read(standalone, wide)
            focused = focus_passages(wide, wide_reading, self.retry_sentences)
            retry_raw = "".join(self.generator.stream(answer_messages(standalone, focused))).strip()
            timings["retry_ms"] = _ms(t3)
            retry_stats: dict[str, int] = {}
            retried, _, _ = self._judge(retry_raw, wide, standalone, wide_reading, retry_stats)
            stats["retried"] = 1
            if retried is not None:
                verified, reason, raw, passages = retried, None, retry_raw, wide
                stats.update(retry_stats, retry_answered=1)
        timings["total_ms"] = _ms(t0)
        if verified is not None:
            yield Done(
                Answer(
                    question=question,
                    text=verified.text,
                    citations=verified.citations,
                    refused=False,
                    sentences=verified.sentences,
                    timings=timings,
                    standalone_question=standalone,
                    passages=list(passages),
                    stats=stats,
                    raw_text=raw,
                )
            )
            return
        assert reason is not None
        if decisive is not None and (
            self.checker.judge is None or self.answers(standalone, decisive.text, [decisive.text])
        ):
            # Doubt about the model's answer, and one source sentence plainly answers (and the
            # judge agrees that it answers the question asked): quote it verbatim.
            stats["extractive_" + reason] = 1
            yield Done(
                self._extractive(question, standalone, passages, decisive, timings, raw, stats)
            )
            return
        yield Done(self._refusal(question, standalone, passages, timings, reason, raw, stats))

    def _judge(
        self,
        raw: str,
        passages: Sequence[Passage],
        question: str,
        reading: Reading,
        stats: dict[str, int],
    ) -> tuple[Verified | None, str | None, Span | None]:
        """The model's answer verified, or None and the reason to doubt it; and the reader's
        best sentence when the model cited it but did not write its answer (a role for a name:
        "The Kremlin spokesman said ..." citing "..., Peskov said.")."""
        if not raw or is_refusal(raw):
            return None, "model", None
        verified = self.checker.verify(raw, passages, question)
        stats.update(
            repointed=verified.repointed,
            dropped=verified.dropped,
            added=verified.added,
            removed=len(verified.removed),
            judged=verified.judged,
        )
        # If the model pointed at the passage of the reader's best sentence but missed what it
        # says (a role for the name; "filed in Moscow" citing SOCHI's report), that sentence may
        # stand in for it.
        cited = [n for sentence in raw_sentences(raw) for n in parse_markers(sentence)[1]]
        if not verified.citations:
            # Nothing the model said is supported by the sources: show no unsupported text.
            return None, "unsupported", reading.agreed([], cited)
        supported = " ".join(x.text for x in verified.sentences if x.citations)
        if self.checker.judge is not None:
            # Every sentence is stated by its quote; do the quotes answer the question *asked*?
            # ("What is the population of Aleppo?" is not answered by "3,179 people left".)
            if not self.answers(question, supported, [c.quote for c in verified.citations]):
                return None, "not_answered", reading.agreed(verified.citations, cited)
        elif not answers_type(supported, question):
            # Without a judge: "How many ...?" answered without a number (and so on), or only
            # in a sentence the sources do not support: it does not answer.
            return None, "answer_type", reading.agreed(verified.citations, cited)
        decisive = reading.decisive
        if decisive is not None and _contradicts(
            verified.text, verified.citations, decisive, question
        ):
            # The model cited elsewhere and wrote a different number/date/name than the one
            # sentence that plainly answers: trust the sentence (80,000 freed vs 3,179 left).
            return None, "contradicted", None
        if self.checker.judge is None and not _on_question(
            question, verified.citations, reading, passages
        ):
            return None, "off_question", None
        return verified, None, None

    def answers(self, question: str, answer: str, quotes: Sequence[str]) -> bool:
        """Whether the judge says ``quotes`` give ``answer`` as the answer to ``question``."""
        claim = judged_claim(answer, question, answer)
        return self.checker.states(" … ".join(dict.fromkeys(quotes)), claim)

    # -- steps ---------------------------------------------------------------------------------

    def validate(self, question: str) -> str:
        return validate_question(question, self.max_question_chars)

    def rewrite(self, question: str, history: History) -> str:
        """A standalone version of a follow-up question, written by the model from the history."""
        reply = "".join(
            self.generator.stream(rewrite_messages(question, history), max_tokens=48)
        ).strip()
        line = reply.splitlines()[0].strip() if reply else ""
        line = (
            re.sub(r"^(rewritten question|question)\s*:\s*", "", line, flags=re.I)
            .strip()
            .strip('"“”')
        )
        if not _good_rewrite(line, question):
            # The model wrote a statement, a template ("[insert ...]") or dropped words of the
            # follow-up ("pardoned"): keep the follow-up as asked, with its context.
            log.info("rewrite rejected question=%r reply=%r", question, line)
            return f"{question} (Follow-up to: {history[-1][0]})"
        log.info("rewrote question=%r standalone=%r", question, line)
        return line

    def retrieve(self, question: str) -> list[Passage]:
        return self.retriever.passages(self.validate(question), self.k)

    def _extractive(
        self,
        question: str,
        standalone: str,
        passages: Sequence[Passage],
        span: Span,
        timings: dict[str, float],
        raw: str,
        stats: dict[str, int],
    ) -> Answer:
        """The answer as the one source sentence that holds it, quoted verbatim and cited."""
        passage = next(p for p in passages if p.n == span.passage)
        citation = cite(passage, 1, span.start, span.end, span.score)
        quoted = f"“{' '.join(span.text.split())}”"
        log.info("extractive answer stats=%s question=%r", stats, standalone)
        return Answer(
            question=question,
            text=f"{quoted} [1]",
            citations=[citation],
            refused=False,
            sentences=[Sentence(text=quoted, citations=(1,), supported=True)],
            timings=timings,
            standalone_question=standalone,
            passages=list(passages),
            stats=stats,
            raw_text=raw,
        )

    def _refusal(
        self,
        question: str,
        standalone: str,
        passages: Sequence[Passage],
        timings: dict[str, float],
        reason: str,
        raw: str = "",
        stats: dict[str, int] | None = None,
    ) -> Answer:
        stats = dict(stats or {})
        stats["refused_" + reason] = 1
        # The refusal is the first (and only) output when the model was never asked.
        timings.setdefault("first_token_ms", timings.get("total_ms", 0.0))
        return Answer(
            question=question,
            text=REFUSAL.replace("sources", "documents"),
            refused=True,
            timings=timings,
            standalone_question=standalone,
            passages=list(passages),
            stats=stats,
            raw_text=raw,
        )


_ANAPHORA = re.compile(
    r"\b(it|its|that|this|these|those|they|them|their|theirs|he|him|his|she|her|hers|there|then|"
    r"same|such|other|others|also|too|else|former|latter|one|ones)\b|^(and|but|so|or|what about|how about|why|"
    r"how so|and why)\b",
    re.IGNORECASE,
)


_SPLIT_WH = re.compile(
    r"^(?P<a>(?:according to [^,]+,\s*)?(?:how|what|when|where|who|whom|which|why)\b.+?),?\s+and\s+"
    r"(?P<b>(?:according to [^,]+,\s*)?(?:how|what|when|where|who|whom|which|why)\b.+)$",
    re.IGNORECASE,
)
_SPLIT_NAME = re.compile(
    r"^(?P<verb>name|list|give)\s+(?P<a>the\b.+?),?\s+and\s+(?P<b>the\b.+)$", re.IGNORECASE
)


def split_question(question: str) -> list[str]:
    """A question that asks two things ("How many X, and how many Y?", "Name the X who ...,
    and the Y who ...") as two questions; any other question as itself."""
    text = question.strip()
    end = text[-1] if text[-1:] in "?." else "?"
    body = text.rstrip("?.").strip()
    m = _SPLIT_WH.match(body)
    if m:
        parts = [m["a"], m["b"]]
    else:
        m = _SPLIT_NAME.match(body)
        if not m:
            return [question]
        parts = [f"{m['verb']} {m['a']}", f"{m['verb']} {m['b']}"]
    if any(len(content_terms(p)) < 2 for p in parts):
        return [question]
    return [p[0].upper() + p[1:].rstrip(",;: ") + end for p in parts]


def join_answers(
    question: str,
    standalone: str,
    answers: Sequence[Answer],
    timings: dict[str, float],
    t0: float,
) -> Answer:
    """One answer from the answers to the parts of a question, citations renumbered."""
    citations: list[Citation] = []
    numbering: dict[tuple[str, int, int], int] = {}
    sentences: list[Sentence] = []
    passages: list[Passage] = []
    stats: dict[str, int] = {"parts": len(answers)}
    for answer in answers:
        stats.update({k: stats.get(k, 0) + v for k, v in answer.stats.items()})
        passages += [replace(p, n=len(passages) + i) for i, p in enumerate(answer.passages, 1)]
        for k, v in answer.timings.items():
            timings[k] = timings.get(k, 0.0) + v if k != "first_token_ms" else timings.get(k, v)
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
    timings["total_ms"] = _ms(t0)
    refused = all(a.refused for a in answers)
    return Answer(
        question=question,
        text=REFUSAL.replace("sources", "documents")
        if refused
        else " ".join(with_markers(s.text, s.citations) for s in sentences),
        citations=citations,
        refused=refused,
        sentences=[] if refused else sentences,
        timings=timings,
        standalone_question=standalone,
        passages=passages,
        stats=stats,
        raw_text=" ".join(a.raw_text for a in answers),
    )


def _good_rewrite(line: str, question: str) -> bool:
    """A standalone question that keeps what the follow-up itself asks about."""
    if not line or len(line) > 3 * len(question) + 200 or is_refusal(line):
        return False
    if not line.endswith("?") or re.search(r"[\[\]{}<>]", line):
        return False
    own = set(content_terms(question))
    return not own or len(own & set(content_terms(line))) / len(own) >= 0.75


def needs_rewrite(question: str) -> bool:
    """Whether a question in a conversation may lean on earlier turns (pronouns, 'and ...?',
    very short). Self-contained questions skip the rewrite and its model call."""
    return bool(_ANAPHORA.search(question)) or len(content_terms(question)) < 4


def focus_passages(passages: Sequence[Passage], reading: Reading, n: int) -> list[Passage]:
    """The passages cut down to the reader's ``n`` best sentences, keeping their numbers (so
    citations still point into the full passages), best first."""
    by_n = {p.n: p for p in passages}
    picked: dict[int, list[str]] = {}
    for span in reading.distinct(n):
        picked.setdefault(span.passage, []).append(span.text)
    return [replace(by_n[k], text=" … ".join(texts)) for k, texts in picked.items()]


def _contradicts(text: str, citations: Sequence[Citation], span: Span, question: str) -> bool:
    """Whether an answer cites none of ``span`` and none of its asked-for items (numbers,
    dates, names) are in it."""
    if any(c.source == span.source and span.overlaps(c.start, c.end) for c in citations):
        return False
    items = new_items(text, question)
    return bool(items) and not (
        items & (new_items(span.text, question) | set(content_terms(span.text)))
    )


def _on_question(
    question: str, citations: Sequence[Citation], reading: Reading, passages: Sequence[Passage]
) -> bool:
    """Whether the cited passages are about what the question asks, not just near it."""
    cited = _cited_passages(citations, passages)
    noun = asked_noun(question)
    if noun and not any(noun in content_terms(p.text) for p in cited):
        return False  # "What resolution did ...?" and no cited passage mentions one
    if expected_answer_type(question) is None:
        return True
    numbers = {p.n for p in cited}
    focus = max((s.coverage for s in reading.spans if s.passage in numbers), default=0.0)
    return focus >= FOCUS_MIN


def _cited_passages(citations: Sequence[Citation], passages: Sequence[Passage]) -> list[Passage]:
    return [
        p
        for p in passages
        if any(c.source == p.doc_id and p.start <= c.start < p.end for c in citations)
    ]


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
