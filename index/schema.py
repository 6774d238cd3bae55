"""The nouns of indexing: a loaded document and the chunks cut from it."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


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
