"""Every rule that decides whether an answer is accepted, in the order the answerer applies it.

Each check is a small frozen dataclass: its name is the :class:`~qa.schema.Reason` it gives
when it fires, its thresholds are its fields. :class:`Policy` holds one of each, and
``QA_POLICY_OFF`` (a comma-separated list of names) turns checks off. In order:

1. ``low_relevance``: no passage is close enough to the question; the model is not asked.
2. ``model_refused``: the model said the sources hold no answer, or wrote nothing.
3. ``unsupported``: no sentence of the answer is supported by a source (cannot be turned off).
4. ``restated``: the answer only restates the question, with no word of its own.
5. ``answer_type``: the asked-for kind (the number for "how many") is in no supported
   sentence; with a judge, only for a number or a share (a time, a place, a person or a role
   is left to the judge's question).
6. ``contradicted``: the answer cites none of the one sentence that plainly answers and none
   of its asked-for items.
7. ``off_question``: the cited passages are about something else (or their documents never
   name the code names the question gives).
8. ``not_answered`` (with the entailment judge; last, as it costs a model call): the judge
   says the quotes do not answer the question asked.

Then what happens to an answer a check fired on: ``retry`` asks the model once more over the
best few sentences; ``extractive`` quotes the sentence that plainly answers instead; with a
judge, when neither gave an answer, ``judged_sentence`` quotes the reader's best sentence if
the judge is sure it answers the question; else the answer is a refusal.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar

from qa.errors import QAError
from qa.language import active
from qa.markers import MARKER
from qa.pipeline.condense import Turn
from qa.pipeline.verify import Checked
from qa.prompts import is_refusal
from qa.reader import Reading, Span
from qa.retrieval import SENTENCES
from qa.schema import Citation, Passage, Reason
from qa.text import (
    answers_type,
    asked_noun,
    asks_negation,
    content_terms,
    counted_things,
    counts_elsewhere,
    dated_elsewhere,
    denies,
    expected_answer_type,
    holds,
    identifiers,
    kin,
    names,
    new_items,
    numbers,
    opposed,
    own_question,
    undated,
)

log = logging.getLogger(__name__)

# The judge's "do ``quotes`` give ``answer`` as the answer to ``question``?"
Answers = Callable[[str, str, Sequence[str]], bool]
# The same question, as the judge's probability of yes.
Judged = Callable[[str, str, Sequence[str]], float]


# The kinds of answer left to the judge's question when there is a judge: a time or a place,
# a person or a role is often answered in words no rule recognises ("every two weeks",
# "behind the boiler", "customer support"). A number or a share is not.
JUDGED_KINDS = frozenset({"date", "name"})


@dataclass(frozen=True)
class Evidence:
    """What the checks look at: one draft of the model, and (once verified) its check."""

    question: str
    kind: str | None  # the kind of answer the question asks for (number, date, name...)
    draft: str
    passages: Sequence[Passage]
    reading: Reading
    checked: Checked | None = None
    answers: Answers | None = None  # None: no judge
    turn: Turn | None = None  # a follow-up's: as asked, and the previous turn

    @property
    def verified(self) -> Checked:
        assert self.checked is not None, "a check after verification ran before it"
        return self.checked


@dataclass(frozen=True)
class Verdict:
    """The first check that fired (None: the answer stands), and the reader's best sentence
    when the model cited it but did not write its answer, to stand in for it."""

    reason: Reason | None = None
    agreed: Span | None = None


@dataclass(frozen=True)
class LowRelevance:
    name: ClassVar[Reason] = Reason.LOW_RELEVANCE
    min_similarity: float = 0.25  # the best passage's cosine to the question (QA_RETRIEVAL_...)

    def fires(self, passages: Sequence[Passage]) -> bool:
        best = max((p.similarity for p in passages), default=0.0)
        return not passages or best < self.min_similarity


@dataclass(frozen=True)
class ModelRefused:
    name: ClassVar[Reason] = Reason.MODEL_REFUSED
    before_verify: ClassVar[bool] = True
    lends: ClassVar[bool] = False

    def fires(self, e: Evidence) -> bool:
        return not e.draft or is_refusal(e.draft)


@dataclass(frozen=True)
class Unsupported:
    """Nothing the model said is supported by the sources: show no unsupported text."""

    name: ClassVar[Reason] = Reason.UNSUPPORTED
    before_verify: ClassVar[bool] = False
    lends: ClassVar[bool] = True

    def fires(self, e: Evidence) -> bool:
        return not e.verified.citations


@dataclass(frozen=True)
class NotAnswered:
    """Every sentence is stated by its quote; do the quotes answer the question *asked*?
    ("What is the population of Tarn?" is not answered by "2,400 people left Tarn".)"""

    name: ClassVar[Reason] = Reason.NOT_ANSWERED
    before_verify: ClassVar[bool] = False
    lends: ClassVar[bool] = True

    def fires(self, e: Evidence) -> bool:
        if e.answers is None:
            return False
        quotes = [c.quote for c in e.verified.citations]
        return not e.answers(e.question, e.verified.supported, quotes)


@dataclass(frozen=True)
class Restated:
    """The answer only restates the question: "Which action makes X a flag?" answered by "The
    action makes X a flag [1]" is verified, and says nothing. Every meaningful word of it is
    the question's, counted with repeats ("What do you type to deactivate it?" is answered by
    "type: deactivate"). A yes or a no says something of its own.

    Nor does an answer to a follow-up that only repeats the previous turn: none of the
    follow-up's own words, and at least ``previous_share`` of its words from the previous
    question and answer. "Whom does it appoint?", after "Which EU body is composed of the Prime
    Ministers ...?", was answered "The European Council ... is composed of the Prime Ministers
    ...". Over the 53 different answers to follow-ups in the suite's runs, that one answer has
    0.73 of its words from the previous turn; the right answers that hold none of their
    follow-up's words ("The RAND Corporation.") have at most 0.42."""

    name: ClassVar[Reason] = Reason.RESTATED
    before_verify: ClassVar[bool] = False
    lends: ClassVar[bool] = True
    previous_share: float = 0.6

    def fires(self, e: Evidence) -> bool:
        answer = e.verified.supported
        return restates(answer, e.question) or self.repeats_turn(answer, e.turn)

    def repeats_turn(self, text: str, turn: Turn | None) -> bool:
        """Whether ``text`` (an answer, or a sentence to quote) only repeats the previous
        turn of a follow-up."""
        return turn is not None and repeats(text, turn, self.previous_share)


