"""Verified citations: every [n] must point to a passage that really supports its sentence.

For each sentence of the model's answer and each source it cites, the check asks:
- do the sentence's numbers all appear in the passage (number words count: "seven" = 7)?
- do most of its names appear in the passage?
- is it close in meaning to some sentence of the passage (embedding cosine), or does it
  share most of its content words with it?
A citation that fails is re-pointed to the passage that passes best, or dropped; a sentence
left with no support is marked unsupported. Each surviving citation quotes the exact
supporting sentence(s) of the passage with their offsets in the source document.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from index.chunking import split_sentences
from index.embedder import Embedder
from qa.prompts import is_instruction
from qa.retrieval import FRAGMENT_CHARS
from qa.schema import Citation, Passage, Sentence
from qa.text import content_terms, names, numbers

_MARKER = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
# "freed. [3]" -> "freed [3]." so a marker written after the full stop stays with its sentence
_MARKER_AFTER_STOP = re.compile(r"([.!?])((?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])+)")
_MARKERS_ANYWHERE = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")

SIMILARITY_MIN = 0.55  # sentence-to-quote cosine that counts as support on its own
TERMS_MIN = 0.6  # share of the sentence's content words found in the quote


@dataclass(frozen=True)
class Support:
    passage: int  # passage number n
    score: float
    quote_start: int  # offsets into the source document
    quote_end: int
    ok: bool


@dataclass
class Verified:
    text: str
    sentences: list[Sentence]
    citations: list[Citation]
    repointed: int
    dropped: int
    added: int


def raw_sentences(answer: str) -> list[str]:
    """The sentences of a model's answer, each with its own [n] markers."""
    answer = _MARKER_AFTER_STOP.sub(r"\2\1", answer)
    return [answer[a:b] for a, b in split_sentences(answer)]


def parse_markers(sentence: str) -> tuple[str, list[int]]:
    """The sentence without its [n] markers, and the numbers it cited (in order, no repeats)."""
    cited: list[int] = []
    for m in _MARKERS_ANYWHERE.finditer(sentence):
        for part in re.split(r"[,;]", m.group(1)):
            n = int(part)
            if n not in cited:
                cited.append(n)
    bare = _MARKER.sub("", sentence).strip()
    bare = re.sub(r"\s+([.,;:!?])", r"\1", bare)
    bare = re.sub(r"[,;]+([.!?]|$)", r"\1", bare)  # "December 7 [1], [2]." -> "December 7."
    return bare, cited


