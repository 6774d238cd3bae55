"""The fixed prompt prefix's llama.cpp state, kept on disk so a new process skips processing it.

Every prompt starts with the same system rules and worked example (``qa.prompts.EXAMPLE``).
Processing those tokens costs about two seconds on two cores, on every cold start. Instead
the KV-cache state right after them is saved once to ``<cache>/prefix-<key>.state`` and
restored in milliseconds. The key hashes what the state depends on: the model file, the
context size, the llama.cpp build and the prefix tokens themselves, so a changed model or
prompt simply writes a new file (older ones for the same model are removed). Files are written
to a temporary name and renamed, so a reader never sees half a state.

This works on llama-cpp-python's ``Llama`` object: after a restore its ``input_ids`` and
``n_tokens`` name the prefix, and its own prefix matching then reuses the cache for every
prompt that starts with it. ``Llama.save_state`` is not used because it also copies the
Python-side logits buffer (hundreds of MB); the llama.cpp state alone is a few MB.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_MAGIC = b"QAPFX1"


def chat_tokens(
    llm: Any, messages: Sequence[dict[str, str]], add_generation_prompt: bool = True
) -> list[int]:
    """``messages`` as the model's chat template renders them, tokenized."""
    from llama_cpp import llama_chat_format

    template = (getattr(llm, "metadata", None) or {}).get("tokenizer.chat_template")
    if not template:
        text = "".join(f"{m['role']}: {m['content']}\n" for m in messages)
        return list(llm.tokenize(text.encode("utf-8"), add_bos=True, special=True))
    eos, bos = llm.token_eos(), llm.token_bos()
    formatter = llama_chat_format.Jinja2ChatFormatter(
        template=template,
        eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
        bos_token=llm._model.token_get_text(bos) if bos != -1 else "",
        stop_token_ids=[eos],
        add_generation_prompt=add_generation_prompt,
    )
    result = formatter(messages=list(messages))  # type: ignore[arg-type]
    return list(
        llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
    )


def prefix_tokens(llm: Any, messages: Sequence[dict[str, str]]) -> list[int]:
    """The tokens every prompt that starts with ``messages`` shares, as the chat template renders them.

    The template is applied to the messages followed by two different user turns; the common
    start of both token lists is the part that never changes.
    """
    if not (getattr(llm, "metadata", None) or {}).get("tokenizer.chat_template"):
        return []
    a = chat_tokens(llm, [*messages, {"role": "user", "content": "alpha"}])
    b = chat_tokens(llm, [*messages, {"role": "user", "content": "omega 7"}])
    return a[: common_length(a, b)]


