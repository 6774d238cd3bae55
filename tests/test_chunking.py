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


def test_sentences_end_at_marks_lines_and_keep_closing_quotes() -> None:
    text = 'He left! Did he? "Yes, he did." (It rained.) Title line\nNext line\n\n  Para two.  '
    assert _sentences(text) == [
        "He left!",
        "Did he?",
        '"Yes, he did."',
        "(It rained.)",
        "Title line",
        "Next line",
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
