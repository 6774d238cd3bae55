"""The entailment judge: does this passage state this claim?

Word overlap and embedding cosine cannot see negation ("declined to comment" vs "confirmed"),
a number attached to another quantity (the 45 who *signed* as the 120 who came), a swapped
speaker, or an option the document never names. No entailment or cross-encoder model ships
its weights in a package we can install, so the judge asks the generator's own model one
yes/no question per (passage, claim) and reads the probability of "yes" from the logits of
its first answer token: one forward pass over the passage and the claim, no sampling.

The local backend runs on a llama.cpp context of its own over the *same* loaded model (the
weights are shared; the context's KV cache costs a few MB), so judging never disturbs the
answer prompt's cached prefix. Its own fixed prefix (the rules and worked examples below) is
processed once per process, and the passage's tokens are reused for every claim that cites
the same passage, since the passage comes before the claim.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from qa import prompts
from qa.judge_probe import ModelKey, Probe, matching
from qa.judge_probe import packaged as packaged_probe
from qa.llama_prefix import chat_tokens, common_length, warm_context

log = logging.getLogger(__name__)

# The judge's prompt is two package files (qa/prompt_files/, replaceable by QA_PROMPTS_DIR):
# its rules, and worked examples over invented documents (none of the corpora qa is measured
# on), each a rendered user turn and the verdict.
SYSTEM_FILE = "judge_system.txt"
EXAMPLES_FILE = "judge_examples.txt"


@dataclass(frozen=True)
class Claim:
    """One question for the judge: does ``passage`` state ``claim``?

    ``answers``: the claim is a whole answer put to its question ("does this sentence answer
    the question asked?"), not a sentence of an answer or a short answer with its question.
    The probe was not trained on those, so they get the plain P(yes), for which the
    thresholds that use it (QA_CHECK_EXTRACT_MIN) were chosen on the development suite."""

    passage: str
    claim: str
    answers: bool = False


class Judge(Protocol):
    name: str

    def score(self, items: Sequence[Claim]) -> list[float]:
        """For each item, the probability that its passage states its claim."""
        ...


def judge_messages(item: Claim | None = None) -> list[dict[str, str]]:
    """The chat messages for ``item``: the fixed prefix (rules and examples), then the item."""
    messages = [{"role": "system", "content": prompts.load(SYSTEM_FILE)}]
    messages += [{"role": role, "content": text} for role, text in prompts.turns(EXAMPLES_FILE)]
    if item is not None:
        messages.append({"role": "user", "content": _user(item.passage, item.claim)})
    return messages


def _user(passage: str, claim: str) -> str:
    passage = " ".join(passage.split())
    claim = " ".join(claim.split())
    return f"Passage: {passage}\nClaim: {claim}\nDoes the passage state the claim?"


def _yes_probability(logits: Any, yes: Sequence[int], no: Sequence[int]) -> float:
    """P(yes) against P(no) from the first answer token's logits (other tokens ignored)."""
    ly = _logsumexp([logits[t] for t in yes])
    ln = _logsumexp([logits[t] for t in no])
    return 1.0 / (1.0 + math.exp(ln - ly))


def _logsumexp(values: Sequence[float]) -> float:
    m = max(values)
    return m + math.log(sum(math.exp(v - m) for v in values))


class LlamaJudge:
    """The judge on a llama.cpp context of its own over the generator's loaded model.

    ``model`` returns the loaded ``llama_cpp.Llama`` (so a lazily loaded generator loads on
    the first judgement, not at start-up). ``probe``: a linear probe on the model's last hidden
    state (:mod:`qa.judge_probe`): when it was trained for this model and prompt, a claim's
    score is the lower of the plain P(yes) and the probe's (a whole answer put to its
    question keeps the plain P(yes), see :class:`Claim`).
    """

    name = "llama"

    def __init__(
        self,
        model: Callable[[], Any],
        n_ctx: int = 1536,
        threads: int = 0,
        cache_dir: str | None = None,
        batch: int = 512,
        reserve: int = 8,
        probe: Probe | None = None,
        hidden: bool = False,
    ) -> None:
        self._model = model
        self._probe_file = probe
        self._hidden = hidden  # keep hidden states for features() (training a probe)
        self.probe: Probe | None = None  # the probe in use, once the model is open
        self._cache_dir = cache_dir
        self._n_ctx = n_ctx  # QA_CHECK_JUDGE_CTX
        self._threads = threads
        self._batch_size = batch  # tokens decoded per llama.cpp call
        self._reserve = reserve  # context tokens left free when a long passage is cut
        self._lock = threading.Lock()
        self._ctx: Any = None
        self._batch: Any = None
        self._llm: Any = None
        self._tokens: list[int] = []  # what the context's KV cache holds, in order
        self._yes: list[int] = []
        self._no: list[int] = []
        self._prefix: list[int] = []

    def _open(self) -> None:
        import os

        import llama_cpp
        from llama_cpp import _internals

        llm = self._model()
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = self._n_ctx
        params.n_batch = self._batch_size
        params.n_ubatch = self._batch_size
        threads = self._threads or (os.cpu_count() or 1)
        params.n_threads = threads
        params.n_threads_batch = threads
        params.no_perf = True
        self._ctx = _internals.LlamaContext(model=llm._model, params=params, verbose=False)
        self._batch = _internals.LlamaBatch(
            n_tokens=self._batch_size, embd=0, n_seq_max=1, verbose=False
        )
        self._llm = llm
        self._yes = _word_tokens(llm, ("Yes", "yes", " Yes", " yes", "YES"))
        self._no = _word_tokens(llm, ("No", "no", " No", " no", "NO"))
        if not self._yes or not self._no:
            raise RuntimeError("the model's vocabulary has no single-token Yes/No")
        # The prefix: everything before the first item's passage (the template's fixed part).
        a = self._prompt_tokens(Claim("alpha", "beta"))
        self._prefix = a[: common_length(a, self._prompt_tokens(Claim("omega 7", "x")))]
        self.probe = matching(self._probe_file, ModelKey.of(llm, self._prefix))
        if self.probe is not None or self._hidden:
            # The last hidden state comes out beside the logits (pooling none: per token).
            llama_cpp.llama_set_embeddings(self._ctx.ctx, True)
        self._warm()

    def _warm(self) -> None:
        """Hold the fixed prefix's state, restored from the model cache when saved before."""
        if not self._cache_dir:
            return
        from pathlib import Path

        def evaluate(tokens: list[int]) -> None:
            self._ctx.kv_cache_clear()
            self._tokens = []
            self._decode(tokens)

        def reset() -> None:
            self._ctx.kv_cache_clear()
            self._tokens = []

        path = getattr(self._llm, "model_path", "") or ""
        state = warm_context(
            self._ctx.ctx,
            path,
            self._n_ctx,
            self._prefix,
            Path(self._cache_dir),
            evaluate,
            kind="judge",
            reset=reset,
        )
        if state == "restored":
            self._tokens = list(self._prefix)
        log.info("judge prefix %s tokens=%d", state, len(self._prefix))

    def _prompt_tokens(self, item: Claim | None) -> list[int]:
        return chat_tokens(self._llm, judge_messages(item), add_generation_prompt=item is not None)

    def score(self, items: Sequence[Claim]) -> list[float]:
        if not items:
            return []
        with self._lock:
            if self._ctx is None:
                self._open()
            # Items that share a passage follow one another, so its tokens are reused.
            order = sorted(range(len(items)), key=lambda i: items[i].passage)
            out = [0.0] * len(items)
            for i in order:
                p_yes = self._evaluate(items[i])
                probe = None if items[i].answers else self.probe
                # The probe vetoes: a claim stands when both the model and the probe say yes.
                out[i] = p_yes if probe is None else min(p_yes, probe.score(self.hidden(), p_yes))
            return out

    def key(self) -> ModelKey:
        """What a probe for this judge must have been trained for (the model is loaded)."""
        with self._lock:
            if self._ctx is None:
                self._open()
            return ModelKey.of(self._llm, self._prefix)

    def features(self, items: Sequence[Claim]) -> list[tuple[float, list[float]]]:
        """For each item, the plain P(yes) and the hidden state the probe reads (a judge made
        with ``hidden=True``): what ``eval/train_probe.py`` trains on."""
        with self._lock:
            if self._ctx is None:
                self._open()
            return [(self._evaluate(item), self.hidden()) for item in items]

    def _evaluate(self, item: Claim) -> float:
        """Decode the item's prompt (reusing the cached tokens it shares); its plain P(yes)."""
        tokens = self._prompt_tokens(item)
        if len(tokens) >= self._n_ctx:
            # A passage longer than the judge's context: keep the fixed prefix and the end
            # (the claim and the question), cutting the passage's start.
            keep = self._n_ctx - self._reserve
            tokens = self._prefix + tokens[len(tokens) - (keep - len(self._prefix)) :]
        # at least one token is evaluated, for its logits
        common = min(common_length(self._tokens, tokens), len(tokens) - 1)
        if common < len(self._tokens):
            self._ctx.kv_cache_seq_rm(0, common, -1)
            del self._tokens[common:]
        self._decode(tokens[common:])
        logits = self._ctx.get_logits_ith(-1)  # a C array over the vocabulary
        picked = {t: float(logits[t]) for t in (*self._yes, *self._no)}
        return _yes_probability(picked, self._yes, self._no)

    def hidden(self) -> list[float]:
        """The last evaluated token's hidden state (after the final norm)."""
        vector = self._ctx.get_embeddings_ith(-1)
        return vector[: self._llm.n_embd()]  # a ctypes slice: a list of floats

    def _decode(self, tokens: Sequence[int]) -> None:
        step = self._batch_size
        for at in range(0, len(tokens), step):
            part = list(tokens[at : at + step])
            self._batch.set_batch(part, n_past=len(self._tokens), logits_all=False)
            self._ctx.decode(self._batch)
            self._tokens.extend(part)


def _word_tokens(llm: Any, words: Sequence[str]) -> list[int]:
    out = []
    for w in words:
        toks = llm.tokenize(w.encode(), add_bos=False, special=False)
        if len(toks) == 1 and toks[0] not in out:
            out.append(int(toks[0]))
    return out


class OpenAIJudge:
    """The judge through an OpenAI-compatible chat server: one token, with its log-probabilities."""

    name = "openai"

    def __init__(self, client: Callable[[], Any], model: str, alternatives: int = 10) -> None:
        self._client = client
        self._model = model
        self._alternatives = alternatives  # top log-probabilities read for yes and no

    def score(self, items: Sequence[Claim]) -> list[float]:
        out = []
        client = self._client()
        for item in items:
            response: Any = client.chat.completions.create(
                model=self._model,
                messages=judge_messages(item),
                temperature=0.0,
                max_tokens=1,
                logprobs=True,
                top_logprobs=self._alternatives,
            )
            out.append(_openai_yes(response))
        return out


def _openai_yes(response: Any) -> float:
    choice = response.choices[0]
    content = getattr(choice, "logprobs", None) and choice.logprobs.content
    if not content:
        # A server without log-probabilities: the reply's word decides.
        text = (choice.message.content or "").strip().lower()
        return 1.0 if text.startswith("yes") else 0.0
    yes = no = -math.inf
    for alt in content[0].top_logprobs:
        word = alt.token.strip().lower()
        if word == "yes":
            yes = float(math.log(math.exp(yes) + math.exp(alt.logprob)))
        elif word == "no":
            no = float(math.log(math.exp(no) + math.exp(alt.logprob)))
    if yes == -math.inf and no == -math.inf:
        return 0.0
    if no == -math.inf:
        return 1.0
    if yes == -math.inf:
        return 0.0
    return 1.0 / (1.0 + math.exp(no - yes))


def make_judge(settings: Any, generator: Any) -> Judge | None:
    """The judge that ``settings`` ask for, on ``generator``'s model; None when citations are
    checked by the cheap checks alone (``QA_CHECK_JUDGE=off``, or a generator with no model
    to ask, such as the fake).

    The generator says what it can be asked through: ``llama()`` returns its loaded
    ``llama_cpp.Llama`` (:class:`~qa.generator.LocalGenerator`), ``chat_client()`` its
    OpenAI client (:class:`~qa.generator.OpenAIGenerator`). Either is called only when the
    judge first scores, so a lazily loaded generator loads then, not at start-up."""
    if settings.check.judge == "off":
        return None
    llama = getattr(generator, "llama", None)
    if callable(llama):
        return LlamaJudge(
            llama,
            n_ctx=settings.check.judge_ctx,
            threads=settings.llm.threads,
            cache_dir=str(settings.model_cache) if settings.llm.prefix_cache else None,
            probe=packaged_probe() if settings.check.probe == "on" else None,
        )
    chat_client = getattr(generator, "chat_client", None)
    if callable(chat_client):
        return OpenAIJudge(chat_client, settings.llm.model)
    return None
