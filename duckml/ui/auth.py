"""Sign-in for ``duckml ui --auth USERS_FILE``: sessions, throttled sign-in, and roles on writes.

Sessions live server-side in a small SQLite file in a private (0700) folder beside the users file, so every
uvicorn worker sees the same sessions: a sign-in answered by one worker holds for the next request whichever
worker answers, and a sign-out ends it for all of them. The cookie carries only a random id; the file keeps
its SHA-256, so reading the file gives no usable cookie. Each sign-in makes a new id (no fixation).

Failed sign-ins are counted per user name and per client address in the same file: after a few, each next
attempt must wait a growing delay (answered 429 without checking the password), and after ``lock_after``
failures the account is locked for ``lock_seconds``; the sign-in page says so.

Roles are checked here by method and path, whatever handlers exist: a request other than GET/HEAD needs
``editor`` under ``/api/runs/`` and ``admin`` anywhere else. The signed-in user's name is set as the
store's actor (:mod:`duckml.store.actor`) around each request, so writes record who made them.

For the CSRF check (a separate module): ``session_id(request)`` and ``csrf_token(request)`` give the
session's id and a random token made at sign-in and kept with it; with ``--auth`` the page's token should
be ``csrf_token(request)`` and a write's ``X-CSRF-Token`` compared with it (``hmac.compare_digest``).

>>> safe_next("/runs/abc?x=1"), safe_next("//evil.example/"), safe_next("https://evil.example/"), safe_next(None)
('/runs/abc?x=1', '/', '/', '/')
"""

from __future__ import annotations

import hashlib
import html
import json
import secrets
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from duckml.errors import DuckmlError, NotFoundError
from duckml.store.actor import acting_as
from duckml.ui.security import host_name
from duckml.ui.users import MAX_PASSWORD, User, check_password, load_users, role_rank

COOKIE = "duckml_session"
READ_METHODS = frozenset({"GET", "HEAD"})
OPEN_PATHS = ("/login", "/logout")  # reachable without a session (/static/ too: the login page's style)
STATE_KEY = "duckml_auth"  # where the request's Session is kept in the ASGI scope's state
MAX_FORM = 8192


@dataclass(frozen=True)
class AuthSettings:
    """How sign-in behaves; ``now`` is the clock (tests move it instead of sleeping)."""

    users_file: Path
    idle_seconds: float = 8 * 3600
    free_failures: int = 3  # typos: no delay before this many failures in a row
    delay_seconds: float = 1.0  # then the wait doubles with each failure, up to max_delay_seconds
    max_delay_seconds: float = 60.0
    lock_after: int = 10  # failures of one user in a row that lock the account
    lock_seconds: float = 15 * 60
    now: Callable[[], float] = field(default=time.time, repr=False)


