"""qa as llama-index pieces (qa.llama_index): the retriever's nodes carry exact offsets, the
citation check runs on any llama-index response, the query engine gives the answerer's
answer, and a llama-index user's own pipeline can use qa's retriever, model and check."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.base.response.schema import Response
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import CitationQueryEngine, RetrieverQueryEngine
from llama_index.core.schema import MetadataMode, NodeWithScore, TextNode

from eval.bench_llama_index import measure
from qa.llama_index import (
    QALLM,
    QAQueryEngine,
    QARetriever,
    VerifiedQueryEngine,
    VerifiedStreamingResponse,
    verify_response,
)
from qa.pipeline.compose import REFUSED
from qa.service import make_checker, run_index
from qa.settings import load_settings
from qa.testing import FakeGenerator

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS_Q = "How many checkpoints were established in western Aleppo?"
CHECKPOINTS_A = "Seven checkpoints were established in western Aleppo [1]."
OFF_CLAIM = "Paris is the capital of France"
OFF = f"{OFF_CLAIM}."


@pytest.fixture
def checker(settings, fake_embedder, gen):
    return make_checker(settings, fake_embedder, gen)


def document(seeds: Path, doc_id: str) -> str:
    return (seeds / Path(doc_id).name).read_text(encoding="utf-8")


def assert_exact_quotes(nodes: list[NodeWithScore], seeds: Path) -> None:
    """Every node's text is its document's text at the node's offsets."""
    assert nodes
    for nws in nodes:
        node = nws.node
        assert isinstance(node, TextNode)
        doc = document(seeds, node.metadata["doc_id"])
        assert doc[node.start_char_idx : node.end_char_idx] == node.text
        assert node.metadata["line"] == doc.count("\n", 0, node.start_char_idx) + 1


def test_retriever_nodes_are_the_passages_with_exact_offsets(answerer, indexed):
    nodes = QARetriever.from_answerer(answerer).retrieve(CHECKPOINTS_Q)
    passages = answerer.retriever.passages(CHECKPOINTS_Q, answerer.k)
    assert [(n.node.get_content(), n.score) for n in nodes] == [(p.text, p.score) for p in passages]
    assert_exact_quotes(nodes, indexed)
    top = nodes[0].node
    assert top.metadata["doc_id"] == "seeds/004_2498656e7b287085.txt"
    assert top.ref_doc_id == top.metadata["doc_id"]
    assert (top.metadata["start"], top.metadata["end"]) == (top.start_char_idx, top.end_char_idx)
    # The place in the document stays out of the prompt and the embedding; the title goes in.
    for mode in (MetadataMode.LLM, MetadataMode.EMBED):
        shown = top.get_content(metadata_mode=mode)
        assert shown.startswith(f"title: {top.metadata['title']}")
        assert "start:" not in shown and "doc_id:" not in shown and "line:" not in shown


def test_async_retrieve_gives_the_same_nodes(answerer):
    retriever = QARetriever.from_answerer(answerer)
    got = asyncio.run(retriever.aretrieve(CHECKPOINTS_Q))
    assert [n.node.node_id for n in got] == [
        n.node.node_id for n in retriever.retrieve(CHECKPOINTS_Q)
    ]


def _response(nodes: list[NodeWithScore], text: str) -> Response:
    return Response(text, nodes, {n.node.node_id: n.node.metadata for n in nodes})


def test_verify_response_keeps_what_a_node_states_and_drops_the_rest(answerer, checker, indexed):
    nodes = QARetriever.from_answerer(answerer).retrieve(CHECKPOINTS_Q)
    assert len(nodes) >= 3
    cited = next(i for i, n in enumerate(nodes, 1) if "Seven checkpoints" in n.node.get_content())
    draft = f"{OFF_CLAIM} [1]. Seven checkpoints were established in western Aleppo [{cited}]."
    out = verify_response(_response(nodes, draft), checker, CHECKPOINTS_Q)
    assert out.response == CHECKPOINTS_A  # renumbered: its citation is [1] now
    assert out.metadata["removed"] == [OFF]
    assert out.metadata["sentences"] == [
        {"text": CHECKPOINTS_A.replace(" [1]", ""), "citations": [1], "supported": True}
    ]
    assert (out.metadata["refused"], out.metadata["raw_response"]) == (False, draft)
    [quote] = out.source_nodes
    assert "Seven checkpoints" in quote.node.get_content()
    assert quote.node.metadata["n"] == 1
    assert quote.node.node_id in out.metadata
    # The quote is exact in the node it came from and in the document.
    source = nodes[cited - 1].node
    assert quote.node.metadata["quote_of"] == source.node_id
    a, b = quote.node.metadata["node_start"], quote.node.metadata["node_end"]
    assert source.get_content()[a:b] == quote.node.get_content()
    assert_exact_quotes(out.source_nodes, indexed)


