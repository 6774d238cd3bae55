"""Word, number and answer-type helpers."""

from __future__ import annotations

import pytest

from qa.text import (
    answers_type,
    asks_negation,
    content_terms,
    dated_elsewhere,
    denies,
    exchanged,
    expected_answer_type,
    holds,
    identifiers,
    kin,
    misplaced,
    names,
    number_rivals,
    numbers,
    opposed,
    own_question,
    undated,
    words,
    years,
)


def test_numbers_normalise_separators_and_words():
    assert numbers("3,179 people, including seven checkpoints and 1.5 km") == {"3179", "7", "1.5"}


def test_names_skip_the_sentence_start():
    assert names("The envoy Vitaly Churkin spoke. Peskov said so.") >= {"vitaly", "churkin"}
    assert "the" not in names("The envoy spoke.")


def test_a_sentence_opening_word_is_a_name_only_when_known():
    sources = names("It was shown by Ladner that P differs. Typing ends it.")
    assert sources == {"ladner"}
    assert names("Ladner showed it.") == set()
    assert names("Ladner showed it. Typing helps.", known=sources) == {"ladner"}
    assert answers_type("Ladner [1].", "Who showed it?", known=sources)
    assert not answers_type("Ladner [1].", "Who showed it?")


def test_a_stop_after_an_initial_does_not_end_the_sentence():
    assert names("It was popularized by Randal L. Schwartz.") == {"randal", "schwartz"}
    assert names("It ends here. Schwartz wrote it.") == set()


def test_content_terms_drop_stopwords_and_stem():
    assert content_terms("The militants were pardoned") == ["militant", "pardon"]


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many people left?", "number"),
        ("What share of UN aid goes there?", "share"),
        ("On what date was it published?", "date"),
        ("When did he say it?", "date"),
        ("Who said that?", "name"),
        ("Which city was it filed from?", "name"),
        ("Why did Putin decide so?", None),
    ],
)
def test_expected_answer_type(question, kind):
    assert expected_answer_type(question) == kind


def test_answers_type_needs_something_new_of_the_right_kind():
    q = "How many checkpoints were set up in western Aleppo?"
    assert answers_type("Seven checkpoints were set up [1].", q)
    assert not answers_type("Checkpoints were set up [1].", q)  # [1] is not a number
    assert answers_type("It was said on Friday [1].", "On what day did Peskov say it?")
    assert not answers_type("Peskov said it [1].", "Who said it, Peskov?")
    assert answers_type("Anything goes.", "Why did it happen?")


@pytest.mark.parametrize(
    "text, opened",
    [
        ("“Over 80,000 Syrians have been freed.", True),
        ("“They were freed,” he said.", False),
        ('they left," he said.', False),
        ('"We will go on.', True),
        ('He said: "We go.', True),
        ('He said: "We go."', False),
    ],
)
def test_open_quotation(text, opened):
    from qa.text import open_quotation

    assert open_quotation(text) is opened


# -- Unicode words -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Flights to Zürich", ["flights", "to", "zürich"]),
        ("São Paulo's metro", ["são", "paulo", "metro"]),
        ("a naïve approach", ["a", "naïve", "approach"]),
        ("Москва — столица России", ["москва", "столица", "россии"]),
        ("Η Αθήνα είναι πόλη", ["η", "αθήνα", "είναι", "πόλη"]),
        ("हिन्दी भाषा", ["हिन्दी", "भाषा"]),  # vowel signs are marks, still inside the word
        ("max_tokens and rock-'n'-roll", ["max", "tokens", "and", "rock-'n'-roll"]),
        ("Don’t stop", ["don't", "stop"]),
    ],
)
def test_words_are_unicode(text, expected):
    from qa.text import words

    assert words(text) == expected


def test_decomposed_accents_make_the_same_words():
    import unicodedata

    from qa.text import words

    decomposed = unicodedata.normalize("NFD", "naïve Zürich")
    assert decomposed != "naïve Zürich"
    assert words(decomposed) == ["naïve", "zürich"]


def test_names_in_any_script_with_capitals():
    found = names("Flights from São Paulo to Zürich, said Ørsted, and then to Москва.")
    assert {"são", "paulo", "zürich", "москва"} <= found
    assert "ørst" in found  # stemmed as "Orsted" would be
    assert "flights" not in found  # the sentence start
    assert names("Il part à Genève.") == {"genève"}


def test_a_possessive_is_its_name():
    """A claim's "Russia's envoy" names what a quote's "Russia" does, as ``words`` has it."""
    assert names("He met Russia's envoy and Putin’s aide, and O'Neill.") == {
        "russia",
        "putin",
        "o'neill",
    }
    assert names("He met Russia's envoy.") <= set(words("Russia said so."))


