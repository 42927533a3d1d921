"""What the models, model-version and predictions pages read, as plain Python data (one short read each).

Model files are found through the ``artifacts`` table (:func:`duckml.ui.run_files.artifact_object`), PREDICT
outputs through the ``predictions`` lineage table by id: nothing here opens a path taken from a URL.
Column names chosen in a URL are checked against the output's own columns before they reach SQL.

>>> import duckml, tempfile, os
>>> store = duckml.connect(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
>>> models_list(store)
[]
"""

from __future__ import annotations

import json
import os

from duckml.errors import InvalidInputError, NotFoundError
from duckml.sqlquote import quote_ident
from duckml.ui.queries import finite
from duckml.ui.run_files import artifact_object

PREVIEW_ROWS = 20
CHART_BARS = 60
METADATA_BYTES = 2_000_000
AGGREGATES = {"avg": "avg", "sum": "sum", "min": "min", "max": "max"}


def models_list(store, search: str = "") -> list[dict]:
    """Every registered model whose name contains ``search`` (any case): latest version, aliases, counts."""
    with store.read() as con:
        rows = con.execute("""
            SELECT m.name, m.description, m.last_updated_at, count(v.version) AS versions, max(v.version) AS latest,
                   (SELECT list({'alias': a.alias, 'version': a.version} ORDER BY a.alias) FROM model_aliases AS a
                    WHERE a.name = m.name) AS aliases,
                   (SELECT count(*) FROM predictions AS p WHERE p.model_name = m.name) AS predictions
            FROM registered_models AS m LEFT JOIN model_versions AS v ON v.name = m.name
            WHERE contains(lower(m.name), lower(?))
            GROUP BY ALL ORDER BY m.name""", [search]).fetchall()
    names = ("name", "description", "last_updated_at", "versions", "latest", "aliases", "predictions")
    return [{**dict(zip(names, row)), "aliases": row[5] or []} for row in rows]


def _model_file(store, run_id: str, path: str, size_limit: int = METADATA_BYTES):
    """The parsed JSON of a recorded artifact, or None when it is absent or unreadable."""
    try:
        found = artifact_object(store, run_id, path)
        if found.size > size_limit:
            return None
        return json.loads(found.file.read_text(encoding="utf-8"))
    except (NotFoundError, ValueError, OSError):
        return None


