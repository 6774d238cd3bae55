"""openai embedding mode against a small in-process OpenAI-compatible server on loopback:
batching, requests in flight, normalisation, error messages, and the index's embedder record."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from index.embed_openai import OpenAIEmbedder
from index.embedder import EmbedderError, _load_tokenizer, make_embedder
from index.store import EmbedderRecord, Store, check_embedder, recorded_embedder
from qa.errors import QAError
from qa.service import build_answerer, open_embedder, run_index
from qa.settings import load_settings
from qa.testing import HashEmbedder
from tests.netutil import free_port

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


class FakeServer:
    """``POST /v1/embeddings`` answering hashed bag-of-words vectors scaled by 3 (not unit)."""

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.delay = 0.0
        self.status = 200
        self.body: str | None = None  # a raw reply instead of vectors
        self.per_token = False
        self.shuffle = False
        self.requests: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers["Content-Length"])
                payload = json.loads(self.rfile.read(length))
                with server._lock:
                    server.requests.append(
                        {**payload, "path": self.path, "auth": self.headers.get("Authorization")}
                    )
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    time.sleep(server.delay)
                    status, body = server.reply(self.path, payload)
                finally:
                    with server._lock:
                        server.in_flight -= 1
                data = body.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def reply(self, path: str, payload: dict) -> tuple[int, str]:
        if path != "/v1/embeddings":
            return 404, json.dumps({"error": {"message": f"no route {path}"}})
        if self.body is not None:
            return self.status, self.body
        vecs = HashEmbedder(self.dim).embed(payload["input"]) * 3.0
        rows = [
            {
                "object": "embedding",
                "index": i,
                "embedding": [v.tolist()] * 2 if self.per_token else v.tolist(),
            }
            for i, v in enumerate(vecs)
        ]
        if self.shuffle:
            rows.reverse()
        return self.status, json.dumps({"object": "list", "data": rows, "model": payload["model"]})

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FakeServer]:
    s = FakeServer()
    yield s
    s.close()


def _embedder(server: FakeServer, **kw) -> OpenAIEmbedder:
    return OpenAIEmbedder(server.url, kw.pop("model", "fake-embed"), **kw)


def test_batches_run_concurrently_and_keep_order(server: FakeServer) -> None:
    server.delay = 0.2
    server.shuffle = True  # rows come back in reverse; the "index" field puts them right
    emb = _embedder(server, api_key="s3cret", batch_size=4, concurrency=3)
    texts = [f"text number {i} about topic {i % 5}" for i in range(18)]
    t0 = time.perf_counter()
    vecs = emb.embed(texts)
    took = time.perf_counter() - t0
    assert vecs.shape == (18, 64) and vecs.dtype == np.float32
    np.testing.assert_allclose(vecs, HashEmbedder(64).embed(texts), atol=1e-6)  # normalised
    assert sorted(len(r["input"]) for r in server.requests) == [2, 4, 4, 4, 4]  # any order
    assert sorted(t for r in server.requests for t in r["input"]) == sorted(texts)
    assert {r["model"] for r in server.requests} == {"fake-embed"}
    assert {r["auth"] for r in server.requests} == {"Bearer s3cret"}
    assert server.max_in_flight == 3  # never more than the setting, and really in parallel
    assert took < 5 * 0.2  # 5 requests of 0.2 s, 3 at a time: two rounds, not five
    assert emb.dim == 64 and emb.requests == 5


def test_one_request_at_a_time_when_concurrency_is_one(server: FakeServer) -> None:
    emb = _embedder(server, batch_size=2, concurrency=1)
    emb.embed(["a b", "c d", "e f", "g h", "i j"])
    assert [len(r["input"]) for r in server.requests] == [2, 2, 1]
    assert server.max_in_flight == 1 and server.requests[0]["auth"] is None  # no key, no header


def test_dimension_is_asked_once_and_then_enforced(server: FakeServer) -> None:
    emb = _embedder(server)
    assert emb.dim == 64 and len(server.requests) == 1  # reading dim probes the server
    assert emb.dim == 64 and len(server.requests) == 1
    server.dim = 32
    with pytest.raises(EmbedderError, match=r"32-dimensional.*64 were expected.*QA_EMBED_DIM"):
        emb.embed(["another model answered"])
    fixed = _embedder(server, dim=384)
    with pytest.raises(EmbedderError, match="QA_EMBED_DIM"):
        fixed.embed(["x"])


def test_chunking_counts_with_the_packaged_tokenizer(server: FakeServer) -> None:
    emb = _embedder(server)
    tok = _load_tokenizer()
    text = "Peskov said the offer of free passage for militants is still on the table."
    assert emb.count_tokens(text) == len(tok.encode(text, add_special_tokens=False).ids)
    assert emb.token_spans(text) == list(tok.encode(text, add_special_tokens=False).offsets)
    assert server.requests == []  # chunking never asks the server


@pytest.mark.parametrize(
    ("status", "body", "fix"),
    [
        (
            401,
            '{"error": {"message": "invalid api key"}}',
            r"401 \(invalid api key\).*QA_EMBED_API_KEY",
        ),
        (404, '{"detail": "model not found"}', r"404 \(model not found\).*QA_EMBED_BASE_URL.*/v1"),
        (400, '{"error": "input is too long"}', r"400 \(input is too long\).*QA_EMBED_BATCH"),
        (503, "overloaded", r"503 \(overloaded\).*check its log.*QA_EMBED_CONCURRENCY"),
        (200, "<html>not json</html>", r"not an OpenAI embeddings response.*QA_EMBED_BASE_URL"),
        (200, '{"data": []}', r"0 vectors for 1 texts"),
    ],
)
def test_server_errors_say_what_to_fix(server: FakeServer, status, body, fix) -> None:
    server.status, server.body = status, body
    with pytest.raises(EmbedderError, match=fix) as info:
        _embedder(server).embed(["hello"])
    assert server.url in str(info.value)


def test_per_token_vectors_are_mean_pooled(server: FakeServer) -> None:
    server.per_token = True  # each text answered as two token vectors, both 3 * its hash vector
    texts = ["hello world", "checkpoints in western Aleppo"]
    np.testing.assert_allclose(
        _embedder(server).embed(texts), HashEmbedder(64).embed(texts), atol=1e-6
    )
    server.body = json.dumps({"data": [{"index": 0, "embedding": [[1.0, 2.0], [3.0]]}]})
    with pytest.raises(EmbedderError, match="cannot be pooled.*--pooling mean"):
        _embedder(server).embed(["hello world"])


def test_server_down_and_timeout(server: FakeServer) -> None:
    port = free_port()
    with pytest.raises(EmbedderError, match=rf"Cannot reach.*127.0.0.1:{port}.*QA_EMBED_BASE_URL"):
        OpenAIEmbedder(f"http://127.0.0.1:{port}/v1", "m").embed(["x"])
    server.delay = 1.0
    with pytest.raises(EmbedderError, match=r"within 0.2 s.*QA_EMBED_TIMEOUT_S"):
        _embedder(server, timeout_s=0.2).embed(["x"])


def test_settings_choose_the_openai_backend(server: FakeServer, monkeypatch) -> None:
    for key, value in {
        "QA_EMBED_MODE": "openai",
        "QA_EMBED_BASE_URL": server.url,
        "QA_EMBED_MODEL": "nomic-embed-text",
        "QA_EMBED_API_KEY": "k",
        "QA_EMBED_BATCH": "3",
        "QA_EMBED_CONCURRENCY": "2",
    }.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    emb = open_embedder(settings)
    assert isinstance(emb, OpenAIEmbedder)
    assert (emb.name, emb.batch_size, emb.concurrency) == ("nomic-embed-text", 3, 2)
    emb.embed(["a", "b", "c", "d"])
    assert sorted(len(r["input"]) for r in server.requests) == [1, 3]  # in flight: any order
    assert server.requests[0]["auth"] == "Bearer k"
    with pytest.raises(EmbedderError, match="QA_EMBED_MODEL"):
        make_embedder("openai", base_url=server.url, model="")


# -- the index records its embedder ----------------------------------------------------------


def _seeds_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "seeds"
    shutil.copytree(SEEDS, dst)
    return dst


def test_index_and_ask_through_the_server_then_refuse_another_embedder(
    server: FakeServer, tmp_path: Path
) -> None:
    server.dim = 256
    data = tmp_path / "data"
    settings = load_settings(
        data_dir=data, embed__mode="openai", embed__base_url=server.url, embed__model="fake-embed"
    )
    report = run_index(settings, [_seeds_copy(tmp_path)])
    assert report.total_chunks > 0 and server.requests
    store = Store.open(data)
    assert recorded_embedder(store) == EmbedderRecord("openai", "fake-embed", 256)
    store.close()

    answerer = build_answerer(settings)
    passages = answerer.retriever.passages("How many checkpoints were set up in western Aleppo?")
    assert any("checkpoint" in p.text.lower() for p in passages)

    # Same dimension, other model: silent garbage unless refused.
    other = load_settings(
        data_dir=data, embed__mode="openai", embed__base_url=server.url, embed__model="other-embed"
    )
    with pytest.raises(
        QAError, match=r"built with embedder fake-embed \(openai, dim 256\).*other-embed"
    ) as info:
        build_answerer(other)
    assert "QA_EMBED_MODE=openai with QA_EMBED_MODEL=fake-embed" in str(info.value)
    with pytest.raises(QAError, match="--data-dir"):
        run_index(other, [tmp_path / "seeds"])
    with pytest.raises(QAError, match=r"fake-embed.*hash-bow \(fake, dim 256\)"):
        build_answerer(load_settings(data_dir=data), embedder=HashEmbedder())


def test_an_index_without_a_record_adopts_the_first_writer(fake_embedder, tmp_path: Path) -> None:
    from index.indexer import Indexer

    data = tmp_path / "data"
    store = Store.open(data)
    Indexer(store, fake_embedder).run([_seeds_copy(tmp_path)])  # as before records existed
    assert recorded_embedder(store) is None
    fake = EmbedderRecord("fake", "hash-bow", 256)
    check_embedder(store, fake)  # reading an unrecorded index is allowed, and records nothing
    assert recorded_embedder(store) is None
    with pytest.raises(QAError, match="holds 256-dimensional vectors"):
        build_answerer(load_settings(data_dir=data), embedder=HashEmbedder(dim=64))
    run_index(load_settings(data_dir=data), [tmp_path / "seeds"], fake_embedder)
    assert recorded_embedder(store) == fake
    assert build_answerer(load_settings(data_dir=data), embedder=fake_embedder).retriever.passages(
        "checkpoints in Aleppo"
    )
    store.close()


def test_an_empty_index_takes_the_current_embedder(fake_embedder, tmp_path: Path) -> None:
    store = Store.open(tmp_path / "data")
    check_embedder(store, EmbedderRecord("openai", "gone", 768), write=True)
    new = EmbedderRecord("fake", "hash-bow", 256)
    check_embedder(store, new, write=True)  # nothing written with the old one: no conflict
    assert recorded_embedder(store) == new
    store.close()


# -- a real server: llama-cpp-python serving the packaged GGUF's embeddings --------------------

REAL_ALIAS = "qwen-embed"
DOCS = {
    "checkpoints.txt": "Seven checkpoints were set up in western Aleppo on Tuesday.",
    "bread.txt": "The price of bread rose in Paris this winter.",
    "comet.txt": "A comet passed close to the Earth in March.",
}


@pytest.fixture(scope="module")
def embed_server(tmp_path_factory) -> Iterator[str]:
    import os
    import subprocess
    import sys
    import urllib.request

    from qa.gguf import packaged_model
    from tests.netutil import stop

    model = packaged_model(load_settings().model_cache)
    port = free_port()
    log_path = tmp_path_factory.mktemp("embed-server") / "server.log"
    env = {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT", "CONFIG_FILE", "MODEL")}
    cmd = [
        sys.executable, "-m", "qa.llm_server", "--model", str(model),
        "--model_alias", REAL_ALIAS, "--embedding", "true",
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024", "--n_threads", "2",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    base_url = f"http://127.0.0.1:{port}/v1"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"llama_cpp.server exited: {log_path.read_text(errors='replace')[-2000:]}"
                )
            try:
                opener.open(f"{base_url}/models", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"llama_cpp.server not up: {log_path.read_text(errors='replace')[-2000:]}"
                    )
                time.sleep(0.5)
        yield base_url
    finally:
        stop(proc)


@pytest.mark.real
def test_real_server_indexes_and_answers_and_guards_its_index(embed_server, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    data = tmp_path / "data"
    # llama-cpp-python 0.3.36 mixes up the per-token vectors of all but the first text of a
    # request when the model has no pooling, so this server gets one text per request.
    settings = load_settings(
        data_dir=data,
        embed__mode="openai",
        embed__base_url=embed_server,
        embed__model=REAL_ALIAS,
        embed__batch=1,
        embed__concurrency=2,
    )
    report = run_index(settings, [docs])
    assert report.total_chunks == 3
    store = Store.open(data)
    assert recorded_embedder(store) == EmbedderRecord("openai", REAL_ALIAS, 1536)
    store.close()

    emb = open_embedder(settings)
    same = emb.embed([DOCS["bread.txt"], DOCS["bread.txt"]])  # two requests in flight
    assert abs(float(same[0] @ same[1]) - 1.0) < 1e-3  # deterministic, unit length

    retriever = build_answerer(settings).retriever
    passages = retriever.passages("How many checkpoints were set up in western Aleppo?", k=1)
    assert passages[0].doc_id == "docs/checkpoints.txt", passages
    assert passages[0].text in DOCS["checkpoints.txt"]

    with pytest.raises(QAError, match=r"built with embedder qwen-embed \(openai, dim 1536\)"):
        build_answerer(load_settings(data_dir=data))  # the packaged local MiniLM, dim 384


def test_an_index_of_one_minilm_variant_names_the_setting_that_reads_it(tmp_path: Path) -> None:
    """The two ways the packaged MiniLM runs give other vectors: an index built with the
    int8 build (QA_EMBED_INT8=dynamic) is refused by the default, with the setting that
    reads it, and the other way round."""

    class Shipped(HashEmbedder):
        name = "all-MiniLM-L6-v2-int8"

    class Dynamic(HashEmbedder):
        name = "all-MiniLM-L6-v2-int8-dq"

    for built, other, setting in (
        (Dynamic, Shipped, "QA_EMBED_INT8=dynamic"),
        (Shipped, Dynamic, "QA_EMBED_INT8=weights"),
    ):
        data = tmp_path / built.name
        settings = load_settings(data_dir=data)
        run_index(settings, [_seeds_copy(data)], built(dim=384))
        store = Store.open(data)
        assert recorded_embedder(store) == EmbedderRecord("local", built.name, 384)
        store.close()
        with pytest.raises(QAError, match=rf"{built.name} \(local, dim 384\)") as info:
            build_answerer(settings, embedder=other(dim=384))
        assert f"QA_EMBED_MODE=local with {setting}" in str(info.value)
        assert build_answerer(settings, embedder=built(dim=384)).retriever.passages("Aleppo")
