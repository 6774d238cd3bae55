"""An ASGI middleware in front of Gradio's routes, put there by :func:`ui.app.launch`.

- ``POST /login`` is throttled by :class:`ui.security.LoginThrottle`, per client address
  (and, with a higher threshold, for all clients together, since a local client can claim any
  address in ``X-Forwarded-For``, which uvicorn trusts from 127.0.0.1): after ``max_failures``
  wrong logins each further attempt waits, twice as long each time; one that would wait longer
  than ``max_wait`` is refused at once with 429, the right password included.
- The page itself gets a per-server cookie (HttpOnly, SameSite=Strict). Event calls
  (``queue/join``, ``run``, ``call``, ``api``), uploads and component calls without that
  cookie are refused with 403, except calls of the public API (``/ask``). Scripts see one
  API; another web site cannot drive the chat through a visitor's browser. (A local program
  can still load the page first and act as the page does: that is what the page needs.)
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from ui.security import LoginThrottle

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_EVENT_ROUTES = (
    "/gradio_api/queue/join",
    "/gradio_api/run/",
    "/gradio_api/api/",
    "/gradio_api/call/",
)
_UI_ONLY_ROUTES = (
    "/gradio_api/upload",
    "/gradio_api/component_server",
    "/gradio_api/process_recording",
    "/gradio_api/stream/",
)
MAX_EVENT_BODY = 1_000_000


@dataclass
class Policy:
    """What the guard needs to know: which events are public, and the login throttle."""

    public_fns: Callable[[], dict[int, str]]  # fn_index -> api_name of the public events
    throttle: LoginThrottle | None = None
    cookie_name: str = field(default_factory=lambda: f"qa-ui-{secrets.token_hex(4)}")
    cookie_value: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


class Guard:
    """ASGI middleware in front of Gradio: see the module docstring."""

    def __init__(self, app: ASGIApp, policy: Policy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        method = scope.get("method", "GET")
        if method == "POST" and path.rstrip("/").endswith("/login") and self.policy.throttle:
            await self._login(scope, receive, send)
            return
        if method == "POST" and _under(path, _EVENT_ROUTES + _UI_ONLY_ROUTES):
            if not self._from_page(scope):
                await self._event_without_page(scope, receive, send, path)
                return
        if method == "GET":
            send = self._with_cookie(send)
        await self.app(scope, receive, send)

    # the page cookie

    def _from_page(self, scope: Scope) -> bool:
        want = self.policy.cookie_value.encode()
        for name, value in _cookies(scope):
            if name == self.policy.cookie_name and hmac.compare_digest(value.encode(), want):
                return True
        return False

    def _with_cookie(self, send: Send) -> Send:
        cookie = (
            f"{self.policy.cookie_name}={self.policy.cookie_value}; Path=/; HttpOnly; SameSite=Strict"
        ).encode()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                kind = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if kind.startswith(b"text/html"):
                    headers.append((b"set-cookie", cookie))
                    message = {**message, "headers": headers}
            await send(message)

        return sending

    async def _event_without_page(
        self, scope: Scope, receive: Receive, send: Send, path: str
    ) -> None:
        if not _under(path, _EVENT_ROUTES):
            await _reply(send, 403, "Only the web page can upload or call this; scripts use /ask.")
            return
        body = await _read_body(receive, MAX_EVENT_BODY)
        if body is None:
            await _reply(send, 413, "Request body too large.")
            return
        public = self.policy.public_fns()
        try:
            fn_index = json.loads(body or b"{}").get("fn_index")
        except (ValueError, AttributeError):
            fn_index = None
        if fn_index is not None:  # Gradio calls the fn_index even when the path names another
            allowed = isinstance(fn_index, int) and fn_index in public
        else:
            name = path.rstrip("/").rsplit("/", 1)[-1]
            allowed = "/queue/join" not in path and name in public.values()
        if not allowed:
            log.info("refused internal event path=%s fn_index=%s", path, fn_index)
            await _reply(send, 403, "Not a public API endpoint. The public API is /ask.")
            return
        await self.app(scope, _replay(body, receive), send)

    # logins

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        throttle = self.policy.throttle
        assert throttle is not None
        client = _client(scope)
        wait = throttle.reserve(client)
        if wait is None:
            after = max(1, round(throttle.retry_after(client)))
            log.warning(
                "login refused: too many failures client=%s retry_after_s=%s", client, after
            )
            await _reply(
                send,
                429,
                f"Too many failed logins from your address. Try again in {after} s.",
                [(b"retry-after", str(after).encode())],
            )
            return
        if wait > 0:
            await self.policy.sleep(wait)
        status: list[int] = []

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        await self.app(scope, receive, sending)
        if status and status[0] == 200:
            throttle.succeeded(client)
        elif status and status[0] in (400, 401, 403):
            throttle.failed(client)
            log.warning("login failed client=%s failures=%d", client, throttle.failures(client))


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(p in path if p.endswith("/") else path.rstrip("/").endswith(p) for p in prefixes)


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "?"


def _cookies(scope: Scope) -> Iterable[tuple[str, str]]:
    for name, value in scope.get("headers", []):
        if name.lower() == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                yield key, val


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


async def _reply(
    send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
