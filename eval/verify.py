"""Does the citation check accept what a quote states, and reject what it does not?

``eval/verify.jsonl`` holds labelled ``{claim, passage, label}`` pairs written by reading the
development corpora (seeds/, the SQuAD 2.0 paragraphs, the Python documentation pages and the
BlockchainSolana PDF). Each passage is the exact text of one to three sentences of its source,
as a citation quote would be. A pair is ``supported`` when the passage states the claim, and
``unsupported`` otherwise; most unsupported claims are minimal edits of a supported one
(``edit``: negation, number, entity, role, relation, invented, qualifier, unstated), and the
supported ones are written as they are (``none``), reworded (``paraphrase``) or partly copied
(``copy``).

:func:`evaluate` runs any check ``(claim, passage, question) -> accepted`` over the pairs and
counts supported claims accepted and unsupported ones rejected, per corpus and per edit kind,
with the time each check took. ``python -m eval.verify`` does it for the product's own
:class:`~qa.citations.CitationChecker`, built from the settings (``QA_CHECK_JUDGE=off``: the
cheap checks alone).
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import click

from qa.schema import Passage

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SET = ROOT / "eval" / "verify.jsonl"

LABELS = ("supported", "unsupported")
SUPPORTED_EDITS = ("none", "paraphrase", "copy")
UNSUPPORTED_EDITS = (
    "negation",
    "number",
    "entity",
    "role",
    "relation",
    "invented",
    "qualifier",
    "unstated",
)
EDITS = SUPPORTED_EDITS + UNSUPPORTED_EDITS
_REQUIRED = ("id", "corpus", "source", "passage", "claim", "label", "edit")

Check = Callable[[str, str, str], bool]  # (claim, passage, question) -> accepted


@dataclass(frozen=True)
class VerifyPair:
    id: str
    corpus: str
    source: str  # the document's path, relative to the repository root
    passage: str  # exact text of the source (whitespace normalised)
    claim: str
    label: str  # "supported" | "unsupported"
    edit: str  # see EDITS
    question: str = ""

    @property
    def supported(self) -> bool:
        return self.label == "supported"


def load_pairs(path: Path | str = DEFAULT_SET) -> list[VerifyPair]:
    """The pairs of a JSONL file; a line that is not a valid pair is an error naming it."""
    path = Path(path)
    pairs: list[VerifyPair] = []
    seen: set[str] = set()
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{no}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise ValueError(f"{where}: expected a JSON object")
        missing = [k for k in _REQUIRED if not isinstance(row.get(k), str) or not row[k].strip()]
        if missing:
            raise ValueError(f"{where}: missing or empty {', '.join(missing)}")
        if row["label"] not in LABELS:
            raise ValueError(f"{where}: label {row['label']!r} is not one of {', '.join(LABELS)}")
        allowed = SUPPORTED_EDITS if row["label"] == "supported" else UNSUPPORTED_EDITS
        if row["edit"] not in allowed:
            raise ValueError(
                f"{where}: edit {row['edit']!r} does not fit label {row['label']!r} "
                f"(expected one of {', '.join(allowed)})"
            )
        if row["id"] in seen:
            raise ValueError(f"{where}: id {row['id']!r} is used twice")
        seen.add(row["id"])
        pairs.append(
            VerifyPair(
                id=row["id"],
                corpus=row["corpus"],
                source=row["source"],
                passage=row["passage"],
                claim=row["claim"],
                label=row["label"],
                edit=row["edit"],
                question=str(row.get("question") or ""),
            )
        )
    return pairs


@dataclass(frozen=True)
class Tally:
    """Supported claims accepted and unsupported claims rejected, out of how many."""

    supported: int = 0
    accepted: int = 0
    unsupported: int = 0
    rejected: int = 0

    @property
    def accepted_share(self) -> float | None:
        return self.accepted / self.supported if self.supported else None

    @property
    def rejected_share(self) -> float | None:
        return self.rejected / self.unsupported if self.unsupported else None

    def add(self, pair: VerifyPair, accepted: bool) -> Tally:
        if pair.supported:
            return replace(self, supported=self.supported + 1, accepted=self.accepted + accepted)
        return replace(
            self, unsupported=self.unsupported + 1, rejected=self.rejected + (not accepted)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "supported": self.supported,
            "supported_accepted": self.accepted,
            "supported_accepted_share": _round(self.accepted_share),
            "unsupported": self.unsupported,
            "unsupported_rejected": self.rejected,
            "unsupported_rejected_share": _round(self.rejected_share),
        }


@dataclass(frozen=True)
class VerifyError:
    """A pair the check got wrong: a supported claim rejected or an unsupported one accepted."""

    id: str
    label: str
    edit: str
    corpus: str
    claim: str


@dataclass(frozen=True)
class VerifyReport:
    overall: Tally
    by_corpus: dict[str, Tally]
    by_edit: dict[str, Tally]
    mean_ms: float
    p50_ms: float
    errors: tuple[VerifyError, ...] = field(default=())

    @property
    def pairs(self) -> int:
        return self.overall.supported + self.overall.unsupported


def evaluate(
    check: Check,
    pairs: Sequence[VerifyPair],
    progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Run ``check`` on every pair and count what it got right; ``progress(done, total)``
    is called after each pair."""
    overall = Tally()
    by_corpus: dict[str, Tally] = {}
    by_edit: dict[str, Tally] = {}
    times: list[float] = []
    errors: list[VerifyError] = []
    for i, pair in enumerate(pairs, 1):
        t0 = time.perf_counter()
        accepted = bool(check(pair.claim, pair.passage, pair.question))
        times.append((time.perf_counter() - t0) * 1000)
        overall = overall.add(pair, accepted)
        by_corpus[pair.corpus] = by_corpus.get(pair.corpus, Tally()).add(pair, accepted)
        by_edit[pair.edit] = by_edit.get(pair.edit, Tally()).add(pair, accepted)
        if accepted != pair.supported:
            errors.append(VerifyError(pair.id, pair.label, pair.edit, pair.corpus, pair.claim))
        if progress:
            progress(i, len(pairs))
    edits = {e: by_edit[e] for e in EDITS if e in by_edit}
    return VerifyReport(
        overall=overall,
        by_corpus=dict(sorted(by_corpus.items())),
        by_edit=edits,
        mean_ms=statistics.fmean(times) if times else 0.0,
        p50_ms=statistics.median(times) if times else 0.0,
        errors=tuple(errors),
    )


