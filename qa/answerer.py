"""The answerer: a question (and chat history) in, a streamed answer with verified citations out."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence

from qa.citations import CitationChecker
from qa.errors import InputError
from qa.generator import Generator
from qa.prompts import REFUSAL, answer_messages, is_refusal, rewrite_messages
from qa.retrieval import Retriever
from qa.schema import Answer, Delta, Done, Passage, final_answer
from qa.text import answers_type

log = logging.getLogger(__name__)

History = Sequence[tuple[str, str]]


class Answerer:
    def __init__(
        self,
        retriever: Retriever,
        generator: Generator,
        checker: CitationChecker,
        *,
        k: int = 6,
        min_relevance: float = 0.3,
        max_question_chars: int = 2000,
        reindexer: Callable[[Callable[[float, str], None] | None], str] | None = None,
    ) -> None:
        self.retriever = retriever
        self.generator = generator
        self.checker = checker
        self.k = k
        self.min_relevance = min_relevance
        self.max_question_chars = max_question_chars
        self._reindexer = reindexer

    # -- the main path -------------------------------------------------------------------------

    def ask(self, question: str, history: History = ()) -> Answer:
        return final_answer(self.stream(question, history))

    def stream(self, question: str, history: History = ()) -> Iterator[Delta | Done]:
        question = self.validate(question)
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        standalone = question
        if history and needs_rewrite(question):
            standalone = self.rewrite(question, history)
            timings["rewrite_ms"] = _ms(t0)
        t1 = time.perf_counter()
        passages = self.retriever.passages(standalone, self.k)
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

        if not raw or is_refusal(raw):
            timings["total_ms"] = _ms(t0)
            yield Done(self._refusal(question, standalone, passages, timings, "model", raw, stats))
            return
        t2 = time.perf_counter()
        verified = self.checker.verify(raw, passages, standalone)
        timings["verify_ms"] = _ms(t2)
        timings["total_ms"] = _ms(t0)
        stats.update(repointed=verified.repointed, dropped=verified.dropped, added=verified.added)
        if verified.citations and not answers_type(verified.text, standalone):
            # "How many ...?" answered without a number (and so on): it does not answer.
            stats["wrong_answer_type"] = 1
            yield Done(
                self._refusal(question, standalone, passages, timings, "answer_type", raw, stats)
            )
            return
        if not verified.citations:
            # Nothing the model said is supported by the sources: show no unsupported text.
            stats["unsupported_answer"] = 1
            yield Done(
                self._refusal(question, standalone, passages, timings, "unsupported", raw, stats)
            )
            return
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

    # -- steps ---------------------------------------------------------------------------------

    def validate(self, question: str) -> str:
        if not isinstance(question, str) or not question.strip():
            raise InputError("The question is empty. Type a question about your documents.")
        question = " ".join(question.split())
        if len(question) > self.max_question_chars:
            raise InputError(
                f"The question is {len(question):,} characters long; the limit is "
                f"{self.max_question_chars:,}. Ask a shorter question (or raise QA_MAX_QUESTION_CHARS)."
            )
        return question

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
        if not line or len(line) > 3 * len(question) + 200 or is_refusal(line):
            # Fall back to the last question as context for retrieval.
            return f"{history[-1][0]} {question}"
        log.info("rewrote question=%r standalone=%r", question, line)
        return line

    def retrieve(self, question: str) -> list[Passage]:
        return self.retriever.passages(self.validate(question), self.k)

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

    # -- the library ---------------------------------------------------------------------------

    def document(self, doc_id: str) -> tuple[str, str] | None:
        committed = self.retriever.refresh()
        rec = committed.get(doc_id)
        if rec is None:
            return None
        text = self.retriever.store.document_text(doc_id)
        return (rec.title, text) if text is not None else None

    def status(self) -> dict:
        store = self.retriever.store
        try:
            committed = self.retriever.refresh()
        except Exception:
            committed = {}
        return {
            "documents": len(committed),
            "chunks": sum(r.chunks for r in committed.values()),
            "sources": [
                {"doc_id": r.doc_id, "title": r.title, "chunks": r.chunks, "path": r.path}
                for r in sorted(committed.values(), key=lambda r: r.doc_id)
            ],
            "roots": sorted({r.root for r in committed.values()}),
            "store": "chroma server" if store.remote else f"chroma embedded at {store.data_dir}",
            "embedder": getattr(self.retriever.embedder, "name", "?"),
            "generator": getattr(self.generator, "name", "?"),
            "generation": store.generation(),
        }

    def reindex(self, progress: Callable[[float, str], None] | None = None) -> str:
        if self._reindexer is None:
            raise InputError("Re-indexing is not available here; run `qa index <folder>`.")
        return self._reindexer(progress)


_ANAPHORA = re.compile(
    r"\b(it|its|that|this|these|those|they|them|their|theirs|he|him|his|she|her|hers|there|then|"
    r"same|such|other|others|also|too|else|former|latter|one|ones)\b|^(and|but|so|or|what about|how about|why|"
    r"how so|and why)\b",
    re.IGNORECASE,
)


def needs_rewrite(question: str) -> bool:
    """Whether a question in a conversation may lean on earlier turns (pronouns, 'and ...?',
    very short). Self-contained questions skip the rewrite and its model call."""
    from qa.text import content_terms

    return bool(_ANAPHORA.search(question)) or len(content_terms(question)) < 4


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000.0
