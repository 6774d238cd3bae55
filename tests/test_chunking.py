"""Chunking: exact offsets, the token budget, long sentences, overlap, sentences, pages."""

from __future__ import annotations

import hashlib
import random
import re
from pathlib import Path

import pytest

from index.chunking import chunk_document, split_sentences
from index.loaders import Source, load
from index.schema import Document

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def _doc(text: str, page_starts: tuple[int, ...] = (), doc_id: str = "t/doc.txt") -> Document:
    return Document(
        doc_id=doc_id,
        path=f"/x/{doc_id}",
        title="T",
        text=text,
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
        page_starts=page_starts,
    )


def _seed_docs() -> list[Document]:
    return [load(Source(p, SEEDS)) for p in sorted(SEEDS.glob("*.txt"))]


def _gibberish(seed: int, words: int) -> str:
    """One long sentence of made-up words: the tokenizer cuts them into many word-pieces."""
    rng = random.Random(seed)
    letters = "bcdfghjklmnpqrstvwxzaeiouy"
    return (
        " ".join(
            "".join(rng.choice(letters) for _ in range(rng.randint(3, 14))) for _ in range(words)
        )
        + "."
    )


def _chunks(doc: Document, embedder, max_tokens: int = 200, overlap: int = 1):
    return chunk_document(doc, embedder.count_tokens, embedder.token_spans, max_tokens, overlap)


def _check_offsets_and_budget(doc: Document, embedder, max_tokens: int) -> None:
    chunks = _chunks(doc, embedder, max_tokens)
    assert chunks
    for c in chunks:
        assert c.text == doc.text[c.start : c.end]
        assert c.text == c.text.strip()
        n = embedder.count_tokens(c.text)
        assert n <= max_tokens, f"{c.chunk_id} has {n} word-pieces, budget {max_tokens}"
    assert len({c.chunk_id for c in chunks}) == len(chunks)
    # Nothing is lost: every non-space character lies inside some chunk.
    covered = bytearray(len(doc.text))
    for c in chunks:
        covered[c.start : c.end] = b"\x01" * (c.end - c.start)
    lost = [i for i, ch in enumerate(doc.text) if not covered[i] and not ch.isspace()]
    assert not lost, f"text outside every chunk at {lost[:5]}"


# -- sentences -----------------------------------------------------------------------------


def _sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


def test_abbreviations_stay_inside_a_sentence() -> None:
    text = (
        "Gen. Smith met the U.S. envoy on Monday. Dr. Jones said the U.N. would act, "
        "e.g. by sending aid. Mr. J. R. Tolkien wrote books."
    )
    assert _sentences(text) == [
        "Gen. Smith met the U.S. envoy on Monday.",
        "Dr. Jones said the U.N. would act, e.g. by sending aid.",
        "Mr. J. R. Tolkien wrote books.",
    ]


def test_sentences_end_at_marks_and_blank_lines_and_keep_closing_quotes() -> None:
    text = (
        'He left! Did he? "Yes, he did." (It rained.) Two lines\nof one sentence\n\n  Para two.  '
    )
    assert _sentences(text) == [
        "He left!",
        "Did he?",
        '"Yes, he did."',
        "(It rained.)",
        "Two lines\nof one sentence",
        "Para two.",
    ]


def test_sentence_spans_point_into_the_text_and_respect_bounds() -> None:
    text = "  One. Two.  Three.  "
    spans = split_sentences(text)
    assert [text[a:b] for a, b in spans] == ["One.", "Two.", "Three."]
    start = text.index("Two")
    assert [text[a:b] for a, b in split_sentences(text, start, text.index("Three"))] == ["Two."]


# -- chunks (fake tokenizer) ---------------------------------------------------------------


@pytest.mark.parametrize("max_tokens", [32, 64, 200])
def test_seed_chunks_are_exact_slices_within_budget(fake_embedder, max_tokens: int) -> None:
    for doc in _seed_docs():
        _check_offsets_and_budget(doc, fake_embedder, max_tokens)


def test_chunks_of_hard_wrapped_seeds_are_exact_slices_within_budget(fake_embedder) -> None:
    import textwrap

    for doc in _seed_docs():
        text = "\n\n".join(textwrap.fill(p, 60) for p in doc.text.split("\n") if p.strip())
        _check_offsets_and_budget(_doc(text, doc_id=doc.doc_id), fake_embedder, 64)


