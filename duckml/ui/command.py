"""The body of ``duckml ui``: check the store, warn about a non-loopback address, serve with uvicorn."""

from __future__ import annotations

import threading
import webbrowser

import click

from duckml.ui.security import LOOPBACK_NAMES, host_name


def url_for(host: str, port: int) -> str:
    """The address to open in a browser.

    >>> url_for("127.0.0.1", 5000), url_for("::1", 8080), url_for("0.0.0.0", 80)
    ('http://127.0.0.1:5000/', 'http://[::1]:8080/', 'http://127.0.0.1:80/')
    """
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def serve(host: str = "127.0.0.1", port: int = 5000, open_browser: bool = True, read_only: bool = False) -> None:
    """Serve the UI for the selected store until interrupted (Ctrl-C); ``read_only`` refuses every write."""
    import uvicorn

    from duckml.ui.app import create_app

    app = create_app(None, host=host, read_only=read_only)  # raises NotFoundError (one clean CLI line) when there is no store
    if host_name(host) not in LOOPBACK_NAMES:
        click.echo(f"Warning: serving on {host}: anyone who can reach this address can read every run, "
                   "param and artifact of this store. Use the default 127.0.0.1 unless you mean it.", err=True)
        if host_name(host) in ("0.0.0.0", "::"):
            click.echo("Warning: requests must still name localhost or the bound address as their Host; "
                       "to be reached from elsewhere, pass this machine's address with --host.", err=True)
    url = url_for(host, port)
    mode = "read-only" if read_only else "editable; --read-only turns writes off"
    click.echo(f"duckml ui: serving {app.state.store.path} at {url} ({mode}; Ctrl-C to stop)")
    if open_browser:
        threading.Timer(1.0, lambda: webbrowser.open(url)).start()
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False, proxy_headers=False)
