"""Citation markers: ``[2]``, ``[1, 3]``, ``[1; 3]``, ``[1][2]``. The one definition that the
citation checker, the prompts, the answer-type check and the web chat parse, strip and write
them with."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from qa.language import active

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
    bare = remove(_without_source_phrases(sentence)).strip()
    # "set up [1] ." -> "set up.", but a word that starts with a stop keeps its space
    # ("is .venv", "create .pyc files").
    bare = re.sub(r"\s+([.,;:!?])(?![^\W_])", r"\1", bare)
    bare = re.sub(r"[,;]+([.!?]|$)", r"\1", bare)  # "December 7 [1], [2]." -> "December 7."
    return bare, cited


@lru_cache(maxsize=8)
def _source_phrase(pattern: str) -> re.Pattern[str]:
    # The phrase right before its markers, with the comma before it ("X, according to [1].")
    # and, when it is set off by two, the comma after them ("X, according to [1], is Y").
    return re.compile(rf"(,?)\s*(?:{pattern})\s*((?:\s*\[{_NUMBERS}\])+)(?(1)\s*,?)", re.IGNORECASE)


def _without_source_phrases(sentence: str) -> str:
    """``sentence`` without the words that only point at its markers: "According to [1], it
    rose." -> "[1], it rose." -> (once the markers go) "It rose."; "It rose, as stated in [2]."
    -> "It rose [2]."."""
    out = _source_phrase(active().source_phrase_pattern).sub(r" \2", sentence).strip()
    if out == sentence.strip():
        return sentence
    out = re.sub(rf"^((?:\s*\[{_NUMBERS}\])+)\s*[,;:]\s*", r"\1 ", out)  # "[1], it" -> "[1] it"
    lead = re.match(rf"^(?:\s*\[{_NUMBERS}\])*\s*", out)
    i = lead.end() if lead else 0
    if i < len(out) and not sentence.lstrip()[:1].islower():
        out = out[:i] + out[i].upper() + out[i + 1 :]  # the sentence starts where it started
    return out


def attach(sentence: str, ns: Sequence[int]) -> str:
    """``sentence`` with the markers ``[n]`` of ``ns`` written before its final stop."""
    if not ns:
        return sentence
    marks = "".join(f"[{n}]" for n in ns)
    m = _SENTENCE_END.search(sentence)
    if m:
        return f"{sentence[: m.start()]} {marks}{sentence[m.start() :]}".replace("  ", " ")
    return f"{sentence} {marks}"