def test_a_citation_to_the_wrong_node_is_repointed_and_nothing_supported_is_a_refusal(
    answerer, checker
):
    nodes = QARetriever.from_answerer(answerer).retrieve(CHECKPOINTS_Q)
    wrong = next(i for i, n in enumerate(nodes, 1) if "Seven checkpoints" not in n.node.text)
    out = verify_response(
        _response(nodes, CHECKPOINTS_A.replace("[1]", f"[{wrong}]")), checker, CHECKPOINTS_Q
    )
    assert out.response == CHECKPOINTS_A and out.metadata["repointed"] == 1
    assert "Seven checkpoints" in out.source_nodes[0].node.get_content()
    nothing = verify_response(_response(nodes, f"{OFF_CLAIM} [1]."), checker, CHECKPOINTS_Q)
    assert (nothing.response, nothing.source_nodes) == (REFUSED, [])
    assert nothing.metadata["refused"] and nothing.metadata["removed"] == [OFF]


def test_verify_response_on_plain_nodes_gives_offsets_into_the_node_text(checker):
    """Nodes that do not say where they lie in a document (no offsets, no qa metadata)."""
    text = "The river floods the low fields every spring. Seven bridges cross it in the old town."
    nodes = [
        NodeWithScore(node=TextNode(text="Bakers open at dawn on weekdays."), score=0.5),
        NodeWithScore(node=TextNode(text=text), score=0.4),
    ]
    out = verify_response(_response(nodes, "Seven bridges are in the old town [2]."), checker)
    [quote] = out.source_nodes
    assert out.response == "Seven bridges are in the old town [1]."
    a, b = quote.node.metadata["node_start"], quote.node.metadata["node_end"]
    assert text[a:b] == quote.node.get_content() == "Seven bridges cross it in the old town."
    assert (
        quote.node.start_char_idx is None
        and quote.node.metadata["quote_of"] == nodes[1].node.node_id
    )


def test_the_query_engine_gives_the_answerers_answer(answerer, gen, indexed):
    gen.enqueue(CHECKPOINTS_A, CHECKPOINTS_A)
    answer = answerer.ask(CHECKPOINTS_Q)
    response = QAQueryEngine(answerer=answerer).query(CHECKPOINTS_Q)
    assert isinstance(response, Response)
    assert response.response == answer.text == CHECKPOINTS_A
    assert [
        (n.node.get_content(), n.node.start_char_idx, n.node.end_char_idx)
        for n in response.source_nodes
    ] == [(c.quote, c.start, c.end) for c in answer.citations]
    assert_exact_quotes(response.source_nodes, indexed)
    meta = response.metadata
    assert (meta["origin"], meta["reason"], meta["refused"]) == ("model", None, False)
    assert set(meta["timings"]) == set(answer.timings) and meta["timings"]["total_ms"] > 0
    assert meta["trace"]["passages"] == len(answer.passages) == len(meta["passages"])
    assert meta["sentences"][0]["citations"] == [1]
    assert response.source_nodes[0].node.node_id in meta
    assert json.loads(json.dumps(meta))["passages"][0]["text"] == answer.passages[0].text


def test_a_refusal_has_no_sources_and_says_why(answerer, gen):
    response = QAQueryEngine(answerer=answerer).query("xyzzy plugh frotz")
    assert response.source_nodes == [] and gen.history == []
    meta = response.metadata
    assert (meta["origin"], meta["reason"], meta["refused"]) == ("refusal", "low_relevance", True)
    assert response.response == REFUSED


def test_streaming_gives_the_draft_then_the_verified_answer(answerer, gen):
    draft = f"{CHECKPOINTS_A} {OFF_CLAIM} [1]."
    gen.enqueue(draft)
    response = QAQueryEngine(answerer=answerer, streaming=True).query(CHECKPOINTS_Q)
    assert isinstance(response, VerifiedStreamingResponse)
    assert response.source_nodes == []  # nothing is verified before the model has written
    assert "".join(response.response_gen) == draft
    assert str(response) == CHECKPOINTS_A  # the unsupported sentence is left out
    assert len(response.source_nodes) == 1 and response.metadata["origin"] == "model"
    assert response.get_response().response == CHECKPOINTS_A


def test_async_query_matches_query(answerer, gen):
    gen.enqueue(CHECKPOINTS_A)
    response = asyncio.run(QAQueryEngine(answerer=answerer).aquery(CHECKPOINTS_Q))
    assert response.response == CHECKPOINTS_A and len(response.source_nodes) == 1


