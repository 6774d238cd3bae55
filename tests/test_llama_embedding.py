"""The llama-index wrapper hands llama-index the product's own vectors."""

from __future__ import annotations

import numpy as np
import pytest

from index.llama import QAEmbedding


def test_wrapper_returns_the_embedders_vectors(fake_embedder):
    emb = QAEmbedding(fake_embedder)
    q = emb.get_query_embedding("checkpoints in western Aleppo")
    assert np.allclose(q, fake_embedder.embed(["checkpoints in western Aleppo"])[0])
    batch = emb.get_text_embedding_batch(["a b c", "checkpoints in Aleppo"])
    assert len(batch) == 2 and len(batch[0]) == fake_embedder.dim
    assert emb.similarity(q, batch[1]) > emb.similarity(q, batch[0])


def test_llama_index_settings_use_it_instead_of_openai(fake_embedder):
    from llama_index.core import Settings

    Settings.embed_model = QAEmbedding(fake_embedder)
    try:
        assert Settings.embed_model.class_name() == "QAEmbedding"
    finally:
        Settings.embed_model = None  # type: ignore[assignment]


@pytest.mark.real
def test_wrapper_with_the_packaged_model(real_embedder):
    emb = QAEmbedding(real_embedder)
    v = emb.get_text_embedding("Seven checkpoints were established in western Aleppo.")
    assert len(v) == 384 and abs(float(np.linalg.norm(v)) - 1.0) < 1e-3
