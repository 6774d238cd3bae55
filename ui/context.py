"""The text around a quoted passage: a few sentences before and after it."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"[.!?][\"')\]]*(?=\s)|\n\s*\n")
_BLANK_LINES = re.compile(r"\n\s*\n\s*")


def _tidy(text: str) -> str:
    return _BLANK_LINES.sub("\n\n", text)


def quote_context(
    text: str | None, start: int, end: int, quote: str, *, chars: int = 260
) -> tuple[str, str, str]:
    """``(before, quote, after)`` with about ``chars`` characters on each side.

    The context is cut at sentence ends where the window holds one, else at a word with
    an ellipsis. When ``text[start:end]`` is not the quote (the document changed since it
    was indexed) the quote is looked up in the text; failing that, it stands alone.
    """
    if not text:
        return "", quote, ""
    if not (0 <= start < end <= len(text)) or text[start:end] != quote:
        found = text.find(quote) if quote else -1
        if found < 0:
            return "", quote, ""
        start, end = found, found + len(quote)

    enough = chars // 4  # a sentence cut that keeps less than this falls back to a word cut
    before = text[max(0, start - chars) : start]
    if start > chars:
        ends = [m.end() for m in _SENTENCE_END.finditer(before) if len(before) - m.end() >= enough]
        if ends:
            before = before[ends[0] :].lstrip()
        else:
            space = before.find(" ")
            before = "… " + before[space + 1 :].lstrip()
    else:
        before = before.lstrip()

    after = text[end : end + chars]
    if end + chars < len(text):
        ends = [m.end() for m in _SENTENCE_END.finditer(after) if m.end() >= enough]
        if ends:
            after = after[: ends[-1]].rstrip()
        else:
            space = after.rfind(" ")
            after = (after[:space] if space > 0 else after).rstrip() + " …"
    else:
        after = after.rstrip()

    return _tidy(before), text[start:end], _tidy(after)
