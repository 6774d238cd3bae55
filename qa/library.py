"""The document library: what is indexed (status, a document's text), re-indexing, and the
documents added from the web chat. It is apart from the answering port (:mod:`qa.answerer`):
the answerer answers questions, the library manages what they are answered from.

Uploaded files are saved under ``<data_dir>/uploads/`` with sanitized names and indexed
by the same :func:`qa.service.run_index` as ``qa index`` (same loaders, same skips).
Removing an uploaded document deletes its file there and re-indexes the folder. Files
indexed from the user's own folders are never deleted from here.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from index.indexer import IndexReport
from index.indexer import Progress as IndexProgress
from index.loaders import make_doc_id
from qa.errors import InputError
from qa.retrieval import Retriever
from qa.service import run_index  # the CLI's indexing: the same loaders and skips
from qa.settings import Settings
from qa.status import chunker_status, describe

log = logging.getLogger(__name__)

UPLOADS = "uploads"
MAX_NAME = 120  # characters of a saved file name, extension included
Progress = Callable[[float, str], None]


@dataclass
class AddResult:
    """What an upload did: files saved (as doc ids), files refused and why, the index run."""

    saved: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    report: IndexReport | None = None

    def summary(self) -> str:
        parts = []
        if self.saved:
            parts.append(f"Added {len(self.saved)} file{'s' if len(self.saved) != 1 else ''}")
        for name, why in self.rejected:
            parts.append(f"{name}: {why}")
        if self.report is not None:
            for path, why in self.report.skipped:
                parts.append(f"{Path(path).name} was not indexed: {why}")
            parts.append("index: " + self.report.summary())
        return ". ".join(parts) if parts else "Nothing to add."


def safe_name(name: str) -> str:
    """A file name that stays inside the uploads folder: no folders, no hidden or odd names.

    Keeps letters, digits, spaces, ``.``, ``-`` and ``_`` (any script); anything else
    becomes ``_``. Raises :class:`InputError` when nothing usable is left.
    """
    base = unicodedata.normalize("NFC", re.split(r"[\\/]", str(name))[-1])
    base = re.sub(r"[^\w .\-]", "_", base).strip(" .")
    base = re.sub(r"\s+", " ", base).lstrip("-_ ")
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    if not stem:
        raise InputError(f"“{name}” is not a usable file name; rename the file and try again.")
    ext = ext[:16]
    stem = stem[: MAX_NAME - len(ext) - 1]
    return f"{stem}.{ext}" if ext else stem


class Library:
    """The documents of one index: what is indexed, their text, re-indexing the indexed
    folders, and the uploads folder of the data directory with the index runs that keep it
    current. ``generator`` is the answer model's name, shown in :meth:`status`."""

    def __init__(self, settings: Settings, retriever: Retriever, generator: str = "?") -> None:
        self.settings = settings
        self.retriever = retriever
        self.generator = generator
        self.folder = Path(settings.data_dir).resolve() / UPLOADS
        self.max_bytes = int(settings.index.max_file_mb * 1_000_000)
        self.extensions = [e.lower() for e in settings.index.extensions]

    # -- what is indexed ----------------------------------------------------------------------

    def document(self, doc_id: str) -> tuple[str, str] | None:
        """``(title, full text)`` of an indexed document, or None when it is not indexed."""
        committed = self.retriever.refresh()
        rec = committed.get(doc_id)
        if rec is None:
            return None
        text = self.retriever.store.document_text(doc_id)
        return (rec.title, text) if text is not None else None

    def status(self) -> dict:
        """Counts, the documents, the store and the models (:func:`qa.status.describe`)."""
        store = self.retriever.store
        try:
            committed = self.retriever.refresh()
        except Exception:
            committed = {}
        desc = "chroma server" if store.remote else f"chroma embedded at {store.data_dir}"
        status = describe(committed.values(), desc, store.generation())
        return {
            **status,
            **chunker_status(status, self.settings),
            "embedder": getattr(self.retriever.embedder, "name", "?"),
            "generator": self.generator,
        }

    def reindex(self, progress: Progress | None = None) -> str:
        """Index every folder the index holds documents of again; the summary line."""
        roots = [Path(p) for p in sorted({rec.root for rec in self.retriever.refresh().values()})]
        if progress:
            progress(0.0, f"Re-indexing {len(roots)} folder(s)")
        return self._index(roots, progress, 0.0).summary()

    # -- uploads ------------------------------------------------------------------------------

    def doc_id(self, filename: str) -> str:
        return make_doc_id(self.folder / filename, self.folder)

    def uploaded(self) -> list[str]:
        """Doc ids of the files in the uploads folder, sorted."""
        if not self.folder.is_dir():
            return []
        return sorted(
            self.doc_id(p.name)
            for p in self.folder.iterdir()
            if p.is_file() and not p.is_symlink() and not p.name.startswith(".")
        )

    def is_uploaded(self, doc_id: str) -> bool:
        return doc_id in self.uploaded()

    # -- changes ------------------------------------------------------------------------------

    def check(self, name: str, size: int) -> str | None:
        """Why a file of ``size`` bytes named ``name`` cannot be added, or ``None``."""
        ext = Path(name).suffix.lower()
        if ext not in self.extensions:
            return f"{ext or 'no extension'} files are not indexed (allowed: {', '.join(self.extensions)})"
        if size > self.max_bytes:
            return (
                f"{size / 1e6:.3g} MB is over the {self.max_bytes / 1e6:.3g} MB limit "
                "(QA_INDEX__MAX_FILE_MB)"
            )
        if size == 0:
            return "the file is empty"
        return None

    def add(
        self,
        files: Sequence[tuple[str, Path]],
        progress: Progress | None = None,
    ) -> AddResult:
        """Save ``(original name, temporary path)`` pairs into the folder and index it.

        A name that is taken gets a ``-2``, ``-3``… suffix unless the file there is the same,
        so an upload never replaces another document. Nothing outside the folder is written.
        """
        result = AddResult()
        self.folder.mkdir(parents=True, exist_ok=True)
        for i, (name, src) in enumerate(files):
            if progress:
                progress(0.1 * i / max(1, len(files)), f"Saving {name}")
            try:
                target = self._save(name, Path(src))
            except InputError as e:
                result.rejected.append((str(name), str(e)))
                continue
            except OSError as e:
                log.warning("upload failed name=%r error=%s", name, e)
                result.rejected.append((str(name), "could not be saved; see the server log"))
                continue
            result.saved.append(self.doc_id(target.name))
        if result.saved:
            result.report = self._reindex(progress, f"Indexing {len(result.saved)} file(s)")
        elif progress:
            progress(1.0, "Nothing to index")
        return result

    def remove(self, doc_id: str, progress: Progress | None = None) -> IndexReport:
        """Delete an uploaded document's file and drop it from the index."""
        path = self._path_of(doc_id)
        if path is None:
            raise InputError(
                f"“{doc_id}” is not an uploaded document. To remove a document from one of your "
                "own folders, delete the file there and re-index."
            )
        path.unlink()
        log.info("removed upload doc_id=%s", doc_id)
        return self._reindex(progress, f"Removing {doc_id}")

    def _path_of(self, doc_id: str) -> Path | None:
        for p in self.folder.iterdir() if self.folder.is_dir() else ():
            if p.is_file() and not p.name.startswith(".") and self.doc_id(p.name) == doc_id:
                return p
        return None

    def _save(self, name: str, src: Path) -> Path:
        size = src.stat().st_size
        why = self.check(name, size)
        if why:
            raise InputError(why)
        clean = safe_name(name)
        stem, ext = os.path.splitext(clean)
        data = src.read_bytes()
        if len(data) > self.max_bytes:  # it grew since the check
            raise InputError(f"over the {self.max_bytes / 1e6:.3g} MB limit")
        for k in range(1, 1000):
            target = self.folder / (clean if k == 1 else f"{stem}-{k}{ext}")
            if target.resolve().parent != self.folder:
                raise InputError(f"“{name}” is not a usable file name")
            if target.exists():
                if target.is_file() and target.read_bytes() == data:
                    return target  # the same file again: re-indexing finds it unchanged
                continue
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.link(tmp, target)  # fails if the name was taken meanwhile: never overwrites
            except FileExistsError:
                continue
            finally:
                os.unlink(tmp)
            log.info("saved upload name=%r as=%s bytes=%d", name, target.name, len(data))
            return target
        raise InputError(f"too many files named “{clean}” already; rename it")

    def _reindex(self, progress: Progress | None, message: str) -> IndexReport:
        if progress:
            progress(0.1, message)
        return self._index([self.folder], progress, 0.1)

    def _index(self, roots: Sequence[Path], progress: Progress | None, start: float) -> IndexReport:
        """Index ``roots`` with this index's embedder; progress runs from ``start`` to 1."""

        def indexing(p: IndexProgress) -> None:
            if progress:
                share = p.bytes_done / p.bytes_total if p.bytes_total else 1.0
                progress(
                    start + (0.95 - start) * min(1.0, share),
                    f"Indexing: {p.files_done}/{p.files_total} files, {p.chunks_written} chunks",
                )

        def notice(line: str) -> None:  # "re-chunking 3 files: the chunk settings changed"
            if progress:
                progress(start, line[:1].upper() + line[1:])

        report = run_index(
            self.settings, roots, self.retriever.embedder, on_progress=indexing, on_notice=notice
        )
        self.retriever.refresh()
        if progress:
            progress(1.0, "Done")
        return report