def test_long_sentence_is_cut_at_the_budget(fake_embedder) -> None:
    words = [f"w{i}" for i in range(700)]
    doc = _doc("Short opener. " + " ".join(words) + ". Short closer.")
    chunks = _chunks(doc, fake_embedder, max_tokens=64, overlap=0)
    assert len(chunks) >= 700 // 64
    assert all(fake_embedder.count_tokens(c.text) <= 64 for c in chunks)
    joined = " ".join(c.text for c in chunks)
    assert re.findall(r"\bw\d+\b", joined) == words  # every word kept once, none split
    starts = [c.start for c in chunks]
    assert starts == sorted(starts)


def test_overlap_repeats_the_last_sentence(fake_embedder) -> None:
    text = " ".join(f"Sentence number {i} talks about topic {i}." for i in range(40))
    doc = _doc(text)
    with_overlap = _chunks(doc, fake_embedder, max_tokens=40, overlap=1)
    assert len(with_overlap) > 3
    for prev, nxt in zip(with_overlap, with_overlap[1:], strict=False):
        shared = doc.text[nxt.start : prev.end]
        assert nxt.start < prev.end
        assert split_sentences(shared) == [(0, len(shared))]  # exactly one whole sentence
        assert prev.text.endswith(shared) and nxt.text.startswith(shared)
    without = _chunks(doc, fake_embedder, max_tokens=40, overlap=0)
    for prev, nxt in zip(without, without[1:], strict=False):
        assert nxt.start > prev.end
    assert len(without) < len(with_overlap)


def test_chunk_ids_name_doc_and_content(fake_embedder) -> None:
    doc = _doc("Alpha one. " * 200)
    chunks = _chunks(doc, fake_embedder, max_tokens=32)
    assert [c.chunk_id for c in chunks] == [
        f"t/doc.txt::{doc.content_hash[:16]}::{i}" for i in range(len(chunks))
    ]
    assert all(c.doc_id == "t/doc.txt" and c.title == "T" for c in chunks)


def test_whitespace_only_document_has_no_chunks(fake_embedder) -> None:
    assert _chunks(_doc(" \n\n \t"), fake_embedder) == []


def test_chunks_record_their_page(fake_embedder) -> None:
    pages = [" ".join(f"Page {p} sentence {i} is here." for i in range(30)) for p in (1, 2, 3)]
    text = "\n\n".join(pages)
    starts = (0, len(pages[0]) + 2, len(pages[0]) + len(pages[1]) + 4)
    doc = _doc(text, page_starts=starts, doc_id="t/r.pdf")
    chunks = _chunks(doc, fake_embedder, max_tokens=48)
    assert {c.page for c in chunks} == {1, 2, 3}
    for c in chunks:
        assert c.page == doc.page_at(c.start)
        assert c.text.startswith(f"Page {c.page} ")


def test_chunks_of_a_loaded_pdf_carry_pages(tmp_path: Path, fake_embedder) -> None:
    from test_loaders import make_pdf

    path = tmp_path / "r.pdf"
    path.write_bytes(
        make_pdf([" ".join([f"Page {p} talks about item {p}."] * 3) for p in (1, 2, 3)])
    )
    doc = load(Source(path, tmp_path))
    chunks = _chunks(doc, fake_embedder, max_tokens=12, overlap=0)
    assert {c.page for c in chunks} == {1, 2, 3}
    assert all(c.text.startswith(f"Page {c.page} ") for c in chunks)


# -- chunks (real tokenizer) ---------------------------------------------------------------


@pytest.mark.real
@pytest.mark.parametrize("max_tokens", [32, 128, 200, 254])
def test_real_tokenizer_budget_on_seeds(real_embedder, max_tokens: int) -> None:
    for doc in _seed_docs():
        _check_offsets_and_budget(doc, real_embedder, max_tokens)


@pytest.mark.real
@pytest.mark.parametrize("seed", range(6))
def test_real_tokenizer_budget_when_a_cut_falls_inside_a_word(real_embedder, seed: int) -> None:
    # A cut between word-pieces makes the next piece start with a fresh word, which can
    # take more word-pieces than it did in place; the cutter must count again.
    doc = _doc(_gibberish(seed, 500))
    for max_tokens in (32, 64, 200):
        _check_offsets_and_budget(doc, real_embedder, max_tokens)


# -- sentences across line breaks ------------------------------------------------------------


def _flat(text: str) -> list[str]:
    """The sentences with their line breaks (and the indentation after them) as spaces."""
    return [" ".join(s.split()) for s in _sentences(text)]


