"""The command line's errors: `qa ask --json` answers errors in JSON, `qa chat` checks the port
and the login before it loads anything."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main
from tests.conftest import SEEDS
from tests.netutil import free_port

QUESTION = "How many militants were pardoned?"


pytestmark = pytest.mark.usefixtures("fake_models")


@pytest.fixture
def indexed(data_dir: Path) -> Path:
    result = CliRunner().invoke(main, ["index", str(SEEDS), "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    return data_dir


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(main, list(args), input=stdin)


def error_of(result) -> dict:
    """The one JSON error object on stdout (stderr is separate in click >= 8.2)."""
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    obj = json.loads(lines[0])
    assert set(obj) >= {"error", "kind"} and obj["error"], obj
    return obj


class Loaded(AssertionError):
    pass


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch):
    """Records every generator load (in any thread): what is checked first must not load one."""
    loads: list[object] = []

    def refuse(settings):
        loads.append(settings)
        raise Loaded("the generator was loaded")

    monkeypatch.setattr("qa.service.make_generator", refuse)
    yield loads
    assert loads == [], "the model started loading"


@pytest.fixture
def nothing_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening the index (Chroma, the embedder, the model) fails the test."""

    def refuse(*args, **kwargs):
        raise Loaded("build_answerer was called")

    monkeypatch.setattr("qa.service.build_answerer", refuse)


# --- qa ask --json ------------------------------------------------------------------------


def test_ask_json_answers_on_stdout(indexed: Path) -> None:
    result = run("ask", QUESTION, "--json", "--data-dir", str(indexed))
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["question"] == QUESTION and "answer" in answer and "error" not in answer


def test_ask_json_without_an_index_is_a_no_index_error(data_dir: Path) -> None:
    result = run("ask", QUESTION, "--json", "--data-dir", str(data_dir / "none"))
    assert result.exit_code == 1
    err = error_of(result)
    assert err["kind"] == "no_index" and 'run "qa index seeds/"' in err["error"]
    assert "Traceback" not in result.output


