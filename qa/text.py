"""Small text helpers shared by retrieval and citation checking: words, numbers, names."""

from __future__ import annotations

import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from functools import lru_cache

from qa.language import LanguageProfile, active
from qa.markers import MARKER


def _char_class(test: Callable[[str], bool]) -> str:
    """A regex character class body for the code points below U+10000 that pass ``test``."""
    ranges: list[list[int]] = []
    for cp in range(0x80, min(sys.maxunicode, 0xFFFF) + 1):
        if test(chr(cp)):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1][1] = cp
            else:
                ranges.append([cp, cp])
    return "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in ranges)


# Words are Unicode: letters and digits of any script, with their combining marks (which
# ``\w`` does not include: Devanagari vowel signs, decomposed accents), joined by
# apostrophes and hyphens. Underscores separate words ("max_tokens" -> "max", "tokens").
_MARKS = _char_class(lambda c: unicodedata.category(c)[0] == "M")
_UPPER = "A-Z" + _char_class(lambda c: c.isupper() or c.istitle())
_WORD = re.compile(rf"[^\W_][\w{_MARKS}]*(?:['’\-]+[\w{_MARKS}]*)*")
# A name: a capital, then letters and digits, joined by apostrophes and hyphens ("UTF-8",
# "Wi-Fi", "COVID-19", "O'Neill"); a joiner at the end is not part of it. A short
# particle joined by an apostrophe belongs to it ("d'Aulps", "l'Oréal", "dell'Orto"), as it
# does to the word that ``words`` makes of it, so the two meet.
# A stop after an initial ("Randal L. Schwartz") does not end a sentence.
_NAME_BODY = (
    rf"((?:[^\W\d_]{{1,4}}['’])?[{_UPPER}](?:[^\W_]|[{_MARKS}])*"
    rf"(?:['’\-]+(?:[^\W_]|[{_MARKS}])+)*)"
)
_NAME = re.compile(rf"(?:(?<![.!?]\s)|(?<=\s[{_UPPER}]\.\s))(?<!^)\b{_NAME_BODY}")
# A capitalised word that starts a sentence: a name only where the text around says so.
_OPENING = re.compile(rf"(?:^|(?<=[.!?]\s))\b{_NAME_BODY}")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
# Code-like tokens, which a paraphrase cannot reword: something in backticks, an option
# ("--proxy", "-m"), a dotted name ("os.path.join", "Logger.setLevel()"; every part of two
# characters or more, so "e.g." is none), a call ("basicConfig()"), a word in camel case
# ("ArgumentParser", "getLogger"), a keyword argument ("mode='w'", both sides), a word with
# an underscore ("host_bits", "__init__"), or a short value in single quotes ('w+').
_CODE = re.compile(
    r"""`[^`\n]+`"""
    r"|(?<![\w-])--?[A-Za-z][\w-]*"
    r"|\b[A-Za-z_]\w+(?:\.[A-Za-z_]\w+)+(?:\(\))?"
    r"|\b[A-Za-z_]\w*\(\)"
    r"|\b(?:[A-Z][a-z]+|[a-z]+)(?:[A-Z][a-z\d]+)+\b"
    r"""|\b[A-Za-z_]\w*=[^\s,;)]+"""
    r"|\b[A-Za-z0-9]*_\w*"
    r"|(?<!\w)'[^'\s]{1,12}'(?!\w)"
)


def normalise(text: str) -> str:
    """Lower case, NFC-composed, with typographic quotes and dashes made plain."""
    table = str.maketrans(
        {"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\u00a0": " "}
    )
    return unicodedata.normalize("NFC", text).translate(table).lower()


def words(text: str) -> list[str]:
    """Lower-case words, possessive 's dropped ("Norway's" -> "norway")."""
    out = []
    for w in _WORD.findall(normalise(text).replace("_", " ")):
        w = _unpossessed(w.strip("'-"))
        if w:
            out.append(w)
    return out


def _unpossessed(word: str) -> str:
    """A normalised word without its possessive 's."""
    return word[:-2] if word.endswith("'s") else word