def test_a_citation_query_engine_on_qa_pieces_then_verified(answerer, checker, indexed):
    """A llama-index user's pipeline: CitationQueryEngine with qa's retriever and qa's model
    (here the fake), then qa's check on what it answered."""
    reply = (
        "Seven checkpoints were established in western Aleppo [{n}], Peskov said. "
        f"{OFF_CLAIM} [1]."
    )
    nodes = QARetriever.from_answerer(answerer).retrieve(CHECKPOINTS_Q)
    n = next(i for i, x in enumerate(nodes, 1) if "Seven checkpoints" in x.node.get_content())
    llm_gen = FakeGenerator([reply.format(n=n)] * 2)
    engine = CitationQueryEngine(retriever=QARetriever.from_answerer(answerer), llm=QALLM(llm_gen))
    response = engine.query(CHECKPOINTS_Q)
    prompt = llm_gen.history[0][-1]["content"]
    assert f"Source {n}:\n{nodes[n - 1].node.get_content()}" in prompt  # qa's passages, whole
    out = verify_response(response, checker, CHECKPOINTS_Q)
    assert out.metadata["removed"] == [OFF]
    assert out.response.startswith("Seven checkpoints were established in western Aleppo")
    assert all(q.node.metadata["node_start"] >= len(f"Source {n}:\n") for q in out.source_nodes)
    assert_exact_quotes(out.source_nodes, indexed)  # CitationQueryEngine dropped the offsets
    verified = VerifiedQueryEngine(engine=engine, checker=checker).query(CHECKPOINTS_Q)
    assert (verified.response, verified.metadata["removed"]) == (out.response, [OFF])


def test_a_retriever_query_engine_with_mock_llm_reads_qas_passages(answerer, checker, indexed):
    nodes = QARetriever.from_answerer(answerer).retrieve(CHECKPOINTS_Q)
    engine = RetrieverQueryEngine.from_args(QARetriever.from_answerer(answerer), llm=MockLLM())
    response = engine.query(CHECKPOINTS_Q)  # MockLLM answers with its prompt
    for node in nodes:
        assert node.node.get_content() in response.response
    assert "start:" not in response.response and "line:" not in response.response
    out = verify_response(response, checker, CHECKPOINTS_Q)
    # The template's instruction is stated by no node; what the nodes say is kept, quoted.
    assert (
        "Given the context information and not prior knowledge, answer the query."
        in (out.metadata["removed"])
    )
    assert len(out.source_nodes) >= len(nodes)
    assert_exact_quotes(out.source_nodes, indexed)


def test_qallm_hands_chat_messages_to_the_generator_as_they_are():
    gen = FakeGenerator(["Hello there.", "One two three."])
    llm = QALLM(gen, num_output=32)
    reply = llm.chat(
        [
            ChatMessage(role=MessageRole.SYSTEM, content="Be brief."),
            ChatMessage(role=MessageRole.USER, content="Hi"),
        ]
    )
    assert reply.message.content == "Hello there."
    assert gen.history[0] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    pieces = list(llm.stream_complete("Count"))
    assert "".join(p.delta or "" for p in pieces) == pieces[-1].text == "One two three."
    assert gen.history[1] == [{"role": "user", "content": "Count"}]
    assert llm.metadata.is_chat_model and llm.metadata.num_output == 32


def test_qa_never_imports_llama_index_at_startup():
    code = (
        "import sys, app.cli, qa.service, qa.answerer; "
        "print(sorted(m for m in sys.modules if m.startswith('llama_index')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_the_wrappers_cost_little_and_change_nothing(answerer):
    result = measure(answerer, reps=5)
    assert result["same_passages"] and result["same_answer"]
    # Measured at about 0.2 ms a call (eval/bench_llama_index.py); a bound far above that
    # still catches a wrapper that re-runs the search or the answer.
    assert all(ms < 5 for ms in result["wrapper_ms"].values()), result["wrapper_ms"]


@pytest.mark.real
def test_the_query_engine_on_the_real_models(tmp_path, real_embedder):
    from qa.generator import make_generator

    settings = load_settings(data_dir=tmp_path / "data", llm__mode="local", llm__threads=2)
    run_index(settings, [ROOT / "seeds"], real_embedder)
    engine = QAQueryEngine.from_settings(
        settings, embedder=real_embedder, generator=make_generator(settings)
    )
    response = engine.query(CHECKPOINTS_Q)
    assert re.search(r"\b(seven|7)\b", response.response, re.IGNORECASE), response.response
    assert response.metadata["origin"] in ("model", "extractive")
    assert response.source_nodes[0].node.metadata["doc_id"] == "seeds/004_2498656e7b287085.txt"
    assert_exact_quotes(response.source_nodes, ROOT / "seeds")
