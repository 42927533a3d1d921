"""The artifact browser: ``/runs/<id>/artifacts/<path>`` (a tree and a preview) and the sandboxed frame.

HTML and SVG artifacts may carry script. They are never part of a page: the page embeds them in an
``<iframe sandbox>`` (no scripts, an opaque origin) whose document comes from ``/runs/<id>/artifact-frame``,
a response with its own CSP (``default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox``) that
only this server's pages may frame, so even opened on its own it runs nothing and reads nothing.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from duckml.errors import NotFoundError
from duckml.ui import artifact_queries
from duckml.ui.run_files import artifact_object

FRAME_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox; frame-ancestors 'self'"


def artifacts(request: Request) -> Response:
    run_id = request.path_params["run_id"]
    path = request.path_params.get("path", "").strip("/")
    store = request.app.state.store
    data = artifact_queries.run_artifacts(store, run_id)
    paths = [a["path"] for a in data["artifacts"]]
    preview = folder = None
    if path in paths:
        preview = artifact_queries.preview(store, run_id, path)
    elif path and not any(p.startswith(path + "/") for p in paths):
        raise NotFoundError(f"run {run_id!r} has no artifact {path!r}")
    else:
        folder = path
    quoted = quote(path, safe="")
    return request.app.state.templates.TemplateResponse(request, "artifacts.html", {
        "run": data, "tree": artifact_queries.tree(data["artifacts"]), "current": path, "folder": folder,
        "preview": preview, "open_all": len(paths) <= 200, "rows_cap": artifact_queries.TABLE_ROWS,
        "text_cap": artifact_queries.TEXT_BYTES,
        "raw_url": f"/runs/{run_id}/artifact?path={quoted}", "frame_url": f"/runs/{run_id}/artifact-frame?path={quoted}",
    })


def artifact_frame(request: Request) -> Response:
    """An HTML or SVG artifact as a document for the sandboxed frame (other types: 404)."""
    run_id = request.path_params["run_id"]
    found = artifact_object(request.app.state.store, run_id, request.query_params.get("path", ""))
    if artifact_queries.kind_of(found.path, found.media_type) != "frame":
        raise NotFoundError(f"artifact {found.path!r} is not an HTML or SVG document")
    media_type = "image/svg+xml" if found.path.lower().endswith(".svg") else "text/html"
    response = FileResponse(found.file, media_type=media_type, filename=found.path.rsplit("/", 1)[-1],
                            content_disposition_type="inline")
    response.headers["content-security-policy"] = FRAME_CSP
    response.headers["x-frame-options"] = "SAMEORIGIN"
    response.headers["cache-control"] = "no-store"
    return response


def routes() -> list[Route]:
    return [
        Route("/runs/{run_id}/artifacts", artifacts),
        Route("/runs/{run_id}/artifacts/{path:path}", artifacts),
        Route("/runs/{run_id}/artifact-frame", artifact_frame),
    ]
