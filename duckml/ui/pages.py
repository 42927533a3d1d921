"""The UI's routes: HTML pages, the metric-history JSON, and artifact files.

Handlers are plain (sync) functions: Starlette runs them in its thread pool, and each does one short read
through :mod:`duckml.ui.queries`. All view state comes from the query string, so every view is a URL.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from duckml.errors import FilterSyntaxError, InvalidInputError, NotFoundError
from duckml.ui import chart_queries, queries, run_files
from duckml.ui.numbers import digits_for

PREVIEW_BYTES = 64_000
# Raster images only: an SVG is a document that may carry script, so it is downloaded, never shown.
INLINE_IMAGES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
TEXT_TYPES = ("text/", "application/json", "application/yaml", "application/x-yaml", "application/toml")


def _render(request: Request, name: str, context: dict, status: int = 200) -> Response:
    return request.app.state.templates.TemplateResponse(request, name, context, status_code=status)


_INT64 = (-(2**63), 2**63 - 1)  # what DuckDB binds a Python int as
MAX_PAGE = _INT64[1] // max(queries.PAGE_SIZES)  # the page's row offset must fit too
MAX_COLUMNS = 100  # chosen columns per run-list page: every sort link carries them all


def _int(request: Request, name: str, default: int | None, low: int = _INT64[0], high: int = _INT64[1]) -> int | None:
    """The integer query parameter ``name``; a 400 (InvalidInputError) naming it when it is not an
    integer from ``low`` to ``high``."""
    text = request.query_params.get(name)
    if text in (None, ""):
        return default
    try:
        value = int(text)
    except ValueError:
        raise InvalidInputError(f"{name} must be an integer, got {text[:40]!r}") from None
    if not low <= value <= high:
        raise InvalidInputError(f"{name} must be an integer from {low} to {high}, got {text[:40]}")
    return value


def _store(request: Request):
    return request.app.state.store


def _url(path: str, params: list[tuple[str, str]]) -> str:
    query = urlencode([(k, v) for k, v in params if v not in (None, "")])
    return f"{path}?{query}" if query else path


# -- pages -----------------------------------------------------------------------------------------------
def home(request: Request) -> Response:
    return _render(request, "index.html", {"data": queries.overview(_store(request))})


def split_order_by(text: str) -> list[str]:
    """The comma-separated clauses of one order_by box; commas inside quotes or backticks stay.

    >>> split_order_by("metrics.rmse ASC, params.`a,b` DESC")
    ['metrics.rmse ASC', 'params.`a,b` DESC']
    """
    parts, current, quote = [], [], None
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "`'\"":
            quote = char
        elif char == ",":
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


DEFAULT_PARAMS = 12
DEFAULT_METRICS = 12


def default_columns(keys: dict, runs: list[dict] | None = None) -> list[queries.Column]:
    """Without a choice in the URL: the params whose values differ across the runs shown (a param every run
    has alike tells nothing), then the metrics (last value).

    >>> runs = [{"params": {"C": "1", "model": "rf"}}, {"params": {"C": "1", "model": "gbm"}}]
    >>> [c.token for c in default_columns({"params": ["C", "model"], "metrics": ["rmse"]}, runs)]
    ['params.model', 'metrics.rmse:last']
    """
    runs = runs or []
    differing = [k for k in keys["params"] if len({r["params"].get(k) for r in runs}) > 1]
    return ([queries.Column("params", k) for k in differing[:DEFAULT_PARAMS]]
            + [queries.Column("metrics", k) for k in keys["metrics"][:DEFAULT_METRICS]])


def filter_problem(exc: FilterSyntaxError) -> dict:
    """A filter error as the page shows it: the message without the echoed text, and the text with the
    position of the problem, which the page marks with a caret on the line below (the text unchanged)."""
    message = str(exc)
    if exc.position is not None and exc.text:
        echo = f" at position {exc.position}: {exc.text[:exc.position]}>>>{exc.text[exc.position:]}"
        if message.endswith(echo):
            message = message[: -len(echo)] + f" at position {exc.position}"
    return {"message": message, "text": exc.text, "position": exc.position}


_ENTITIES = {"param": "params", "metric": "metrics", "tag": "tags"}


def unknown_keys(filter_string: str, keys: dict) -> list[str]:
    """Hints for keys of the filter that no run of the experiment has, with the nearest known keys.

    >>> unknown_keys("params.modle = 'rf' and metrics.rmse < 1", {"params": ["model"], "metrics": ["rmse"], "tags": []})
    ['no run has params.modle: did you mean params.model?']
    """
    import difflib

    from duckml.search import parse_filter

    try:
        expr = parse_filter(filter_string or "", "runs")
    except InvalidInputError:
        return []
    found, stack = [], [expr] if expr is not None else []
    while stack:
        node = stack.pop()
        if hasattr(node, "items"):
            stack.extend(reversed(node.items))
        elif hasattr(node, "item"):
            stack.append(node.item)
        elif node.entity in _ENTITIES and node.key not in keys.get(_ENTITIES[node.entity], []):
            found.append(f"{_ENTITIES[node.entity]}.{node.key}")
    hints = []
    for name in dict.fromkeys(found):
        entity, _, key = name.partition(".")
        # the key's own kind first (params.modle → params.model), then the same name under another kind
        near = [f"{entity}.{k}" for k in difflib.get_close_matches(key, keys.get(entity, []), n=3, cutoff=0.75)]
        near += [f"{other}.{k}" for other in ("params", "metrics", "tags") if other != entity
                 for k in difflib.get_close_matches(key, keys.get(other, []), n=1, cutoff=0.9)]
        near = near[:3]
        hints.append(f"no run has {name}" + (f": did you mean {' or '.join(near)}?" if near else ""))
    return hints


def experiment(request: Request) -> Response:
    name = request.path_params["name"]
    q = request.query_params
    filter_string = q.get("filter", "")
    order_by = [part for o in q.getlist("order_by") for part in split_order_by(o)]
    page = max(1, _int(request, "page", 1, high=MAX_PAGE))
    page_size = _int(request, "page_size", 50)
    search = q.get("q", "")
    group = q.get("group", "")
    tokens = [c for c in q.getlist("col") if c]
    if len(tokens) > MAX_COLUMNS:
        raise InvalidInputError(f"col is given {len(tokens)} times; a page shows at most {MAX_COLUMNS} columns")
    chosen = [queries.parse_column(c) for c in tokens]
    group_column = None
    if group:
        group_column = queries.parse_column(group)
        if group_column.entity == "metrics" or group_column.order_key is None:
            raise InvalidInputError(f"group must be params.<key> or tags.<key>, got {group[:60]!r}")
    if q.get("view") == "charts":
        return experiment_charts(request, name, filter_string, order_by)
    # grouping sorts by the group's key first, so that a group's runs are together on the page
    ordering = ([group_column.order_key + " ASC"] if group_column else []) + order_by
    summaries = any(c.aggregate != "last" for c in chosen)
    error = None
    try:
        data = queries.run_page(_store(request), name, filter_string, ordering, page, page_size,
                                summaries=summaries, name_search=search)
        pages = max(1, -(-data["total"] // page_size))
        if page > pages:  # past the end (a link kept from a longer list): the last page instead
            page = pages
            data = queries.run_page(_store(request), name, filter_string, ordering, page, page_size,
                                    summaries=summaries, name_search=search)
    except FilterSyntaxError as exc:
        error = filter_problem(exc)
        data = queries.run_page(_store(request), name, "", [], 1, page_size)
        data["runs"] = []  # the count stays: the experiment's runs, none of which the filter could match
    pages = max(1, -(-data["total"] // page_size))
    columns = chosen or default_columns(data["keys"], data["runs"])
    hints = unknown_keys(filter_string, data["keys"]) if not error else []
    state = [("filter", filter_string), ("q", search), ("group", group), *[("order_by", o) for o in order_by],
             *[("col", c.token) for c in chosen], ("page_size", str(page_size) if page_size != 50 else "")]

    def link(**changes) -> str:
        params = [(k, v) for k, v in state if k not in changes]
        for key, value in changes.items():
            if isinstance(value, list):
                params += [(key, v) for v in value]
            elif value is not None:
                params.append((key, str(value)))
        return _url(request.url.path, params)

    digits = {c.token: digits_for([(r["metrics"].get(c.key) or {}).get(c.aggregate) for r in data["runs"]])
              for c in columns if c.entity == "metrics"}
    if q.get("format") == "csv":
        if error:
            raise InvalidInputError(f"filter: {error['message']}")
        rows = queries.run_rows(_store(request), name, filter_string, ordering, summaries=summaries,
                                name_search=search)
        return _run_list_csv(name, rows, columns)
    groups = _groups(data["runs"], group_column) if group_column else None
    # ?fragment=table: only the rows and pager, which the page's live update swaps in (static/app.js)
    template = "experiment_table.html" if q.get("fragment") == "table" else "experiment.html"
    return _render(request, template, {
        "name": name, "data": data, "columns": columns, "chosen_tokens": {c.token for c in columns},
        "filter": filter_string, "order_by": order_by, "error": error, "page": page, "pages": pages,
        "page_size": page_size, "page_sizes": queries.PAGE_SIZES, "link": link, "digits": digits,
        "hints": hints, "search": search, "group": group, "groups": groups,
    })


def _groups(runs: list[dict], column: queries.Column) -> list[dict]:
    """The page's runs in groups of one value of ``column`` (runs come sorted by it)."""
    groups: list[dict] = []
    for run in runs:
        value = run[column.entity].get(column.key)
        if not groups or groups[-1]["value"] != value:
            groups.append({"value": value, "runs": []})
        groups[-1]["runs"].append(run)
    return groups