def says_yes_or_no(answer: str) -> bool:
    """Whether ``answer`` holds a yes or a no (the profile's polarity words): it then says
    something of its own, whatever its other words."""
    return bool(re.search(active().polarity_pattern, answer.lower()))


def restates(answer: str, question: str) -> bool:
    """Whether ``answer`` holds no meaningful word beyond those of ``question``, and no yes/no."""
    if not answer.strip() or says_yes_or_no(answer):
        return False
    return not Counter(content_terms(answer)) - Counter(content_terms(question))


def repeats(answer: str, turn: Turn, share: float) -> bool:
    """Whether ``answer`` holds none of the follow-up's own words (nor a word of their root:
    "settlers" for "Where did they settle?") and draws ``share`` of its words (counted with
    repeats) from the previous turn; a yes or a no says something."""
    terms = content_terms(MARKER.sub("", answer))
    if not terms or says_yes_or_no(answer):
        return False
    if any(kin(a, t) for a in set(content_terms(turn.asked)) for t in set(terms)):
        return False
    previous = set(content_terms(MARKER.sub("", turn.previous)))
    return sum(t in previous for t in terms) / len(terms) >= share


@dataclass(frozen=True)
class AnswerType:
    """ "How many ...?" answered without a number (and so on), or only in a sentence the
    sources do not support. Kept beside the judge's question: on seeds, with only the judge,
    "What share ...?" was accepted when answered by another number (key facts 0.878 and one
    unanswerable question answered; before the judge, with these checks, 0.939 and none)."""

    name: ClassVar[Reason] = Reason.ANSWER_TYPE
    before_verify: ClassVar[bool] = False
    lends: ClassVar[bool] = True
    judged_kinds: frozenset[str] = JUDGED_KINDS

    def fires(self, e: Evidence) -> bool:
        kind = expected_answer_type(e.question)
        # An answer may open with the name it gives ("Ladner [1]."): a capitalised first
        # word counts when the passages write it as a name.
        known = names(" ".join(p.text for p in e.passages)) if kind == "name" else set()
        answered = answers_type(e.verified.supported, e.question, known)
        if e.answers is not None and kind in self.judged_kinds:
            # Left to the judge, unless the cited quotes hold a name (a date) of their own
            # that the answer leaves out: "Who said it?" answered "the spokesman" when the
            # quote names him.
            quotes = " ".join(c.quote for c in e.verified.citations)
            return not answered and answers_type(quotes, e.question)
        return not answered


