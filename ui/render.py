"""Pure rendering of answers: escaped HTML for the web chat, Markdown for notes.

Everything a document or the model wrote is untrusted. It reaches HTML only through
:func:`esc` and Markdown only through :func:`md_escape`. The only links made here are
in-page anchors ``#<prefix>-<n>`` to entries of the sources panel.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence

from qa.schema import Answer, Citation, Sentence
from ui.context import quote_context

log = logging.getLogger(__name__)

DocumentLookup = Callable[[str], "tuple[str, str] | None"]

# One pass over the text: HTML's special characters, and Markdown punctuation as character
# references too, so text stays inert even where a renderer would apply Markdown after us.
_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
    | {c: f"&#{ord(c)};" for c in "[]()!*_`~$#|\\{}=:"}
)
_MARKER = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
_ANCHOR_PREFIX = re.compile(r"[a-z][a-z0-9-]*")


def esc(text: object, *, br: bool = True) -> str:
    """Escape untrusted text for HTML; newlines become ``<br>`` unless ``br=False`` (attributes)."""
    out = str(text).replace("\r\n", "\n").translate(_ESCAPES)
    return out.replace("\n", "<br>") if br else out.replace("\n", " ")


def anchor_id(prefix: str, n: int) -> str:
    if not _ANCHOR_PREFIX.fullmatch(prefix):
        raise ValueError(f"bad anchor prefix {prefix!r}")
    return f"{prefix}-{int(n)}"


def _split_markers(text: str, known: Iterable[int]) -> tuple[list[str], list[list[int]]]:
    """Split text at citation markers like ``[2]`` or ``[1, 3]`` that name known citations.

    Returns the text pieces and, after each piece, the citation numbers that followed it.
    """
    known = set(known)
    pieces, marks, pos = [], [], 0
    for m in _MARKER.finditer(text):
        numbers = [int(x) for x in m.group(1).split(",")]
        if not all(n in known for n in numbers):
            continue
        pieces.append(text[pos : m.start()])
        marks.append(numbers)
        pos = m.end()
    pieces.append(text[pos:])
    marks.append([])
    return pieces, marks


def _cite_links(numbers: Iterable[int], by_n: dict[int, Citation], anchor: str) -> str:
    links = []
    for n in numbers:
        c = by_n.get(n)
        if c is None:
            continue
        hint = esc(f"{c.title} — {c.source}:{c.line}", br=False)
        links.append(f'<a class="qa-cite" href="#{anchor_id(anchor, n)}" title="{hint}">{n}</a>')
    return "".join(links)


def _sentence_html(s: Sentence, by_n: dict[int, Citation], anchor: str) -> str:
    pieces, _ = _split_markers(s.text, by_n)
    body = esc("".join(pieces).strip())
    links = _cite_links(s.citations, by_n, anchor)
    if s.supported:
        return f'<span class="qa-sent">{body}{links}</span>'
    return (
        f'<span class="qa-sent qa-unverified" title="No cited passage supports this sentence">'
        f'{body}{links}<span class="qa-flag">unverified</span></span>'
    )


def answer_html(answer: Answer, *, anchor: str = "qa-src") -> str:
    """The verified answer; citation markers link to ``#<anchor>-<n>`` in the sources panel."""
    if answer.refused:
        return f'<div class="qa-answer qa-refusal">{esc(answer.text.strip())}</div>'
    by_n = {c.n: c for c in answer.citations}
    if answer.sentences:
        body = " ".join(_sentence_html(s, by_n, anchor) for s in answer.sentences)
    else:
        pieces, marks = _split_markers(answer.text.strip(), by_n)
        body = "".join(
            esc(p) + _cite_links(m, by_n, anchor) for p, m in zip(pieces, marks, strict=True)
        )
    foot = ""
    unverified = sum(not s.supported for s in answer.sentences)
    if unverified:
        word = "sentence is" if unverified == 1 else "sentences are"
        foot = f'<div class="qa-answer-foot">{unverified} {word} not supported by the cited passages.</div>'
    return f'<div class="qa-answer">{body}{foot}</div>'


def streaming_html(text: str) -> str:
    """The answer as the model writes it, before verification."""
    return f'<div class="qa-answer qa-streaming">{esc(text)}<span class="qa-caret"></span></div>'


def pending_html(message: str) -> str:
    return (
        f'<div class="qa-pending" role="status"><span class="qa-dots"></span>{esc(message)}</div>'
    )


def error_html(message: str) -> str:
    return f'<div class="qa-error" role="alert">{esc(message)}</div>'


