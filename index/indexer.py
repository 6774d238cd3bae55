"""Incremental, interrupt-safe indexing of folders and files into a :class:`Store`.

Files are loaded and chunked on the calling thread while a writer thread embeds and writes
what came before (onnxruntime releases the GIL). Small documents are written a flush at a
time: all their chunks, then all their records, then the old versions' chunks are deleted,
so an interruption leaves only invisible orphans. A document larger than a flush is written
in parts and named in the store state (``partial``) until it is committed: a run that was
interrupted keeps the parts it wrote and the next one embeds only the rest.

Each record names the chunker that cut it (:class:`~index.chunking.ChunkerRecord`): a file cut
by another one (other rules, other chunk settings) is re-chunked like a changed file, as a
new version (:func:`~index.store.chunk_version`) written beside the old one.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from index.chunking import chunk_document, current_chunker, only_settings_differ
from index.embedder import Embedder
from index.loaders import LoadError, Source, display_path, read, walk
from index.schema import Chunk, Document
from index.store import DocRecord, Store, chunk_version, stale_chunker

log = logging.getLogger(__name__)


class IndexBusyError(RuntimeError):
    """Another process is writing the same index."""


@dataclass
class IndexReport:
    added: int = 0
    updated: int = 0
    rechunked: int = 0  # unchanged files cut again: the chunker changed
    removed: int = 0
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    decoded: list[tuple[str, str]] = field(default_factory=list)  # (path, encoding) not UTF-8
    chunks_written: int = 0
    chunks_resumed: int = 0  # written by an interrupted run and kept
    orphans_purged: int = 0
    seconds: float = 0.0
    total_documents: int = 0  # what the index holds after the run
    total_chunks: int = 0

    @property
    def changed(self) -> bool:
        return bool(
            self.added or self.updated or self.rechunked or self.removed or self.orphans_purged
        )

    def summary(self) -> str:
        rechunked = f"{self.rechunked} re-chunked, " if self.rechunked else ""
        text = (
            f"{self.added} added, {self.updated} updated, {rechunked}{self.removed} removed, "
            f"{self.unchanged} unchanged, {len(self.skipped)} skipped; "
            f"{self.chunks_written} chunks written"
        )
        if self.chunks_resumed:
            text += f" ({self.chunks_resumed} kept from the interrupted run)"
        text += (
            f"; index holds {self.total_documents} documents, {self.total_chunks} chunks; "
            f"{self.seconds:.1f} s"
        )
        return text + self.decoded_summary()

    def decoded_summary(self) -> str:
        """``; decoded as cp1252: a.txt, b.txt`` for the text files that were not UTF-8."""
        by_encoding: dict[str, list[str]] = {}
        for path, encoding in self.decoded:
            by_encoding.setdefault(encoding, []).append(Path(path).name)
        parts = []
        for encoding, names in sorted(by_encoding.items()):
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            parts.append(f"decoded as {encoding}: {shown}")
        return "".join(f"; {p}" for p in parts)


@dataclass(frozen=True)
class Progress:
    """Where a run is, for a progress line or bar."""

    files_done: int
    files_total: int
    chunks_written: int
    bytes_done: float
    bytes_total: int
    seconds: float
    bytes_reused: float = 0.0  # of bytes_done: unchanged, skipped, or kept from a run before

    @property
    def chunks_per_s(self) -> float:
        return self.chunks_written / self.seconds if self.seconds > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the pace of the bytes this run worked on (None before any)."""
        worked = self.bytes_done - self.bytes_reused
        if self.bytes_done >= self.bytes_total:
            return 0.0
        if worked <= 0:
            return None
        return self.seconds * (self.bytes_total - self.bytes_done) / worked


ProgressFn = Callable[[Progress], None]


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
    size: int  # bytes on disk, for progress
    version: str  # chunk_version of the content hash with the chunker key: what chunk ids name
    rechunk: bool = False  # the text is unchanged; the chunker is not


class _Tracker:
    """Counters the loading thread and the writer share, and the progress callbacks."""

    def __init__(self, files_total: int, bytes_total: int, sinks: list[ProgressFn]) -> None:
        self.t0 = time.perf_counter()
        self.files_total, self.bytes_total = files_total, bytes_total
        self.files_done = 0
        self.chunks = 0
        self.bytes_done = 0.0
        self.bytes_reused = 0.0
        self.sinks = sinks
        self._lock = threading.Lock()

    def add(
        self, files: int = 0, chunks: int = 0, nbytes: float = 0.0, reused: bool = False
    ) -> None:
        with self._lock:
            self.files_done += files
            self.chunks += chunks
            self.bytes_done += nbytes
            if reused:
                self.bytes_reused += nbytes
            snap = Progress(
                self.files_done,
                self.files_total,
                self.chunks,
                self.bytes_done,
                self.bytes_total,
                time.perf_counter() - self.t0,
                self.bytes_reused,
            )
        for sink in self.sinks:
            sink(snap)


