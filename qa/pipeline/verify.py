"""Verify: a draft and its passages → its sentences with checked citations, numbered once
(:class:`qa.citations.CitationChecker` does the checking)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qa.citations import CitationChecker, Verified, parse_markers, raw_sentences
from qa.schema import Citation, Passage


@dataclass(frozen=True)
class Checked:
    draft: str
    verified: Verified  # the supported sentences and their citations
    cited: tuple[int, ...]  # the passage numbers the draft wrote, before verification

    @property
    def citations(self) -> list[Citation]:
        return self.verified.citations

    @property
    def supported(self) -> str:
        """The text of the sentences that kept a citation."""
        return " ".join(s.text for s in self.verified.sentences if s.citations)


def verify(
    checker: CitationChecker, draft: str, passages: Sequence[Passage], question: str
) -> Checked:
    verified = checker.verify(draft, passages, question)
    cited = tuple(n for sentence in raw_sentences(draft) for n in parse_markers(sentence)[1])
    return Checked(draft, verified, cited)
