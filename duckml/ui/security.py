"""The UI's guards, as one ASGI middleware: a Host allow-list (DNS rebinding) and security headers.

A page on evil.example whose name resolves to 127.0.0.1 could otherwise read the UI from the user's own
browser (MLflow's CVE-2025-14279): every request whose Host is not the bound address or localhost gets a
400 before any route runs. Every response gets a strict CSP (scripts, styles and images from this origin
only, no framing), ``nosniff``, and no CORS header at all, error responses included (an unexpected error
gets a plain 500 from here, since Starlette's own error page is built outside any middleware).
"""

from __future__ import annotations

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
CSP = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def host_name(header: str) -> str:
    """The host part of a Host header, lower-cased, without port or IPv6 brackets.

    >>> host_name("LocalHost:5000"), host_name("[::1]:80"), host_name("127.0.0.1")
    ('localhost', '::1', '127.0.0.1')
    """
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    if header.count(":") == 1:
        return header.partition(":")[0]
    return header


def allowed_hosts(bound_host: str, names: tuple[str, ...] = ()) -> frozenset[str]:
    """Loopback names, the address the server is bound to (``0.0.0.0``/``::`` add nothing), and ``names``
    (``--allowed-host``: the names colleagues reach it by).

    >>> sorted(allowed_hosts("0.0.0.0", ("ML.example.com",)) - LOOPBACK_NAMES)
    ['ml.example.com']
    """
    extra = {host_name(bound_host), *(host_name(n) for n in names)} - {"0.0.0.0", "::", ""}
    return LOOPBACK_NAMES | extra


class GuardMiddleware:
    """Refuse foreign Host headers with 400; add the security headers to every response."""

    def __init__(self, app, hosts: frozenset[str]):
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        if host_name(host) not in self.hosts:
            body = b"Bad Request: this server answers only to localhost or the address it was started on\n"
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                    (b"content-length", str(len(body)).encode()), *HEADERS]})
            await send({"type": "http.response.body", "body": body})
            return None

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if not k.lower().startswith(b"access-control-")]
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in HEADERS if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        started = False

        async def send_tracked(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send_with_headers(message)

        try:
            return await self.app(scope, receive, send_tracked)
        except Exception:
            # Starlette's own 500 page is sent by a middleware outside this one, without these headers:
            # answer here, then let the error propagate to be logged (the server sends nothing more).
            if not started:
                body = b"Internal Server Error\n"
                await send({"type": "http.response.start", "status": 500,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                        (b"content-length", str(len(body)).encode()), *HEADERS]})
                await send({"type": "http.response.body", "body": body})
            raise
