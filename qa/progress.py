"""Progress lines for a long `qa index` whose stderr is not a terminal (a log file, CI, a pipe).

A terminal gets the indexer's bar instead. A line is written at most every ``EVERY_S``
seconds: files, chunks, rate, bytes and the time left.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from index.indexer import Progress

EVERY_S = 10.0


def format_progress(p: Progress) -> str:
    eta = p.eta_s
    left = f"ETA {_duration(eta)}" if eta is not None else "ETA unknown"
    return (
        f"indexing: {p.files_done}/{p.files_total} files, {p.chunks_written} chunks, "
        f"{p.chunks_per_s:.1f} chunks/s, {p.bytes_done / 1e6:.1f} of {p.bytes_total / 1e6:.1f} MB, "
        f"{left}"
    )


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class ProgressLines:
    """A progress callback that hands ``echo`` one line every ``every_s`` seconds at most."""

    def __init__(
        self,
        echo: Callable[[str], None],
        every_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.echo = echo
        self.every_s = EVERY_S if every_s is None else every_s
        self.clock = clock
        self._last = clock()
        self._lock = threading.Lock()  # the indexer calls from two threads

    def __call__(self, p: Progress) -> None:
        with self._lock:
            now = self.clock()
            if now - self._last < self.every_s:
                return
            self._last = now
            self.echo(format_progress(p))