def test_a_name_keeps_its_particle_as_words_do():
    """ "Pierre d'Aulps" in a claim names what the quote's "Pierre d'Aulps" does: without its
    particle the name ("aulp") met no word of the quote ("d'aulp") and the claim lost half
    its names."""
    claim = "The family traced its ancestry to a man called Pierre d'Aulps."
    assert names(claim) == {"pierre", "d'aulp"}
    assert names(claim) <= set(content_terms("They descended from a Pierre d'Aulps."))
    assert names("She works at l’Oréal and dell'Orto.") == {"l'oréal", "dell'orto"}
    assert names("It isn't Paris.") == {"pari"}  # a contraction is no particle


@pytest.mark.parametrize(
    ("text", "whole"),
    [
        ("We save it as UTF-8 now.", {"utf-8"}),
        ("Turn on the Wi-Fi first.", {"wi-fi"}),
        ("Cases of COVID-19 fell.", {"covid-19"}),
        ("Flights to São Paulo left.", {"são", "paulo"}),
        ("We met in Zürich again.", {"zürich"}),
    ],
)
def test_names_keep_digits_and_joined_parts(text: str, whole: set[str]) -> None:
    found = names(text)
    assert whole <= found
    assert not any(n.endswith(("-", "'")) for n in found)  # no cut-off "utf-"
    assert names("Is COVID-19 like COVID-20 here?") >= {"covid-19", "covid-20"}


def test_content_terms_keep_non_ascii_words_whole():
    assert content_terms("The café in Zürich") == ["café", "zürich"]
    # the whole and its parts, as for ASCII ("mid-October")
    assert content_terms("Île-de-France") == ["île-de-france", "île", "de", "france"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Use the --proxy option or -m pip [1].", {"--proxy", "-m"}),
        ("Call os.path.join() after basicConfig().", {"os.path.join", "basicconfig"}),
        ("Pass mode='w' and host_bits=False.", {"mode", "w", "host_bits", "false"}),
        ("Run `python -m venv env` first.", {"python", "-m", "venv", "env"}),
        ("The __init__ method opens it with 'w+'.", {"__init__", "w+"}),
        ("Does ArgumentParser call getLogger?", {"argumentparser", "getlogger"}),
        ("What is the prize for P=NP?", {"p", "np"}),
        # prose: abbreviations, hyphenated words, contractions and versions are not code
        ("E.g. a one-sided deal, i.e. U.S. policy; don't upgrade to 3.11.", set()),
        ("Names are not camel case: JSON, UTF-8, COVID-19, Zürich, O'Neill.", set()),
    ],
)
def test_identifiers_are_the_code_like_tokens(text: str, expected: set[str]) -> None:
    assert identifiers(text) == expected


def test_holds_needs_every_identifier_as_written() -> None:
    passage = 'Give the keyword action the value "store_true"; see logging.basicConfig().'
    assert holds(passage, identifiers('Pass action="store_true" to basicConfig().'))
    assert not holds(passage, identifiers('Pass action="store_flag".'))
    assert holds(passage, set())
    # a missing space is not a new name
    assert holds("It can create .pyc files.", identifiers("It can create.pyc files."))


def test_number_rivals_put_the_quotes_other_numbers_in_the_claim() -> None:
    quote = "About 1,200 residents attended the meeting in Zürich, and 45 of them signed."
    assert number_rivals("45 residents signed.", quote) == ["1,200 residents signed."]
    # The same value written another way is no rival; a number the quote lacks has none.
    assert number_rivals("1200 residents attended.", quote) == ["45 residents attended."]
    assert number_rivals("300 residents attended.", quote) == []
    assert number_rivals("Ana Ruiz hired Tom Berg.", "Tom Berg hired Ana Ruiz.") == []
    # The number is replaced where it last stands, not inside a longer one.
    assert number_rivals("In 45 cases, 45 signed; 145 did not.", "45 or 7") == [
        "In 45 cases, 7 signed; 145 did not."
    ]


