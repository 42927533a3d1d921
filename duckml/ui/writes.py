"""The UI's writes: JSON routes under ``/api`` that call duckml's public Python API, nothing else.

Run edits go through the tracking API (the journal), registry edits through the registry API (its write
transaction and ``registry_events``), so the UI is never a second write path: the same checks, the same
history. Every route is declared with :func:`write_route` and a role (``edit`` for runs and their tags,
``admin`` for the registry); :data:`WRITE_ROUTES` lists them, and ``app.state.authorize(request, role)``
(None by default; raises PermissionError to refuse) is where an authentication layer decides who may do
what. Before any handler runs, the
guard refuses with 403 a read-only server, a foreign ``Origin`` and a missing or wrong CSRF token
(:mod:`duckml.ui.csrf`); bad input answers 400 ``{"error": …}`` naming it, an unknown run or model 404.

>>> sorted({route.role for route in WRITE_ROUTES})
['admin', 'edit']
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import duckml
from duckml.errors import InvalidInputError, NotFoundError, RunStateError, StoreLockedError
from duckml.tracking import validation
from duckml.ui import csrf

ROLES = ("read", "edit", "admin")
DESCRIPTION_TAG = "mlflow.note.content"  # MLflow's run description
MAX_BODY_BYTES = 1_000_000


@dataclass(frozen=True)
class WriteRoute:
    method: str
    path: str
    role: str
    handler: Callable
    body: bool  # whether it takes a JSON object


WRITE_ROUTES: list[WriteRoute] = []


def write_route(method: str, path: str, role: str, body: bool = True):
    """Declare a write handler ``handler(store, body, **path_params) -> dict`` for ``method path``."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")

    def register(handler):
        WRITE_ROUTES.append(WriteRoute(method, path, role, handler, body))
        return handler
    return register


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _fields(body: dict, allowed: set[str], required: set[str] = frozenset()) -> dict:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidInputError(f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                                f"this request takes {', '.join(sorted(allowed))}")
    missing = sorted(required - set(body))
    if missing:
        raise InvalidInputError(f"missing field {missing[0]!r}")
    return body


def _text(body: dict, field: str, optional: bool = False) -> str | None:
    value = body.get(field)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"{field} must be a string, got {type(value).__name__} {value!r}")
    return value


def _forget_cached_runs(store) -> None:
    # The UI lives long and other programs delete and restore runs: ask the store, not this process's cache.
    from duckml.tracking.runs import forget_cached_runs
    forget_cached_runs(store)


# -- runs ------------------------------------------------------------------------------------------------
@write_route("PATCH", "/api/runs/{run_id}", role="edit")
def edit_run(store, body: dict, run_id: str) -> dict:
    """``{"name": …, "description": …}`` (either or both): rename, or set MLflow's description tag.

    An empty or null description removes it.
    """
    _fields(body, {"name", "description"})
    if not body:
        raise InvalidInputError("send a name or a description to change")
    name = _text(body, "name") if "name" in body else None
    description = _text(body, "description", optional=True) if "description" in body else None
    # check everything before writing anything, so a refused request changes nothing
    if name is not None:
        validation.check_name(name, "run name")
    if description:
        validation.param_value(description, "description")
    _forget_cached_runs(store)
    stage = duckml.get_run(run_id).info.lifecycle_stage  # an unknown run: 404 before anything is written
    if "description" in body and stage != "active":
        raise RunStateError(f"run {run_id} is deleted; restore it before editing its description")
    if name is not None:
        duckml.rename_run(run_id, name)
    if "description" in body:
        if description:
            duckml.set_tag(DESCRIPTION_TAG, description, run_id=run_id)
        elif DESCRIPTION_TAG in duckml.get_run(run_id).data.tags:
            duckml.delete_tag(DESCRIPTION_TAG, run_id=run_id)
    run = duckml.get_run(run_id)
    return {"run_id": run_id, "name": run.info.run_name, "description": run.data.tags.get(DESCRIPTION_TAG)}


