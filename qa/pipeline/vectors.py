"""One sentence-vector cache for the whole answer path: retrieval, the reader and the citation
checker embed through it, so a sentence (or the question) is embedded once, not once per
stage. Keyed by the text, so the same sentence seen through a chunk, a passage or a quote is
one entry; least recently used entries go first. The packaged embedder gives a text the same
vector whatever batch it runs in, so answers do not change with the cache."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Generic, TypeVar, cast

import numpy as np

from index.embedder import Embedder

T = TypeVar("T")


class _Inner(Generic[T]):
    """An attribute of the wrapped embedder, read and written through the wrapper."""

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr

    def __get__(self, obj: SentenceVectors | None, owner: type | None = None) -> T:
        if obj is None:  # on the class: the wrapped embedder's, not known yet
            raise AttributeError(self.attr)
        return cast(T, getattr(obj.inner, self.attr))

    def __set__(self, obj: SentenceVectors, value: T) -> None:
        setattr(obj.inner, self.attr, value)


class SentenceVectors:
    """An :class:`~index.embedder.Embedder` that remembers the vectors of ``embedder``.

    Every other attribute (``mode``, ``count_tokens``...) is the wrapped embedder's, so it
    stands in for it anywhere (the store's embedder record, re-indexing)."""

    def __init__(self, embedder: Embedder, capacity: int = 8192) -> None:
        self.inner = embedder
        self.capacity = capacity  # vectors kept (QA_RETRIEVAL_VECTOR_CACHE), oldest out first
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.calls = 0  # calls that reached the wrapped embedder
        self.embedded = 0  # texts it embedded

    name = _Inner[str]()
    dim = _Inner[int]()

    def __getattr__(self, attr: str) -> Any:
        if attr == "inner":  # not set yet (copying, unpickling): no recursion
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return self.inner.token_spans(text)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return self.inner.embed(texts)
        with self._lock:
            known = {t: v for t in texts if (v := self._vectors.get(t)) is not None}
            for t in known:
                self._vectors.move_to_end(t)
        todo = [t for t in dict.fromkeys(texts) if t not in known]
        if todo:
            new = self.inner.embed(todo)  # outside the lock: other threads keep reading
            known.update(zip(todo, new, strict=True))
            with self._lock:
                self.calls += 1
                self.embedded += len(todo)
                self._vectors.update(zip(todo, new, strict=True))
                while len(self._vectors) > self.capacity:
                    self._vectors.popitem(last=False)
        return np.stack([known[t] for t in texts])