@dataclass(frozen=True)
class Session:
    id: str
    user: User
    csrf_token: str


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site, else ``/`` (no open redirect to another origin)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return "/"
    return target


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Auth:
    """The users file and the shared session/throttle file of one ``--auth`` server."""

    def __init__(self, settings: AuthSettings):
        self.settings = settings
        self.users_file = Path(settings.users_file)
        self._users_key = None
        self._users: dict[str, User] = {}
        self.users()  # refuse a missing, wrongly-moded or malformed file at start
        self.folder = self.users_file.parent / f".{self.users_file.name}.sessions"
        self.folder.mkdir(mode=0o700, exist_ok=True)
        self.folder.chmod(0o700)
        self.db_path = self.folder / "sessions.sqlite3"
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("""CREATE TABLE IF NOT EXISTS sessions (id_sha256 TEXT PRIMARY KEY, user TEXT NOT NULL,
                          csrf_token TEXT NOT NULL, created REAL NOT NULL, last_seen REAL NOT NULL)""")
            db.execute("""CREATE TABLE IF NOT EXISTS failures (kind TEXT NOT NULL, key TEXT NOT NULL,
                          count INTEGER NOT NULL, last REAL NOT NULL, locked_until REAL,
                          PRIMARY KEY (kind, key))""")
        self.db_path.chmod(0o600)

    def _db(self) -> sqlite3.Connection:
        # A short-lived connection per use: cheap, and safe from any thread or worker process.
        db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        db.execute("PRAGMA busy_timeout=30000")
        return _Closing(db)

    def users(self) -> dict[str, User]:
        """The users file, read again whenever it changed (a removed user's sessions end at once)."""
        try:
            info = self.users_file.stat()
        except FileNotFoundError:
            raise NotFoundError(f"the users file {self.users_file} is gone; nobody can sign in") from None
        key = (info.st_mtime_ns, info.st_size, info.st_ino, info.st_mode)
        if key != self._users_key:
            self._users, self._users_key = load_users(self.users_file), key
        return self._users

    # -- sessions ----------------------------------------------------------------------------------
    def start_session(self, user: User, replacing: str | None = None) -> Session:
        """A new session for ``user``; the one the request came with (if any) ends."""
        now = self.settings.now()
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE last_seen < ?", [now - self.settings.idle_seconds])
            if replacing:
                db.execute("DELETE FROM sessions WHERE id_sha256 = ?", [_digest(replacing)])
            db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)", [_digest(session_id), user.name, csrf, now, now])
        return Session(session_id, user, csrf)

    def session(self, session_id: str | None) -> Session | None:
        """The live session with this id, its idle clock restarted; None when unknown, ended or expired."""
        if not session_id or len(session_id) > 100:
            return None
        now = self.settings.now()
        with self._db() as db:
            row = db.execute("SELECT user, csrf_token, last_seen FROM sessions WHERE id_sha256 = ?",
                             [_digest(session_id)]).fetchone()
            if row is None:
                return None
            name, csrf, last_seen = row
            if now - last_seen > self.settings.idle_seconds:
                db.execute("DELETE FROM sessions WHERE id_sha256 = ?", [_digest(session_id)])
                return None
            if now - last_seen > 30:  # not a write per request: idle expiry does not need the second
                db.execute("UPDATE sessions SET last_seen = ? WHERE id_sha256 = ?", [now, _digest(session_id)])
        user = self.users().get(name)
        return Session(session_id, user, csrf) if user is not None else None

    def end_session(self, session_id: str | None) -> None:
        if session_id:
            with self._db() as db:
                db.execute("DELETE FROM sessions WHERE id_sha256 = ?", [_digest(session_id)])

    # -- throttling --------------------------------------------------------------------------------
    def wait_seconds(self, name: str, address: str) -> tuple[float, bool]:
        """How long a sign-in for ``name`` from ``address`` must still wait, and whether it is a lock."""
        now, s = self.settings.now(), self.settings
        waits = [(0.0, False)]
        with self._db() as db:
            for kind, key in (("user", name), ("address", address)):
                row = db.execute("SELECT count, last, locked_until FROM failures WHERE kind = ? AND key = ?",
                                 [kind, key]).fetchone()
                if row is None:
                    continue
                count, last, locked_until = row
                if locked_until is not None:
                    waits.append((locked_until - now, True))
                elif count >= s.free_failures:
                    delay = min(s.delay_seconds * 2 ** (count - s.free_failures), s.max_delay_seconds)
                    waits.append((last + delay - now, False))
        return max(waits)

    def record_failure(self, name: str, address: str) -> None:
        now, s = self.settings.now(), self.settings
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            for kind, key in (("user", name), ("address", address)):
                row = db.execute("SELECT count, locked_until FROM failures WHERE kind = ? AND key = ?",
                                 [kind, key]).fetchone()
                count = 1 if row is None or (row[1] is not None and row[1] <= now) else row[0] + 1
                locked = now + s.lock_seconds if kind == "user" and count >= s.lock_after else None
                db.execute("INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?)", [kind, key, count, now, locked])
            db.execute("COMMIT")

    def clear_failures(self, name: str, address: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM failures WHERE (kind = 'user' AND key = ?) OR (kind = 'address' AND key = ?)",
                       [name, address])

    # -- the two routes ----------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        return [Route("/login", self.login_page, methods=["GET"]), Route("/login", self.login, methods=["POST"]),
                Route("/logout", self.logout, methods=["POST"])]

    def login_page(self, request: Request) -> Response:
        return _login_html(request.query_params.get("next"), "")

    async def login(self, request: Request) -> Response:
        if not _same_origin(request):
            return _login_html(None, "Sign in from this site's own page.", status=403)
        body = b""
        async for chunk in request.stream():  # a sign-in form is small: stop reading a large body early
            body += chunk
            if len(body) > MAX_FORM:
                return _login_html(None, "The sign-in form was too large.", status=413)
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        name, password = form.get("username", "")[:100], form.get("password", "")[:MAX_PASSWORD]
        target = safe_next(form.get("next"))
        address = request.client.host if request.client else "?"
        wait, locked = self.wait_seconds(name, address)
        if wait > 0:
            return _refused(target, wait, locked)
        try:
            users = self.users()
        except DuckmlError as error:
            return _login_html(target, _unavailable(error), status=503)
        user = await run_in_threadpool(check_password, users, name, password)
        if user is None:
            self.record_failure(name, address)
            wait, locked = self.wait_seconds(name, address)
            if locked:
                return _refused(target, wait, locked)
            return _login_html(target, "Wrong user name or password.", status=401)
        self.clear_failures(name, address)
        session = self.start_session(user, replacing=request.cookies.get(COOKIE))
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, session.id, httponly=True, samesite="strict", path="/",
                            secure=request.url.scheme == "https")
        return response

    def logout(self, request: Request) -> Response:
        if not _same_origin(request):  # another site must not sign a user out (or in, above)
            return Response("Forbidden: cross-origin sign-out\n", status_code=403, media_type="text/plain")
        self.end_session(request.cookies.get(COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                               secure=request.url.scheme == "https")
        return response


class _Closing:
    """A sqlite3 connection that closes when its ``with`` block ends (sqlite3's own only commits)."""

    def __init__(self, db):
        self.db = db

    def __enter__(self):
        return self.db

    def __exit__(self, *exc):
        self.db.close()


def _unavailable(error: DuckmlError) -> str:
    """The server's log gets the reason (with the file's path); the browser a message without it."""
    print(f"duckml ui: {error}", file=sys.stderr, flush=True)
    return "Sign-in is unavailable: the server's users file is unsafe or missing (see the server's output)."


def _refused(target: str, wait: float, locked: bool) -> Response:
    seconds = max(1, int(wait + 0.999))
    if locked:
        until = time.strftime("%H:%M UTC", time.gmtime(time.time() + seconds))
        message = f"This account is locked after too many failed sign-ins, until {until} (in {seconds} s)."
    else:
        message = f"Too many failed sign-ins: wait {seconds} s before trying again."
    response = _login_html(target, message, status=429)
    response.headers["retry-after"] = str(seconds)
    return response


def _login_html(target: str | None, message: str, status: int = 200) -> Response:
    # A page of its own (not base.html): it must not need anything a signed-in page reads.
    note = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><link rel="icon" href="data:,">
<title>Sign in · duckml</title><link rel="stylesheet" href="/static/app.css"></head>
<body><header class="top"><span class="brand">duckml</span></header><main>
<h1>Sign in</h1>{note}
<form method="post" action="/login">
<input type="hidden" name="next" value="{html.escape(safe_next(target))}">
<p><label>User name <input name="username" autocomplete="username" required autofocus></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit">Sign in</button></p>
</form></main></body></html>"""
    return HTMLResponse(page, status_code=status, headers={"cache-control": "no-store"})


def _same_origin(request: Request) -> bool:
    """False when the browser says the form came from another site (no Origin header: not a browser's
    cross-site form, which always sends one on POST). Host names only: behind a TLS proxy the scheme and
    port the server sees may differ from the browser's."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return host_name(urlsplit(origin).netloc) == host_name(request.headers.get("host", ""))


def _cookie(scope) -> str | None:
    header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"cookie"), "")
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == COOKIE:
            return value
    return None


