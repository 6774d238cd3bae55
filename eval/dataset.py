"""The evaluation set: one JSON object per line, validated into ``EvalRecord``s.

A record looks like::

    {"id": "q01", "type": "fact", "question": "...",
     "key_facts": [["3,179", "3179"], ["Aleppo"]],
     "gold": ["seeds/002_e50b3248676841e1.txt"],
     "history": [["previous question", "previous answer"]]}

``key_facts`` is a list of groups; an answer must contain one spelling of every group.
``gold`` lists the documents that hold the answer. ``history`` (optional, required for
``followup``) holds earlier turns as ``[question, answer]`` pairs.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from qa.errors import QAError

log = logging.getLogger(__name__)

TYPES = ("fact", "multi", "unanswerable", "followup")
DEFAULT_SEEDS = Path(__file__).with_name("seeds.jsonl")
_KEYS = {"id", "type", "question", "key_facts", "gold", "history"}


class DatasetError(QAError, ValueError):
    """A record of the evaluation set is malformed; the message names file and line."""


@dataclass(frozen=True)
class EvalRecord:
    id: str
    type: str
    question: str
    key_facts: tuple[tuple[str, ...], ...] = ()
    gold: tuple[str, ...] = ()
    history: tuple[tuple[str, str], ...] = ()

    @property
    def answerable(self) -> bool:
        return self.type != "unanswerable"


T = TypeVar("T")


def spread(items: list[T], limit: int | None, offset: int = 0) -> list[T]:
    """``limit`` items spread evenly over ``items`` (the i-th of n is item ``i * len / n``),
    so a slice keeps the set's mix: a set that lists its unanswerable questions last still
    has them in a slice. ``None``, or a limit at least the set's size, keeps every item.

    ``offset`` shifts every pick by that many items (the i-th is ``i * len / n + offset``,
    wrapping round): with ``0 < offset < len / n`` a second slice shares no item with the
    first, and keeps the mix as well. A check held out from the slice one develops on."""
    if offset < 0:
        raise ValueError(f"offset must be 0 or more, not {offset}")
    if limit is None or limit >= len(items):
        return list(items)
    if limit <= 0:
        return []
    return [items[(i * len(items) // limit + offset) % len(items)] for i in range(limit)]


def load_records(path: Path | str = DEFAULT_SEEDS) -> list[EvalRecord]:
    """Read and validate a JSONL file. Blank lines are skipped; ids must be unique."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"No evaluation set at {path}: pass the path of a .jsonl file.")
    records: list[EvalRecord] = []
    seen: dict[str, int] = {}
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DatasetError(f"{path} line {line_no}: not valid JSON ({e.msg})") from e
        record = parse_record(obj, where=f"{path} line {line_no}")
        if record.id in seen:
            raise DatasetError(
                f"{path} line {line_no}: duplicate id {record.id!r} (first on line {seen[record.id]})"
            )
        seen[record.id] = line_no
        records.append(record)
    if not records:
        raise DatasetError(f"{path} holds no records.")
    log.debug("loaded path=%s records=%d", path, len(records))
    return records


def parse_record(obj: Any, where: str = "record") -> EvalRecord:
    """Validate one decoded JSON object; ``where`` prefixes every error message."""

    def fail(msg: str) -> DatasetError:
        return DatasetError(f"{where}: {msg}")

    if not isinstance(obj, dict):
        raise fail("expected a JSON object")
    unknown = sorted(set(obj) - _KEYS)
    if unknown:
        raise fail(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_KEYS))}")
    for key in ("id", "type", "question"):
        if not isinstance(obj.get(key), str) or not obj[key].strip():
            raise fail(f"'{key}' must be a non-empty string")
    rtype = obj["type"]
    if rtype not in TYPES:
        raise fail(f"'type' is {rtype!r}; expected one of {', '.join(TYPES)}")

    key_facts = obj.get("key_facts", [])
    if not isinstance(key_facts, list):
        raise fail("'key_facts' must be a list of groups (lists of spellings)")
    groups: list[tuple[str, ...]] = []
    for i, group in enumerate(key_facts):
        if (
            not isinstance(group, list)
            or not group
            or not all(isinstance(s, str) and s.strip() for s in group)
        ):
            raise fail(f"key_facts group {i} must be a non-empty list of non-empty strings")
        groups.append(tuple(group))

    gold = obj.get("gold", [])
    if not isinstance(gold, list) or not all(isinstance(g, str) and g.strip() for g in gold):
        raise fail("'gold' must be a list of document ids")

    history_raw = obj.get("history", [])
    if not isinstance(history_raw, list):
        raise fail("'history' must be a list of [question, answer] pairs")
    history: list[tuple[str, str]] = []
    for i, turn in enumerate(history_raw):
        if not (
            isinstance(turn, list) and len(turn) == 2 and all(isinstance(t, str) for t in turn)
        ):
            raise fail(f"history turn {i} must be a [question, answer] pair of strings")
        history.append((turn[0], turn[1]))

    if rtype == "unanswerable":
        if groups or gold:
            raise fail("an unanswerable record must have empty 'key_facts' and 'gold'")
    else:
        if not groups:
            raise fail(f"a {rtype} record needs at least one key_facts group")
        if not gold:
            raise fail(f"a {rtype} record needs at least one gold document")
    if rtype == "multi" and len(set(gold)) < 2:
        raise fail("a multi record needs at least two gold documents")
    if rtype == "followup" and not history:
        raise fail("a followup record needs a non-empty 'history'")

    return EvalRecord(
        id=obj["id"],
        type=rtype,
        question=obj["question"],
        key_facts=tuple(groups),
        gold=tuple(gold),
        history=tuple(history),
    )