@dataclass(frozen=True)
class Contradicted:
    """The model cited elsewhere and wrote a different number/date/name than the one sentence
    that plainly answers: trust the sentence (2,400 who left vs 120 who stayed)."""

    name: ClassVar[Reason] = Reason.CONTRADICTED
    before_verify: ClassVar[bool] = False
    lends: ClassVar[bool] = False

    def fires(self, e: Evidence) -> bool:
        decisive = e.reading.decisive
        v = e.verified.verified
        return decisive is not None and contradicts(v.text, v.citations, decisive, e.question)


@dataclass(frozen=True)
class OffQuestion:
    """The cited passages must be about what the question asks, not just near it. "How many
    passengers were injured?" is not answered by a passage about crew who were rescued,
    however well it supports the sentence quoting it."""

    name: ClassVar[Reason] = Reason.OFF_QUESTION
    before_verify: ClassVar[bool] = False
    lends: ClassVar[bool] = False
    focus_min: float = 0.3  # weighted share of the question's words in a cited passage
    judged_kinds: frozenset[str] = JUDGED_KINDS  # kinds whose focus the judge checks instead

    def fires(self, e: Evidence) -> bool:
        return not self.on_question(e)

    def on_question(self, e: Evidence) -> bool:
        cited = cited_passages(e.verified.citations, e.passages)
        # Kept with the judge: on SQuAD 2.0 it refuses "What religion was X?" answered from a
        # passage that names none, which the judge accepted ("What colour ...?" answered by
        # "painted green" is refused too: a passage must say "colour").
        noun = asked_noun(e.question)
        if noun and not any(noun in content_terms(p.text) for p in cited):
            return False  # "What resolution did ...?" and no cited passage mentions one
        # "What is not caused by ...?" is not answered by passages that deny nothing.
        if not answers_negation(e.question, [p.text for p in cited]):
            log.info("off question: it asks what is not so, and no cited passage denies anything")
            return False
        # "What is the least abundant type of phagocyte?" is not answered by quotes that say
        # "the most abundant" and not "the least": they answer the opposite question.
        quotes = " ".join(c.quote for c in e.verified.citations)
        if says_opposite(e.question, quotes):
            return False
        # The code names the question gives ("Which ArgumentParser parameter ...?") must be in
        # what was retrieved of the cited documents: a document that never names them answers
        # another question, however well it states the answer's sentence.
        asked = identifiers(e.question)
        documents = document_text(e.passages, {p.doc_id for p in cited})
        if asked and not holds(documents, asked):
            log.info("off question: no cited document names %s", sorted(asked))
            return False
        # "In 1979, what was the average mileage?" is not answered by a quote that gives the
        # figure of 1985 (and of 1970) but not of the year asked about: the judge reads the
        # figure as the answer, and SQuAD 2.0's unanswerable questions change a year this way.
        # Nor is "What was changed in 1960?" by documents that never name 1960 (nor its decade
        # or century) in what was retrieved of them: they speak of another time.
        if elsewhen(e.question, quotes, documents):
            log.info("off question: the quotes or their documents give other years")
            return False
        # A quote of several sentences may name the asked time in one ("by the late 1970s")
        # and give the answer's figure in another dated otherwise ("By 1985, ... 17.4 miles
        # per gallon"): the sentences that hold the answer's numbers must not speak of other
        # years only. On all 2,914 SQuAD 2.0 questions, the sentence that holds the answer
        # of each of the 45 answerable ones that name a year is dated by none or by that year.
        if numbers_dated_elsewhere(e.question, e.verified.supported, e.verified.citations):
            log.info("off question: the answer's numbers stand in sentences of other years")
            return False
        if e.kind == "number":
            # "How many newborn babies ...?" answered with the quote's number of children: the
            # judge cannot tell which number belongs to which noun (0.87 against 0.88).
            given = new_items(e.verified.supported, e.question)
            things = counted_things(e.question)
            if any(counts_elsewhere(given, c.quote, things) for c in e.verified.citations):
                log.info("off question: the quote counts %s with another number", sorted(things))
                return False
        if e.kind is None or (e.answers is not None and e.kind in self.judged_kinds):
            return True
        numbers = {p.n for p in cited}
        spans = e.reading.spans
        focus = max((s.coverage for s in spans if s.passage in numbers), default=0.0)
        return focus >= self.focus_min


