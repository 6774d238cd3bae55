"""Train the judge's probe (:mod:`qa.judge_probe`) and measure it on eval/verify.jsonl.

The training pairs are ``eval/judge_train/*.jsonl``, in the format of ``eval/verify.jsonl``
but written from other documents than the development corpora (man pages, package READMEs,
encyclopedic articles, news and reports, papers and manuals), so that verify.jsonl stays a
held-out measure. For every pair the judge is asked as the product asks it (the passage, the
claim), and its plain P(yes) and its last hidden state are kept (``--cache``: features are
computed once per pair and judge prompt). A logistic regression with an L2 penalty is fitted on
the hidden state and the log-odds of P(yes); the penalty is chosen by leaving out one training
corpus at a time. The report compares the plain P(yes) and the probe on verify.jsonl: ROC AUC,
and the unsupported claims rejected where 0.95 and 0.90 of the supported ones are accepted.

    .venv/bin/python -m eval.train_probe            # train, write qa/model_files/judge_probe.json
    .venv/bin/python -m eval.train_probe --dry-run  # measure only
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np

from eval.verify import VerifyPair, load_pairs
from qa.citations import framed_answer
from qa.judge_probe import PACKAGED, Probe

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
TRAIN_DIR = ROOT / "eval" / "judge_train"
VERIFY = ROOT / "eval" / "verify.jsonl"
OUT = ROOT / "qa" / "model_files" / PACKAGED
PENALTIES = (10.0, 30.0, 100.0, 300.0, 1000.0)
# The probe's scale is set so that the judge's thresholds keep their meaning (QA_CHECK_*):
# at ENTAIL_MIN it accepts ACCEPTED of the training set's supported claims (each scored by a
# probe trained without its corpus), the floor for supported claims; at EXTRACT_MIN it
# accepts as many of the supported framed answers as the plain P(yes) did at EXTRACT_MIN.
ENTAIL_MIN, EXTRACT_MIN, ACCEPTED = 0.6, 0.9, 0.97


@dataclass
class Features:
    ids: list[str]
    p_yes: np.ndarray  # (n,)
    hidden: np.ndarray  # (n, d)
    y: np.ndarray  # (n,) 1.0 = supported
    corpus: np.ndarray  # (n,) str
    framed: np.ndarray  # (n,) bool: an answer framed with its question ("The answer to ...")

    @property
    def x(self) -> np.ndarray:
        """The probe's inputs: the hidden state and the log-odds of P(yes)."""
        return np.hstack([self.hidden, logit(self.p_yes)[:, None]])


def logit(p: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    p = np.clip(p, eps, 1 - eps)
    return np.log(p / (1 - p))


def fit(x: np.ndarray, y: np.ndarray, penalty: float, steps: int = 50) -> np.ndarray:
    """L2-penalised logistic regression by Newton's method on standardised inputs; returns
    the weights on the *raw* inputs with the bias last."""
    mu, sd = x.mean(0), x.std(0) + 1e-6
    z = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])
    beta = np.zeros(z.shape[1])
    ridge = penalty * np.r_[np.ones(z.shape[1] - 1), 0.0]
    for _ in range(steps):
        s = 1 / (1 + np.exp(-(z @ beta)))
        grad = z.T @ (s - y) + ridge * beta
        hess = (z * (s * (1 - s))[:, None]).T @ z + np.diag(ridge)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-7:
            break
    w = beta[:-1] / sd
    return np.r_[w, beta[-1] - float(w @ mu)]


def apply(beta: np.ndarray, x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(x @ beta[:-1] + beta[-1])))


