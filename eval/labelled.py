"""Evaluate on a llama-index ``LabelledRagDataset`` JSON file, parsed with plain ``json``.

The format is ``{"examples": [{"query": ..., "reference_answer": ...,
"reference_contexts": [...], ...}, ...]}``; other fields (``query_by``...) are ignored.
"""

from __future__ import annotations

import json
import logging
import re
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from eval.dataset import DatasetError, spread
from eval.metrics import mean, percentile
from eval.report import fmt, table
from eval.runner import SupportsAsk
from qa.errors import QAError
from qa.schema import Passage

log = logging.getLogger(__name__)

SHINGLE = 25  # characters per shingle of squeezed text
MIN_SHARE = 0.5  # share of the smaller text found in the larger one
MIN_CHARS = 400  # or this many characters in common, whatever the sizes


@dataclass(frozen=True)
class LabelledExample:
    query: str
    reference_answer: str
    reference_contexts: tuple[str, ...]


def load_labelled(path: Path | str) -> list[LabelledExample]:
    """Read a LabelledRagDataset JSON file; errors name the example index."""
    path = Path(path)
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError as e:
        raise DatasetError(
            f"No labelled dataset at {path}: pass the path of rag_dataset.json."
        ) from e
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from e
    if not isinstance(data, dict) or not isinstance(data.get("examples"), list):
        raise DatasetError(f'{path}: expected {{"examples": [...]}} (a LabelledRagDataset)')
    out = []
    for i, ex in enumerate(data["examples"]):
        where = f"{path} example {i}"
        if not isinstance(ex, dict):
            raise DatasetError(f"{where}: expected an object")
        query, ref = ex.get("query"), ex.get("reference_answer")
        contexts = ex.get("reference_contexts") or []
        if not isinstance(query, str) or not query.strip():
            raise DatasetError(f"{where}: 'query' must be a non-empty string")
        if not isinstance(ref, str):
            raise DatasetError(f"{where}: 'reference_answer' must be a string")
        if not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
            raise DatasetError(f"{where}: 'reference_contexts' must be a list of strings")
        out.append(LabelledExample(query, ref, tuple(contexts)))
    return out


def squeeze(text: str) -> str:
    """Lower-case letters and digits only: PDF extractors disagree on spaces, hyphens and
    line breaks ("comprehe nsive", "tech-\\nnology"), so all of those are dropped."""
    text = unicodedata.normalize("NFKD", text)
    return re.sub(r"[^0-9a-z]", "", text.lower())


def _shingles(s: str) -> set[str]:
    if len(s) <= SHINGLE:
        return {s} if s else set()
    return {s[i : i + SHINGLE] for i in range(len(s) - SHINGLE + 1)}


def overlap(passage: str, context: str) -> tuple[float, int]:
    """(share, chars): how much of the smaller text lies in the larger one.

    Both texts are squeezed (see ``squeeze``) and cut into overlapping 25-character
    shingles; ``share`` is the fraction of the smaller text's shingles found in the other
    text, and ``chars`` approximates the characters in common (shared shingles). A
    25-character run of letters repeats by chance only in boilerplate, so the rule is
    robust to the two extractors' spacing while still requiring real shared text.
    """
    a, b = _shingles(squeeze(passage)), _shingles(squeeze(context))
    if not a or not b:
        return 0.0, 0
    common = len(a & b)
    return common / min(len(a), len(b)), common


def is_hit(passage: str, context: str) -> bool:
    """A retrieved passage hits a reference context when at least half of the smaller of
    the two is found in the other (a small passage inside a large context, or a short
    context inside a large passage), or when they share at least 400 characters of text
    (a passage straddling a context boundary)."""
    share, chars = overlap(passage, context)
    return share >= MIN_SHARE or chars >= MIN_CHARS


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float(np.dot(a, b) / (na * nb)) if na and nb else 0.0


