"""The web chat without a browser: rendering, the chat session, and the /ask API."""

from __future__ import annotations

import html
import logging
import re
import string
from html.parser import HTMLParser
from pathlib import Path

import pytest

from qa.schema import Answer, Citation, Delta, Done
from tests.netutil import free_port
from tests.ui_fakes import (
    CORPUS,
    XSS,
    FakeAnswerer,
    FakeDocuments,
    RecordingAnswerer,
    descale_answer,
    evil_answer,
    refusal,
    tank_answer,
)
from ui import chat, notes, render, sources
from ui.context import TableContext, quote_context, reflow, reflow_span, table_context

SAFE_TAGS = {
    "div", "span", "a", "br", "mark", "blockquote", "code", "section", "ol", "li", "details", "summary",
    "b", "p", "header", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def assert_inert(markup: str) -> None:
    """Only our own tags, no event handlers or sources, and links only to in-page anchors."""
    parser = _Tags()
    parser.feed(markup)
    for tag, attrs in parser.tags:
        assert tag in SAFE_TAGS, f"unexpected <{tag}> in {markup[:200]}"
        assert not any(name.startswith("on") for name in attrs), attrs
        assert "src" not in attrs and "style" not in attrs
        if "href" in attrs:
            assert re.fullmatch(r"#qa-[a-z0-9-]+", attrs["href"] or ""), attrs["href"]
    lowered = markup.lower()
    assert "<script" not in lowered and "onerror=" not in lowered and "javascript:" not in lowered
    assert "<img" not in lowered and "](http" not in lowered


def text_of(markup: str) -> str:
    return html.unescape(re.sub(r"<br>", "\n", re.sub(r"<(?!br>)[^>]+>", "", markup)))


def run(
    answerer: FakeAnswerer,
    question: str,
    turns: list[chat.Turn] | None = None,
    documents: FakeDocuments | None = None,
) -> list[chat.View]:
    return list(chat.respond(answerer, documents or FakeDocuments(), question, turns or []))


# --- streaming -------------------------------------------------------------------------


def test_stream_shows_growing_partial_text_then_the_verified_answer() -> None:
    views = run(FakeAnswerer(), "How do I descale my kettle?")
    assert "Searching your documents" in views[0].messages[-1]["content"]
    partial = [v.messages[-1]["content"] for v in views[1:-1]]
    assert len(partial) >= 3 and all("qa-streaming" in p for p in partial)
    texts = [text_of(p) for p in partial]
    assert all(
        a and b.startswith(a) and len(b) > len(a) for a, b in zip(texts, texts[1:], strict=False)
    )
    final = views[-1]
    assert final.done and len(final.turns) == 1
    content = final.messages[-1]["content"]
    assert "qa-streaming" not in content and content.count('class="qa-cite"') == 3
    assert [m["role"] for m in final.messages] == ["user", "assistant"]


def test_stream_without_a_final_answer_becomes_a_readable_error() -> None:
    class Truncated(FakeAnswerer):
        def stream(self, question, history=()):
            yield from list(super().stream(question, history))[:-1]

    final = run(Truncated(), "How do I descale?")[-1]
    assert final.turns[0].error == chat.GENERIC_ERROR
    assert "qa-error" in final.messages[-1]["content"]


# --- rendering -------------------------------------------------------------------------


def test_answer_html_links_each_citation_to_its_source_entry() -> None:
    out = render.answer_html(descale_answer("q"), anchor="qa-t4")
    hrefs = re.findall(r'href="([^"]+)"', out)
    assert hrefs == ["#qa-t4-1", "#qa-t4-2", "#qa-t4-3"]
    assert "[1]" not in out  # the model's own markers are replaced, not duplicated
    assert 'class="qa-sent qa-unverified"' in out and ">unverified<" in out
    assert "1 sentence is not supported" in out
    assert_inert(out)


def test_answer_without_sentences_links_markers_in_the_text() -> None:
    answer = descale_answer("q")
    answer.sentences = []
    answer.text = "Use vinegar [1]. Rinse well [2, 3]. Ignore [9]."
    out = render.answer_html(answer)
    assert re.findall(r'href="([^"]+)"', out) == ["#qa-src-1", "#qa-src-2", "#qa-src-3"]
    assert "Ignore [9]." in text_of(out)  # unknown numbers stay as written


def test_sources_show_title_file_line_page_and_the_quote_in_context() -> None:
    answer = descale_answer("How do I descale?")
    out = sources.sources_html(answer, CORPUS.get, anchor="qa-t0")
    assert_inert(out)
    entries = re.findall(r'<li class="qa-src" id="(qa-t0-\d)"', out)
    assert entries == ["qa-t0-1", "qa-t0-2", "qa-t0-3"]
    first = out.split('id="qa-t0-2"')[0]
    assert (
        "Descaling your kettle" in first and "kettles/descaling.md" in first and "line 3" in first
    )
    marked = re.search(r"<mark>(.*?)</mark>", first).group(1)
    assert html.unescape(marked) == answer.citations[0].quote
    before = html.unescape(first.split("<mark>")[0])
    assert "Limescale makes the kettle slower and noisier." in before
    third = out.split('id="qa-t0-3"')[1]
    assert "page 2" in third and "line 1" in third
    assert "If it does not, unplug it" in html.unescape(third)


def test_quote_context_cuts_at_sentences_and_survives_stale_offsets() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(40))
    quote = "Sentence number 20 is here."
    start = text.index(quote)
    before, q, after = quote_context(text, start, start + len(quote), quote, chars=90)
    assert q == quote and before.startswith("Sentence number") and before.endswith("19 is here. ")
    assert after.startswith(" Sentence number 21") and after.endswith("is here.")
    assert quote_context(text, 0, 5, quote, chars=90)[1] == quote  # offsets moved: found by search
    assert quote_context(None, 0, 5, "lost") == ("", "lost", "")
    assert quote_context(text, 0, 5, "not in the text") == ("", "not in the text", "")