def test_hard_wrapped_prose_keeps_its_sentences_whole() -> None:
    text = (
        "The committee met on Tuesday to review the draft budget for the coming\n"
        "year. Members raised concerns about the cost of the new library, which has\n"
        "risen by 40% since the plan was approved in 2019. The chair, Ms. Okafor,\n"
        "said the figures would be checked again before the vote\n"
        "on 3 March.\n"
        "\n"
        "A second meeting is planned for April. It will be open to the public\n"
        "and streamed online\n"
    )
    assert _flat(text) == [
        "The committee met on Tuesday to review the draft budget for the coming year.",
        "Members raised concerns about the cost of the new library, which has risen by 40% "
        "since the plan was approved in 2019.",
        "The chair, Ms. Okafor, said the figures would be checked again before the vote on 3 March.",
        "A second meeting is planned for April.",
        "It will be open to the public and streamed online",
    ]


@pytest.mark.parametrize("width", [40, 72])
def test_wrapping_a_text_does_not_change_its_sentences(width: int) -> None:
    import textwrap

    for doc in _seed_docs():
        paragraphs = [line.strip() for line in doc.text.split("\n") if line.strip()]
        flat = "\n\n".join(paragraphs)
        wrapped = "\n\n".join(textwrap.fill(p, width, break_on_hyphens=False) for p in paragraphs)
        assert wrapped.count("\n") > flat.count("\n") + 10  # many lines were wrapped
        assert _flat(wrapped) == _flat(flat)


def test_pdf_lines_broken_mid_sentence() -> None:
    text = (
        "Journal of Examples, Vol. 3, No. 2 (2021) \n"
        "J. Smith and A. Jones \n"
        "Abstract. Text extracted from a PDF file has a line break at the end of every \n"
        "printed line, whether or not a sentence ends there. We keep those sentences \n"
        "whole: on our corpus 97.5% of them survive (see Fig. 3), with version 2.5.2 of \n"
        "the tool. \n"
        "1 Introduction \n"
        "1.1 Why Lines Break \n"
        "Dr. Smith et al. measured this in 2019 on reports from the U.S. Department of \n"
        "Energy, i.e. on documents typeset by many hands, e.g. in Word or LaTeX. \n"
        "12"
    )
    assert _flat(text) == [
        "Journal of Examples, Vol. 3, No. 2 (2021)",
        "J. Smith and A. Jones",
        "Abstract.",
        "Text extracted from a PDF file has a line break at the end of every printed line, "
        "whether or not a sentence ends there.",
        "We keep those sentences whole: on our corpus 97.5% of them survive (see Fig. 3), "
        "with version 2.5.2 of the tool.",
        "1 Introduction",
        "1.1 Why Lines Break",
        "Dr. Smith et al. measured this in 2019 on reports from the U.S. Department of Energy, "
        "i.e. on documents typeset by many hands, e.g. in Word or LaTeX.",
        "12",
    ]


def test_markdown_headings_lists_and_tables_end_sentences() -> None:
    text = (
        "# Installing\n"
        "Run the installer on your machine\n"
        "and wait for it to finish.\n"
        "## Options\n"
        "- `--quiet` hides the output\n"
        "- `--force` overwrites files\n"
        "  that already exist\n"
        "1. Download the file\n"
        "2. Run it\n"
        "\n"
        "| Flag | Meaning |\n"
        "|------|---------|\n"
        "| -q | quiet |\n"
        "Text after the table\n"
        "wraps onto two lines\n"
        "```\n"
        "pip install qa\n"
        "```\n"
    )
    assert _sentences(text) == [
        "# Installing",
        "Run the installer on your machine\nand wait for it to finish.",
        "## Options",
        "- `--quiet` hides the output",
        "- `--force` overwrites files\n  that already exist",
        "1. Download the file",
        "2. Run it",
        "| Flag | Meaning |",
        "|------|---------|",
        "| -q | quiet |",
        "Text after the table\nwraps onto two lines",
        "```",
        "pip install qa",
        "```",
    ]


def test_a_number_starting_a_wrapped_line_is_not_a_list() -> None:
    text = "The instance is a number (e.g.\n15) and the answer is yes\nif it is prime."
    assert _flat(text) == [
        "The instance is a number (e.g. 15) and the answer is yes if it is prime."
    ]


