"""The embedder as a llama-index ``BaseEmbedding``, so llama-index pipelines and retrievers can use
the packaged model (and never fall back to OpenAI's)."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from index.embedder import Embedder, MiniLMEmbedder


class QAEmbedding(BaseEmbedding):
    """Wraps any :class:`index.embedder.Embedder` (the packaged MiniLM by default)."""

    _embedder: Any = PrivateAttr()

    def __init__(self, embedder: Embedder | None = None, **kwargs: Any) -> None:
        inner = embedder or MiniLMEmbedder()
        kwargs.setdefault("model_name", inner.name)
        kwargs.setdefault("embed_batch_size", 32)
        super().__init__(**kwargs)
        self._embedder = inner

    @classmethod
    def class_name(cls) -> str:
        return "QAEmbedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embedder.embed([query])[0].tolist()

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embedder.embed([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embedder.embed(texts).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embedding(text)
