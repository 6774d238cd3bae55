"""The web chat. :func:`build_app` makes the Gradio Blocks; :func:`launch` serves it locally.

All rendering happens in :mod:`ui.render` (escaped HTML, Markdown for notes) and all
session logic in :mod:`ui.chat`; this module only wires components to them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.components.chatbot import ExampleMessage
from starlette.middleware import Middleware

from qa.errors import QAError
from ui import chat, collection, guard, js, render, security, sources

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
MODEL = "model"  # one concurrency group: the local model answers one request at a time
# Gradio's bundled IBMPlexSans-SemiBold.woff2 (and Mono's SemiBold) is a Cyrillic subset that
# holds only "a", "b" and the space of Latin: at weight 600 every other letter fell back to
# the system font. Regular and Bold hold the full set, so 600 text is drawn with Bold.
SANS: list[gr.themes.Font | str] = [
    gr.themes.LocalFont("IBM Plex Sans", weights=(400, 700)),
    "ui-sans-serif",
    "system-ui",
    "sans-serif",
]
MONO: list[gr.themes.Font | str] = [
    gr.themes.LocalFont("IBM Plex Mono", weights=(400, 700)),
    "ui-monospace",
    "Consolas",
    "monospace",
]
ASK = "Ask a question about your documents…"
PLACEHOLDER = (
    "<div class='qa-empty'><b>Ask about your documents.</b><br>"
    "Every answer links each claim to the exact passage it came from.</div>"
)


def theme() -> gr.themes.Base:
    """Fonts bundled with Gradio plus system fonts, so the page needs no network."""
    return gr.themes.Soft(primary_hue="indigo", neutral_hue="slate", font=SANS, font_mono=MONO)


def _backlog(app: gr.Blocks) -> int | None:
    """Requests running or waiting for the model now (best effort, from Gradio's queue)."""
    try:
        q = app._queue.event_queue_per_concurrency_id.get(MODEL)
        return 0 if q is None else len(q.queue) + q.current_concurrency
    except Exception:
        return None


def build_app(answerer: chat.Answerer, library: chat.Documents, *, title: str = "qa") -> gr.Blocks:
    """The chat page for ``answerer`` over the documents of ``library``: streaming drafts then
    checked answers, sources with quotes on hover and a document view, notes export, and the
    collection (with uploads and removal when ``library`` takes them:
    :class:`ui.collection.Library`). Example questions come from the indexed titles."""
    uploads = collection.uploads(library)
    with gr.Blocks(title=title, analytics_enabled=False) as app:
        turns = gr.State([])
        asked = gr.State("")
        gr.HTML(
            f'<header class="qa-header"><span class="qa-logo">{render.esc(title)}</span>'
            '<span class="qa-tagline">Answers from your documents, with the passages to prove them.</span>'
            "</header>"
        )
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                with gr.Row(equal_height=False, elem_classes="qa-main"):
                    with gr.Column(scale=3, min_width=420):
                        chatbot = gr.Chatbot(
                            elem_id="qa-chat",
                            show_label=False,
                            height=580,
                            render_markdown=False,
                            sanitize_html=True,
                            latex_delimiters=[],
                            buttons=[],
                            feedback_options=None,
                            allow_tags=False,
                            placeholder=PLACEHOLDER,
                            examples=_chips(library),
                        )
                        question = gr.Textbox(
                            elem_id="qa-question",
                            show_label=False,
                            placeholder=ASK,
                            submit_btn="Ask",
                            lines=1,
                            max_lines=6,
                            autofocus=True,
                        )
                        hint = gr.HTML("", elem_id="qa-hint", js_on_load=None)
                        with gr.Row(elem_classes="qa-actions"):
                            new_btn = gr.Button(
                                "New conversation", size="sm", variant="secondary", elem_id="qa-new"
                            )
                            copy_btn = gr.Button(
                                "Copy answer to notes", size="sm", elem_id="qa-copy"
                            )
                            copy_all_btn = gr.Button(
                                "Copy conversation", size="sm", elem_id="qa-copy-all"
                            )
                            export_btn = gr.Button("Export .md", size="sm", elem_id="qa-export")
                    with gr.Column(scale=2, min_width=320):
                        panel = gr.HTML(sources.panel_html([]), elem_id="qa-panel", js_on_load=None)
                answer_md = gr.Textbox(visible="hidden", elem_id="qa-answer-md")
                conversation_md = gr.Textbox(visible="hidden", elem_id="qa-conversation-md")
                doc_key = gr.Textbox(visible="hidden", elem_id="qa-doc-key")
                open_btn = gr.Button("Open", visible="hidden", elem_id="qa-open-doc")
            with gr.Tab("Collection", id="collection"):
                with gr.Row(equal_height=True, elem_classes="qa-collection-bar"):
                    gr.HTML(
                        '<div class="qa-panel-title">Indexed documents</div><div class="qa-muted">'
                        "Re-index after adding, changing or removing files in the indexed folders.</div>",
                        js_on_load=None,
                    )
                    reindex_btn = gr.Button(
                        "Re-index", variant="primary", scale=0, min_width=120, elem_id="qa-reindex"
                    )
                if uploads is not None:
                    with gr.Row(equal_height=False, elem_classes="qa-upload-bar"):
                        upload = gr.File(
                            label=f"Add documents ({', '.join(uploads.extensions)}; "
                            f"up to {uploads.max_bytes / 1e6:g} MB each)",
                            file_count="multiple",
                            file_types=list(uploads.extensions),
                            type="filepath",
                            elem_id="qa-upload",
                            scale=3,
                        )
                        with gr.Column(scale=2, min_width=260):
                            remove_pick = gr.Dropdown(
                                choices=collection.uploaded(library),
                                value=None,
                                label="Uploaded documents",
                                elem_id="qa-remove-pick",
                                interactive=True,
                            )
                            remove_btn = gr.Button(
                                "Remove document", variant="stop", size="sm", elem_id="qa-remove"
                            )
                            gr.HTML(
                                '<div class="qa-muted">Only uploaded documents are removed here. '
                                "For a document in one of your folders, delete the file there "
                                "and re-index.</div>",
                                js_on_load=None,
                            )
                collection_html = gr.HTML(elem_id="qa-collection", js_on_load=None, min_height=120)
        with gr.Column(visible=False, elem_id="qa-doc-drawer") as drawer:
            close_btn = gr.Button("Close ✕", size="sm", elem_id="qa-doc-close")
            doc_html = gr.HTML("", elem_id="qa-doc", js_on_load=None)

        view_outputs = [chatbot, panel, answer_md, conversation_md, turns]

        def show(v: chat.View) -> tuple[Any, ...]:
            return v.messages, v.panel, v.answer_md, v.conversation_md, v.turns

        def start(q: str, ts: list[chat.Turn]) -> tuple[Any, ...]:
            q, problem = chat.check_question(answerer, q)
            if problem:  # said under the box; the question is not echoed and stays in it
                return (
                    gr.skip(),
                    "",
                    render.error_html(problem),
                    *(gr.skip() for _ in view_outputs),
                )
            locked = gr.update(value="", interactive=False, placeholder="Answering…")
            return locked, q, "", *show(chat.waiting(q, ts, _backlog(app)))

        def answer(q: str, ts: list[chat.Turn]):
            if not q:
                yield tuple(gr.skip() for _ in view_outputs)
                return
            for v in chat.respond(answerer, library, q, ts):
                yield show(v)

        def unlock() -> Any:
            return gr.update(interactive=True, placeholder="Ask a follow-up…")

        start_args: dict[str, Any] = dict(
            fn=start,
            inputs=[question, turns],
            outputs=[question, asked, hint, *view_outputs],
            queue=False,
            api_visibility="private",
        )

        def then_answer(started: Any) -> Any:
            answered = started.then(
                answer,
                [asked, turns],
                view_outputs,
                concurrency_id=MODEL,
                show_progress="minimal",
                show_progress_on=[chatbot],
                api_visibility="private",
            )
            answered.then(unlock, None, question, queue=False, api_visibility="private")
            return answered

        submitted = then_answer(question.submit(**start_args))
        picked = then_answer(
            chatbot.example_select(
                _example_text, None, question, queue=False, api_visibility="private"
            ).then(**start_args)
        )

        def clear() -> tuple[Any, ...]:
            return (*show(chat.view([])), "", gr.update(interactive=True, placeholder=ASK), "")

        for reset in (new_btn.click, chatbot.clear):  # the chat's own trash icon starts over too
            reset(
                clear,
                None,
                [*view_outputs, asked, question, hint],
                cancels=[submitted, picked],
                queue=False,
                api_visibility="private",
            )
        copy_btn.click(None, [answer_md], None, js=js.copy("qa-copy"), api_visibility="private")
        copy_all_btn.click(
            None, [conversation_md], None, js=js.copy("qa-copy-all"), api_visibility="private"
        )
        export_btn.click(None, [conversation_md], None, js=js.EXPORT, api_visibility="private")

        def open_doc(key: str, ts: list[chat.Turn]) -> tuple[Any, ...]:
            return chat.open_document(library, key, ts), gr.update(visible=True)

        # qa.js puts the clicked link's key in window.__qaDocKey and clicks the hidden button.
        open_btn.click(
            None, [doc_key], [doc_key], js=js.OPEN_KEY, queue=False, api_visibility="private"
        ).then(
            open_doc, [doc_key, turns], [doc_html, drawer], queue=False, api_visibility="private"
        ).then(None, js=js.SCROLL_TO_MARK, api_visibility="private")
        close_btn.click(
            lambda: gr.update(visible=False), None, drawer, queue=False, api_visibility="private"
        )

        def show_collection() -> str:
            return collection.view(library)

        def reindex(progress: gr.Progress = gr.Progress()) -> str:  # noqa: B008
            return collection.reindex(library, _reporter(progress))

        def chips() -> Any:
            return example_chips(library)

        app.load(show_collection, None, collection_html, api_visibility="private")
        # The example chips follow the collection: at each page load and after each change.
        refresh: dict[str, Any] = dict(queue=False, api_visibility="private")
        app.load(chips, None, chatbot, **refresh)
        indexing: dict[str, Any] = dict(
            concurrency_id=MODEL,
            show_progress="full",
            show_progress_on=[collection_html],
            api_visibility="private",
        )
        reindex_btn.click(reindex, None, collection_html, **indexing).then(
            chips, None, chatbot, **refresh
        )
        if uploads is not None:

            def add(files: list[Any] | None, progress: gr.Progress = gr.Progress()):  # noqa: B008
                html = collection.add(library, files, _reporter(progress))
                return html, None, gr.update(choices=collection.uploaded(library), value=None)

            def remove(doc_id: str | None, progress: gr.Progress = gr.Progress()):  # noqa: B008
                html = collection.remove(library, doc_id, _reporter(progress))
                return html, gr.update(choices=collection.uploaded(library), value=None)

            upload.upload(add, [upload], [collection_html, upload, remove_pick], **indexing).then(
                chips, None, chatbot, **refresh
            )
            remove_btn.click(
                remove, [remove_pick], [collection_html, remove_pick], **indexing
            ).then(chips, None, chatbot, **refresh)
        gr.api(_ask(answerer), api_name="ask", concurrency_id=MODEL)
    app.queue(default_concurrency_limit=1)
    return app


def _reporter(progress: Any) -> collection.Progress:
    return lambda fraction, message: progress(fraction, desc=message)


def _examples(library: chat.Documents) -> list[str]:
    """Example questions from the indexed collection's titles (none when nothing is indexed)."""
    try:
        return chat.collection_examples(library.status())
    except Exception:
        log.warning("could not read the collection for example questions")
        return []


def _chips(library: chat.Documents) -> list[ExampleMessage] | None:
    """The chat's example chips for what is indexed now (None when nothing is)."""
    return [ExampleMessage(text=e) for e in _examples(library)] or None


def example_chips(library: chat.Documents) -> Any:
    """The chips as an update of the chat, after the collection changed."""
    return gr.update(examples=_chips(library))


def _example_text(evt: gr.SelectData) -> str:
    value = evt.value
    return value.get("text", "") if isinstance(value, dict) else str(value or "")


def _ask(answerer: chat.Answerer) -> Callable[[str], dict]:
    def ask(question: str) -> dict:
        """Answer a question from the indexed documents. Returns the answer with its citations as JSON."""
        try:
            return answerer.ask(question).to_json()
        except QAError as e:
            raise gr.Error(str(e)) from e
        except Exception as e:
            log.exception("api ask failed")
            raise gr.Error(chat.GENERIC_ERROR) from e

    return ask


def launch(
    app: gr.Blocks,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: security.Accounts | tuple[str, str] | list[tuple[str, str]] | str | None = None,
    *,
    max_upload_mb: float = 50.0,
    throttle: security.LoginThrottle | None = None,
    **kwargs: Any,
) -> Any:
    """Serve the app on ``host:port``: local only by default, never a public share link.

    ``auth`` is :class:`ui.security.Accounts`, ``(user, password)``, a list of them, or
    ``"user:password"``; wrong logins are slowed down by ``throttle`` (default
    :class:`ui.security.LoginThrottle`). Only the public API (``/ask``) is callable without the
    page (:class:`ui.security.Guard`), and uploads over ``max_upload_mb`` are refused. Extra
    keyword arguments go to ``Blocks.launch`` (tests pass ``prevent_thread_lock=True``).
    """
    accounts = _accounts(auth)
    if host not in ("127.0.0.1", "localhost", "::1") and accounts is None:
        log.warning("serving on a network interface without a password host=%s", host)
    lock_down(app)
    policy = guard.Policy(
        public_fns=lambda: _public_fns(app),
        throttle=(throttle or security.LoginThrottle()) if accounts is not None else None,
    )
    app_kwargs = dict(kwargs.pop("app_kwargs", None) or {})
    app_kwargs["middleware"] = [
        *app_kwargs.get("middleware", []),
        Middleware(guard.Guard, policy=policy),
    ]
    options: dict[str, Any] = {
        "max_threads": 8,
        "show_error": False,
        "quiet": True,
        "footer_links": ["api"],
        "run_history": False,  # questions stay out of browser storage and off any hub bucket
        "max_file_size": int(max_upload_mb * 1_000_000),
        "ssr_mode": False,  # no Node proxy in front: the guard sees each client's own address
        **({"auth_message": LOGIN_NOTE} if accounts is not None else {}),
        **kwargs,
    }
    return app.launch(
        server_name=host,
        server_port=port,
        auth=accounts,
        theme=theme(),
        css_paths=[STATIC / "qa.css"],
        head=f"<script>{(STATIC / 'qa.js').read_text()}</script>",
        app_kwargs=app_kwargs,
        **{**options, "share": False},
    )


LOGIN_NOTE = "After several wrong passwords, logins from your address are slowed down for a while."


def _accounts(auth: Any) -> security.Accounts | None:
    if auth is None or isinstance(auth, security.Accounts):
        return auth
    if isinstance(auth, str):
        return security.Accounts([security.parse_account(auth, "auth")])
    if isinstance(auth, tuple):
        return security.Accounts([auth])
    return security.Accounts(list(auth))


def _public_fns(app: gr.Blocks) -> dict[int, str]:
    """fn_index -> api_name of the events anyone may call (``/ask``)."""
    return {
        i: str(fn.api_name)
        for i, fn in getattr(app, "fns", {}).items()
        if fn.fn is not None and fn.api_visibility == "public"
    }


def lock_down(app: gr.Blocks) -> None:
    """Every event but the public API is private: not in /info, not for the client libraries."""
    for fn in getattr(app, "fns", {}).values():
        if fn.api_name not in security.PUBLIC_API:
            fn.api_visibility = "private"