class CitationChecker:
    def __init__(
        self,
        embedder: Embedder,
        similarity_min: float = SIMILARITY_MIN,
        terms_min: float = TERMS_MIN,
    ) -> None:
        self.embedder = embedder
        self.similarity_min = similarity_min
        self.terms_min = terms_min
        self._memo: dict[str, np.ndarray] = {}

    def _embed(self, texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if todo:
            for t, v in zip(todo, self.embedder.embed(todo), strict=True):
                self._memo[t] = v
        return np.stack([self._memo[t] for t in texts])

    def support(
        self,
        claim: str,
        passage: Passage,
        claim_vec: np.ndarray | None = None,
        given: str = "",
        fragment: str | None = None,
    ) -> Support:
        """How well ``passage`` supports ``claim``, and the exact sentence span that does."""
        # Datelines ("MOSCOW, October 22. /TASS/.") stay with their sentence, as in retrieval.
        spans = split_sentences(passage.text, min_chars=FRAGMENT_CHARS) or [(0, len(passage.text))]
        quotes = [passage.text[a:b] for a, b in spans]
        if claim_vec is None:
            claim_vec = self.embedder.embed([claim])[0]
        sims = self._embed(quotes) @ claim_vec
        c_nums, c_names, c_terms = _claim_facts(claim, given)
        # A fragment's own words (beyond its question) must be in the quote: "PWNED" is not.
        own = set(content_terms(fragment)) - set(content_terms(given)) if fragment else set()
        # A fragment ("Vitaly Churkin.") is checked with its question, whose words may be spread
        # over the passage around the quote: count them there, while its own words must be in
        # the quote itself.
        p_terms = set(content_terms(passage.text)) if fragment else set()
        best: Support | None = None
        # A claim may draw on up to three neighbouring sentences (a quote, then "..., X said").
        options = [(i, i + d) for d in range(3) for i in range(len(spans) - d)]
        for lo, hi in options:
            a, b = spans[lo][0], spans[hi][1]
            quote = passage.text[a:b]
            q_terms = set(content_terms(quote))
            nums_ok = c_nums <= numbers(quote)
            name_cov = len(c_names & q_terms) / len(c_names) if c_names else 1.0
            term_cov = len(c_terms & (q_terms | p_terms)) / len(c_terms) if c_terms else 0.0
            sim = float(max(sims[lo : hi + 1]))
            ok = (
                nums_ok
                and name_cov >= 0.5
                and (sim >= self.similarity_min or term_cov >= self.terms_min)
            )
            ok = ok and not is_instruction(quote)  # withheld from the model, never quoted
            if own:
                ok = ok and len(own & q_terms) / len(own) >= 0.5
            num_cov = len(c_nums & numbers(quote)) / len(c_nums) if c_nums else 1.0
            score = sim + 0.5 * term_cov + 0.3 * name_cov + 0.5 * num_cov - 0.02 * (hi - lo)
            if best is None or (ok, score) > (best.ok, best.score):
                best = Support(passage.n, score, passage.start + a, passage.start + b, ok)
        assert best is not None
        return best

    def joint_support(
        self,
        claim: str,
        parts: Sequence[tuple[Passage, Support]],
        claim_vec: np.ndarray,
        given: str = "",
    ) -> list[Support]:
        """The cited passages whose quotes together support ``claim`` ("The reports were
        published on October 22 and December 7 [1][2]."), or [] if they do not: each quote must
        bring some of its numbers or names, all its numbers and most names must be in their
        union, and it must be close to one of them or share most of its words with them."""
        c_nums, c_names, c_terms = _claim_facts(claim, given)
        quotes: list[str] = []
        kept: list[Support] = []
        for p, sup in parts:
            quote = p.text[sup.quote_start - p.start : sup.quote_end - p.start]
            brings = c_nums & numbers(quote) or c_names & set(content_terms(quote))
            if brings and not is_instruction(quote):
                quotes.append(quote)
                kept.append(sup)
        if len(kept) < 2:
            return []
        union = " ".join(quotes)
        u_terms = set(content_terms(union))
        if not c_nums <= numbers(union):
            return []
        if c_names and len(c_names & u_terms) / len(c_names) < 0.5:
            return []
        sim = float(max(self._embed(quotes) @ claim_vec))
        term_cov = len(c_terms & u_terms) / len(c_terms) if c_terms else 0.0
        return kept if sim >= self.similarity_min or term_cov >= self.terms_min else []

    def verify(self, answer: str, passages: Sequence[Passage], question: str = "") -> Verified:
        by_n = {p.n: p for p in passages}
        self._memo.clear()
        claims = [parse_markers(s) for s in raw_sentences(answer)]
        # A bare fragment ("99", "In Sochi.") only means something with its question: check
        # the two together, so the quote must be about the question too.
        checked = [
            f"{question} {c}" if question and len(content_terms(c)) < 3 else c for c, _ in claims
        ]
        vecs = self.embedder.embed(checked) if claims else np.zeros((0, 1))
        numbering: dict[tuple[int, int, int], int] = {}
        citations: list[Citation] = []
        sentences: list[Sentence] = []
        parts: list[str] = []
        repointed = dropped = added = 0
        for (claim, cited), check, vec in zip(claims, checked, vecs, strict=True):
            if not claim:
                continue
            frag = claim if check != claim else None
            checks = {n: self.support(check, p, vec, question, frag) for n, p in by_n.items()}
            keep: list[Support] = [checks[n] for n in cited if n in checks and checks[n].ok]
            bad = [n for n in cited if n not in checks or not checks[n].ok]
            known = [n for n in cited if n in checks]
            if bad and len(known) >= 2:
                pairs = [(by_n[n], checks[n]) for n in known]
                joint = self.joint_support(check, pairs, vec, question)
                if joint:
                    dropped += len(known) - len(joint)
                    keep, bad = joint, []
            if bad:
                alternatives = sorted(
                    (s for n, s in checks.items() if s.ok and n not in cited),
                    key=lambda s: -s.score,
                )
                if not keep and alternatives:
                    keep = [alternatives[0]]
                    repointed += 1
                    dropped += len(bad) - 1
                else:
                    dropped += len(bad)
            elif not cited:
                alternatives = sorted((s for s in checks.values() if s.ok), key=lambda s: -s.score)
                if alternatives and _is_claim(claim):
                    keep = [alternatives[0]]
                    added += 1
            numbers_out: list[int] = []
            for sup in keep:
                key = (sup.passage, sup.quote_start, sup.quote_end)
                if key not in numbering:
                    numbering[key] = len(citations) + 1
                    citations.append(
                        cite(
                            by_n[sup.passage],
                            numbering[key],
                            sup.quote_start,
                            sup.quote_end,
                            sup.score,
                        )
                    )
                if numbering[key] not in numbers_out:
                    numbers_out.append(numbering[key])
            supported = bool(numbers_out) or not _is_claim(claim)
            sentences.append(
                Sentence(text=claim, citations=tuple(numbers_out), supported=supported)
            )
            parts.append(with_markers(claim, numbers_out))
        return Verified(" ".join(parts), sentences, citations, repointed, dropped, added)


def cite(passage: Passage, n: int, start: int, end: int, score: float) -> Citation:
    """Citation ``n``: the exact text of ``passage`` between the document offsets start..end."""
    rel = start - passage.start
    return Citation(
        n=n,
        source=passage.doc_id,
        title=passage.title,
        quote=passage.text[rel : rel + (end - start)],
        start=start,
        end=end,
        line=passage.line + passage.text.count("\n", 0, rel),
        page=passage.page,
        score=round(score, 4),
        path=passage.path,
    )


def _claim_facts(claim: str, given: str) -> tuple[set[str], set[str], set[str]]:
    """The numbers, names and content words a quote must hold for ``claim``. Numbers and names
    the question (``given``) already gave are its premise, not the claim's news: they need not
    be in the quote (a dateline or a title often holds them instead)."""
    c_nums = numbers(claim) - numbers(given)
    c_names = names(claim) - names(given) - set(content_terms(given))
    return c_nums, c_names, set(content_terms(claim))


def _is_claim(sentence: str) -> bool:
    """Sentences that state something (not a bare connective like 'In summary:')."""
    return len(content_terms(sentence)) >= 2


def with_markers(claim: str, ns: Sequence[int]) -> str:
    if not ns:
        return claim
    marks = "".join(f"[{n}]" for n in ns)
    m = re.search(r"[.!?]+[\"'”’)]*$", claim)
    if m:
        return f"{claim[: m.start()]} {marks}{claim[m.start() :]}".replace("  ", " ")
    return f"{claim} {marks}"
