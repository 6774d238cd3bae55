"""Incremental, interrupt-safe indexing of folders and files into a :class:`Store`."""

from __future__ import annotations

import fcntl
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.chunking import chunk_document
from index.embedder import Embedder
from index.loaders import LoadError, Source, load, walk
from index.schema import Chunk, Document
from index.store import Store

log = logging.getLogger(__name__)


class IndexBusyError(RuntimeError):
    """Another process is writing the same index."""


@dataclass
class IndexReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    chunks_written: int = 0
    orphans_purged: int = 0
    seconds: float = 0.0
    total_documents: int = 0  # what the index holds after the run
    total_chunks: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.orphans_purged)

    def summary(self) -> str:
        return (
            f"{self.added} added, {self.updated} updated, {self.removed} removed, "
            f"{self.unchanged} unchanged, {len(self.skipped)} skipped; "
            f"{self.chunks_written} chunks written; index holds {self.total_documents} documents, "
            f"{self.total_chunks} chunks; {self.seconds:.1f} s"
        )


@contextmanager
def index_lock(data_dir: Path) -> Iterator[None]:
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "index.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IndexBusyError(
                f"Another `qa index` is writing {data_dir}. Wait for it to finish and run again."
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass
class _Pending:
    doc: Document
    root: str
    chunks: list[Chunk]
    is_update: bool


class Indexer:
    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        *,
        chunk_tokens: int = 200,
        overlap_sentences: int = 1,
        extensions: Sequence[str] = (".txt", ".md", ".html", ".htm", ".pdf"),
        max_file_bytes: int | None = 50_000_000,
        flush_chunks: int = 128,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.chunk_tokens = chunk_tokens
        self.overlap = overlap_sentences
        self.extensions = list(extensions)
        self.max_file_bytes = max_file_bytes
        self.flush_chunks = flush_chunks

    def run(self, targets: Sequence[Path], progress: bool = False) -> IndexReport:
        """Bring the index in line with ``targets`` (folders are walked recursively).

        Raises FileNotFoundError before writing anything if a target does not exist.
        """
        t0 = time.perf_counter()
        roots = [Path(t).expanduser() for t in targets]
        missing = [str(r) for r in roots if not r.exists()]
        if missing:
            raise FileNotFoundError(", ".join(missing))
        report = IndexReport()
        committed = self.store.committed()
        # Dirty: the last run was interrupted. A count mismatch: the records were lost
        # (a deleted docs collection), which leaves every chunk an orphan.
        if self.store.state().get("dirty") or self.store.count_chunks() != sum(
            r.chunks for r in committed.values()
        ):
            report.orphans_purged = self.store.purge_orphans()
        sources = [s for r in roots for s in walk(r, self.extensions)]
        seen: set[str] = set()
        pending: list[_Pending] = []
        marked_dirty = False

        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(sources), unit="file", desc="indexing", leave=False)
        try:
            for source in sources:
                seen.add(source.doc_id)
                change = self._prepare(source, committed, report)
                if bar:
                    bar.update(1)
                if change is None:
                    continue
                pending.append(change)
                if sum(len(p.chunks) for p in pending) >= self.flush_chunks:
                    if not marked_dirty:
                        self.store.set_state(dirty=True)
                        marked_dirty = True
                    self._flush(pending, report)
                    pending = []
            if pending:
                if not marked_dirty:
                    self.store.set_state(dirty=True)
                    marked_dirty = True
                self._flush(pending, report)
            for rec in committed.values():
                if rec.doc_id in seen or not self._under_roots(rec, roots):
                    continue
                if not marked_dirty:
                    self.store.set_state(dirty=True)
                    marked_dirty = True
                self.store.uncommit(rec.doc_id)
                self.store.delete_stale_chunks(rec.doc_id, None)
                report.removed += 1
        except BaseException:
            if marked_dirty:
                # Documents committed before the interruption are live: readers must reload
                # them (or an updated document would vanish from their results until the
                # next run), while the flag still asks the next run to purge orphans.
                try:
                    self.store.bump_generation(dirty=True)
                except Exception:  # the store itself may be what failed
                    log.warning("could not record the interrupted run's generation")
            raise
        finally:
            if bar:
                bar.close()
        if marked_dirty or report.orphans_purged:
            self.store.bump_generation()
        final = self.store.committed()
        report.total_documents = len(final)
        report.total_chunks = sum(r.chunks for r in final.values())
        report.seconds = time.perf_counter() - t0
        return report

    @staticmethod
    def _under_roots(rec, roots: Sequence[Path]) -> bool:
        """A record belongs to this run when it was indexed from one of these folders."""
        resolved = {str(r.resolve()) for r in roots if r.is_dir()}
        return rec.root in resolved

    def _prepare(self, source: Source, committed, report: IndexReport) -> _Pending | None:
        try:
            doc = load(source, self.max_file_bytes)
        except LoadError as exc:
            log.warning("skipped path=%s reason=%r", source.path, str(exc))
            report.skipped.append((str(source.path), str(exc)))
            return None
        rec = committed.get(doc.doc_id)
        if rec is not None and rec.content_hash == doc.content_hash[:16]:
            report.unchanged += 1
            return None
        chunks = chunk_document(
            doc,
            self.embedder.count_tokens,
            self.embedder.token_spans,
            self.chunk_tokens,
            self.overlap,
        )
        if not chunks:
            report.skipped.append((str(source.path), "has no text to index"))
            return None
        return _Pending(doc, str(source.root.resolve()), chunks, is_update=rec is not None)

    def _flush(self, pending: list[_Pending], report: IndexReport) -> None:
        texts = [c.text for p in pending for c in p.chunks]
        vectors = self.embedder.embed(texts)
        lo = 0
        for p in pending:
            vecs = np.asarray(vectors[lo : lo + len(p.chunks)])
            lo += len(p.chunks)
            # Order matters for interrupt safety: new chunks, then the record, then cleanup.
            self.store.add_chunks(p.doc, p.root, p.chunks, vecs)
            self.store.commit(p.doc, p.root, len(p.chunks))
            if p.is_update:  # a new document has no old chunks (orphans are purged at start)
                self.store.delete_stale_chunks(p.doc.doc_id, p.doc.content_hash)
            report.chunks_written += len(p.chunks)
            if p.is_update:
                report.updated += 1
            else:
                report.added += 1
