"""Generators: one small protocol, two real backends (local llama.cpp, OpenAI-compatible);
the fake one for tests lives in :mod:`qa.testing`."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from qa import llama_prefix
from qa.errors import ModelError
from qa.settings import Settings

log = logging.getLogger(__name__)

Message = dict[str, str]


class Generator(Protocol):
    name: str

    def stream(self, messages: Sequence[Message], max_tokens: int | None = None) -> Iterator[str]:
        """Pieces of the reply, in order."""
        ...

    def count_tokens(self, text: str) -> int: ...


_LOG_CALLBACK: Any = None
_GGML_ERROR = 4  # ggml_log_level: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5


class _KeepStreams:
    """Stands in for llama-cpp-python's ``suppress_stdout_stderr``; see :func:`_no_fd_redirection`."""

    def __init__(self, disable: bool = True) -> None:
        pass

    def __enter__(self) -> _KeepStreams:
        return self

    def __exit__(self, *_: object) -> None:
        return None


def _no_fd_redirection() -> None:
    """Keep llama-cpp-python from pointing file descriptors 1 and 2 at /dev/null while it loads,
    and send llama.cpp's own log to :mod:`logging` instead.

    With ``verbose=False`` it silences llama.cpp by ``dup2``-ing the process's stdout and
    stderr to /dev/null around the model load. That is process-wide: while the model loads in
    the background (``LazyGenerator.preload``), everything the main thread prints, an error
    message included, would be lost. llama.cpp's own log goes through the log callback, which
    ``verbose=False`` already limits to errors, so nothing needs redirecting.
    """
    global _LOG_CALLBACK
    import ctypes

    import llama_cpp
    from llama_cpp import _internals
    from llama_cpp import llama as llama_module

    for module in (llama_module, _internals):
        if getattr(module, "suppress_stdout_stderr", None) is not _KeepStreams:
            module.suppress_stdout_stderr = _KeepStreams  # type: ignore[attr-defined,misc]
    if _LOG_CALLBACK is None:
        # llama.cpp's log goes to our logger (errors as errors, the rest at debug), never
        # straight to stderr. The callback object is kept so ctypes never frees it.
        @llama_cpp.llama_log_callback  # type: ignore[misc]
        def forward(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            line = text.decode("utf-8", "replace").rstrip()
            if line:
                log.log(
                    logging.ERROR if level == _GGML_ERROR else logging.DEBUG, "llama.cpp %s", line
                )

        _LOG_CALLBACK = forward
        llama_cpp.llama_log_set(forward, ctypes.c_void_p(0))


def cpu_has_amx(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU has AMX tiles (Sapphire Rapids and later), from ``cpuinfo``'s flags;
    False where there is no such file."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return "amx_tile" in line.split()
    except OSError:
        pass
    return False


def repack_enabled(mode: str) -> bool:
    """Whether llama.cpp may use its extra CPU buffer types, for QA_LLM_REPACK ``mode``:
    on or off as told; auto is on unless the CPU has AMX (llama.cpp #20824)."""
    return {"on": True, "off": False}.get(mode, not cpu_has_amx())


_PARAMS_LOCK = threading.Lock()


@contextmanager
def _extra_buffers(enabled: bool) -> Iterator[None]:
    """Build a ``Llama`` with llama.cpp's extra buffer types on or off. llama-cpp-python takes
    no argument for ``use_extra_bufts``; its constructor reads the defaults from
    ``llama_model_default_params``, so those are wrapped while one model loads."""
    if enabled:
        yield
        return
    import llama_cpp.llama as binding

    with _PARAMS_LOCK:
        default = binding.llama_cpp.llama_model_default_params

        def params() -> Any:
            p = default()
            p.use_extra_bufts = False
            return p

        binding.llama_cpp.llama_model_default_params = params
        try:
            yield
        finally:
            binding.llama_cpp.llama_model_default_params = default


class LocalGenerator:
    """llama.cpp in this process. Greedy by default; one request at a time."""

    def __init__(
        self,
        model_path: str,
        n_ctx: int,
        threads: int,
        temperature: float,
        max_tokens: int,
        prompt_lookup: int = 0,
        batch: int = 512,
        repack: bool = True,
    ) -> None:
        """``batch``: prompt tokens llama.cpp processes per call (n_batch). ``repack``: let
        llama.cpp use its extra CPU buffer types (QA_LLM_REPACK)."""
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise ModelError(
                "llama-cpp-python is not installed. Install it with `pip install 'qa[local]'` "
                "(or `make install`), or set QA_LLM_MODE=openai to use a server."
            ) from exc
        if not os.path.exists(model_path):
            raise ModelError(f"No model file at {model_path}. Fix QA_LLM_MODEL_PATH or unset it.")
        _no_fd_redirection()
        draft: dict[str, Any] = {}
        if prompt_lookup:
            # Prompt-lookup decoding drafts the next tokens from n-grams of the prompt; greedy
            # output is unchanged. It makes llama.cpp keep logits for every prompt token.
            from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

            draft["draft_model"] = LlamaPromptLookupDecoding(num_pred_tokens=prompt_lookup)
            draft["logits_all"] = True  # llama-cpp-python sizes its logits buffer by this flag
        try:
            with _extra_buffers(repack):
                self._llm = Llama(
                    model_path=model_path,
                    n_ctx=n_ctx,
                    n_threads=threads or (os.cpu_count() or 1),
                    n_batch=batch,
                    verbose=False,
                    seed=0,
                    **draft,
                )
        except Exception as exc:
            raise ModelError(
                f"Could not load the model {model_path} ({exc}). Check QA_LLM_MODEL_PATH points to a valid GGUF file."
            ) from exc
        self.name = os.path.basename(model_path)
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.prefix_state = "none"  # what warm() did: restored, computed or none
        self.held = llama_prefix.HeldStates()  # the fixed starts of prompts (see stream)
        self._fixed: dict[tuple[tuple[str, str], ...], list[int]] = {}  # their tokens
        self.fixed_state = "none"  # what the last prompt's fixed start was: held, restored, ...
        self.temperature = temperature
        self.max_tokens = max_tokens
        self._lock = threading.Lock()

    def warm(self, messages: Sequence[Message], cache_dir: Path) -> str:
        """Hold the state after ``messages`` (the fixed prompt prefix), restored from
        ``cache_dir`` when a previous process saved it; see :mod:`qa.llama_prefix`."""
        with self._lock:
            tokens = llama_prefix.prefix_tokens(self._llm, messages)
            self.prefix_state = llama_prefix.warm(
                self._llm, self.model_path, self.n_ctx, tokens, cache_dir
            )
        return self.prefix_state

    def llama(self) -> Any:
        """The loaded ``llama_cpp.Llama`` (the judge runs a context of its own over it)."""
        return self._llm

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def stream(self, messages: Sequence[Message], max_tokens: int | None = None) -> Iterator[str]:
        with self._lock:
            if len(messages) > 1:
                # Every message but the last is a fixed start (the prefix, a worked example):
                # held in memory, it is not processed again after a prompt of another start.
                key = tuple((m["role"], m["content"]) for m in messages[:-1])
                if key not in self._fixed:
                    if len(self._fixed) >= 8:
                        self._fixed.clear()
                    self._fixed[key] = llama_prefix.prefix_tokens(self._llm, messages[:-1])
                fixed = self._fixed[key]
                if fixed:
                    self.fixed_state = self.held.reach(self._llm, fixed)
            chunks: Any = self._llm.create_chat_completion(
                messages=list(messages),  # type: ignore[arg-type]
                temperature=self.temperature,
                max_tokens=max_tokens or self.max_tokens,
                stream=True,
            )
            for chunk in chunks:
                piece = chunk["choices"][0].get("delta", {}).get("content")
                if piece:
                    yield str(piece)


class OpenAIGenerator:
    """Any OpenAI-compatible chat server: vLLM, llama.cpp server, Ollama, OpenAI."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str,
        temperature: float,
        max_tokens: int,
        timeout: float,
        chars_per_token: int = 4,
    ) -> None:
        """``chars_per_token``: how :meth:`count_tokens` estimates (servers do not share
        their tokenizer)."""
        try:
            import openai
        except ImportError as exc:
            raise ModelError(
                "The openai package is missing. Install it with `pip install 'qa[openai]'`."
            ) from exc
        self._openai = openai
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "none", timeout=timeout, max_retries=0
        )
        self.name = model
        self.base_url = base_url
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.chars_per_token = chars_per_token

    def chat_client(self) -> Any:
        """The ``openai.OpenAI`` client (the judge asks its yes/no questions through it)."""
        return self._client

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // self.chars_per_token)  # an estimate

    def stream(self, messages: Sequence[Message], max_tokens: int | None = None) -> Iterator[str]:
        try:
            response: Any = self._client.chat.completions.create(
                model=self.name,
                messages=list(messages),  # type: ignore[arg-type]
                temperature=self.temperature,
                max_tokens=max_tokens or self.max_tokens,
                stream=True,
            )
            for chunk in response:
                if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except self._openai.APIConnectionError as exc:
            raise ModelError(
                f"Cannot reach the LLM server at {self.base_url}. Start it, or fix QA_LLM_BASE_URL."
            ) from exc
        except self._openai.APIStatusError as exc:
            raise ModelError(
                f"The LLM server at {self.base_url} answered {exc.status_code}: {exc.message}. "
                "Check QA_LLM_MODEL and QA_LLM_API_KEY."
            ) from exc


def make_generator(settings: Settings) -> Generator:
    llm = settings.llm
    if llm.mode == "fake":
        from qa.testing import FakeGenerator  # end-to-end tests drive the real CLI with it

        return FakeGenerator()
    if llm.mode == "openai":
        return OpenAIGenerator(
            llm.base_url, llm.model, llm.api_key, llm.temperature, llm.max_tokens, llm.timeout_s
        )
    if llm.mode == "local":
        if llm.model_path:
            path = str(llm.model_path)
        else:
            from qa.gguf import packaged_model

            path = str(packaged_model(settings.model_cache))
        return LocalGenerator(
            path,
            llm.n_ctx,
            llm.threads,
            llm.temperature,
            llm.max_tokens,
            llm.prompt_lookup,
            repack=repack_enabled(llm.repack),
        )
    raise ModelError(f"Unknown QA_LLM_MODE {llm.mode!r}: use local, openai or fake.")
