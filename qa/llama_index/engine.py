"""qa's whole answer path as a llama-index ``CustomQueryEngine``."""

from __future__ import annotations

import asyncio
from collections.abc import Generator as Stream
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from llama_index.core.base.response.schema import Response, StreamingResponse
from llama_index.core.query_engine import CustomQueryEngine
from pydantic import Field

from qa.llama_index.nodes import by_node, citation_node
from qa.schema import Answer, Delta, Done


def to_response(answer: Answer) -> Response:
    """qa's answer as a ``Response``: its text with ``[n]``, ``source_nodes[n - 1]`` the quote
    ``[n]`` cites; ``metadata`` has their metadata by node id, the answer's origin, reason,
    refusal, sentences, timings and trace, and the passages the model read (plain values:
    ``metadata`` dumps to JSON as it is)."""
    nodes = [citation_node(c) for c in answer.citations]
    return Response(answer.text, nodes, by_node(nodes) | _metadata(answer))


def _metadata(answer: Answer) -> dict[str, Any]:
    return {
        "origin": answer.origin.value,
        "reason": answer.reason.value if answer.reason else None,
        "refused": answer.refused,
        "standalone_question": answer.standalone_question,
        "sentences": [
            {"text": s.text, "citations": list(s.citations), "supported": s.supported}
            for s in answer.sentences
        ],
        "timings": dict(answer.timings),
        "trace": asdict(answer.trace),
        "passages": [asdict(p) for p in answer.passages],
    }


@dataclass
class VerifiedStreamingResponse(StreamingResponse):
    """``response_gen`` yields the model's draft as it is written; once it has run out,
    ``response_txt``, ``source_nodes`` and ``metadata`` hold the verified answer (which may
    differ: sentences re-cited or left out), and ``str()``/``get_response()`` give that."""

    answer: Answer | None = None

    def _finish(self) -> None:
        for _ in self.response_gen:
            pass

    def __str__(self) -> str:
        self._finish()
        return self.response_txt or ""

    def get_response(self) -> Response:
        self._finish()
        return Response(self.response_txt, self.source_nodes, self.metadata)

    def print_response_stream(self) -> None:
        super().print_response_stream()  # prints the draft, then keeps its own text as the answer
        if self.answer is not None:
            self.response_txt = self.answer.text


class QAQueryEngine(CustomQueryEngine):
    """qa's whole answer path as a llama-index query engine: ``query(question)`` gives the
    verified answer as a ``Response`` (see :func:`to_response`); with ``streaming=True``, a
    :class:`VerifiedStreamingResponse`."""

    answerer: Any = Field(description="The qa Answerer (qa.service.build_answerer).")
    streaming: bool = Field(False, description="Stream the draft, then give the verified answer.")

    @classmethod
    def from_settings(cls, settings: Any, streaming: bool = False, **kwargs: Any) -> QAQueryEngine:
        """Over the index in ``settings.data_dir``; ``kwargs`` go to ``build_answerer``."""
        from qa.service import build_answerer

        return cls(answerer=build_answerer(settings, **kwargs), streaming=streaming)

    def custom_query(self, query_str: str) -> Response | VerifiedStreamingResponse:
        if not self.streaming:
            return to_response(self.answerer.ask(query_str))
        holder = VerifiedStreamingResponse(response_gen=_nothing())
        holder.response_gen = _pieces(self.answerer.stream(query_str), holder)
        return holder

    async def acustom_query(self, query_str: str) -> Response | VerifiedStreamingResponse:
        if self.streaming:  # the stream runs as the caller reads it
            return self.custom_query(query_str)
        return to_response(await asyncio.to_thread(self.answerer.ask, query_str))


def _nothing() -> Stream[str, None, None]:
    yield from ()


def _pieces(
    events: Iterator[Delta | Done], into: VerifiedStreamingResponse
) -> Stream[str, None, None]:
    for event in events:
        if isinstance(event, Delta):
            yield event.text
        else:
            into.answer = event.answer
            into.response_txt = event.answer.text
            into.source_nodes[:] = [citation_node(c) for c in event.answer.citations]
            into.metadata = by_node(into.source_nodes) | _metadata(event.answer)
