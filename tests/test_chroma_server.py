"""The store against a real Chroma server (`chroma run`) on loopback, and a clear error without one."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from index.indexer import Indexer
from index.store import Store, StoreError
from tests.netutil import free_port, stop

CHROMA = Path(sys.executable).parent / "chroma"
HOST = "127.0.0.1"


def _heartbeat(port: int) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        with opener.open(f"http://{HOST}:{port}/api/v2/heartbeat", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


START_S = 120  # the longest wait for `chroma run` to answer


@pytest.fixture(scope="module")
def chroma_port(tmp_path_factory) -> Iterator[int]:
    if not CHROMA.exists():
        pytest.skip(f"chromadb's `chroma` command is not at {CHROMA}")
    folder = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    log = (folder / "server.log").open("w")
    server = subprocess.Popen(
        [str(CHROMA), "run", "--path", str(folder / "db"), "--host", HOST, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # Starting the server imports all of chromadb: on 2 busy cores that took over 30 s.
        deadline = time.monotonic() + START_S
        while not _heartbeat(port):
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                tail = (folder / "server.log").read_text()[-2000:]
                pytest.fail(f"`chroma run` did not answer on port {port}:\n{tail}")
            time.sleep(0.1)
        yield port
    finally:
        stop(server, timeout=10)
        log.close()


def test_index_and_query_through_a_server(
    chroma_port: int, seeds_dir: Path, tmp_path: Path, fake_embedder
) -> None:
    data = tmp_path / "data"
    store = Store.open(data, host=HOST, port=chroma_port, prefix="srv-seeds")
    assert store.remote
    report = Indexer(store, fake_embedder).run([seeds_dir])
    assert report.added == 5 and report.chunks_written == store.count_chunks() > 0
    assert not (data / "chroma").exists()  # nothing was stored locally

    committed = store.committed()
    assert sum(r.chunks for r in committed.values()) == store.count_chunks()
    hits = store.query(
        fake_embedder.embed(["Vitaly Churkin envoy tactical tricks"])[0], 2, committed
    )
    assert hits[0].chunk.doc_id == "seeds/004_2498656e7b287085.txt"

    # A second client sees the vectors at once (no in-process cache as with the embedded store).
    other = Store.open(data, host=HOST, port=chroma_port, prefix="srv-seeds")
    assert other.count_chunks() == store.count_chunks()
    again = other.query(
        fake_embedder.embed(["Vitaly Churkin envoy tactical tricks"])[0], 2, other.committed()
    )
    assert [h.chunk.chunk_id for h in again] == [h.chunk.chunk_id for h in hits]

    gen = store.generation()
    report = Indexer(other, fake_embedder).run([seeds_dir])
    assert (report.unchanged, report.chunks_written) == (5, 0) and store.generation() == gen


def test_a_server_that_is_down_gives_a_store_error(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(StoreError) as err:
        Store.open(tmp_path, host=HOST, port=port)
    msg = str(err.value)
    assert f"Cannot reach the Chroma server at {HOST}:{port}" in msg
    assert f"chroma run --host {HOST} --port {port}" in msg and "QA_CHROMA_HOST" in msg
