"""`duckml ui`: the metric-history endpoint on a long series, and the run list page on many runs.

- History: ``GET /api/runs/<id>/metrics/<key>?points=2000`` on a 1,000,000-point series (10 spikes), through
  Starlette's TestClient (the whole app, JSON included; no socket). Baseline, measured in the same process:
  the full history as JSON (``get_metric_history`` → the same JSON shape), which is what a UI that does not
  downsample would send. Both response sizes are reported, and whether the 10 spikes are in the answer.
- Run list: ``GET /experiments/<name>`` (page 1 and page 100 of 50 runs, the default columns) on 10,000
  runs × 10 params × 5 metrics. Baseline: ``search_runs`` of all 10,000 runs, the read a UI without
  server-side pagination would make before rendering anything (page rendering not included).
- Budget (issue 24), each against the same workload on the code this branch started from (its merge base
  with ``main``, exported with ``git archive`` and imported in its own subprocess):
  - run list page 1 of 10,000 runs with a 1,000,000-point run on the page, default columns and with the
    min/max columns of the long metric: ≤ 100 ms (TestClient: the whole app, no socket);
  - the chart view of 100 runs × 10 metrics (1,000 steps each) drawn in Chromium (navigation to every
    chart drawn): ≤ 1.5 s. Today's code has no chart view: its baseline is the compare page of the same
    100 runs, the one page that drew their histories;
  - gzip: the run list page's bytes on the wire with and without ``Accept-Encoding: gzip``.

The store is written with one bulk INSERT per table (the fluent API would take minutes for 10,000 runs).
"""

from __future__ import annotations

from benchmarks import common

SCALES = {"quick": {"points": 50_000, "runs": 500, "repeats": 3, "chart_runs": 20, "chart_metrics": 4,
                    "chart_steps": 200},
          "full": {"points": 1_000_000, "runs": 10_000, "repeats": 7, "chart_runs": 100, "chart_metrics": 10,
                   "chart_steps": 1_000}}
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


def _bulk_store(path, runs: int, long_points: int = 0) -> None:
    """``runs`` runs; with ``long_points``, the latest run (page 1) also has an ``m0`` of that many points."""
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
        if long_points:
            con.execute("""INSERT INTO metrics SELECT 'r' || lpad((? - 1)::VARCHAR, 6, '0'), 'm0',
                           sin(s / 5000.0), s + 10, TIMESTAMP '2026-01-01' + INTERVAL (s + 10) SECOND
                           FROM range(?) AS v(s)""", [runs, long_points])
        con.execute("""INSERT INTO _duckml_latest SELECT run_id, key, value, step, timestamp FROM metrics
                       QUALIFY row_number() OVER (PARTITION BY run_id, key ORDER BY step DESC, timestamp DESC) = 1""")
        if con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = '_duckml_metric_summary'").fetchone()[0]:
            con.execute("""INSERT INTO _duckml_metric_summary
                           SELECT run_id, key, min(value), max(value), count(*) FROM metrics GROUP BY ALL""")


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


def budget_list_side(runs: int, long_points: int, repeats: int) -> dict:
    """The run list's page 1 with the long run on it: default columns, with min/max columns, and gzip."""
    import gzip

    import duckml

    path = common.scratch_dir("ui-budget") / "bench.duckdb"
    _bulk_store(path, runs, long_points)
    duckml.set_store(str(path))
    client = _client(path)
    url = f"/experiments/{EXPERIMENT}"
    default, response = common.timed(lambda: client.get(url), repeats)
    assert response.status_code == 200 and "run-" + str(runs - 1) in response.text, response.text[:300]
    raw = len(response.text.encode())
    wire = int(response.headers.get("content-length") or len(gzip.compress(response.content)))
    encoded = response.headers.get("content-encoding", "none")
    summary, response = common.timed(lambda: client.get(url, params=[("col", "metrics.m0:last"), ("col", "metrics.m0:min"),
                                                                      ("col", "metrics.m0:max")]), repeats)
    assert response.status_code == 200
    return {"default": default, "minmax": summary, "raw_bytes": raw, "wire_bytes": wire, "encoding": encoded}


def _chart_store(path, runs: int, metrics: int, steps: int) -> list[str]:
    import duckml

    store = duckml.connect(path)
    with store.write() as con:
        con.execute("INSERT INTO experiments VALUES ('e-charts', 'bench-charts', 'active', now(), now())")
        con.execute("""INSERT INTO runs SELECT 'c' || lpad(i::VARCHAR, 4, '0'), 'e-charts', 'run-' || i, 'FINISHED',
                       TIMESTAMP '2026-01-01' + INTERVAL (i) SECOND, TIMESTAMP '2026-01-01' + INTERVAL (i + 60) SECOND,
                       'active', NULL FROM range(?) AS t(i)""", [runs])
        con.execute("""INSERT INTO params SELECT 'c' || lpad(i::VARCHAR, 4, '0'), 'lr', (i % 7)::VARCHAR
                       FROM range(?) AS t(i)""", [runs])
        con.execute("""INSERT INTO metrics SELECT 'c' || lpad(i::VARCHAR, 4, '0'), 'm' || k,
                       1.0 / (s + 1) + ((i * 31 + k) % 97) / 100.0, s, TIMESTAMP '2026-01-01' + INTERVAL (s) SECOND
                       FROM range(?) AS t(i), range(?) AS u(k), range(?) AS v(s)""", [runs, metrics, steps])
        con.execute("""INSERT INTO _duckml_latest SELECT run_id, key, value, step, timestamp FROM metrics
                       QUALIFY row_number() OVER (PARTITION BY run_id, key ORDER BY step DESC, timestamp DESC) = 1""")
        if con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = '_duckml_metric_summary'").fetchone()[0]:
            con.execute("""INSERT INTO _duckml_metric_summary
                           SELECT run_id, key, min(value), max(value), count(*) FROM metrics GROUP BY ALL""")
        return [r[0] for r in con.execute("SELECT run_id FROM runs ORDER BY run_id").fetchall()]


