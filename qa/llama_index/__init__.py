"""qa as llama-index pieces: the hybrid retriever, the citation check, the whole answer path
and qa's models, each on llama-index's own abstractions, so a llama-index pipeline can use
qa's exact passages and verified citations.

- ``retriever.py``: :class:`QARetriever` (a ``BaseRetriever``): qa's hybrid retrieval (dense + BM25 fused,
  then exact sentence windows) as ``NodeWithScore``. Each ``TextNode`` holds the passage
  text with ``start_char_idx``/``end_char_idx`` set to its offsets in the document
  (``node.text == document[start:end]``), and doc_id, title, path, line and page as metadata,
  kept out of the prompt and the embedding.
- ``verify.py``: :func:`verify_response` (and :class:`VerifiedQueryEngine`, which runs it after any query
  engine): qa's :class:`~qa.citations.CitationChecker` over any llama-index ``Response``
  whose text cites its ``source_nodes`` as ``[n]`` (what ``CitationQueryEngine`` writes).
  It is a response step, not a ``BaseNodePostprocessor``: a postprocessor runs before the
  answer exists and sees only the nodes and the query, while the check judges each sentence
  of the answer against the nodes it cites.
- ``engine.py``: :class:`QAQueryEngine` (a ``CustomQueryEngine``): qa's whole answer path
  (:meth:`qa.answerer.Answerer.stream`), its answer as a ``Response``; streamed with
  ``streaming=True``.
- ``llm.py``: :class:`QALLM` (a ``CustomLLM``): qa's generator (the packaged local model, or its
  OpenAI-compatible client) for llama-index pipelines.
- ``nodes.py``: a ``Passage`` or a ``Citation`` as a node, and any source nodes as passages.

Only code that imports this package loads llama-index: nothing else in qa imports it, so
``qa status`` and ``qa --help`` never pay for it.

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

from qa.llama_index.engine import QAQueryEngine, VerifiedStreamingResponse, to_response
from qa.llama_index.llm import QALLM
from qa.llama_index.nodes import citation_node, passage_node, passages_of
from qa.llama_index.retriever import QARetriever
from qa.llama_index.verify import VerifiedQueryEngine, verify_response

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
