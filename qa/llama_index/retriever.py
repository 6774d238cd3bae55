"""qa's hybrid retriever as a llama-index ``BaseRetriever``."""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle

from qa.answerer import Answerer
from qa.llama_index.nodes import passage_node
from qa.pipeline.retrieve import PassageSource


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
