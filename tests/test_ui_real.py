"""The launched web app with the real embedded models, driven through gradio_client."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.schema import Delta, Done
from qa.service import build_answerer, run_index
from qa.settings import load_settings
from tests.netutil import free_port

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "How many checkpoints were established in western Aleppo?"


@pytest.fixture(scope="module")
def real_app(tmp_path_factory, real_embedder):
    from ui.app import build_app, launch

    settings = load_settings(data_dir=tmp_path_factory.mktemp("ui-real") / "data")
    run_index(settings, [ROOT / "seeds"], real_embedder)
    from qa.library import Library

    answerer = build_answerer(settings, embedder=real_embedder)
    app = build_app(answerer, Library(settings, answerer.retriever, answerer.generator.name))
    _, url, _ = launch(app, port=free_port(), prevent_thread_lock=True)
    yield answerer, url, settings
    app.close()


@pytest.mark.real
def test_ask_endpoint_answers_with_a_citation_of_the_right_document(real_app):
    from gradio_client import Client

    _, url, _ = real_app
    assert url.startswith("http://127.0.0.1:")
    result = Client(url, verbose=False).predict(QUESTION, api_name="/ask")
    assert result["refused"] is False
    assert "seven" in result["answer"].lower() or "7" in result["answer"]
    assert any(c["source"] == "seeds/004_2498656e7b287085.txt" for c in result["citations"])
    text = (ROOT / "seeds" / "004_2498656e7b287085.txt").read_text()
    for c in result["citations"]:
        if c["source"].endswith("004_2498656e7b287085.txt"):
            assert text[c["start"] : c["end"]] == c["quote"]


@pytest.mark.real
def test_the_real_answer_streams_in_pieces(real_app):
    answerer, _, _ = real_app
    events = list(answerer.stream(QUESTION))
    deltas = [e for e in events if isinstance(e, Delta)]
    assert len(deltas) > 3  # token by token, not one block
    assert isinstance(events[-1], Done) and events[-1].answer.citations


@pytest.mark.real
def test_an_uploaded_document_is_found_by_the_real_embedder(real_app, tmp_path):
    from qa.library import Library

    answerer, _, settings = real_app
    library = Library(settings, answerer.retriever)
    src = tmp_path / "upload"
    src.write_text(
        "# Greenhouse log\n\nThe greenhouse heater was replaced on 12 May with a\n"
        "4 kW model that keeps the tomatoes above 14 degrees at night.\n"
    )
    result = library.add([("greenhouse log.md", src)])
    assert result.saved == ["uploads/greenhouse log.md"] and result.report.added == 1
    passages = answerer.retrieve("When was the greenhouse heater replaced?")
    assert passages[0].doc_id == "uploads/greenhouse log.md"
    library.remove("uploads/greenhouse log.md")
    assert all(
        p.doc_id != "uploads/greenhouse log.md" for p in answerer.retrieve("greenhouse heater")
    )
