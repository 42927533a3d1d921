"""The body of ``duckml ui``: check the store and the serving options, then serve with uvicorn.

With ``--workers N`` uvicorn starts N processes that each build the app themselves, from an import string
(:func:`app_from_environment`) and the options passed down in ``$DUCKML_UI_OPTIONS``; each reads the store
through duckml's own read path, and sessions are shared through the file beside the users file.
"""

from __future__ import annotations

import json
import os
import threading
import webbrowser

import click

from duckml.errors import InvalidInputError
from duckml.ui.security import LOOPBACK_NAMES, host_name

OPTIONS_VARIABLE = "DUCKML_UI_OPTIONS"


def url_for(host: str, port: int) -> str:
    """The address to open in a browser.

    >>> url_for("127.0.0.1", 5000), url_for("::1", 8080), url_for("0.0.0.0", 80)
    ('http://127.0.0.1:5000/', 'http://[::1]:8080/', 'http://127.0.0.1:80/')
    """
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def check_exposure(host: str, users_file) -> None:
    """Refuse to serve a non-loopback address without sign-in.

    >>> check_exposure("127.0.0.1", None)
    >>> check_exposure("0.0.0.0", None)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    duckml.errors.InvalidInputError: --host 0.0.0.0 serves beyond this machine: add --auth USERS_FILE ...
    """
    if host_name(host) not in LOOPBACK_NAMES and users_file is None:
        raise InvalidInputError(f"--host {host} serves beyond this machine: add --auth USERS_FILE (create users "
                                "with `duckml ui users add NAME --role viewer --users-file USERS_FILE`), "
                                "or serve on 127.0.0.1")


def app_from_environment():
    """The app of one uvicorn worker, built from ``$DUCKML_UI_OPTIONS`` (set by :func:`serve`)."""
    from duckml.ui.app import create_app

    options = json.loads(os.environ[OPTIONS_VARIABLE])
    return create_app(options["store"], host=options["host"], read_only=options["read_only"],
                      users_file=options["users_file"],
                      allowed_host_names=tuple(options["allowed_host_names"]),
                      session_hours=options["session_hours"])


def serve(host: str = "127.0.0.1", port: int = 5000, open_browser: bool = True, read_only: bool = False,
          users_file=None, allowed_host_names: tuple[str, ...] = (), forwarded_allow_ips: str | None = None,
          workers: int = 1, session_hours: float = 8.0) -> None:
    """Serve the UI for the selected store until interrupted (Ctrl-C); ``read_only`` refuses every write."""
    import uvicorn

    from duckml.ui.app import create_app

    check_exposure(host, users_file)
    # raises NotFoundError (one clean CLI line) when there is no store, UsersFileError for a bad users file
    app = create_app(None, host=host, read_only=read_only, users_file=users_file,
                     allowed_host_names=tuple(allowed_host_names), session_hours=session_hours)
    if host_name(host) not in LOOPBACK_NAMES and host_name(host) in ("0.0.0.0", "::") and not allowed_host_names:
        click.echo("Warning: requests must still name localhost or the bound address as their Host; "
                   "to be reached by a name, pass it with --allowed-host.", err=True)
    url = url_for(host, port)
    signin = f"sign-in with {users_file}" if users_file else "no sign-in: this machine only"
    mode = "read-only" if read_only else "editable; --read-only turns writes off"
    click.echo(f"duckml ui: serving {app.state.store.path} at {url} ({signin}; {mode}; Ctrl-C to stop)")
    if open_browser:
        threading.Timer(1.0, lambda: webbrowser.open(url)).start()
    proxy = {"proxy_headers": forwarded_allow_ips is not None}
    if forwarded_allow_ips is not None:
        proxy["forwarded_allow_ips"] = forwarded_allow_ips
    common = dict(host=host, port=port, log_level="warning", server_header=False, **proxy)
    if workers == 1:
        uvicorn.run(app, **common)
        return
    store = app.state.store
    os.environ[OPTIONS_VARIABLE] = json.dumps({
        "store": str(store.path), "host": host, "read_only": read_only,
        "users_file": str(users_file) if users_file else None,
        "allowed_host_names": list(allowed_host_names), "session_hours": session_hours})
    data_path = getattr(store, "data_path", None)
    if data_path is not None:
        os.environ.setdefault("DUCKML_DATA_PATH", str(data_path))
    store.close()
    uvicorn.run("duckml.ui.command:app_from_environment", factory=True, workers=workers, **common)
