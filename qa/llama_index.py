"""qa as llama-index pieces: the hybrid retriever, the citation check, the whole answer path
and qa's models, each on llama-index's own abstractions, so a llama-index pipeline can use
qa's exact passages and verified citations.

- :class:`QARetriever` (a ``BaseRetriever``): qa's hybrid retrieval (dense + BM25 fused,
  then exact sentence windows) as ``NodeWithScore``. Each ``TextNode`` holds the passage
  text with ``start_char_idx``/``end_char_idx`` set to its offsets in the document
  (``node.text == document[start:end]``), and doc_id, title, path, line and page as metadata,
  kept out of the prompt and the embedding.
- :func:`verify_response` (and :class:`VerifiedQueryEngine`, which runs it after any query
  engine): qa's :class:`~qa.citations.CitationChecker` over any llama-index ``Response``
  whose text cites its ``source_nodes`` as ``[n]`` (what ``CitationQueryEngine`` writes).
  It is a response step, not a ``BaseNodePostprocessor``: a postprocessor runs before the
  answer exists and sees only the nodes and the query, while the check judges each sentence
  of the answer against the nodes it cites.
- :class:`QAQueryEngine` (a ``CustomQueryEngine``): qa's whole answer path
  (:meth:`qa.answerer.Answerer.stream`), its answer as a ``Response``; streamed with
  ``streaming=True``.
- :class:`QALLM` (a ``CustomLLM``): qa's generator (the packaged local model, or its
  OpenAI-compatible client) for llama-index pipelines.

Not built on llama-index, and why:
- The stages inside the answer path stay qa's own: ``Answerer`` hands ``Passage`` objects
  from stage to stage; going through ``NodeWithScore`` there would add a conversion each way
  and llama-index's callback and instrumentation spans on every step, for nothing the
  answer uses.
- qa's OpenAI-compatible path stays :class:`qa.generator.OpenAIGenerator`, on the ``openai``
  client directly. llama-index's integration for such servers (``OpenAILike`` of
  ``llama-index-llms-openai-like``, a subclass of ``llama-index-llms-openai``'s ``OpenAI``)
  is neither in qa's dependencies (requirements.lock) nor installed, and qa installs nothing
  at run time, so it was not measured; it calls the same ``openai`` client under more layers
  (its message conversion, its own retries). :class:`QALLM` goes the other way: it hands
  qa's client (and the local model) to llama-index, with no new dependency.

Measured (``python -m eval.bench_llama_index --reps 200``: the fakes over a temporary index
of seeds/, medians, on 2 cores shared with other work, load about 3.8):
``QARetriever.retrieve`` 15.59 ms vs ``Retriever.passages`` 15.35 ms (+0.24 ms, x1.016);
``QAQueryEngine.query`` 34.36 ms vs ``Answerer.ask`` 33.39 ms (+0.98 ms, x1.029). Over a
search and an answer that cost nothing, the wrappers alone take 0.23 ms (retrieve: six
``TextNode`` objects at about 0.04 ms each, the rest llama-index's span and callback events)
and 0.22 ms (query) a call, and ``QALLM.chat`` adds 0.15 ms to a reply. With the real models
a question takes seconds, so none of it is measurable there.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Generator as Stream
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.base.response.schema import (
    RESPONSE_TYPE,
    PydanticResponse,
    Response,
    StreamingResponse,
)
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import (
    MetadataMode,
    NodeRelationship,
    NodeWithScore,
    QueryBundle,
    RelatedNodeInfo,
    TextNode,
)
from pydantic import Field, PrivateAttr

from qa.answerer import Answerer
from qa.citations import CitationChecker
from qa.generator import Generator
from qa.pipeline.compose import REFUSED
from qa.pipeline.retrieve import PassageSource
from qa.schema import Answer, Citation, Delta, Done, Passage

__all__ = [
    "QALLM",
    "QAQueryEngine",
    "QARetriever",
    "VerifiedQueryEngine",
    "VerifiedStreamingResponse",
    "citation_node",
    "passage_node",
    "passages_of",
    "to_response",
    "verify_response",
]

# Where a node came from, in its metadata: never sent to the model nor embedded.
_PLACE = ("doc_id", "path", "start", "end", "line", "page", "n", "similarity", "quote_of")
_PLACE_KEYS = [*_PLACE, "node_start", "node_end"]
_LABEL = re.compile(r"Source (\d+):\n")  # how CitationQueryEngine heads each source node


def _node(
    node_id: str, text: str, doc_id: str, start: int | None, end: int | None, /, **meta: Any
) -> TextNode:
    return TextNode(
        id_=node_id,
        text=text,
        start_char_idx=start,
        end_char_idx=end,
        metadata=meta,
        excluded_llm_metadata_keys=[k for k in _PLACE_KEYS if k in meta],
        excluded_embed_metadata_keys=[k for k in _PLACE_KEYS if k in meta],
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc_id)},
    )


def passage_node(p: Passage) -> NodeWithScore:
    """A passage as a node: its exact text, its document offsets, its ranking score."""
    meta = {"doc_id": p.doc_id, "title": p.title, "path": p.path, "start": p.start}
    meta |= {"end": p.end, "line": p.line, "page": p.page, "n": p.n, "similarity": p.similarity}
    node = _node(f"{p.doc_id}#{p.start}-{p.end}", p.text, p.doc_id, p.start, p.end, **meta)
    return NodeWithScore(node=node, score=p.score)


def citation_node(c: Citation) -> NodeWithScore:
    """A verified citation as a node: the exact quote and its offsets in the document."""
    meta = {"doc_id": c.source, "title": c.title, "path": c.path, "start": c.start}
    meta |= {"end": c.end, "line": c.line, "page": c.page, "n": c.n}
    node = _node(f"{c.source}#{c.start}-{c.end}", c.quote, c.source, c.start, c.end, **meta)
    return NodeWithScore(node=node, score=c.score)


class QARetriever(BaseRetriever):
    """qa's hybrid retriever as a llama-index retriever: the best ``k`` passages, best first,
    each a node whose text is exactly ``document[start_char_idx:end_char_idx]``; the score is
    the passage's ranking score (``Passage.score``: its best sentence's cosine to the query,
    word overlap and the fused BM25 + dense rank of its chunk)."""

    def __init__(self, retriever: PassageSource, k: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.retriever = retriever
        self.k = k

    @classmethod
    def from_answerer(cls, answerer: Answerer, **kwargs: Any) -> QARetriever:
        """The retriever an answerer uses, with its ``k``."""
        return cls(answerer.retriever, answerer.k, **kwargs)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return [passage_node(p) for p in self.retriever.passages(query_bundle.query_str, self.k)]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        # The search is CPU-bound and thread-safe (the retriever holds a lock): a worker
        # thread keeps the event loop free.
        return await asyncio.to_thread(self._retrieve, query_bundle)


def passages_of(nodes: Sequence[NodeWithScore]) -> tuple[list[Passage], list[int | None]]:
    """Any response's source nodes as numbered passages (node i is source ``[i + 1]``, or the
    number of its ``Source n:`` label), and each one's offset in its document where known.

    A passage's offsets are into the node's own text (``node.get_content()``), past the label,
    so a quote is always ``node text[start:end]``. The document offset is known when the node
    says where its text lies: ``start_char_idx`` (qa's nodes, llama-index's splitters) or
    qa's metadata, when the node still holds a whole qa passage (CitationQueryEngine copies
    the metadata onto the chunks it makes, and drops ``start_char_idx``)."""
    passages: list[Passage] = []
    bases: list[int | None] = []
    for i, nws in enumerate(nodes, start=1):
        node = nws.node
        content = node.get_content(metadata_mode=MetadataMode.NONE)
        label = _LABEL.match(content)
        n = int(label.group(1)) if label else i
        skip = label.end() if label else 0
        text = content[skip:].removesuffix("\n") if label else content
        meta = node.metadata
        start = getattr(node, "start_char_idx", None)
        end = getattr(node, "end_char_idx", None)
        if label or start is None or end is None or end - start != len(text):
            start, end = meta.get("start"), meta.get("end")
        whole = isinstance(start, int) and isinstance(end, int) and end - start == len(text)
        bases.append(start - skip if whole and isinstance(start, int) else None)
        passages.append(
            Passage(
                n=n,
                doc_id=str(meta.get("doc_id") or node.ref_doc_id or node.node_id),
                title=str(meta.get("title") or meta.get("file_name") or ""),
                text=text,
                start=skip,
                end=skip + len(text),
                line=int(meta.get("line") or 1) if whole else 1,
                page=meta.get("page") if whole else None,
                score=float(nws.score or 0.0),
                similarity=float(meta.get("similarity") or nws.score or 0.0),
                path=str(meta.get("path") or meta.get("file_path") or ""),
            )
        )
    if len({p.n for p in passages}) < len(passages):  # labels repeat: number by position
        passages = [replace(p, n=i) for i, p in enumerate(passages, start=1)]
    return passages, bases


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
        meta = {k: v for k, v in nws.node.metadata.items() if k not in _PLACE_KEYS}
        meta |= {"n": c.n, "quote_of": nws.node.node_id, "node_start": c.start}
        meta |= {"node_end": c.end, "doc_id": p.doc_id, "path": p.path}
        doc = (base + c.start, base + c.end) if base is not None else (None, None)
        if base is not None:
            meta |= {"start": doc[0], "end": doc[1], "line": c.line, "page": c.page}
        node = _node(f"{nws.node.node_id}#{c.start}-{c.end}", c.quote, p.doc_id, *doc, **meta)
        quotes.append(NodeWithScore(node=node, score=c.score))
    refused = not verified.sentences
    metadata = _by_node(quotes) | {
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


def to_response(answer: Answer) -> Response:
    """qa's answer as a ``Response``: its text with ``[n]``, ``source_nodes[n - 1]`` the quote
    ``[n]`` cites; ``metadata`` has their metadata by node id, the answer's origin, reason,
    refusal, sentences, timings and trace, and the passages the model read, as nodes."""
    nodes = [citation_node(c) for c in answer.citations]
    return Response(answer.text, nodes, _by_node(nodes) | _metadata(answer))


def _by_node(nodes: Sequence[NodeWithScore]) -> dict[str, Any]:
    """Each source node's metadata by its id, as llama-index's synthesizers give it."""
    return {n.node.node_id: n.node.metadata for n in nodes}


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
        "passages": [passage_node(p) for p in answer.passages],
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
            into.metadata = _by_node(into.source_nodes) | _metadata(event.answer)


class QALLM(CustomLLM):
    """qa's generator (the packaged local model, its OpenAI-compatible client, or the fake)
    as a llama-index LLM: chat messages go to it as they are, a completion as one user
    message."""

    context_window: int = Field(4096, description="Tokens the model reads and writes at most.")
    num_output: int = Field(160, description="Most tokens in one reply.")
    _generator: Any = PrivateAttr()

    def __init__(self, generator: Generator, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._generator = generator

    @classmethod
    def from_settings(cls, settings: Any) -> QALLM:
        """The generator ``settings.llm`` names, loaded on first use."""
        from qa.service import LazyGenerator

        llm = settings.llm
        return cls(LazyGenerator(settings), context_window=llm.n_ctx, num_output=llm.max_tokens)

    @classmethod
    def class_name(cls) -> str:
        return "QALLM"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.num_output,
            is_chat_model=True,
            model_name=str(getattr(self._generator, "name", "qa")),
        )

    def _deltas(self, messages: Sequence[ChatMessage]) -> Iterator[str]:
        turns = [{"role": m.role.value, "content": m.content or ""} for m in messages]
        return self._generator.stream(turns, self.num_output)

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        text = "".join(self._deltas(messages))
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        def gen() -> ChatResponseGen:
            text = ""
            for piece in self._deltas(messages):
                text += piece
                message = ChatMessage(role=MessageRole.ASSISTANT, content=text)
                yield ChatResponse(message=message, delta=piece)

        return gen()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        text = "".join(self._deltas([ChatMessage(role=MessageRole.USER, content=prompt)]))
        return CompletionResponse(text=text)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        def gen() -> CompletionResponseGen:
            text = ""
            for piece in self._deltas([ChatMessage(role=MessageRole.USER, content=prompt)]):
                text += piece
                yield CompletionResponse(text=text, delta=piece)

        return gen()