def stem(word: str) -> str:
    """A light suffix strip so 'filters'/'filter' and 'cleaned'/'clean' meet."""
    for suffix in active().stem_suffixes:
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def kin(a: str, b: str, min_chars: int = 5) -> bool:
    """Whether two stemmed words are one, or one is the other with a suffix the light stemmer
    leaves on ("settle" and "settler", "govern" and "government"); the shorter must have at
    least ``min_chars`` letters, so "art" and "article" are not kin."""
    short, long = sorted((a, b), key=len)
    return a == b or (len(short) >= min_chars and long.startswith(short))


def open_quotation(text: str) -> bool:
    """Whether ``text`` opens a quotation it does not close (“... freed. and no ”)."""
    curly = text.count("“") + text.count("«") - text.count("”") - text.count("»")
    if curly > 0:
        return True
    if text.count('"') % 2 == 0:
        return False
    # A straight quote is opening when it starts a word after a space (or the text), not
    # when it ends one ('... left," he said.').
    last = text.rfind('"')
    before = text[last - 1] if last else " "
    after = text[last + 1] if last + 1 < len(text) else " "
    return (before.isspace() or before in "(:[") and not after.isspace()


def content_terms(text: str) -> list[str]:
    """Stemmed words that carry meaning (no stopwords), numbers kept as normalised digits."""
    stopwords = active().stopwords
    out = []
    for w in words(text):
        if w in stopwords:
            continue
        out.append(number_value(w) or stem(w))
        if "-" in w:  # "mid-October", "Saint-Denis": the parts count too
            out.extend(stem(part) for part in w.split("-") if part and part not in stopwords)
    return out


def number_value(token: str) -> str | None:
    """'3,179' -> '3179', 'seven' -> '7', '80,000' -> '80000'; None if not a number."""
    t = token.lower().strip(".")
    number_words = active().number_words
    if t in number_words:
        return number_words[t]
    if _NUMBER.fullmatch(t):
        return t.replace(",", "")
    return None


def _counting_value(token: str) -> str | None:
    """``number_value`` of a token that counts: a number word for 1 ("one of them") does not."""
    value = number_value(token)
    if value == "1" and token.lower().strip(".") in active().number_words:
        return None
    return value


def numbers(text: str) -> set[str]:
    """Every number in ``text``, as digits (number words included, but not the word for 1:
    "one of them" counts nothing)."""
    found = {m.group().replace(",", "").rstrip(".") for m in _NUMBER.finditer(text)}
    number_words = active().number_words
    for w in words(text):
        if w in number_words and (value := _counting_value(w)) is not None:
            found.add(value)
    return {n for n in found if n}


def years(text: str) -> set[tuple[int, int]]:
    """The years ``text`` names, each as the span of years it covers: "1979" (1979, 1979),
    "the 1970s" (1970, 1979), "the 1700s" and "the 18th century" (1700, 1799). Four digits
    from 1000 to 2099 that are not part of a longer number ("12,1979", "1979.5")."""
    patterns = _patterns(active())
    out = set()
    for m in patterns["year"].finditer(text):
        year = int(m.group(1))
        if not m.group(2):
            out.add((year, year))
        else:
            out.add((year, year + (99 if year % 100 == 0 else 9)))
    for m in patterns["century"].finditer(text):
        start = (int(m.group(1)) - 1) * 100
        out.add((start, start + 99))
    return out


def _covered(asked: set[tuple[int, int]], given: set[tuple[int, int]]) -> bool:
    return any(a0 <= g1 and g0 <= a1 for a0, a1 in asked for g0, g1 in given)


def own_question(question: str) -> str:
    """``question`` without the earlier question that a follow-up carries when it could not be
    rewritten ("Which was the second one? (Follow-up to: What was the 1973 crisis called?)"
    asks nothing about 1973)."""
    before, _, rest = active().follow_up_context.partition("{question}")
    between, _, after = rest.partition("{previous}")
    pattern = f"(?s){re.escape(before)}(.*?){re.escape(between)}(.*){re.escape(after)}"
    m = re.fullmatch(pattern, question)
    return question if m is None else m.group(1)


def dated_elsewhere(question: str, quote: str) -> bool:
    """Whether ``quote`` dates what it says by other years than the ones ``question`` asks
    about, and by none of those: "In 1979, what was the average mileage?" and "By 1985, the
    average vehicle moved 17.4 miles per gallon, compared to 13.5 in 1970." A quote that gives
    no year at all is not evidence either way, nor is the year of an earlier question that a
    follow-up carries (:func:`own_question`)."""
    asked, given = years(own_question(question)), years(quote)
    if not asked or not given:
        return False
    return not _covered(asked, given)