@pytest.mark.parametrize(
    "text, sentences",
    [
        ("See Fig. 3 and No. 7 of the list. Then stop.", ["See Fig. 3 and No. 7 of the list.", "Then stop."]),
        ("Pi is 3.14 here. Version 2.5.2 added Matter. Done.", ["Pi is 3.14 here.", "Version 2.5.2 added Matter.", "Done."]),
        ("Apples, pears, etc. and plums. More later.", ["Apples, pears, etc. and plums.", "More later."]),
        ("It runs on Bitcoin, Solana etc. Key issues remain.", ["It runs on Bitcoin, Solana etc.", "Key issues remain."]),
        ('"Why?" he asked. "Because." She left.', ['"Why?" he asked.', '"Because."', "She left."]),
        ("Mrs. Dalloway met Prof. Kim in the U.K. on Monday.", ["Mrs. Dalloway met Prof. Kim in the U.K. on Monday."]),
        ("8.1. Syntax Errors\n\n2. Save the file.", ["8.1. Syntax Errors", "2. Save the file."]),
        ("Wait... what happened? Nothing… Really.", ["Wait... what happened?", "Nothing…", "Really."]),
        ("He said no. No. 5 won.", ["He said no.", "No. 5 won."]),
    ],
)  # fmt: skip
def test_stops_abbreviations_numbers(text: str, sentences: list[str]) -> None:
    assert _sentences(text) == sentences


def test_sentences_in_other_scripts() -> None:
    assert _sentences("Der Zug fährt nach Zürich. Österreich liegt östlich.") == [
        "Der Zug fährt nach Zürich.",
        "Österreich liegt östlich.",
    ]
    assert _sentences("Он живёт в Москве. Это большой город.") == [
        "Он живёт в Москве.",
        "Это большой город.",
    ]
    assert _sentences("Η Αθήνα είναι πόλη. Ζει εκεί.") == ["Η Αθήνα είναι πόλη.", "Ζει εκεί."]
    assert _sentences("東京は大きい。大阪も「大きい」。") == [
        "東京は大きい。",
        "大阪も「大きい」。",
    ]


def test_multiline_spans_are_exact_and_respect_bounds() -> None:
    text = "Intro line.\nA sentence that\nwraps here. Last one\ngoes on.\n"
    spans = split_sentences(text)
    assert [text[a:b] for a, b in spans] == [
        "Intro line.",
        "A sentence that\nwraps here.",
        "Last one\ngoes on.",
    ]
    lo = text.index("A sentence")
    assert [text[a:b] for a, b in split_sentences(text, lo, text.index(" Last"))] == [
        "A sentence that\nwraps here."
    ]


def test_min_chars_glues_a_dateline_but_not_across_lines() -> None:
    text = "SOCHI, October 28. /TASS/. Russia reserves the right to act.\n\nShort.\nNext one here."
    assert [text[a:b] for a, b in split_sentences(text, min_chars=30)] == [
        "SOCHI, October 28. /TASS/. Russia reserves the right to act.",
        "Short.",
        "Next one here.",
    ]


def test_list_items_and_where_they_end():
    from index.chunking import continues_item, in_list_item

    md = (
        "Intro text.\n\n"
        "* `a` {number} The first option.\n"
        "  It wraps. **Default:** `1`.\n"
        "* `b` {string} The second.\n\n"
        "After the list.\n"
    )
    assert in_list_item(md, md.index("It wraps"))  # indented under its item's first line
    assert in_list_item(md, md.index("**Default:**"))
    assert in_list_item(md, md.index("* `a`"))
    assert in_list_item(md, md.index("After the list")) is False
    # The first line of a text (a chunk may begin inside a line) cannot tell.
    assert in_list_item(md, md.index("Intro")) is None
    assert in_list_item(md[md.index("It wraps") :], 0) is None
    # A PDF's lines are not indented: the line after a numbered one is prose.
    pdf = "Questions:\n1. Is it permissioned? \nMost deployments are private. \n"
    assert in_list_item(pdf, pdf.index("Is it"))
    assert in_list_item(pdf, pdf.index("Most")) is False
    # The next sentence goes on in the item: on the same line, or on an indented line.
    assert continues_item(" ", "**Default:** `1`.")
    assert continues_item("\n  ", "It wraps.")
    # It does not: a new item, a blank line, a heading, or an unindented line (a PDF's
    # lines give no sign where an item ends).
    assert not continues_item("\n", "* `b` {string} The second.")
    assert not continues_item("\n  ", "- another item")
    assert not continues_item("\n\n", "After the list.")
    assert not continues_item("\n", "## Next section")
    assert not continues_item("\n", "Most of the deployments are private.")
