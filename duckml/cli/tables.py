"""What the CLI's tables show, for people: the columns that matter first, numbers that keep their differences,
short run ids. CSV and JSON output never goes through here: it stays lossless (see output.py).
"""

from __future__ import annotations

import math

from duckml.cli.output import distinguishing_digits, short_ids
from duckml.errors import InvalidInputError

KINDS = ("params", "metrics", "tags")
_ENTITY_KIND = {"param": "params", "metric": "metrics", "tag": "tags"}
# Tags duckml and MLflow set on every run (user, source, autolog): in csv/json, not in the table by default.
_SYSTEM_TAG_PREFIXES = ("mlflow.", "duckml.")


def named_keys(filter_string: str, order_by) -> list[tuple[str, str]]:
    """(kind, key) of the order-by clauses, then of the filter's comparisons, each once, in order.

    >>> named_keys("params.model = 'rf' and metrics.rmse < 1", ["metrics.rmse ASC"])
    [('metrics', 'rmse'), ('params', 'model')]
    """
    from duckml.search.grammar import And, Comparison, Not, Or, parse_filter, parse_order_by

    found: list[tuple[str, str]] = []

    def add(entity: str, key: str) -> None:
        kind = _ENTITY_KIND.get(entity)
        if kind and (kind, key) not in found:
            found.append((kind, key))

    for clause in parse_order_by(list(order_by) or None, "runs"):
        add(clause.entity, clause.key)

    def walk(node) -> None:
        if isinstance(node, Comparison):
            add(node.entity, node.key)
        elif isinstance(node, (And, Or)):
            for item in node.items:
                walk(item)
        elif isinstance(node, Not):
            walk(node.item)

    walk(parse_filter(filter_string or "", "runs"))
    return found


def parse_columns(text: str | None, keys: dict[str, list[str]]) -> list[tuple[str, str]] | None:
    """``--columns "model,metrics.rmse,tags.team"``: (kind, key) pairs; a bare name is a param, else a
    metric, else a tag of the listed runs. Unknown names are an error listing what exists.

    >>> parse_columns("model, metrics.rmse", {"params": ["model"], "metrics": ["rmse"], "tags": []})
    [('params', 'model'), ('metrics', 'rmse')]
    """
    if text is None:
        return None
    chosen = []
    for name in (part.strip() for part in text.split(",")):
        if not name:
            continue
        kind, _, key = name.partition(".")
        if kind in KINDS and key:
            pair = (kind, key)
        else:
            pair = next(((k, name) for k in KINDS if name in keys[k]), None)
            if pair is None:
                known = ", ".join(sorted({*keys["params"], *(f"metrics.{k}" for k in keys["metrics"]),
                                          *(f"tags.{k}" for k in keys["tags"])})[:20])
                raise InvalidInputError(f"--columns: no param, metric or tag {name!r} in these runs"
                                        + (f" (known: {known})" if known else ""))
        if pair not in chosen:
            chosen.append(pair)
    return chosen


def _header(kind: str, key: str, keys: dict[str, list[str]]) -> str:
    if kind == "tags":
        return f"tags.{key}"
    other = "metrics" if kind == "params" else "params"
    return f"{kind}.{key}" if key in keys[other] else key  # bare unless a param and a metric share the name


def runs_table(found, filter_string: str, order_by, columns: str | None):
    """(header, rows) of ``duckml runs list``: run, name, the order-by and filter keys, status, start,
    duration, then the other params, metrics and the user's tags (or only ``--columns``)."""
    from duckml.clock import duration_text

    keys = {kind: sorted({k for run in found for k in getattr(run.data, kind)}) for kind in KINDS}
    chosen = parse_columns(columns, keys)
    first = named_keys(filter_string, order_by)
    if chosen is None:
        rest = [(kind, k) for kind in KINDS for k in keys[kind]
                if not (kind == "tags" and k.startswith(_SYSTEM_TAG_PREFIXES))]
        chosen = first + [pair for pair in rest if pair not in first]
    else:
        chosen = [pair for pair in first if pair not in chosen] + chosen
    short = short_ids([r.info.run_id for r in found])
    one_experiment = len({r.info.experiment_id for r in found}) <= 1
    header = ["run", *(() if one_experiment else ("experiment",)), "name",
              *(_header(kind, key, keys) for kind, key in first if (kind, key) in chosen[:len(first)]),
              "status", "start", "duration",
              *(_header(kind, key, keys) for kind, key in chosen[len(first):])]
    rows = []
    for r in found:
        values = [getattr(r.data, kind).get(key) for kind, key in chosen]
        rows.append((short[r.info.run_id], *(() if one_experiment else (r.info.experiment_id,)), r.info.run_name,
                     *values[:len(first)], r.info.status, r.info.start_time,
                     duration_text(r.info.start_time, r.info.end_time, sep=""), *values[len(first):]))
    return header, rows


def _as_number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def compare_rows(frame, differences_only: bool):
    """(header, rows) of ``duckml runs compare``: metric values printed with the digits that keep the runs
    apart (0.957834 vs 0.957754, not 17 digits each), and optionally only the keys whose values differ."""
    runs = [c for c in frame.columns if c not in ("kind", "key", "differs")]
    rows = []
    for row in frame.iter_rows(named=True):
        if differences_only and not row["differs"]:
            continue
        values = [row[c] for c in runs]
        if row["kind"] == "metric":
            numbers = [_as_number(v) for v in values]
            digits = distinguishing_digits([n for n in numbers if n is not None])
            values = [v if n is None else (v if not math.isfinite(n) else f"{n:.{digits}g}")
                      for v, n in zip(values, numbers)]
        rows.append((row["kind"], row["key"], *values, "*" if row["differs"] else ""))
    return ["kind", "key", *runs, "differs"], rows


def _compact_metrics(metrics) -> str:
    if not metrics:
        return ""
    items = sorted(metrics.items()) if isinstance(metrics, dict) else sorted(metrics)
    return ", ".join(f"{k}={v:.6g}" if isinstance(v, float) and math.isfinite(v) else f"{k}={v}"
                     for k, v in items)


def versions_rows(frame):
    """(header, rows) of ``duckml models show``: short run ids, aliases and macros as plain text, the
    source run's metrics as ``key=value`` in key order."""
    short = short_ids([r for r in frame["run_id"].to_list() if r])
    wanted = ["version", "aliases", "run_id", "created_at", "engine", "compiled_macros", "metrics"]
    present = [c for c in wanted if c in frame.columns]
    header = ["version", "aliases", "run", "created", "engine", "macros", "metrics"]
    header = [h for h, c in zip(header, wanted) if c in present]
    rows = []
    for row in frame.iter_rows(named=True):
        cells = []
        for column in present:
            value = row[column]
            if column == "run_id":
                value = short.get(value, value) if value else ""
            elif column in ("aliases", "compiled_macros"):
                value = ", ".join(value or [])
            elif column == "metrics":
                value = _compact_metrics(value)
            cells.append(value)
        rows.append(tuple(cells))
    return header, rows