def auc(score: np.ndarray, y: np.ndarray) -> float:
    pos, neg = score[y == 1], score[y == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def rejected_at(score: np.ndarray, y: np.ndarray, accepted: float) -> tuple[float, float]:
    """The share of unsupported items rejected at the threshold that accepts ``accepted`` of
    the supported ones, and that threshold."""
    t = float(np.quantile(score[y == 1], 1 - accepted))
    return float((score[y == 0] < t).mean()), t


def held_out(f: Features, penalty: float) -> np.ndarray:
    """Each item scored by a probe trained without its corpus (one corpus: five folds)."""
    out = np.zeros(len(f.y))
    groups = f.corpus if len(set(f.corpus)) > 1 else np.arange(len(f.y)) % 5
    for c in sorted(set(groups)):
        rest = groups != c
        out[~rest] = apply(fit(f.x[rest], f.y[rest], penalty), f.x[~rest])
    return out


def scale(
    beta: np.ndarray, f: Features, held: np.ndarray, accepted: float = ACCEPTED
) -> tuple[np.ndarray, str]:
    """``beta`` rescaled in log-odds (a * z + b) so that ENTAIL_MIN and EXTRACT_MIN fall at the
    operating points above, measured on ``held`` (held-out scores of ``f``); and a note."""
    supported = held[f.y == 1]
    t1 = float(np.quantile(supported, 1 - accepted))
    framed = f.framed & (f.y == 1)
    share = float((f.p_yes[framed] >= EXTRACT_MIN).mean())
    t2 = float(np.quantile(held[framed], 1 - share))
    lo, hi = logit(np.array([t1, t2]))
    a = float((logit(np.array([EXTRACT_MIN]))[0] - logit(np.array([ENTAIL_MIN]))[0]) / (hi - lo))
    b = float(logit(np.array([ENTAIL_MIN]))[0] - a * lo)
    note = (
        f"scaled so that {ENTAIL_MIN} is the held-out score {t1:.3f} (accepts {accepted} of "
        f"the supported training claims) and {EXTRACT_MIN} is {t2:.3f} (accepts {share:.3f} "
        f"of the supported framed answers, as P(yes) >= {EXTRACT_MIN} did): a={a:.3f}, b={b:.3f}"
    )
    return np.r_[a * beta[:-1], a * beta[-1] + b], note


def features(judge: object, pairs: Sequence[VerifyPair], cache: Path | None) -> Features:
    """The judge's P(yes) and hidden state for each pair, read from ``cache`` where there."""
    from qa.judge import Claim

    stored: dict[str, tuple[float, list[float]]] = {}
    key = json.dumps(vars(judge.key()), sort_keys=True)  # type: ignore[attr-defined]
    if cache and cache.exists():
        data = json.loads(cache.read_text())
        if data.get("key") == key:
            stored = {k: (v[0], v[1]) for k, v in data["items"].items()}
    todo = [p for p in pairs if _item_key(p) not in stored]
    t0 = time.perf_counter()
    for i, p in enumerate(todo, 1):
        [(p_yes, hidden)] = judge.features([Claim(p.passage, p.claim)])  # type: ignore[attr-defined]
        stored[_item_key(p)] = (p_yes, [float(h) for h in hidden])
        if i % 50 == 0 or i == len(todo):
            click.echo(f"features: {i}/{len(todo)} ({time.perf_counter() - t0:.0f} s)", err=True)
    if cache and todo:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": key, "items": stored}))
        tmp.replace(cache)
    rows = [stored[_item_key(p)] for p in pairs]
    return Features(
        ids=[p.id for p in pairs],
        p_yes=np.array([r[0] for r in rows]),
        hidden=np.array([r[1] for r in rows]),
        y=np.array([1.0 if p.supported else 0.0 for p in pairs]),
        corpus=np.array([p.corpus for p in pairs]),
        framed=np.array([framed_answer(p.claim) is not None for p in pairs]),
    )


def _item_key(p: VerifyPair) -> str:
    return f"{p.passage}\x00{p.claim}"


def _line(name: str, score: np.ndarray, y: np.ndarray) -> str:
    r95, _ = rejected_at(score, y, 0.95)
    r90, _ = rejected_at(score, y, 0.90)
    return f"| {name} | {auc(score, y):.3f} | {r95:.3f} | {r90:.3f} |"


def train_files(folder: Path = TRAIN_DIR) -> list[Path]:
    return sorted(folder.glob("*.jsonl"))


@click.command()
@click.option("--dry-run", is_flag=True, help="Measure only; do not write the probe.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=OUT,
              show_default=True, help="Where the probe is written.")  # fmt: skip
@click.option("--cache", type=click.Path(dir_okay=False, path_type=Path),
              default=ROOT / ".qa" / "probe-features.json", show_default=True,
              help="Features kept between runs (per pair and judge prompt).")  # fmt: skip
@click.option("--accepted", type=click.FloatRange(0.5, 1.0), default=ACCEPTED, show_default=True,
              help="Share of the supported training claims the probe accepts at "
              "QA_CHECK_ENTAIL_MIN (its operating point).")  # fmt: skip
def main(dry_run: bool, out: Path, cache: Path, accepted: float) -> None:
    """Train the judge's probe on eval/judge_train/ and measure it on eval/verify.jsonl."""
    from qa.judge import LlamaJudge
    from qa.service import LazyGenerator
    from qa.settings import load_settings

    files = train_files()
    if not files:
        raise click.ClickException(f"No training pairs in {TRAIN_DIR}.")
    train = [p for f in files for p in load_pairs(f)]
    test = load_pairs(VERIFY)
    settings = load_settings()
    generator = LazyGenerator(settings)
    if generator.llama is None:
        raise click.ClickException(
            "The probe is trained on the local model: set QA_LLM_MODE=local."
        )
    judge = LlamaJudge(
        generator.llama, n_ctx=settings.check.judge_ctx, threads=settings.llm.threads, hidden=True
    )
    tr = features(judge, train, cache)
    te = features(judge, test, cache)
    click.echo(f"training pairs {len(tr.y)} ({int(tr.y.sum())} supported), corpora "
               f"{', '.join(sorted(set(tr.corpus)))}; verify pairs {len(te.y)}")  # fmt: skip
    lines = ["| scores | AUC | rejected at 0.95 accepted | at 0.90 |", "|---|---|---|---|"]
    lines.append(_line("training, plain P(yes)", tr.p_yes, tr.y))
    held = {penalty: held_out(tr, penalty) for penalty in PENALTIES}
    for penalty, s in held.items():
        lines.append(_line(f"training, probe penalty {penalty:g}, corpus held out", s, tr.y))
    best = max(PENALTIES, key=lambda penalty: auc(held[penalty], tr.y))
    beta, note = scale(fit(tr.x, tr.y, best), tr, held[best], accepted)
    probe_scores = apply(beta, te.x)
    lines.append(_line("verify.jsonl, plain P(yes)", te.p_yes, te.y))
    lines.append(_line(f"verify.jsonl, probe (penalty {best:g})", probe_scores, te.y))
    click.echo("\n".join(lines))
    click.echo(note)
    for name, score in (
        ("plain P(yes)", te.p_yes),
        ("probe", probe_scores),
        ("the lower of the two (the judge's verdict)", np.minimum(te.p_yes, probe_scores)),
    ):
        ok = (score[te.y == 1] >= ENTAIL_MIN).mean()
        rejected = (score[te.y == 0] < ENTAIL_MIN).mean()
        click.echo(
            f"verify.jsonl, {name} at {ENTAIL_MIN}: supported accepted {ok:.3f}, "
            f"unsupported rejected {rejected:.3f} (the judge alone, without the cheap checks)"
        )
    if dry_run:
        return
    probe = Probe(
        key=judge.key(),
        weights=tuple(float(w) for w in beta[:-2]),
        yes_weight=float(beta[-2]),
        bias=float(beta[-1]),
        notes=f"trained by eval/train_probe.py on {len(tr.y)} pairs of "
        f"{', '.join(str(f.relative_to(ROOT)) for f in files)}, L2 penalty {best:g}; {note}",
    )
    probe.save(out)
    click.echo(f"probe written to {out}")


if __name__ == "__main__":
    main()
