"""The web chat in Debian's chromium, driven by Playwright (which never downloads a browser here).

Screenshots land in $QA_BROWSER_ARTIFACTS (default: <tmp>/qa-browser) for a person to look at.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.netutil import free_port
from tests.ui_fakes import CORPUS, FakeAnswerer, FakeDocuments, descale_answer

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(
    os.environ.get("QA_BROWSER_ARTIFACTS") or Path(tempfile.gettempdir()) / "qa-browser"
)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# The example chips are drawn from the indexed titles (tests/ui_fakes.py CORPUS).
EXAMPLES = [f"What is “{title}” about?" for title, _ in list(CORPUS.values())[:3]]

if not CHROMIUM.exists():
    pytest.skip(
        "/usr/bin/chromium is missing: run `make browser` (apt-get install chromium)",
        allow_module_level=True,
    )

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def fake() -> FakeAnswerer:
    return FakeAnswerer(delay=0.06)


@pytest.fixture(scope="module")
def docs() -> FakeDocuments:
    return FakeDocuments(delay=0.06)


@pytest.fixture(scope="module")
def url(fake: FakeAnswerer, docs: FakeDocuments):
    from ui.app import build_app, launch

    app = build_app(fake, docs)
    _, local_url, _ = launch(app, port=free_port(), prevent_thread_lock=True)
    yield local_url
    app.close()


@pytest.fixture(scope="module")
def browser_context():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            args=ARGS,
            viewport={"width": 1360, "height": 900},
            permissions=["clipboard-read", "clipboard-write"],
            accept_downloads=True,
        )
        yield context
        context.close()


class Recorder:
    """Everything a page asked for, and every dialog it tried to open."""

    def __init__(self, page: Page) -> None:
        self.urls: list[str] = []
        self.dialogs: list[str] = []
        page.on("request", lambda r: self.urls.append(r.url))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def offsite(self) -> list[str]:
        def local(u: str) -> bool:
            parts = urlsplit(u[len("blob:") :] if u.startswith("blob:") else u)
            return parts.scheme == "data" or parts.hostname == "127.0.0.1"

        return [u for u in self.urls if not local(u)]


@pytest.fixture
def page(browser_context, url: str):
    page = browser_context.new_page()
    recorder = Recorder(page)
    page.goto(url)
    page.wait_for_selector("#qa-question textarea")
    yield page, recorder
    assert recorder.offsite() == [], "the page reached beyond 127.0.0.1"
    assert recorder.dialogs == []
    page.close()


def ask(page: Page, question: str) -> None:
    page.bring_to_front()
    page.fill("#qa-question textarea", question)
    page.keyboard.press("Enter")


def last_answer(page: Page):
    return page.locator("#qa-chat .bot-row").last


def test_streamed_answer_cites_passages_in_the_sources_panel(page, fake: FakeAnswerer) -> None:
    page, recorder = page
    page.screenshot(path=ARTIFACTS / "01-empty.png")
    expect(page.get_by_text(EXAMPLES[0])).to_be_visible()
    fake.delay = 0.4  # a slow stream (about 5 s), so the draft can be looked at
    try:
        ask(page, "How do I descale my kettle?")
        page.wait_for_selector("#qa-chat .qa-streaming")
        draft = last_answer(page).locator(".qa-draft")
        expect(draft.locator(".qa-draft-label")).to_have_text("Draft · checking…")
        muted = page.evaluate(
            "() => [getComputedStyle(document.querySelector('#qa-chat .qa-draft')).color,"
            " getComputedStyle(document.querySelector('#qa-question textarea')).color]"
        )
        assert muted[0] != muted[1], muted  # the draft is drawn muted, not as body text
        page.screenshot(path=ARTIFACTS / "02-draft-checking.png")
    finally:
        fake.delay = 0.06
    page.wait_for_selector("#qa-chat .qa-cite")
    answer = last_answer(page)
    cites = answer.locator("a.qa-cite")
    expect(cites).to_have_count(3)
    expect(page.locator("#qa-chat .qa-draft")).to_have_count(0)  # the checked answer replaced it
    expect(page.locator("#qa-chat .bot-row")).to_have_count(1)
    assert [cites.nth(i).get_attribute("href") for i in range(3)] == [
        "#qa-t0-1",
        "#qa-t0-2",
        "#qa-t0-3",
    ]
    expect(answer.locator(".qa-unverified .qa-flag")).to_have_text("unverified")
    source = page.locator("#qa-panel #qa-t0-1")
    expect(source.locator(".qa-src-title")).to_have_text("Descaling your kettle")
    expect(source.locator(".qa-src-meta")).to_contain_text("kettles/descaling.md · line 3")
    expect(source.locator("mark")).to_have_text(
        "To descale, fill the kettle halfway with equal parts white vinegar and water."
    )
    expect(source.locator("blockquote")).to_contain_text(
        "Limescale makes the kettle slower and noisier."
    )
    expect(page.locator("#qa-panel #qa-t0-3 .qa-src-meta")).to_contain_text("page 2")
    expect(page.locator("#qa-panel #qa-t0-3 .qa-src-title")).to_have_text(
        'Kettle 2000 "Pro" user\'s manual & guide'  # escaped once, shown as written
    )
    page.screenshot(path=ARTIFACTS / "03-answer.png")

    cites.nth(0).hover()
    popover = page.locator(".qa-popover")
    expect(popover).to_be_visible()
    expect(popover.locator("mark")).to_have_text(
        "To descale, fill the kettle halfway with equal parts white vinegar and water."
    )
    expect(popover).to_contain_text("Descaling your kettle")
    assert cites.nth(0).get_attribute("title") is None  # not the browser's own tooltip
    page.screenshot(path=ARTIFACTS / "03b-hover-quote.png")
    page.mouse.move(5, 5)
    expect(popover).to_be_hidden()

    before = page.url
    cites.nth(2).click()
    expect(page.locator("#qa-panel #qa-t0-3")).to_have_class(re.compile(r"\bqa-focus\b"))
    expect(page.locator("#qa-panel #qa-t0-3")).to_be_in_viewport()
    assert page.url == before  # scrolled in place: no navigation, the conversation stays

    page.click("#qa-copy")
    expect(page.locator("#qa-copy")).to_have_text("Copied ✓")
    notes = page.evaluate("navigator.clipboard.readText()")
    assert notes.startswith("### How do I descale my kettle?\n")
    assert "then boil it.[^1]" in notes
    manual = (
        """[^3]: **Kettle 2000 "Pro" user's manual & guide**, `manuals/kettle-2000.pdf:1`, page 2"""
    )
    assert manual in notes
    assert "    > Rinse the kettle three times with clean water before using it again." in notes

    with page.expect_download() as download:
        page.click("#qa-export")
    exported = Path(download.value.path()).read_text()
    assert download.value.suggested_filename.endswith(".md")
    assert (
        exported.startswith("# qa conversation\n") and "### How do I descale my kettle?" in exported
    )


