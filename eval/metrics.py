"""Scores for one answer and aggregates over many. Pure functions, no I/O.

Matching rule for key facts and quotes: both sides are normalised (lower case, accents
dropped, curly quotes and dashes unified, thousands separators removed so "3,179" ==
"3179", whitespace collapsed), then a spelling must occur on word boundaries: "7" does
not match inside "3179", nor "US" inside "Russia". List inflected forms as alternatives.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from eval.dataset import EvalRecord
from qa.markers import MARKER
from qa.schema import Answer, Citation, Passage, Reason

_PUNCT = str.maketrans(
    {
        **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032`\u00b4", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
    }
)
_THOUSANDS = re.compile(r"(?<=\d)[,\u00a0\u202f\u2009](?=\d{3}(?!\d))")
_CITE_MARK = MARKER  # the answer's [n] markers, as qa writes them
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_NAME = re.compile(r"\b[A-Z][\w'\-]*")
_WORD = re.compile(r"[a-z][a-z'\-]{3,}")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_STOP = frozenset(
    """a an the and but or nor in on at to of for by with from as into about over after before
    according he she it they we i you this that these those there here his her their its our
    yes no not however also when while during since so then thus both all some most many only
    if what which who whom where why how is was were are be been has have had do did does said
    says say mr ms mrs dr general president spokesman spokeswoman minister sources source
    answer answers question documents document over under more less several each every because
    although though despite once now today yesterday tomorrow instead overall however""".split()
)


def normalise(text: str) -> str:
    """Lower-case, unify quotes/dashes, drop accents and thousands separators, collapse spaces."""
    s = _THOUSANDS.sub("", text.translate(_PUNCT))
    s = unicodedata.normalize("NFKD", s)
    s = "".join(c for c in s if not unicodedata.combining(c)).lower()
    return re.sub(r"\s+", " ", s).strip()


@lru_cache(maxsize=4096)
def _pattern(spelling: str) -> re.Pattern[str]:
    s = normalise(spelling)
    left = r"(?<!\w)" if s[:1].isalnum() else ""
    right = r"(?!\w)" if s[-1:].isalnum() else ""
    if s[:1].isdigit():
        left += r"(?<!\d[.,])"
    if s[-1:].isdigit():
        right += r"(?![.,]\d)"
    return re.compile(left + re.escape(s) + right)


def contains(text: str, spelling: str) -> bool:
    """True when ``spelling`` occurs in ``text`` on word boundaries, after normalising both."""
    if not spelling.strip():
        return False
    return _pattern(spelling).search(normalise(text)) is not None


def key_fact_hits(text: str, key_facts: Sequence[Sequence[str]]) -> list[bool]:
    """One flag per group: does ``text`` hold any of the group's spellings?"""
    return [any(contains(text, s) for s in group) for group in key_facts]


def key_facts_ok(text: str, key_facts: Sequence[Sequence[str]]) -> bool:
    return all(key_fact_hits(text, key_facts))


# --- retrieval -----------------------------------------------------------------------


def same_doc(a: str, b: str) -> bool:
    """Document ids match exactly or one is a path suffix of the other (other index root)."""
    if a == b:
        return True
    pa, pb = PurePosixPath(a).parts, PurePosixPath(b).parts
    n = min(len(pa), len(pb))
    return n > 0 and pa[-n:] == pb[-n:]


def gold_rank(passages: Sequence[Passage], gold: Iterable[str]) -> int | None:
    """1-based rank of the first passage from a gold document, or None."""
    gold = list(gold)
    for rank, p in enumerate(passages, 1):
        if any(same_doc(p.doc_id, g) for g in gold):
            return rank
    return None


# --- citations -----------------------------------------------------------------------


def sentences_citing(answer: Answer, n: int) -> list[str]:
    """Text of the answer sentences that cite ``[n]`` (falls back to splitting ``answer.text``)."""
    if answer.sentences:
        return [s.text for s in answer.sentences if n in s.citations]
    marker = re.compile(rf"\[(?:\d+\s*[,;]\s*)*{n}(?:\s*[,;]\s*\d+)*\]")
    return [s for s in _SENTENCE_END.split(answer.text) if marker.search(s)]