@lru_cache(maxsize=8)
def _opposites(pairs: tuple[tuple[str, str], ...]) -> dict[str, frozenset[str]]:
    """Each word of a profile's pairs of opposites, with its opposites."""
    out: dict[str, set[str]] = {}
    for a, b in pairs:
        out.setdefault(a, set()).add(b)
        out.setdefault(b, set()).add(a)
    return {w: frozenset(o) for w, o in out.items()}


def _unadverbed(word: str, min_chars: int = 5) -> str:
    """The adjective of an adverb (the profile's ``adverb_suffix``): "differently" says what
    "different" does ("mostly" and "lastly" say other things: the adjective must have
    ``min_chars`` letters)."""
    suffix = active().adverb_suffix
    base = word[: -len(suffix)] if suffix else word
    return base if suffix and word.endswith(suffix) and len(base) >= min_chars else word


def opposed(text: str, quote: str) -> tuple[str, str] | None:
    """A word of ``text`` whose opposite ``quote`` says instead, and the opposite: ("least",
    "most") for "What is the least abundant type of phagocyte?" against "Neutrophils are ...
    the most abundant type of phagocyte". A quote that also says the word itself ("the most
    and the least visited") is not opposed. An adverb counts as its adjective ("differently"
    against "similar"), and the profile's ``ordered_opposites`` oppose each other only of the
    same thing ("before the bill has been passed" against "after the bill has been passed").
    None when there is no such word (the profile's ``opposites``)."""
    ordered = _ordered_opposed(text, quote)
    if ordered is not None:
        return ordered
    opposite = _opposites(active().opposites)
    said = set(words(quote))
    said |= {_unadverbed(w) for w in said}
    for w in words(text):
        w = _unadverbed(w)
        if w in opposite and w not in said:
            for o in sorted(opposite[w]):
                if o in said:
                    return w, o
    return None


def _ordered_opposed(text: str, quote: str, reach: int = 2) -> tuple[str, str] | None:
    """A word of ``text`` (of the profile's ``ordered_opposites``) whose opposite ``quote``
    says of the same thing, the next ``reach`` content words: "Before the bill has been passed"
    against "After the bill has been passed"; and not the word itself of that thing."""
    profile = active()
    opposite = _opposites(profile.ordered_opposites)
    t, q = words(text), words(quote)

    def of(ws: list[str], i: int) -> tuple[str, ...]:
        return tuple([w for w in ws[i + 1 :] if w not in profile.stopwords][:reach])

    for i, w in enumerate(t):
        if w not in opposite or len(thing := of(t, i)) < reach:
            continue
        said = {x for j, x in enumerate(q) if x in opposite[w] | {w} and of(q, j) == thing}
        if said and w not in said:
            return w, min(said)
    return None


def undated(question: str, text: str) -> bool:
    """Whether ``question`` asks about years that ``text`` never names (nor a decade or century
    covering them): "What was changed in 1960?" and passages that give no year, or only others.
    What a document says of another time does not answer a question about that year."""
    asked = years(own_question(question))
    return bool(asked) and not _covered(asked, years(text))


def names(text: str, known: Collection[str] = ()) -> set[str]:
    """Capitalised words that are not at the start of a sentence and not stopwords: likely names
    (any script with capitals: "Zürich", "São", "Ørsted", "Москва"), stemmed as ``words`` are,
    so a possessive is its name ("Putin's" -> "putin").

    A capitalised word that starts a sentence may be any word ("Typing ..."); it counts when it
    is one of ``known``, the names (as this function gives them) of the text it was drawn from:
    "Ladner [1]." names Ladner when the sources write "It was shown by Ladner that ..."."""
    text = unicodedata.normalize("NFC", text.strip())
    out = _name_stems(_NAME, text)
    if known:
        out |= _name_stems(_OPENING, text) & set(known)
    return out


def _name_stems(pattern: re.Pattern[str], text: str) -> set[str]:
    """The stems of ``pattern``'s capitalised words in ``text`` that are not stopwords."""
    stopwords = active().stopwords
    out = set()
    for m in pattern.finditer(text):
        w = _unpossessed(normalise(m.group(1)))  # "Russia's" is the name of words' "russia"
        if w not in stopwords and len(w) > 1:
            out.add(stem(w))
    return out


