"""Pure rendering of answers: escaped HTML for the web chat, Markdown for notes.

Everything a document or the model wrote is untrusted. It reaches HTML only through
:func:`esc` and Markdown only through :func:`md_escape`. The only links made here are
in-page anchors ``#<prefix>-<n>`` to entries of the sources panel.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterable, Sequence

from qa.schema import Answer, Citation, Passage, Sentence
from ui.context import TableContext, quote_context, reflow, table_context

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
    pieces, _ = _split_markers(s.text, by_n)
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
        pieces, marks = _split_markers(answer.text.strip(), by_n)
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
_PARTIAL_MARKER = re.compile(r"\s*\[[\d,\s]*$")


def streaming_html(text: str) -> str:
    """The answer as the model writes it: a muted draft, marked as being checked.

    The draft's ``[n]`` markers are left out: they count the model's passages, not the
    sources the checked answer will cite, so they would change when it replaces the draft.
    """
    draft = _PARTIAL_MARKER.sub("", _MARKER.sub("", text))
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


def _table_html(table: TableContext) -> str:
    head = "".join(f"<th>{esc(c, br=False)}</th>" for c in table.header)
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td><mark>{esc(c, br=False)}</mark></td>" if cited else f"<td>{esc(c, br=False)}</td>"
            for c in cells
        )
        + "</tr>"
        for cells, cited in table.rows
    )
    return (
        f'<table class="qa-src-table"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
    )


def _open_link(key: str) -> str:
    """A link the page's script turns into a request for the document view (see qa.js)."""
    if not re.fullmatch(r"t\d+-p?\d+", key):
        raise ValueError(f"bad document key {key!r}")
    return f'<a class="qa-open" href="#qa-doc-{key}">Open document</a>'


def _opener(link: str) -> str:
    return f'<span class="qa-opener"> · {link}</span>' if link else ""


def _turn_key(anchor: str) -> str:
    m = re.fullmatch(r"qa-(t\d+)", anchor)
    return m.group(1) if m else ""


def _citation_html(
    c: Citation, shown: int, doc: tuple[str, str] | None, anchor: str, key: str
) -> str:
    text = doc[1] if doc else None
    table = table_context(text, c.start, c.end, c.quote)
    if table is not None:
        body = _table_html(table)
    else:
        before, quote, after = quote_context(text, c.start, c.end, c.quote)
        body = (
            f'<blockquote class="qa-src-text">{esc(before)}<mark>{esc(quote)}</mark>'
            f"{esc(after)}</blockquote>"
        )
    link = _open_link(f"{key}-{int(c.n)}") if key and doc else ""
    return (
        f'<li class="qa-src" id="{anchor_id(anchor, c.n)}">'
        f'<div class="qa-src-head"><span class="qa-src-n">{int(shown)}</span>'
        f'<span class="qa-src-title">{esc(c.title or c.source)}</span></div>'
        f'<div class="qa-src-meta">{_meta(c)}{_opener(link)}</div>{body}</li>'
    )


def _passage_html(p: Passage, i: int, key: str, chars: int = 320) -> str:
    text = " ".join(reflow(p.text).split())
    if len(text) > chars:
        text = text[: text.rfind(" ", 0, chars)] + " …"
    meta = [f'<code class="qa-file">{esc(p.doc_id)}</code>', f"line {int(p.line)}"]
    if p.page is not None:
        meta.append(f"page {int(p.page)}")
    link = _opener(_open_link(f"{key}-p{i}")) if key else ""
    return (
        '<li class="qa-src qa-searched">'
        f'<div class="qa-src-head"><span class="qa-src-title">{esc(p.title or p.doc_id)}</span></div>'
        f'<div class="qa-src-meta">{" · ".join(meta)}{link}</div>'
        f'<blockquote class="qa-src-text">{esc(text)}</blockquote></li>'
    )


SEARCHED = 3  # closest passages shown for a refusal


def sources_html(
    answer: Answer, document_lookup: DocumentLookup, *, anchor: str = "qa-src", first: int = 1
) -> str:
    """One entry per citation: number, title, file and line, and the quote in context.

    A quote from a Markdown table shows as that table's header and the cited rows; other
    quotes are highlighted in their reflowed surrounding text. Numbers start at ``first``
    (conversation-wide). A refusal lists the closest passages searched, marked as not
    supporting an answer. With an ``anchor`` of the form ``qa-t<i>``, entries link to the
    document view. Empty for an answer with neither citations nor passages.
    """
    key = _turn_key(anchor)
    head = f'<div class="qa-sources-q">{esc(answer.question)}</div>'
    if answer.refused or not answer.citations:
        passages = answer.passages[:SEARCHED]
        if not passages:
            return ""
        items = "".join(_passage_html(p, i, key) for i, p in enumerate(passages))
        return (
            f'<section class="qa-sources qa-sources-searched">{head}'
            '<div class="qa-searched-note">Closest passages searched — none of them supports '
            "an answer to this question.</div>"
            f'<ol class="qa-src-list">{items}</ol></section>'
        )
    docs: dict[str, tuple[str, str] | None] = {}
    shown = shown_numbers(answer, first)
    items_html = []
    for c in sorted(answer.citations, key=lambda c: c.n):
        if c.source not in docs:
            docs[c.source] = _lookup(document_lookup, c.source)
        items_html.append(_citation_html(c, shown[c.n], docs[c.source], anchor, key))
    lo, hi = shown[min(shown)], shown[max(shown)]
    span = f"source {lo}" if lo == hi else f"sources {lo}–{hi}"
    return (
        f'<section class="qa-sources">{head}<div class="qa-muted qa-sources-span">{span}</div>'
        f'<ol class="qa-src-list">{"".join(items_html)}</ol></section>'
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