def claim_terms(sentence: str) -> tuple[list[str], list[str]]:
    """The numbers and capitalised names a sentence asserts (citation marks removed)."""
    text = _CITE_MARK.sub(" ", sentence.translate(_PUNCT))
    numbers = _NUMBER.findall(_THOUSANDS.sub("", text))
    names = []
    for tok in _NAME.findall(text):
        tok = re.sub(r"'s?$", "", tok).strip("-'")
        if len(tok) > 1 and tok.lower() not in _STOP:
            names.append(tok)
    return numbers, names


def citation_correct(
    citation: Citation, sentences: Sequence[str], key_facts: Sequence[Sequence[str]] = ()
) -> bool:
    """A citation is correct when its quote holds a key-fact spelling, or when every number
    and capitalised name of the sentences citing it appears in the quote. Sentences with
    neither need half of their content words (4+ letters) in the quote; a citation that no
    sentence uses is not correct."""
    quote = citation.quote
    if any(contains(quote, s) for group in key_facts for s in group):
        return True
    if not sentences:
        return False
    numbers: list[str] = []
    names: list[str] = []
    for sentence in sentences:
        nums, nams = claim_terms(sentence)
        numbers += nums
        names += nams
    if numbers or names:
        return all(contains(quote, t) for t in numbers + names)
    words = {w for s in sentences for w in _WORD.findall(normalise(_CITE_MARK.sub(" ", s)))}
    words -= _STOP
    if not words:
        return False
    return sum(contains(quote, w) for w in words) / len(words) >= 0.5


# --- one answer ----------------------------------------------------------------------


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def score_answer(record: EvalRecord, answer: Answer, k: int) -> dict[str, Any]:
    """Every per-question score of ``answer`` against ``record`` (JSON-ready)."""
    hits = (
        key_fact_hits(answer.text, record.key_facts)
        if not answer.refused
        else [False] * len(record.key_facts)
    )
    rank = gold_rank(answer.passages, record.gold) if record.answerable else None
    cites: list[dict[str, Any]] = [
        {
            "n": c.n,
            "source": c.source,
            "correct": citation_correct(c, sentences_citing(answer, c.n), record.key_facts),
        }
        for c in answer.citations
    ]
    correct = sum(c["correct"] for c in cites)
    return {
        "answerable": record.answerable,
        "refused": bool(answer.refused),
        "error": None,
        "key_facts": hits,
        "key_facts_ok": all(hits) if record.answerable else None,
        "rank": rank,
        "hit": (rank is not None and rank <= k) if record.answerable else None,
        "rr": (1.0 / rank if rank else 0.0) if record.answerable else None,
        "citations": cites,
        "citations_correct": correct,
        "citations_total": len(cites),
        "citation_precision": correct / len(cites) if cites else None,
        "cites_gold": (
            any(same_doc(c.source, g) for c in answer.citations for g in record.gold)
            if record.answerable
            else None
        ),
        "first_token_ms": _num(answer.timings.get("first_token_ms")),
        "total_ms": _num(answer.timings.get("total_ms")),
        "context_tokens": _num(answer.stats.get("context_tokens")),
        "repointed": int(answer.stats.get("repointed", 0) or 0),
        "dropped": int(answer.stats.get("dropped", 0) or 0),
        **decision_scores(answer),
    }


def decision_scores(answer: Answer) -> dict[str, Any]:
    """How the answer path decided: its origin and reason, the policy checks that fired,
    the refused_/extractive_ counters (a joined answer's parts each add theirs), the retry."""
    return {
        "origin": answer.origin.value,
        "reason": answer.reason.value if answer.reason else None,
        "checks": list(answer.trace.checks),
        "outcomes": {
            k: v for k, v in answer.stats.items() if k.startswith(("refused_", "extractive_"))
        },
        "retried": int(answer.stats.get("retried", 0) or 0),
        "retry_answered": int(answer.stats.get("retry_answered", 0) or 0),
    }


