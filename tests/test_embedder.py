"""Embedders: the fake depends on the text; the packaged MiniLM is normalised and stable."""

from __future__ import annotations

import numpy as np
import pytest

from index.embedder import MAX_WORDPIECES, EmbedderError, make_embedder
from qa.testing import HashEmbedder

SIMILAR = ("The cat sat on the mat.", "A cat was sitting on a rug.")
UNRELATED = "Stock markets fell sharply on Tuesday after the bank raised rates."


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b))


# -- the fake ------------------------------------------------------------------------------


def test_fake_vectors_are_normalised_and_depend_on_the_text(fake_embedder) -> None:
    texts = ["apples and pears", "pears and apples", "ferries cross the harbour", ""]
    v = fake_embedder.embed(texts)
    assert v.shape == (4, fake_embedder.dim) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    assert _cos(v[0], v[1]) == pytest.approx(1.0)  # same bag of words
    assert _cos(v[0], v[2]) < 0.5
    assert not np.allclose(v[0], v[2])
    np.testing.assert_array_equal(fake_embedder.embed(texts), v)  # deterministic
    np.testing.assert_array_equal(HashEmbedder().embed(texts), v)  # across instances too


def test_fake_ranks_shared_words_higher(fake_embedder) -> None:
    q, near, far = fake_embedder.embed(
        ["harbour ferry timetable", "the ferry leaves the harbour", UNRELATED]
    )
    assert _cos(q, near) > _cos(q, far)


def test_fake_token_spans_cover_words_and_punctuation(fake_embedder) -> None:
    text = "Hello, world! It's 5pm."
    spans = fake_embedder.token_spans(text)
    assert [text[a:b] for a, b in spans] == ["Hello", ",", "world", "!", "It", "'", "s", "5pm", "."]
    assert fake_embedder.count_tokens(text) == len(spans)


def test_make_embedder_modes() -> None:
    from qa.service import open_embedder
    from qa.settings import load_settings

    assert isinstance(open_embedder(load_settings(embed__mode="fake")), HashEmbedder)
    with pytest.raises(EmbedderError, match="QA_EMBED_MODE"):
        make_embedder("cloud")
    with pytest.raises(EmbedderError, match="QA_EMBED_MODE"):
        make_embedder("fake")  # index/ has no fake: it lives in qa.testing


# -- the packaged model --------------------------------------------------------------------


@pytest.mark.real
def test_minilm_vectors_are_normalised_and_deterministic(real_embedder) -> None:
    texts = [*SIMILAR, UNRELATED, "x"]
    v = real_embedder.embed(texts)
    assert v.shape == (4, 384) == (len(texts), real_embedder.dim) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(real_embedder.embed(texts), v, atol=1e-6)
    # Batching and order (it sorts by length and pads) do not change a text's vector.
    alone = real_embedder.embed([SIMILAR[0]])[0]
    np.testing.assert_allclose(alone, v[0], atol=1e-4)
    reordered = real_embedder.embed(list(reversed(texts)))
    np.testing.assert_allclose(reordered[::-1], v, atol=1e-4)


@pytest.mark.real
def test_minilm_similar_sentences_score_higher(real_embedder) -> None:
    a, b, c = real_embedder.embed([*SIMILAR, UNRELATED])
    assert _cos(a, b) > 0.5
    assert _cos(a, b) > _cos(a, c) + 0.3
    q, right, wrong = real_embedder.embed(
        [
            "Who decides Russia's military strategy in Syria?",
            "Strategic decisions on the operation in Syria will be made by Vladimir Putin.",
            "Over 80,000 Syrians, including tens of thousands of children, have been freed.",
        ]
    )
    assert _cos(q, right) > _cos(q, wrong)


@pytest.mark.real
def test_minilm_tokens_and_long_inputs(real_embedder) -> None:
    assert real_embedder.count_tokens("Hello world") == 2  # no [CLS]/[SEP]
    text = "Peskov's spokesman-ship"
    spans = real_embedder.token_spans(text)
    assert len(spans) == real_embedder.count_tokens(text)
    assert all(0 <= a < b <= len(text) for a, b in spans)
    assert real_embedder.embed([]).shape == (0, 384)
    long_text = "harbour " * (3 * MAX_WORDPIECES)  # truncated to the window, not an error
    v = real_embedder.embed([long_text, "harbour"])
    assert np.isfinite(v).all()
    assert real_embedder.count_tokens(long_text) > MAX_WORDPIECES