def test_a_bad_setting_is_named_not_a_traceback(
    indexed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QA_EMBED_INT8", "fast")
    result = run("ask", QUESTION, "--json", "--data-dir", str(indexed))
    assert result.exit_code == 1
    err = error_of(result)
    assert err["kind"] == "settings"
    assert "QA_EMBED_INT8: Input should be 'weights' or 'dynamic' (got 'fast')" in err["error"]
    monkeypatch.setenv("QA_RETRIEVAL_K", "six")
    result = run("status", "--data-dir", str(indexed))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "QA_RETRIEVAL_K" in result.stderr and "QA_EMBED_INT8" in result.stderr


def test_ask_without_json_keeps_the_plain_message_on_stderr(data_dir: Path) -> None:
    result = run("ask", QUESTION, "--data-dir", str(data_dir / "none"))
    assert result.exit_code == 1 and result.stdout == ""
    assert "Error: No index at" in result.stderr


@pytest.mark.parametrize(
    ("question", "why"), [("   ", "The question is empty"), ("x" * 50_000, "50,000 characters")]
)
def test_ask_json_bad_question_is_refused_before_the_model_loads(
    indexed: Path, no_model: None, question: str, why: str
) -> None:
    result = run("ask", question, "--json", "--data-dir", str(indexed))
    assert result.exit_code == 1
    err = error_of(result)
    assert err["kind"] == "bad_question" and why in err["error"]


def test_ask_json_model_that_cannot_load(indexed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_LLM_MODE", "local")
    monkeypatch.setenv("QA_LLM_MODEL_PATH", str(indexed / "missing.gguf"))
    monkeypatch.setenv("QA_RETRIEVAL_MIN_RELEVANCE", "-1")  # always ask the model
    result = run("ask", QUESTION, "--json", "--data-dir", str(indexed))
    assert result.exit_code == 1
    err = error_of(result)
    assert err["kind"] == "model" and "No model file at" in err["error"]


def test_ask_json_llm_server_down(indexed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("openai")
    monkeypatch.setenv("QA_LLM_MODE", "openai")
    monkeypatch.setenv("QA_LLM_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    monkeypatch.setenv("QA_RETRIEVAL_MIN_RELEVANCE", "-1")
    result = run("ask", QUESTION, "--json", "--data-dir", str(indexed))
    assert result.exit_code == 1
    err = error_of(result)
    assert err["kind"] == "model" and "Cannot reach the LLM server" in err["error"]


def test_ask_json_chroma_server_down(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("QA_CHROMA_PORT", str(free_port()))
    result = run("ask", QUESTION, "--json", "--data-dir", str(data_dir))
    assert result.exit_code == 1
    err = error_of(result)
    assert err["kind"] == "store" and "Cannot reach the Chroma server" in err["error"]


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "no such file"),
        ("[1", "is not a JSON list"),
        ('{"q": "a"}', "expected a list"),
        ('[["only a question"]]', "item 1 is not a [question, answer] pair"),
    ],
)
def test_ask_json_bad_history_fails_before_anything_loads(
    tmp_path: Path, nothing_loads: None, content: str | None, why: str
) -> None:
    history = tmp_path / "chat.json"
    if content is not None:
        history.write_text(content)
    result = run("ask", "And why?", "--history", str(history), "--json")
    assert result.exit_code == 1
    err = error_of(result)
    assert err["kind"] == "bad_history" and why in err["error"]


def test_ask_json_without_a_question_is_a_usage_error(nothing_loads: None) -> None:
    result = run("ask", "--json")
    assert result.exit_code == 2 and error_of(result)["kind"] == "usage"


def test_batch_reports_bad_lines_and_goes_on(indexed: Path) -> None:
    lines = [
        json.dumps({"question": QUESTION}),
        "not json",
        json.dumps({"q": "no question key"}),
        json.dumps({"question": ""}),
        json.dumps({"question": QUESTION, "history": [["only one"]]}),
        "",
        json.dumps({"question": QUESTION, "history": [["Who?", "Nobody."]]}),
    ]
    result = run(
        "ask", "--batch", "-", "--json", "--data-dir", str(indexed), stdin="\n".join(lines)
    )
    assert result.exit_code == 1  # some lines failed
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 6
    assert out[0]["question"] == QUESTION and "error" not in out[0]
    assert [(o.get("line"), o.get("kind")) for o in out[1:5]] == [
        (2, "bad_line"),
        (3, "bad_line"),
        (4, "bad_question"),
        (5, "bad_line"),
    ]
    assert out[5]["question"] == QUESTION and "error" not in out[5]


def test_batch_of_good_lines_exits_0(indexed: Path, tmp_path: Path) -> None:
    batch = tmp_path / "q.jsonl"
    batch.write_text(json.dumps({"question": QUESTION}) + "\n")
    result = run("ask", "--batch", str(batch), "--json", "--data-dir", str(indexed))
    assert result.exit_code == 0 and json.loads(result.stdout)["question"] == QUESTION


def test_batch_stops_at_a_model_failure(indexed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_LLM_MODE", "local")
    monkeypatch.setenv("QA_LLM_MODEL_PATH", str(indexed / "missing.gguf"))
    monkeypatch.setenv("QA_RETRIEVAL_MIN_RELEVANCE", "-1")
    lines = "\n".join(json.dumps({"question": QUESTION}) for _ in range(3))
    result = run("ask", "--batch", "-", "--json", "--data-dir", str(indexed), stdin=lines)
    assert result.exit_code == 1
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 1 and out[0]["line"] == 1 and out[0]["kind"] == "model"


def test_batch_without_an_index_is_one_error(data_dir: Path) -> None:
    stdin = json.dumps({"question": QUESTION})
    result = run("ask", "--batch", "-", "--json", "--data-dir", str(data_dir / "x"), stdin=stdin)
    assert result.exit_code == 1 and error_of(result)["kind"] == "no_index"


def test_batch_file_that_is_missing_or_a_folder(tmp_path: Path, nothing_loads: None) -> None:
    for path in (tmp_path / "none.jsonl", tmp_path):
        result = run("ask", "--batch", str(path), "--json")
        assert result.exit_code == 1 and error_of(result)["kind"] == "bad_batch"


def test_batch_that_is_not_utf8(indexed: Path, tmp_path: Path) -> None:
    batch = tmp_path / "q.jsonl"
    batch.write_bytes(b'{"question": "caf\xe9?"}\n')
    result = run("ask", "--batch", str(batch), "--json", "--data-dir", str(indexed))
    assert result.exit_code == 1
    err = error_of(result)
    assert err["kind"] == "bad_batch" and "not UTF-8" in err["error"]


def test_history_that_is_a_folder(tmp_path: Path, nothing_loads: None) -> None:
    result = run("ask", "q", "--history", str(tmp_path), "--json")
    assert result.exit_code == 1 and error_of(result)["kind"] == "bad_history"


# --- qa chat: checked before anything loads -----------------------------------------------


def test_chat_on_a_busy_port_says_what_to_do(nothing_loads: None) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("chat", "--port", str(port))
    assert result.exit_code == 1
    assert f"Port {port} on 127.0.0.1 is in use. Pass --port {port + 1}" in result.stderr
    assert "stop the other program" in result.stderr and "Traceback" not in result.output


def test_chat_host_that_is_not_local(nothing_loads: None) -> None:
    result = run("chat", "--host", "192.0.2.1", "--port", str(free_port()))  # TEST-NET-1
    assert result.exit_code == 1 and "is not an address of this machine" in result.stderr


@pytest.mark.parametrize(
    ("auth", "why"),
    [
        ("nocolon", "must be user:password"),
        (":secret", "empty user name"),
        ("me:", "empty password"),
    ],
)
def test_chat_bad_auth_fails_first_without_echoing_it(
    nothing_loads: None, auth: str, why: str
) -> None:
    with socket.socket() as busy:  # the login is checked even before the port
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = run("chat", "--auth", auth, "--port", str(busy.getsockname()[1]))
    assert result.exit_code == 1 and why in result.stderr
    assert "secret" not in result.stderr


def test_chat_auth_from_the_environment(
    nothing_loads: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QA_UI_AUTH", "nocolon")
    result = run("chat", "--port", str(free_port()))
    assert result.exit_code == 1 and "QA_UI_AUTH" in result.stderr


def _auth_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "auth.txt"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_chat_auth_file_readable_by_others_is_refused(tmp_path: Path, nothing_loads: None) -> None:
    path = _auth_file(tmp_path, "me:hunter2\n", 0o644)
    result = run("chat", "--auth-file", str(path), "--port", str(free_port()))
    assert result.exit_code == 1 and f"chmod 600 {path}" in result.stderr
    assert "hunter2" not in result.output


def test_chat_auth_file_errors_name_the_line(tmp_path: Path, nothing_loads: None) -> None:
    path = _auth_file(tmp_path, "# accounts\nme:hunter2\n\nyou-no-colon\n")
    result = run("chat", "--auth-file", str(path), "--port", str(free_port()))
    assert result.exit_code == 1 and "line 4 must be user:password" in result.stderr
    missing = run("chat", "--auth-file", str(tmp_path / "none"), "--port", str(free_port()))
    assert missing.exit_code == 1 and "no such file" in missing.stderr


def test_chat_auth_and_auth_file_together_are_refused(tmp_path: Path, nothing_loads: None) -> None:
    path = _auth_file(tmp_path, "me:hunter2\n")
    result = run("chat", "--auth-file", str(path), "--auth", "a:b", "--port", str(free_port()))
    assert result.exit_code == 1 and "not both" in result.stderr


def test_chat_good_checks_go_on_to_load_the_index(tmp_path: Path, nothing_loads: None) -> None:
    path = _auth_file(tmp_path, "me:hunter2\nyou:pass:with:colons\n")
    result = run("chat", "--auth-file", str(path), "--port", str(free_port()))
    assert isinstance(result.exception, Loaded)  # past the checks, at build_answerer


def test_chat_help_points_to_auth_file_first() -> None:
    text = run("chat", "--help").output
    assert "--auth-file" in text and "QA_UI_AUTH" in text
    assert text.index("--auth-file") < text.index("--auth TEXT")
    assert "ps" in text and "Discouraged" in text


def test_ask_json_unexpected_error_is_internal(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("qa.service.build_answerer", crash)
    result = run("ask", QUESTION, "--json")
    assert result.exit_code == 1
    err = error_of(result)
    assert err["kind"] == "internal" and "boom" in err["error"]


def test_chat_wires_login_throttle_and_one_upload_limit(
    indexed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict] = []
    monkeypatch.setattr("ui.app.launch", lambda app, **kw: calls.append({"app": app, **kw}))
    monkeypatch.setenv("QA_UI_MAX_UPLOAD_MB", "0.5")
    monkeypatch.setenv("QA_UI_LOGIN_MAX_FAILURES", "2")
    monkeypatch.setenv("QA_UI_AUTH_FILE", str(_auth_file(tmp_path, "me:hunter2\n")))
    port = free_port()
    result = run("chat", "--port", str(port), "--data-dir", str(indexed))
    assert result.exit_code == 0, result.output
    (kw,) = calls
    assert kw["port"] == port and kw["host"] == "127.0.0.1"
    assert kw["auth"]("me", "hunter2") and not kw["auth"]("me", "x")
    assert kw["throttle"].max_failures == 2 and kw["max_upload_mb"] == 0.5
    upload = next(b for b in kw["app"].blocks.values() if b.elem_id == "qa-upload")
    assert "up to 0.5 MB each" in upload.label  # the page says the limit the route enforces
    assert f"on http://127.0.0.1:{port}" in result.stderr
