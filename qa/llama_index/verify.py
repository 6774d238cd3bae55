"""qa's citation check as a llama-index response step.

It is a response step, not a ``BaseNodePostprocessor``: a postprocessor runs before the
answer exists and sees only the nodes and the query, while the check judges each sentence of
the answer against the nodes it cites."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from llama_index.core.base.response.schema import (
    RESPONSE_TYPE,
    PydanticResponse,
    Response,
    StreamingResponse,
)
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.schema import NodeWithScore
from pydantic import Field

from qa.citations import CitationChecker
from qa.llama_index.nodes import PLACE_KEYS, by_node, make_node, passages_of
from qa.prompts import REFUSED


def verify_response(
    response: RESPONSE_TYPE, checker: CitationChecker, question: str = ""
) -> Response:
    """``response`` with qa's citation check applied: each sentence keeps the ``[n]`` whose
    source node states it (re-pointed to another node that does, when the cited one does
    not), a sentence that no node states is left out, and the citations are numbered again
    from 1. ``source_nodes[n - 1]`` is the exact quote that ``[n]`` cites, with
    ``metadata["node_start"/"node_end"]`` its offsets in the cited node's text,
    ``metadata["quote_of"]`` that node's id, and ``start_char_idx``/``end_char_idx`` its
    offsets in the document where the node said where it lies. ``metadata`` has each quote
    node's metadata by node id (as llama-index's synthesizers give it), each sentence's
    verdict, the sentences left out, the counts and the response's own text
    (``raw_response``). No sentence left: the text is qa's refusal, ``metadata["refused"]``."""
    if isinstance(response, StreamingResponse | PydanticResponse):
        response = response.get_response()
    if not isinstance(response, Response):
        raise TypeError(
            f"verify_response takes a Response, not {type(response).__name__}: for an async "
            "stream, pass `await response.get_response()`."
        )
    text = str(response.response or "")
    nodes = list(response.source_nodes)
    passages, bases = passages_of(nodes)
    # Each node under its own key, so every citation names the node it quotes (two nodes may
    # come from one document, and their offsets are each into their own text).
    keyed = [replace(p, doc_id=str(i)) for i, p in enumerate(passages)]
    verified = checker.verify(text, keyed, question)
    quotes = []
    for c in verified.citations:
        i = int(c.source)
        nws, base, p = nodes[i], bases[i], passages[i]
        meta = {k: v for k, v in nws.node.metadata.items() if k not in PLACE_KEYS}
        meta |= {"n": c.n, "quote_of": nws.node.node_id, "node_start": c.start}
        meta |= {"node_end": c.end, "doc_id": p.doc_id, "path": p.path}
        doc = (base + c.start, base + c.end) if base is not None else (None, None)
        if base is not None:
            meta |= {"start": doc[0], "end": doc[1], "line": c.line, "page": c.page}
        node = make_node(f"{nws.node.node_id}#{c.start}-{c.end}", c.quote, p.doc_id, *doc, **meta)
        quotes.append(NodeWithScore(node=node, score=c.score))
    refused = not verified.sentences
    metadata = by_node(quotes) | {
        "sentences": [
            {"text": s.text, "citations": list(s.citations), "supported": s.supported}
            for s in verified.sentences
        ],
        "removed": list(verified.removed),
        "refused": refused,
        "raw_response": text,
        "repointed": verified.repointed,
        "dropped": verified.dropped,
        "added": verified.added,
        "judged": verified.judged,
    }
    return Response(REFUSED if refused else verified.text, quotes, metadata)


class VerifiedQueryEngine(CustomQueryEngine):
    """Any query engine (a ``CitationQueryEngine``, say) with :func:`verify_response` run on
    its answers."""

    engine: Any = Field(description="The query engine whose answers are checked.")
    checker: Any = Field(description="qa's CitationChecker (qa.service.make_checker).")

    def custom_query(self, query_str: str) -> Response:
        return verify_response(self.engine.query(query_str), self.checker, query_str)

    async def acustom_query(self, query_str: str) -> Response:
        response = await self.engine.aquery(query_str)
        return await asyncio.to_thread(verify_response, response, self.checker, query_str)