@dataclass(frozen=True)
class Retry:
    """Small models often miss an answer among six passages that they find among its three
    best sentences, and the answer may sit just outside the six: look twice as wide and ask
    once more over the best ``sentences``, when no source sentence can stand in."""

    name: ClassVar[str] = "retry"
    reasons: frozenset[Reason] = frozenset(
        {
            Reason.MODEL_REFUSED,
            Reason.UNSUPPORTED,
            Reason.RESTATED,
            Reason.ANSWER_TYPE,
            Reason.OFF_QUESTION,
            Reason.NOT_ANSWERED,
        }
    )
    sentences: int = 3  # QA_RETRIEVAL_RETRY_SENTENCES; 0: never

    def wants(self, reason: Reason, decisive: Span | None) -> bool:
        return reason in self.reasons and decisive is None and self.sentences > 0


@dataclass(frozen=True)
class Extractive:
    """One source sentence plainly answers (and the judge, when there is one, agrees that it
    answers the question asked): quote it verbatim instead of the doubted answer."""

    name: ClassVar[str] = "extractive"

    def allows(
        self,
        span: Span | None,
        question: str,
        answers: Answers | None,
        passages: Sequence[Passage] = (),
    ) -> bool:
        if span is None or not fits_question(question, span, passages):
            return False
        return answers is None or answers(question, span.text, [span.text])


@dataclass(frozen=True)
class JudgedSentence:
    """With a judge, the last step before a refusal, when no sentence plainly answers and the
    second look found nothing: the first look's best sentence, quoted verbatim, when the judge
    is sure that it answers the question asked. The small model often says "the sources do not
    contain the answer" twice with the answer in its first passage, or words a right answer
    that a rule turns down. ``min_yes`` (QA_CHECK_EXTRACT_MIN) sits above the citation judge's
    threshold: a sentence that is about the question is easily judged to answer it.

    The sentence must also stand out among the passages: beat by ``min_margin`` of the
    reader's score the best sentence that neither overlaps it nor adjoins it (the sentence
    just before or after it is its context: "Although 19th century sources have asserted that
    some of these refugees were lacemakers ..." scores as high as the answer after it). When
    sentences of several places are about as close (a page's sentences about its topic, none
    of them on the question's point), the judge's yes is no evidence. Chosen on the suite's
    runs and a second slice of 45 SQuAD 2.0 questions: of the 29 different sentences the judge
    let through, the 15 right ones stand 0.21 to 0.96 above; 9 of the 14 wrong ones (6 of them
    answers to unanswerable questions) 0.03 to 0.15."""

    name: ClassVar[str] = "judged_sentence"
    reasons: frozenset[Reason] = Retry.reasons
    min_yes: float = 0.9
    min_margin: float = 0.175
    judged_kinds: frozenset[str] = JUDGED_KINDS  # kinds the judge's yes may stand for

    def pick(
        self,
        reason: Reason,
        reading: Reading,
        question: str,
        judged: Judged | None,
        passages: Sequence[Passage] = (),
    ) -> Span | None:
        best = reading.best
        if judged is None or best is None or reason not in self.reasons:
            return None
        if margin_apart(reading, passages) < self.min_margin:
            return None
        if not fits_question(question, best, passages):
            return None
        # What the answer-type check asks of an answer with a judge, it asks of the sentence:
        # "How many French family names ...?" is not answered by a sentence without a number.
        kind = expected_answer_type(question)
        if kind is not None and kind not in self.judged_kinds:
            if not answers_type(best.text, question):
                return None
        return best if judged(question, best.text, [best.text]) >= self.min_yes else None


AnswerCheck = (
    ModelRefused | Unsupported | Restated | NotAnswered | AnswerType | Contradicted | OffQuestion
)
CHECKS: tuple[str, ...] = (
    *(r.value for r in Reason),
    Retry.name,
    Extractive.name,
    JudgedSentence.name,
)
REQUIRED = frozenset({Reason.UNSUPPORTED.value})  # answers show verified text only