def required_role(method: str, path: str) -> str:
    """The least role that may make this request.

    >>> [required_role(*r) for r in (("GET", "/models/x"), ("PUT", "/api/runs/1/tags/a"), ("PUT", "/api/models/m"))]
    ['viewer', 'editor', 'admin']
    """
    if method in READ_METHODS:
        return "viewer"
    return "editor" if path.startswith("/api/runs/") else "admin"


class AuthMiddleware:
    """Every request but sign-in/out and static files needs a live session; writes need a role."""

    def __init__(self, app, auth: Auth):
        self.app = app
        self.auth = auth

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope["path"], scope["method"]
        if path in OPEN_PATHS or path.startswith("/static/"):
            return await self.app(scope, receive, send)
        try:
            session = await run_in_threadpool(self.auth.session, _cookie(scope))
        except DuckmlError as error:  # the users file was made unsafe or removed while serving
            return await _json(send, 503, _unavailable(error))
        if session is None:
            if path.startswith("/api/") or method not in READ_METHODS:
                return await _json(send, 401, "sign in first (POST /login)")
            here = path + ("?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else "")
            response = RedirectResponse(f"/login?next={quote(here, safe='')}", status_code=303)
            return await response(scope, receive, send)
        needed = required_role(method, path)
        if role_rank(session.user.role) < role_rank(needed):
            return await _json(send, 403, f"{session.user.name} is a {session.user.role}; this needs {needed}")
        scope.setdefault("state", {})[STATE_KEY] = session
        with acting_as(session.user.name):
            return await self.app(scope, receive, send)


async def _json(send, status: int, error: str) -> None:
    body = json.dumps({"error": error}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# -- hooks for pages and the CSRF check ------------------------------------------------------------
def current_session(request: Request) -> Session | None:
    """The request's session under ``--auth``, else None."""
    return request.scope.get("state", {}).get(STATE_KEY)


def session_id(request: Request) -> str | None:
    """The session id of the request (None without ``--auth``): what a CSRF token should be bound to."""
    session = current_session(request)
    return session.id if session else None


def csrf_token(request: Request) -> str | None:
    """The CSRF token made at sign-in for this session (None without ``--auth``)."""
    session = current_session(request)
    return session.csrf_token if session else None


def signed_in(request: Request) -> User | None:
    """The signed-in user, for templates (the sign-out button)."""
    session = current_session(request)
    return session.user if session else None
