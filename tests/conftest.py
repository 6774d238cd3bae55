"""Shared fixtures. Every test runs with a socket guard: any connection that leaves the
machine fails, so a hidden download or telemetry call breaks the suite instead of hanging."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["NO_PROXY"] = "127.0.0.1,localhost," + os.environ.get("NO_PROXY", "")
os.environ["no_proxy"] = os.environ["NO_PROXY"]
for var in ("TIKTOKEN_CACHE_DIR", "NLTK_DATA"):
    os.environ.pop(var, None)


class NetworkBlocked(RuntimeError):
    pass


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _check(address: object) -> None:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        if host in ("localhost", ""):
            return
        try:
            if ipaddress.ip_address(host.split("%")[0]).is_loopback:
                return
        except ValueError:
            pass
        raise NetworkBlocked(f"test tried to reach {address!r}; tests must stay offline")


def _guarded_connect(self: socket.socket, address: object) -> None:
    _check(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    _check(address)
    return _real_connect_ex(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


@pytest.fixture
def seeds_dir(tmp_path: Path) -> Path:
    """A private copy of seeds/ that a test may edit."""
    dst = tmp_path / "seeds"
    shutil.copytree(SEEDS, dst)
    return dst


@pytest.fixture
def fake_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake models for commands run in-process, and no QA_* setting of the person running the
    tests leaks in."""
    for key in list(os.environ):
        if key.startswith("QA_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("QA_EMBED_MODE", "fake")
    monkeypatch.setenv("QA_LLM_MODE", "fake")


@pytest.fixture
def fake_embedder():
    from qa.testing import HashEmbedder

    return HashEmbedder()


@pytest.fixture(scope="session")
def real_embedder():
    from index.embedder import MiniLMEmbedder

    return MiniLMEmbedder()


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """Where Chroma keeps its files: tmpfs when there is one (the same behaviour, and no
    waiting on a disk that other jobs keep busy), else the test's tmp_path."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path / "data"
        return
    folder = Path(tempfile.mkdtemp(prefix="qa-test-", dir=shm))
    try:
        yield folder / "data"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def store(data_dir: Path):
    from index.store import Store

    s = Store.open(data_dir)
    yield s
    s.close()


# The answerer over a fresh index of seeds/ with the fake models (FakeGenerator ``gen`` to
# enqueue replies on); a test module may override any of these.
@pytest.fixture
def settings(data_dir: Path):
    from qa.settings import load_settings

    return load_settings(data_dir=data_dir, embed__mode="fake", llm__mode="fake")


@pytest.fixture
def indexed(settings, seeds_dir, fake_embedder):
    from qa.service import run_index

    run_index(settings, [seeds_dir], fake_embedder)
    return seeds_dir


@pytest.fixture
def gen():
    from qa.testing import FakeGenerator

    return FakeGenerator()


@pytest.fixture
def answerer(settings, indexed, fake_embedder, gen):
    from qa.service import build_answerer

    return build_answerer(settings, embedder=fake_embedder, generator=gen)