def test_refusal_shows_the_closest_passages_marked_as_not_supporting_it() -> None:
    answer = refusal("What is the capital of Peru?")
    out = render.answer_html(answer)
    assert "qa-refusal" in out and "qa-error" not in out and "qa-cite" not in out
    assert "none of them supports an answer" in out
    view = run(FakeAnswerer(mode="refuse"), "What is the capital of Peru?")[-1]
    assert_inert(view.panel)
    assert "qa-panel-empty" not in view.panel and "qa-sources-searched" in view.panel
    panel = text_of(view.panel)
    assert "Closest passages searched — none of them supports an answer" in panel
    assert "Never immerse the base in water." in panel and "Lemon juice works too" in panel
    assert view.panel.count('class="qa-src qa-searched"') == 2
    assert "<mark>" not in view.panel and "qa-src-n" not in view.panel  # nothing is cited
    assert re.findall(r'href="(#qa-doc-[^"]+)"', view.panel) == ["#qa-doc-t0-p0", "#qa-doc-t0-p1"]
    assert "[^" not in notes.answer_to_markdown(answer)
    nothing = Answer(question="q", text="No.", refused=True)
    assert sources.sources_html(nothing, CORPUS.get) == ""
    assert "closest passages" not in render.answer_html(nothing)


def test_collection_lists_documents_and_counts() -> None:
    status = FakeDocuments().status()
    out = render.collection_html(status)
    assert_inert(out)
    assert (
        f"<b>{status['documents']}</b>documents" in out
        and f"<b>{status['chunks']}</b>chunks" in out
    )
    assert out.count("<tr>") == 1 + len(CORPUS) and "kettles/descaling.md" in out
    assert "Nothing is indexed yet" in render.collection_html(
        {"documents": 0, "chunks": 0, "sources": []}
    )


# --- Markdown for notes ----------------------------------------------------------------


def test_answer_markdown_has_footnotes_and_a_reference_list() -> None:
    md = notes.answer_to_markdown(descale_answer("How do I descale my kettle?"))
    lines = md.splitlines()
    assert lines[0] == "### How do I descale my kettle?"
    body = lines[2]
    assert body.startswith("Fill the kettle halfway") and "[1]" not in body
    assert "then boil it.[^1] Rinse it" in body and "boils.[^3]" in body
    assert body.endswith("Descaling once a month is ideal. *(unverified)*")
    assert "[^1]: **Descaling your kettle**, `kettles/descaling.md:3`" in lines
    manual = (
        """[^3]: **Kettle 2000 "Pro" user's manual & guide**, `manuals/kettle-2000.pdf:1`, page 2"""
    )
    assert manual in lines
    i = lines.index("[^2]: **Descaling your kettle**, `kettles/descaling.md:3`")
    assert (
        lines[i + 1] == "    > Rinse the kettle three times with clean water before using it again."
    )


