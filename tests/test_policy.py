"""The acceptance checks of qa/policy.py on hand-made evidence: with a judge, a time, a place,
a person or a role is left to the judge's question; without one, the answer-type rules hold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from qa.citations import Verified
from qa.pipeline.verify import Checked
from qa.policy import Evidence, Extractive, JudgedSentence, Policy
from qa.reader import Reading, Span
from qa.schema import Citation, Passage, Reason, Sentence
from qa.text import expected_answer_type

MANUAL = (
    "The water filter sits behind the boiler in the basement. Replace it every two weeks. "
    "Questions go to customer support. The casing is painted green. "
    "Maria Lopez, the engineer, said the casing is green."
)


def evidence(
    question: str, answer: str, quote: str, judge_says: bool | None, text: str = MANUAL
) -> Evidence:
    start = text.index(quote)
    passage = Passage(1, "manual.txt", "Manual", text, 0, len(text), 1, None, 1.0, 0.8)
    citation = Citation(1, "manual.txt", "Manual", quote, start, start + len(quote), 1, None, 1.0)
    verified = Verified(
        text=f"{answer} [1]",
        sentences=[Sentence(answer, (1,), True)],
        citations=[citation],
        repointed=0,
        dropped=0,
        added=0,
    )

    def answers(q: str, a: str, quotes: Sequence[str]) -> bool:
        assert judge_says is not None
        return judge_says

    return Evidence(
        question=question,
        kind=expected_answer_type(question),
        draft=f"{answer} [1]",
        passages=[passage],
        reading=Reading(None, []),
        checked=Checked(f"{answer} [1]", verified, (1,)),
        answers=None if judge_says is None else answers,
    )


CASES = [
    (
        "Where is the water filter?",
        "It is behind the boiler in the basement.",
        "The water filter sits behind the boiler in the basement.",
    ),
    ("When should the filter be replaced?", "Every two weeks.", "Replace it every two weeks."),
    ("Who answers questions?", "Customer support.", "Questions go to customer support."),
]


@pytest.mark.parametrize("question,answer,quote", CASES)
def test_with_a_judge_the_answer_in_plain_words_stands(question, answer, quote):
    assert Policy().review(evidence(question, answer, quote, judge_says=True)).reason is None


@pytest.mark.parametrize("question,answer,quote", CASES)
def test_the_judge_still_refuses_what_the_quotes_do_not_answer(question, answer, quote):
    verdict = Policy().review(evidence(question, answer, quote, judge_says=False))
    assert verdict.reason is Reason.NOT_ANSWERED


def test_without_a_judge_the_type_rules_hold():
    where = evidence(*CASES[0], judge_says=None)
    assert Policy().review(where).reason is Reason.ANSWER_TYPE


def test_a_number_question_needs_a_number_even_with_a_judge():
    e = evidence(
        "How many filters are there?", "It is painted green.", "The casing is painted green.", True
    )
    assert Policy().review(e).reason is Reason.ANSWER_TYPE


@pytest.mark.parametrize(
    "question,answer,restated",
    [
        (
            "Which action makes an optional argument a flag?",
            "The action makes an optional argument a flag.",
            True,
        ),
        ("Which problem has both effects?", "The problem has both effects.", True),
        ("Which action makes an optional argument a flag?", "store_true does.", False),
        ("What do you type to deactivate it?", "To deactivate it, type: deactivate", False),
        ("Does the casing come in green?", "The casing does not come in green.", False),
        ("Is the casing green?", "Yes, the casing is green.", False),
        ("Is the casing green?", "The casing isn't green.", False),
    ],
)
def test_an_answer_that_only_restates_the_question(question, answer, restated):
    from qa.policy import restates

    assert restates(answer, question) is restated


def test_a_restated_answer_is_not_accepted():
    quote = "The casing is painted green."
    e = evidence("Which casing is painted green?", "The casing is painted green.", quote, True)
    assert Policy().review(e).reason is Reason.RESTATED
    off = Policy.build(off="restated")
    assert off.review(e).reason is None


def test_what_noun_needs_the_noun_in_a_cited_passage_even_with_a_judge():
    e = evidence(
        "What religion is the casing?", "It is painted green.", "The casing is painted green.", True
    )
    assert Policy().review(e).reason is Reason.OFF_QUESTION


def test_a_role_for_a_who_question_is_refused_when_the_quote_names_the_person():
    quote = "Maria Lopez, the engineer, said the casing is green."
    e = evidence("Who said the casing is green?", "The engineer said it.", quote, True)
    assert Policy().review(e).reason is Reason.ANSWER_TYPE


@pytest.mark.parametrize("answer", ["Lopez said it.", "Lopez."])
def test_a_who_answer_may_open_with_the_name_the_passage_gives(answer):
    # "Ladner [1]." for "Who demonstrated ...?" was refused: a capitalised first word was
    # no name, however the passage wrote it ("It was shown by Ladner that ...").
    quote = "Maria Lopez, the engineer, said the casing is green."
    e = evidence("Who said the casing is green?", answer, quote, True)
    assert Policy().review(e).reason is None


def test_an_opening_word_the_passages_never_write_as_a_name_is_none():
    quote = "Maria Lopez, the engineer, said the casing is green."
    e = evidence("Who said the casing is green?", "Engineers said it.", quote, True)
    assert Policy().review(e).reason is Reason.ANSWER_TYPE


@pytest.mark.parametrize(
    "sentence,shown",
    [
        ("The casing is painted green.", "“The casing is painted green.”"),
        ("“It is green,” she said.", "“It is green,” she said."),
    ],
)
def test_an_extractive_answer_is_quoted_once(sentence, shown):
    from qa.pipeline.compose import extractive
    from qa.reader import Span
    from qa.schema import Trace

    text = f"Intro. {sentence}"
    passage = Passage(1, "m.txt", "M", text, 0, len(text), 1, None, 1.0, 0.8)
    span = Span(1, "m.txt", 7, len(text), sentence, 0.9, 1.0, True, 1.0)
    answer = extractive("q", "q", [passage], span, Reason.ANSWER_TYPE, Trace(), "")
    assert answer.text == f"{shown} [1]" and answer.citations[0].quote == sentence


@pytest.mark.parametrize(
    "before,quoted",
    [
        # "It" is the council: the sentence before says so, and is quoted with it.
        ("The European Council meets twice a year. ", True),
        # A title line ends no sentence: it is no antecedent.
        ("European Council\n\n", False),
    ],
)
def test_an_extractive_sentence_that_points_back_is_quoted_with_the_one_before(before, quoted):
    from qa.pipeline.compose import extractive
    from qa.reader import Span
    from qa.schema import Trace

    sentence = "It appoints the board of the central bank."
    text = f"{before}{sentence}"
    passage = Passage(1, "eu.txt", "EU", text, 100, 100 + len(text), 1, None, 1.0, 0.8)
    at = 100 + len(before)
    span = Span(1, "eu.txt", at, at + len(sentence), sentence, 0.9, 1.0, True, 1.0)
    answer = extractive("q", "q", [passage], span, Reason.ANSWER_TYPE, Trace(), "")
    quote = answer.citations[0].quote
    if quoted:
        assert quote == text and answer.text == f"“{' '.join(text.split())}” [1]"
        assert answer.citations[0].start == 100
    else:
        assert quote == sentence and answer.citations[0].start == at


HISTORY = (
    "By 1985, the average American vehicle moved 17.4 miles per gallon, compared to 13.5 in "
    "1970. In 1979 the average was 15.9 miles per gallon."
)


def test_an_answer_whose_quote_gives_other_years_than_the_question_is_off_question():
    question = "In 1979, what was the average fuel economy of American cars?"
    other = "By 1985, the average American vehicle moved 17.4 miles per gallon, compared to 13.5 in 1970."
    verdict = Policy().review(evidence(question, "17.4 miles per gallon.", other, True, HISTORY))
    assert verdict.reason is Reason.OFF_QUESTION
    right = "In 1979 the average was 15.9 miles per gallon."
    right_answer = evidence(question, "15.9 miles per gallon.", right, True, HISTORY)
    assert Policy().review(right_answer).reason is None


def test_an_answers_number_from_a_sentence_of_another_year_is_off_question():
    # The quote names the asked decade in one sentence and gives the figure in another,
    # dated otherwise.
    question = "In 1979, what was the average fuel economy of American cars?"
    text = (
        "Small four-cylinder models were on sale by the late 1970s. By 1985, the average "
        "American vehicle moved 17.4 miles per gallon, compared to 13.5 in 1970."
    )
    verdict = Policy().review(evidence(question, "17.4 miles per gallon.", text, True, text))
    assert verdict.reason is Reason.OFF_QUESTION
    # A figure in the sentence of the asked time stands, and so does one in an undated one.
    dated = text.replace("By 1985", "In 1979")
    assert Policy().review(evidence(question, "17.4 miles per gallon.", dated, True, dated)).reason is None  # fmt: skip
    undated = text.replace("By 1985, the", "The").replace(", compared to 13.5 in 1970", "")
    assert Policy().review(evidence(question, "17.4 miles per gallon.", undated, True, undated)).reason is None  # fmt: skip


def test_an_answer_from_documents_that_never_name_the_asked_year_is_off_question():
    question = "What major change was made to the treaties in 1960?"
    text = "The Treaties limit free trade, to prioritise public health and fair competition."
    answer = "The Treaties limit free trade."
    quote = "The Treaties limit free trade"
    verdict = Policy().review(evidence(question, answer, quote, True, text))
    assert verdict.reason is Reason.OFF_QUESTION
    # The year anywhere in what was retrieved of the cited document will do.
    dated = text + " The 1960 amendment kept these limits."
    assert Policy().review(evidence(question, answer, quote, True, dated)).reason is None


def test_a_sentence_whose_document_never_names_the_asked_year_is_not_quoted():
    question = "What major change was made to the treaties in 1960?"
    text = "The Treaties limit free trade, to prioritise public health."
    span = Span(1, "eu.txt", 0, len(text), text, 0.8, 0.8, True, 1.0)
    passage = Passage(1, "eu.txt", "EU law", text, 0, len(text), 1, None, 1.0, 0.8)
    yes = lambda q, a, quotes: True  # noqa: E731
    assert not Extractive().allows(span, question, yes, [passage])
    assert Extractive().allows(span, "What do the treaties limit?", yes, [passage])
    reading = Reading(None, [span])
    judged = JudgedSentence().pick(
        Reason.NOT_ANSWERED, reading, question, lambda q, a, s: 1.0, [passage]
    )
    assert judged is None


def test_a_sentence_dated_elsewhere_is_not_quoted_as_the_answer():
    question = "In 1979, what was the average fuel economy of American cars?"
    text = HISTORY.split(". In")[0] + "."
    span = Span(1, "cars.txt", 0, len(text), text, 0.8, 0.8, True, 1.0)
    yes = lambda q, a, quotes: True  # noqa: E731
    assert not Extractive().allows(span, question, yes)
    assert Extractive().allows(span, "What was the average fuel economy in 1985?", yes)
    reading = Reading("number", [span])
    picked = JudgedSentence().pick(Reason.NOT_ANSWERED, reading, question, lambda q, a, s: 1.0)
    assert picked is None
    assert JudgedSentence().pick(
        Reason.NOT_ANSWERED, reading, "How far in 1985?", lambda q, a, s: 1.0
    )


def test_the_judged_sentence_must_hold_the_number_asked_for_and_not_the_opposite():
    sure = lambda q, a, s: 1.0  # noqa: E731
    text = "Some descendants in the Netherlands bear French family names."
    span = Span(1, "nl.txt", 0, len(text), text, 0.8, 0.8, False, 1.0)
    reading = Reading("number", [span])
    asked = "How many French family names are used in the Netherlands?"
    assert JudgedSentence().pick(Reason.MODEL_REFUSED, reading, asked, sure) is None
    asked = "What names do descendants in the Netherlands bear?"
    assert JudgedSentence().pick(Reason.MODEL_REFUSED, reading, asked, sure) is span
    text = "Tumour antigens are presented in a similar way to viral antigens."
    span = Span(1, "im.txt", 0, len(text), text, 0.8, 0.8, False, 1.0)
    asked = "What antigens are presented differently from viral antigens?"
    assert JudgedSentence().pick(Reason.MODEL_REFUSED, Reading(None, [span]), asked, sure) is None


IMMUNE = (
    "Disorders of the immune system can result in autoimmune diseases, inflammatory diseases "
    "and cancer. Immunodeficiency occurs when the immune system is less active than normal."
)


def test_a_question_asking_what_is_not_so_needs_a_cited_passage_that_denies_something():
    asked = "What is not caused by disorders of the immune system?"
    answer, quote = "Inflammatory diseases and cancer.", IMMUNE.split(" Immuno")[0]
    e = evidence(asked, answer, quote, True, text=IMMUNE)
    assert Policy().review(e).reason is Reason.OFF_QUESTION
    # The same answer to the question without the "not" stands
    plain = evidence(asked.replace(" not", ""), answer, quote, True, text=IMMUNE)
    assert Policy().review(plain).reason is None
    # A passage that denies something can answer it (the judge decides whether it does)
    denying = IMMUNE.replace("less active", "not as active")
    e = evidence(asked, answer, quote, True, text=denying)
    assert Policy().review(e).reason is None
    # "whether or not" asks no such thing
    e = evidence("Whether or not what is caused by immune disorders?", answer, quote, True, IMMUNE)
    assert Policy().review(e).reason is None


def test_a_default_answers_what_holds_when_nothing_is_given():
    # "if I don't pass one" asks what holds without it: the option's default says that.
    asked = "Which character encoding does a new StringDecoder use if I don't pass one?"
    text = "* `encoding` {string} The encoding the `StringDecoder` will use. **Default:** `'utf8'`."
    e = evidence(asked, "It uses 'utf8'.", text, True, text=text)
    assert Policy().review(e).reason is None
    no_default = text.replace(" **Default:** `'utf8'`.", " It is `'utf8'`.")
    e = evidence(asked, "It uses 'utf8'.", no_default, True, text=no_default)
    assert Policy().review(e).reason is Reason.OFF_QUESTION


def test_a_sentence_that_denies_nothing_is_not_quoted_for_what_is_not_so():
    asked = "What is not caused by disorders of the immune system?"
    text = IMMUNE.split(" Immuno")[0]
    span = Span(1, "immune.txt", 0, len(text), text, 0.8, 0.8, True, 1.0)
    passage = Passage(1, "immune.txt", "Immune system", text, 0, len(text), 1, None, 1.0, 0.8)
    yes = lambda q, a, quotes: True  # noqa: E731
    assert not Extractive().allows(span, asked, yes, [passage])
    assert Extractive().allows(span, asked.replace(" not", ""), yes, [passage])
    reading = Reading(None, [span])
    sure = lambda q, a, s: 1.0  # noqa: E731
    assert JudgedSentence().pick(Reason.NOT_ANSWERED, reading, asked, sure, [passage]) is None
    assert JudgedSentence().pick(Reason.NOT_ANSWERED, reading, "What is caused by them?", sure, [passage])  # fmt: skip


def test_the_judges_sentence_must_stand_out_among_the_passages():
    # A page's sentences about its topic score alike; none of them is on the question's point.
    question = "How do you check whether a host is reachable with the netprobe module?"
    first = "Since netprobe is a module for probing hosts, the first thing to do is create a probe."
    second = "Hosts are usually grouped into networks, so netprobe can probe a whole network."
    close = [
        Span(1, "netprobe.html", 0, len(first), first, 0.76, 0.30, False, 0.94),
        Span(2, "netprobe.html", 100, 100 + len(second), second, 0.74, 0.28, False, 0.87),
    ]
    sure = lambda q, a, s: 1.0  # noqa: E731
    judged = JudgedSentence()
    assert Reading(None, close).margin < judged.min_margin
    assert judged.pick(Reason.NOT_ANSWERED, Reading(None, close), question, sure) is None
    # The same sentence well ahead of the others is quoted when the judge is sure.
    ahead = [close[0], Span(2, "netprobe.html", 100, 100 + len(second), second, 0.5, 0.1, False, 0.56)]  # fmt: skip
    assert judged.pick(Reason.NOT_ANSWERED, Reading(None, ahead), question, sure) is close[0]
    # A lone sentence has no rival.
    assert judged.pick(Reason.NOT_ANSWERED, Reading(None, close[:1]), question, sure) is close[0]


def test_an_answer_that_repeats_the_previous_turn():
    from qa.pipeline.condense import Turn
    from qa.policy import repeats

    turn = Turn("Whom does it appoint?", "Which body is made of the heads of state? The Council.")
    assert repeats("The Council is made of the heads of state [1].", turn, 0.6)
    assert not repeats("The Council appoints the President of the Bank [1].", turn, 0.6)
    assert not repeats("The Council, with the Bank and the Court, is made of state heads.", turn, 0.75)  # fmt: skip
    assert not repeats("Yes, the Council is made of the heads of state.", turn, 0.6)
    # A word of the follow-up's root is one of its words: "settlers" for "settle".
    before = "When did the settlers arrive in the valley? The settlers arrived before 900."
    turn = Turn("Where in the west did they settle?", before)
    answer = "The settlers arrived before 900 on the western coast [1]."
    assert not repeats(answer, turn, 0.6)
    assert repeats("The settlers arrived before 900 [1].", Turn("Where is it?", before), 0.6)


def test_a_sentence_that_repeats_the_previous_turn_is_not_quoted_for_a_follow_up():
    # A follow-up whose rewrite failed is searched with the previous question beside it: the
    # sentence that answered that question reads as the best answer to this one.
    from qa.pipeline.condense import Turn

    turn = Turn("Whom does it appoint?", "Which body is made of the heads of state? The Council.")
    asked = "Whom does it appoint? (Follow-up to: Which body is made of the heads of state?)"
    text = "The Council is made of the heads of state of the members."
    span = Span(1, "eu.txt", 0, len(text), text, 0.8, 0.8, True, 1.0)
    yes = lambda q, a, quotes: True  # noqa: E731
    assert not Policy().allows_extract(span, asked, yes, (), turn)
    assert Policy().allows_extract(span, asked, yes)  # no follow-up: it may answer
    assert Policy.build(off="restated").allows_extract(span, asked, yes, (), turn)
    sure = lambda q, a, s: 1.0  # noqa: E731
    reading = Reading("name", [span])
    assert Policy().judged_span(Reason.NOT_ANSWERED, reading, asked, sure, (), turn) is None
    assert Policy().judged_span(Reason.NOT_ANSWERED, reading, asked, sure) is span


def test_the_sentence_next_to_the_judges_sentence_is_its_context_not_a_rival():
    question = "What reference is there to lacemakers in that century?"
    before = "Sources of that century asserted that some of the refugees were lacemakers."
    answer = "The only reference to lacemakers is of twenty-five widows who settled in Dover."
    text = f"{before} {answer}"
    p = Passage(1, "lace.txt", "Lace", text, 0, len(text), 1, None, 1.0, 0.8)
    b = len(before) + 1
    spans = [
        Span(1, "lace.txt", b, len(text), answer, 0.66, 0.55, False, 0.99),
        Span(1, "lace.txt", 0, len(before), before, 0.66, 0.50, False, 0.98),
    ]
    reading = Reading(None, spans)
    sure = lambda q, a, s: 1.0  # noqa: E731
    picked = JudgedSentence().pick(Reason.MODEL_REFUSED, reading, question, sure, [p])
    assert picked is spans[0]
    # Without its passage the two cannot be told to adjoin: the one before is a rival.
    assert JudgedSentence().pick(Reason.MODEL_REFUSED, reading, question, sure) is None
    # The same sentence in another place is a rival.
    apart = replace(spans[1], passage=2, source="other.txt")
    assert JudgedSentence().pick(Reason.MODEL_REFUSED, Reading(None, [spans[0], apart]), question, sure, [p]) is None  # fmt: skip


COMMISSION = (
    "The Commissioners, as a block, are then subject to a qualified majority vote of the "
    "Council to approve, and majority approval of the Parliament."
)


def test_quotes_that_say_the_opposite_of_the_question_are_off_question():
    # SQuAD 2.0's unanswerable "minority" question, answered from the "majority" sentence: the
    # sentence states the answer, and answers the opposite question. With or without a judge.
    question = "Who was subjected to a qualified minority vote of the Council for approval?"
    answer = "The Commissioners were subject to a qualified majority vote of the Council."
    for judge_says in (True, None):
        e = evidence(question, answer, COMMISSION, judge_says, COMMISSION)
        assert Policy().review(e).reason is Reason.OFF_QUESTION
    asked = question.replace("minority", "majority")
    assert Policy().review(evidence(asked, answer, COMMISSION, True, COMMISSION)).reason is None
    # Nor is the sentence quoted instead.
    span = Span(1, "manual.txt", 0, len(COMMISSION), COMMISSION, 0.8, 0.5, False, 1.0)
    assert not Extractive().allows(span, question, None)
    assert Extractive().allows(span, asked, None)
