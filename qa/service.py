"""Wiring: build the store, embedder, retriever, generator and answerer from Settings."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from index.embedder import Embedder, EmbedderError, make_embedder
from index.indexer import Indexer, IndexReport, ProgressFn, index_lock
from index.schema import MINILM_VARIANTS
from index.store import EmbedderRecord, Store, StoreError, check_embedder
from qa import prompts
from qa.answerer import Answerer
from qa.citations import CheckTuning, CitationChecker
from qa.errors import ModelError, QAError
from qa.generator import Generator, make_generator
from qa.judge import make_judge
from qa.pipeline.vectors import SentenceVectors
from qa.retrieval import Retriever
from qa.settings import Settings
from qa.status import require_index
from qa.testing import HashEmbedder

log = logging.getLogger(__name__)


class LazyGenerator:
    """Loads the real generator on first use, so refusals and retrieval never wait for it.

    :meth:`preload` starts loading in a background thread (llama.cpp releases the GIL), so a
    cold ``qa ask`` loads the model and restores the prompt prefix while it retrieves.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._inner: Generator | None = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.timings: dict[str, float] = {}  # load_ms, prefix_ms: where a cold start goes
        mode = settings.llm.mode
        self.name = {"openai": settings.llm.model, "fake": "fake"}.get(mode) or str(
            settings.llm.model_path or "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
        )
        # What the generator of this mode can be asked through (see qa.judge.make_judge),
        # loading it on the first call: local mode its llama.cpp model, openai its client.
        self.llama: Callable[[], Any] | None = None
        self.chat_client: Callable[[], Any] | None = None
        if mode == "local":
            self.llama = lambda: self._loaded("llama")
        elif mode == "openai":
            self.chat_client = lambda: self._loaded("chat_client")

    def _loaded(self, capability: str) -> Any:
        return getattr(self.load(), capability)()

    def preload(self) -> None:
        """Start loading now, in the background; :meth:`load` waits for it."""
        with self._lock:
            if self._inner is not None or self._thread is not None:
                return
            self._thread = threading.Thread(target=self._load_quietly, name="qa-model", daemon=True)
            self._thread.start()

    def _load_quietly(self) -> None:
        try:
            self.load()
        except BaseException as exc:  # surfaced by the next load() in the caller's thread
            self._error = exc

    def load(self) -> Generator:
        with self._lock:
            if self._inner is None:
                if self._error is not None and threading.current_thread() is not self._thread:
                    error, self._error = self._error, None
                    raise error
                t0 = time.perf_counter()
                inner = make_generator(self._settings)
                t1 = time.perf_counter()
                # Only a one-shot process (preload: `qa ask`) restores the saved prefix. A
                # long-lived one (chat, eval) processes it with its first prompt, as before:
                # the same KV values, so its answers stay exactly those it always gave.
                warm = getattr(inner, "warm", None)
                if warm is not None and self._settings.llm.prefix_cache and self._thread:
                    warm(prompts.prefix(), Path(self._settings.model_cache))
                self.timings = {
                    "load_ms": (t1 - t0) * 1000,
                    "prefix_ms": (time.perf_counter() - t1) * 1000,
                }
                self._inner = inner
            return self._inner

    def stream(self, messages, max_tokens: int | None = None) -> Iterator[str]:
        return self.load().stream(messages, max_tokens)

    def count_tokens(self, text: str) -> int:
        return self.load().count_tokens(text)


def open_embedder(settings: Settings) -> Embedder:
    e = settings.embed
    if e.mode == "fake":
        return HashEmbedder()
    try:
        return make_embedder(
            e.mode,
            e.threads,
            settings.index.embed_batch,
            int8=e.int8,
            cache_dir=settings.model_cache,
            base_url=e.base_url,
            model=e.model,
            api_key=e.api_key,
            request_batch=e.batch,
            concurrency=e.concurrency,
            timeout_s=e.timeout_s,
            dim=e.dim,
        )
    except EmbedderError as exc:
        raise ModelError(str(exc)) from exc


