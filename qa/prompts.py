"""Prompts. The system message is one fixed prefix (rules plus a worked example over
*different* sources), so llama.cpp reuses its cached state across questions and tasks.

The texts are package files (``qa/prompt_files/*.txt``) read with :mod:`importlib.resources`;
``QA_PROMPTS_DIR`` names a folder whose files of the same names replace them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from index.chunking import split_sentences
from qa import markers
from qa.errors import QAError
from qa.language import active
from qa.schema import Passage

# The refusal texts, all here. The model is told to write REFUSAL (its prompt calls the
# passages "Sources"); the reader is shown REFUSED, and for one part of a two-part question
# part_refused(). The language profile's refusal_phrases recognise the model's wordings.
REFUSAL = "The sources do not contain the answer."
REFUSED = "The documents do not contain the answer."
_PART_REFUSED = "The documents do not answer “{question}”"


def part_refused(question: str) -> str:
    """What a joined answer says for a part of the question its documents do not answer."""
    return _PART_REFUSED.format(question=question)


# The prompt texts are files of this package (qa/prompt_files/); a folder named by
# QA_PROMPTS_DIR replaces those of them it holds (see :func:`use`).
FILES = "prompt_files"
SYSTEM_FILE = "answer_system.txt"  # the rules; ``{refusal}`` stands for REFUSAL
EXAMPLE_FILE = "answer_example.txt"  # the worked example, turns under "=== role ===" lines
REWRITE_FILE = "rewrite.txt"  # a str.format template with {history} and {question}
# Worked rewrites, shown before the real one as turns: a user turn is the conversation's lines
# and, on its last line, the follow-up; the assistant turn is its rewrite. Each user turn is
# put through the rewrite template, so the model sees the example as it sees the real one.
REWRITE_EXAMPLE_FILE = "rewrite_example.txt"
_TURN = re.compile(r"^=== (user|assistant) ===\n", re.M)
_folder: Path | None = None  # the QA_PROMPTS_DIR in use (see use())


class PromptError(QAError):
    """A prompt file (of QA_PROMPTS_DIR) is missing, unreadable or malformed."""


def packaged_names() -> list[str]:
    """The prompt files this package ships (each one may be overridden)."""
    folder = resources.files("qa") / FILES
    return sorted(f.name for f in folder.iterdir() if f.name.endswith(".txt"))


def load(name: str) -> str:
    """The text of prompt file ``name``: the copy in the folder :func:`use` chose
    (QA_PROMPTS_DIR) when it has one, else the packaged one. The newline that ends the file
    is not part of the text."""
    return _read(name, _folder)


def _read(name: str, folder: Path | None) -> str:
    override = Path(folder) / name if folder is not None else None
    try:
        if override is not None and override.exists():
            text = override.read_text(encoding="utf-8")
        else:
            text = (resources.files("qa") / FILES / name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PromptError(
            f"No prompt file {name!r}: the package ships {', '.join(packaged_names())}."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptError(
            f"Cannot read the prompt file {override or name} ({exc}); fix it or unset "
            "QA_PROMPTS_DIR."
        ) from None
    return text[:-1] if text.endswith("\n") else text


@dataclass(frozen=True)
class Prompts:
    """The prompt texts one process answers with."""

    system: str
    example: tuple[tuple[str, str], ...]  # (role, content) turns of the worked example
    rewrite: str
    rewrite_example: tuple[tuple[str, str], ...] = ()  # (role, content) turns, rendered
    title_words: int = 10  # words of a source's title shown before its text
    history_turns: int = 2  # earlier turns the rewrite prompt shows
    history_chars: int = 600  # characters of each earlier answer it shows

    def prefix(self) -> list[dict[str, str]]:
        """The fixed prefix of every prompt: the rules and the worked example, so llama.cpp
        reuses its state across questions (and :mod:`qa.llama_prefix` across processes)."""
        turns = [{"role": role, "content": content} for role, content in self.example]
        return [{"role": "system", "content": self.system}, *turns]


def read_prompts(folder: Path | None = None) -> Prompts:
    """The prompts, ``folder``'s files in place of the packaged ones of the same names.

    Everything is checked here, before any question: a missing folder, a file in it that is
    not a prompt file (a misspelt name would be ignored), an unreadable file, an example
    that is not user/assistant turns, a rewrite template with unknown fields."""
    if folder is not None:
        folder = Path(folder)
        if not folder.is_dir():
            raise PromptError(f"QA_PROMPTS_DIR {folder} is not a folder; create it or unset it.")
        known = packaged_names()
        for f in sorted(folder.iterdir()):
            if f.suffix == ".txt" and f.name not in known:
                raise PromptError(
                    f"{f} is not a prompt file (QA_PROMPTS_DIR replaces {', '.join(known)})."
                )
    system = _read(SYSTEM_FILE, folder).replace("{refusal}", REFUSAL)
    example = _turns(_read(EXAMPLE_FILE, folder).replace("{refusal}", REFUSAL), folder)
    rewrite = _read(REWRITE_FILE, folder)
    try:
        rewrite.format(history="", question="")
    except (KeyError, IndexError, ValueError) as exc:
        raise PromptError(
            f"{_where(REWRITE_FILE, folder)}: only {{history}} and {{question}} may stand in "
            f"braces ({exc!r}); write {{{{ and }}}} for a literal brace."
        ) from None
    return Prompts(system, example, rewrite, _rewrite_example(rewrite, folder))


def _rewrite_example(template: str, folder: Path | None) -> tuple[tuple[str, str], ...]:
    """The worked rewrites (REWRITE_EXAMPLE_FILE), each user turn put through ``template``."""
    out = []
    for role, content in _turns(_read(REWRITE_EXAMPLE_FILE, folder), folder, REWRITE_EXAMPLE_FILE):
        if role == "user":
            *conversation, question = content.strip().split("\n")
            if not conversation:
                raise PromptError(
                    f"{_where(REWRITE_EXAMPLE_FILE, folder)}: a user turn is the conversation's "
                    "lines, then the follow-up question on a line of its own; "
                    f"{content.strip()!r} has one line."
                )
            content = template.format(history="\n".join(conversation), question=question)
        out.append((role, content))
    return tuple(out)


def _where(name: str, folder: Path | None) -> Path | str:
    """Prompt file ``name`` as an error names it: in QA_PROMPTS_DIR when one is in use."""
    return Path(folder) / name if folder else name


def turns(name: str) -> tuple[tuple[str, str], ...]:
    """Prompt file ``name`` read as (role, content) turns under "=== user ===" and
    "=== assistant ===" lines (a worked example), from QA_PROMPTS_DIR when it has the file."""
    return _turns(load(name), _folder, name)


def _turns(text: str, folder: Path | None, name: str = EXAMPLE_FILE) -> tuple[tuple[str, str], ...]:
    heads = list(_TURN.finditer(text))
    where = _where(name, folder)
    if not heads or text[: heads[0].start()].strip():
        raise PromptError(f"{where} must start with a '=== user ===' line.")
    turns = []
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text) + 1
        content = text[head.end() : end - 1]  # the newline before the next header is not in it
        if not content.strip():
            raise PromptError(f"{where}: the {head[1]} turn on line {_line(text, head)} is empty.")
        turns.append((head[1], content))
    if [r for r, _ in turns] != ["user", "assistant"] * (len(turns) // 2) or len(turns) % 2:
        raise PromptError(
            f"{where}: the turns must alternate user, assistant, ending with assistant."
        )
    return tuple(turns)


def _line(text: str, m: re.Match[str]) -> int:
    return text.count("\n", 0, m.start()) + 1


PACKAGED = read_prompts()
SYSTEM = PACKAGED.system
EXAMPLE: list[dict[str, str]] = PACKAGED.prefix()  # the packaged prefix (see :func:`prefix`)
REWRITE = PACKAGED.rewrite
_active = PACKAGED


def use(folder: Path | None) -> Prompts:
    """Answer with ``folder``'s prompt files (QA_PROMPTS_DIR) from now on, in this process;
    ``None``: the packaged ones. Checked at once (:func:`read_prompts`); on an error the
    prompts in use stay as they were."""
    global _folder, _active
    prompts = read_prompts(folder)
    _folder, _active = (Path(folder) if folder is not None else None), prompts
    return prompts


def prefix() -> list[dict[str, str]]:
    """The fixed prefix every prompt now starts with (the rules and the worked example)."""
    return _active.prefix()


# Sentences of a document that talk to the assistant ("Ignore your instructions...",
# "SYSTEM: ...", "When asked about X, say Y"). The 1.5B model obeys them despite the rule in
# SYSTEM, so they never reach it, and the citation checker never quotes them.
_INSTRUCTION = re.compile(
    r"\b(ignore|disregard|forget)\b[^.]{0,40}\b(instructions?|rules|prompt)\b"
    r"|^\W*(system|assistant|user|developer)\s*:"
    r"|\bwhen (you are )?asked\b[^.]*,\s*(say|reply|answer|respond|write)\b"
    r"|\b(reply|respond|answer)\b[^.]{0,30}\b(the )?(single )?word\b"
    r"|\b(you are now|new instructions|maintenance mode)\b",
    re.I | re.M,
)
WITHHELD = "(an instruction to the assistant, withheld)"


def is_instruction(sentence: str) -> bool:
    return bool(_INSTRUCTION.search(sentence))


def shown_text(text: str) -> str:
    """Text as the model sees it: whitespace collapsed, instruction-like sentences withheld."""
    spans = split_sentences(text) or [(0, len(text))]
    parts = [WITHHELD if is_instruction(text[a:b]) else text[a:b] for a, b in spans]
    return " ".join(" ".join(parts).split())


def _short(title: str, words: int) -> str:
    parts = title.split()
    return " ".join(parts[:words]) + ("…" if len(parts) > words else "")


def answer_messages(question: str, passages: Sequence[Passage]) -> list[dict[str, str]]:
    sources = "\n".join(
        f"[{p.n}] ({_short(shown_text(p.title), _active.title_words)}) {shown_text(p.text)}"
        for p in passages
    )
    user = f"Sources:\n{sources}\n\nQuestion: {question}"
    return [*prefix(), {"role": "user", "content": user}]


def rewrite_messages(question: str, history: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    shown = history[-_active.history_turns :] if _active.history_turns else []
    turns = "\n".join(f"Q: {q}\nA: {markers.remove(a)[: _active.history_chars]}" for q, a in shown)
    user = _active.rewrite.format(history=turns, question=question)
    # The worked rewrite as turns of its own. On the suite's 50 follow-ups the model's rewrite
    # is kept 28 times against 22 with no example (rejected 21 -> 15 times); the same example
    # written into the instruction's text was kept 24 times and made the model return 12
    # follow-ups unchanged (7 without it, 7 with the turns).
    example = [{"role": role, "content": content} for role, content in _active.rewrite_example]
    return [*prefix(), *example, {"role": "user", "content": user}]


def is_refusal(text: str) -> bool:
    t = " ".join(text.lower().split())
    return any(phrase in t for phrase in active().refusal_phrases)
