"""The registry and PREDICT pages: ``/models``, ``/models/<name>/versions/<n>`` and ``/predictions``.

Reads come from :mod:`duckml.ui.model_queries`; the edit controls on them post to :mod:`duckml.ui.writes`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from duckml.errors import InvalidInputError
from duckml.models.uri import check_version
from duckml.ui import model_queries


def render(request: Request, name: str, context: dict, status: int = 200) -> Response:
    return request.app.state.templates.TemplateResponse(request, name, context, status_code=status)


def models(request: Request) -> Response:
    """``/models?q=text``: every registered model (name containing ``q``), its latest version and aliases."""
    search = request.query_params.get("q", "")
    data = model_queries.models_list(request.app.state.store, search)
    return render(request, "models.html", {"models": data, "search": search})


def model_version(request: Request) -> Response:
    name = request.path_params["name"]
    version = check_version(request.path_params["version"], name)  # "v3" or "x": 400 naming it
    data = model_queries.model_version(request.app.state.store, name, version)
    return render(request, "model_version.html", {"v": data})


def predictions(request: Request) -> Response:
    """``/predictions[?id=…&by=col&value=col&agg=avg]``: every PREDICT job; the chosen (else newest) one's
    first rows and a bar per key of a numeric column."""
    store = request.app.state.store
    jobs = model_queries.predictions_list(store)
    q = request.query_params
    chosen_id = q.get("id") or (jobs[0]["prediction_id"] if jobs else None)
    chosen = next((j for j in jobs if j["prediction_id"] == chosen_id), None)
    output = chart = None
    if chosen_id and chosen is None:
        raise InvalidInputError(f"no PREDICT job with id {chosen_id!r}; pick one from /predictions")
    if chosen is not None:
        output = model_queries.prediction_output(store, chosen_id, q.get("by") or None, q.get("value") or None,
                                                 q.get("agg") or "avg")
        if not output.get("error") and output["bars"]:
            chart = model_queries.bar_chart(output["bars"])
    return render(request, "predictions.html", {"jobs": jobs, "chosen": chosen, "output": output, "chart": chart,
                                                "aggregates": list(model_queries.AGGREGATES)})


def routes() -> list[Route]:
    """Registered before the pages' ``/models/{name:path}``, which would otherwise take these paths."""
    return [
        Route("/models", models),
        Route("/models/{name}/versions/{version}", model_version),
        Route("/predictions", predictions),
    ]