def test_conversation_markdown_numbers_footnotes_across_turns() -> None:
    md = notes.conversation_to_markdown(
        [descale_answer("First?"), refusal("Weather?"), descale_answer("Second?")]
    )
    assert md.startswith("# qa conversation\n")
    assert md.index("### First?") < md.index("### Weather?") < md.index("### Second?")
    defs = re.findall(r"^\[\^(\d+)\]:", md, re.M)
    assert defs == ["1", "2", "3", "4", "5", "6"]
    assert "boil it.[^4]" in md.split("### Second?")[1]


def test_markdown_export_escapes_links_images_and_html() -> None:
    md = notes.conversation_to_markdown([evil_answer("What is the secret?")])
    assert not re.search(r"(?<!\\)<", md)  # every < is escaped: no HTML tags
    assert not re.search(r"(?<!\\)!\[[^\]]*(?<!\\)\]\(", md)  # no image syntax left
    assert not re.search(r"(?<!\\)\[[^\]^]*(?<!\\)\]\(javascript:", md)
    assert r"\<script\>" in md


# --- security --------------------------------------------------------------------------


def test_document_and_model_text_render_inert_everywhere() -> None:
    views = run(FakeAnswerer(), "What is the secret ingredient?")
    final = views[-1]
    for v in views:
        for m in v.messages:
            assert_inert(m["content"])
        assert_inert(v.panel)
    assert "<script>window.__xss=1</script>" in text_of(
        final.messages[-1]["content"]
    )  # text, not dropped
    assert "<img src=x onerror=window.__xss=1>" in text_of(final.panel)
    hostile = Answer(question='<b onmouseover="x()">q</b>', text="x", citations=[], refused=True)
    assert_inert(
        render.answer_html(hostile)
        + chat.messages([chat.Turn(hostile.question, hostile)])[0]["content"]
    )


def test_escaping_round_trips_every_special_character() -> None:
    text = 'Tom\'s "quoted" <b>&amp; [x](y) ![i](http://h/i.png) `c` *e* _u_ $m$ #h a=b: c|d\\ {t}'
    out = render.esc(text, br=False)
    assert html.unescape(out) == text
    assert not re.search(r"[<>\"'\[\]()!`*_$|\\{}=:]", out.replace("&#", "").replace(";", ""))
    assert "&#39;" in out and "&amp;amp;" in out  # no double escaping beyond the literal "&amp;"


def test_anchor_prefix_cannot_inject_markup() -> None:
    with pytest.raises(ValueError):
        render.answer_html(descale_answer("q"), anchor='x" onclick="alert(1)')


# --- errors ----------------------------------------------------------------------------


def test_a_qa_error_is_shown_as_is_and_the_next_question_works() -> None:
    fake = FakeAnswerer()
    fake.fail_once = "qa_error"
    failed = run(fake, "How do I descale?")[-1]
    content = failed.messages[-1]["content"]
    assert "qa-error" in content and "Run `qa model` to install it." in text_of(content)
    ok = run(fake, "How do I descale?", failed.turns)[-1]
    assert ok.turns[1].answer is not None and "qa-cite" in ok.messages[-1]["content"]
    assert fake.histories[1] == []  # a failed turn is not history


