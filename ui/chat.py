"""One chat session: a question and the turns so far in, views of the chat out.

No Gradio here, so tests drive a session directly. The session's turns live in a
per-browser ``gr.State``; every function returns new lists and never mutates its input.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from qa.errors import QAError
from qa.schema import Answer, Delta, Done
from ui import docview, notes, render, sources

log = logging.getLogger(__name__)

GENERIC_ERROR = (
    "Something went wrong while answering. The details are in the server log; please try again."
)
SEARCHING = "Searching your documents…"
WAITING = "Waiting for the model…"


class Answerer(Protocol):
    def stream(
        self, question: str, history: Sequence[tuple[str, str]] = ()
    ) -> Iterator[Delta | Done]: ...
    def ask(self, question: str, history: Sequence[tuple[str, str]] = ()) -> Answer: ...
    def validate(self, question: str) -> str: ...


class Documents(Protocol):
    """What the page needs of the document library (:class:`qa.library.Library`): what is
    indexed, a document's text, re-indexing. Apart from the answering port above."""

    def document(self, doc_id: str) -> tuple[str, str] | None: ...
    def status(self) -> dict: ...
    def reindex(self, progress: Callable[[float, str], None] | None = None) -> str: ...


@dataclass
class Turn:
    """One question and what came of it: an answer (possibly a refusal) or an error message."""

    question: str
    answer: Answer | None = None
    error: str | None = None
    sources: str = ""  # this turn's section of the sources panel, rendered once
    first: int = 1  # the conversation-wide number this turn's first source shows as


@dataclass
class View:
    """Everything the page shows for a session at one moment."""

    messages: list[dict[str, str]]
    panel: str
    answer_md: str
    conversation_md: str
    turns: list[Turn] = field(default_factory=list)
    done: bool = False


def anchor_for(index: int) -> str:
    return f"qa-t{index}"


def next_number(turns: Sequence[Turn]) -> int:
    """The number the next answer's first source shows as: sources count across the chat."""
    return 1 + sum(
        len(t.answer.citations) for t in turns if t.answer is not None and not t.answer.refused
    )


def check_question(answerer: Answerer, question: str | None) -> tuple[str, str | None]:
    """``(question, None)`` when it can be asked, else ``(question, why not)``.

    Runs the answerer's own validation (empty questions, the length limit) before the
    question is shown in the chat, so a bad one is never echoed and stays in the box.
    """
    question = (question or "").strip()
    try:
        answerer.validate(question)
    except QAError as e:
        return question, str(e)
    return question, None


def history(turns: Sequence[Turn]) -> list[tuple[str, str]]:
    """Prior ``(question, answer_text)`` pairs for follow-ups; failed turns are left out."""
    return [(t.question, t.answer.text) for t in turns if t.answer is not None]


def messages(turns: Sequence[Turn], pending: tuple[str, str] | None = None) -> list[dict[str, str]]:
    """Chat messages as escaped HTML; ``pending`` is ``(question, html)`` of a turn in progress."""
    out: list[dict[str, str]] = []
    for i, t in enumerate(turns):
        out.append({"role": "user", "content": render.question_html(t.question)})
        if t.answer is not None:
            content = render.answer_html(t.answer, anchor=anchor_for(i), first=t.first)
        else:
            content = render.error_html(t.error or GENERIC_ERROR)
        out.append({"role": "assistant", "content": content})
    if pending is not None:
        out.append({"role": "user", "content": render.question_html(pending[0])})
        out.append({"role": "assistant", "content": pending[1]})
    return out


def view(
    turns: Sequence[Turn], pending: tuple[str, str] | None = None, *, done: bool = False
) -> View:
    answers = [t.answer for t in turns if t.answer is not None]
    return View(
        messages=messages(turns, pending),
        panel=sources.panel_html([(t.question, t.sources) for t in turns]),
        answer_md=notes.answer_to_markdown(answers[-1]) if answers else "",
        conversation_md=notes.conversation_to_markdown(answers) if answers else "",
        turns=list(turns),
        done=done,
    )


def waiting(question: str, turns: Sequence[Turn], ahead: int | None = None) -> View:
    """The view right after the user asks, before the model is free."""
    if ahead is None:
        note = WAITING
    elif ahead:
        note = f"Waiting for the model — {ahead} {'request' if ahead == 1 else 'requests'} ahead"
    else:
        note = SEARCHING
    return view(turns, (question, render.pending_html(note)))


def respond(
    answerer: Answerer, documents: Documents, question: str, turns: Sequence[Turn]
) -> Iterator[View]:
    """Stream one answer: growing partial text from ``Delta`` events, then the verified answer
    (its sources read from ``documents``).

    Errors end the turn with a readable message; the session keeps working afterwards.
    """
    turns = list(turns)
    yield view(turns, (question, render.pending_html(SEARCHING)))
    text = ""
    answer: Answer | None = None
    try:
        for event in answerer.stream(question, history(turns)):
            if isinstance(event, Done):
                answer = event.answer
                break
            if isinstance(event, Delta) and event.text:
                text += event.text
                yield view(turns, (question, render.streaming_html(text)))
        if answer is None:
            raise RuntimeError("the answer stream ended without a final answer")
        first = next_number(turns)
        section = sources.sources_html(
            answer, documents.document, anchor=anchor_for(len(turns)), first=first
        )
        turn = Turn(question, answer=answer, sources=section, first=first)
    except QAError as e:
        log.info("question failed error=%s", type(e).__name__)
        turn = Turn(question, error=str(e) or GENERIC_ERROR)
    except Exception:
        log.exception("answering failed")
        turn = Turn(question, error=GENERIC_ERROR)
    turns.append(turn)
    yield view(turns, done=True)


_DOC_KEY = re.compile(r"t(\d+)-(p?)(\d+)")


def open_document(documents: Documents, key: str, turns: Sequence[Turn]) -> str:
    """The document view for ``key``: ``t<turn>-<n>`` (citation n of that turn's answer) or
    ``t<turn>-p<i>`` (its i-th closest passage searched).

    Only documents named by this session's own answers are opened, and only through the
    index (``documents.document``); a key that names nothing, or a document no longer
    indexed, gets a message instead.
    """
    m = _DOC_KEY.fullmatch(key or "")
    turn = int(m.group(1)) if m else -1
    answer = turns[turn].answer if 0 <= turn < len(turns) else None
    if m is None or answer is None:
        return render.error_html("That source is not part of this conversation any more.")
    index = int(m.group(3))
    if m.group(2):
        if index >= min(len(answer.passages), sources.SEARCHED):
            return render.error_html("That passage is not part of this conversation any more.")
        p = answer.passages[index]
        doc_id, span, quote, label = p.doc_id, (p.start, p.end), p.text, "searched"
    else:
        c = next((c for c in answer.citations if c.n == index), None)
        if c is None:
            return render.error_html("That source is not part of this conversation any more.")
        doc_id, span, quote, label = c.source, (c.start, c.end), c.quote, "cited"
    try:
        doc = documents.document(doc_id)
    except QAError as e:
        return render.error_html(str(e))
    except Exception:
        log.exception("document lookup failed doc_id=%s", doc_id)
        return render.error_html("Could not read the document; see the server log.")
    return docview.document_html(doc_id, doc, span, quote, label=label)


def collection_examples(status: dict, n: int = 3) -> list[str]:
    """Example questions drawn from what is indexed: one per document title, up to ``n``."""
    titles = [str(s.get("title") or "").strip() for s in status.get("sources", [])]
    titles = [t for t in dict.fromkeys(titles) if 3 <= len(t) <= 80]
    return [f"What is “{t}” about?" for t in titles[:n]]