def embedder_record(embedder: Embedder, settings: Settings) -> EmbedderRecord:
    """What the index records about ``embedder`` (an injected one may not carry its mode)."""
    known = {HashEmbedder.name: "fake", **dict.fromkeys(MINILM_VARIANTS, "local")}
    mode = getattr(embedder, "mode", None) or known.get(embedder.name, settings.embed.mode)
    try:
        dim = int(embedder.dim)  # an openai embedder asks its server once
    except EmbedderError as exc:
        raise ModelError(str(exc)) from exc
    return EmbedderRecord(mode=str(mode), model=embedder.name, dim=dim)


def open_store(settings: Settings, create: bool = False, embedder: Embedder | None = None) -> Store:
    """The store; with ``embedder``, refused when the index was built with another one
    (``create``: about to write, so the embedder is recorded)."""
    data_dir = Path(settings.data_dir)
    if not create:
        require_index(settings)
    try:
        store = Store.open(
            data_dir, settings.chroma.host, settings.chroma.port, settings.chroma.collection
        )
        if embedder is not None:
            check_embedder(store, embedder_record(embedder, settings), write=create)
        return store
    except StoreError as exc:
        raise QAError(str(exc)) from exc


def make_indexer(settings: Settings, store: Store, embedder: Embedder) -> Indexer:
    ix = settings.index
    return Indexer(
        store,
        embedder,
        chunk_tokens=ix.chunk_tokens,
        overlap_sentences=ix.overlap_sentences,
        extensions=ix.extensions,
        max_file_bytes=int(ix.max_file_mb * 1_000_000),
    )


def run_index(
    settings: Settings,
    targets: Sequence[Path],
    embedder: Embedder | None = None,
    progress: bool = False,
    on_progress: ProgressFn | None = None,
    on_notice: Callable[[str], None] | None = None,
) -> IndexReport:
    """Index ``targets``; ``progress`` shows a terminal bar, ``on_progress`` gets
    :class:`~index.indexer.Progress` after each file and each written batch, ``on_notice``
    a line for the user before long work (files to re-chunk)."""
    embedder = embedder or open_embedder(settings)
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    with index_lock(Path(settings.data_dir)):
        store = open_store(settings, create=True, embedder=embedder)
        return make_indexer(settings, store, embedder).run(
            targets, progress=progress, on_progress=on_progress, on_notice=on_notice
        )


def make_checker(
    settings: Settings, embedder: Embedder, generator: Generator | None = None
) -> CitationChecker:
    """The citation checker answers are verified with: the cheap checks on ``embedder``, then
    the entailment judge (``settings.check``) on ``generator``'s model, loaded when the judge
    first needs it."""
    if generator is None:
        generator = LazyGenerator(settings)
    c = settings.check
    tuning = CheckTuning(
        similarity_min=c.similarity_min,
        terms_min=c.terms_min,
        entail_min=c.entail_min,
        judged_per_sentence=c.judge_calls,
        rivals_max=c.rivals,
    )
    return CitationChecker(embedder, judge=make_judge(settings, generator), tuning=tuning)


def build_answerer(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    generator: Generator | None = None,
    preload: bool = False,
) -> Answerer:
    """The answering port over the index in ``settings.data_dir`` (what is indexed, and
    re-indexing, are :class:`qa.library.Library`'s).

    ``preload`` starts loading the model in the background once the store is open, so that a
    one-shot command loads it (and restores the prompt prefix) while it retrieves.
    """
    prompts.use(settings.prompts_dir)  # a bad QA_PROMPTS_DIR is said before anything loads
    lazy = None
    if generator is None:
        generator = lazy = LazyGenerator(settings)
    # One sentence-vector cache for retrieval, the reader and the citation checker.
    embedder = embedder or open_embedder(settings)
    if not isinstance(embedder, SentenceVectors):
        embedder = SentenceVectors(embedder, settings.retrieval.vector_cache)
    store = open_store(settings, embedder=embedder)
    r = settings.retrieval
    retriever = Retriever(store, embedder, r, Path(settings.data_dir) / "bm25")

    if preload and lazy is not None:
        # Started once the store and embedder are open, so an error there (no index, another
        # embedder) is reported and the process ends with no model half-loaded in a thread.
        lazy.preload()
    return Answerer(
        retriever,
        generator,
        make_checker(settings, embedder, generator),
        k=r.k,
        min_relevance=r.min_relevance,
        retry_sentences=r.retry_sentences,
        max_question_chars=settings.max_question_chars,
        policy_off=settings.policy_off,
        judged_min=settings.check.extract_min,
    )
