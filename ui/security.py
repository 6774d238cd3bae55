"""Who may use the web chat: accounts and ``--auth-file``, login throttling, the port
check, and what the pages may show.

Nothing here imports Gradio, so the CLI checks ``--auth``, ``--auth-file`` and the port
before it loads a model. :mod:`ui.guard` applies the throttle and the page-only events in
front of Gradio's routes.
"""

from __future__ import annotations

import errno
import hmac
import logging
import os
import socket
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa.errors import QAError

log = logging.getLogger(__name__)

PUBLIC_API = ("ask",)


class SetupError(QAError):
    """The web chat cannot start as configured; the message says how to fix it."""


# --- accounts ---------------------------------------------------------------------------


def parse_account(value: str, where: str) -> tuple[str, str]:
    """``user:password`` as a pair (the password may hold colons). Never echoes the password."""
    user, colon, password = value.partition(":")
    user = user.strip()
    if not colon:
        raise SetupError(f"{where} must be user:password (no colon found).")
    if not user:
        raise SetupError(f"{where} has an empty user name; write user:password.")
    if not password:
        raise SetupError(f"{where} has an empty password for user {user!r}.")
    return user, password


def read_auth_file(path: Path) -> list[tuple[str, str]]:
    """The accounts in ``path``: one ``user:password`` per line; blank lines and lines
    starting with ``#`` are skipped. The file must not be readable by group or others."""
    path = Path(path)
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SetupError(f"--auth-file {path}: no such file.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SetupError(f"--auth-file {path}: cannot read it ({exc}).") from None
    if not stat.S_ISREG(info.st_mode):
        raise SetupError(f"--auth-file {path} is not a regular file.")
    if info.st_mode & (stat.S_IRGRP | stat.S_IROTH | stat.S_IWGRP | stat.S_IWOTH):
        raise SetupError(
            f"--auth-file {path} can be read or changed by other users "
            f"(mode {stat.filemode(info.st_mode)}). Run: chmod 600 {path}"
        )
    accounts: list[tuple[str, str]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        accounts.append(parse_account(line, f"--auth-file {path} line {n}"))
    if not accounts:
        raise SetupError(f"--auth-file {path} holds no user:password line.")
    users = [u for u, _ in accounts]
    twice = sorted({u for u in users if users.count(u) > 1})
    if twice:
        raise SetupError(f"--auth-file {path} names user(s) {', '.join(twice)} more than once.")
    return accounts


class Accounts:
    """Checks a login against every account in constant time per account (hmac.compare_digest),
    so neither the user name nor the password is found out by timing."""

    def __init__(self, accounts: Iterable[tuple[str, str]]) -> None:
        self._accounts = [(u.encode(), p.encode()) for u, p in accounts]
        if not self._accounts:
            raise ValueError("no accounts")

    def __len__(self) -> int:
        return len(self._accounts)

    def __call__(self, username: str, password: str) -> bool:
        user, pw = username.encode(), password.encode()
        ok = False
        for u, p in self._accounts:
            same_user = hmac.compare_digest(user, u)
            same_password = hmac.compare_digest(pw, p)
            ok |= same_user & same_password
        return ok


def resolve_accounts(auth: str | None, auth_file: Path | None) -> Accounts | None:
    """The accounts from ``--auth-file`` or ``--auth``/``QA_UI_AUTH`` (not both); None: no login."""
    if auth and auth_file:
        raise SetupError(
            "Give either --auth-file (QA_UI_AUTH_FILE) or --auth (QA_UI_AUTH), not both."
        )
    if auth_file:
        return Accounts(read_auth_file(auth_file))
    if auth:
        return Accounts([parse_account(auth, "--auth (QA_UI_AUTH)")])
    return None


# --- the port ---------------------------------------------------------------------------


def check_port(host: str, port: int) -> None:
    """Raise :class:`SetupError`, saying what to do, unless ``host:port`` can be listened on."""
    if not 1 <= port <= 65535:
        raise SetupError(f"Port {port} is not a TCP port; pass --port between 1024 and 65535.")
    name = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise SetupError(
            f"Cannot listen on {host!r}: it is not an address of this machine ({exc.strerror}). "
            "Pass --host 127.0.0.1 (this machine only) or an address of one of its interfaces."
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            s.bind(address)
        except OSError as exc:
            raise SetupError(_bind_problem(host, port, exc)) from None


def _bind_problem(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"Port {port} on {host} is in use. Pass --port {port + 1 if port < 65535 else 7860} "
            "(or set QA_UI_PORT), or stop the other program."
        )
    if exc.errno == errno.EACCES:
        return f"Not allowed to listen on port {port} on {host}. Pass --port 7860 or another port above 1023."
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine. Pass --host 127.0.0.1 or one of its addresses."
    return f"Cannot listen on {host}:{port} ({exc.strerror or exc}). Pass another --host or --port."


# --- login throttling ------------------------------------------------------------------


@dataclass
class _Record:
    failures: int = 0
    next_at: float = 0.0  # the earliest time the next attempt is checked
    last_failure: float = 0.0


@dataclass
class LoginThrottle:
    """Slows down repeated wrong logins from one client. Pure bookkeeping: the caller waits.

    The first ``max_failures`` failures cost nothing; after that the attempts of a client are
    spaced ``base_delay * 2**(failures - max_failures)`` seconds apart (at most ``max_delay``),
    parallel attempts queue behind each other, and one that would wait longer than ``max_wait``
    is refused. ``global_factor`` times as many failures from all clients together throttle
    every client the same way. A good login clears its client's record; a record with no
    failure for ``forget_after`` seconds starts again from zero.
    """

    max_failures: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_wait: float = 10.0
    global_factor: int = 10
    forget_after: float = 900.0
    max_clients: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _records: dict[str, _Record] = field(default_factory=dict, repr=False)

    GLOBAL = "*"

    @classmethod
    def from_settings(cls, ui: Any) -> LoginThrottle:
        """From :class:`qa.settings.UISettings` (``QA_UI_LOGIN_*``)."""
        return cls(
            max_failures=ui.login_max_failures,
            base_delay=ui.login_delay_s,
            max_delay=ui.login_max_delay_s,
            max_wait=ui.login_max_wait_s,
        )

    def _keys(self, client: str) -> tuple[tuple[str, int], ...]:
        return ((client, self.max_failures), (self.GLOBAL, self.max_failures * self.global_factor))

    def _delay(self, failures: int, threshold: int) -> float:
        if failures < threshold:
            return 0.0
        return min(self.max_delay, self.base_delay * 2.0 ** min(failures - threshold, 60))

    def _get(self, key: str, now: float) -> _Record:
        rec = self._records.get(key)
        if rec is not None and rec.failures and now - rec.last_failure > self.forget_after:
            rec.failures = 0
        if rec is None:
            if len(self._records) >= self.max_clients:
                self._prune(now)
            rec = self._records[key] = _Record(last_failure=now)
        return rec

    def _prune(self, now: float) -> None:
        """Forget idle clients, then the oldest ones; never the count of all clients."""
        clients = {k: r for k, r in self._records.items() if k != self.GLOBAL}
        for k, r in clients.items():
            if now - r.last_failure > self.forget_after:
                del self._records[k]
        while len(self._records) >= self.max_clients:
            oldest = min(
                (k for k in self._records if k != self.GLOBAL),
                key=lambda k: self._records[k].last_failure,
            )
            del self._records[oldest]

    def reserve(self, client: str) -> float | None:
        """Seconds this attempt must wait before its password is checked, or None: refused."""
        now = self.clock()
        slots = []
        for key, threshold in self._keys(client):
            rec = self._get(key, now)
            slots.append((rec, max(now, rec.next_at), self._delay(rec.failures, threshold)))
        start = max(slot for _, slot, _ in slots)
        if start - now > self.max_wait:
            return None
        for rec, _, delay in slots:
            rec.next_at = start + delay
        return start - now

    def retry_after(self, client: str) -> float:
        """Seconds until an attempt from ``client`` would not be refused."""
        now = self.clock()
        nexts = [self._records[k].next_at for k, _ in self._keys(client) if k in self._records]
        return max(0.0, max(nexts, default=now) - self.max_wait - now)

    def failed(self, client: str) -> None:
        now = self.clock()
        for key, threshold in self._keys(client):
            rec = self._get(key, now)
            rec.failures += 1
            rec.last_failure = now
            rec.next_at = max(rec.next_at, now + self._delay(rec.failures, threshold))

    def succeeded(self, client: str) -> None:
        self._records.pop(client, None)

    def failures(self, client: str) -> int:
        rec = self._records.get(client)
        return rec.failures if rec else 0


# --- what the page may show -------------------------------------------------------------


def public_status(status: dict) -> dict:
    """``status`` without this machine's absolute paths: the store's folder by its name only,
    model files by their file name; document paths and indexed roots are dropped."""
    out = {k: v for k, v in status.items() if k not in ("roots", "data_dir")}
    store = out.get("store")
    if isinstance(store, str) and " at " in store:
        head, _, where = store.partition(" at ")
        out["store"] = f"{head} in {Path(where).name or where}/"
    for key in ("embedder", "generator"):
        value = out.get(key)
        if isinstance(value, str) and os.sep in value:
            out[key] = Path(value).name
    out["sources"] = [
        {k: v for k, v in s.items() if k != "path"} for s in status.get("sources", [])
    ]
    return out
