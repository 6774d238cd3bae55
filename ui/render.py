"""Pure rendering of answers as escaped HTML for the web chat (the sources panel is in
:mod:`ui.sources`, Markdown for notes in :mod:`ui.notes`).

Everything a document or the model wrote is untrusted. It reaches HTML only through
:func:`esc` (and Markdown only through :func:`ui.notes.md_escape`). The only links made
here are in-page anchors ``#<prefix>-<n>`` to entries of the sources panel.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable

from qa import markers
from qa.schema import Answer, Citation, Sentence

log = logging.getLogger(__name__)

# One pass over the text: HTML's special characters, and Markdown punctuation as character
# references too, so text stays inert even where a renderer would apply Markdown after us.
_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
    | {c: f"&#{ord(c)};" for c in "[]()!*_`~$#|\\{}=:"}
)
_ANCHOR_PREFIX = re.compile(r"[a-z][a-z0-9-]*")


def esc(text: object, *, br: bool = True) -> str:
    """Escape untrusted text for HTML; newlines become ``<br>`` unless ``br=False`` (attributes)."""
    out = str(text).replace("\r\n", "\n").translate(_ESCAPES)
    return out.replace("\n", "<br>") if br else out.replace("\n", " ")


def anchor_id(prefix: str, n: int) -> str:
    if not _ANCHOR_PREFIX.fullmatch(prefix):
        raise ValueError(f"bad anchor prefix {prefix!r}")
    return f"{prefix}-{int(n)}"


def split_markers(text: str, known: Iterable[int]) -> tuple[list[str], list[list[int]]]:
    """Split text at citation markers like ``[2]`` or ``[1, 3]`` that name known citations.

    Returns the text pieces and, after each piece, the citation numbers that followed it.
    """
    known = set(known)
    pieces, marks, pos = [], [], 0
    for m in markers.SPACED.finditer(text):
        numbers = markers.numbers(m)
        if not all(n in known for n in numbers):
            continue
        pieces.append(text[pos : m.start()])
        marks.append(numbers)
        pos = m.end()
    pieces.append(text[pos:])
    marks.append([])
    return pieces, marks


def shown_numbers(answer: Answer, first: int = 1) -> dict[int, int]:
    """The number each citation shows as: ``first``, ``first + 1``, … in citation order.

    The chat numbers sources across the conversation (the second answer's first source
    is ``[4]`` when the first answer cited three), the same as the exported notes.
    """
    return {c.n: first + i for i, c in enumerate(sorted(answer.citations, key=lambda c: c.n))}


def _cite_links(
    numbers: Iterable[int], by_n: dict[int, Citation], anchor: str, shown: dict[int, int]
) -> str:
    links = []
    for n in numbers:
        c = by_n.get(n)
        if c is None:
            continue
        label = esc(f"Source {shown.get(n, n)}: {c.title} — {c.source}:{c.line}", br=False)
        links.append(
            f'<a class="qa-cite" href="#{anchor_id(anchor, n)}" aria-label="{label}">'
            f"{shown.get(n, n)}</a>"
        )
    return "".join(links)


def _sentence_html(
    s: Sentence, by_n: dict[int, Citation], anchor: str, shown: dict[int, int]
) -> str:
    pieces, _ = split_markers(s.text, by_n)
    body = esc("".join(pieces).strip())
    links = _cite_links(s.citations, by_n, anchor, shown)
    if s.supported:
        return f'<span class="qa-sent">{body}{links}</span>'
    return (
        f'<span class="qa-sent qa-unverified" title="No cited passage supports this sentence">'
        f'{body}{links}<span class="qa-flag">unverified</span></span>'
    )


def answer_html(answer: Answer, *, anchor: str = "qa-src", first: int = 1) -> str:
    """The verified answer; citation markers link to ``#<anchor>-<n>`` in the sources panel.

    Markers show the conversation-wide numbers from ``first`` on (see :func:`shown_numbers`).
    """
    if answer.refused:
        note = (
            '<div class="qa-answer-foot">The closest passages searched are in the sources '
            "panel; none of them supports an answer.</div>"
            if answer.passages
            else ""
        )
        return f'<div class="qa-answer qa-refusal">{esc(answer.text.strip())}{note}</div>'
    by_n = {c.n: c for c in answer.citations}
    shown = shown_numbers(answer, first)
    if answer.sentences:
        body = " ".join(_sentence_html(s, by_n, anchor, shown) for s in answer.sentences)
    else:
        pieces, marks = split_markers(answer.text.strip(), by_n)
        body = "".join(
            esc(p) + _cite_links(m, by_n, anchor, shown) for p, m in zip(pieces, marks, strict=True)
        )
    foot = ""
    unverified = sum(not s.supported for s in answer.sentences)
    if unverified:
        word = "sentence is" if unverified == 1 else "sentences are"
        foot = f'<div class="qa-answer-foot">{unverified} {word} not supported by the cited passages.</div>'
    return f'<div class="qa-answer">{body}{foot}</div>'


CHECKING = "Draft · checking…"


def streaming_html(text: str) -> str:
    """The answer as the model writes it: a muted draft, marked as being checked.

    The draft's ``[n]`` markers are left out: they count the model's passages, not the
    sources the checked answer will cite, so they would change when it replaces the draft.
    """
    draft = markers.PARTIAL.sub("", markers.remove(text))
    return (
        '<div class="qa-answer qa-streaming qa-draft" aria-busy="true">'
        f'<div class="qa-draft-label" role="status">{esc(CHECKING)}</div>'
        f'{esc(draft)}<span class="qa-caret"></span></div>'
    )


def pending_html(message: str) -> str:
    return (
        f'<div class="qa-pending" role="status"><span class="qa-dots"></span>{esc(message)}</div>'
    )


def error_html(message: str) -> str:
    return f'<div class="qa-error" role="alert">{esc(message)}</div>'


def question_html(question: str) -> str:
    return f'<div class="qa-question">{esc(question)}</div>'


def collection_html(status: dict, *, note: str = "", uploaded: Collection[str] = ()) -> str:
    """What is indexed: counts, then one row per document. ``note`` is trusted HTML shown first.

    Documents whose ids are in ``uploaded`` were added from the browser and are tagged so.
    """
    tag = '<span class="qa-tag">uploaded</span>'
    rows = "".join(
        f"<tr><td>{esc(s.get('title') or s.get('doc_id', ''))}"
        f"{tag if s.get('doc_id') in uploaded else ''}</td>"
        f'<td><code class="qa-file">{esc(s.get("doc_id", ""))}</code></td>'
        f'<td class="qa-num">{int(s.get("chunks", 0))}</td></tr>'
        for s in status.get("sources", [])
    )
    table = (
        '<table class="qa-docs"><thead><tr><th>Title</th><th>File</th><th class="qa-num">Chunks</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
        if rows
        else '<p class="qa-muted">Nothing is indexed yet. Add documents above, or to an indexed '
        "folder and re-index.</p>"
    )
    stats = (
        f'<div class="qa-stat"><b>{int(status.get("documents", 0))}</b>documents</div>'
        f'<div class="qa-stat"><b>{int(status.get("chunks", 0))}</b>chunks</div>'
    )
    meta = " · ".join(
        f"{esc(k)}: {esc(status[k])}"
        for k in ("store", "embedder", "generator", "generation")
        if status.get(k)
    )
    return (
        f'<div class="qa-collection">{note}<div class="qa-stats">{stats}</div>'
        f'<div class="qa-muted">{meta}</div>{table}</div>'
    )
