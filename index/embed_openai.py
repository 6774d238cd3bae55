"""Embeddings from any OpenAI-compatible ``/v1/embeddings`` server (text-embeddings-inference,
vLLM, Ollama, llama.cpp server, OpenAI), several requests in flight at once.

Chunking still counts and cuts tokens with the packaged MiniLM tokenizer
(``index/assets/minilm-tokenizer.json``), not the server's: servers do not share their
tokenizer, and this way chunk boundaries (and so chunk ids, offsets and citations) do not
depend on which server embeds them. Keep ``QA_INDEX_CHUNK_TOKENS`` well inside the server
model's window; the server truncates or rejects longer inputs.

Vectors are L2-normalised here, as the local embedder's are, so a dot product is a cosine
whatever the server returns. A server that returns one vector per token (llama-cpp-python's
server with a model that has no pooling of its own) has them mean-pooled here, with a
warning (llama-cpp-python 0.3.36 mixes up those vectors for all but the first text of a
request: give it ``QA_EMBED_BATCH=1``). The server is never retried silently: an error says what failed
and which setting fixes it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from index.embedder import EmbedderError, _load_tokenizer, _normalise

log = logging.getLogger(__name__)


class OpenAIEmbedder:
    """Embeds through ``POST {base_url}/embeddings``; satisfies :class:`index.embedder.Embedder`.

    ``dim`` 0 means "whatever the server returns": the first call finds it out (reading
    :attr:`dim` asks the server once). Every later response must keep that dimension.
    """

    mode = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "",
        *,
        batch_size: int = 16,
        concurrency: int = 4,
        timeout_s: float = 60.0,
        dim: int = 0,
    ) -> None:
        try:
            import httpx
        except ImportError as exc:  # pragma: no cover - httpx comes with chromadb and openai
            raise EmbedderError(
                "QA_EMBED_MODE=openai needs the httpx package. Install it with "
                "`pip install 'qa[openai]'`."
            ) from exc
        if not base_url:
            raise EmbedderError(
                "QA_EMBED_MODE=openai needs QA_EMBED_BASE_URL, e.g. http://127.0.0.1:8080/v1."
            )
        if not model:
            raise EmbedderError(
                "QA_EMBED_MODE=openai needs QA_EMBED_MODEL, the model name the server serves."
            )
        self._httpx = httpx
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/embeddings"
        self.name = model
        self.timeout_s = timeout_s
        self.batch_size = max(1, batch_size)
        self.concurrency = max(1, concurrency)
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=self.concurrency),
        )
        self._dim = dim
        self._dim_lock = threading.Lock()
        self._tokenizer = _load_tokenizer()
        self.requests = 0  # requests sent, for logs and tests
        self._warned_pooling = False

    # -- chunking uses the packaged tokenizer ------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return list(self._tokenizer.encode(text, add_special_tokens=False).offsets)

    # -- embedding -------------------------------------------------------------------------

    @property
    def dim(self) -> int:
        if not self._dim:
            self.embed(["dimension probe"])
        return self._dim

    @dim.setter
    def dim(self, value: int) -> None:  # the Embedder protocol declares a plain attribute
        self._dim = int(value)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        batches = [
            list(texts[lo : lo + self.batch_size]) for lo in range(0, len(texts), self.batch_size)
        ]
        if len(batches) == 1 or self.concurrency == 1:
            parts = [self._request(b) for b in batches]
        else:
            with ThreadPoolExecutor(
                max_workers=min(self.concurrency, len(batches)), thread_name_prefix="qa-embed"
            ) as pool:
                parts = list(pool.map(self._request, batches))
        return _normalise(np.concatenate(parts, axis=0))

    def close(self) -> None:
        self._client.close()

    def _request(self, batch: list[str]) -> np.ndarray:
        httpx = self._httpx
        where = f"The embedding server at {self.base_url}"
        try:
            resp = self._client.post(self.url, json={"model": self.name, "input": batch})
        except httpx.TimeoutException as exc:
            raise EmbedderError(
                f"{where} did not answer within {self.timeout_s:g} s ({len(batch)} texts). "
                "Raise QA_EMBED_TIMEOUT_S, or lower QA_EMBED_BATCH or QA_EMBED_CONCURRENCY."
            ) from exc
        except httpx.TransportError as exc:
            raise EmbedderError(
                f"Cannot reach the embedding server at {self.base_url} ({exc.__class__.__name__}: "
                f"{exc}). Start it, or fix QA_EMBED_BASE_URL (or set QA_EMBED_MODE=local)."
            ) from exc
        self.requests += 1
        if resp.status_code != 200:
            raise EmbedderError(_status_message(where, self.url, resp.status_code, resp.text))
        try:
            data = resp.json()["data"]
            rows = [item["embedding"] for item in sorted(data, key=lambda d: d.get("index", 0))]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise EmbedderError(
                f"{where} answered something that is not an OpenAI embeddings response "
                f"({_snippet(resp.text)!r}). Check that QA_EMBED_BASE_URL points at an "
                "OpenAI-compatible API (it usually ends in /v1)."
            ) from exc
        if len(rows) != len(batch):
            raise EmbedderError(
                f"{where} returned {len(rows)} vectors for {len(batch)} texts. "
                "Check that it is an OpenAI-compatible embeddings server."
            )
        return self._check_vectors(rows, where)

    def _check_vectors(self, rows: list[Any], where: str) -> np.ndarray:
        if rows and isinstance(rows[0], list) and rows[0] and isinstance(rows[0][0], list):
            # One vector per token: llama-cpp-python's server with a model that has no pooling
            # (it cannot be asked for any). Mean pooling them is what the local embedder does.
            if not self._warned_pooling:
                self._warned_pooling = True
                log.warning(
                    "embedding server url=%s returns per-token vectors; mean-pooling them", self.url
                )
            try:
                rows = [np.asarray(r, dtype=np.float32).mean(axis=0) for r in rows]
            except (ValueError, TypeError) as exc:
                raise EmbedderError(
                    f"{where} returned per-token vectors that cannot be pooled ({exc}). Start it "
                    "with pooling on (llama.cpp's llama-server: --pooling mean)."
                ) from exc
        try:
            vecs = np.asarray(rows, dtype=np.float32)
        except (ValueError, TypeError) as exc:
            raise EmbedderError(
                f"{where} returned vectors of different lengths or non-numbers in one response."
            ) from exc
        if vecs.ndim != 2 or vecs.shape[1] == 0:
            raise EmbedderError(f"{where} returned no usable vectors (shape {vecs.shape}).")
        if not np.isfinite(vecs).all() or not np.linalg.norm(vecs, axis=1).all():
            raise EmbedderError(
                f"{where} returned empty or non-finite vectors (NaN, inf or all zeros). "
                "Check the server's log and QA_EMBED_MODEL."
            )
        with self._dim_lock:
            if not self._dim:
                self._dim = int(vecs.shape[1])
                log.info("embedding server url=%s model=%s dim=%d", self.url, self.name, self._dim)
            elif vecs.shape[1] != self._dim:
                raise EmbedderError(
                    f"{where} returned {vecs.shape[1]}-dimensional vectors, but {self._dim} "
                    f"were expected (QA_EMBED_DIM, or the server's earlier answers). Check "
                    "QA_EMBED_MODEL, or set QA_EMBED_DIM to the model's dimension."
                )
        return vecs


def _snippet(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _status_message(where: str, url: str, status: int, body: str) -> str:
    detail = body
    try:
        err = json.loads(body)
        if isinstance(err, dict):
            inner = err.get("error", err.get("detail", err))
            detail = inner.get("message", str(inner)) if isinstance(inner, dict) else str(inner)
    except ValueError:
        pass
    said = f"{where} answered {status} ({_snippet(str(detail))})."
    if status in (401, 403):
        return f"{said} Check QA_EMBED_API_KEY."
    if status == 404:
        return (
            f"{said} Check QA_EMBED_BASE_URL (it must be the API root, so that {url} exists; "
            "usually it ends in /v1) and QA_EMBED_MODEL."
        )
    if status == 413 or 400 <= status < 500:
        return (
            f"{said} Check QA_EMBED_MODEL; if the texts are too long or too many for the server, "
            "lower QA_EMBED_BATCH or QA_INDEX_CHUNK_TOKENS."
        )
    return f"{said} The server failed: check its log, or lower QA_EMBED_CONCURRENCY if it is overloaded."
