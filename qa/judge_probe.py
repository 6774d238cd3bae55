"""A linear probe on the judge's hidden state: a better "does the passage state the claim?".

The 1.5B judge's first-token P(yes) cannot tell a swapped role, a replaced name or a changed
relation from the claim the passage states (eval/verify.jsonl: 0.55-0.59 of those rejected).
The model's last hidden state at the answer position holds more than its Yes/No logits show:
a logistic regression on that vector (and the Yes/No log-odds) tells them apart better. It is
trained by ``eval/train_probe.py`` on labelled pairs written from other documents than the
development corpora (``eval/judge_train/``) and measured on ``eval/verify.jsonl``.

A probe belongs to one model and one judge prompt: its file records the model's parameter count
and tensor size and a hash of the judge's fixed prefix tokens. With another model or other
prompt files it does not apply, and the judge's plain P(yes) is used (logged once).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PACKAGED = "judge_probe.json"  # in qa/model_files/


@dataclass(frozen=True)
class ModelKey:
    """What a probe is valid for: the model (parameters, tensor bytes, width) and the judge's
    fixed prompt prefix, as tokens."""

    n_params: int
    size: int
    n_embd: int
    prefix: str  # sha256 of the prefix token ids

    @classmethod
    def of(cls, llm: Any, prefix_tokens: Sequence[int]) -> ModelKey:
        import llama_cpp

        model = llm._model.model
        return cls(
            n_params=int(llama_cpp.llama_model_n_params(model)),
            size=int(llama_cpp.llama_model_size(model)),
            n_embd=int(llama_cpp.llama_model_n_embd(model)),
            prefix=token_hash(prefix_tokens),
        )


def token_hash(tokens: Sequence[int]) -> str:
    return hashlib.sha256(",".join(map(str, tokens)).encode()).hexdigest()


@dataclass(frozen=True)
class Probe:
    """score = sigmoid(weights · hidden + yes_weight · logit(P(yes)) + bias)."""

    key: ModelKey
    weights: tuple[float, ...]
    yes_weight: float
    bias: float
    notes: str = ""

    def score(self, hidden: Sequence[float], p_yes: float) -> float:
        z = self.bias + self.yes_weight * logit(p_yes)
        z += math.fsum(w * h for w, h in zip(self.weights, hidden, strict=True))
        return _sigmoid(z)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": vars(self.key),
            "bias": self.bias,
            "yes_weight": self.yes_weight,
            "notes": self.notes,
            "weights": [round(w, 7) for w in self.weights],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Probe:
        return cls(
            key=ModelKey(**data["key"]),
            weights=tuple(float(w) for w in data["weights"]),
            yes_weight=float(data["yes_weight"]),
            bias=float(data["bias"]),
            notes=str(data.get("notes", "")),
        )

    def save(self, path: Path) -> None:
        """Written whole to a temporary file, then renamed."""
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")
        tmp.replace(path)


def packaged() -> Probe | None:
    """The probe shipped with qa (for the packaged model and prompts), or None."""
    try:
        text = resources.files("qa.model_files").joinpath(PACKAGED).read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):
        return None
    return Probe.from_json(json.loads(text))


def matching(probe: Probe | None, key: ModelKey) -> Probe | None:
    """``probe`` when it was trained for ``key``'s model and prompt, else None (logged)."""
    if probe is None:
        return None
    if probe.key != key:
        log.info(
            "judge probe not used: trained for another model or judge prompt "
            "(probe %s, this %s); the judge's plain P(yes) decides",
            probe.key,
            key,
        )
        return None
    return probe


def logit(p: float, eps: float = 1e-6) -> float:
    """log(p / (1 - p)), with p kept ``eps`` away from 0 and 1."""
    p = min(max(p, eps), 1.0 - eps)
    return math.log(p / (1.0 - p))


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)