class _Writer:
    """Embeds and writes jobs in the order they come, on a worker thread when ``threaded``.

    An error in a job (KeyboardInterrupt included) stops the writer; the next
    :meth:`submit` or :meth:`close` raises it on the calling thread.
    """

    QUEUED = 2  # jobs waiting for the worker while the next file is read and chunked
    POLL_S = 0.2  # seconds between looks at the worker's error while the queue is full

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        report: IndexReport,
        tracker: _Tracker,
        flush_chunks: int,
        partial: list[list[str]],
        threaded: bool,
        chunker: str,
    ) -> None:
        self.store, self.embedder, self.report, self.tracker = store, embedder, report, tracker
        self.chunker = chunker  # the key every document of this run is cut and recorded with
        self.flush_chunks = flush_chunks
        self.partial = partial  # [doc_id, hash, embedder] of documents written in parts
        self.dirty = False
        self._error: BaseException | None = None
        self._stop = False
        self._queue: queue.Queue[Callable[[], None] | None] | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._queue = queue.Queue(maxsize=self.QUEUED)
            self._thread = threading.Thread(target=self._loop, name="qa-index-writer", daemon=True)
            self._thread.start()

    # -- running jobs ------------------------------------------------------------------------

    def submit(self, job: Callable[[], None]) -> None:
        if self._queue is None:
            job()
            return
        while True:
            self._raise()
            try:
                self._queue.put(job, timeout=self.POLL_S)
                return
            except queue.Full:
                continue

    def _loop(self) -> None:
        assert self._queue is not None
        while True:
            job = self._queue.get()
            if job is None:
                return
            if self._error is not None or self._stop:
                continue
            try:
                job()
            except BaseException as exc:  # re-raised on the loading thread
                self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def close(self, abandon: bool = False) -> None:
        """Wait for the queued jobs (or, with ``abandon``, only the one running)."""
        if self._thread is not None and self._queue is not None:
            self._stop = abandon
            while self._thread.is_alive():
                try:
                    self._queue.put(None, timeout=self.POLL_S)
                    break
                except queue.Full:
                    continue
            self._thread.join()
            self._thread = None
        if not abandon:
            self._raise()

    # -- the jobs ----------------------------------------------------------------------------

    def _mark_dirty(self) -> None:
        if not self.dirty:
            self.store.set_state(dirty=True)
            self.dirty = True

    def flush(self, pending: list[_Pending]) -> None:
        """Embed and write several small documents with one call per kind of write."""
        texts = [c.text for p in pending for c in p.chunks]
        vectors = self.embedder.embed(texts)
        self._mark_dirty()
        items, lo = [], 0
        for p in pending:
            items.append((p.doc, p.chunks, np.asarray(vectors[lo : lo + len(p.chunks)])))
            lo += len(p.chunks)
        # Order matters for interrupt safety: new chunks, then the records, then cleanup.
        self.store.add_many(items, chunker=self.chunker)
        self.store.commit_many(
            [(p.doc, p.root, len(p.chunks)) for p in pending], chunker=self.chunker
        )
        updates = [(p.doc.doc_id, p.version) for p in pending if p.is_update]
        if updates:  # a new document has no old chunks (orphans are purged at start)
            self.store.delete_stale_many(updates)
        for p in pending:
            self._count(p)
        self.tracker.add(chunks=len(texts), nbytes=sum(p.size for p in pending))

    def write_large(self, p: _Pending) -> None:
        """Write a document in parts, resuming after the parts an earlier run wrote."""
        self._mark_dirty()
        version = p.version[:16]
        entry = [p.doc.doc_id, version, self.embedder.name]
        if entry not in self.partial:
            self.partial.append(entry)
            self.store.set_state(partial=json.dumps(self.partial))
        have = self.store.written_chunks(p.chunks)
        todo = [c for c in p.chunks if c.chunk_id not in have]
        if have:
            log.info("resuming doc=%s kept=%d left=%d", p.doc.doc_id, len(have), len(todo))
            self.report.chunks_resumed += len(p.chunks) - len(todo)
            kept = p.size * (len(p.chunks) - len(todo)) / len(p.chunks)
            self.tracker.add(nbytes=kept, reused=True)
        for lo in range(0, len(todo), self.flush_chunks):
            part = todo[lo : lo + self.flush_chunks]
            vectors = self.embedder.embed([c.text for c in part])
            self.store.add_many([(p.doc, part, np.asarray(vectors))], chunker=self.chunker)
            self.tracker.add(chunks=len(part), nbytes=p.size * len(part) / len(p.chunks))
        self.store.commit(p.doc, p.root, len(p.chunks), chunker=self.chunker)
        if p.is_update:
            self.store.delete_stale_chunks(p.doc.doc_id, p.version)
        self.partial.remove(entry)
        self.store.set_state(partial=json.dumps(self.partial))
        self._count(p)
        self.report.chunks_written -= len(p.chunks) - len(todo)

    def _count(self, p: _Pending) -> None:
        self.report.chunks_written += len(p.chunks)
        if p.rechunk:
            self.report.rechunked += 1
        elif p.is_update:
            self.report.updated += 1
        else:
            self.report.added += 1