def _run_list_csv(name: str, runs, columns: list[queries.Column]) -> Response:
    """The whole view (every page of it: ``runs`` from queries.run_rows) in the chosen columns as CSV,
    numbers with every digit; streamed, a chunk of rows at a time."""
    import csv
    import io

    def lines():
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["run_id", "run_name", "status", "start_time", "end_time",
                         *[c.token if c.entity == "metrics" else f"{c.entity}.{c.key}" for c in columns]])
        for count, run in enumerate(runs, 1):
            cells = []
            for c in columns:
                if c.entity == "metrics":
                    value = (run["metrics"].get(c.key) or {}).get(c.aggregate)
                    cells.append("" if value is None else repr(value))
                else:
                    cells.append(run[c.entity].get(c.key, ""))
            writer.writerow([run["run_id"], run["run_name"] or "", run["status"],
                             run["start_time"].isoformat() if run["start_time"] else "",
                             run["end_time"].isoformat() if run["end_time"] else "", *cells])
            if count % queries.EXPORT_CHUNK == 0:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
        yield out.getvalue()

    filename = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:80] or "runs"
    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8",
                             headers={"content-disposition": f'attachment; filename="{filename}-runs.csv"'})


def experiment_charts(request: Request, name: str, filter_string: str, order_by: list[str]) -> Response:
    """``/experiments/<name>?view=charts``: a panel per metric over the first runs in the list's order;
    which panels show and in what order is kept in the URL by charts.js (``panel``, ``hide``)."""
    error = None
    try:
        view = chart_queries.chart_view(_store(request), name, filter_string, order_by)
    except FilterSyntaxError as exc:
        error = str(exc)
        view = chart_queries.chart_view(_store(request), name)
        view["runs"], view["histories"], view["singles"] = [], {}, {}
    chart_data = {"view": "charts", "runs": view["runs"], "keys": sorted({*view["histories"], *view["singles"]}),
                  "owners": view["histories"], "singles": view["singles"], "running": view["running"],
                  "histories_url": _first_histories_url(view)}
    table_link = _url(request.url.path, [(k, v) for k, v in request.query_params.multi_items()
                                         if k in ("filter", "order_by", "col", "page_size")])
    # the poll's token: the experiment's runs, and new points of the runs shown here only
    live_url = _url("/api/live", [("experiment", name), *[("shown", r["run_id"]) for r in view["runs"]]])
    # ?fragment=live: the chart data, run count and running flag, which a live update swaps in (app.js)
    template = "experiment_charts_fragment.html" if request.query_params.get("fragment") == "live" \
        else "experiment_charts.html"
    return _render(request, template, {
        "name": name, "view": view, "chart_data": chart_data, "filter": filter_string, "order_by": order_by,
        "error": error, "limit": chart_queries.CHART_VIEW_RUNS, "table_link": table_link, "live_url": live_url})