def model_version(store, name: str, version: int) -> dict:
    """One version: its source run (metrics, datasets), the model's signature and input example, whether it
    is compiled to SQL, and the PREDICT jobs made with it."""
    with store.read() as con:
        row = con.execute("""
            SELECT v.version, v.aliases, v.run_id, v.source_uri, v.created_at, v.description,
                   map_keys(v.tags), map_values(v.tags), r.run_name, r.status, r.lifecycle_stage, e.name,
                   m.description
            FROM model_versions_overview AS v JOIN registered_models AS m ON m.name = v.name
            LEFT JOIN runs AS r ON r.run_id = v.run_id
            LEFT JOIN experiments AS e ON e.experiment_id = r.experiment_id
            WHERE v.name = ? AND v.version = ?""", [name, version]).fetchone()
        if row is None:
            if con.execute("SELECT 1 FROM registered_models WHERE name = ?", [name]).fetchone() is None:
                raise NotFoundError(f"registered model {name!r} does not exist")
            raise NotFoundError(f"registered model {name!r} has no version {version}")
        run_id = row[2]
        metrics = con.execute("SELECT key, value, step FROM latest_metrics WHERE run_id = ? ORDER BY key",
                              [run_id]).fetchall()
        datasets = con.execute("""
            SELECT d.name, i.context, d.row_count, d.digest, d.source FROM run_inputs AS i
            JOIN datasets AS d ON d.dataset_id = i.dataset_id WHERE i.run_id = ? ORDER BY d.name, i.context""",
                               [run_id]).fetchall()
        compiled = con.execute("""
            SELECT macro_name, model_alias, engine, node_count, prediction_type, created_at FROM compiled_models
            WHERE model_name = ? AND model_version = ? ORDER BY created_at DESC""", [name, version]).fetchall()
        predictions = con.execute("""
            SELECT prediction_id, output, output_kind, row_count, source, finished_at, engine FROM predictions
            WHERE model_name = ? AND model_version = ? ORDER BY finished_at DESC""", [name, version]).fetchall()
        versions = [v[0] for v in con.execute("SELECT version FROM model_versions WHERE name = ? ORDER BY version",
                                              [name]).fetchall()]
    path = row[3].split("/", 3)[3] if row[3].startswith("runs:/") and row[3].count("/") >= 3 else "model"
    metadata = _model_file(store, run_id, f"{path}/duckml_model.json") if run_id else None
    example_file = (metadata or {}).get("input_example_file")
    example = (_model_file(store, run_id, f"{path}/{example_file}")
               if run_id and isinstance(example_file, str) and "/" not in example_file else None)
    if not (isinstance(example, dict) and isinstance(example.get("columns"), list)
            and isinstance(example.get("data"), list)):
        example = None
    signature = (metadata or {}).get("signature") if isinstance((metadata or {}).get("signature"), dict) else None
    return {
        "name": name, "version": row[0], "aliases": row[1], "run_id": run_id, "source_uri": row[3],
        "created_at": row[4], "description": row[5], "tags": sorted(zip(row[6], row[7])), "run_name": row[8],
        "run_status": row[9], "run_stage": row[10], "experiment_name": row[11], "model_description": row[12],
        "metrics": [{"key": k, "value": finite(v), "step": s} for k, v, s in metrics],
        "datasets": [dict(zip(("name", "context", "rows", "digest", "source"), d)) for d in datasets],
        "model_class": (metadata or {}).get("model_class"), "signature": signature,
        "signature_inputs": [c for c in (signature or {}).get("inputs", []) if isinstance(c, dict)],
        "signature_outputs": [c for c in (signature or {}).get("outputs", []) if isinstance(c, dict)],
        "example": example,
        "compiled": [dict(zip(("macro", "alias", "engine", "node_count", "prediction_type", "created_at"), c))
                     for c in compiled],
        "predictions": [dict(zip(("prediction_id", "output", "output_kind", "rows", "source", "finished_at",
                                  "engine"), p)) for p in predictions],
        "versions": versions,
    }


# -- predictions -----------------------------------------------------------------------------------------
def predictions_list(store) -> list[dict]:
    """Every PREDICT job that wrote an output, newest first."""
    with store.read() as con:
        rows = con.execute("""
            SELECT prediction_id, model_name, model_version, model_uri, run_id, source, output, output_kind,
                   row_count, started_at, finished_at, engine FROM predictions ORDER BY finished_at DESC""").fetchall()
    names = ("prediction_id", "model_name", "model_version", "model_uri", "run_id", "source", "output",
             "output_kind", "rows", "started_at", "finished_at", "engine")
    return [dict(zip(names, row)) for row in rows]


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return finite(value)
    return value if isinstance(value, (int, str)) else str(value)


def prediction_output(store, prediction_id: str, by: str | None = None, value: str | None = None,
                      aggregate: str = "avg") -> dict:
    """A PREDICT job's output: its first rows, and ``aggregate(value)`` per ``by`` (a bar per key).

    The output is the recorded table of the store or the recorded Parquet file; ``error`` says why it cannot
    be shown (a table dropped, a file moved). ``by``/``value`` default to a key column and ``prediction``.
    """
    if aggregate not in AGGREGATES:
        raise InvalidInputError(f"agg must be one of {', '.join(AGGREGATES)}, got {aggregate!r}")
    with store.read() as con:
        row = con.execute("SELECT output, output_kind FROM predictions WHERE prediction_id = ?",
                          [prediction_id]).fetchone()
        if row is None:
            raise NotFoundError(f"no PREDICT job with id {prediction_id!r}")
        output, kind = row
        if kind == "table":
            exists = con.execute("SELECT 1 FROM duckdb_tables() WHERE database_name = 'store' AND table_name = ?",
                                 [output]).fetchone()
            if exists is None:
                return {"error": f"table {output!r} is no longer in the store"}
            return _summarise(con, f"store.main.{quote_ident(output)}", [], by, value, aggregate)
    if not os.path.isfile(output):
        return {"error": f"the Parquet file {output} is no longer there"}
    import duckdb

    with duckdb.connect() as scratch:
        try:
            return _summarise(scratch, "read_parquet(?)", [output], by, value, aggregate)
        except duckdb.Error as error:
            return {"error": f"cannot read {output}: {str(error).splitlines()[0]}"}