@dataclass(frozen=True)
class Policy:
    low_relevance: LowRelevance = LowRelevance()
    model_refused: ModelRefused = ModelRefused()
    unsupported: Unsupported = Unsupported()
    restated: Restated = Restated()
    not_answered: NotAnswered = NotAnswered()
    answer_type: AnswerType = AnswerType()
    contradicted: Contradicted = Contradicted()
    off_question: OffQuestion = OffQuestion()
    retry: Retry = Retry()
    extractive: Extractive = Extractive()
    judged_sentence: JudgedSentence = JudgedSentence()
    off: frozenset[str] = field(default_factory=frozenset)  # names of checks turned off

    def __post_init__(self) -> None:
        unknown = sorted(set(self.off) - set(CHECKS))
        if unknown:
            raise QAError(
                f"QA_POLICY_OFF names no check {', '.join(unknown)}; the checks are "
                f"{', '.join(CHECKS)}."
            )
        if self.off & REQUIRED:
            raise QAError(
                "QA_POLICY_OFF: 'unsupported' cannot be turned off (an answer with no "
                "supported sentence would show unverified text); remove it from the list."
            )

    @classmethod
    def build(
        cls,
        off: str | Iterable[str] = "",
        *,
        min_relevance: float = LowRelevance.min_similarity,
        retry_sentences: int = Retry.sentences,
        judged_min: float = JudgedSentence.min_yes,
    ) -> Policy:
        """The policy with the settings' thresholds; ``off``: names, or "a,b" as in
        QA_POLICY_OFF."""
        names = off.split(",") if isinstance(off, str) else off
        return cls(
            low_relevance=LowRelevance(min_relevance),
            retry=replace(Retry(), sentences=retry_sentences),
            judged_sentence=JudgedSentence(min_yes=judged_min),
            off=frozenset(n.strip() for n in names if n.strip()),
        )

    @property
    def checks(self) -> tuple[AnswerCheck, ...]:
        """The checks on a draft, in the order they apply (those turned off left out)."""
        # The cheap checks first; the judge's question (a model call) last.
        every = (
            self.model_refused,
            self.unsupported,
            self.restated,
            self.answer_type,
            self.contradicted,
            self.off_question,
            self.not_answered,
        )
        return tuple(c for c in every if c.name.value not in self.off)

    def gate(self, passages: Sequence[Passage]) -> Reason | None:
        """Before the model is asked: refuse at once when retrieval found nothing close."""
        on = Reason.LOW_RELEVANCE.value not in self.off
        return Reason.LOW_RELEVANCE if on and self.low_relevance.fires(passages) else None

    def screen(self, e: Evidence) -> Verdict:
        """The checks on the draft alone (before it is verified)."""
        return self._first([c for c in self.checks if c.before_verify], e)

    def review(self, e: Evidence) -> Verdict:
        """The checks on the verified draft."""
        return self._first([c for c in self.checks if not c.before_verify], e)

    def _first(self, checks: Sequence[AnswerCheck], e: Evidence) -> Verdict:
        for check in checks:
            if check.fires(e):
                cited = e.checked.cited if e.checked else ()
                citations = e.checked.citations if e.checked else []
                agreed = e.reading.agreed(citations, cited) if check.lends else None
                return Verdict(check.name, agreed)
        return Verdict()

    def wants_retry(self, reason: Reason, decisive: Span | None) -> bool:
        return self.retry.name not in self.off and self.retry.wants(reason, decisive)

    def judged_span(
        self,
        reason: Reason,
        reading: Reading,
        question: str,
        judged: Judged | None,
        passages: Sequence[Passage] = (),
        turn: Turn | None = None,
    ) -> Span | None:
        if self.judged_sentence.name in self.off or self.extractive.name in self.off:
            return None
        span = self.judged_sentence.pick(reason, reading, question, judged, passages)
        return None if span is None or self._repeats(span, turn) else span

    def allows_extract(
        self,
        span: Span | None,
        question: str,
        answers: Answers | None,
        passages: Sequence[Passage] = (),
        turn: Turn | None = None,
    ) -> bool:
        """``turn``: a follow-up's; a sentence that only repeats the previous turn answers the
        previous question (as the restated check says of an answer)."""
        if span is not None and self._repeats(span, turn):
            return False
        return self.extractive.name not in self.off and self.extractive.allows(
            span, question, answers, passages
        )

    def _repeats(self, span: Span, turn: Turn | None) -> bool:
        return self.restated.name.value not in self.off and self.restated.repeats_turn(
            span.text, turn
        )


def contradicts(text: str, citations: Sequence[Citation], span: Span, question: str) -> bool:
    """Whether an answer cites none of ``span`` and none of its asked-for items (numbers,
    dates, names) are in it."""
    if any(c.source == span.source and span.overlaps(c.start, c.end) for c in citations):
        return False
    items = new_items(text, question)
    return bool(items) and not (
        items & (new_items(span.text, question) | set(content_terms(span.text)))
    )