def question_html(question: str) -> str:
    return f'<div class="qa-question">{esc(question)}</div>'


def _meta(c: Citation) -> str:
    parts = [f'<code class="qa-file">{esc(c.source)}</code>', f"line {int(c.line)}"]
    if c.page is not None:
        parts.append(f"page {int(c.page)}")
    return " · ".join(parts)


def _lookup(document_lookup: DocumentLookup, doc_id: str) -> tuple[str, str] | None:
    try:
        return document_lookup(doc_id)
    except Exception:
        log.exception("document lookup failed doc_id=%s", doc_id)
        return None


def sources_html(answer: Answer, document_lookup: DocumentLookup, *, anchor: str = "qa-src") -> str:
    """One entry per citation: title, file and line, and the quote highlighted in context.

    Empty for refusals and for answers without citations.
    """
    if answer.refused or not answer.citations:
        return ""
    docs: dict[str, tuple[str, str] | None] = {}
    items = []
    for c in sorted(answer.citations, key=lambda c: c.n):
        if c.source not in docs:
            docs[c.source] = _lookup(document_lookup, c.source)
        doc = docs[c.source]
        before, quote, after = quote_context(doc[1] if doc else None, c.start, c.end, c.quote)
        items.append(
            f'<li class="qa-src" id="{anchor_id(anchor, c.n)}">'
            f'<div class="qa-src-head"><span class="qa-src-n">{c.n}</span>'
            f'<span class="qa-src-title">{esc(c.title or c.source)}</span></div>'
            f'<div class="qa-src-meta">{_meta(c)}</div>'
            f'<blockquote class="qa-src-text">{esc(before)}<mark>{esc(quote)}</mark>{esc(after)}</blockquote>'
            "</li>"
        )
    return (
        f'<section class="qa-sources"><div class="qa-sources-q">{esc(answer.question)}</div>'
        f'<ol class="qa-src-list">{"".join(items)}</ol></section>'
    )


def panel_html(sections: Sequence[tuple[str, str]]) -> str:
    """The sources panel from ``(question, sources_html)`` per turn, oldest first.

    The newest answer's sources are open; earlier ones are folded below it.
    """
    sections = [(q, s) for q, s in sections if s]
    if not sections:
        return (
            '<div class="qa-panel qa-panel-empty"><div class="qa-panel-title">Sources</div>'
            "<p>Ask a question. The passages each answer cites appear here, "
            "highlighted in their surrounding text.</p></div>"
        )
    (_, newest), *older = reversed(sections)
    folded = "".join(
        f'<details class="qa-earlier"><summary><span class="qa-muted">Earlier · </span>{esc(q, br=False)}'
        f"</summary>{s}</details>"
        for q, s in older
    )
    return f'<div class="qa-panel"><div class="qa-panel-title">Sources</div>{newest}{folded}</div>'


def collection_html(status: dict, *, note: str = "") -> str:
    """What is indexed: counts, then one row per document. ``note`` is trusted HTML shown first."""
    rows = "".join(
        f"<tr><td>{esc(s.get('title') or s.get('doc_id', ''))}</td>"
        f'<td><code class="qa-file">{esc(s.get("doc_id", ""))}</code></td>'
        f'<td class="qa-num">{int(s.get("chunks", 0))}</td></tr>'
        for s in status.get("sources", [])
    )
    table = (
        '<table class="qa-docs"><thead><tr><th>Title</th><th>File</th><th class="qa-num">Chunks</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
        if rows
        else '<p class="qa-muted">Nothing is indexed yet. Add documents to the folder and re-index.</p>'
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


# --- Markdown for notes -------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>])")


def md_escape(text: str) -> str:
    """Backslash-escape Markdown syntax, so untrusted text cannot form links, images or HTML."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_sentence(
    text: str, numbers: Iterable[int], by_n: dict[int, Citation], notes: dict[int, int]
) -> str:
    pieces, _ = _split_markers(text, by_n)
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
        pieces, marks = _split_markers(answer.text.strip(), by_n)
        body = "".join(
            md_escape(p) + "".join(f"[^{notes[n]}]" for n in m)
            for p, m in zip(pieces, marks, strict=True)
        )
    lines += [body, ""]
    for c in cited:
        where = f"{c.source}:{c.line}".replace("`", "")
        page = f", page {c.page}" if c.page is not None else ""
        lines.append(f"[^{notes[c.n]}]: **{md_escape(c.title or c.source)}**, `{where}`{page}")
        lines += [f"    > {md_escape(q)}".rstrip() for q in c.quote.strip().splitlines()]
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
