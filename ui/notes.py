"""Markdown for notes: an answer (or a whole conversation) with footnotes and quoted sources.

Untrusted text reaches Markdown only through :func:`md_escape`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from qa.schema import Answer, Citation
from ui.context import reflow
from ui.render import split_markers

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>])")


def md_escape(text: str) -> str:
    """Backslash-escape Markdown syntax, so untrusted text cannot form links, images or HTML."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_sentence(
    text: str, numbers: Iterable[int], by_n: dict[int, Citation], notes: dict[int, int]
) -> str:
    pieces, _ = split_markers(text, by_n)
    refs = "".join(f"[^{notes[n]}]" for n in numbers if n in notes)
    return md_escape("".join(pieces).strip()) + refs


def answer_to_markdown(answer: Answer, *, first_note: int = 1) -> str:
    """The answer with footnote markers ``[^1]``, then the references with their quotes."""
    lines = [f"### {md_escape(answer.question.strip())}", ""]
    if answer.refused:
        return "\n".join([*lines, md_escape(answer.text.strip()), ""])
    cited = sorted(answer.citations, key=lambda c: c.n)
    by_n = {c.n: c for c in cited}
    notes = {c.n: first_note + i for i, c in enumerate(cited)}
    if answer.sentences:
        body = " ".join(
            _md_sentence(s.text, s.citations, by_n, notes)
            + ("" if s.supported else " *(unverified)*")
            for s in answer.sentences
        )
    else:
        pieces, marks = split_markers(answer.text.strip(), by_n)
        body = "".join(
            md_escape(p) + "".join(f"[^{notes[n]}]" for n in m)
            for p, m in zip(pieces, marks, strict=True)
        )
    lines += [body, ""]
    for c in cited:
        where = f"{c.source}:{c.line}".replace("`", "")
        page = f", page {c.page}" if c.page is not None else ""
        lines.append(f"[^{notes[c.n]}]: **{md_escape(c.title or c.source)}**, `{where}`{page}")
        lines += [f"    > {md_escape(q)}".rstrip() for q in reflow(c.quote).strip().splitlines()]
    return "\n".join(lines).rstrip() + "\n"


def conversation_to_markdown(turns: Sequence[Answer], *, title: str = "qa conversation") -> str:
    """All answers of a conversation, footnotes numbered across the whole document."""
    parts = [f"# {md_escape(title)}", ""]
    note = 1
    for answer in turns:
        parts.append(answer_to_markdown(answer, first_note=note))
        if not answer.refused:
            note += len(answer.citations)
    return "\n".join(parts).rstrip() + "\n"