def _user_tag(key: str) -> str:
    validation.check_key(key, "tag key")
    if key.startswith("mlflow."):
        raise InvalidInputError(f"tag key {key!r}: keys starting with 'mlflow.' are system tags "
                                "(edit the description with the description field)")
    return key


@write_route("PUT", "/api/runs/{run_id}/tags/{key:path}", role="edit")
def set_run_tag(store, body: dict, run_id: str, key: str) -> dict:
    """``{"value": …}``: set or overwrite one tag."""
    _fields(body, {"value"}, {"value"})
    value = body["value"]
    if isinstance(value, (dict, list)) or value is None:
        raise InvalidInputError(f"value must be text or a number, got {json.dumps(value)}")
    _forget_cached_runs(store)
    duckml.set_tag(_user_tag(key), value, run_id=run_id)
    return {"run_id": run_id, "key": key, "value": duckml.get_run(run_id).data.tags.get(key)}


@write_route("DELETE", "/api/runs/{run_id}/tags/{key:path}", role="edit", body=False)
def delete_run_tag(store, body: dict, run_id: str, key: str) -> dict:
    _forget_cached_runs(store)
    duckml.delete_tag(_user_tag(key), run_id=run_id)
    return {"run_id": run_id, "key": key, "deleted": True}


@write_route("POST", "/api/runs/{run_id}/delete", role="edit", body=False)
def delete_run(store, body: dict, run_id: str) -> dict:
    _forget_cached_runs(store)
    duckml.delete_run(run_id)
    return {"run_id": run_id, "lifecycle_stage": "deleted"}


@write_route("POST", "/api/runs/{run_id}/restore", role="edit", body=False)
def restore_run(store, body: dict, run_id: str) -> dict:
    _forget_cached_runs(store)
    duckml.restore_run(run_id)
    return {"run_id": run_id, "lifecycle_stage": "active"}


# -- registry --------------------------------------------------------------------------------------------
@write_route("POST", "/api/models/{name}/versions", role="admin")
def register_version(store, body: dict, name: str) -> dict:
    """``{"run_id": …, "path": "model"}``: register the run's model as the next version → ``{"version": N}``."""
    _fields(body, {"run_id", "path"}, {"run_id"})
    run_id = _text(body, "run_id").strip()
    path = (_text(body, "path", optional=True) or "model").strip().strip("/")
    if not run_id:
        raise InvalidInputError("run_id must not be empty")
    validation.check_text(run_id, "run_id")
    duckml.get_run(run_id)  # an unknown run is a 404, not a bad URI
    version = duckml.register_model(f"runs:/{run_id}/{path}", name)
    return {"name": version.name, "version": version.version, "source": version.source_uri}


@write_route("PUT", "/api/models/{name}/aliases/{alias}", role="admin")
def set_alias(store, body: dict, name: str, alias: str) -> dict:
    """``{"version": N}``: point the alias at a version (moving it)."""
    _fields(body, {"version"}, {"version"})
    duckml.set_registered_model_alias(name, alias, body["version"])
    return {"name": name, "alias": alias, "version": duckml.get_model_version_by_alias(name, alias).version}


@write_route("DELETE", "/api/models/{name}/aliases/{alias}", role="admin", body=False)
def delete_alias(store, body: dict, name: str, alias: str) -> dict:
    duckml.delete_registered_model_alias(name, alias)
    return {"name": name, "alias": alias, "deleted": True}


@write_route("PATCH", "/api/models/{name}", role="admin")
def edit_model(store, body: dict, name: str) -> dict:
    """``{"description": …}`` of a registered model (empty or null clears it)."""
    _fields(body, {"description"}, {"description"})
    description = _text(body, "description", optional=True) or None
    duckml.update_registered_model(name, description)
    return {"name": name, "description": description}


@write_route("PATCH", "/api/models/{name}/versions/{version}", role="admin")
def edit_version(store, body: dict, name: str, version: str) -> dict:
    """``{"description": …}`` of one model version (empty or null clears it)."""
    _fields(body, {"description"}, {"description"})
    description = _text(body, "description", optional=True) or None
    duckml.update_model_version(name, version, description)
    return {"name": name, "version": int(version), "description": description}