def test_exchanged_finds_two_terms_whose_swap_makes_the_claim_read_as_the_quote() -> None:
    quote = "For sorting, use strxfrm() for a key function or strcoll() for a comparison function."
    claim = "For sorting, use strcoll() for a key function or strxfrm() for a comparison function."
    assert exchanged(claim, quote) == ("strcoll", "strxfrm")
    quote = "The harbour closes in May, while the station closes in June."
    assert exchanged("The harbour closes in June, while the station closes in May.", quote)
    assert exchanged("The station closes in June, while the harbour closes in May.", quote) is None
    # A list in another order, or a speaker moved to the front, is no exchange.
    quote = "Ruiz and Berg signed the deal on Monday, the mayor said."
    assert exchanged("Berg and Ruiz signed the deal on Monday, the mayor said.", quote) is None
    assert exchanged("The mayor said Ruiz and Berg signed the deal on Monday.", quote) is None


RATIONS = [
    "The UK, Germany and Norway banned flying, driving and boating on Sundays.",
    "Sweden rationed gasoline and heating oil.",
    "The Netherlands imposed prison sentences for those who used more than their ration.",
]


def test_misplaced_finds_a_name_put_with_another_names_words() -> None:
    assert misplaced("The Netherlands rationed gasoline and heating oil.", RATIONS) == "netherland"
    assert misplaced("Sweden imposed prison sentences for using more than a ration.", RATIONS)
    assert misplaced("The 507 who stayed were pardoned.", ["507 left.", "The 48 who stayed were pardoned."]) == "507"  # fmt: skip
    # What the quote says, also over two of its sentences, and each name in its place
    for claim in [
        "Sweden rationed gasoline and heating oil.",
        "Sweden rationed gasoline, and the Netherlands imposed prison sentences.",
        "Norway banned driving on Sundays, and Sweden rationed heating oil.",
    ]:
        assert misplaced(claim, RATIONS) is None, claim
    # One sentence: nothing to mix up (the exchange and the judge see to it)
    assert misplaced("The Netherlands rationed gasoline.", [" ".join(RATIONS)]) is None


def test_misplaced_leaves_a_pronoun_a_speaker_and_a_rival_elsewhere_alone() -> None:
    # "It" is Storj: no other name stands where Storj stands
    storj = ["Storj encrypts files and splits them into pieces.", "It is directly compatible with Amazon S3 storage tools."]  # fmt: skip
    assert misplaced("Storj is directly compatible with Amazon S3 storage tools.", storj) is None
    # What Peskov said, in a quotation before its attribution
    said = ["“The final decision on the operation will be made by the president,” he said.", "Peskov spoke to reporters in Moscow."]  # fmt: skip
    assert misplaced("Peskov said the final decision on the operation will be made by the president.", said) is None  # fmt: skip
    # Ether stands after the words the claim puts before Ethereum: no rival in its place
    gas = ["Ethereum transactions are validated data sent by an account.", "As miners are rewarded, Gas, which can be converted into Ether later, is introduced to restrict the usage of resources."]  # fmt: skip
    assert misplaced("Gas is introduced to restrict the usage of resources in Ethereum transactions.", gas) is None  # fmt: skip


def test_years_are_spans_and_not_parts_of_other_numbers():
    assert years("In 1979, in the 1970s and the 1700s; not 12,1979, 1979.5, 1,000 or 3000") == {
        (1979, 1979),
        (1970, 1979),
        (1700, 1799),
    }
    assert years("(2024) and 2024.") == {(2024, 2024)}
    # Ordinal centuries cover the years of their hundred, as "the 1700s" does.
    assert years("in the 10th and 11th centuries, by the early 18th century") == {
        (900, 999),
        (1000, 1099),
        (1700, 1799),
    }
    assert years("21st-century cities; the 3rd floor; 18th of May") == {(2000, 2099)}


@pytest.mark.parametrize(
    "question,text,missing",
    [
        ("What was changed in the treaties in 1960?", "The Treaties limit free trade.", True),
        ("What was changed in 1960?", "In 1957 the treaty was signed.", True),
        (
            "What was changed in 1960?",
            "In 1957 the treaty was signed; in 1960 it was amended.",
            False,
        ),
        ("How many fled by the 1700s?", "500,000 had fled by the early 18th century.", False),
        ("Who ruled in the 1960s?", "In 1965 Weber ruled.", False),
        ("Who ruled the city?", "The city had no ruler.", False),  # no year asked
    ],
)
def test_a_text_is_undated_when_it_names_none_of_the_asked_years(question, text, missing):
    assert undated(question, text) is missing