def _first_histories_url(view: dict) -> str | None:
    """The one request that brings every history panel's first view, named in the page's head as a preload
    so that the browser asks for it while it is still loading the scripts (charts.js then fetches this very
    URL). Its buckets per run are what charts.js would ask of a ~700 px panel."""
    owners = view["histories"]
    if not owners:
        return None
    runs = len(view["runs"])
    points = min(5000, max(100, 7000 // runs) if runs > 10 else 1400)
    wanted = {run_id for ids in owners.values() for run_id in ids}
    query = [("points", str(points)), *[("key", key) for key in sorted(owners)],
             *[("run", r["run_id"]) for r in view["runs"] if r["run_id"] in wanted]]
    return "/api/histories?" + urlencode(query)


def run(request: Request) -> Response:
    run_id = request.path_params["run_id"]
    store = _store(request)
    detail = queries.run_detail(store, run_id)
    preview = None
    # ?fragment=live (a RUNNING run's page, polling) swaps the status, metrics and charts: no preview needed
    live_parts = request.query_params.get("fragment") == "live"
    wanted = request.query_params.get("artifact")
    if wanted and not live_parts:
        preview = _preview(store, run_id, wanted)
    chart_data = {"runs": [{"run_id": run_id, "name": detail["run_name"] or run_id[:8],
                            "params": dict(detail["params"])}],
                  "keys": [m["key"] for m in detail["metrics"] + detail["system_metrics"] if m["count"] > 1],
                  "running": detail["status"] == "RUNNING"}
    template = "run_fragment.html" if live_parts else "run.html"
    return _render(request, template, {"run": detail, "preview": preview, "chart_data": chart_data})


def _preview(store, run_id: str, path: str) -> dict:
    found = run_files.artifact_object(store, run_id, path)
    kind = ("image" if found.media_type in INLINE_IMAGES
            else "text" if found.media_type.startswith(TEXT_TYPES) else "download")
    text = truncated = None
    if kind == "text":
        with open(found.file, "rb") as handle:
            raw = handle.read(PREVIEW_BYTES + 1)
        truncated = len(raw) > PREVIEW_BYTES
        text = raw[:PREVIEW_BYTES].decode("utf-8", errors="replace")
    return {"path": found.path, "size": found.size, "media_type": found.media_type, "kind": kind,
            "text": text, "truncated": truncated}


def artifact(request: Request) -> Response:
    """The bytes of a recorded artifact; raster images inline, everything else as a download."""
    run_id = request.path_params["run_id"]
    path = request.query_params.get("path", "")
    found = run_files.artifact_object(_store(request), run_id, path)
    inline = found.media_type in INLINE_IMAGES
    filename = found.path.rsplit("/", 1)[-1]
    response = FileResponse(found.file, media_type=found.media_type if inline else "application/octet-stream",
                            filename=filename, content_disposition_type="inline" if inline else "attachment")
    response.headers["content-security-policy"] = "default-src 'none'; sandbox"
    return response


def compare(request: Request) -> Response:
    run_ids = [r for r in request.query_params.getlist("run") if r]
    data = queries.compare(_store(request), run_ids)
    for row in data["rows"]:  # a row's numbers with as many digits as keep the runs apart
        row["digits"] = digits_for(row["values"])
    params = queries.run_params(_store(request), [r["run_id"] for r in data["runs"]])
    chart_data = {"runs": [{"run_id": r["run_id"], "name": params[r["run_id"]]["name"],
                            "params": params[r["run_id"]]["params"]} for r in data["runs"]],
                  "keys": list(data["history_keys"]), "owners": data["history_keys"], "rows": data["rows"],
                  "running": data["running"]}
    for run_entry, run_row in zip(chart_data["runs"], data["runs"]):  # the legend marks the running ones
        run_entry["running"] = run_row["status"] == "RUNNING"
    diff_only = request.query_params.get("diff") == "1"

    def link(**changes) -> str:
        keep = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
        return _url(request.url.path, keep + [(k, str(v)) for k, v in changes.items() if v is not None])

    live_url = _url("/api/live", [("run", r["run_id"]) for r in data["runs"]])
    # ?fragment=live (the page polling while a run it compares runs): the table and the chart data alone
    template = "compare_fragment.html" if request.query_params.get("fragment") == "live" else "compare.html"
    return _render(request, template, {"data": data, "chart_data": chart_data, "diff_only": diff_only,
                                       "link": link, "live_url": live_url})


def model(request: Request) -> Response:
    name = request.path_params["name"]
    as_of_text = request.query_params.get("as_of", "")
    as_of = None
    if as_of_text:
        try:
            as_of = dt.datetime.fromisoformat(as_of_text)
        except ValueError:
            raise InvalidInputError(f"as_of must be a date or date-time like 2026-11-01T12:00, "
                                    f"got {as_of_text!r}") from None
    data = queries.model_page(_store(request), name, as_of)
    timeline = {"history": [{**h, "valid_from": h["valid_from"].isoformat(),
                             "valid_to": h["valid_to"].isoformat() if h["valid_to"] else None}
                            for h in data["history"]],
                "as_of": as_of.isoformat() if as_of else None,
                "now": dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat()}
    alias = "champion" if "champion" in data["aliases"] else (data["aliases"][0] if data["aliases"] else None)
    uri = f"models:/{name}@{alias}" if alias else (f"models:/{name}/{data['versions'][0]['version']}"
                                                   if data["versions"] else f"models:/{name}/latest")
    return _render(request, "model.html", {"data": data, "timeline": timeline, "as_of": as_of_text,
                                           "model_uri": uri})


def sql_console(request: Request) -> Response:
    """``/sql?q=SELECT…``: one read-only SELECT (see :mod:`duckml.ui.console`), results escaped in a table."""
    from duckml.ui import console

    # Another site may make the browser send this GET (it cannot read the answer, CORS being off), but it
    # should not make the machine run queries either: browsers say where a request comes from.
    if request.headers.get("sec-fetch-site", "none") not in ("same-origin", "none"):
        return _error(request, 403, "the SQL console answers only to its own pages")
    query = request.query_params.get("q", "")
    result = error = None
    if query.strip():
        try:
            result = console.run_console_query(_store(request), query)
        except InvalidInputError as exc:  # QueryError included: shown inline, like a filter error
            error = str(exc)
    digits = ([digits_for([row[i] for row in result["rows"]]) for i in range(len(result["columns"]))]
              if result else [])
    return _render(request, "sql.html", {"query": query, "result": result, "error": error, "digits": digits,
                                         "row_cap": console.ROW_CAP, "timeout": console.TIMEOUT_SECONDS,
                                         "cell_chars": console.CELL_CHARS, "page_chars": console.PAGE_CHARS})


# -- JSON ------------------------------------------------------------------------------------------------
def metric_history(request: Request) -> Response:
    """``/api/runs/<run_id>/metrics/<key>?points=N[&step_from=A&step_to=B]`` (CONTRACT's shape)."""
    points = _int(request, "points", 1000)
    data = queries.metric_series(_store(request), request.path_params["run_id"], request.path_params["key"],
                                 points, _int(request, "step_from", None), _int(request, "step_to", None))
    return JSONResponse(data, headers={"cache-control": "no-store"})


def metric_histories(request: Request) -> Response:
    """``/api/histories?key=K&run=<id>&run=<id>…&points=N[&step_from=A&step_to=B]``: one metric of many runs,
    ``{"runs": {run_id: <metric_history's shape>}}`` (runs without the key left out); with several ``key``,
    ``{"keys": {key: {run_id: …}}}`` from one read."""
    keys = [k for k in request.query_params.getlist("key") if k]
    if not keys:
        raise InvalidInputError("key is required (key=<metric key>)")
    found = chart_queries.metric_series_by_key(_store(request), request.query_params.getlist("run"), keys,
                                               _int(request, "points", 1000), _int(request, "step_from", None),
                                               _int(request, "step_to", None))
    body = {"runs": found.get(keys[0], {})} if len(keys) == 1 else {"keys": found}
    return _large_json(request, body)


def _large_json(request: Request, body) -> Response:
    """A JSON answer of up to millions of numbers (a chart view's histories): orjson writes the same JSON
    (NaN can't occur: the lists hold None) ~8x faster than json, and gzip level 1 here ~4x faster than
    the middleware's level 6, for ~1/3 more bytes; the middleware leaves an encoded answer alone."""
    import gzip

    import orjson

    data = orjson.dumps(body)
    headers = {"cache-control": "no-store", "vary": "Accept-Encoding"}
    if len(data) > 64_000 and "gzip" in request.headers.get("accept-encoding", ""):
        data = gzip.compress(data, compresslevel=1, mtime=0)
        headers["content-encoding"] = "gzip"
    return Response(data, media_type="application/json", headers=headers)


def live(request: Request) -> Response:
    """``/api/live?experiment=NAME[&shown=ID…]`` or ``/api/live?run=ID[&run=ID…]``: ``{"token", "runs",
    "running"}``, which a page's background poll compares with the token it was rendered at
    (``queries.live_state``); a cheap read. ``shown``: the runs the chart view draws, whose new points
    alone change the experiment's token."""
    q = request.query_params
    experiment, run_ids, shown = q.get("experiment"), [r for r in q.getlist("run") if r], q.getlist("shown")
    if (experiment is None) == (not run_ids):
        raise InvalidInputError("give one of experiment=<name> or run=<run id> (run may repeat)")
    if shown and experiment is None:
        raise InvalidInputError("shown=<run id> goes with experiment=<name>, not with run=")
    if len(shown) > chart_queries.CHART_VIEW_RUNS:
        raise InvalidInputError(f"shown is given {len(shown)} times; a chart view shows at most "
                                f"{chart_queries.CHART_VIEW_RUNS} runs")
    state = queries.live_state(_store(request), experiment=experiment, run_ids=run_ids or None,
                               shown=shown if "shown" in q else None)
    return JSONResponse(state, headers={"cache-control": "no-store"})


# -- errors ----------------------------------------------------------------------------------------------
def _error(request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=status)
    return _render(request, "error.html", {"status": status, "message": message}, status)


def exception_handlers() -> dict:
    async def not_found(request, exc):
        return _error(request, 404, str(exc))

    async def invalid(request, exc):
        return _error(request, 400, str(exc))

    async def http(request, exc: HTTPException):
        return _error(request, exc.status_code, exc.detail)

    return {NotFoundError: not_found, InvalidInputError: invalid, HTTPException: http}


def routes() -> list[Route]:
    return [
        Route("/", home),
        Route("/experiments/{name:path}", experiment),
        Route("/runs/{run_id}/artifact", artifact),
        Route("/runs/{run_id}", run),
        Route("/compare", compare),
        Route("/models/{name:path}", model),
        Route("/sql", sql_console),
        Route("/api/runs/{run_id}/metrics/{key:path}", metric_history),
        Route("/api/histories", metric_histories),
        Route("/api/live", live),
    ]