def run_labelled(
    answerer: SupportsAsk,
    dataset_path: Path | str,
    out_dir: Path,
    embed: Callable[[list[str]], np.ndarray],
    limit: int | None = None,
    progress: bool = True,
    offset: int = 0,
) -> dict[str, Any]:
    """Ask every example; score retrieval (``is_hit`` against the reference contexts) and
    the answer (cosine of ``embed(answer)`` and ``embed(reference_answer)``).

    Passages come from ``answer.passages``; when an answer carries none (e.g. refused before
    generation) and the answerer has ``retrieve(question)``, those passages are used.
    Writes ``results.json`` and ``report.md`` in ``out_dir`` and returns the results dict.
    """
    examples = spread(load_labelled(dataset_path), limit, offset)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for i, ex in enumerate(tqdm(examples, desc="labelled", unit="q", disable=not progress)):
        row: dict[str, Any] = {
            "index": i,
            "query": ex.query,
            "reference_answer": ex.reference_answer,
        }
        try:
            answer = answerer.ask(ex.query, [])
        except QAError as e:
            log.warning("question failed index=%d error=%r", i, str(e))
            rows.append({**row, "error": f"{type(e).__name__}: {e}", "answer": None, "hit": False})
            continue
        passages: Sequence[Passage] = answer.passages
        retrieve = getattr(answerer, "retrieve", None)
        if not passages and callable(retrieve):
            passages = retrieve(ex.query)
        ranks = [
            r
            for r, p in enumerate(passages, 1)
            if any(is_hit(p.text, c) for c in ex.reference_contexts)
        ]
        rows.append(
            {
                **row,
                "error": None,
                "answer": answer.text,
                "refused": answer.refused,
                "citations": [c.to_json() for c in answer.citations],
                "passages": [
                    {"doc_id": p.doc_id, "start": p.start, "end": p.end} for p in passages
                ],
                "hit": bool(ranks),
                "rank": ranks[0] if ranks else None,
                "first_token_ms": answer.timings.get("first_token_ms"),
                "total_ms": answer.timings.get("total_ms"),
            }
        )

    answered = [r for r in rows if r["error"] is None]
    if answered:
        vecs = np.asarray(
            embed([r["answer"] for r in answered] + [r["reference_answer"] for r in answered])
        )
        n = len(answered)
        for j, r in enumerate(answered):
            r["similarity"] = round(_cosine(vecs[j], vecs[n + j]), 4)
    for r in rows:
        r.setdefault("similarity", None)

    aggregates = {
        "n": len(rows),
        "errors": len(rows) - len(answered),
        "retrieval_hit_rate": mean(r["hit"] for r in rows),
        "mrr": mean((1 / r["rank"] if r.get("rank") else 0.0) for r in rows),
        "answer_similarity_mean": mean(r["similarity"] for r in rows),
        "answer_similarity_p50": percentile((r["similarity"] for r in rows), 50),
        "refused": sum(bool(r.get("refused")) for r in rows),
        "first_token_ms_p50": percentile((r.get("first_token_ms") for r in rows), 50),
        "total_ms_p50": percentile((r.get("total_ms") for r in rows), 50),
        "total_ms_p95": percentile((r.get("total_ms") for r in rows), 95),
    }
    elapsed = time.perf_counter() - started
    results = {
        "meta": {
            "dataset": str(dataset_path),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "elapsed_s": round(elapsed, 1),
        },
        "aggregates": aggregates,
        "examples": rows,
    }
    (out_dir / "results.json").write_text(
        json.dumps(results, indent=2, ensure_ascii=False), "utf-8"
    )
    (out_dir / "report.md").write_text(render_labelled_report(results), "utf-8")
    log.info(
        "labelled eval done n=%d hit_rate=%s similarity=%s elapsed_s=%.1f out=%s",
        len(rows),
        aggregates["retrieval_hit_rate"],
        aggregates["answer_similarity_mean"],
        elapsed,
        out_dir,
    )
    return results


def render_labelled_report(results: dict[str, Any], worst: int = 10) -> str:
    agg, rows = results["aggregates"], results["examples"]
    lines = [f"# Labelled dataset report: {results['meta']['dataset']}", ""]
    lines += table(["metric", "value"], list(agg.items()))
    ranked = sorted(
        rows, key=lambda r: (r["hit"], r["similarity"] if r["similarity"] is not None else -1)
    )
    lines += ["", f"## Weakest examples ({min(worst, len(rows))})", ""]
    for r in ranked[:worst]:
        lines += [
            f"### #{r['index']}: retrieved a reference context: {fmt(r['hit'])}; "
            f"similarity {fmt(r['similarity'])}",
            "",
            f"- **Question:** {r['query']}",
            f"- **Reference:** {' '.join(r['reference_answer'].split())}",
            f"- **Answer:** {' '.join((r['answer'] or r['error'] or '').split())}",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"
