"""The document view: one indexed document, reflowed, with the cited span highlighted.

The text comes only from the index (``Answerer.document``), never from a path; a
document that is not indexed gets a message saying so.
"""

from __future__ import annotations

from ui.context import locate, reflow_span
from ui.render import error_html, esc

# A document longer than this shows the part around the highlight (the page stays light).
WINDOW = 120_000
MARK_ID = "qa-doc-mark"


def not_indexed_html(doc_id: str) -> str:
    return _frame(
        esc(doc_id),
        error_html(
            f"“{doc_id}” is not in the index: it was removed or never indexed, so it cannot "
            "be shown. Re-index the collection, or ask again to get current sources."
        ),
    )


def _frame(title_html: str, body: str, meta: str = "") -> str:
    return (
        '<div class="qa-doc"><div class="qa-doc-head"><div class="qa-panel-title">Document</div>'
        f'<div class="qa-doc-title">{title_html}</div>{meta}</div>{body}</div>'
    )


def document_html(
    doc_id: str,
    doc: tuple[str, str] | None,
    span: tuple[int, int] | None = None,
    quote: str = "",
    *,
    label: str = "cited",
) -> str:
    """The whole document (or ``WINDOW`` characters around the span) with the span marked.

    ``label`` says what the highlight is: ``"cited"`` (a citation's quote) or
    ``"searched"`` (a passage retrieval found, which did not support an answer).
    """
    if doc is None:
        return not_indexed_html(doc_id)
    title, text = doc
    where = locate(text, *span, quote) if span else None
    meta_parts = [f'<code class="qa-file">{esc(doc_id)}</code>', f"{len(text):,} characters"]
    if span and where is None:
        meta_parts.append("the quoted passage is no longer in this document; re-index it")
    if where is None:
        lo, hi = 0, min(len(text), WINDOW)
        body = esc(reflow_span(text, lo, hi))
    else:
        start, end = where
        lo = max(0, start - WINDOW // 2)
        hi = min(len(text), max(end, lo + WINDOW))
        flowed = reflow_span(text, lo, hi)  # only the part shown, at the same offsets
        line = text.count("\n", 0, start) + 1
        meta_parts.append(f"highlight at line {line}")
        cls = "qa-doc-mark" + (" qa-doc-searched" if label == "searched" else "")
        marked = f'<mark id="{MARK_ID}" class="{cls}">{esc(flowed[start - lo : end - lo])}</mark>'
        body = esc(flowed[: start - lo]) + marked + esc(flowed[end - lo :])
    if lo > 0 or hi < len(text):
        meta_parts.append(f"showing characters {lo + 1:,}–{hi:,}")
    meta = f'<div class="qa-src-meta">{" · ".join(meta_parts)}</div>'
    return _frame(
        esc(title or doc_id),
        f'<div class="qa-doc-text">{"… " if lo else ""}{body}{" …" if hi < len(text) else ""}</div>',
        meta,
    )
