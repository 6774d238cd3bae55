"""One chat session: a question and the turns so far in, views of the chat out.

No Gradio here, so tests drive a session directly. The session's turns live in a
per-browser ``gr.State``; every function returns new lists and never mutates its input.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from qa.errors import QAError
from qa.schema import Answer, Delta, Done
from ui import render

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


def history(turns: Sequence[Turn]) -> list[tuple[str, str]]:
    """Prior ``(question, answer_text)`` pairs for follow-ups; failed turns are left out."""
    return [(t.question, t.answer.text) for t in turns if t.answer is not None]


def messages(turns: Sequence[Turn], pending: tuple[str, str] | None = None) -> list[dict[str, str]]:
    """Chat messages as escaped HTML; ``pending`` is ``(question, html)`` of a turn in progress."""
    out: list[dict[str, str]] = []
    for i, t in enumerate(turns):
        out.append({"role": "user", "content": render.question_html(t.question)})
        if t.answer is not None:
            content = render.answer_html(t.answer, anchor=anchor_for(i))
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
        panel=render.panel_html([(t.question, t.sources) for t in turns]),
        answer_md=render.answer_to_markdown(answers[-1]) if answers else "",
        conversation_md=render.conversation_to_markdown(answers) if answers else "",
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


def respond(answerer: Answerer, question: str, turns: Sequence[Turn]) -> Iterator[View]:
    """Stream one answer: growing partial text from ``Delta`` events, then the verified answer.

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
        sources = render.sources_html(answer, answerer.document, anchor=anchor_for(len(turns)))
        turn = Turn(question, answer=answer, sources=sources)
    except QAError as e:
        log.info("question failed error=%s", type(e).__name__)
        turn = Turn(question, error=str(e) or GENERIC_ERROR)
    except Exception:
        log.exception("answering failed")
        turn = Turn(question, error=GENERIC_ERROR)
    turns.append(turn)
    yield view(turns, done=True)