def test_hostile_documents_and_model_output_stay_inert(page) -> None:
    page, recorder = page
    page.evaluate("window.__xss = undefined")
    page.get_by_text(EXAMPLES[2]).click()  # the example fills in and asks
    page.wait_for_selector("#qa-chat .qa-cite")
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None
    assert recorder.dialogs == []
    for where in ("#qa-chat", "#qa-panel"):
        assert page.locator(f"{where} img, {where} script, {where} iframe").count() == 0
        assert page.locator(f'{where} a[href^="javascript"], {where} [onerror]').count() == 0
        hrefs = page.eval_on_selector_all(
            f"{where} a[href]", "els => els.map(e => e.getAttribute('href'))"
        )
        assert all(re.fullmatch(r"#qa-(doc-)?t\d+-p?\d+", h) for h in hrefs), hrefs
    expect(last_answer(page)).to_contain_text("<script>window.__xss=1</script>")
    expect(page.locator("#qa-panel #qa-t0-1 mark")).to_contain_text(
        "<img src=x onerror=window.__xss=1>"
    )
    expect(page.locator("#qa-panel")).to_contain_text("![tracker](http://evil.example/x.png)")
    page.screenshot(path=ARTIFACTS / "04-xss.png")


def test_follow_ups_errors_and_new_conversation(page, url: str, fake: FakeAnswerer) -> None:
    page, _ = page
    page.goto(url + "?__theme=dark")  # a query string must not break citation links
    page.wait_for_selector("#qa-question textarea")
    ask(page, "How do I descale my kettle?")
    expect(last_answer(page).locator(".qa-cite")).to_have_count(3)
    fake.fail_once = "qa_error"
    ask(page, "And the model?")
    expect(last_answer(page).locator(".qa-error")).to_contain_text("Run `qa model` to install it.")
    ask(page, "What about lemon juice?")
    expect(last_answer(page).locator(".qa-cite")).to_have_count(3)
    assert fake.histories[-1] == [("How do I descale my kettle?", descale_answer("").text)]
    earlier = page.locator("#qa-panel details.qa-earlier")
    expect(earlier).to_have_count(1)
    assert earlier.get_attribute("open") is None
    page.locator("#qa-chat a.qa-cite[href='#qa-t0-2']").click()  # a citation in the first answer
    expect(earlier).to_have_attribute("open", "")
    expect(page.locator("#qa-panel #qa-t0-2")).to_be_in_viewport()
    expect(page.locator("#qa-chat .bot-row")).to_have_count(3)
    page.screenshot(path=ARTIFACTS / "05-follow-up-error-dark.png")

    page.click("#qa-new")
    expect(page.locator("#qa-chat .bot-row")).to_have_count(0)
    expect(page.locator("#qa-panel .qa-panel-empty")).to_be_visible()
    ask(page, "How do I descale my kettle?")
    expect(last_answer(page).locator(".qa-cite")).to_have_count(3)
    assert fake.histories[-1] == []  # the new conversation started without history


