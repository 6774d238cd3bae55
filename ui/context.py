"""The text around a quoted passage, as people read it.

:func:`reflow` joins hard-wrapped lines without moving a character, so a citation's
``start``/``end`` index the reflowed text exactly as they index the original.
:func:`quote_context` gives a few sentences before and after a quote, always from the
start of the quote's sentence; :func:`table_context` gives a cited Markdown table row
with its table's header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SENTENCE_END = re.compile(r"[.!?][\"')\]”’]*(?=\s)|\n\s*\n")
_BLANK_LINES = re.compile(r"\n\s*\n\s*")
# A line that starts a block of its own: a heading, list item, quote, table row or fence.
_BLOCK = re.compile(r"[ \t]*(?:#{1,6}[ \t]|[-*+][ \t]|\d{1,3}[.)][ \t]|>|\||```|~~~)")
_FENCE = re.compile(r"[ \t]*(?:```|~~~)")
_SEPARATOR = re.compile(r"[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)*\|?[ \t]*")
_TABLE_LINE = re.compile(r"(?:^|\n)[ \t]*\|")
# How far back a quote's sentence start is looked for (a longer "sentence" is a wall of text).
SENTENCE_REACH = 600


def reflow(text: str) -> str:
    """``text`` with single line breaks inside a paragraph turned into spaces.

    The result has exactly the length of ``text``: every replaced character is one ``\\n``
    (or the ``\\r`` of ``\\r\\n``) becoming one space. Blank lines, headings, list items,
    block quotes, table rows and fenced code keep their line breaks.
    """
    if "\n" not in text:
        return text
    lines = text.split("\n")
    out: list[str] = []
    fenced = False
    for i, line in enumerate(lines):
        if i == len(lines) - 1:
            out.append(line)
            break
        nxt = lines[i + 1]
        if _FENCE.match(line):
            fenced = not fenced
        keep = (
            fenced
            or not line.strip()
            or not nxt.strip()
            or bool(_BLOCK.match(nxt))
            or line.lstrip().startswith(("#", "|"))
            or ("|" in line and "|" in nxt)
            or _FENCE.match(line) is not None
        )
        if keep:
            out.append(line + "\n")
        else:
            out.append((line[:-1] + " " if line.endswith("\r") else line) + " ")
    return "".join(out)


def reflow_span(text: str, lo: int, hi: int) -> str:
    """``reflow(text)[lo:hi]``, reflowing only the lines around it (a code fence opened
    before those lines is not seen)."""
    a = text.rfind("\n", 0, lo) + 1
    nl = text.find("\n", hi)
    b = len(text) if nl < 0 else text.find("\n", nl + 1)
    b = len(text) if b < 0 else b
    return reflow(text[a:b])[lo - a : hi - a]


def _tidy(text: str) -> str:
    return _BLANK_LINES.sub("\n\n", text)


def sentence_start(text: str, pos: int, reach: int = SENTENCE_REACH) -> int | None:
    """Where the sentence holding ``text[pos]`` begins; ``None`` when not within ``reach``."""
    lo = max(0, pos - reach)
    ends = [m.end() for m in _SENTENCE_END.finditer(text[lo:pos])]
    if ends:
        start = lo + ends[-1]
    elif lo == 0:
        start = 0
    else:
        return None
    while start < pos and text[start].isspace():
        start += 1
    return start


def locate(text: str, start: int, end: int, quote: str) -> tuple[int, int] | None:
    """Where ``quote`` lies in ``text``: at ``start:end`` when it is there (or there is no
    quote to check), else where it first occurs, else where it first occurs with its line
    breaks and spaces wrapped differently (a file wrapped again since it was indexed: the
    span found is that of the text as it is now); ``None`` when it is not in the text."""
    if 0 <= start < end <= len(text) and (not quote or text[start:end] == quote):
        return start, end
    if not quote.strip():
        return None
    found = text.find(quote)
    if found >= 0:
        return found, found + len(quote)
    m = re.search(r"\s+".join(re.escape(part) for part in quote.split()), text)
    return (m.start(), m.end()) if m else None


def quote_context(
    text: str | None, start: int, end: int, quote: str, *, chars: int = 260
) -> tuple[str, str, str]:
    """``(before, quote, after)`` of the reflowed text, about ``chars`` characters each side.

    ``before`` always begins at the start of the quote's sentence (so a quote that starts
    mid-sentence, where a file wrapped a line, reads from its sentence's start), and may
    reach further back to a sentence end; else it is cut at a word with an ellipsis. When
    ``text[start:end]`` is not the quote (the document changed since it was indexed) the
    quote is looked up in the text; failing that, it stands alone. The returned quote is
    ``reflow(text)[start:end]``: the cited characters, with line wraps shown as spaces (a
    quote that stands alone is reflowed on its own).
    """
    if not text:
        return "", reflow(quote), ""
    span = locate(text, start, end, quote)
    if span is None:
        return "", reflow(quote), ""
    start, end = span
    # Only the part around the quote is reflowed (a 20 MB file would take seconds).
    off = max(0, start - SENTENCE_REACH - chars)
    flowed = reflow_span(text, off, min(len(text), end + chars + 1))
    start, end, total = start - off, end - off, len(text) - off

    enough = chars // 4  # an end cut that keeps less than this falls back to a word cut
    own = sentence_start(flowed, start)
    lo = max(0, start - chars)
    if own is not None and own <= lo:
        before = flowed[own:start]  # the quote's own sentence began before the window
    elif lo == 0:
        before = flowed[:start].lstrip()
    elif own is not None:  # reach back to the earliest sentence end in the window
        window = flowed[lo:start]
        ends = [m.end() for m in _SENTENCE_END.finditer(window) if lo + m.end() <= own]
        before = window[ends[0] :].lstrip() if ends else flowed[own:start]
    else:
        window = flowed[lo:start]
        before = "… " + window[window.find(" ") + 1 :].lstrip()

    after = flowed[end : end + chars]
    if end + chars < total:
        ends = [m.end() for m in _SENTENCE_END.finditer(after) if m.end() >= enough]
        if ends:
            after = after[: ends[-1]].rstrip()
        else:
            space = after.rfind(" ")
            after = (after[:space] if space > 0 else after).rstrip() + " …"
    else:
        after = after.rstrip()

    # A table beside a prose quote is not its context: it shows as raw pipes.
    if table := _TABLE_LINE.search(after):
        after = after[: table.start()].rstrip()
    if tables := list(_TABLE_LINE.finditer(before)):
        rest = before[tables[-1].end() :]
        before = rest[rest.find("\n") + 1 :].lstrip() if "\n" in rest else ""
    return _tidy(before), flowed[start:end], _tidy(after)


@dataclass(frozen=True)
class TableContext:
    """A cited table: its header cells, and the rows the quote touches (``True``: cited)."""

    header: list[str]
    rows: list[tuple[list[str], bool]]


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", line)]


def table_context(text: str | None, start: int, end: int, quote: str) -> TableContext | None:
    """The Markdown table a quote lies in, with its header row; ``None`` when it is not in one.

    Rows are those the quote overlaps (the header itself is never repeated as a row).
    """
    if not text:
        return None
    span = locate(text, start, end, quote)
    if span is None:
        return None
    start, end = span
    lines: list[tuple[int, str]] = []  # (offset, line) of every line
    pos = 0
    for line in text.split("\n"):
        lines.append((pos, line))
        pos += len(line) + 1
    first = next(i for i, (off, line) in enumerate(lines) if off + len(line) >= start)
    if "|" not in lines[first][1]:
        return None
    top = first
    while top > 0 and "|" in lines[top - 1][1] and lines[top - 1][1].strip():
        top -= 1
    if top + 1 >= len(lines) or not _SEPARATOR.fullmatch(lines[top + 1][1]):
        return None
    header = _cells(lines[top][1])
    rows: list[tuple[list[str], bool]] = []
    for off, line in lines[top + 2 :]:
        if "|" not in line or not line.strip():
            break
        if off + len(line) < start:
            continue
        if off >= end:
            break
        rows.append((_cells(line), True))
    if not rows:  # the quote is the header row itself
        return None
    return TableContext(header, rows)
