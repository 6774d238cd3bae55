"""The nouns of indexing: a loaded document, the chunks cut from it, and the names of the
packaged embedder's variants."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Literal

# The two ways the packaged embedder (all-MiniLM-L6-v2) runs, by the name an index records:
# - "weights" (the default): the graph as shipped. Its weights are int8, but onnxruntime turns
#   them into float32 when it loads it, so every product runs in float32.
# - "dynamic" (QA_EMBED_INT8=dynamic): its matrix products in int8, the weights per output
#   channel and each text's activations at run time (onnxruntime's MatMulInteger). About twice
#   as fast; against "weights", cosine 0.9955 (min 0.992) on the 428 SQuAD chunks and the same
#   dense retrieval (MRR of the chunk holding the answer: SQuAD 0.7798 -> 0.7797 on 1,355
#   questions, python_docs 0.830 -> 0.831, seeds 0.776 -> 0.772). Not the default: on the
#   development suite 9 of 227 answers changed, 3 for the better and 6 for the worse
#   (2026-12-06, README).
Int8 = Literal["weights", "dynamic"]
MINILM_VARIANTS: dict[str, Int8] = {
    "all-MiniLM-L6-v2-int8": "weights",
    "all-MiniLM-L6-v2-int8-dq": "dynamic",
}


def minilm_name(int8: Int8) -> str:
    """The name an index records for the packaged embedder run the ``int8`` way."""
    return next(name for name, way in MINILM_VARIANTS.items() if way == int8)


@dataclass(frozen=True)
class Document:
    """One source file as text.

    ``doc_id`` is the path relative to the indexed root, prefixed by the root's name
    (``seeds/002_e50b.txt``), so it is stable across machines and checkouts.
    ``text`` is the exact text every offset points into. ``page_starts`` holds the
    offset where each PDF page begins (empty for other formats).
    """

    doc_id: str
    path: str
    title: str
    text: str
    content_hash: str
    page_starts: tuple[int, ...] = ()

    def page_at(self, offset: int) -> int | None:
        return page_at(self.page_starts, offset)

    def line_at(self, offset: int) -> int:
        return line_at(self.text, offset)


def page_at(page_starts: tuple[int, ...] | list[int], offset: int) -> int | None:
    """The 1-based page that holds ``offset``, or None when the document has no pages."""
    if not page_starts:
        return None
    return max(1, bisect.bisect_right(list(page_starts), offset))


def line_at(text: str, offset: int) -> int:
    """The 1-based line that holds ``offset``."""
    return text.count("\n", 0, max(0, offset)) + 1


@dataclass(frozen=True)
class Chunk:
    """A span ``text == document.text[start:end]`` that is embedded and searched as one unit."""

    chunk_id: str
    doc_id: str
    title: str
    text: str
    start: int
    end: int
    page: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