def _tag_value(body: dict):
    _fields(body, {"value"}, {"value"})
    value = body["value"]
    if isinstance(value, (dict, list, bool)) or value is None:
        raise InvalidInputError(f"value must be text or a number, got {json.dumps(value)}")
    return value


@write_route("PUT", "/api/models/{name}/tags/{key:path}", role="admin")
def set_model_tag(store, body: dict, name: str, key: str) -> dict:
    """``{"value": …}``: set or overwrite one tag of a registered model."""
    duckml.set_registered_model_tag(name, key, _tag_value(body))
    with store.read() as con:
        stored = con.execute("SELECT value FROM registered_model_tags WHERE name = ? AND key = ?", [name, key]).fetchone()
    return {"name": name, "key": key, "value": stored[0] if stored else None}


@write_route("DELETE", "/api/models/{name}/tags/{key:path}", role="admin", body=False)
def delete_model_tag(store, body: dict, name: str, key: str) -> dict:
    duckml.delete_registered_model_tag(name, key)
    return {"name": name, "key": key, "deleted": True}


@write_route("PUT", "/api/models/{name}/versions/{version}/tags/{key:path}", role="admin")
def set_version_tag(store, body: dict, name: str, version: str, key: str) -> dict:
    """``{"value": …}``: set or overwrite one tag of a model version."""
    duckml.set_model_version_tag(name, version, key, _tag_value(body))
    found = duckml.get_model_version(name, version)
    return {"name": name, "version": found.version, "key": key, "value": found.tags.get(key)}


@write_route("DELETE", "/api/models/{name}/versions/{version}/tags/{key:path}", role="admin", body=False)
def delete_version_tag(store, body: dict, name: str, version: str, key: str) -> dict:
    duckml.delete_model_version_tag(name, version, key)
    return {"name": name, "version": int(version), "key": key, "deleted": True}


# -- the guard -------------------------------------------------------------------------------------------
async def _json_body(request: Request) -> dict:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidInputError(f"the request body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}")
    if not request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json":
        raise InvalidInputError("the request body must be JSON (Content-Type: application/json)")
    try:
        body = json.loads(raw or b"{}")
    except ValueError as error:
        raise InvalidInputError(f"the request body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise InvalidInputError(f"the request body must be a JSON object, got {type(body).__name__}")
    return body


def _guarded(route: WriteRoute):
    async def endpoint(request: Request) -> JSONResponse:
        try:
            if request.app.state.read_only:
                raise Refused(403, "this UI was started with --read-only: writes are turned off")
            reason = csrf.refusal(request)
            if reason:
                raise Refused(403, reason)
            if duckml.get_store() is not request.app.state.store.store:
                raise Refused(500, "this process selected another store than the UI's; writes are refused")
            authorize = getattr(request.app.state, "authorize", None)
            if authorize is not None:
                await run_in_threadpool(authorize, request, route.role)
            body = await _json_body(request) if route.body else {}
            answer = await run_in_threadpool(route.handler, request.app.state.store.store, body,
                                             **request.path_params)
        except Refused as refused:
            return JSONResponse({"error": str(refused)}, status_code=refused.status)
        except PermissionError as error:  # what an authorize hook raises for a role the user lacks
            return JSONResponse({"error": str(error)}, status_code=403)
        except NotFoundError as error:
            return JSONResponse({"error": str(error)}, status_code=404)
        except (InvalidInputError, RunStateError) as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        except StoreLockedError as error:  # another program held the file too long: nothing was written
            return JSONResponse({"error": f"{error}; try again"}, status_code=503)
        return JSONResponse(answer, headers={"cache-control": "no-store"})

    endpoint.__name__ = route.handler.__name__
    endpoint.role = route.role  # type: ignore[attr-defined]
    return endpoint


def routes() -> list[Route]:
    """The write routes, each behind the guard (register before the pages' catch-all routes)."""
    return [Route(r.path, _guarded(r), methods=[r.method]) for r in WRITE_ROUTES]