def to_json(report: VerifyReport) -> dict[str, Any]:
    return {
        "pairs": report.pairs,
        "overall": report.overall.to_json(),
        "by_corpus": {k: t.to_json() for k, t in report.by_corpus.items()},
        "by_edit": {k: t.to_json() for k, t in report.by_edit.items()},
        "time_ms": {"mean": round(report.mean_ms, 2), "p50": round(report.p50_ms, 2)},
        "errors": [asdict(e) for e in report.errors],
    }


def format_report(report: VerifyReport, max_errors: int | None = 30) -> str:
    """A Markdown table (all pairs, each corpus, each edit kind), the time per check, and
    the pairs the check got wrong (the first ``max_errors``; None: all)."""
    lines = [
        "| pairs | supported accepted | unsupported rejected |",
        "|---|---|---|",
        f"| **all** ({report.pairs}) | {_cell(report.overall, True)} | "
        f"{_cell(report.overall, False)} |",
    ]
    for name, t in report.by_corpus.items():
        lines.append(f"| {name} | {_cell(t, True)} | {_cell(t, False)} |")
    for name, t in report.by_edit.items():
        lines.append(f"| edit: {name} | {_cell(t, True)} | {_cell(t, False)} |")
    lines.append("")
    lines.append(f"Time per check: mean {report.mean_ms:.1f} ms, p50 {report.p50_ms:.1f} ms.")
    if report.errors:
        shown = report.errors if max_errors is None else report.errors[:max_errors]
        lines += ["", f"Errors ({len(report.errors)}):", ""]
        for e in shown:
            verdict = "rejected" if e.label == "supported" else "accepted"
            lines.append(f"- `{e.id}` {e.label} ({e.edit}), {verdict}: {e.claim}")
        if len(shown) < len(report.errors):
            lines.append(f"- ... and {len(report.errors) - len(shown)} more (see --json)")
    return "\n".join(lines)


