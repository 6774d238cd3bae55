"""An evaluation index of its own for a folder of documents, and the answerer over it.

``qa eval --docs DIR`` and every set of the suite evaluate against
``<data dir>/eval-indexes/<folder name>-<hash of its absolute path>/``: the user's own index
is never touched, and a second run reuses the folder (the incremental indexer skips
unchanged files and replaces changed ones).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.runner import SupportsAsk

log = logging.getLogger(__name__)


def _digest(docs: Path, embedder: str = "") -> str:
    key = str(docs.resolve()) + (f"\n{embedder}" if embedder else "")
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]


def eval_index_dir(data_dir: Path, docs: Path, embedder: str = "") -> Path:
    """Where the evaluation index of ``docs`` lives: one folder per document folder and
    embedder, named after the folder and a hash of its absolute path and the embedder's name
    (so two folders of the same name never share, and another embedder builds its own)."""
    name = re.sub(r"[^\w.-]+", "_", docs.resolve().name) or "root"
    return Path(data_dir) / "eval-indexes" / f"{name}-{_digest(docs, embedder)}"


@dataclass
class Workspace:
    """What a set runs against: an answerer over its documents, the embedding function
    (for the labelled set's answer similarity), how long indexing took and its summary."""

    answerer: SupportsAsk
    embed: Callable[[list[str]], Any]
    index_s: float = 0.0
    summary: str = ""
    data_dir: Path | None = None
    close: Callable[[], None] = field(default=lambda: None)


class Workspaces:
    """Opens workspaces with one embedder and one (lazily loaded) generator for all of them,
    so the model is loaded once however many folders are evaluated.

    ``overrides`` are ``load_settings`` keywords (``data_dir``, ``retrieval__k``...);
    ``data_dir`` is where ``eval-indexes/`` goes (default: the settings' data dir).
    """

    def __init__(self, overrides: dict[str, Any], progress: bool = False) -> None:
        from qa.service import LazyGenerator, open_embedder
        from qa.settings import load_settings

        self.overrides = {k: v for k, v in overrides.items() if v is not None}
        self.base = load_settings(**self.overrides)
        self.progress = progress
        self.embedder = open_embedder(self.base)
        self.generator = LazyGenerator(self.base)

    def settings_for(self, docs: Path) -> Any:
        from qa.settings import load_settings

        return load_settings(
            **{
                **self.overrides,
                "data_dir": eval_index_dir(Path(self.base.data_dir), docs, self.embedder.name),
                # one collection per folder also when QA_CHROMA_HOST points at a server
                "chroma__collection": f"qa-eval-{_digest(docs, self.embedder.name)}",
            }
        )

    def open(self, docs: Path) -> Workspace:
        """Index ``docs`` into its evaluation index (incrementally) and build the answerer."""
        from qa.service import build_answerer, run_index

        settings = self.settings_for(docs)
        t0 = time.perf_counter()
        report = run_index(settings, [docs], self.embedder, progress=self.progress)
        index_s = time.perf_counter() - t0
        for path, reason in report.skipped:
            log.warning("eval index skipped path=%s reason=%s", path, reason)
        answerer = build_answerer(settings, embedder=self.embedder, generator=self.generator)
        log.info(
            "eval workspace docs=%s data_dir=%s index_s=%.1f", docs, settings.data_dir, index_s
        )
        return Workspace(
            answerer=answerer,
            embed=self.embedder.embed,
            index_s=index_s,
            summary=report.summary(),
            data_dir=Path(settings.data_dir),
            close=answerer.retriever.store.close,
        )