def identifiers(text: str) -> set[str]:
    """The code-like tokens of ``text`` (see ``_CODE``), normalised, without their backticks,
    quotes or call parentheses; a keyword argument gives its name and its value, and code in
    backticks each of its words."""
    out = set()
    for m in _CODE.finditer(MARKER.sub("", text)):
        for part in re.split(r"[=\s]+", m.group().strip("`").rstrip(".,;:?!")):
            part = normalise(part.strip("'\"")).removesuffix("()")
            if part:
                out.add(part)
    return out


def holds(text: str, tokens: set[str]) -> bool:
    """Whether every one of ``tokens`` (as :func:`identifiers` gives them) is in ``text``."""
    if not tokens:
        return True
    # Spaces do not count: a model that writes "create.pyc" for "create .pyc" names nothing new.
    t = "".join(normalise(text).split())
    return all(tok in t for tok in tokens)  # identifiers() splits at spaces: none inside


@lru_cache(maxsize=8)
def _patterns(profile: LanguageProfile) -> dict[str, re.Pattern[str]]:
    """The profile's regexes, compiled once per profile."""
    dates = "|".join(profile.months + profile.days)
    return {
        "share": re.compile(profile.share_pattern),
        "date": re.compile(rf"\b(?:{dates})\b|\b\d{{4}}\b"),
        "asked": re.compile(profile.asked_noun_pattern),
        "counted": re.compile(profile.counted_pattern),
        # a year, not part of a longer number ("12,1979", "1979.5"), and its decade suffix
        "year": re.compile(
            rf"(?<![\w.,])(1[0-9]{{3}}|20[0-9]{{2}})({profile.decade_suffix})?(?![\w]|[.,]\d)"
        ),
        "century": re.compile(profile.century_pattern, re.IGNORECASE),
        "negation": re.compile(profile.negation_pattern),
        "asks_negation": re.compile(profile.asks_negation_pattern),
        "negation_idiom": re.compile(profile.negation_idiom_pattern),
        **{f"q_{kind}": re.compile(rx) for kind, rx in profile.answer_types},
    }


def expected_answer_type(question: str) -> str | None:
    """What kind of thing the question asks for: share, number, date, name, or None (anything)."""
    q = normalise(question)
    profile = active()
    patterns = _patterns(profile)
    for kind, _ in profile.answer_types:
        if patterns[f"q_{kind}"].search(q):
            return kind
    return None


def denies(text: str) -> bool:
    """Whether ``text`` denies something: "not", "never", "without", "inactive" (the
    profile's negation words)."""
    return _patterns(active())["negation"].search(normalise(text)) is not None


def asks_negation(question: str) -> bool:
    """Whether the question asks what is not so ("What is not caused by ...?", "Which country
    was not hit?"); "whether or not" asks no such thing."""
    patterns = _patterns(active())
    q = patterns["negation_idiom"].sub(" ", normalise(question))
    return patterns["asks_negation"].search(q) is not None


def new_items(answer: str, question: str, known: Collection[str] = ()) -> set[str]:
    """The things of the asked-for kind in ``answer`` that the question did not already hold:
    numbers for "how many", months/weekdays/years for "when", names for "who". Empty when the
    question asks for no particular kind. ``known``: the names of the sources (see
    :func:`names`), so that an answer may open with one."""
    kind = expected_answer_type(question)
    if kind is None:
        return set()
    answer = MARKER.sub("", answer)  # citation markers are not numbers
    if kind == "number":
        return numbers(answer) - numbers(question)
    if kind in ("share", "date"):
        pattern = _patterns(active())[kind]
        return set(pattern.findall(normalise(answer))) - set(pattern.findall(normalise(question)))
    return names(answer, known) - names(question) - set(content_terms(question))


def answers_type(answer: str, question: str, known: Collection[str] = ()) -> bool:
    """Whether ``answer`` holds something of the expected type that the question did not
    already hold (``known``: as for :func:`new_items`)."""
    return expected_answer_type(question) is None or bool(new_items(answer, question, known))


