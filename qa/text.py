"""Small text helpers shared by retrieval and citation checking: words, numbers, names."""

from __future__ import annotations

import re

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me more
    most my myself no nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves said says say told according one ones many much""".split()
)

NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "thirteen": "13", "fourteen": "14", "fifteen": "15", "twenty": "20", "thirty": "30",
    "forty": "40", "fifty": "50", "hundred": "100", "thousand": "1000",
}  # fmt: skip

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’\-]*")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def normalise(text: str) -> str:
    """Lower case with typographic quotes and dashes made plain."""
    table = str.maketrans(
        {"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\u00a0": " "}
    )
    return text.translate(table).lower()


def words(text: str) -> list[str]:
    """Lower-case words, possessive 's dropped ("Russia's" -> "russia")."""
    out = []
    for w in _WORD.findall(normalise(text)):
        w = w.strip("'-")
        if w.endswith("'s"):
            w = w[:-2]
        if w:
            out.append(w)
    return out


def stem(word: str) -> str:
    """A light suffix strip so 'militants'/'militant' and 'pardoned'/'pardon' meet."""
    for suffix in ("ations", "ation", "ings", "ing", "edly", "ied", "ies", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


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
    out = []
    for w in words(text):
        if w in STOPWORDS:
            continue
        out.append(number_value(w) or stem(w))
        if "-" in w:  # "mid-October", "al-Nusra": the parts count too
            out.extend(stem(part) for part in w.split("-") if part and part not in STOPWORDS)
    return out


def number_value(token: str) -> str | None:
    """'3,179' -> '3179', 'seven' -> '7', '80,000' -> '80000'; None if not a number."""
    t = token.lower().strip(".")
    if t in NUMBER_WORDS:
        return NUMBER_WORDS[t]
    if _NUMBER.fullmatch(t):
        return t.replace(",", "")
    return None


def numbers(text: str) -> set[str]:
    """Every number in ``text``, as digits (number words included)."""
    found = {m.group().replace(",", "").rstrip(".") for m in _NUMBER.finditer(text)}
    for w in words(text):
        if w in NUMBER_WORDS and w not in ("one",):
            found.add(NUMBER_WORDS[w])
    return {n for n in found if n}


def names(text: str) -> set[str]:
    """Capitalised words that are not at the start of a sentence and not stopwords: likely names."""
    out = set()
    for m in re.finditer(r"(?<![.!?]\s)(?<!^)\b([A-Z][a-zA-Z'’\-]+)", text.strip()):
        w = m.group(1).lower()
        if w not in STOPWORDS and len(w) > 1:
            out.add(stem(w))
    return out


_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_SHARE = r"\d[\d.,]*\s*%|\b(?:\S+\s+)?(?:percent|per cent|pct)\b|\b(?:half|third|thirds|quarter|quarters|fifth|tenth|majority|minority|most)\b"
_DAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday"


def expected_answer_type(question: str) -> str | None:
    """What kind of thing the question asks for: number, date, name, or None (anything)."""
    q = normalise(question)
    if re.search(r"\b(what|which) (share|percentage|proportion|fraction|part)\b", q):
        return "share"
    if re.search(r"\bhow (many|much)\b|\bwhat number\b", q):
        return "number"
    if re.search(
        r"^\s*when\b|\bwhat (date|day|year|month|time)\b|\bon what\b.*\b(date|day)\b|\bwhich (date|day|year|month)\b",
        q,
    ):
        return "date"
    if re.search(
        r"^\s*(who|whom)\b|^\s*name\s+the\b|\bwhich (\w+ ){0,3}(city|country|town|organi[sz]ation|outlet|agency|program(me)?|president|minister|spokes\w*|official|envoy|broadcaster|newspaper)\b|^\s*where\b",
        q,
    ):
        return "name"
    return None


def new_items(answer: str, question: str) -> set[str]:
    """The things of the asked-for kind in ``answer`` that the question did not already hold:
    numbers for "how many", months/weekdays/years for "when", names for "who". Empty when the
    question asks for no particular kind."""
    kind = expected_answer_type(question)
    if kind is None:
        return set()
    answer = re.sub(r"\[\d+(?:\s*[,;]\s*\d+)*\]", "", answer)  # citation markers are not numbers
    if kind == "share":
        return set(re.findall(_SHARE, normalise(answer))) - set(
            re.findall(_SHARE, normalise(question))
        )
    if kind == "number":
        return numbers(answer) - numbers(question)
    if kind == "date":
        pattern = rf"\b(?:{_MONTHS}|{_DAYS})\b|\b\d{{4}}\b"
        return set(re.findall(pattern, normalise(answer))) - set(
            re.findall(pattern, normalise(question))
        )
    return names(answer) - names(question) - set(content_terms(question))


def answers_type(answer: str, question: str) -> bool:
    """Whether ``answer`` holds something of the expected type that the question did not already hold."""
    return expected_answer_type(question) is None or bool(new_items(answer, question))


# "What resolution did ...?": the question names the kind of thing it wants. Broad kinds
# (a body, a city, a share) are often answered without the word itself, so only the rest count.
_ASKED_NOUN = re.compile(
    r"^\s*(?:what|which)\s+([a-z]+)\s+(?:did|does|do|was|were|is|are|has|have|had|will|would|can)\b"
)
_BROAD_NOUNS = frozenset(
    """body city country town place organisation organization agency outlet broadcaster
    newspaper program programme channel person people official officials leader leaders share
    percentage number amount date day year month time kind type sort group groups side sides
    party parties document documents report reports news word words name names thing things
    role title position""".split()
)


def asked_noun(question: str) -> str | None:
    """The specific thing a "What <noun> did ...?" question asks for, stemmed, if any."""
    m = _ASKED_NOUN.search(normalise(question))
    if not m or m.group(1) in _BROAD_NOUNS or m.group(1) in STOPWORDS:
        return None
    return stem(m.group(1))