def chart_view_side(runs: int, metrics: int, steps: int, repeats: int, page: str) -> dict:
    """Seconds from navigation to every chart drawn in Chromium; ``page`` "charts" (the chart view) or
    "compare" (the compare page of the same runs: today's code has no chart view)."""
    import statistics
    import sys
    import time

    sys.path.insert(0, str(common.REPO_ROOT / "tests" / "ui"))
    from browser import browser, chromium_path, serving

    if chromium_path() is None:
        raise RuntimeError("no chromium")
    path = common.scratch_dir("ui-charts") / "bench.duckdb"
    ids = _chart_store(path, runs, metrics, steps)
    url = ("/experiments/bench-charts?view=charts" if page == "charts"
           else "/compare?" + "&".join(f"run={i}" for i in ids))
    done = f"""window.duckmlCharts && window.duckmlCharts.length >= {metrics}
               && window.duckmlCharts.every(u => u.data[0].length > 0)"""
    times = []
    with serving(path) as base, browser() as chromium:
        for attempt in range(repeats + 1):
            tab = chromium.new_page(viewport={"width": 1400, "height": 900})
            start = time.perf_counter()
            tab.goto(base + url)
            while not tab.evaluate(done):
                if time.perf_counter() - start > 120:
                    raise RuntimeError(f"{page}: charts not drawn in 120 s")
                time.sleep(0.01)
            if attempt:  # the first load warms the server's caches and the browser
                times.append(time.perf_counter() - start)
            tab.close()
    return {"seconds": statistics.median(times)}


def _baseline_env() -> tuple[dict | None, str]:
    """PYTHONPATH for a subprocess importing the duckml this branch started from (``git merge-base HEAD
    main``), exported to a scratch folder; (None, why) when git cannot give it."""
    import os
    import subprocess
    import tarfile

    try:
        base = subprocess.run(["git", "merge-base", "HEAD", "main"], cwd=common.REPO_ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        folder = common.scratch_dir("ui-baseline-code")
        archive = folder / "code.tar"
        subprocess.run(["git", "archive", "-o", str(archive), base, "duckml", "sql"], cwd=common.REPO_ROOT, check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(folder, filter="data")
    except (OSError, subprocess.CalledProcessError) as exc:
        return None, f"no baseline code: {exc}"
    return {"PYTHONPATH": os.pathsep.join([str(folder), str(common.REPO_ROOT)])}, base[:10]


def budget_rows(cfg: dict) -> list[dict]:
    rows = []
    old_env, base = _baseline_env()
    label = f"{cfg['runs']:,} runs + a {cfg['points']:,}-point run on page 1"
    kwargs = {"runs": cfg["runs"], "long_points": cfg["points"], "repeats": cfg["repeats"]}
    new, err = common.try_side("duckml", __name__, "budget_list_side", kwargs)
    old, old_err = common.try_side("duckml", __name__, "budget_list_side", kwargs, old_env) if old_env else (None, base)
    name = f"same workload, code at {base}"
    if new:
        rows.append(common.row(f"ui run list, {label}: page 1 (budget 100 ms)", new["default"] * 1e3,
                               old["default"] * 1e3 if old else None, "ms", old_err, name))
        rows.append(common.row(f"ui run list, {label}: page 1 with min/max columns (budget 100 ms)",
                               new["minmax"] * 1e3, old["minmax"] * 1e3 if old else None, "ms", old_err, name))
        rows.append(common.row("ui run list page 1 on the wire", new["wire_bytes"] / 1e3,
                               old["wire_bytes"] / 1e3 if old else None, "kB",
                               f"content-encoding {new['encoding']} (was {old['encoding'] if old else '?'}); "
                               f"{new['raw_bytes'] / 1e3:.0f} kB uncompressed", name))
    else:
        rows.append(common.row(f"ui run list, {label}", None, None, "ms", err))
    shape = {"runs": cfg["chart_runs"], "metrics": cfg["chart_metrics"], "steps": cfg["chart_steps"],
             "repeats": max(1, cfg["repeats"] // 2)}
    new, err = common.try_side("duckml", __name__, "chart_view_side", {**shape, "page": "charts"})
    old, old_err = (common.try_side("duckml", __name__, "chart_view_side", {**shape, "page": "compare"}, old_env)
                    if old_env else (None, base))
    label = f"{shape['runs']} runs x {shape['metrics']} metrics x {shape['steps']:,} steps"
    rows.append(common.row(f"ui chart view drawn in Chromium, {label} (budget 1.5 s)",
                           new["seconds"] if new else None, old["seconds"] if old else None, "s",
                           err or old_err or "baseline: today's compare page of the same runs (no chart view then)",
                           f"compare page, code at {base}"))
    return rows


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
    return rows + budget_rows(cfg)