def asked_noun(question: str) -> str | None:
    """The specific thing a "What <noun> did ...?" question asks for, stemmed, if any.
    Broad kinds (a body, a city, a share) are often answered without the word itself, so only
    the rest count."""
    profile = active()
    m = _patterns(profile)["asked"].search(normalise(question))
    if not m or m.group(1) in profile.broad_nouns or m.group(1) in profile.stopwords:
        return None
    return stem(m.group(1))


def counted_things(question: str) -> frozenset[str]:
    """What a "How many <things> ...?" question counts: the stemmed words from "how many" to
    the first stopword ("newborn babies" of "How many newborn babies were among ...").
    Empty when none follows at once ("How many of them ...": what them is, is elsewhere)."""
    profile = active()
    m = _patterns(profile)["counted"].search(normalise(question))
    out: set[str] = set()
    for w in words(m.group(1)) if m else []:
        if w in profile.stopwords or number_value(w) is not None:
            break
        out.add(stem(w))
    return frozenset(out)


_COUNT_TOKEN = re.compile(rf"{_NUMBER.pattern}|{_WORD.pattern}")


def counts(text: str, reach: int = 3) -> dict[str, set[str]]:
    """Each number of ``text`` with the stemmed content words that follow it, up to ``reach``
    words and before the next number: what it counts. "1,519 children - among them 138
    newborn babies" gives {"1519": {"children", "among"}, "138": {"newborn", "babi"}}."""
    stopwords = active().stopwords
    tokens = [t.rstrip(".,") for t in _COUNT_TOKEN.findall(normalise(text))]
    out: dict[str, set[str]] = {}
    for i, token in enumerate(tokens):
        value = _counting_value(token)
        if value is None:
            continue
        things = out.setdefault(value, set())
        for w in tokens[i + 1 : i + 1 + reach]:
            if _counting_value(w) is not None:
                break
            if w not in stopwords:
                things.add(stem(w))
    return out


def counts_elsewhere(answer_numbers: set[str], quote: str, things: frozenset[str]) -> bool:
    """Whether ``quote`` gives the asked ``things`` a number of their own and gives each of
    the answer's numbers to something else: "How many newborn babies ...?" answered "1,519"
    from "1,519 children - among them 138 newborn babies". A number the quote counts nothing
    with ("the total was 7,000") is no evidence either way."""
    if not things or not answer_numbers:
        return False
    quoted = counts(quote)
    if not any(c & things for c in quoted.values()):
        return False
    return all(n in quoted and quoted[n] and not quoted[n] & things for n in answer_numbers)


def number_rivals(claim: str, quote: str, given: str = "") -> list[str]:
    """The claim with one of its numbers replaced by another number of the quote: readings
    that a quote which states the claim must state *less* well. "45 residents signed" against
    "120 residents attended, and 45 of them signed" gives "120 residents signed". Only numbers
    the quote gives are replaced (one it lacks fails the cheap checks already), at their last
    place in the claim (where an answer framed with its question puts it). The numbers of
    ``given`` (the question) are its premise, not rival answers."""
    claim = unicodedata.normalize("NFC", claim)
    c_nums, q_nums = _number_runs(claim), _number_runs(quote)
    c_vals = {_value(n) for n in c_nums + _number_runs(given)}
    q_vals = {_value(n) for n in q_nums}
    out: list[str] = []
    for a in c_nums:
        if _value(a) not in q_vals:
            continue
        for b in q_nums:
            if _value(b) not in c_vals:
                out.append(_replace_last(claim, a, b))
    return [t for t in dict.fromkeys(out) if t != claim]


def _number_runs(text: str) -> list[str]:
    return list(dict.fromkeys(m.group().rstrip(".,") for m in _NUMBER.finditer(text)))


def _value(number: str) -> str:
    return number.replace(",", "")


def _replace_last(text: str, old: str, new: str) -> str:
    hits = list(re.finditer(rf"(?<![\d,.]){re.escape(old)}(?![\d]|[,.]\d)", text))
    if not hits:
        return text
    m = hits[-1]
    return text[: m.start()] + new + text[m.end() :]