class _Checker(Protocol):
    def support(
        self, claim: str, passage: Passage, claim_vec: Any = None, given: str = ""
    ) -> Any: ...


def checker_check(checker: _Checker, doc_id: str = "verify") -> Check:
    """A :data:`Check` that asks a :class:`~qa.citations.CitationChecker` whether the passage
    (as source [1], the whole of a document) supports the claim, the question given."""

    def check(claim: str, passage: str, question: str = "") -> bool:
        p = Passage(
            n=1,
            doc_id=doc_id,
            title="",
            text=passage,
            start=0,
            end=len(passage),
            line=1,
            page=None,
            score=1.0,
            similarity=1.0,
        )
        return bool(checker.support(claim, p, given=question).ok)

    return check


def build_checker(settings: Any) -> Any:
    """The citation checker the product answers with, built from ``settings``."""
    from qa.service import make_checker, open_embedder

    return make_checker(settings, open_embedder(settings))


def _select(pairs: Iterable[VerifyPair], corpora: Sequence[str]) -> list[VerifyPair]:
    return [p for p in pairs if not corpora or p.corpus in corpora]


def _cell(t: Tally, supported: bool) -> str:
    share, n, total = (
        (t.accepted_share, t.accepted, t.supported)
        if supported
        else (t.rejected_share, t.rejected, t.unsupported)
    )
    return "—" if share is None else f"{share:.2f} ({n}/{total})"


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


@click.command()
@click.option(
    "--set",
    "set_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=DEFAULT_SET,
    show_default=True,
    help="The labelled pairs (JSONL).",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the report, with every error, as JSON to this file.",
)
@click.option("--corpus", multiple=True, help="Only the pairs of this corpus (repeatable).")
@click.option("--errors", "max_errors", type=int, default=30, show_default=True,
              help="How many errors to list (the JSON has all).")  # fmt: skip
def main(set_path: Path, json_out: Path | None, corpus: tuple[str, ...], max_errors: int) -> None:
    """Measure the citation check on labelled pairs: supported claims accepted, unsupported
    ones rejected, per corpus and edit kind, and the time per check. The checker is the
    product's, from the settings (QA_CHECK_JUDGE=off: the cheap checks alone)."""
    from qa.settings import load_settings

    try:
        pairs = _select(load_pairs(set_path), corpus)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if not pairs:
        raise click.ClickException(f"No pairs in {set_path} for corpus {', '.join(corpus)}.")
    settings = load_settings()
    checker = build_checker(settings)
    check = checker_check(checker)
    t0 = time.perf_counter()
    check("Models load before the clock starts.", "Models load before the clock starts.", "")
    warm_s = time.perf_counter() - t0
    step = max(1, len(pairs) // 10)

    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            click.echo(f"verify: {done}/{total}", err=True)

    calls0 = getattr(checker, "judge_calls", 0)
    t1 = time.perf_counter()
    report = evaluate(check, pairs, progress)
    wall = time.perf_counter() - t1
    judge = "off" if getattr(checker, "judge", None) is None else type(checker.judge).__name__
    click.echo(
        f"verify: {report.pairs} pairs in {wall:.1f} s (warm-up {warm_s:.1f} s), judge={judge}, "
        f"judge calls {getattr(checker, 'judge_calls', 0) - calls0}",
        err=True,
    )
    click.echo(format_report(report, max_errors))
    if json_out:
        out = to_json(report)
        out["meta"] = {"set": str(set_path), "judge": judge, "wall_s": round(wall, 2)}
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