def error_scores(record: EvalRecord, message: str) -> dict[str, Any]:
    """Scores for a question whose ``ask`` raised: a failure on every count."""
    a = record.answerable
    return {
        "answerable": a,
        "refused": False,
        "error": message,
        "key_facts": [False] * len(record.key_facts),
        "key_facts_ok": False if a else None,
        "rank": None,
        "hit": False if a else None,
        "rr": 0.0 if a else None,
        "citations": [],
        "citations_correct": 0,
        "citations_total": 0,
        "citation_precision": None,
        "cites_gold": False if a else None,
        "first_token_ms": None,
        "total_ms": None,
        "context_tokens": None,
        "repointed": 0,
        "dropped": 0,
        "origin": None,
        "reason": None,
        "checks": [],
        "outcomes": {},
        "retried": 0,
        "retry_answered": 0,
    }


# --- aggregates ----------------------------------------------------------------------


def mean(values: Iterable[Any]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def percentile(values: Iterable[Any], q: float) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return float(np.percentile(vals, q)) if vals else None


def ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def aggregate(rows: Sequence[dict[str, Any]], k: int) -> dict[str, Any]:
    """Aggregate rows of ``{"type": ..., "scores": score_answer(...)}``."""
    scores = [r["scores"] for r in rows]
    out = _group(scores, k)
    ans = [s for s in scores if s["answerable"]]
    una = [s for s in scores if not s["answerable"]]
    tp = sum(s["refused"] for s in una)
    fp = sum(s["refused"] for s in ans)
    out.update(
        {
            "n_answerable": len(ans),
            "n_unanswerable": len(una),
            "errors": sum(s["error"] is not None for s in scores),
            "refusal_precision": ratio(tp, tp + fp),
            "refusal_recall": ratio(tp, len(una)),
            "false_refusals": fp,
            "false_refusal_rate": ratio(fp, len(ans)),
            "first_token_ms_p50": percentile((s["first_token_ms"] for s in scores), 50),
            "first_token_ms_p95": percentile((s["first_token_ms"] for s in scores), 95),
            "total_ms_p50": percentile((s["total_ms"] for s in scores), 50),
            "total_ms_p95": percentile((s["total_ms"] for s in scores), 95),
            "context_tokens_mean": mean(s["context_tokens"] for s in scores),
            "context_tokens_p50": percentile((s["context_tokens"] for s in scores), 50),
            "repointed": sum(s["repointed"] for s in scores),
            "dropped": sum(s["dropped"] for s in scores),
            "checks": check_counts(scores),
            "by_type": {
                t: _group([r["scores"] for r in rows if r["type"] == t], k)
                for t in sorted({r["type"] for r in rows})
            },
        }
    )
    return out


def check_counts(scores: Sequence[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """For each policy check: the questions it fired on (at any look), and the answers it
    made a refusal or a quoted sentence; then the second looks taken and answered. Rows of
    runs before the checks were recorded count nothing."""
    out: dict[str, dict[str, int]] = {}
    for r in Reason:
        out[r.value] = {
            "fired": sum(r.value in s.get("checks", ()) for s in scores),
            "refused": sum(s.get("outcomes", {}).get(f"refused_{r.stat}", 0) for s in scores),
            "extractive": sum(s.get("outcomes", {}).get(f"extractive_{r.stat}", 0) for s in scores),
        }
    out["retry"] = {
        "fired": sum(s.get("retried", 0) for s in scores),
        "answered": sum(s.get("retry_answered", 0) for s in scores),
    }
    # the judge's sentence quoted instead (also counted above as its reason's "extractive")
    out["judged_sentence"] = {
        "quoted": sum("judged_sentence" in s.get("checks", ()) for s in scores)
    }
    return out


def _group(scores: Sequence[dict[str, Any]], k: int) -> dict[str, Any]:
    ans = [s for s in scores if s["answerable"]]
    correct = sum(s["citations_correct"] for s in scores)
    total = sum(s["citations_total"] for s in scores)
    return {
        "n": len(scores),
        "k": k,
        "key_fact_accuracy": mean(s["key_facts_ok"] for s in ans),
        "hit_at_k": mean(s["hit"] for s in ans),
        "mrr": mean(s["rr"] for s in ans),
        "citation_precision": ratio(correct, total),
        "citations_total": total,
        "citation_recall": mean(s["cites_gold"] for s in ans),
        "refusal_rate": mean(s["refused"] for s in scores),
    }
