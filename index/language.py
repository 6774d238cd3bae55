"""The language profile: every piece of knowledge about one natural language in one place.

``qa/`` (words, question types, refusals) and ``index/`` (the sentence splitter) read the
active profile through :func:`active`; no other module holds word lists. The profile lives in
``index/`` because the splitter needs it and ``index/`` never imports ``qa/``; ``qa.language``
re-exports it. A profile is plain data: adding a language means writing one more instance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one object per language
class LanguageProfile:
    code: str = field(metadata={"doc": "ISO 639-1 code, e.g. 'en'"})
    stopwords: frozenset[str] = field(
        metadata={"doc": "Lower-case words that carry no content (function words, say/said)"}
    )
    number_words: Mapping[str, str] = field(
        metadata={"doc": "Spelled-out numbers to their digits: 'seven' -> '7'"}
    )
    months: tuple[str, ...] = field(metadata={"doc": "Month names and their abbreviations"})
    days: tuple[str, ...] = field(metadata={"doc": "Weekday names and relative days ('today')"})
    share_pattern: str = field(
        metadata={"doc": "Regex for a share or proportion in lower-cased text ('40%', 'half')"}
    )
    answer_types: tuple[tuple[str, str], ...] = field(
        metadata={
            "doc": "(kind, regex) tried in order on the lower-cased question: the first that "
            "matches names the kind of answer it asks for (share, number, date, name)"
        }
    )
    asked_noun_pattern: str = field(
        metadata={"doc": "Regex whose group 1 is the noun of a 'What <noun> did ...?' question"}
    )
    counted_pattern: str = field(
        metadata={
            "doc": "Regex whose group 1 starts with the thing a 'How many <things> ...?' "
            "question counts"
        }
    )
    broad_nouns: frozenset[str] = field(
        metadata={"doc": "Nouns too broad to be required in an answer ('city', 'number')"}
    )
    refusal_phrases: tuple[str, ...] = field(
        metadata={"doc": "Lower-case phrases by which a model says the sources hold no answer"}
    )
    abbreviations: frozenset[str] = field(
        metadata={"doc": "Lower-case abbreviations (without the final dot) never ending a sentence"}
    )
    numeral_abbreviations: frozenset[str] = field(
        metadata={"doc": "Abbreviations that do not end a sentence before a numeral ('Fig. 3')"}
    )
    stem_suffixes: tuple[str, ...] = field(
        metadata={"doc": "Suffixes stripped by the light stemmer, longest first"}
    )
    follow_up_pattern: str = field(
        metadata={
            "doc": "Regex (matched ignoring case) for a question that leans on the conversation: "
            "pronouns and other pointing words, or an opening 'and' / 'what about'"
        }
    )
    pointing_opening: str = field(
        metadata={
            "doc": "Regex (matched ignoring case at a sentence's start) for a word by which a "
            "sentence points back at the one before it ('It appoints ...', 'These include "
            "...'): quoted alone, it would not say what it is about"
        }
    )
    split_wh_pattern: str = field(
        metadata={
            "doc": "Regex (matched ignoring case) for a question asking two things, each part "
            "opening with a question word: groups 'a' and 'b' are the two questions"
        }
    )
    split_list_pattern: str = field(
        metadata={
            "doc": "Regex (matched ignoring case) for 'Name the X ..., and the Y ...': group "
            "'verb' is the request, groups 'a' and 'b' what it asks for"
        }
    )
    rewrite_label_pattern: str = field(
        metadata={
            "doc": "Regex (matched ignoring case) for a label the model may write before a "
            "rewritten question ('Rewritten question:'), removed"
        }
    )
    question_word_pattern: str = field(
        metadata={
            "doc": "Regex (matched ignoring case) for a question that opens with its question "
            "word, in group 1 ('Whom does it appoint?'); not an opening that asks about a "
            "thing in general ('What about ...?')"
        }
    )
    question_word_classes: tuple[frozenset[str], ...] = field(
        metadata={
            "doc": "Question words that ask for the same thing (who, whom, whose; what, "
            "which): a follow-up's rewrite must ask with one of its question word's class"
        }
    )
    follow_up_context: str = field(
        metadata={
            "doc": "How a follow-up whose rewrite failed is searched with the previous "
            "question: a str.format template with {question} and {previous}"
        }
    )
    answer_frame: str = field(
        metadata={
            "doc": "How the entailment judge is asked about a bare answer fragment ('In "
            "Lyon.'): a str.format template with {question} and then {answer}"
        }
    )
    polarity_pattern: str = field(
        metadata={
            "doc": "Regex for the words by which an answer says yes or no ('not', 'never', "
            "\"isn't\"): such an answer says something of its own even in the question's words"
        }
    )
    negation_pattern: str = field(
        metadata={
            "doc": "Regex (on normalised lower-case text) for the words by which a sentence "
            "denies something ('not', 'never', 'without', 'unable', 'inactive'), or says what "
            "holds when nothing is given ('default': \"if I don't pass one\"): a question "
            "that asks what is not so is answered only by a passage that denies something"
        }
    )
    asks_negation_pattern: str = field(
        metadata={
            "doc": "Regex (on normalised lower-case text) for a question that asks what is "
            "not so ('What is not caused by ...?'): the plain negation words only, not 'without' "
            "or a negative adjective ('a non-religious reason')"
        }
    )
    negation_idiom_pattern: str = field(
        metadata={
            "doc": "Regex (on normalised lower-case text) for a negation word in a question "
            "that does not ask what is not so ('whether or not', 'may or may not')"
        }
    )
    decade_suffix: str = field(
        metadata={
            "doc": "Regex for what turns a year into its decade or century, written right "
            "after it ('1970s', '1700s')"
        }
    )
    source_phrase_pattern: str = field(
        metadata={
            "doc": "Regex for the words by which an answer points at a source marker ('according "
            "to [1]', 'as stated in [2]'): dropped with the marker, so 'According to [1], it "
            "rose.' reads 'It rose. [1]', not 'According to, it rose.'; read case-insensitively"
        }
    )
    opposites: tuple[tuple[str, str], ...] = field(
        metadata={
            "doc": "Pairs of words that say opposite things of the same quantity or quality "
            "('most'/'least', 'majority'/'minority', 'public'/'private'): a text that says one "
            "is not stated, nor its question answered, by a quote that says the other and not "
            "it. Words whose converse paraphrases the same fact ('higher'/'lower', "
            "'before'/'after': see ordered_opposites) are not pairs, nor code words "
            "('True'/'False')"
        }
    )
    adverb_suffix: str = field(
        metadata={
            "doc": "The suffix that makes an adverb of an adjective ('differently' of "
            "'different'): an adverb says what its adjective does among the opposites"
        }
    )
    ordered_opposites: tuple[tuple[str, str], ...] = field(
        metadata={
            "doc": "Pairs of words that say opposite things only of the same thing: 'before "
            "the bill has been passed' against 'after the bill has been passed' (the next two "
            "content words the same), while 'A before B' is 'B after A'"
        }
    )
    century_pattern: str = field(
        metadata={
            "doc": "Regex for an ordinal century, its number in group 1 ('the 18th century', "
            "the 10th of 'the 10th and 11th centuries'); it covers the years of that hundred "
            "('the 1700s'), read case-insensitively"
        }
    )


_NAME_NOUNS = (
    r"city|country|town|organi[sz]ation|outlet|agency|program(me)?|president|minister|"
    r"spokes\w*|official|envoy|broadcaster|newspaper"
)

ENGLISH = LanguageProfile(
    code="en",
    stopwords=frozenset(
        """a about above after again against all also am an and any are as at be because been
        before being below between both but by can could did do does doing down during each few
        for from further had has have having he her here hers herself him himself his how i if
        in into is it its itself just me more most my myself no nor not now of off on once only
        or other our ours ourselves out over own same she should so some such than that the
        their theirs them themselves then there these they this those through to too under
        until up very was we were what when where which while who whom why will with would you
        your yours yourself yourselves said says say told according one ones many much""".split()
    ),
    number_words=MappingProxyType(
        dict(
            pair.split(":")
            for pair in """zero:0 one:1 two:2 three:3 four:4 five:5 six:6 seven:7 eight:8 nine:9
            ten:10 eleven:11 twelve:12 thirteen:13 fourteen:14 fifteen:15 twenty:20 thirty:30
            forty:40 fifty:50 hundred:100 thousand:1000""".split()
        )
    ),
    months=tuple(
        """january february march april may june july august september october november
        december jan feb mar apr jun jul aug sep sept oct nov dec""".split()
    ),
    days=tuple("monday tuesday wednesday thursday friday saturday sunday today yesterday".split()),
    share_pattern=r"\d[\d.,]*\s*%|\b(?:\S+\s+)?(?:percent|per cent|pct)\b"
    r"|\b(?:half|third|thirds|quarter|quarters|fifth|tenth|majority|minority|most)\b",
    answer_types=(
        ("share", r"\b(what|which) (share|percentage|proportion|fraction|part)\b"),
        ("number", r"\bhow (many|much)\b|\bwhat number\b"),
        (
            "date",
            r"^\s*when\b|\bwhat (date|day|year|month|time)\b|\bon what\b.*\b(date|day)\b"
            r"|\bwhich (date|day|year|month)\b",
        ),
        (
            "name",
            rf"^\s*(who|whom)\b|^\s*name\s+the\b|\bwhich (\w+ ){{0,3}}({_NAME_NOUNS})\b|^\s*where\b",
        ),
    ),
    asked_noun_pattern=r"^\s*(?:what|which)\s+([a-z]+)\s+"
    r"(?:did|does|do|was|were|is|are|has|have|had|will|would|can)\b",
    counted_pattern=r"\bhow many\s+(.+)$",
    broad_nouns=frozenset(
        """body city country town place organisation organization agency outlet broadcaster
        newspaper program programme channel person people official officials leader leaders
        share percentage number amount date day year month time kind type sort group groups
        side sides party parties document documents report reports news word words name names
        thing things role title position""".split()
    ),
    refusal_phrases=(
        "do not contain the answer",
        "does not contain the answer",
        "don't contain the answer",
        "do not contain information",
        "does not contain information",
        "no information about",
        "not mentioned in the sources",
        "sources do not mention",
        "cannot answer",
        "did not say anything",
        "does not say anything",
        "no mention of",
        "is not mentioned",
        "are not mentioned",
    ),
    # "etc." is not here: it ends a sentence before a capital ("... Solana etc. Key issues"),
    # and no full stop ends one before a lower-case word (see index.chunking).
    abbreviations=frozenset(
        """mr mrs ms dr prof gen sen rep st jr sr lt col capt gov vs cf e.g i.e u.s u.n inc
        ltd co al approx""".split()
    ),
    numeral_abbreviations=frozenset(
        """no nos fig figs vol p pp ch sec eq art jan feb mar apr jun jul aug sep sept oct
        nov dec""".split()
    ),
    stem_suffixes=("ations", "ation", "ings", "ing", "edly", "ied", "ies", "ed", "es", "s"),
    follow_up_pattern=r"\b(it|its|that|this|these|those|they|them|their|theirs|he|him|his|she|"
    r"her|hers|there|then|same|such|other|others|also|too|else|former|latter|one|ones)\b"
    r"|^(and|but|so|or|what about|how about|why|how so|and why)\b",
    pointing_opening=r"(it|its|they|their|them|he|his|she|her|this|these|those|such)\b",
    split_wh_pattern=r"^(?P<a>(?:according to [^,]+,\s*)?(?:how|what|when|where|who|whom|which|why)"
    r"\b.+?),?\s+and\s+"
    r"(?P<b>(?:according to [^,]+,\s*)?(?:how|what|when|where|who|whom|which|why)\b.+)$",
    split_list_pattern=r"^(?P<verb>name|list|give)\s+(?P<a>the\b.+?),?\s+and\s+(?P<b>the\b.+)$",
    rewrite_label_pattern=r"^(rewritten question|question)\s*:\s*",
    question_word_pattern=r"^\s*(?:(?:and|but|so|or)\s+)?"
    r"(who|whom|whose|what|which|when|where|why|how)\b(?!\s+about\b)",
    question_word_classes=(
        frozenset({"who", "whom", "whose"}),
        frozenset({"what", "which"}),
        frozenset({"when"}),
        frozenset({"where"}),
        frozenset({"why"}),
        frozenset({"how"}),
    ),
    follow_up_context="{question} (Follow-up to: {previous})",
    answer_frame="The answer to “{question}” is: {answer}",
    polarity_pattern=r"\b(yes|no|not|nor|never|none|neither|nobody|nothing|cannot)\b|n['’]t\b",
    negation_pattern=r"\b(?:not|no(?!\.\s*\d)|never|none|neither|nor|nobody|nothing|nowhere|cannot|"
    r"without|unable|fail(?:s|ed|ing|ure)?|refus(?:e|es|ed|ing|al)|lack(?:s|ed|ing)?|"
    r"declin(?:e|es|ed|ing)|den(?:y|ies|ied|ial)|absent|except|instead|default(?:s|ed)?|"
    r"un(?!der|til|it|ion|iqu|ivers|less)[a-z]{3,}|non-?[a-z]+|in(?:active|capable|valid|"
    r"sufficient|complete|correct|accurate|appropriate|effective|compatible))\b|n't\b",
    asks_negation_pattern=r"\b(?:not|never|no(?!\.\s*\d)|none|nobody|nothing|neither|nor)\b"
    r"|n't\b",
    negation_idiom_pattern=r"\b(?:whether )?or (?:\w+ )?not\b",
    decade_suffix=r"['’]?s",
    source_phrase_pattern=r"\b(?:according to|as (?:stated|mentioned|described|noted|shown|"
    r"reported|explained|given|seen) (?:in|by)|as per|(?:stated|mentioned|described|noted|"
    r"shown|reported|explained|given) (?:in|by)|per)",
    opposites=(
        ("most", "least"),
        ("majority", "minority"),
        ("maximum", "minimum"),
        ("highest", "lowest"),
        ("largest", "smallest"),
        ("biggest", "smallest"),
        ("longest", "shortest"),
        ("oldest", "youngest"),
        ("oldest", "newest"),
        ("strongest", "weakest"),
        ("best", "worst"),
        ("earliest", "latest"),
        ("first", "last"),
        ("full", "partial"),
        ("similar", "different"),
        ("positive", "negative"),
        ("internal", "external"),
        ("inner", "outer"),
        ("upper", "lower"),
        ("public", "private"),
        ("legal", "illegal"),
        ("possible", "impossible"),
        ("direct", "indirect"),
        ("major", "minor"),
        ("permanent", "temporary"),
        ("voluntary", "compulsory"),
        ("voluntary", "mandatory"),
        ("common", "rare"),
        ("ancient", "modern"),
        ("rich", "poor"),
        ("wealthy", "poor"),
        ("domestic", "foreign"),
        ("imports", "exports"),
        ("imported", "exported"),
        ("increase", "decrease"),
        ("increased", "decreased"),
        ("increases", "decreases"),
        ("rise", "fall"),
        ("rose", "fell"),
        ("success", "failure"),
        ("successful", "unsuccessful"),
        ("accepted", "rejected"),
        ("victory", "defeat"),
        ("win", "lose"),
        ("won", "lost"),
    ),
    adverb_suffix="ly",
    ordered_opposites=(("before", "after"),),
    century_pattern=r"\b(\d{1,2})(?:st|nd|rd|th)"
    r"(?=(?:\s*(?:,|and|or|to|-|–|—)\s*\d{1,2}(?:st|nd|rd|th))*[\s-]+centur(?:y|ies)\b)",
)

PROFILES: Mapping[str, LanguageProfile] = MappingProxyType({ENGLISH.code: ENGLISH})

_active = ENGLISH


def active() -> LanguageProfile:
    """The profile every language-dependent rule reads (English unless set otherwise)."""
    return _active


def set_active(profile: LanguageProfile) -> LanguageProfile:
    """Make ``profile`` the active one; returns the one it replaces (to restore it)."""
    global _active
    previous, _active = _active, profile
    return previous
