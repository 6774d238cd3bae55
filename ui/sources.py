"""The sources panel: each answer's citations with their quotes in context, or, for a
refusal, the closest passages searched; all text escaped through :func:`ui.render.esc`.

The only links are in-page anchors: ``#<anchor>-<n>`` entries the answer's markers point to,
and ``#qa-doc-<key>`` links that the page's script turns into document-view requests.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence

from qa.schema import Answer, Citation, Passage
from ui.context import TableContext, quote_context, reflow, table_context
from ui.render import anchor_id, esc, shown_numbers

log = logging.getLogger(__name__)

DocumentLookup = Callable[[str], "tuple[str, str] | None"]


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
