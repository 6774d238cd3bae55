"""One Settings object for the whole product, read from QA_* environment variables.

Nested by concern. A nested field reads from ``QA_<GROUP>_<FIELD>``, for example
``QA_LLM_MODEL_PATH`` or ``QA_CHROMA_HOST``. Build it with :func:`load_settings`;
nothing here runs at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from qa.errors import SettingsError


class IndexSettings(BaseModel):
    chunk_tokens: int = Field(
        200,
        ge=32,
        le=254,
        description="Most word-pieces in one chunk, counted with the embedder's tokenizer "
        "(the model window is 256 including [CLS] and [SEP]).",
    )
    overlap_sentences: int = Field(
        1, ge=0, le=5, description="Sentences repeated between neighbouring chunks."
    )
    extensions: list[str] = Field(
        [".txt", ".md", ".markdown", ".html", ".htm", ".pdf"],
        description="File extensions that are indexed when a folder is walked.",
    )
    max_file_mb: float = Field(
        50.0, description="Files larger than this are skipped with a warning."
    )
    embed_batch: int = Field(
        4,
        ge=1,
        description="Texts embedded per model call with QA_EMBED_INT8=weights, the default (4 "
        "measured fastest on 2 cores); the dynamic int8 model runs one text per call.",
    )


class ChromaSettings(BaseModel):
    host: str | None = Field(
        None, description="Chroma server host. Unset: an embedded store in the data directory."
    )
    port: int = Field(8000, description="Chroma server port (used when host is set).")
    collection: str = Field("qa", description="Name prefix of the Chroma collections.")


class EmbedSettings(BaseModel):
    mode: Literal["local", "openai", "fake"] = Field(
        "local",
        description="local: the packaged all-MiniLM-L6-v2 int8 ONNX model. openai: any "
        "OpenAI-compatible /v1/embeddings server. fake: hashed bag of words, for tests.",
    )
    threads: int = Field(0, ge=0, description="onnxruntime threads; 0 means one per core.")
    int8: Literal["weights", "dynamic"] = Field(
        "weights",
        description="local mode: 'weights' runs the packaged graph as shipped (its int8 "
        "weights become float32 when loaded); 'dynamic' runs its matrix products in int8 (built "
        "once into the model cache): about twice as fast, other vectors (re-index).",
    )
    base_url: str = Field(
        "http://127.0.0.1:8080/v1",
        description="OpenAI-compatible embeddings server, its API root (openai mode).",
    )
    model: str = Field(
        "all-MiniLM-L6-v2",
        description="Embedding model name sent to the server (openai mode). Recorded in the index.",
    )
    api_key: str = Field(
        "", description="API key for the embeddings server, sent as a Bearer token (openai mode)."
    )
    batch: int = Field(16, ge=1, le=2048, description="Texts per request (openai mode).")
    concurrency: int = Field(
        4, ge=1, le=64, description="Embedding requests in flight at once (openai mode)."
    )
    timeout_s: float = Field(
        60.0, gt=0, description="Seconds to wait for one embeddings request (openai mode)."
    )
    dim: int = Field(
        0,
        ge=0,
        description="Expected vector dimension (openai mode); 0: take what the server returns.",
    )


class RetrievalSettings(BaseModel):
    k: int = Field(6, ge=1, le=20, description="Passages sent to the model.")
    candidates: int = Field(
        20, ge=1, description="Chunks taken from each of BM25 and the vector store before fusion."
    )
    rrf_k: int = Field(60, ge=1, description="The constant in reciprocal rank fusion.")
    window: int = Field(
        1, ge=0, le=5, description="Sentences of context kept on each side of a matched sentence."
    )
    passage_tokens: int = Field(
        70, ge=16, description="Most word-pieces in one passage sent to the model."
    )
    min_relevance: float = Field(
        0.25,
        description="Refuse without asking the model when the best passage's cosine similarity "
        "to the question is below this. Chosen on the whole suite (389 standalone questions of "
        "5 sets, packaged MiniLM): every answerable one's best cosine is >= 0.255, and the only "
        "2 unanswerable ones below 0.30 are below 0.23 (0.19, 0.22); 0.30 also refused the "
        "answerable one at 0.255.",
    )
    vector_cache: int = Field(
        8192,
        ge=0,
        description="Sentence vectors kept in memory across questions, shared by retrieval, the "
        "reader and the citation checker (384 floats each for MiniLM: 12.6 MB at 8192).",
    )
    retry_sentences: int = Field(
        3,
        ge=0,
        le=10,
        description="When the model refuses or is not supported by the sources, ask it once more "
        "over only this many best sentences (0: never ask again).",
    )


class LLMSettings(BaseModel):
    mode: Literal["local", "openai", "fake"] = Field(
        "local",
        description="local: llama.cpp in process. openai: any OpenAI-compatible server. fake: tests.",
    )
    model_path: Path | None = Field(
        None,
        description="A GGUF file for local mode. Unset: the packaged Qwen2.5-Coder-1.5B-Instruct Q4_K_M.",
    )
    base_url: str = Field(
        "http://127.0.0.1:8080/v1", description="OpenAI-compatible server URL (openai mode)."
    )
    model: str = Field(
        "qwen2.5-1.5b-instruct", description="Model name sent to the server (openai mode)."
    )
    api_key: str = Field("not-needed", description="API key for the server (openai mode).")
    timeout_s: float = Field(120.0, description="Seconds to wait for the server (openai mode).")
    n_ctx: int = Field(4096, ge=512, description="Context window for local mode.")
    threads: int = Field(0, ge=0, description="CPU threads for local mode; 0 means one per core.")
    max_tokens: int = Field(160, ge=16, description="Most tokens in one answer.")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature.")
    repack: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Local mode: let llama.cpp repack the weights into its extra CPU buffer "
        "types (AMX, AVX repacks). auto: on, except on CPUs with AMX, where llama.cpp 0.3.x "
        "crashes in its AMX matrix product (segfault at the first answer; llama.cpp #20824).",
    )
    prompt_lookup: int = Field(
        0,
        ge=0,
        le=32,
        description="Local mode: draft this many tokens per step by prompt-lookup decoding "
        "(0: off). Off by default: in eval/bench.py (2026-12-03, 2 cores) it decoded at 0.47x "
        "the plain speed and 2 of 10 greedy answers came out different.",
    )
    prefix_cache: bool = Field(
        True,
        description="Local mode: keep the fixed prompt prefix's llama.cpp state in the model "
        "cache folder, so a one-shot `qa ask` restores it instead of processing it again.",
    )


class CheckSettings(BaseModel):
    judge: Literal["model", "off"] = Field(
        "model",
        description="model: every citation that the cheap checks pass is put to the answer "
        "model as a yes/no question (does this quote state this sentence?). off: the cheap "
        "checks (numbers, names, cosine, shared words) decide alone.",
    )
    probe: Literal["on", "off"] = Field(
        "off",
        description="on: the judge's verdict on a claim is the lower of the model's P(yes) "
        "and a linear probe on its last hidden state (qa/model_files/judge_probe.json, trained "
        "by eval/train_probe.py on pairs of other documents than the development corpora), when "
        "the probe was trained for this model and judge prompt. Stricter: on eval/verify.jsonl "
        "unsupported claims rejected 0.78 -> 0.88, supported accepted 0.97 -> 0.96; on the "
        "development suite 4 more right answers refused (seeds 0.918 -> 0.878 key facts) and "
        "no answer gained. off: the plain P(yes).",
    )
    entail_min: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="The judge's probability that a quote states its sentence, at or above "
        "which the citation stands (with QA_CHECK_PROBE=on, the probe's scale is set so that "
        "0.6 accepts 0.97 of its training set's supported claims).",
    )
    extract_min: float = Field(
        0.9,
        ge=0.0,
        le=1.0,
        description="With the judge, when an answer is turned down and no sentence plainly "
        "answers: the judge's probability that the reader's best sentence answers the question, "
        "at or above which that sentence is quoted instead (chosen on the development suite: "
        "seeds, SQuAD, python_docs, SQuAD follow-ups).",
    )
    rivals: int = Field(
        4,
        ge=0,
        description="With the judge: most rival readings of a sentence with a number put to "
        "it once it accepts a quote (the number replaced by another number of the quote); a "
        "quote that states a rival better does not state the sentence. Each costs a model call "
        "over the sentence's tokens only. 0: none.",
    )
    judge_ctx: int = Field(
        1536, ge=512, description="Local mode: the judge's own context size in tokens."
    )
    judge_calls: int = Field(
        3,
        ge=1,
        description="Most candidate quotes put to the judge for one sentence of an answer, "
        "best first (each one a model call); a sentence none of them states is left out.",
    )
    similarity_min: float = Field(
        0.55,
        ge=-1.0,
        le=1.0,
        description="A quote supports a sentence when their cosine similarity is at least "
        "this (or terms_min of its words are in it), and its numbers and most names are in it.",
    )
    terms_min: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="Or when at least this share of the sentence's content words is in the "
        "quote (see similarity_min).",
    )


class UISettings(BaseModel):
    host: str = Field("127.0.0.1", description="Interface the web chat listens on.")
    port: int = Field(7860, ge=1, le=65535, description="Port of the web chat.")
    auth_file: Path | None = Field(
        None,
        description="A file of user:password lines (one account each, # comments) required to "
        "open the web chat. It must not be readable by group or others (chmod 600).",
    )
    auth: str | None = Field(
        None,
        description="One user:password required to open the web chat. Prefer auth_file: a "
        "password given as --auth shows in `ps` to every user of the machine.",
    )
    max_upload_mb: float = Field(
        50.0, gt=0, description="Largest file the web chat accepts in one upload, in MB."
    )
    login_max_failures: int = Field(
        5, ge=1, description="Wrong logins from one address before further attempts are slowed."
    )
    login_delay_s: float = Field(
        1.0,
        gt=0,
        description="Wait before the next login attempt after too many failures; it doubles "
        "with each further failure.",
    )
    login_max_delay_s: float = Field(
        60.0, gt=0, description="The longest wait between two login attempts of one address."
    )
    login_max_wait_s: float = Field(
        10.0,
        ge=0,
        description="A login attempt that would wait longer than this is refused at once (429).",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="QA_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="ignore",
    )

    data_dir: Path = Field(
        Path(".qa"), description="Where the index lives (Chroma store, BM25 cache, state)."
    )
    model_cache: Path = Field(
        Path(os.path.expanduser("~/.cache/qa")),
        description="Where the packaged GGUF model is assembled and the int8 embedder built, once.",
    )
    max_question_chars: int = Field(
        2000, description="Longer questions are refused with a clear message."
    )
    prompts_dir: Path | None = Field(
        None,
        description="A folder of prompt files (answer_system.txt, answer_example.txt, "
        "rewrite.txt) that replace the packaged ones of the same names; files it lacks stay "
        "packaged. Changing the system prompt or the example changes every answer.",
    )
    policy_off: str = Field(
        "",
        description="Acceptance checks to turn off, comma-separated (qa/policy.py): "
        "low_relevance, model_refused, not_answered, answer_type, contradicted, off_question, "
        "retry, extractive, judged_sentence. Every answer may change with them; 'unsupported' stays on.",
    )
    index: IndexSettings = Field(default_factory=IndexSettings, description="Loading and chunking.")
    chroma: ChromaSettings = Field(default_factory=ChromaSettings, description="The vector store.")
    embed: EmbedSettings = Field(default_factory=EmbedSettings, description="The embedding model.")
    retrieval: RetrievalSettings = Field(
        default_factory=RetrievalSettings, description="Hybrid retrieval."
    )
    llm: LLMSettings = Field(default_factory=LLMSettings, description="The answer generator.")
    check: CheckSettings = Field(
        default_factory=CheckSettings, description="How citations are checked."
    )
    ui: UISettings = Field(default_factory=UISettings, description="The web chat.")


def load_settings(**overrides: object) -> Settings:
    """Settings from defaults, then QA_* variables, then explicit overrides (CLI options).
    A value that does not fit its setting is a :class:`~qa.errors.SettingsError` naming the
    variable ("QA_EMBED_INT8: Input should be 'weights' or 'dynamic' (got 'bogus')")."""
    try:
        settings = Settings()
        if overrides:
            data = settings.model_dump()
            for key, value in overrides.items():
                if value is None:
                    continue
                group, _, field = key.partition("__")
                if field:
                    data[group][field] = value
                else:
                    data[group] = value
            settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from exc
    return settings


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        name = "QA_" + "_".join(str(part) for part in err["loc"]).upper()
        got = err.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"{name}: {err['msg']}{shown}")
    return "Bad setting. " + "; ".join(lines) + ". Fix or unset the variable."
