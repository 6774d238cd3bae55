"""Citation markers: ``[2]``, ``[1, 3]``, ``[1; 3]``, ``[1][2]``. The one definition that the
citation checker, the prompts, the answer-type check and the web chat parse, strip and write
them with."""

from __future__ import annotations

import re
from collections.abc import Sequence

_NUMBERS = r"\d+(?:\s*[,;]\s*\d+)*"  # "2", "1, 3", "1;3"
MARKER = re.compile(rf"\[({_NUMBERS})\]")  # one marker; group 1 holds its numbers
SPACED = re.compile(rf"\s*\[({_NUMBERS})\]")  # one marker and the whitespace before it
# "freed. [3]": markers written after the full stop (moved before it by :func:`before_stop`)
AFTER_STOP = re.compile(rf"([.!?])((?:\s*\[{_NUMBERS}\])+)")
PARTIAL = re.compile(r"\s*\[[\d,;\s]*$")  # a marker still being written, at the end of a stream
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)]*$")


def numbers(marker: re.Match[str]) -> list[int]:
    """The numbers of one match of :data:`MARKER` or :data:`SPACED`, in order."""
    return [int(part) for part in re.split(r"[,;]", marker.group(1))]


def remove(text: str) -> str:
    """``text`` without its markers (and the whitespace before each)."""
    return SPACED.sub("", text)


def before_stop(text: str) -> str:
    """ "freed. [3]" -> "freed [3].", so a marker written after the full stop stays with its
    sentence when the text is split into sentences."""
    return AFTER_STOP.sub(r"\2\1", text)


def parse(sentence: str) -> tuple[str, list[int]]:
    """The sentence without its markers, and the numbers it cited (in order, no repeats)."""
    cited: list[int] = []
    for m in MARKER.finditer(sentence):
        for n in numbers(m):
            if n not in cited:
                cited.append(n)
    bare = remove(sentence).strip()
    # "set up [1] ." -> "set up.", but a word that starts with a stop keeps its space
    # ("is .venv", "create .pyc files").
    bare = re.sub(r"\s+([.,;:!?])(?![^\W_])", r"\1", bare)
    bare = re.sub(r"[,;]+([.!?]|$)", r"\1", bare)  # "December 7 [1], [2]." -> "December 7."
    return bare, cited


def attach(sentence: str, ns: Sequence[int]) -> str:
    """``sentence`` with the markers ``[n]`` of ``ns`` written before its final stop."""
    if not ns:
        return sentence
    marks = "".join(f"[{n}]" for n in ns)
    m = _SENTENCE_END.search(sentence)
    if m:
        return f"{sentence[: m.start()]} {marks}{sentence[m.start() :]}".replace("  ", " ")
    return f"{sentence} {marks}"