def test_a_second_session_waits_in_line_and_keeps_its_own_history(
    browser_context, url, fake
) -> None:
    first, second = browser_context.new_page(), browser_context.new_page()
    recorders = [Recorder(first), Recorder(second)]
    for p in (first, second):
        p.goto(url)
        p.wait_for_selector("#qa-question textarea")
    fake.first_delay = 1.5
    try:
        ask(first, "How do I descale my kettle?")
        first.wait_for_selector("#qa-chat .qa-pending")
        ask(second, "What is the secret ingredient?")
        expect(last_answer(second)).to_contain_text("Waiting for the model — 1 request ahead")
        second.screenshot(path=ARTIFACTS / "06-queued.png")
    finally:
        fake.first_delay = 0.0
    expect(last_answer(second).locator(".qa-cite")).to_have_count(1, timeout=20000)
    expect(last_answer(first).locator(".qa-cite")).to_have_count(3)
    expect(second.locator("#qa-chat .user-row")).to_have_count(1)
    assert all(r.offsite() == [] for r in recorders)
    first.close()
    second.close()


def test_collection_view_and_reindex(page, docs: FakeDocuments) -> None:
    page, _ = page
    page.get_by_role("tab", name="Collection").click()
    rows = page.locator("#qa-collection table.qa-docs tbody tr")
    expect(rows).to_have_count(len(CORPUS))
    expect(page.locator("#qa-collection")).to_contain_text("kettles/descaling.md")
    assert page.locator("#qa-collection img").count() == 0  # the hostile title is text
    docs.delay = 0.8
    try:
        page.click("#qa-reindex")
        expect(page.locator("#qa-collection")).to_contain_text("Chunking")  # progress while it runs
        page.screenshot(path=ARTIFACTS / "07-reindexing.png")
    finally:
        docs.delay = 0.06
    expect(page.locator("#qa-collection .qa-note")).to_contain_text(
        f"Indexed {len(CORPUS)} documents", timeout=15000
    )
    expect(rows).to_have_count(len(CORPUS))
    page.wait_for_timeout(400)  # let the progress overlay fade
    page.screenshot(path=ARTIFACTS / "08-collection.png")


def test_document_view_highlights_the_quote_and_scrolls_to_it(page) -> None:
    page, _ = page
    page.set_viewport_size({"width": 1360, "height": 700})
    ask(page, "How do I descale my kettle?")
    expect(last_answer(page).locator(".qa-cite")).to_have_count(3)
    page.locator("#qa-panel #qa-t0-2 a.qa-open").click()
    drawer = page.locator("#qa-doc-drawer")
    expect(drawer).to_be_visible()
    mark = drawer.locator("mark#qa-doc-mark")
    expect(mark).to_have_text(
        "Rinse the kettle three times with clean water before using it again."
    )
    expect(mark).to_be_in_viewport()
    expect(drawer).to_contain_text("Lemon juice works too")  # the whole document
    expect(drawer).to_contain_text("kettles/descaling.md")
    page.screenshot(path=ARTIFACTS / "09-document-view.png")
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()
    page.locator("#qa-panel #qa-t0-3 a.qa-open").click()
    expect(drawer.locator("mark#qa-doc-mark")).to_have_text(
        "The kettle switches off automatically when the water boils."
    )
    page.click("#qa-doc-close")
    expect(drawer).to_be_hidden()