def _partial_entries(state: dict) -> list[list[str]]:
    try:
        entries = json.loads(str(state.get("partial") or "[]"))
    except ValueError:
        return []
    return [list(map(str, e)) for e in entries if isinstance(e, list) and len(e) == 3]


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
        threaded: bool = True,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.chunk_tokens = chunk_tokens
        self.overlap = overlap_sentences
        self.extensions = list(extensions)
        self.max_file_bytes = max_file_bytes
        self.flush_chunks = max(1, flush_chunks)
        self.threaded = threaded
        self.chunker = ""  # the chunker key, taken at the start of each run

    def chunker_key(self) -> str:
        """The key of the chunker this indexer cuts with (the active language profile's)."""
        return current_chunker(self.chunk_tokens, self.overlap).key()

    def run(
        self,
        targets: Sequence[Path],
        progress: bool = False,
        on_progress: ProgressFn | None = None,
        on_notice: Callable[[str], None] | None = None,
    ) -> IndexReport:
        """Bring the index in line with ``targets`` (folders are walked recursively).

        ``progress`` shows a bar on the terminal; ``on_progress`` is called after each file
        and each written batch (from either thread); ``on_notice`` gets a line for the user
        before long work that needs no action (files to re-chunk), logged at info without
        it. Raises FileNotFoundError before writing anything if a target does not exist.
        """
        t0 = time.perf_counter()
        roots = [Path(t).expanduser() for t in targets]
        missing = [str(r) for r in roots if not r.exists()]
        if missing:
            raise FileNotFoundError(", ".join(missing))
        report = IndexReport()
        self.chunker = self.chunker_key()
        committed = self.store.committed()
        state = self.store.state()
        partial = _partial_entries(state)
        keep = [(d, h) for d, h, name in partial if name == self.embedder.name]
        # Dirty: the last run was interrupted. A count mismatch: the records were lost
        # (a deleted docs collection), which leaves every chunk an orphan.
        if state.get("dirty") or self.store.count_chunks() != sum(
            r.chunks for r in committed.values()
        ):
            report.orphans_purged = self.store.purge_orphans(keep)
        sources = [s for r in roots for s in walk(r, self.extensions, self._skipper(report))]
        self._say_rechunking(committed, {s.doc_id for s in sources}, on_notice)
        sizes = [_size(s.path) for s in sources]
        sinks = [on_progress] if on_progress else []
        bar = _bar(sum(sizes)) if progress else None
        if bar is not None:
            sinks.append(bar.show)
        tracker = _Tracker(len(sources), sum(sizes), sinks)
        writer = _Writer(
            self.store,
            self.embedder,
            report,
            tracker,
            self.flush_chunks,
            partial,
            self.threaded and len(sources) > 1,
            self.chunker,
        )
        resumable = {(d, h) for d, h in keep}
        seen: set[str] = set()
        pending: list[_Pending] = []
        try:
            for source, size in zip(sources, sizes, strict=True):
                seen.add(source.doc_id)
                change = self._prepare(source, committed, report, size)
                if change is None:
                    tracker.add(files=1, nbytes=size, reused=True)
                    continue
                tracker.add(files=1)
                version = (change.doc.doc_id, change.version[:16])
                if len(change.chunks) > self.flush_chunks or version in resumable:
                    if pending:
                        writer.submit(_job(writer.flush, pending))
                        pending = []
                    writer.submit(_job(writer.write_large, change))
                    continue
                pending.append(change)
                if sum(len(p.chunks) for p in pending) >= self.flush_chunks:
                    writer.submit(_job(writer.flush, pending))
                    pending = []
            if pending:
                writer.submit(_job(writer.flush, pending))
            writer.close()
            gone = [
                rec.doc_id
                for rec in committed.values()
                if rec.doc_id not in seen and self._under_roots(rec, roots)
            ]
            if gone:  # records first: their chunks are invisible before they are deleted
                writer._mark_dirty()
                self.store.uncommit_many(gone)
                self.store.delete_stale_many([(doc_id, None) for doc_id in gone])
                report.removed += len(gone)
            if partial:  # versions abandoned half-way: their file changed or went away
                now = self.store.committed()
                for doc_id, version_hash, _ in partial:
                    kept = now.get(doc_id)
                    if kept is None or kept.content_hash != version_hash:
                        self.store.delete_version(doc_id, version_hash)
                partial.clear()
                self.store.set_state(partial="[]")
        except BaseException:
            writer.close(abandon=True)
            if writer.dirty:
                # Documents committed before the interruption are live: readers must reload
                # them (or an updated document would vanish from their results until the
                # next run), while the flag still asks the next run to purge orphans.
                try:
                    self.store.bump_generation(dirty=True)
                except Exception:  # the store itself may be what failed
                    log.warning("could not record the interrupted run's generation")
            raise
        finally:
            if bar is not None:
                bar.close()
        if writer.dirty or report.orphans_purged:
            self.store.bump_generation()
        final = self.store.committed()
        report.total_documents = len(final)
        report.total_chunks = sum(r.chunks for r in final.values())
        report.seconds = time.perf_counter() - t0
        return report

    def _say_rechunking(
        self,
        committed: dict[str, DocRecord],
        doc_ids: set[str],
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        """One line when files of this run were cut by another chunker: they are all cut
        again (and embedded again), which takes about as long as indexing them anew. It is
        progress, not a problem to fix: ``on_notice`` gets it, else it is logged at info."""
        stale = [r for r in stale_chunker(committed.values(), self.chunker) if r.doc_id in doc_ids]
        if not stale:
            return
        current = current_chunker(self.chunk_tokens, self.overlap)
        what = (
            "chunk settings"
            if only_settings_differ({r.chunker for r in stale}, current)
            else "chunker"
        )
        line = f"re-chunking {len(stale)} file{'' if len(stale) == 1 else 's'}: the {what} changed"
        if on_notice is not None:
            on_notice(line)
        else:
            log.info("%s", line)
        for old in sorted({r.chunker for r in stale}):
            log.info("rechunk old=%r new=%r", old or "(none recorded)", self.chunker)

    @staticmethod
    def _skipper(report: IndexReport) -> Callable[[str, str], None]:
        def skip(path: str, reason: str) -> None:
            log.info("skipped path=%s reason=%r", path, reason)
            report.skipped.append((path, reason))

        return skip

    @staticmethod
    def _under_roots(rec: DocRecord, roots: Sequence[Path]) -> bool:
        """A record belongs to this run when it was indexed from one of these folders."""
        resolved = {display_path(r.resolve()) for r in roots if r.is_dir()}
        return rec.root in resolved

    def _prepare(
        self, source: Source, committed: dict[str, DocRecord], report: IndexReport, size: int
    ) -> _Pending | None:
        try:
            loaded = read(source, self.max_file_bytes)
        except LoadError as exc:
            self._skipper(report)(display_path(source.path), str(exc))
            return None
        doc = loaded.doc
        if loaded.encoding:
            report.decoded.append((doc.path, loaded.encoding))
        rec = committed.get(doc.doc_id)
        same_text = rec is not None and rec.source_hash == doc.content_hash[:16]
        if rec is not None and same_text and rec.chunker == self.chunker:
            report.unchanged += 1
            return None
        # The chunk ids name the version (content and chunker), so a re-chunked document's
        # new chunks never overwrite the old ones that readers still see until the commit.
        version = chunk_version(doc.content_hash, self.chunker)
        chunks = chunk_document(
            replace(doc, content_hash=version),
            self.embedder.count_tokens,
            self.embedder.token_spans,
            self.chunk_tokens,
            self.overlap,
        )
        if not chunks:
            self._skipper(report)(doc.path, "has no text to index")
            return None
        root = display_path(source.root.resolve())
        return _Pending(
            doc,
            root,
            chunks,
            is_update=rec is not None,
            size=size,
            version=version,
            rechunk=same_text,
        )


def _job(fn: Callable, arg: object) -> Callable[[], None]:
    return lambda: fn(arg)


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


class _Bar:
    """A terminal progress bar over the bytes of the files to index."""

    def __init__(self, total: int) -> None:
        from tqdm import tqdm

        self._bar = tqdm(
            total=total, unit="B", unit_scale=True, desc="indexing", leave=False, mininterval=0.5
        )
        self._lock = threading.Lock()

    def show(self, p: Progress) -> None:
        with self._lock:
            self._bar.n = int(p.bytes_done)
            self._bar.set_postfix_str(
                f"{p.files_done}/{p.files_total} files, {p.chunks_written} chunks", refresh=False
            )
            self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


def _bar(total: int) -> _Bar:
    return _Bar(total)
