"""What an index holds, answered without loading a model and, usually, without Chroma.

``qa status`` must answer at once. Chroma stays the only record of what is indexed: this
module keeps a *snapshot* of the status beside the index (``<data_dir>/status.json``), stamped
with the generation marker that every committed change rewrites. While the marker is
unchanged the snapshot is what Chroma would say; when it changed (or with a Chroma server,
which has no local marker) the status is read from the store again and the snapshot rewritten.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from index.schema import minilm_name
from qa.errors import IndexMissingError
from qa.settings import Settings

log = logging.getLogger(__name__)

SNAPSHOT = "status.json"


def describe(records: Iterable[Any], store_desc: str, generation: str) -> dict[str, Any]:
    """The status of committed document records (``index.store.DocRecord``)."""
    recs = sorted(records, key=lambda r: r.doc_id)
    return {
        "documents": len(recs),
        "chunks": sum(r.chunks for r in recs),
        "sources": [
            {"doc_id": r.doc_id, "title": r.title, "chunks": r.chunks, "path": r.path} for r in recs
        ],
        "roots": sorted({r.root for r in recs}),
        "store": store_desc,
        "generation": generation,
        # chunker key -> documents cut with it ("": before keys were recorded)
        "chunkers": dict(sorted(Counter(r.chunker for r in recs).items())),
    }


def chunker_status(status: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """How many of ``status``'s documents were cut by another chunker than the current one
    (its rules, ``settings.index``'s chunk settings, the language profile), and a note saying
    so. Their answers stay correct; ``qa index`` cuts them again."""
    from index.chunking import current_chunker, only_settings_differ

    ix = settings.index
    current = current_chunker(ix.chunk_tokens, ix.overlap_sentences)
    counts: Mapping[str, int] = status.get("chunkers") or {}
    stale = {key: n for key, n in counts.items() if key != current.key()}
    notes = []
    if stale:
        what = (
            "other chunk settings (QA_INDEX_CHUNK_TOKENS, QA_INDEX_OVERLAP_SENTENCES)"
            if only_settings_differ(stale, current)
            else "an older chunker"
        )
        notes.append(
            f"{sum(stale.values())} of {status.get('documents', 0)} documents chunked with "
            f"{what}; run qa index to refresh"
        )
    return {"chunker": current.key(), "stale_chunker": sum(stale.values()), "notes": notes}


def model_names(settings: Settings) -> dict[str, str]:
    """Which embedder and generator the settings choose, by name, loading neither."""
    embed = settings.embed
    embedder = {
        "local": minilm_name(embed.int8),
        "fake": "hash-bow",
        "openai": str(getattr(embed, "model", "")),
    }.get(embed.mode, embed.mode)
    llm = settings.llm
    generator = {"openai": llm.model, "fake": "fake"}.get(llm.mode) or (
        os.path.basename(str(llm.model_path))
        if llm.model_path
        else "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    )
    return {"embedder": embedder, "generator": generator}


def _marker(data_dir: Path) -> str | None:
    try:
        return (data_dir / "generation").read_text().strip()
    except FileNotFoundError:
        return None


def require_index(settings: Settings) -> None:
    """IndexMissingError when ``settings`` point at a local index that was never written (a
    Chroma server is asked when opened)."""
    data_dir = Path(settings.data_dir)
    if not settings.chroma.host and not (data_dir / "chroma").exists():
        raise IndexMissingError(
            f'No index at {data_dir}/ — run "qa index seeds/" (or "qa index <folder>") first, '
            "or point --data-dir / QA_DATA_DIR at an existing index."
        )


def index_status(settings: Settings) -> dict[str, Any]:
    """The status of the index at ``settings.data_dir`` (raises IndexMissingError if none)."""
    data_dir = Path(settings.data_dir)
    local = not settings.chroma.host
    marker = _marker(data_dir) if local else None
    snap_path = data_dir / SNAPSHOT
    if local and marker is not None:
        try:
            snap = json.loads(snap_path.read_text())
            # A snapshot written before chunkers were counted is read again.
            if snap.get("marker") == marker and "chunkers" in snap["status"]:
                status = snap["status"]
                return {**status, **chunker_status(status, settings), **model_names(settings)}
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            pass
    require_index(settings)  # said before Chroma and the answer path are imported
    from qa.service import open_store  # Chroma is imported only here

    store = open_store(settings)
    try:
        desc = "chroma server" if store.remote else f"chroma embedded at {store.data_dir}"
        status = describe(store.committed().values(), desc, store.generation())
    finally:
        store.close()
    if local and marker is not None:
        try:
            tmp = snap_path.with_name(f".{SNAPSHOT}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"marker": marker, "status": status}))
            os.replace(tmp, snap_path)
        except OSError as exc:  # a read-only index still answers, only slower
            log.info("status snapshot not written reason=%r", str(exc))
    return {**status, **chunker_status(status, settings), **model_names(settings)}
