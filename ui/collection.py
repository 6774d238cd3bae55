"""The Collection tab's handlers: what is indexed, re-indexing, uploads and removal.

Each handler returns the refreshed collection HTML with a note on top; uploads and
removal go through :class:`qa.library.Library` (the CLI's indexing, the same loaders and
skips), and every failure becomes a message in the page, never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from qa.errors import QAError
from ui import render, security
from ui.chat import Documents

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
UNAVAILABLE = "Adding documents is not available in this app; run `qa index <folder>`."


@runtime_checkable
class Library(Documents, Protocol):
    """The documents with uploads: what the tab needs of :class:`qa.library.Library` to add
    and remove documents (tests pass their own; without these the tab only shows and
    re-indexes)."""

    max_bytes: int
    extensions: list[str]

    def uploaded(self) -> list[str]: ...
    def add(self, files: Sequence[tuple[str, Path]], progress: Progress | None = None) -> Any: ...
    def remove(self, doc_id: str, progress: Progress | None = None) -> Any: ...


def note_html(message: str) -> str:
    return f'<div class="qa-note">{render.esc(message)}</div>'


def status_notes_html(status: dict) -> str:
    """The status notes that ``qa status`` prints (documents cut by an older chunker...),
    one escaped line each: they come from the index, so they are text, never markup."""
    notes = status.get("notes") or []
    return "".join(
        f'<div class="qa-note qa-status-note" role="status">{render.esc(str(n))}</div>'
        for n in notes
    )


def uploads(documents: Documents) -> Library | None:
    """``documents`` when they take uploads, else None."""
    return documents if isinstance(documents, Library) else None


def uploaded(documents: Documents) -> list[str]:
    library = uploads(documents)
    if library is None:
        return []
    try:
        return library.uploaded()
    except OSError:
        log.exception("could not list uploads")
        return []


def view(documents: Documents, note: str = "") -> str:
    """The collection HTML (counts and documents, uploads tagged) below ``note`` (trusted)
    and the status notes (see :func:`status_notes_html`)."""
    try:
        status = security.public_status(documents.status())  # no absolute paths to the page
        note += status_notes_html(status)
        return render.collection_html(status, note=note, uploaded=uploaded(documents))
    except QAError as e:
        return note + render.error_html(str(e))
    except Exception:
        log.exception("status failed")
        return note + render.error_html("Could not read the index status; see the server log.")


def reindex(documents: Documents, progress: Progress) -> str:
    """Re-index the indexed folders, reporting progress, then show the refreshed collection."""
    try:
        note = note_html(documents.reindex(progress))
    except QAError as e:
        note = render.error_html(str(e))
    except Exception:
        log.exception("reindex failed")
        note = render.error_html("Re-indexing failed. The details are in the server log.")
    return view(documents, note)


def _named(files: Sequence[Any] | None) -> list[tuple[str, Path]]:
    """``(original name, path)`` of Gradio's uploaded files (paths or FileData-like objects)."""
    out = []
    for f in files or []:
        path = Path(getattr(f, "path", None) or getattr(f, "name", None) or str(f))
        name = getattr(f, "orig_name", None) or path.name
        out.append((str(name), path))
    return out


def add(documents: Documents, files: Sequence[Any] | None, progress: Progress) -> str:
    """Save uploaded files into the library's folder and index them, with progress.

    Sizes and extensions are checked here again, whatever the upload route allowed.
    """
    library = uploads(documents)
    if library is None:
        return view(documents, render.error_html(UNAVAILABLE))
    named = _named(files)
    if not named:
        return view(documents, render.error_html("Choose one or more files to add."))
    try:
        result = library.add(named, progress)
        message = result.summary()
        note = render.error_html(message) if not result.saved else note_html(message)
    except QAError as e:
        note = render.error_html(str(e))
    except Exception:
        log.exception("upload failed")
        note = render.error_html("Adding the files failed. The details are in the server log.")
    return view(documents, note)


def remove(documents: Documents, doc_id: str | None, progress: Progress) -> str:
    """Delete an uploaded document and drop it from the index."""
    library = uploads(documents)
    if library is None:
        return view(documents, render.error_html(UNAVAILABLE))
    if not doc_id:
        return view(documents, render.error_html("Pick an uploaded document to remove."))
    try:
        report = library.remove(doc_id, progress)
        note = note_html(f"Removed {doc_id}. index: {report.summary()}")
    except QAError as e:
        note = render.error_html(str(e))
    except Exception:
        log.exception("remove failed doc_id=%s", doc_id)
        note = render.error_html("Removing the document failed. The details are in the server log.")
    return view(documents, note)