@pytest.mark.parametrize(
    "question,quote,elsewhere",
    [
        (
            "In 1979, what was the average fuel economy of American cars?",
            "By 1985, the average American vehicle moved 17.4 miles per gallon, compared to 13.5 "
            "in 1970.",
            True,
        ),
        ("Who designed the bridge in 1932?", "In 1931 Anna Weber designed a new bridge.", True),
        (
            "Who designed the bridge in 1932?",
            "The bridge opened in 1932, designed by Weber.",
            False,
        ),
        ("What changed in the 1970s?", "By 1975 the cars were smaller.", False),
        ("What changed in the 1970s?", "By 1985 the cars were smaller.", True),
        ("Who ruled in 1700?", "In the 1700s, Louis ruled.", False),
        ("What happened in 1979?", "The cars became smaller.", False),  # no year: no evidence
        ("What happened to the cars?", "By 1985 the cars were smaller.", False),  # none asked
        ("Who won between 1970 and 1980?", "In 1980 Weber won.", False),
    ],
)
def test_a_quote_is_dated_elsewhere_when_it_gives_years_and_none_asked(question, quote, elsewhere):
    assert dated_elsewhere(question, quote) is elsewhere


def test_the_year_of_the_earlier_question_a_follow_up_carries_is_not_asked():
    # sf10 of eval/squad_followups.jsonl was refused for it: the rewrite failed, so the
    # follow-up was checked with its context, and 1979 is "dated elsewhere" than 1973.
    follow_up = "And which crisis was termed the second one?"
    carried = f"{follow_up} (Follow-up to: What was the 1973 oil crisis later called?)"
    assert own_question(carried) == follow_up
    assert own_question(follow_up) == follow_up
    quote = "It was later called the first oil shock, followed by the 1979 oil crisis."
    assert not dated_elsewhere(carried, quote)
    assert not undated(carried, "The second shock followed.")
    assert dated_elsewhere("Which crisis followed in 1973?", quote)


@pytest.mark.parametrize(
    "question,asks",
    [
        ("What is not caused by disorders of the immune system?", True),
        ("Which country wasn't hit by the embargo?", True),
        ("Which country wasn’t hit by the embargo?", True),
        ("What will Moscow no longer agree to?", True),
        ("Who never signed it?", True),
        ("What determines whether or not a problem can be solved?", False),
        ("How powerful may or may not a Turing machine be?", False),
        ("What was a non-religious reason for the massacre?", False),
        ("Which function reloads a module without restarting the interpreter?", False),
        ("Who sang No. 5?", False),
    ],
)
def test_asks_negation(question: str, asks: bool) -> None:
    assert asks_negation(question) is asks


def test_denies() -> None:
    for text in ["Moscow won’t agree.", "It is not used.", "without a key", "It is inactive.",
                 "The UK was relatively unaffected.", "a non-profit", "He declined to comment.",
                 "**Default:** `30`.", "It defaults to 'utf8'."]:  # fmt: skip
        assert denies(text), text
    for text in ["Disorders result in cancer.", "Under the treaty, until 1990.", "United Nations",
                 "No. 5 is sung by Lou Bega."]:  # fmt: skip
        assert not denies(text), text


def test_opposed_finds_a_word_whose_opposite_the_quote_says_instead() -> None:
    quote = "Neutrophils are the most abundant type of phagocyte."
    assert opposed("What is the least abundant type of phagocyte?", quote) == ("least", "most")
    assert opposed("What is the most abundant type of phagocyte?", quote) is None
    # Both said: the quote speaks of both, and opposes neither.
    assert opposed("the least visited", "the most and the least visited rooms") is None
    assert opposed("Who introduces a bill as a public member?", "Private bills are introduced by a promoter.") == ("public", "private")  # fmt: skip
    # Words whose converse says the same fact are no pair: "A is higher than B" is "B is lower".
    assert opposed("Prices were lower than in 1970.", "Prices in 1970 were higher.") is None
    assert opposed("", quote) is None and opposed("least", "") is None
    # An adverb says what its adjective does ("mostly" is no "most": too short a root).
    similar = "Tumour antigens are presented in a similar way to viral antigens."
    assert opposed("Which antigens are presented differently?", similar) == ("different", "similar")  # fmt: skip
    assert opposed("Which antigens are mostly presented?", "the least common") is None
    # "before" and "after" oppose each other only of the same thing: "A before B" is "B after A".
    passed = "After the bill has been passed, it becomes an Act."
    assert opposed("Before the bill has been passed, what does it become?", passed) == ("before", "after")  # fmt: skip
    assert opposed("After the bill has been passed, what does it become?", passed) is None
    assert opposed("The war ended before the treaty was signed.", "The treaty was signed after the war ended.") is None  # fmt: skip


def test_kin_words_share_a_root_the_stemmer_leaves_apart() -> None:
    assert kin("settle", "settler") and kin("settler", "settle") and kin("govern", "government")
    assert kin("art", "art") and not kin("art", "article") and not kin("settle", "saddle")