def test_sticky_sources_heading_never_covers_an_entry(page) -> None:
    page, _ = page
    page.set_viewport_size({"width": 1360, "height": 620})
    for q in ("How do I descale my kettle?", "And how often?"):
        ask(page, q)
        expect(last_answer(page).locator(".qa-cite")).to_have_count(3)
    page.locator("#qa-panel details.qa-earlier summary").click()
    page.locator("#qa-chat a.qa-cite[href='#qa-t0-3']").click()
    page.wait_for_timeout(700)  # smooth scroll
    head = page.locator("#qa-panel .qa-panel > .qa-panel-title").bounding_box()
    entry = page.locator("#qa-panel #qa-t0-3").bounding_box()
    assert entry["y"] >= head["y"] + head["height"] - 1, (head, entry)
    page.locator("#qa-panel").evaluate("el => el.scrollBy(0, 37)")  # a line scrolls under it
    page.wait_for_timeout(200)
    style = page.locator("#qa-panel .qa-panel > .qa-panel-title").evaluate(
        "el => { const s = getComputedStyle(el);"
        " return [s.position, s.marginBottom, s.backgroundColor, s.borderBottomStyle]; }"
    )
    assert style[0] == "sticky" and style[1] == "0px" and style[3] == "solid", style
    assert style[2] not in ("rgba(0, 0, 0, 0)", "transparent"), style
    page.locator("#qa-panel").screenshot(path=ARTIFACTS / "10-sticky-heading.png")


def test_a_refusal_lists_the_closest_passages_as_not_supporting_it(page) -> None:
    page, _ = page
    ask(page, "What is the capital of Peru?")
    expect(last_answer(page).locator(".qa-refusal")).to_be_visible()
    searched = page.locator("#qa-panel .qa-sources-searched")
    expect(searched.locator(".qa-searched-note")).to_contain_text(
        "Closest passages searched — none of them supports an answer"
    )
    expect(searched.locator("li.qa-searched")).to_have_count(2)
    expect(searched).to_contain_text("Never immerse the base in water.")
    assert searched.locator("mark").count() == 0
    page.screenshot(path=ARTIFACTS / "11-refusal-passages.png")
    searched.locator("li.qa-searched").nth(1).locator("a.qa-open").click()
    expect(page.locator("#qa-doc-drawer mark.qa-doc-searched")).to_have_text(
        "Lemon juice works too, and it smells nicer than vinegar."
    )


def test_empty_and_overlong_questions_say_why_and_are_not_echoed(page, fake) -> None:
    page, _ = page
    asked = len(fake.questions)
    page.focus("#qa-question textarea")
    page.keyboard.press("Enter")
    hint = page.locator("#qa-hint")
    expect(hint).to_contain_text("The question is empty. Type a question about your documents.")
    long = "Why? " + "x" * 49_995  # each step changes the message, so each reply is seen
    page.fill("#qa-question textarea", long)
    page.keyboard.press("Enter")
    expect(hint).to_contain_text(
        "The question is 50,000 characters long; the limit is 2,000.", timeout=15000
    )
    expect(page.locator("#qa-chat .user-row")).to_have_count(0)  # never echoed
    assert page.input_value("#qa-question textarea") == long  # and not lost
    assert len(fake.questions) == asked
    hint.scroll_into_view_if_needed()
    page.screenshot(path=ARTIFACTS / "12-overlong-question.png")
    page.fill("#qa-question textarea", "   ")
    page.keyboard.press("Enter")
    expect(hint).to_contain_text("The question is empty", timeout=15000)
    ask(page, "How do I descale my kettle?")
    expect(last_answer(page).locator(".qa-cite")).to_have_count(3)
    expect(hint).to_be_hidden()


def test_semibold_text_uses_a_complete_font_face(page) -> None:
    page, _ = page
    page.wait_for_function("document.fonts.status === 'loaded'")
    faces = page.evaluate(
        "() => [...document.fonts].filter(f => f.family.includes('IBM Plex'))"
        """.map(f => [f.family.replace(/["']/g, ''), f.weight, f.status])"""
    )
    assert faces and all(w in ("400", "700") for _, w, _ in faces), faces
    assert ["IBM Plex Sans", "700", "loaded"] in faces  # drawn for every 600 text
    weight = page.locator(".qa-empty b").evaluate("el => getComputedStyle(el).fontWeight")
    assert weight in ("600", "700")
    page.locator(".qa-empty").screenshot(path=ARTIFACTS / "13-semibold-heading.png")


