"""Sentence-aware chunking with exact character offsets, sized by the embedder's tokenizer."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from index.language import LanguageProfile, active
from index.schema import Chunk, Document, page_at

# Bump when the splitting or chunking rules change, or the text a loader makes of a file
# (anything that moves a chunk boundary for the same file and settings): an index records it
# with each document (ChunkerRecord, below), and `qa index` re-chunks the documents cut
# under another one.
# 1: every line break ended a sentence (indexes of then record no chunker).
# 2: sentences end at stops and paragraph breaks; wrapped lines stay one sentence.
# 3: HTML: a field ("<dt>Author:</dt><dd>…</dd>") and a table row of short cells are one
#    line each, and no two table cells run together; Markdown: the title comes from front
#    matter or the first heading of either style (index.loaders).
CHUNKER_VERSION = 3

# Candidate sentence ends: a stop (. ! ? … and the CJK full stops), with the closing quotes
# or brackets after it, then whitespace; a blank line; a line break. Which candidates really
# end a sentence is decided below: line breaks inside a paragraph are mostly not sentence ends
# (hard-wrapped text, PDF lines), and abbreviations, initials and list numbers are not stops.
_BREAK = re.compile(
    r"""(?<=[.!?…。！？])(?P<close>["'”’)\]」』]*)(?P<ws>\s*)"""
    r"""|(?P<para>\n[^\S\n]*\n\s*)"""
    r"""|(?P<line>\n)"""
)
_CJK_STOPS = "。！？"
_TOKEN = re.compile(r"[\w.]*$")  # the word before a stop, dots kept ("e.g.", "Trinity-St.")
# Lines that stand alone: a Markdown heading, a table row, a code fence or rule, an
# interactive prompt. A list item starts a new sentence but may wrap onto the next line.
_BLOCK_LINE = re.compile(r"#{1,6}(?:\s|$)|\||.*\|$|```|~~~|>>>(?:\s|$)|([-=*_])(?:\s*\1){2,}$")
_ITEM_START = re.compile(r"(?:[-*+•◦▪‣●■]|\d{1,3}[.)])\s")
_SECTION = re.compile(r"\d{1,2}(?:\.\d{1,2})*\.?\s+[^\W\d_]")
_ENDS_SENTENCE = re.compile(r"""[.!?…:。！？]["'”’)\]」』]*$""")
_LIST_MARKER = re.compile(r"\(?(?:\d{1,3}(?:\.\d{1,3})*|[ivxlcdm]{1,5})[.)]")
# A line shorter than this share of its paragraph's usual line length (the 75th percentile),
# and followed by a line that does not start in lower case, ends a sentence: a title, a
# heading, an address line, the last line of a paragraph without a stop. Wrapped lines run
# to the margin, so they are rarely shorter than the margin minus one long word.
SHORT_LINE = 0.6


def ends_sentence(text: str) -> bool:
    """Whether ``text`` ends as a sentence does (a stop, maybe inside closing quotes), not as
    a title or a label does."""
    return _ENDS_SENTENCE.search(text.rstrip()) is not None


def opens_item(line: str) -> bool:
    """Whether ``line`` (or a sentence at the start of one) begins a list item."""
    return _ITEM_START.match(line.lstrip()) is not None


def in_list_item(text: str, pos: int) -> bool | None:
    """Whether ``text[pos]`` lies in a list item: its line begins with a list marker, or is
    indented and the line above it is in the item (a wrapped item's hanging indent). None
    when that leads back to the first line of ``text`` (which may begin inside a line): the
    text before it decides."""
    end = text.find("\n", pos)
    lines = text[: len(text) if end < 0 else end].split("\n")
    for line in reversed(lines[1:]):
        if opens_item(line):
            return True
        if not line.strip() or not line[0].isspace():
            return False  # a blank line, or a line of prose: no item goes on here
    return True if opens_item(lines[0]) else None  # text may begin inside its first line


def continues_item(gap: str, nxt: str) -> bool:
    """Whether the sentence ``nxt``, after the whitespace ``gap``, goes on in the list item
    of the sentence before it: on the same line, or on the next line, indented (a wrapped
    item's hanging indent) and neither a new item nor a block line (a heading, a table row,
    a fence). Text without indents (a PDF's lines) gives no sign where an item ends, so
    there an item ends with its line."""
    if "\n" not in gap:
        return True
    if _blank_line(gap) or not gap.rsplit("\n", 1)[1]:
        return False
    line = nxt.lstrip()
    return not (opens_item(line) or _BLOCK_LINE.match(line))


def split_sentences(
    text: str, start: int = 0, end: int | None = None, min_chars: int = 0
) -> list[tuple[int, int]]:
    """(start, end) spans of the sentences in ``text[start:end]``, whitespace trimmed.

    A sentence ends at a stop (not after an abbreviation, an initial or a list number, and
    not before a lower-case word), at a blank line, and at a line break that ends a heading,
    a table row or a short line, or that is followed by a heading, a list item or a table
    row. Other line breaks (hard-wrapped text, PDF lines) do not end a sentence.

    With ``min_chars``, a fragment shorter than that on the same line as the next sentence
    (a dateline such as "LYON, May 3. /AP/.") is joined to it.
    """
    end = len(text) if end is None else end
    profile = active()
    breaks = _line_breaks(text, start, end)
    spans: list[tuple[int, int]] = []
    cur = start
    for m in _BREAK.finditer(text, start, end):
        if m["line"] is not None:
            if m.start() not in breaks:
                continue
            stop = m.start()
        elif m["para"] is not None:
            stop = m.start()
        else:
            ws = m["ws"]
            if not ws and text[m.start() - 1] not in _CJK_STOPS:
                continue  # "3.14", "2.5.2", "e.g.": no space after the stop
            if not _blank_line(ws):
                if _not_a_stop(text, cur, m.start(), m.end(), end, profile):
                    nl = ws.find("\n")
                    if nl < 0 or m.start("ws") + nl not in breaks:
                        continue
            # Closing quotes and brackets after the stop belong to the sentence.
            stop = m.end("close")
        _add_span(text, cur, stop, spans)
        cur = m.end()
    _add_span(text, cur, end, spans)
    if min_chars:
        spans = _glue_fragments(text, spans, min_chars)
    return spans


def _blank_line(ws: str) -> bool:
    first = ws.find("\n")
    return first >= 0 and ws.find("\n", first + 1) >= 0


def _not_a_stop(
    text: str, cur: int, at: int, after: int, end: int, profile: LanguageProfile
) -> bool:
    """Whether the stop just before ``at`` does not end the sentence begun at ``cur``."""
    head = text[cur:at].strip()
    if not any(c.isalnum() for c in head):
        return True  # "...", "—.": no sentence without a word
    nxt = text[after] if after < end else ""
    if nxt.islower():
        return True  # "etc. and", "approx. two", '"Why?" he asked'
    if text[at - 1] != ".":
        return False
    if _LIST_MARKER.fullmatch(head):
        return True  # "8.1. Syntax Errors", "2. Save the file"
    token = _TOKEN.search(head).group().rstrip(".")  # type: ignore[union-attr]
    if token.lower() in profile.abbreviations:
        return True
    last = token.rsplit(".", 1)[-1]
    if len(last) == 1 and last.isupper():
        return True  # an initial ("J. R. Tolkien") or the end of "U.K."
    return token.lower() in profile.numeral_abbreviations and nxt.isdigit()


def _line_breaks(text: str, start: int, end: int) -> set[int]:
    """Positions of the line breaks in ``text[start:end]`` that end a sentence.

    Only breaks between two non-blank lines are decided here (a blank line always ends one).
    """
    if text.find("\n", start, end) < 0:
        return set()
    starts = [start]
    pos = text.find("\n", start, end)
    while pos >= 0:
        starts.append(pos + 1)
        pos = text.find("\n", pos + 1, end)
    lines = [
        text[a : (starts[i + 1] - 1 if i + 1 < len(starts) else end)].strip()
        for i, a in enumerate(starts)
    ]
    out: set[int] = set()
    i = 0
    while i < len(lines):  # one paragraph (a run of non-blank lines) at a time
        if not lines[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(lines) and lines[j + 1]:
            j += 1
        para = lines[i : j + 1]
        lengths = sorted(len(line) for line in para)
        width = lengths[(3 * (len(lengths) - 1)) // 4]
        # "15) and ..." may begin a wrapped line of prose; a list has two items or more.
        listing = sum(1 for line in para if _ITEM_START.match(line)) >= 2
        for k in range(i, j):
            fresh = (
                k == i or starts[k] - 1 in out or _ENDS_SENTENCE.search(lines[k - 1]) is not None
            )
            if _ends_line(lines[k], lines[k + 1], width, fresh, listing):
                out.add(starts[k + 1] - 1)
        i = j + 1
    return out


def _ends_line(line: str, nxt: str, width: int, fresh: bool, listing: bool) -> bool:
    """Whether the break between ``line`` and ``nxt`` ends a sentence. ``fresh``: ``line``
    begins one (the line before it ended one); ``listing``: the paragraph is a list."""
    if _BLOCK_LINE.match(line) or _BLOCK_LINE.match(nxt):
        return True
    if listing and _ITEM_START.match(nxt):
        return True
    if nxt[0].islower():
        return False
    if fresh and _SECTION.match(line) and not _ENDS_SENTENCE.search(line):
        return True  # a numbered heading: "1.2 Issues facing Enterprise Adoption"
    return len(line) < SHORT_LINE * width


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


# -- which chunker cut the documents (recorded with each document by index.store) ------------


@dataclass(frozen=True)
class ChunkerRecord:
    """What a document's chunk boundaries depend on, besides its text and the embedder's
    tokenizer (the embedder is recorded and checked on its own): the chunker's rules
    (:data:`CHUNKER_VERSION`), the chunk settings, and the language profile's
    abbreviation lists the sentence splitter reads.

    Each document's record names the key it was cut with. Chunks of another key are still
    exact slices of their text, so answers from them stay correct; ``qa index`` re-chunks them.
    """

    version: int
    chunk_tokens: int
    overlap_sentences: int
    language: str  # the profile's code and a digest of the abbreviation lists

    def key(self) -> str:
        return (
            f"v{self.version} tokens={self.chunk_tokens} overlap={self.overlap_sentences} "
            f"lang={self.language}"
        )

    @classmethod
    def parse(cls, key: str) -> ChunkerRecord | None:
        """The record of a :meth:`key` (None for no key or one this code did not write)."""
        m = _CHUNKER_KEY.fullmatch(key)
        if m is None:
            return None
        return cls(int(m["version"]), int(m["tokens"]), int(m["overlap"]), m["language"])


_CHUNKER_KEY = re.compile(
    r"v(?P<version>\d+) tokens=(?P<tokens>\d+) overlap=(?P<overlap>\d+) lang=(?P<language>\S+)"
)


def current_chunker(chunk_tokens: int, overlap_sentences: int) -> ChunkerRecord:
    """The chunker ``index.chunking`` applies now with these settings."""
    profile = active()
    words = [*sorted(profile.abbreviations), "", *sorted(profile.numeral_abbreviations)]
    digest = hashlib.sha256("\n".join(words).encode()).hexdigest()[:8]
    return ChunkerRecord(
        CHUNKER_VERSION, chunk_tokens, overlap_sentences, f"{profile.code}-{digest}"
    )


def only_settings_differ(keys: Iterable[str], current: ChunkerRecord) -> bool:
    """Whether chunker ``keys`` differ from ``current`` only in the chunk settings (the same
    rules and language profile), not in the chunker itself."""
    old = [ChunkerRecord.parse(key) for key in keys]
    return bool(old) and all(
        o is not None and (o.version, o.language) == (current.version, current.language)
        for o in old
    )
