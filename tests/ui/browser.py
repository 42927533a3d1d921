"""A real headless Chromium against a real uvicorn server, for the browser tests and the README screenshots.

Debian's ``chromium`` (apt) is driven by Playwright for Python with ``executable_path``: Playwright's own
browser download cannot work here (no internet at run time).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from contextlib import contextmanager

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str | None:
    return CHROMIUM if shutil.which(CHROMIUM) else shutil.which("chromium")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(store_path):
    """The UI of a store on 127.0.0.1 and a free port, in a thread; yields its base URL."""
    import uvicorn

    from duckml.ui import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(store_path), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def wait_until(page, expression: str, timeout: float = 20.0):
    """Poll a JS expression until truthy (wait_for_function would need 'unsafe-eval', which our CSP forbids)."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def wait_for_charts(page, expected: int, timeout: float = 20.0) -> int:
    """Wait until ``expected`` uPlot charts exist on the page; return how many there are."""
    wait_until(page, f"window.duckmlCharts && window.duckmlCharts.length >= {expected}", timeout)
    return page.evaluate("window.duckmlCharts ? window.duckmlCharts.length : 0")


def canvas_sizes(page) -> list[tuple[int, int]]:
    return page.evaluate("[...document.querySelectorAll('.uplot canvas')].map(c => [c.width, c.height])")