# Vectors each variant gives (first six dimensions): the model's numbers must not move. The
# "weights" ones are those the embedder gave before batches were sorted by word-pieces and
# run side by side (commit 8f14710); the "dynamic" ones, its int8 build (2026-12-06). The
# int8 build has one set per kind of CPU kernel: onnxruntime's u8 x s8 products are exact
# where the CPU multiplies and adds them in 32 bits (the first set, 2026-12-06), and saturate
# at 16 bits on an AVX2 CPU without VNNI (the second, an AMD EPYC, 2026-12-07).
PINNED = {
    "weights": [
        {
            SIMILAR[0]: [0.1271809, -0.0160112, -0.0350625, 0.0554218, -0.0596252, 0.0323067],
            UNRELATED: [0.0247562, -0.0579017, 0.0501371, 0.0560122, -0.0049945, 0.0122265],
        }
    ],
    "dynamic": [
        {
            SIMILAR[0]: [0.1228791, -0.0123566, -0.0452864, 0.0620352, -0.0586414, 0.0323298],
            UNRELATED: [0.0216134, -0.0608323, 0.0498657, 0.0553182, -0.0050377, 0.0104634],
        },
        {
            SIMILAR[0]: [0.1308317, -0.0072269, -0.0387523, 0.0594586, -0.0561233, 0.0307711],
            UNRELATED: [0.0226249, -0.0532769, 0.0454074, 0.0528138, 0.0032744, 0.0020533],
        },
    ],
}


def _one_at_a_time(embedder, text: str) -> np.ndarray:
    """The plain computation: one text, no padding, no batching, no threads."""
    enc = embedder._batch_tokenizer.encode(text, add_special_tokens=True)
    ids = np.asarray([enc.ids], dtype=np.int64)
    mask = np.ones_like(ids)
    hidden = embedder._session.run(
        None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    )[0]
    pooled = hidden.mean(axis=1)[0]
    return pooled / np.linalg.norm(pooled)


@pytest.mark.real
@pytest.mark.parametrize("int8", ["dynamic", "weights"])
def test_minilm_sorting_batching_and_threads_do_not_change_vectors(int8, tmp_path) -> None:
    from index.embedder import MiniLMEmbedder

    # Mixed lengths in a scrambled order: batches are sorted, padded and run in parallel.
    texts = [
        " ".join(["harbour ferry timetable"] * n) + f" number {n}." for n in (1, 40, 3, 90, 7, 20)
    ]
    texts += [*SIMILAR, UNRELATED, "x", "harbour " * 400]  # the last one is truncated
    embedder = MiniLMEmbedder(int8=int8, cache_dir=tmp_path)
    alone = np.stack([_one_at_a_time(embedder, t) for t in texts])
    for batch, threads in ((8, 0), (3, 2), (1, 1), (64, 1)):
        e = MiniLMEmbedder(threads=threads, batch_size=batch, int8=int8, cache_dir=tmp_path)
        np.testing.assert_allclose(e.embed(texts), alone, atol=1e-5, rtol=0)
    texts = [SIMILAR[0], UNRELATED]
    got = embedder.embed(texts)[:, :6]
    known = [np.array([pinned[t] for t in texts]) for pinned in PINNED[int8]]
    assert any(np.allclose(got, want, atol=1e-5, rtol=0) for want in known), got


@pytest.mark.real
def test_minilm_int8_build_is_cached_atomic_and_close_to_the_packaged_graph(tmp_path) -> None:
    """QA_EMBED_INT8=dynamic: built once into the cache (no temporary file left), reused, the
    same vectors when built elsewhere because the cache is not writable."""
    from index.embedder import MiniLMEmbedder

    cache = tmp_path / "cache"
    built = MiniLMEmbedder(int8="dynamic", cache_dir=cache)
    assert built.name == "all-MiniLM-L6-v2-int8-dq" and built._batch == 1
    files = sorted(p.name for p in cache.iterdir())
    assert len(files) == 1 and files[0].startswith("minilm-int8-dq-"), files  # no temp left
    stamp = (cache / files[0]).stat().st_mtime_ns
    again = MiniLMEmbedder(int8="dynamic", cache_dir=cache)  # reused, not rebuilt
    assert (cache / files[0]).stat().st_mtime_ns == stamp
    texts = [*SIMILAR, UNRELATED, "harbour ferry timetable " * 30]
    np.testing.assert_array_equal(again.embed(texts), built.embed(texts))
    # A cache that cannot be written: built in a temporary folder, the same vectors.
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    rebuilt = MiniLMEmbedder(int8="dynamic", cache_dir=blocked)
    np.testing.assert_array_equal(rebuilt.embed(texts), built.embed(texts))
    # Close to the packaged graph run in float32, the default.
    shipped = MiniLMEmbedder()
    assert shipped.name == "all-MiniLM-L6-v2-int8" and shipped.int8 == "weights"
    cos = (shipped.embed(texts) * built.embed(texts)).sum(axis=1)
    assert cos.min() > 0.98, cos
