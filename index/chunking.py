"""Sentence-aware chunking with exact character offsets, sized by the embedder's tokenizer."""

from __future__ import annotations

import re
from collections.abc import Callable

from index.schema import Chunk, Document, page_at

# A sentence ends at . ! ? (optionally followed by closing quotes or brackets) before
# whitespace, or at a blank line / line break. Common abbreviations do not end one.
_BOUNDARY = re.compile(r"""(?<=[.!?…])(["'”’)\]]*)\s+|\n\s*\n+|\n""")
_ABBREV = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|Gen|Sen|Rep|St|Jr|Sr|Lt|Col|Capt|Gov|No|vs|etc|e\.g|i\.e|U\.S|U\.N|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|Inc|Ltd|Co|Fig|al)\.|\b[A-Z]\.)$"
)


def split_sentences(
    text: str, start: int = 0, end: int | None = None, min_chars: int = 0
) -> list[tuple[int, int]]:
    """(start, end) spans of the sentences in ``text[start:end]``, whitespace trimmed.

    With ``min_chars``, a fragment shorter than that on the same line as the next sentence
    (a dateline such as "SOCHI, October 28. /TASS/.") is joined to it.
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    cur = start
    for m in _BOUNDARY.finditer(text, start, end):
        stop = m.start()
        if "\n" not in m.group() and _ABBREV.search(text, max(cur, stop - 12), stop):
            continue
        # Closing quotes and brackets after the stop belong to the sentence.
        _add_span(text, cur, m.end(1) if m.start(1) >= 0 else stop, spans)
        cur = m.end()
    _add_span(text, cur, end, spans)
    if min_chars:
        spans = _glue_fragments(text, spans, min_chars)
    return spans


def _glue_fragments(
    text: str, spans: list[tuple[int, int]], min_chars: int
) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    pending: tuple[int, int] | None = None
    for a, b in spans:
        if pending is not None:
            if "\n" not in text[pending[1] : a]:
                a = pending[0]
            else:
                out.append(pending)
            pending = None
        if b - a < min_chars:
            pending = (a, b)
        else:
            out.append((a, b))
    if pending is not None:
        out.append(pending)
    return out


def _add_span(text: str, a: int, b: int, spans: list[tuple[int, int]]) -> None:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    if b > a:
        spans.append((a, b))


def chunk_document(
    doc: Document,
    count_tokens: Callable[[str], int],
    token_spans: Callable[[str], list[tuple[int, int]]],
    max_tokens: int = 200,
    overlap_sentences: int = 1,
) -> list[Chunk]:
    """Pack whole sentences into chunks of at most ``max_tokens`` word-pieces.

    A sentence longer than the budget is cut at word-piece boundaries. Each chunk's
    ``text`` equals ``doc.text[start:end]``. ``overlap_sentences`` sentences of a chunk
    are repeated at the start of the next so a fact on a boundary is found whole.
    """
    units: list[tuple[int, int, int]] = []  # start, end, tokens
    for a, b in split_sentences(doc.text):
        n = count_tokens(doc.text[a:b])
        if n <= max_tokens:
            units.append((a, b, n))
        else:
            units.extend(_cut_long(doc.text, a, b, count_tokens, token_spans, max_tokens))

    groups: list[list[tuple[int, int, int]]] = []
    cur: list[tuple[int, int, int]] = []
    cur_tokens = 0
    for unit in units:
        # +1 per join approximates the separator; the final check below is exact.
        if cur and cur_tokens + unit[2] + 1 > max_tokens:
            groups.append(cur)
            keep = cur[-overlap_sentences:] if overlap_sentences else []
            while keep and sum(u[2] for u in keep) + unit[2] + len(keep) > max_tokens:
                keep = keep[1:]
            cur, cur_tokens = list(keep), sum(u[2] + 1 for u in keep)
        cur.append(unit)
        cur_tokens += unit[2] + 1
    if cur:
        groups.append(cur)

    chunks: list[Chunk] = []
    for group in groups:
        for a, b in _fit(doc.text, group, count_tokens, max_tokens):
            chunks.append(
                Chunk(
                    chunk_id=f"{doc.doc_id}::{doc.content_hash[:16]}::{len(chunks)}",
                    doc_id=doc.doc_id,
                    title=doc.title,
                    text=doc.text[a:b],
                    start=a,
                    end=b,
                    page=page_at(doc.page_starts, a),
                )
            )
    return chunks


def _fit(text, group, count_tokens, max_tokens):
    """Split a group again if the exact count of its joined span exceeds the budget."""
    a, b = group[0][0], group[-1][1]
    if len(group) == 1 or count_tokens(text[a:b]) <= max_tokens:
        return [(a, b)]
    mid = len(group) // 2
    return _fit(text, group[:mid], count_tokens, max_tokens) + _fit(
        text, group[mid:], count_tokens, max_tokens
    )


def _cut_long(text, a, b, count_tokens, token_spans, max_tokens):
    """Cut ``text[a:b]`` at word-piece starts into pieces of at most ``max_tokens``.

    A cut inside a word can make the next piece tokenize into more word-pieces than it
    had in place ("##ing" becomes "in", "##g"), so each piece is counted again and
    shortened by a word-piece until it fits.
    """
    spans = token_spans(text[a:b])
    out = []
    i = 0
    while i < len(spans):
        take = min(max_tokens, len(spans) - i)
        while True:
            s = a + spans[i][0]
            e = a + (spans[i + take][0] if i + take < len(spans) else b - a)
            while e > s and text[e - 1].isspace():
                e -= 1
            n = count_tokens(text[s:e])
            if n <= max_tokens or take == 1:
                break
            take -= 1
        out.append((s, e, n))
        i += take
    return out
