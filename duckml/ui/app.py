"""The UI's Starlette application: ``create_app(store_path)``; routes in :mod:`duckml.ui.pages`.

>>> import duckml, tempfile, os
>>> from starlette.testclient import TestClient
>>> path = os.path.join(tempfile.mkdtemp(), "s.duckdb"); _ = duckml.connect(path).sql("SELECT 1")
>>> TestClient(create_app(path), base_url="http://localhost").get("/").status_code
200
"""

from __future__ import annotations

import datetime as dt
import math
import os
from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from duckml.clock import duration_text
from duckml.errors import NotFoundError
from duckml.sqlresult import Cut
from duckml.ui.security import GuardMiddleware, allowed_hosts

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"


def fmt_number(value) -> str:
    """Short display of a metric or param number.

    >>> fmt_number(0.000123456), fmt_number(1234567.0), fmt_number(float("nan")), fmt_number(None)
    ('0.0001235', '1.235e+06', 'NaN', '')
    """
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        return f"{value:.4g}"
    return str(value)


def fmt_time(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)




def fmt_bytes(size) -> str:
    if size is None:
        return ""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return str(size)


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=fmt_number, time=fmt_time, bytes=fmt_bytes)
    env.tests["cut"] = lambda value: isinstance(value, Cut)  # text the SQL console fetched cut short
    env.globals.update(duration=duration_text)
    return Jinja2Templates(env=env)


def create_app(store_path: str | os.PathLike | None = None, host: str = "127.0.0.1",
               read_only: bool = False) -> Starlette:
    """The UI over a store (``store_path``, else the selected store), answering to ``host``.

    The store must exist: a UI never creates one. ``host`` is the address served on; requests naming
    any other Host than it or localhost are refused (400). ``read_only`` refuses every write (403) and
    hides the edit controls.
    """
    import duckml
    from duckml.store import resolve_store_path
    from duckml.store.selection import is_lake_spec
    from duckml.ui import artifact_pages, csrf, model_pages, pages, writes

    path = resolve_store_path(store_path)
    if not is_lake_spec(path) and not path.exists():  # a lake is checked by its first read
        raise NotFoundError(f"no store at {path} (choose one with --store or $DUCKML_STORE)")
    if store_path is not None:
        duckml.set_store(path)  # duckml's API functions used by the pages read the selected store
    store = duckml.connect(path)
    app = Starlette(
        routes=[*writes.routes(), *model_pages.routes(), *artifact_pages.routes(), *pages.routes(),
                Mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")],
        middleware=[Middleware(GuardMiddleware, hosts=allowed_hosts(host)), Middleware(csrf.CsrfCookieMiddleware)],
        exception_handlers=pages.exception_handlers(),
    )
    app.state.store = store
    app.state.templates = _templates()
    app.state.read_only = read_only
    app.state.authorize = None  # an auth layer's hook: authorize(request, role) raises PermissionError
    app.state.csrf_secret = csrf.load_secret(store.artifact_root, read_only)
    app.state.templates.env.globals.update(read_only=read_only, csrf_token=csrf.request_token)
    return app


__all__ = ["create_app", "Route"]