def document_text(passages: Sequence[Passage], docs: Iterable[str]) -> str:
    """What was retrieved of the documents ``docs``: their titles and passages."""
    wanted = set(docs)
    return " ".join(f"{p.title} {p.text}" for p in passages if p.doc_id in wanted)


def elsewhen(question: str, quoted: str, documents: str | None) -> bool:
    """Whether ``quoted`` speaks of other years than the question asks about: it gives only
    other years, or ``documents`` (what was retrieved of its documents; None: unknown) never
    name the asked ones."""
    return dated_elsewhere(question, quoted) or (
        documents is not None and undated(question, documents)
    )


def margin_apart(reading: Reading, passages: Sequence[Passage] = ()) -> float:
    """How far the reader's best sentence beats the best one that neither overlaps it nor
    adjoins it in its passage (only spaces between them, as ``passages`` give them)."""
    best = reading.best
    if best is None:
        return 0.0
    p = next((p for p in passages if p.n == best.passage), None)

    def adjoins(span: Span) -> bool:
        if p is None or span.source != best.source:
            return False
        lo, hi = (span.end, best.start) if span.end <= best.start else (best.end, span.start)
        return p.start <= lo <= hi <= p.end and not p.text[lo - p.start : hi - p.start].strip()

    return reading.margin_over(lambda span: not adjoins(span))


def numbers_dated_elsewhere(question: str, answer: str, citations: Sequence[Citation]) -> bool:
    """Whether the quoted sentences that hold the numbers ``answer`` gives (and ``question``
    does not) all date what they say by other years than the asked ones."""
    given = numbers(MARKER.sub("", answer)) - numbers(question)
    if not given:
        return False
    held = [
        c.quote[a:b]
        for c in citations
        for a, b in SENTENCES.split(c.quote)
        if numbers(c.quote[a:b]) & given
    ]
    return bool(held) and all(dated_elsewhere(question, s) for s in held)


def fits_question(question: str, span: Span, passages: Sequence[Passage]) -> bool:
    """Whether a reader's sentence may be quoted as the answer to ``question`` (the reader's
    decisive sentence and the judge's last-resort one alike): it does not speak of other years
    than the question asks about, nor say the opposite of one of its words ("the most" for
    "the least"), and its passage denies something when the question asks what is not so."""
    if span_elsewhen(question, span, passages) or says_opposite(question, span.text):
        return False
    return answers_negation(question, span_passages(span, passages))


def span_elsewhen(question: str, span: Span, passages: Sequence[Passage]) -> bool:
    """:func:`elsewhen` for a reader's sentence, with what ``passages`` hold of its document."""
    documents = document_text(passages, [span.source]) if passages else None
    return elsewhen(question, span.text, documents)


def answers_negation(question: str, texts: Sequence[str]) -> bool:
    """A question that asks what is not so ("What is not caused by disorders of the immune
    system?") is answered only by a text that denies something ("not", "never", "inactive",
    "unaffected"): a passage that lists what disorders do cause answers the question without
    the "not". On all 2,914 SQuAD 2.0 questions of the suite's documents, the retrieved
    passage that holds the answer denies something for all 45 of the 47 answerable questions
    that ask so (the other 2 retrieve none that holds it), and the best passage denies nothing
    for 135 of the 283 unanswerable ones."""
    return not asks_negation(question) or any(denies(t) for t in texts)


def says_opposite(question: str, text: str) -> bool:
    """Whether ``text`` says the opposite of a word of ``question`` and not the word itself
    (:func:`qa.text.opposed`). On all 2,914 SQuAD 2.0 questions of the suite's documents it
    fires between 1 of the 1,355 answerable questions and the sentences that hold its answer;
    between 32 of the 1,559 unanswerable ones (written to look answerable: "the least
    abundant", "a qualified minority vote") and the sentence that shares most words with
    them; and on none of the answerable questions of seeds, python_docs and squad_followups."""
    pair = opposed(own_question(question), text)
    if pair is not None:
        log.info("the question says %r where the text says %r", *pair)
    return pair is not None


def span_passages(span: Span, passages: Sequence[Passage]) -> list[str]:
    """The text of the passage a reader's sentence comes from (the sentence alone when it is
    not among ``passages``)."""
    return [p.text for p in passages if p.n == span.passage] or [span.text]


def cited_passages(citations: Sequence[Citation], passages: Sequence[Passage]) -> list[Passage]:
    return [
        p
        for p in passages
        if any(c.source == p.doc_id and p.start <= c.start < p.end for c in citations)
    ]