class SlowEmbedder:
    """The hash embedder, taking ``delay`` seconds per call, so progress can be watched."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.delay = 0.0

    def embed(self, texts):
        time.sleep(self.delay)
        return self.inner.embed(texts)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


@pytest.fixture(scope="module")
def library_url(tmp_path_factory):
    """A real index (hash embedder, fake model) with a real uploads library."""
    from qa.library import Library
    from qa.service import build_answerer, run_index
    from qa.settings import load_settings
    from qa.testing import FakeGenerator, HashEmbedder
    from ui.app import build_app, launch

    root = tmp_path_factory.mktemp("library")
    docs = root / "notes"
    docs.mkdir()
    (docs / "boiler.md").write_text("# Boiler\n\nThe boiler was serviced in March.\n")
    settings = load_settings(data_dir=root / "data", index__max_file_mb=0.05)
    embedder = SlowEmbedder(HashEmbedder())
    run_index(settings, [docs], embedder)
    answerer = build_answerer(settings, embedder=embedder, generator=FakeGenerator())
    library = Library(settings, answerer.retriever, generator="fake")
    app = build_app(answerer, library)
    _, local_url, _ = launch(
        app, port=free_port(), prevent_thread_lock=True, max_file_size=library.max_bytes
    )
    yield local_url, library, root, embedder
    app.close()


def test_upload_index_and_remove_a_document(browser_context, library_url) -> None:
    url, library, root, embedder = library_url
    page = browser_context.new_page()
    recorder = Recorder(page)
    page.goto(url)
    page.get_by_role("tab", name="Collection").click()
    collection = page.locator("#qa-collection")
    expect(collection).to_contain_text("notes/boiler.md")
    pump = root / "Pump manual.md"
    pump.write_text("# Pump manual\n\nThe Kestrel pump holds 20 liters.\n" * 20)
    embedder.delay = 1.5
    try:
        page.set_input_files("#qa-upload input[type=file]", [str(pump)])
        expect(collection).to_contain_text("Indexing", timeout=10000)  # progress while it runs
        page.screenshot(path=ARTIFACTS / "14a-upload-progress.png")
    finally:
        embedder.delay = 0.0
    expect(collection.locator(".qa-note")).to_contain_text("Added 1 file", timeout=20000)
    expect(collection).to_contain_text("uploads/Pump manual.md")
    expect(collection.locator(".qa-tag")).to_have_count(1)
    assert (library.folder / "Pump manual.md").read_text() == pump.read_text()
    page.screenshot(path=ARTIFACTS / "14-uploaded.png")

    big = root / "big.txt"
    big.write_text("word " * 20_000)  # 100 kB, over the 50 kB limit
    page.set_input_files("#qa-upload input[type=file]", [str(big)])
    expect(
        page.get_by_text('File(s) exceed the maximum allowed size of 48.8 Kb: "big.txt"')
    ).to_be_visible()
    assert not (library.folder / "big.txt").exists()
    page.screenshot(path=ARTIFACTS / "15-upload-too-big.png")

    page.locator("#qa-remove-pick input").click()
    page.get_by_role("option", name="uploads/Pump manual.md").click()
    page.click("#qa-remove")
    expect(collection.locator(".qa-note")).to_contain_text(
        "Removed uploads/Pump manual.md", timeout=20000
    )
    expect(collection).not_to_contain_text("uploads/Pump manual.md</code>")
    expect(collection.locator("table.qa-docs tbody tr")).to_have_count(1)
    assert not (library.folder / "Pump manual.md").exists()
    assert recorder.offsite() == []
    page.screenshot(path=ARTIFACTS / "16-removed.png")
    page.close()


def test_a_table_row_and_a_wrapped_quote_read_as_people_read_them(page) -> None:
    page, _ = page
    ask(page, "How big is the water tank of the Kestrel 200?")
    expect(last_answer(page).locator(".qa-cite")).to_have_count(2)
    table = page.locator("#qa-panel #qa-t0-1 table.qa-src-table")
    expect(table.locator("th")).to_have_text(["Model", "Tank", "Weight"])
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator("td mark")).to_have_text(["Kestrel 200", "20 liters", "4.0 kg"])
    wrapped = page.locator("#qa-panel #qa-t0-2 blockquote")
    expect(wrapped.locator("mark")).to_have_text(
        "model, and its water tank lasts a full morning of spraying on a "
        "medium-sized garden before it needs a refill."
    )
    expect(wrapped).to_contain_text("The Kestrel 200 is the larger model, and its water tank")
    last_answer(page).locator("a.qa-cite").nth(0).hover()
    expect(page.locator(".qa-popover th")).to_have_count(3)
    page.screenshot(path=ARTIFACTS / "17-table-and-wrapped-quote.png")