def test_an_unexpected_error_is_logged_and_shown_generically(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeAnswerer()
    fake.fail_once = "crash"
    with caplog.at_level(logging.ERROR, logger="ui.chat"):
        failed = run(fake, "How do I descale?")[-1]
    content = failed.messages[-1]["content"]
    assert chat.GENERIC_ERROR in html.unescape(content) and "boom" not in content
    assert "Traceback" not in content and "boom: secret internal detail" in caplog.text
    assert run(fake, "How do I descale?", failed.turns)[-1].turns[1].answer is not None


# --- sessions --------------------------------------------------------------------------


def test_follow_ups_send_history_and_sessions_never_share_it() -> None:
    fake = RecordingAnswerer()
    a1 = run(fake, "How do I descale?")[-1].turns
    b1 = run(fake, "What is the secret?")[-1].turns
    a2 = run(fake, "And how often?", a1)[-1].turns
    assert fake.histories[0] == [] and fake.histories[1] == []
    assert fake.histories[2] == [("How do I descale?", a1[0].answer.text)]
    assert [t.question for t in a2] == ["How do I descale?", "And how often?"]
    assert [t.question for t in b1] == ["What is the secret?"]  # untouched by session A
    assert len(a1) == 1  # respond never mutates the turns it was given


def test_each_turn_links_to_its_own_sources_and_earlier_ones_fold() -> None:
    turns = run(FakeAnswerer(), "How do I descale?")[-1].turns
    final = run(FakeAnswerer(), "What is the secret?", turns)[-1]
    assert 'href="#qa-t0-1"' in final.messages[1]["content"]
    assert 'href="#qa-t1-1"' in final.messages[3]["content"]
    newest, earlier = final.panel.split('<details class="qa-earlier">')
    assert 'id="qa-t1-1"' in newest and 'id="qa-t0-1"' in earlier
    assert "How do I descale?</summary>" in earlier


def test_waiting_message_says_how_many_requests_are_ahead() -> None:
    assert "2 requests ahead" in chat.waiting("q", [], 2).messages[-1]["content"]
    assert "1 request ahead" in chat.waiting("q", [], 1).messages[-1]["content"]
    assert chat.SEARCHING in chat.waiting("q", [], 0).messages[-1]["content"]
    assert chat.WAITING in chat.waiting("q", [], None).messages[-1]["content"]


# --- the app ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served():
    from ui.app import build_app, launch

    fake = FakeAnswerer()
    app = build_app(fake, FakeDocuments())
    _, url, _ = launch(app, port=free_port(), prevent_thread_lock=True)
    yield fake, app, url
    app.close()


def test_ask_api_returns_the_answer_json(served) -> None:
    from gradio_client import Client

    fake, _, url = served
    assert url.startswith("http://127.0.0.1:")
    result = Client(url, verbose=False).predict("How do I descale my kettle?", api_name="/ask")
    assert result == descale_answer("How do I descale my kettle?").to_json()
    assert result["citations"][0]["source"] == "kettles/descaling.md"


def test_ask_api_reports_a_qa_error_message(served) -> None:
    from gradio_client import Client

    fake, _, url = served
    fake.fail_once = "qa_error"
    with pytest.raises(Exception, match="Run `qa model` to install it"):
        Client(url, verbose=False).predict("How do I descale?", api_name="/ask")


def test_example_questions_come_from_the_indexed_titles(served) -> None:
    _, app, _ = served
    chatbot = next(b for b in app.blocks.values() if b.get_config().get("elem_id") == "qa-chat")
    titles = [t for t, _ in CORPUS.values()]
    assert chatbot.get_config()["examples"] == [
        {"text": f"What is “{t}” about?"} for t in titles[:3]
    ]
    assert chat.collection_examples({"documents": 0, "sources": []}) == []


def test_example_chips_follow_the_collection() -> None:
    from ui.app import build_app, example_chips

    class Shrinking(FakeDocuments):
        def status(self) -> dict:
            st = super().status()
            st["sources"] = [s for s in st["sources"] if s["doc_id"] not in self.removed]
            return st

    docs = Shrinking()
    app = build_app(FakeAnswerer(), docs)
    chatbot = next(b for b in app.blocks.values() if b.get_config().get("elem_id") == "qa-chat")
    # refreshed at page load and after a re-index (queued apart from the model's requests)
    chip_fns = [fn for fn in app.fns.values() if fn.name == "chips"]
    assert {fn.trigger_after is None for fn in chip_fns} == {True, False}
    assert all([b._id for b in fn.outputs] == [chatbot._id] for fn in chip_fns)
    first = list(CORPUS)[0]
    docs.removed.add(first)
    texts = [e["text"] for e in example_chips(docs)["examples"]]
    assert texts and all(CORPUS[first][0] not in t for t in texts)
    docs.removed.update(CORPUS)
    assert example_chips(docs)["examples"] is None


def test_page_is_local_only_and_renders_chat_safely(served) -> None:
    import httpx

    _, app, url = served
    page = httpx.get(url, timeout=10).text
    css = httpx.get(url + "theme.css", timeout=10).text
    for text in (page, css):
        assert "fonts.googleapis" not in text and "cdn.jsdelivr" not in text
    chatbot = next(b for b in app.blocks.values() if b.get_config().get("elem_id") == "qa-chat")
    config = chatbot.get_config()
    assert config["sanitize_html"] is True and config["render_markdown"] is False
    model_fns = {fn.name for fn in app.fns.values() if fn.concurrency_id == "model"}
    assert model_fns == {"answer", "reindex", "ask"}  # one local model serves requests in order
    assert app._queue.default_concurrency_limit == 1
    public = [fn.api_name for fn in app.fns.values() if fn.api_visibility == "public"]
    assert public == ["ask"]


def test_reindex_reports_progress_then_refreshes_the_collection() -> None:
    from ui import collection as tab

    calls: list[tuple[float, str | None]] = []
    collection = tab.reindex(FakeDocuments(), lambda f, desc=None: calls.append((f, desc)))
    assert [c[1] for c in calls] == ["Reading files", "Chunking", "Embedding", "Done"]
    assert f"Indexed {len(CORPUS)} documents" in collection and "kettles/descaling.md" in collection
    assert collection.index("qa-note") < collection.index("qa-stats")


def test_collection_shows_the_status_notes_as_text() -> None:
    from ui import collection as tab

    class NotedDocuments(FakeDocuments):
        def __init__(self, notes: list[str]) -> None:
            super().__init__()
            self.notes = notes

        def status(self) -> dict:
            return {**super().status(), "notes": self.notes}

    note = "5 of 5 documents chunked with an older chunker; run qa index to refresh"
    page = tab.view(NotedDocuments([note, f"evil {XSS}"]))
    assert_inert(page)
    assert note in text_of(page) and f"evil {XSS}" in text_of(page)  # escaped, shown whole
    assert page.count("qa-status-note") == 2
    assert page.index("qa-status-note") < page.index("qa-stats")
    # after a re-index the notes of the index as it is now are shown, below the summary
    done = tab.reindex(NotedDocuments([]), lambda f, desc=None: None)
    assert "qa-status-note" not in done and "Indexed" in done
    assert "qa-status-note" not in tab.view(FakeDocuments())


def test_launch_binds_locally_never_shares_and_uses_local_fonts() -> None:
    from gradio.themes import GoogleFont

    from ui.app import launch

    class Recording:
        def launch(self, **kwargs):
            self.kwargs = kwargs

    app = Recording()
    launch(app, auth="me:secret:with-colon", share=True)  # type: ignore[arg-type]
    kw = app.kwargs
    assert kw["server_name"] == "127.0.0.1" and kw["server_port"] == 7860 and kw["share"] is False
    assert kw["auth"]("me", "secret:with-colon") and not kw["auth"]("me", "secret")
    assert kw["run_history"] is False and kw["ssr_mode"] is False
    fonts = [*kw["theme"].font, *kw["theme"].font_mono]
    assert not any(isinstance(f, GoogleFont) for f in fonts)
    assert "a.qa-cite" in kw["head"] and kw["css_paths"][0].exists()


def test_fonts_load_only_faces_that_hold_the_latin_alphabet() -> None:
    """Gradio's bundled Plex SemiBold is a Cyrillic subset: loading it drew 600 text in two fonts."""
    import gradio
    from fontTools.ttLib import TTFont
    from gradio.themes import LocalFont

    from ui.app import theme

    fonts = Path(gradio.__file__).parent / "templates/frontend/static/fonts"
    t = theme()
    local = [f for f in [*t._font, *t._font_mono] if isinstance(f, LocalFont)]
    assert {f.name for f in local} == {"IBM Plex Sans", "IBM Plex Mono"}
    for font in local:
        for url in re.findall(r"url\('static/fonts/([^']+)'\)", font.stylesheet()["css"]):
            cmap = TTFont(fonts / url).getBestCmap()
            missing = [c for c in string.ascii_letters + string.digits if ord(c) not in cmap]
            assert missing == [], f"{url} lacks {''.join(missing)}"
    semibold = TTFont(fonts / "IBMPlexSans/IBMPlexSans-SemiBold.woff2").getBestCmap()
    assert ord("c") not in semibold  # why 600 is not loaded: the file is a subset


# --- drafts, numbering, quotes ---------------------------------------------------------


def test_the_draft_is_muted_says_checking_and_the_checked_answer_replaces_it() -> None:
    views = run(FakeAnswerer(), "How do I descale my kettle?")
    drafts = [v.messages[-1]["content"] for v in views if "qa-draft" in v.messages[-1]["content"]]
    assert len(drafts) >= 3
    for d in drafts:
        assert "Draft · checking…" in text_of(d) and 'aria-busy="true"' in d
        assert not re.search(r"\[\d", text_of(d))  # the model's passage numbers are not shown
    final = views[-1].messages[-1]["content"]
    assert "qa-draft" not in final and "checking" not in final and "qa-cite" in final
    assert len(views[-1].messages) == 2  # replaced, not added beside the draft
    assert render.streaming_html("Twenty liters [1").count("[") == 0


def test_a_draft_that_the_check_refuses_is_replaced_by_the_refusal() -> None:
    class Flipping(FakeAnswerer):
        def stream(self, question, history=()):
            yield Delta("The tank holds ")
            yield Delta("20 liters [1].")
            yield Done(refusal(question))

    views = run(Flipping(), "How big is the water tank?")
    draft = views[-2].messages[-1]["content"]
    assert "The tank holds 20 liters." in text_of(draft) and "checking" in draft
    final = views[-1].messages[-1]["content"]
    assert "20 liters" not in final and "could not find this" in final
    assert "qa-refusal" in final and "qa-draft" not in final


def test_sources_are_numbered_across_the_conversation() -> None:
    t1 = run(FakeAnswerer(), "How do I descale?")[-1].turns
    t2 = run(FakeAnswerer(), "What is the capital of Peru?", t1)[-1].turns  # a refusal
    final = run(FakeAnswerer(), "What is the secret?", t2)[-1]
    first, second = final.messages[1]["content"], final.messages[5]["content"]
    assert re.findall(r'class="qa-cite"[^>]*>(\d+)<', first) == ["1", "2", "3"]
    assert re.findall(r'class="qa-cite"[^>]*>(\d+)<', second) == ["4"]  # not a second "1"
    assert 'href="#qa-t2-1"' in second and final.turns[2].first == 4
    newest = final.panel.split('<details class="qa-earlier">')[0]
    assert '<span class="qa-src-n">4</span>' in newest and "source 4" in text_of(newest)
    assert "sources 1–3" in text_of(final.panel)
    exported = notes.conversation_to_markdown([t.answer for t in final.turns if t.answer])
    assert "[^4]:" in exported  # the chat's [4] is the exported notes' [^4]


def test_a_cited_table_row_shows_with_its_header() -> None:
    text = (
        "Specifications\n\n| Model | Tank | Pump |\n|:------|-----:|------|\n"
        "| Kestrel 100 | 12 l | none |\n| Kestrel 200 | 20 l | 2 bar |\n\nAfter the table.\n"
    )
    quote = "| Kestrel 200 | 20 l | 2 bar |"
    start = text.index(quote)
    table = table_context(text, start, start + len(quote), quote)
    assert table == TableContext(
        ["Model", "Tank", "Pump"], [(["Kestrel 200", "20 l", "2 bar"], True)]
    )
    cell = text.index("20 l | 2 bar")
    assert table_context(text, cell, cell + 4, "20 l").rows[0][0][0] == "Kestrel 200"
    assert table_context(text, 0, 14, "Specifications") is None
    answer = Answer("q", "Twenty liters [1].", citations=[_cite_in("tank.md", text, quote)])
    out = sources.sources_html(answer, {"tank.md": ("Tank", text)}.get, anchor="qa-t0")
    assert_inert(out)
    assert "<th>Model</th><th>Tank</th><th>Pump</th>" in out
    assert "<td><mark>Kestrel 200</mark></td>" in out and "Kestrel 100" not in out
    assert "&#124;" not in out  # no raw pipes
    prose = tank_answer("q")  # a prose quote just above a table: the table is not its context
    out = sources.sources_html(prose, CORPUS.get)
    assert "<th>Model</th>" in out and "&#124;" not in out.split('id="qa-src-2"')[1]


def _cite_in(doc_id: str, text: str, quote: str, n: int = 1) -> Citation:
    start = text.index(quote)
    return Citation(n, doc_id, doc_id, quote, start, start + len(quote), 1, None, 0.9)


WRAPPED = (
    "# Pumps\n\nThe Kestrel 200 carries a water tank that is\nsized for a full day of work and holds\n"
    "20 liters when it is filled to the\nline. It weighs 4 kg.\n\n- first item\n- second item\n"
)


def test_reflow_joins_wrapped_lines_and_keeps_every_offset() -> None:
    flowed = reflow(WRAPPED)
    assert len(flowed) == len(WRAPPED)
    assert [i for i, (a, b) in enumerate(zip(WRAPPED, flowed, strict=True)) if a != b] == [
        i for i, ch in enumerate(WRAPPED) if ch == "\n" and flowed[i] == " "
    ]
    assert "that is sized for a full day of work and holds 20 liters when" in flowed
    assert "# Pumps\n\nThe" in flowed and "\n- first item\n- second item\n" in flowed
    assert reflow("a\r\nb") == "a  b" and reflow("| a |\n| b |") == "| a |\n| b |"


def test_reflowing_a_part_equals_that_part_of_the_reflowed_whole() -> None:
    text = (WRAPPED + "| a | b |\n|---|---|\n| 1 | 2 |\n\nEnd of\nthe file.") * 40
    whole = reflow(text)
    for lo in range(0, len(text), 37):
        for size in (1, 50, 400):
            hi = min(len(text), lo + size)
            assert reflow_span(text, lo, hi) == whole[lo:hi], (lo, hi)


def test_a_quote_starting_mid_sentence_shows_from_the_sentence_start() -> None:
    quote = "20 liters when it is filled to the\nline."
    start = WRAPPED.index(quote)
    before, shown, after = quote_context(WRAPPED, start, start + len(quote), quote, chars=30)
    assert (
        before
        == "The Kestrel 200 carries a water tank that is sized for a full day of work and holds "
    )
    assert shown == "20 liters when it is filled to the line."  # the same span, reflowed
    assert after == " It weighs 4 kg."
    answer = Answer("q", "20 l [1].", citations=[_cite_in("k.md", WRAPPED, quote)])
    out = sources.sources_html(answer, {"k.md": ("Kestrel", WRAPPED)}.get)
    assert html.unescape(re.search(r"<mark>(.*?)</mark>", out).group(1)) == shown
    assert "that is sized for a full day" in out  # no <br> where the file wrapped the line
    assert "    > 20 liters when it is filled to the line." in notes.answer_to_markdown(answer)


# --- the document view -------------------------------------------------------------------


def test_open_document_highlights_the_quote_in_the_whole_document() -> None:
    fake, docs = FakeAnswerer(), FakeDocuments()
    turns = run(fake, "How do I descale?", documents=docs)[-1].turns
    assert re.findall(r'href="(#qa-doc-t0-\d)"', turns[0].sources) == [
        "#qa-doc-t0-1", "#qa-doc-t0-2", "#qa-doc-t0-3",
    ]  # fmt: skip
    out = chat.open_document(docs, "t0-2", turns)
    assert_inert(out)
    title, text = CORPUS["kettles/descaling.md"]
    assert "Descaling your kettle" in out and "kettles/descaling.md" in out
    mark = re.search(r'<mark id="qa-doc-mark" class="qa-doc-mark">(.*?)</mark>', out).group(1)
    assert html.unescape(mark) == turns[0].answer.citations[1].quote
    assert "Lemon juice works too" in text_of(out) and "Hard water leaves" in text_of(out)
    evil = run(fake, "What is the secret?")[-1].turns
    assert_inert(chat.open_document(docs, "t0-1", evil))


def test_a_quote_across_a_line_break_is_marked_at_its_offsets_everywhere() -> None:
    from ui import docview

    c = tank_answer("q").citations[1]  # "...spraying on a\nmedium-sized garden..."
    title, text = CORPUS[c.source]
    assert "\n" in c.quote and text[c.start : c.end] == c.quote
    flowed = reflow(text)
    # the open document: the mark is the cited span, at its offsets, the wrap a space
    out = docview.document_html(c.source, (title, text), (c.start, c.end), c.quote)
    assert_inert(out)
    before, mark = re.search(
        r'<div class="qa-doc-text">(.*?)<mark id="qa-doc-mark" class="qa-doc-mark">(.*?)</mark>',
        out,
        re.S,
    ).groups()
    assert text_of(mark) == flowed[c.start : c.end] and "<br>" not in mark
    assert len(text_of(before)) == c.start  # everything before it, no character lost
    # the source list (the hover popover copies its entry): the same span, no <br> in it
    entry = sources.sources_html(tank_answer("q"), CORPUS.get).split('id="qa-src-2"')[1]
    assert text_of(re.search(r"<mark>(.*?)</mark>", entry).group(1)) == flowed[c.start : c.end]
    # a quote across a paragraph break keeps the break inside the mark
    t = CORPUS["kettles/descaling.md"][1]
    q = "before using it again.\n\nLemon juice works too"
    out = docview.document_html("d", ("D", t), (t.index(q), t.index(q) + len(q)), q)
    assert "<mark" in out and "again.<br><br>Lemon" in out


def test_a_wrapped_quote_is_found_again_in_a_rewrapped_document() -> None:
    from ui import docview

    c = tank_answer("q").citations[1]
    title, text = CORPUS[c.source]
    rewrapped = "Preface added.\n" + text.replace("on a\nmedium", "on a medium")
    out = docview.document_html(c.source, (title, rewrapped), (c.start, c.end), c.quote)
    mark = re.search(r'<mark id="qa-doc-mark" class="qa-doc-mark">(.*?)</mark>', out, re.S)
    assert mark and text_of(mark.group(1)) == " ".join(c.quote.split())
    assert "no longer in this document" not in out
    before, shown, _ = quote_context(rewrapped, c.start, c.end, c.quote)
    assert shown == " ".join(c.quote.split()) and before.endswith("The Kestrel 200 is the larger ")
    # not in the document at all, or no document: the quote alone, reflowed (no <br>)
    assert quote_context("Other text.", c.start, c.end, c.quote) == ("", reflow(c.quote), "")
    assert quote_context(None, c.start, c.end, c.quote)[1] == reflow(c.quote)
    gone = sources.sources_html(tank_answer("q"), {}.get).split('id="qa-src-2"')[1]
    assert "<br>" not in re.search(r"<mark>(.*?)</mark>", gone).group(1)
    out = docview.document_html(c.source, (title, "Other text."), (c.start, c.end), c.quote)
    assert "no longer in this document" in out and "<mark" not in out


def test_open_document_reads_only_the_index_and_says_what_is_not_indexed() -> None:
    fake, docs = FakeAnswerer(), FakeDocuments()
    turns = run(fake, "How do I descale?", documents=docs)[-1].turns
    docs.removed.add("kettles/descaling.md")  # removed from the index since it was cited
    out = chat.open_document(docs, "t0-1", turns)
    assert "“kettles/descaling.md” is not in the index" in html.unescape(out)
    assert "qa-doc-mark" not in out
    for key in ("t9-1", "t0-7", "../../etc/passwd", "/etc/passwd", "", "t0-p0"):
        assert "not part of this conversation" in text_of(chat.open_document(docs, key, turns))
    docs.removed.clear()
    refused = run(fake, "What is the capital of Peru?", documents=docs)[-1].turns
    out = chat.open_document(docs, "t0-p1", refused)
    assert 'class="qa-doc-mark qa-doc-searched"' in out and "Lemon juice works too" in out


def test_document_view_of_a_long_document_shows_a_window_around_the_mark() -> None:
    from ui import docview

    text = "Filler sentence here. " * 20_000 + "The needle is here." + " More filler." * 100
    start = text.index("The needle")
    out = docview.document_html(
        "big.txt", ("Big", text), (start, start + 19), "The needle is here."
    )
    assert "The needle is here.</mark>" in out and len(out) < docview.WINDOW * 1.5
    assert "showing characters" in out
    stale = docview.document_html("big.txt", ("Big", "changed"), (start, start + 5), "gone!")
    assert "no longer in this document" in stale and "<mark" not in stale


# --- odd questions -----------------------------------------------------------------------


def _fn(app, name: str):
    return next(f.fn for f in app.fns.values() if f.name == name)


def test_an_empty_or_overlong_question_is_refused_before_it_is_echoed(served) -> None:
    fake, app, _ = served
    start = _fn(app, "start")
    for q in ("", "   \n\t "):
        out = start(q, [])
        assert "The question is empty" in text_of(out[2])  # said under the box
        assert all(isinstance(o, type(out[0])) for o in (out[0], *out[3:]))  # nothing else changes
    long = "Why? " + "x" * 49_995  # a 50,000-character question
    out = start(long, [])
    assert "The question is 50,000 characters long" in text_of(out[2])
    assert "the limit is 2,000" in text_of(out[2]) and "shorter question" in text_of(out[2])
    assert out[1] == "" and out[3] == out[0]  # no echo in the chat; the box keeps the text
    assert chat.check_question(fake, "  How do I descale?  ") == ("How do I descale?", None)
    ok = start("How do I descale?", [])
    assert ok[1] == "How do I descale?" and ok[2] == ""
    assert "How do I descale?" in ok[3][-2]["content"]
