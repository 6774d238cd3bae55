"""The web chat's defences: accounts and --auth-file, login throttling, the port check, the
events only the page may call, upload limits, and no absolute paths in what the page shows.
The second half runs against launched apps on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.netutil import free_port
from tests.ui_fakes import FakeAnswerer, FakeDocuments
from ui.security import (
    Accounts,
    LoginThrottle,
    SetupError,
    check_port,
    public_status,
    read_auth_file,
    resolve_accounts,
)

# --- accounts ------------------------------------------------------------------------------


def test_accounts_check_user_and_password_together() -> None:
    accounts = Accounts([("me", "hunter2"), ("you", "pass:with:colons")])
    assert accounts("me", "hunter2") and accounts("you", "pass:with:colons")
    assert not accounts("me", "pass:with:colons")  # another user's password
    assert not accounts("you", "hunter2")
    assert not accounts("me", "hunter") and not accounts("me", "hunter22")
    assert not accounts("", "") and not accounts("nobody", "hunter2")
    assert len(accounts) == 2


def _file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "auth"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_auth_file_lines_comments_and_colons(tmp_path: Path) -> None:
    path = _file(tmp_path, "# the team\nme:hunter2\n\n  you:pass:with:colons  \n")
    assert read_auth_file(path) == [("me", "hunter2"), ("you", "pass:with:colons")]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_auth_file_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = _file(tmp_path, "me:hunter2\n", mode)
    with pytest.raises(SetupError, match=f"chmod 600 {path}") as err:
        read_auth_file(path)
    assert "hunter2" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "holds no user:password line"),
        ("# only a comment\n", "holds no user:password line"),
        ("me:a\nme:b\n", "names user(s) me more than once"),
        ("me:hunter2\nyou\n", "line 2 must be user:password"),
        ("me:\n", "line 1 has an empty password"),
    ],
)
def test_auth_file_mistakes_are_named(tmp_path: Path, text: str, why: str) -> None:
    with pytest.raises(SetupError, match=why.replace("(", r"\(").replace(")", r"\)")) as err:
        read_auth_file(_file(tmp_path, text))
    assert "hunter2" not in str(err.value)


def test_auth_file_that_is_a_folder_or_missing(tmp_path: Path) -> None:
    with pytest.raises(SetupError, match="no such file"):
        read_auth_file(tmp_path / "none")
    folder = tmp_path / "dir"
    folder.mkdir(mode=0o700)
    with pytest.raises(SetupError):
        read_auth_file(folder)


def test_resolve_accounts_takes_one_source(tmp_path: Path) -> None:
    path = _file(tmp_path, "me:hunter2\n")
    assert resolve_accounts(None, None) is None
    assert resolve_accounts("a:b", None)("a", "b")  # type: ignore[misc]
    assert resolve_accounts(None, path)("me", "hunter2")  # type: ignore[misc]
    with pytest.raises(SetupError, match="not both"):
        resolve_accounts("a:b", path)


# --- the port ------------------------------------------------------------------------------


def test_check_port_busy_free_and_impossible() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SetupError, match=f"Port {port} on 127.0.0.1 is in use. Pass --port"):
            check_port("127.0.0.1", port)
    check_port("127.0.0.1", free_port())
    check_port("localhost", free_port())
    with pytest.raises(SetupError, match="not a TCP port"):
        check_port("127.0.0.1", 70000)
    with pytest.raises(SetupError, match="not an address of this machine"):
        check_port("192.0.2.1", free_port())


# --- login throttling, as bookkeeping ------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(throttle: LoginThrottle, clock: Clock, client: str = "10.0.0.1") -> float | None:
    """One attempt that fails after waiting its turn; returns the wait (None: refused)."""
    wait = throttle.reserve(client)
    if wait is not None:
        clock.now += wait
        throttle.failed(client)
    return wait


def test_failures_beyond_the_allowance_wait_twice_as_long_each_time() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=3, base_delay=1, max_delay=8, max_wait=100, clock=clock)
    waits = [fail(throttle, clock) for _ in range(8)]
    assert waits == [0, 0, 0, 1, 2, 4, 8, 8]  # capped at max_delay
    assert throttle.reserve("10.0.0.2") == 0  # another address is not slowed


def test_an_attempt_that_would_wait_too_long_is_refused_right_password_or_not() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=2, base_delay=1, max_delay=60, max_wait=3, clock=clock)
    waits = [fail(throttle, clock) for _ in range(6)]
    assert waits == [0, 0, 1, 2, None, None]  # the next would wait 4 s > 3 s
    assert throttle.retry_after("10.0.0.1") == pytest.approx(1.0)
    clock.now += 1.0
    assert throttle.reserve("10.0.0.1") == pytest.approx(3.0)  # accepted again, after its wait


def test_parallel_attempts_queue_behind_each_other() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=1, base_delay=1, max_wait=10, clock=clock)
    fail(throttle, clock)
    assert [throttle.reserve("10.0.0.1") for _ in range(3)] == [1, 2, 3]


def test_a_good_login_clears_the_record_and_old_failures_are_forgotten() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=2, base_delay=1, forget_after=60, clock=clock)
    for _ in range(3):
        fail(throttle, clock)
    throttle.succeeded("10.0.0.1")
    assert throttle.failures("10.0.0.1") == 0 and throttle.reserve("10.0.0.1") == 0
    for _ in range(3):
        fail(throttle, clock)
    clock.now += 61
    assert throttle.reserve("10.0.0.1") == 0 and throttle.failures("10.0.0.1") == 0


def test_many_addresses_failing_slow_everyone_down() -> None:
    """A local client can claim any address in X-Forwarded-For: all failures count too."""
    clock = Clock()
    throttle = LoginThrottle(max_failures=2, global_factor=5, base_delay=1, clock=clock)
    for i in range(10):  # each address fails once: never throttled on its own
        assert fail(throttle, clock, f"10.0.1.{i}") == 0
    assert throttle.reserve("10.0.2.1") == 1


def test_the_record_of_clients_is_bounded() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_clients=50, clock=clock)
    for i in range(500):
        fail(throttle, clock, f"10.1.{i // 250}.{i % 250}")
        clock.now += 0.001
    assert len(throttle._records) <= 50
    assert throttle._records[throttle.GLOBAL].failures >= 50  # the count of all is never evicted


# --- what the page may show ----------------------------------------------------------------


def test_public_status_shows_no_absolute_path() -> None:
    status = {
        "documents": 1,
        "chunks": 2,
        "store": "chroma embedded at /home/alice/secret/.qa",
        "generator": "/home/alice/models/mine.gguf",
        "embedder": "all-MiniLM-L6-v2",
        "roots": ["/home/alice/docs"],
        "sources": [{"doc_id": "a.md", "title": "A", "chunks": 2, "path": "/home/alice/docs/a.md"}],
    }
    out = public_status(status)
    assert "/home/alice" not in json.dumps(out)
    assert out["store"] == "chroma embedded in .qa/" and out["generator"] == "mine.gguf"
    assert out["sources"] == [{"doc_id": "a.md", "title": "A", "chunks": 2}]
    assert status["roots"] == ["/home/alice/docs"]  # the caller's dict is left alone


# --- against launched apps -----------------------------------------------------------------

SECRET_DIR = "/srv/very-secret-place/qa-data"


class PathsDocuments(FakeDocuments):
    """Reports where its store lives, as the real library does."""

    def status(self) -> dict:
        return {
            **super().status(),
            "store": f"chroma embedded at {SECRET_DIR}",
            "roots": ["/srv/very-secret-place/docs"],
        }


@pytest.fixture(scope="module")
def open_app() -> Iterator[tuple[object, str]]:
    from ui.app import build_app, launch

    app = build_app(FakeAnswerer(), PathsDocuments())
    _, url, _ = launch(app, port=free_port(), prevent_thread_lock=True)
    yield app, url
    app.close()


# The throttle's clock stands still unless a test moves it; the waits themselves are real.
THROTTLE = dict(max_failures=3, base_delay=0.1, max_delay=5.0, max_wait=0.5)
LIMIT_MB = 0.01  # 10 kB


@pytest.fixture(scope="module")
def locked_app() -> Iterator[tuple[object, str, LoginThrottle]]:
    from ui.app import build_app, launch

    app = build_app(FakeAnswerer(), PathsDocuments())
    throttle = LoginThrottle(**THROTTLE, clock=Clock())  # type: ignore[arg-type]
    _, url, _ = launch(
        app,
        port=free_port(),
        auth=Accounts([("me", "hunter2")]),
        throttle=throttle,
        max_upload_mb=LIMIT_MB,
        prevent_thread_lock=True,
    )
    yield app, url, throttle
    app.close()


def fn_index(app, name: str) -> int:
    return next(i for i, fn in app.fns.items() if fn.name == name)


def join(client: httpx.Client, url: str, index: int, data: list | None = None) -> httpx.Response:
    body = {"data": data or [], "fn_index": index, "session_hash": uuid.uuid4().hex[:10]}
    return client.post(url + "gradio_api/queue/join", json=body, timeout=10)


def result_of(client: httpx.Client, url: str, session_hash: str) -> list:
    with client.stream(
        "GET", url + "gradio_api/queue/data", params={"session_hash": session_hash}, timeout=20
    ) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                msg = json.loads(line[5:])
                if msg.get("msg") == "process_completed":
                    assert msg.get("success"), msg
                    return msg["output"]["data"]
    raise AssertionError("no result")


def test_only_ask_is_in_the_api_info(open_app) -> None:
    _, url = open_app
    info = httpx.get(url + "gradio_api/info", timeout=10).json()
    assert list(info["named_endpoints"]) == ["/ask"] and not info["unnamed_endpoints"]


def test_internal_events_are_refused_without_the_page(open_app) -> None:
    app, url = open_app
    with httpx.Client() as client:  # a script: never loaded the page
        for name in ("show_collection", "reindex", "answer"):
            r = join(client, url, fn_index(app, name))
            assert r.status_code == 403 and "/ask" in r.json()["detail"], (name, r.text)
        for path, body in [
            ("run/predict", {"data": ["q", []], "fn_index": fn_index(app, "start")}),
            ("run/open_doc", {"data": ["kettles/descaling.md", []]}),
            ("api/open_doc", {"data": ["kettles/descaling.md", []]}),
            ("call/show_collection", {"data": []}),
            ("call/ask", {"data": [], "fn_index": fn_index(app, "show_collection")}),
        ]:
            r = client.post(url + "gradio_api/" + path, json=body, timeout=10)
            assert r.status_code == 403, (path, r.status_code, r.text)
        r = client.post(url + "gradio_api/upload", files={"files": ("a.txt", b"x")}, timeout=10)
        assert r.status_code == 403


def test_ask_stays_public(open_app) -> None:
    from gradio_client import Client

    app, url = open_app
    with httpx.Client() as client:
        r = join(client, url, fn_index(app, "ask"), ["How do I descale my kettle?"])
        assert r.status_code == 200 and r.json()["event_id"]
    client = Client(url, verbose=False)
    result = client.predict("How do I descale my kettle?", api_name="/ask")
    assert result["citations"][0]["source"] == "kettles/descaling.md"
    with pytest.raises(ValueError, match="Invalid function index"):
        client.predict(fn_index=fn_index(app, "show_collection"))


def test_the_page_may_call_its_events_and_shows_no_data_dir(open_app) -> None:
    app, url = open_app
    with httpx.Client() as client:
        page = client.get(url, timeout=10)
        assert page.status_code == 200 and any(k.startswith("qa-ui-") for k in client.cookies)
        cookie = page.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        session = uuid.uuid4().hex[:10]
        body = {"data": [], "fn_index": fn_index(app, "show_collection"), "session_hash": session}
        r = client.post(url + "gradio_api/queue/join", json=body, timeout=10)
        assert r.status_code == 200, r.text
        html = result_of(client, url, session)[0]
        config = client.get(url + "config", timeout=10).text
    assert "kettles/descaling.md" in html and "qa-data/" in html  # the folder's name only
    for text in (html, config, page.text):
        assert "very-secret-place" not in text


def login(url: str, password: str) -> tuple[int, float, httpx.Response]:
    t0 = time.perf_counter()
    r = httpx.post(url + "login", data={"username": "me", "password": password}, timeout=30)
    return r.status_code, time.perf_counter() - t0, r


def test_repeated_wrong_logins_are_slowed_then_refused(locked_app) -> None:
    _, url, throttle = locked_app
    throttle._records.clear()
    tries = [login(url, f"guess{i}") for i in range(8)]
    codes = [code for code, _, _ in tries]
    # 3 free failures; then waits of 0.1, 0.2, 0.4 s; the next would wait 0.8 s > 0.5 s: refused
    assert codes == [400, 400, 400, 400, 400, 400, 429, 429], codes
    slack = 0.03  # the wait is counted from the server's record of the failure
    assert all(tries[3 + i][1] >= d - slack for i, d in enumerate((0.1, 0.2, 0.4)))
    refused = tries[6][2]
    assert int(refused.headers["retry-after"]) >= 1 and "Too many failed logins" in refused.text
    assert login(url, "hunter2")[0] == 429  # while refused, even the right password
    throttle.clock.now += float(refused.headers["retry-after"])
    assert login(url, "hunter2")[0] == 200  # after the wait, the right password works
    code, took, _ = login(url, "wrong again")
    assert code == 400 and throttle.failures("127.0.0.1") == 1  # and the record was cleared


def test_fifty_fast_wrong_logins_do_not_all_get_checked(locked_app) -> None:
    _, url, throttle = locked_app
    throttle._records.clear()
    t0 = time.perf_counter()
    codes = [login(url, f"guess{i}")[0] for i in range(50)]
    assert time.perf_counter() - t0 < 15
    assert codes == [400] * 6 + [429] * 44  # 3 free, 3 that waited 0.1, 0.2, 0.4 s; refused
    throttle._records.clear()


def test_rotating_forwarded_addresses_still_hit_the_global_limit(locked_app) -> None:
    """Uvicorn trusts X-Forwarded-For from 127.0.0.1, so a local client can claim any address."""
    _, url, throttle = locked_app
    throttle._records.clear()
    codes = []
    for i in range(40):
        r = httpx.post(
            url + "login",
            data={"username": "me", "password": f"guess{i}"},
            headers={"X-Forwarded-For": f"10.9.{i // 200}.{i % 200}"},
            timeout=30,
        )
        codes.append(r.status_code)
    assert len({k for k in throttle._records if k.startswith("10.9.")}) == 40
    assert codes == [400] * 33 + [429] * 7  # 3 x 10 free in all, then 0.1, 0.2, 0.4 s waits
    throttle._records.clear()


@contextmanager
def page_and_login(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        client.get(url)
        r = client.post(url + "login", data={"username": "me", "password": "hunter2"})
        assert r.status_code == 200, r.text
        yield client


def test_uploads_need_the_login_and_have_a_size_limit(locked_app) -> None:
    _, url, throttle = locked_app
    throttle._records.clear()
    small = {"files": ("notes.txt", b"x" * 1000, "text/plain")}
    big = {"files": ("big.txt", b"x" * int(LIMIT_MB * 1_000_000 * 2), "text/plain")}
    with httpx.Client(timeout=10) as anonymous:
        assert anonymous.post(url + "gradio_api/upload", files=small).status_code == 403
        anonymous.get(url)  # the login page: the page cookie, but no login
        assert anonymous.post(url + "gradio_api/upload", files=small).status_code == 401
    with page_and_login(url) as client:
        ok = client.post(url + "gradio_api/upload", files=small)
        assert ok.status_code == 200 and ok.json()[0].endswith("notes.txt")
        too_big = client.post(url + "gradio_api/upload", files=big)
        assert too_big.status_code == 413


def test_with_a_login_every_api_path_needs_it(locked_app) -> None:
    app, url, throttle = locked_app
    throttle._records.clear()
    with httpx.Client(timeout=10) as anonymous:
        anonymous.get(url)
        assert anonymous.get(url + "config").status_code == 401
        assert join(anonymous, url, fn_index(app, "ask"), ["q"]).status_code == 401
    with page_and_login(url) as client:
        assert client.get(url + "config").status_code == 200
        assert join(client, url, fn_index(app, "ask"), ["q"]).status_code == 200
        assert join(client, url, fn_index(app, "show_collection")).status_code == 200
    from gradio_client import Client

    result = Client(url, auth=("me", "hunter2"), verbose=False).predict(
        "How do I descale my kettle?", api_name="/ask"
    )
    assert result["citations"][0]["source"] == "kettles/descaling.md"


@pytest.mark.browser
def test_a_browser_logs_in_and_chats_through_the_guard(locked_app) -> None:
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("/usr/bin/chromium is missing: run `make browser`")
    from playwright.sync_api import expect, sync_playwright

    from ui.app import LOGIN_NOTE

    _, url, throttle = locked_app
    throttle._records.clear()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(chromium), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            page.goto(url)
            expect(page.get_by_text(LOGIN_NOTE)).to_be_visible()
            page.locator("input[type=text]").first.fill("me")
            page.locator("input[type=password]").fill("wrong")
            page.locator("input[type=password]").press("Enter")
            expect(page.get_by_text("Incorrect Credentials", exact=False)).to_be_visible()
            page.locator("input[type=text]").first.fill("me")
            page.locator("input[type=password]").fill("hunter2")
            page.locator("input[type=password]").press("Enter")
            page.wait_for_selector("#qa-question textarea", timeout=20_000)
            page.locator("#qa-question textarea").fill("How do I descale my kettle?")
            page.locator("#qa-question textarea").press("Enter")
            page.wait_for_selector("#qa-chat .qa-cite", timeout=20_000)  # events went through
            page.get_by_role("tab", name="Collection").click()
            expect(page.locator("#qa-collection")).to_contain_text("kettles/descaling.md")
            expect(page.locator("#qa-collection")).not_to_contain_text("very-secret-place")
        finally:
            browser.close()


def test_lock_down_leaves_only_ask_public() -> None:
    import gradio as gr

    from ui.app import _public_fns, lock_down

    with gr.Blocks() as app:
        box = gr.Textbox()
        gr.Button().click(lambda s: s, box, box, api_name="leak")  # public by default

        def ask(question: str) -> str:
            return question

        gr.api(ask, api_name="ask")
    assert {fn.api_name for fn in app.fns.values() if fn.api_visibility == "public"} == {
        "leak",
        "ask",
    }
    lock_down(app)
    assert list(_public_fns(app).values()) == ["ask"]
    assert next(fn for fn in app.fns.values() if fn.api_name == "leak").api_visibility == "private"
