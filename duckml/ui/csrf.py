"""CSRF protection of the UI's writes: a per-browser token in every page, checked with ``Origin``.

Each browser gets a random nonce in an HttpOnly, SameSite=Strict cookie; its token is
``HMAC(secret, nonce)``, printed in every page's ``<meta name="csrf-token">``. A write must send that
token in ``X-CSRF-Token`` and an ``Origin`` equal to the page's own. Another site can make the browser send
the cookie, but it can neither read the page (no CORS) to learn the token nor forge the Origin header.

The secret must be the same in every worker of a server (``uvicorn --workers N`` builds one app per
process), so it is not drawn per process: it comes from ``$DUCKML_UI_SECRET`` when set, else from the file
``.ui-secret`` beside the store's artifacts (created once, mode 0600, race-safe). A read-only UI never
writes that file: its writes are refused anyway.

>>> secret = b"k" * 32
>>> token = token_for(secret, "nonce")
>>> len(token), token == token_for(secret, "nonce"), token == token_for(b"x" * 32, "nonce")
(64, True, False)
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
import time
from hashlib import sha256
from pathlib import Path

COOKIE = "duckml_csrf"
HEADER = "x-csrf-token"
SECRET_ENV = "DUCKML_UI_SECRET"
SECRET_FILE = ".ui-secret"
_NONCE = re.compile(r"[A-Za-z0-9_-]{32,64}")


def token_for(secret: bytes, nonce: str) -> str:
    """The CSRF token of a browser whose cookie holds ``nonce``."""
    return hmac.new(secret, b"duckml-csrf:" + nonce.encode("ascii"), sha256).hexdigest()


def load_secret(folder: Path | None, read_only: bool = False) -> bytes:
    """The server's secret: ``$DUCKML_UI_SECRET``, else the shared file in ``folder`` (created if missing),
    else (read-only, or a folder we cannot write) a random one for this process only.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> load_secret(folder) == load_secret(folder), (folder / SECRET_FILE).stat().st_mode & 0o777 == 0o600
    (True, True)
    """
    from_env = os.environ.get(SECRET_ENV, "")
    if from_env:
        return from_env.encode()
    if read_only or folder is None:
        return secrets.token_bytes(32)
    path = Path(folder) / SECRET_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return _read_secret(path)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        return _read_secret(path)
    except OSError:
        return secrets.token_bytes(32)


def _read_secret(path: Path) -> bytes:
    # another worker may have created the file a moment ago and not written it yet
    for _ in range(100):
        text = path.read_text().strip()
        if text:
            return text.encode()
        time.sleep(0.01)
    raise OSError(f"{path} stays empty")


def cookie_nonce(headers) -> str | None:
    """The nonce of the request's CSRF cookie, if it has a well-formed one (``headers``: ASGI pairs).

    >>> cookie_nonce([(b"cookie", b"a=1; duckml_csrf=" + b"n" * 43)]) == "n" * 43
    True
    """
    for name, value in headers:
        if name != b"cookie":
            continue
        for part in value.decode("latin-1").split(";"):
            key, _, found = part.strip().partition("=")
            if key == COOKIE and _NONCE.fullmatch(found):
                return found
    return None


class CsrfCookieMiddleware:
    """Give every browser without a CSRF cookie a fresh nonce (``request.state.csrf_nonce``) and set it."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        nonce = cookie_nonce(scope["headers"])
        fresh = nonce is None
        if fresh:
            nonce = secrets.token_urlsafe(32)
        scope.setdefault("state", {})["csrf_nonce"] = nonce

        async def send_with_cookie(message):
            if fresh and message["type"] == "http.response.start":
                cookie = f"{COOKIE}={nonce}; Path=/; HttpOnly; SameSite=Strict"
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode())]}
            await send(message)

        return await self.app(scope, receive, send_with_cookie)


def request_token(request) -> str:
    """The token the page served for ``request`` carries in its meta tag: with sign-in (``--auth``) the one
    made for the session at sign-in, so a token never outlives its session; else the browser cookie's."""
    bound = _session_token(request)
    return bound if bound is not None else token_for(request.app.state.csrf_secret, request.state.csrf_nonce)


def _session_token(request) -> str | None:
    if getattr(request.app.state, "auth", None) is None:
        return None
    from duckml.ui.auth import csrf_token

    return csrf_token(request)


def refusal(request) -> str | None:
    """Why a write must be refused (a sentence), or None when its Origin and token are right."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.headers.get('host', '')}".lower()
    if not origin:
        return "a write must carry an Origin header (send it from the UI's own pages)"
    if origin.lower() != own:
        return f"a write from another site ({origin}) is refused"
    sent = request.headers.get(HEADER, "")
    bound = _session_token(request)
    if bound is not None:
        if not sent or not hmac.compare_digest(sent, bound):
            return "the X-CSRF-Token header is missing, wrong or stale; reload the page"
        return None
    nonce = cookie_nonce(request.scope["headers"])
    if not sent or nonce is None:
        return "a write must carry the X-CSRF-Token header of the page and its cookie; reload the page"
    if not hmac.compare_digest(sent, token_for(request.app.state.csrf_secret, nonce)):
        return "the X-CSRF-Token header is wrong or stale; reload the page"
    return None
