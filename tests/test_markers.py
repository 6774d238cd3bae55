"""qa.markers: the one definition of citation markers that every module uses."""

from __future__ import annotations

import re
from pathlib import Path

from qa import markers

ROOT = Path(__file__).resolve().parent.parent


def test_parse_reads_lists_semicolons_and_repeats() -> None:
    assert markers.parse("Seven checkpoints were set up [1][2, 1] .") == (
        "Seven checkpoints were set up.",
        [1, 2],
    )
    assert markers.parse("It rose [3; 1].") == ("It rose.", [3, 1])


def test_parse_keeps_the_space_before_a_word_that_starts_with_a_stop() -> None:
    # "is .venv [1]." once came out as "is.venv.", and "create .pyc files" as "create.pyc".
    assert markers.parse("The usual place is .venv [1].") == ("The usual place is .venv.", [1])
    assert markers.parse("It can create .pyc files [2] .") == ("It can create .pyc files.", [2])
    assert markers.parse("Use it , then stop [1] !") == ("Use it, then stop!", [1])


def test_before_stop_and_attach_put_markers_before_the_stop() -> None:
    assert markers.before_stop("They were freed. [3] Then") == "They were freed [3]. Then"
    assert markers.attach("They were freed.", [1, 2]) == "They were freed [1][2]."
    assert markers.attach("“It rose.”", [4]) == "“It rose [4].”"
    assert markers.attach("No stop", [1]) == "No stop [1]"
    assert markers.attach("Nothing cited.", []) == "Nothing cited."


def test_strip_and_partial() -> None:
    assert markers.remove("In 2019 [1], and 7 [2; 3].") == "In 2019, and 7."
    assert markers.PARTIAL.sub("", "It was 7 [1, ") == "It was 7"
    assert [markers.numbers(m) for m in markers.MARKER.finditer("[12][1,2]")] == [[12], [1, 2]]


def test_no_other_module_defines_a_marker_regex() -> None:
    """Every [n] marker regex of qa/, index/, ui/ and app/ is this module's."""
    pattern = re.compile(
        r"""re\.(?:compile|sub|search|finditer|findall)\(\s*r?f?["'].*\\\[[(\[]?\\d"""
    )
    found = [
        f"{path.relative_to(ROOT)}:{i}"
        for package in ("qa", "index", "ui", "app")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.name != "markers.py"
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []


def test_parse_drops_the_words_that_only_point_at_a_marker() -> None:
    # "According to [1], approximately ..." once showed as "According to, approximately ... [1]".
    assert markers.parse("According to [1], about 500 people left.") == (
        "About 500 people left.",
        [1],
    )
    assert markers.parse("It rose, as stated in [2].") == ("It rose.", [2])
    assert markers.parse("The agency, according to [1][3], is closed.") == (
        "The agency is closed.",
        [1, 3],
    )
    # A phrase that names its source in words keeps them; only the marker goes.
    assert markers.parse("According to the report [1], it fell.") == (
        "According to the report, it fell.",
        [1],
    )
