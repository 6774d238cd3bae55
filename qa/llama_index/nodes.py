"""qa's nouns as llama-index nodes: a passage or a citation as a ``TextNode`` with its exact
text and offsets, and any response's source nodes back as numbered passages."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from llama_index.core.schema import (
    MetadataMode,
    NodeRelationship,
    NodeWithScore,
    RelatedNodeInfo,
    TextNode,
)

from qa.schema import Citation, Passage

_PLACE = ("doc_id", "path", "start", "end", "line", "page", "n", "similarity", "quote_of")
PLACE_KEYS = [*_PLACE, "node_start", "node_end"]
_LABEL = re.compile(r"Source (\d+):\n")  # how CitationQueryEngine heads each source node


def make_node(
    node_id: str, text: str, doc_id: str, start: int | None, end: int | None, /, **meta: Any
) -> TextNode:
    return TextNode(
        id_=node_id,
        text=text,
        start_char_idx=start,
        end_char_idx=end,
        metadata=meta,
        excluded_llm_metadata_keys=[k for k in PLACE_KEYS if k in meta],
        excluded_embed_metadata_keys=[k for k in PLACE_KEYS if k in meta],
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc_id)},
    )


def passage_node(p: Passage) -> NodeWithScore:
    """A passage as a node: its exact text, its document offsets, its ranking score."""
    meta = {"doc_id": p.doc_id, "title": p.title, "path": p.path, "start": p.start}
    meta |= {"end": p.end, "line": p.line, "page": p.page, "n": p.n, "similarity": p.similarity}
    node = make_node(f"{p.doc_id}#{p.start}-{p.end}", p.text, p.doc_id, p.start, p.end, **meta)
    return NodeWithScore(node=node, score=p.score)


def citation_node(c: Citation) -> NodeWithScore:
    """A verified citation as a node: the exact quote and its offsets in the document."""
    meta = {"doc_id": c.source, "title": c.title, "path": c.path, "start": c.start}
    meta |= {"end": c.end, "line": c.line, "page": c.page, "n": c.n}
    node = make_node(f"{c.source}#{c.start}-{c.end}", c.quote, c.source, c.start, c.end, **meta)
    return NodeWithScore(node=node, score=c.score)


def passages_of(nodes: Sequence[NodeWithScore]) -> tuple[list[Passage], list[int | None]]:
    """Any response's source nodes as numbered passages (node i is source ``[i + 1]``, or the
    number of its ``Source n:`` label), and each one's offset in its document where known.

    A passage's offsets are into the node's own text (``node.get_content()``), past the label,
    so a quote is always ``node text[start:end]``. The document offset is known when the node
    says where its text lies: ``start_char_idx`` (qa's nodes, llama-index's splitters) or
    qa's metadata, when the node still holds a whole qa passage (CitationQueryEngine copies
    the metadata onto the chunks it makes, and drops ``start_char_idx``)."""
    passages: list[Passage] = []
    bases: list[int | None] = []
    for i, nws in enumerate(nodes, start=1):
        node = nws.node
        content = node.get_content(metadata_mode=MetadataMode.NONE)
        label = _LABEL.match(content)
        n = int(label.group(1)) if label else i
        skip = label.end() if label else 0
        text = content[skip:].removesuffix("\n") if label else content
        meta = node.metadata
        start = getattr(node, "start_char_idx", None)
        end = getattr(node, "end_char_idx", None)
        if label or start is None or end is None or end - start != len(text):
            start, end = meta.get("start"), meta.get("end")
        whole = isinstance(start, int) and isinstance(end, int) and end - start == len(text)
        bases.append(start - skip if whole and isinstance(start, int) else None)
        passages.append(
            Passage(
                n=n,
                doc_id=str(meta.get("doc_id") or node.ref_doc_id or node.node_id),
                title=str(meta.get("title") or meta.get("file_name") or ""),
                text=text,
                start=skip,
                end=skip + len(text),
                line=int(meta.get("line") or 1) if whole else 1,
                page=meta.get("page") if whole else None,
                score=float(nws.score or 0.0),
                similarity=float(meta.get("similarity") or nws.score or 0.0),
                path=str(meta.get("path") or meta.get("file_path") or ""),
            )
        )
    if len({p.n for p in passages}) < len(passages):  # labels repeat: number by position
        passages = [replace(p, n=i) for i, p in enumerate(passages, start=1)]
    return passages, bases


def by_node(nodes: Sequence[NodeWithScore]) -> dict[str, Any]:
    """Each source node's metadata by its id, as llama-index's synthesizers give it."""
    return {n.node.node_id: n.node.metadata for n in nodes}
