"""Fakes for tests and for ``QA_LLM_MODE=fake`` / ``QA_EMBED_MODE=fake``: one place for both.

:class:`FakeGenerator` replies from a queue and records every prompt it saw, so a test can
assert what reached the model. :class:`HashEmbedder` gives vectors that depend on the text
(hashed bag of words), so retrieval tests really test retrieval.
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from collections.abc import Iterator, Sequence

import numpy as np

from qa.prompts import REFUSAL

Message = dict[str, str]


class FakeGenerator:
    """Replies from a queue (``enqueue``) and records every prompt it saw (``history``)."""

    name = "fake"

    def __init__(self, replies: Sequence[str] = (), default: str = REFUSAL) -> None:
        self.replies: deque[str] = deque(replies)
        self.history: list[list[Message]] = []
        self.default = default

    def enqueue(self, *replies: str) -> None:
        self.replies.extend(replies)

    def stream(self, messages: Sequence[Message], max_tokens: int | None = None) -> Iterator[str]:
        self.history.append([dict(m) for m in messages])
        reply = self.replies.popleft() if self.replies else self.default
        for i in range(0, len(reply), 4):
            yield reply[i : i + 4]

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)


_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class HashEmbedder:
    """A fake whose vectors depend on the text: hashed bag of lower-cased words.

    Texts that share words get similar vectors, so retrieval tests really test retrieval.
    """

    name = "hash-bow"

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _WORD.finditer(text)]

    def count_tokens(self, text: str) -> int:
        return len(self.token_spans(text))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 63) == 0 else -1.0
            if not out[row].any():
                out[row, 0] = 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.clip(norms, 1e-12, None)).astype(np.float32)
