"""`duckml ui`: the metric-history endpoint on a long series, and the run list page on many runs.

- History: ``GET /api/runs/<id>/metrics/<key>?points=2000`` on a 1,000,000-point series (10 spikes), through
  Starlette's TestClient (the whole app, JSON included; no socket). Baseline, measured in the same process:
  the full history as JSON (``get_metric_history`` → the same JSON shape), which is what a UI that does not
  downsample would send. Both response sizes are reported, and whether the 10 spikes are in the answer.
- Run list: ``GET /experiments/<name>`` (page 1 and page 100 of 50 runs, the default columns) on 10,000
  runs × 10 params × 5 metrics. Baseline: ``search_runs`` of all 10,000 runs, the read a UI without
  server-side pagination would make before rendering anything (page rendering not included).

The store is written with one bulk INSERT per table (the fluent API would take minutes for 10,000 runs).
"""

from __future__ import annotations

from benchmarks import common

SCALES = {"quick": {"points": 50_000, "runs": 500, "repeats": 3},
          "full": {"points": 1_000_000, "runs": 10_000, "repeats": 7}}
EXPERIMENT = "bench-ui"


def _client(path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    from duckml.ui import create_app

    return TestClient(create_app(path), base_url="http://localhost:5000")


def history_side(points: int, repeats: int) -> dict:
    import json

    import numpy as np

    import duckml

    path = common.scratch_dir("ui-history") / "bench.duckdb"
    duckml.set_store(str(path))
    values = np.sin(np.arange(points) / 5000.0)
    spikes = np.random.default_rng(0).choice(points, 10, replace=False)
    values[spikes] = 100.0
    with duckml.start_run(run_name="long", experiment_name=EXPERIMENT) as run:
        duckml.log_metric_series("loss", values)
    duckml.flush()
    client = _client(path)
    url = f"/api/runs/{run.info.run_id}/metrics/loss?points=2000"
    seconds, response = common.timed(lambda: client.get(url), repeats)
    data = response.json()
    kept = sum(1 for v in data["max"] if v == 100.0)

    def full_json():
        frame = duckml.get_metric_history(run.info.run_id, "loss")
        values = frame["value"].to_list()
        return json.dumps({"step": frame["step"].to_list(), "value": values, "min": values, "max": values})

    full_seconds, body = common.timed(full_json, max(1, repeats // 2))
    return {"seconds": seconds, "bytes": len(response.content), "buckets": len(data["step"]),
            "spikes_kept": kept, "full_seconds": full_seconds, "full_bytes": len(body.encode())}


def _bulk_store(path, runs: int) -> None:
    import duckml

    store = duckml.connect(path)
    with store.write() as con:
        con.execute("INSERT INTO experiments VALUES ('e-bench', ?, 'active', now(), now())", [EXPERIMENT])
        con.execute("""INSERT INTO runs SELECT 'r' || lpad(i::VARCHAR, 6, '0'), 'e-bench', 'run-' || i, 'FINISHED',
                       TIMESTAMP '2026-01-01' + INTERVAL (i) SECOND, TIMESTAMP '2026-01-01' + INTERVAL (i + 60) SECOND,
                       'active', CASE WHEN i % 10 > 0 THEN 'r' || lpad((i - i % 10)::VARCHAR, 6, '0') END
                       FROM range(?) AS t(i)""", [runs])
        con.execute("""INSERT INTO params SELECT 'r' || lpad(i::VARCHAR, 6, '0'), 'p' || k, ((i * 7 + k) % 13)::VARCHAR
                       FROM range(?) AS t(i), range(10) AS u(k)""", [runs])
        con.execute("""INSERT INTO metrics SELECT 'r' || lpad(i::VARCHAR, 6, '0'), 'm' || k,
                       1.0 / (s + 1) + ((i * 31 + k) % 97) / 100.0, s, TIMESTAMP '2026-01-01' + INTERVAL (s) SECOND
                       FROM range(?) AS t(i), range(5) AS u(k), range(10) AS v(s)""", [runs])
        con.execute("""INSERT INTO _duckml_latest SELECT run_id, key, value, step, timestamp FROM metrics
                       QUALIFY row_number() OVER (PARTITION BY run_id, key ORDER BY step DESC, timestamp DESC) = 1""")


def run_list_side(runs: int, repeats: int) -> dict:
    import duckml

    path = common.scratch_dir("ui-runs") / "bench.duckdb"
    _bulk_store(path, runs)
    duckml.set_store(str(path))
    client = _client(path)
    url = f"/experiments/{EXPERIMENT}"
    first, response = common.timed(lambda: client.get(url), repeats)
    assert response.status_code == 200, response.text[:300]
    last_page = max(1, min(100, runs // 50))
    deep, response = common.timed(lambda: client.get(url, params={"page": last_page}), repeats)
    assert response.status_code == 200
    filtered, response = common.timed(
        lambda: client.get(url, params={"filter": "metrics.m1 < 0.5 and params.p3 = '4'",
                                        "order_by": "metrics.m0 ASC"}), repeats)
    assert response.status_code == 200
    everything, frame = common.timed(lambda: duckml.search_runs([EXPERIMENT]), repeats)
    return {"first": first, "deep": deep, "deep_page": last_page, "filtered": filtered, "all": everything,
            "rows": frame.height, "page_bytes": len(response.content)}


def run(scale: str) -> list[dict]:
    cfg = SCALES[scale]
    rows = []
    hist, err = common.try_side("duckml", __name__, "history_side", {"points": cfg["points"], "repeats": cfg["repeats"]})
    label = f"{cfg['points']:,}"
    if hist:
        notes = (f"{hist['buckets']} buckets, {hist['spikes_kept']}/10 spikes kept; baseline: the full history as "
                 f"JSON (get_metric_history + json.dumps)")
        rows.append(common.row(f"ui history endpoint, {label} points: time", hist["seconds"] * 1e3,
                               hist["full_seconds"] * 1e3, "ms", notes, "full history as JSON"))
        rows.append(common.row(f"ui history endpoint, {label} points: response", hist["bytes"] / 1e3,
                               hist["full_bytes"] / 1e3, "kB", "", "full history as JSON"))
    else:
        rows.append(common.row(f"ui history endpoint, {label} points", None, None, "ms", err))
    runs, err = common.try_side("duckml", __name__, "run_list_side", {"runs": cfg["runs"], "repeats": cfg["repeats"]})
    label = f"{cfg['runs']:,}"
    if runs:
        base = "search_runs of every run (no pagination)"
        rows.append(common.row(f"ui run list, {label} runs: page 1", runs["first"] * 1e3, runs["all"] * 1e3, "ms",
                               f"50 runs/page, 10 params + 5 metrics (last/min/max) each; baseline {runs['rows']:,} rows",
                               base))
        rows.append(common.row(f"ui run list, {label} runs: page {runs['deep_page']}", runs["deep"] * 1e3,
                               runs["all"] * 1e3, "ms", "", base))
        rows.append(common.row(f"ui run list, {label} runs: filter + order_by", runs["filtered"] * 1e3,
                               runs["all"] * 1e3, "ms", "metrics.m1 < 0.5 and params.p3 = '4', order by metrics.m0",
                               base))
    else:
        rows.append(common.row(f"ui run list, {label} runs", None, None, "ms", err))
    return rows
