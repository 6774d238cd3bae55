"""qa's generator as a llama-index LLM."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from pydantic import Field, PrivateAttr

from qa.generator import Generator


class QALLM(CustomLLM):
    """qa's generator (the packaged local model, its OpenAI-compatible client, or the fake)
    as a llama-index LLM: chat messages go to it as they are, a completion as one user
    message."""

    context_window: int = Field(4096, description="Tokens the model reads and writes at most.")
    num_output: int = Field(160, description="Most tokens in one reply.")
    _generator: Any = PrivateAttr()

    def __init__(self, generator: Generator, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._generator = generator

    @classmethod
    def from_settings(cls, settings: Any) -> QALLM:
        """The generator ``settings.llm`` names, loaded on first use."""
        from qa.service import LazyGenerator

        llm = settings.llm
        return cls(LazyGenerator(settings), context_window=llm.n_ctx, num_output=llm.max_tokens)

    @classmethod
    def class_name(cls) -> str:
        return "QALLM"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.num_output,
            is_chat_model=True,
            model_name=str(getattr(self._generator, "name", "qa")),
        )

    def _deltas(self, messages: Sequence[ChatMessage]) -> Iterator[str]:
        turns = [{"role": m.role.value, "content": m.content or ""} for m in messages]
        return self._generator.stream(turns, self.num_output)

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        text = "".join(self._deltas(messages))
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        def gen() -> ChatResponseGen:
            text = ""
            for piece in self._deltas(messages):
                text += piece
                message = ChatMessage(role=MessageRole.ASSISTANT, content=text)
                yield ChatResponse(message=message, delta=piece)

        return gen()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        text = "".join(self._deltas([ChatMessage(role=MessageRole.USER, content=prompt)]))
        return CompletionResponse(text=text)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        def gen() -> CompletionResponseGen:
            text = ""
            for piece in self._deltas([ChatMessage(role=MessageRole.USER, content=prompt)]):
                text += piece
                yield CompletionResponse(text=text, delta=piece)

        return gen()