def exchanged(claim: str, quote: str, gain: int = 2) -> tuple[str, str] | None:
    """Two terms of the claim whose exchange makes it read as the quote does: a swapped
    role ("use strcoll() for a key function or strxfrm() for a comparison function" against
    "strxfrm() for a key function or strcoll() for a comparison function"), or None. The two
    are of one kind (two names or code names, two numbers, or two other words), each once in
    the claim and once in the quote, and exchanging them lets ``gain`` more of the claim's
    words be read in the quote's order (longest common subsequence of their content words).
    An exchanged pair of neighbours gains one word at most, so a list read in another
    order ("Ruiz and Berg" for "Berg and Ruiz") is no swap."""
    c, q = content_terms(claim), content_terms(quote)
    if len(c) < 3:
        return None
    named = names(claim) | names(quote)
    named |= set(content_terms(" ".join(identifiers(claim) | identifiers(quote))))
    c_count, q_count = Counter(c), Counter(q)
    once = [w for w in dict.fromkeys(c) if c_count[w] == 1 and q_count[w] == 1]
    if len(once) < 2:
        return None
    base = _common_run(c, q)

    def kind(w: str) -> str:
        return "number" if number_value(w) is not None else "name" if w in named else "word"

    at = {w: q.index(w) for w in once}  # ``once`` is in the claim's order
    for i, a in enumerate(once):
        for b in once[i + 1 :]:
            # Only a pair the quote has the other way round can gain (two words at most).
            if at[a] < at[b] or kind(a) != kind(b):
                continue
            swapped = [b if w == a else a if w == b else w for w in c]
            if _common_run(swapped, q) >= base + gain:
                return a, b
    return None


def misplaced(
    claim: str, sentences: Sequence[str], window: int = 4, gap: float = 0.67
) -> str | None:
    """A name or number of the claim that a quote of several ``sentences`` binds to other
    words than the claim does, or None: "The Netherlands rationed gasoline and heating oil"
    against "Sweden rationed gasoline and heating oil. The Netherlands imposed prison
    sentences ...". The claim's words around the name (up to ``window`` content words on
    each side, up to the next name or number) are its context. The name is misplaced when a
    sentence without it holds ``gap`` more of that context than every sentence with it, and
    names in its place another thing of its kind that the claim does not name: a rival on
    the same side of those words as the name is in the claim (Sweden, before "rationed
    gasoline"). Without such a rival the sentence is about the name by a pronoun ("It is
    directly compatible ...") or is what the name said (a quotation, then "Ana Ruiz said")."""
    if len(sentences) < 2:
        return None
    seq = content_terms(claim)
    claim_names, claim_numbers = _named(claim), numbers(claim)
    anchors = set(seq) & (claim_names | claim_numbers)
    held = [content_terms(s) for s in sentences]
    for i, term in enumerate(seq):
        if term not in anchors:
            continue
        with_it = [k for k, h in enumerate(held) if term in h]
        if not with_it or len(with_it) == len(held):
            continue
        around: list[int] = []  # the context's positions in the claim
        left = range(i - 1, max(-1, i - 1 - window), -1)  # nearest first, both ways
        right = range(i + 1, min(len(seq), i + 1 + window))
        for side in (left, right):
            for j in side:
                if seq[j] in anchors:
                    break
                around.append(j)
        context = {seq[j] for j in around}
        if len(context) < 2:
            continue
        before = sum(j < i for j in around) > len(around) / 2  # the context mostly before it
        here = max(len(context & set(held[k])) for k in with_it)
        for k, h in enumerate(held):
            if k in with_it or len(context & set(h)) - here < gap * len(context):
                continue
            if term in claim_numbers:
                rivals = numbers(sentences[k]) - claim_numbers
            else:
                rivals = _named(sentences[k]) - claim_names - set(seq)
            at = [j for j, w in enumerate(h) if w in context]
            for j, w in enumerate(h):
                if w in rivals and (sum(a < j for a in at) > len(at) / 2) == before:
                    return term
    return None


def _named(text: str) -> set[str]:
    """:func:`names`, and a capitalised first word that is no stopword ("Sweden rationed")."""
    found = names(text)
    first = words(text[:40])
    head = text.lstrip()[:1]
    if first and head.isupper() and first[0] not in active().stopwords:
        found.add(stem(first[0]))
    return found


def _common_run(a: list[str], b: list[str]) -> int:
    """The length of the longest common subsequence of ``a`` and ``b``."""
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]