def _summarise(con, source: str, params: list, by, value, aggregate: str) -> dict:
    described = con.execute(f"DESCRIBE SELECT * FROM {source}", params).fetchall()
    columns = [c[0] for c in described]
    numeric = [c[0] for c in described if c[1].split("(")[0] in {
        "DOUBLE", "FLOAT", "DECIMAL", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT",
        "UINTEGER", "USMALLINT", "UTINYINT"}]
    for chosen, what in ((by, "by"), (value, "value")):
        if chosen and chosen not in columns:
            raise InvalidInputError(f"{what} must be one of the output's columns ({', '.join(columns)}), "
                                    f"got {chosen!r}")
    if value and value not in numeric:
        raise InvalidInputError(f"value must be a numeric column ({', '.join(numeric)}), got {value!r}")
    value = value or ("prediction" if "prediction" in numeric else next(
        (c for c in reversed(numeric) if "predict" in c.lower() or "forecast" in c.lower()),
        numeric[-1] if numeric else None))
    if not by:
        floats = {c[0] for c in described if c[1] in ("DOUBLE", "FLOAT")}
        by = next((c for c in columns if c != value and c not in floats), None)
    total, = con.execute(f"SELECT count(*) FROM {source}", params).fetchone()
    head = con.execute(f"SELECT * FROM {source} LIMIT {PREVIEW_ROWS}", params).fetchall()
    bars = []
    if by and value:
        agg = AGGREGATES[aggregate]
        bars = con.execute(
            f"SELECT {quote_ident(by)}::VARCHAR AS key, {agg}({quote_ident(value)})::DOUBLE AS v FROM {source} "
            f"GROUP BY ALL ORDER BY v DESC NULLS LAST, key LIMIT {CHART_BARS + 1}", params).fetchall()
    shown = [{"key": "" if k is None else k, "value": finite(v)} for k, v in bars[:CHART_BARS]]
    return {"columns": columns, "numeric": numeric, "rows": [[_cell(v) for v in r] for r in head], "total": total,
            "by": by, "value": value, "aggregate": aggregate, "bars": shown, "more_bars": len(bars) > CHART_BARS,
            "error": None}


def bar_chart(bars: list[dict], width: int = 720, bar_height: int = 18) -> dict:
    """Geometry of a horizontal bar chart (drawn as SVG by the template, every label escaped there).

    >>> chart = bar_chart([{"key": "a", "value": 2.0}, {"key": "b", "value": -1.0}], width=300)
    >>> [(b["key"], round(b["x"]), round(b["width"])) for b in chart["bars"]]
    [('a', 170, 60), ('b', 140, 30)]
    """
    values = [b["value"] for b in bars if b["value"] is not None]
    low, high = min([0.0, *values]), max([0.0, *values])
    label_width, right = 140, 70
    span = (high - low) or 1.0
    plot = width - label_width - right
    zero = label_width + plot * (0 - low) / span
    drawn = []
    for i, bar in enumerate(bars):
        v = bar["value"] or 0.0
        x = label_width + plot * (min(v, 0) - low) / span
        drawn.append({**bar, "x": round(x, 1), "width": round(max(1.0, plot * abs(v) / span), 1),
                      "y": 6 + i * (bar_height + 4)})
    return {"bars": drawn, "width": width, "height": 12 + len(bars) * (bar_height + 4), "zero": round(zero, 1),
            "bar_height": bar_height, "label_width": label_width}