def common_length(a: Sequence[int], b: Sequence[int]) -> int:
    """How many tokens ``a`` and ``b`` share at their start."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def state_key(model_path: str, n_ctx: int, tokens: Sequence[int]) -> str:
    import llama_cpp

    st = os.stat(model_path)
    h = hashlib.sha256()
    h.update(f"{os.path.abspath(model_path)}|{st.st_size}|{st.st_mtime_ns}|{n_ctx}|".encode())
    h.update(f"{getattr(llama_cpp, '__version__', '?')}|".encode())
    h.update(struct.pack(f"<{len(tokens)}i", *tokens))
    return h.hexdigest()[:24]


def _model_tag(model_path: str) -> str:
    return hashlib.sha256(os.path.abspath(model_path).encode()).hexdigest()[:8]


def warm(llm: Any, model_path: str, n_ctx: int, tokens: Sequence[int], cache_dir: Path) -> str:
    """Leave ``llm`` holding the prefix's state: restored from disk, or computed and saved.

    Returns what happened: ``"restored"``, ``"computed"`` (and saved), or ``"none"`` (no prefix).
    A state file that fails to restore is treated as missing and rewritten.
    """

    def evaluate(toks: list[int]) -> None:
        llm.reset()
        llm.eval(toks)

    result = warm_context(
        llm._ctx.ctx, model_path, n_ctx, tokens, cache_dir, evaluate, reset=llm.reset
    )
    if result == "restored":
        _hold_tokens(llm, tokens)
    return result


def warm_context(
    ctx: Any,
    model_path: str,
    n_ctx: int,
    tokens: Sequence[int],
    cache_dir: Path,
    evaluate: Any,
    kind: str = "prefix",
    reset: Any = None,
) -> str:
    """Leave the llama.cpp context ``ctx`` holding the state after ``tokens``: restored from
    ``<cache_dir>/<kind>-<model>-<key>.state``, or computed by ``evaluate(tokens)`` and saved.
    ``kind`` keeps the states of different prompts (the answer prefix, the judge's) apart."""
    if not tokens:
        return "none"
    key = state_key(model_path, n_ctx, tokens)
    tag = _model_tag(model_path)
    path = cache_dir / f"{kind}-{tag}-{key}.state"
    if path.exists():
        try:
            _restore(ctx, path, tokens)
            return "restored"
        except Exception as exc:  # a truncated or foreign file: rebuild it
            log.warning("prefix state unusable path=%s reason=%r; rebuilding", path, str(exc))
            if reset is not None:
                reset()
    evaluate(list(tokens))
    try:
        _save(ctx, path, tokens)
    except OSError as exc:  # a read-only cache costs speed, never the answer
        log.warning("prefix state not saved path=%s reason=%r", path, str(exc))
        return "computed"
    for old in cache_dir.glob(f"{kind}-{tag}-*.state"):
        if old != path:
            old.unlink(missing_ok=True)
    return "computed"


def _save(ctx: Any, path: Path, tokens: Sequence[int]) -> None:
    state = state_bytes(ctx)
    n = len(state)
    header = _MAGIC + struct.pack("<II", len(tokens), n)
    body = struct.pack(f"<{len(tokens)}i", *tokens)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(header)
        fh.write(body)
        fh.write(state)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _restore(ctx: Any, path: Path, tokens: Sequence[int]) -> None:
    data = path.read_bytes()
    head = len(_MAGIC) + 8
    if data[: len(_MAGIC)] != _MAGIC:
        raise ValueError("not a qa prefix state")
    n_tok, n_state = struct.unpack("<II", data[len(_MAGIC) : head])
    saved = list(struct.unpack(f"<{n_tok}i", data[head : head + 4 * n_tok]))
    state = data[head + 4 * n_tok :]
    if saved != list(tokens) or len(state) != n_state:
        raise ValueError("the state does not match the prefix")
    set_state_bytes(ctx, state)


def state_bytes(ctx: Any) -> bytes:
    """The llama.cpp context's state (its KV cache), as bytes."""
    import llama_cpp

    size = int(llama_cpp.llama_state_get_size(ctx))
    buf = (ctypes.c_uint8 * size)()
    n = int(llama_cpp.llama_state_get_data(ctx, buf, size))
    if n <= 0 or n > size:
        raise OSError("llama.cpp returned no state")
    return bytes(memoryview(buf)[:n])


def set_state_bytes(ctx: Any, state: bytes) -> None:
    import llama_cpp

    buf = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
    if int(llama_cpp.llama_state_set_data(ctx, buf, len(state))) != len(state):
        raise ValueError("llama.cpp refused the state")


class HeldStates:
    """States of fixed prompt starts kept in memory, so a prompt that llama.cpp's own prefix
    matching cannot reuse (it only compares with the prompt before) skips its fixed part.

    The follow-up rewrite's prompt is the answer prefix, then a worked rewrite, then the
    conversation. Between two rewrites the model answers, so the worked rewrite's tokens were
    processed again for every follow-up (4 s on a 2-core host). :meth:`reach` leaves the model
    holding the state after a fixed start: already there, restored from memory, or computed
    once and kept. At most ``most`` states and ``max_bytes`` of them are kept (a state is
    about 28 KB a token with the packaged model), the least recently used dropped first."""

    def __init__(self, most: int = 4, max_bytes: int = 96 * 2**20) -> None:
        self.most = most
        self.max_bytes = max_bytes
        self._states: dict[tuple[int, ...], bytes] = {}

    @property
    def size(self) -> int:
        """Bytes of the states kept."""
        return sum(len(s) for s in self._states.values())

    def reach(self, llm: Any, tokens: Sequence[int]) -> str:
        """Leave ``llm`` holding the state after ``tokens``; returns ``"held"`` (its cache
        already starts with them), ``"restored"``, ``"computed"`` (from the part its cache
        shares with them), or ``"skipped"`` (it shares nothing, and nothing is kept).
        A new process's first prompt is so processed as before: computing its start apart
        would split it into other batches, and that can tip a near tie of greedy decoding."""
        key = tuple(tokens)
        shared = common_length(list(llm.input_ids[: llm.n_tokens]), key)
        if shared == len(key):
            return "held"
        state = self._states.pop(key, None)
        if state is not None:
            try:
                set_state_bytes(llm._ctx.ctx, state)
            except ValueError as exc:  # never trusted: computed again below
                log.warning("held state unusable reason=%r; computing it", str(exc))
            else:
                self._states[key] = state  # the most recently used last
                _hold_tokens(llm, key)
                return "restored"
            llm.reset()
            shared = 0
        if shared == 0:
            # Nothing to build on (a new process's first prompt): llama.cpp processes the
            # prompt whole, as it would without this, and the start is held the next time.
            return "skipped"
        llm.n_tokens = shared  # eval() drops the cache after it, then goes on from there
        llm.eval(list(key[shared:]))
        self._states[key] = state_bytes(llm._ctx.ctx)
        while len(self._states) > self.most or (
            len(self._states) > 1 and self.size > self.max_bytes
        ):
            self._states.pop(next(iter(self._states)))
        if self.size > self.max_bytes:  # one state alone over the limit is not kept
            self._states.clear()
        return "computed"


def _hold_tokens(llm: Any, tokens: Sequence[int]) -> None:
    """Tell llama-cpp-python's ``Llama`` that its context now holds ``tokens``."""
    import numpy as np

    llm.input_ids[: len(tokens)] = np.asarray(list(tokens), dtype=np.intc)
    llm.n_tokens = len(tokens)
    # The logits in memory belong to the restored state, not a live decode: the next
    # prompt evaluates at least one token before sampling.
    llm._requires_eval = True
