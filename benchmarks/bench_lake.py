"""The lake store (DuckLake on PostgreSQL) beside the single-file store, measured in the same run.

- sweep: 4 writer processes (each its own HOME, so its own journal, as separate machines would have) released
  together, each logging R runs of P points with params: points/s from the release to the last exit.
- run ends: the same 4 writers, each ending 10 runs of one point, until every process has exited (its exit
  flush included): runs per second. Run ends are ingested in the background, coalesced, so this counts
  committed runs, not commits.
  Both writer rows say how many tables the writers' lake reads copied while timed (``lake_mirror``'s read
  copy, which a process that only logs should never pay for).
- search: ``search_runs`` with a param filter and a metric order over the sweep's runs, in a fresh process.
- UI run list and run page: ``duckml.ui.app.create_app`` through Starlette's TestClient, in a fresh process.
- latency: the lake's UI pages again through ``latency_proxy`` (each PostgreSQL reply delayed by N ms):
  ms of page time per ms of added round-trip latency.
The baseline column is the single-file store on local disk; ratio > 1 favours the lake. Needs a PostgreSQL
server: ``DUCKML_BENCH_PG`` or ``DUCKML_TEST_PG`` (a libpq conninfo; `.ci/postgres-start` prints one) and its
``createdb``; without one the rows say so and nothing runs.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from benchmarks import common

SCALES = {
    "quick": {"writers": 4, "runs": 2, "points": 200, "commit_runs": 3, "repeats": 3},
    "full": {"writers": 4, "runs": 3, "points": 3000, "commit_runs": 10, "repeats": 7},
}
BASELINE = "single-file store (local disk)"
LATENCY_MS = 20.0  # added to every PostgreSQL reply by the proxy: large enough to stand out of the noise


def _server() -> str | None:
    return os.environ.get("DUCKML_BENCH_PG") or os.environ.get("DUCKML_TEST_PG")


def _fresh_lake(conninfo: str, root: Path) -> dict:
    """A new database on the server, and an empty shared data folder: one lake."""
    fields = dict(part.split("=", 1) for part in conninfo.split() if "=" in part)
    name = "bench_" + uuid.uuid4().hex[:10]
    createdb = sorted(glob.glob("/usr/lib/postgresql/*/bin/createdb")) or ["createdb"]
    subprocess.run([createdb[-1], "-h", fields.get("host", "127.0.0.1"), "-p", fields.get("port", "5432"),
                    "-U", fields.get("user", "postgres"), name], check=True, capture_output=True)
    fields["dbname"] = name
    spec = "ducklake:postgres:" + " ".join(f"{k}={v}" for k, v in fields.items())
    return {"DUCKML_STORE": spec, "DUCKML_DATA_PATH": str(root / "shared")}


def _table_copies(duckml) -> int:
    """Tables this process's lake reads have copied so far (``lake_mirror``); 0 on a file."""
    mirror = getattr(duckml.get_store(), "_mirror", None)
    return mirror.copies if mirror is not None else 0


def writer(runs: int, points: int, name: str, ready: str, go: str) -> dict:
    """One machine: wait for the go file, log ``runs`` runs of ``points`` points, end each run (a commit).
    Also says how many tables its reads copied while timed: a writer should not pay for the read copy."""
    import duckml

    duckml.set_experiment("sweep")
    duckml.connect().sql("SELECT count(*) FROM runs").fetchall()  # schema ready before the clock starts
    copies_before = _table_copies(duckml)
    Path(ready).touch()
    while not os.path.exists(go):
        time.sleep(0.002)
    for r in range(runs):
        with duckml.start_run(run_name=f"{name}-{r}"):
            duckml.log_params({"lr": 0.001 * (r + 1), "machine": name})
            for step in range(points):
                duckml.log_metric("loss", 1.0 / (step + 1), step=step)
    return {"finished": time.time(), "table_copies": _table_copies(duckml) - copies_before}


def search(repeats: int) -> dict:
    """Median seconds of a filtered, ordered search_runs over every run, in this fresh process."""
    import duckml

    seconds, frame = common.timed(lambda: duckml.search_runs(
        filter_string="params.lr > 0.001", order_by=["metrics.loss ASC"]), repeats=repeats)
    return {"seconds": seconds, "rows": len(frame)}


def pages(repeats: int) -> dict:
    """Median seconds of the UI's run list and run page (the sweep experiment, its first run)."""
    import warnings

    import duckml
    from duckml.ui.app import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's note on httpx
        from starlette.testclient import TestClient
    client = TestClient(create_app(), base_url="http://localhost")
    run_id = duckml.search_runs(experiment_names=["sweep"], max_results=1)["run_id"][0]

    def get(url):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
        return response

    run_list, _ = common.timed(lambda: get("/experiments/sweep"), repeats=repeats)
    run_page, _ = common.timed(lambda: get(f"/runs/{run_id}"), repeats=repeats)
    return {"run_list": run_list, "run_page": run_page}


def _with_latency(store_env: dict, delay_ms: float, reader_env: dict, repeats: int) -> tuple[dict | None, str]:
    """The pages, with PostgreSQL's replies delayed ``delay_ms`` by a proxy in this process."""
    from benchmarks.latency_proxy import LatencyProxy

    fields = dict(part.split("=", 1) for part in store_env["DUCKML_STORE"][len("ducklake:postgres:"):].split())
    with LatencyProxy(fields.get("host", "127.0.0.1"), int(fields.get("port", "5432")), delay_ms) as proxy:
        fields.update(host="127.0.0.1", port=str(proxy.port))
        spec = "ducklake:postgres:" + " ".join(f"{k}={v}" for k, v in fields.items())
        return common.try_side("duckml", "bench_lake", "pages", {"repeats": repeats},
                               env={**store_env, **reader_env, "DUCKML_STORE": spec})


def _machines(store_env: dict, root: Path, writers: int, runs: int, points: int,
              tag: str) -> tuple[float, str, int]:
    """Release ``writers`` machine processes together: wall seconds until the last one finished, errors, and
    the tables the writers' reads copied while timed."""
    go = root / f"go-{tag}"
    processes, readies = [], []
    for w in range(writers):
        home = root / tag / f"m{w}"
        home.mkdir(parents=True, exist_ok=True)
        ready = root / f"ready-{tag}-{w}"
        readies.append(ready)
        env = common._worker_env({**store_env, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
                                  "DUCKML_LOCK_TIMEOUT": "300"})
        kwargs = {"runs": runs, "points": points, "name": f"m{w}", "ready": str(ready), "go": str(go)}
        processes.append(subprocess.Popen([sys.executable, "-m", "benchmarks._worker", "bench_lake", "writer",
                                           json.dumps(kwargs)], env=env, cwd=home, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
    deadline = time.time() + 300
    while not all(r.exists() for r in readies) and time.time() < deadline:
        if any(p.poll() not in (None, 0) for p in processes):
            break
        time.sleep(0.01)
    started = time.time()
    go.touch()
    errors, copies = [], 0
    for p in processes:
        out, err = p.communicate(timeout=900)
        if p.returncode != 0:
            errors.append(err.strip().splitlines()[-1][:200] if err.strip() else f"exit {p.returncode}")
        copies += sum(json.loads(line[len(common.RESULT_MARKER):]).get("table_copies", 0)
                      for line in out.splitlines() if line.startswith(common.RESULT_MARKER))
    return time.time() - started, "; ".join(errors), copies


def _measure(store_env: dict, root: Path, s: dict) -> dict:
    sweep_s, sweep_err, sweep_copies = _machines(store_env, root, s["writers"], s["runs"], s["points"], "sweep")
    commit_s, commit_err, commit_copies = _machines(store_env, root, s["writers"], s["commit_runs"], 1, "commits")
    reader_home = root / "reader"
    reader_home.mkdir(exist_ok=True)
    found, error = common.try_side("duckml", "bench_lake", "search", {"repeats": s["repeats"]},
                                   env={**store_env, "HOME": str(reader_home),
                                        "XDG_CACHE_HOME": str(reader_home / ".cache")})
    page_times, page_error = common.try_side("duckml", "bench_lake", "pages", {"repeats": s["repeats"]},
                                             env={**store_env, "HOME": str(reader_home),
                                                  "XDG_CACHE_HOME": str(reader_home / ".cache")})
    return {"run_list_ms": page_times["run_list"] * 1000 if page_times else None,
            "run_page_ms": page_times["run_page"] * 1000 if page_times else None,
            "points_per_s": s["writers"] * s["runs"] * s["points"] / sweep_s,
            "commits_per_s": s["writers"] * s["commit_runs"] / commit_s,
            "search_ms": found["seconds"] * 1000 if found else None,
            "search_rows": found["rows"] if found else None,
            "sweep_copies": sweep_copies, "commit_copies": commit_copies,
            "errors": common.join_notes(sweep_err, commit_err, error, page_error)}


def run(scale: str) -> list[dict]:
    s = SCALES[scale]
    server = _server()
    names = ("lake: sweep, 4 writer processes", "lake: run ends, 4 writer processes", "lake: search_runs",
             "lake: UI run list", "lake: UI run page", "lake: UI pages per ms of catalog latency")
    units = ("points/s", "runs/s", "ms", "ms", "ms", "ms/ms")
    if server is None:
        reason = "skipped: no PostgreSQL (set DUCKML_BENCH_PG or DUCKML_TEST_PG; .ci/postgres-start)"
        return [common.row(n, None, None, u, reason, BASELINE) for n, u in zip(names, units)]
    root = common.scratch_dir("lake")
    try:
        lake_env = _fresh_lake(server, root / "lake")
        lake = _measure(lake_env, root / "lake", s)
    except subprocess.CalledProcessError as error:
        reason = f"skipped: createdb failed ({error.stderr.strip()[:200] if error.stderr else error})"
        return [common.row(n, None, None, u, reason, BASELINE) for n, u in zip(names, units)]
    (root / "file").mkdir(parents=True, exist_ok=True)
    single = _measure({"DUCKML_STORE": str(root / "file" / "store.duckdb")}, root / "file", s)
    shape = (f"{s['writers']} writers × {s['runs']} runs × {s['points']} points; "
             f"tables the lake writers' reads copied while timed: {lake['sweep_copies']}")
    return [
        common.row(names[0], lake["points_per_s"], single["points_per_s"], units[0],
                   common.join_notes(shape, lake["errors"], single["errors"]), BASELINE),
        common.row(names[1], lake["commits_per_s"], single["commits_per_s"], units[1],
                   common.join_notes(f"{s['writers']} writers × {s['commit_runs']} run ends, until all exited; "
                                     f"tables the lake writers' reads copied while timed: {lake['commit_copies']}",
                                     lake["errors"],
                                     single["errors"]), BASELINE),
        common.row(names[2], lake["search_ms"], single["search_ms"], units[2],
                   f"{lake['search_rows']} runs, filter on a param, order by a metric, fresh process", BASELINE),
        common.row(names[3], lake["run_list_ms"], single["run_list_ms"], units[3],
                   "GET /experiments/sweep, TestClient, fresh process", BASELINE),
        common.row(names[4], lake["run_page_ms"], single["run_page_ms"], units[4],
                   "GET /runs/<id>, TestClient, fresh process", BASELINE),
        _latency_row(names[5], lake_env, root, s),
    ]


def _latency_row(name: str, lake_env: dict, root: Path, s: dict) -> dict:
    """Run list + run page time at 0 and LATENCY_MS added per catalog round trip: the slope."""
    reader = root / "latency-reader"
    reader.mkdir(exist_ok=True)
    reader_env = {"HOME": str(reader), "XDG_CACHE_HOME": str(reader / ".cache")}
    near, near_error = _with_latency(lake_env, 0, reader_env, s["repeats"])
    far, far_error = _with_latency(lake_env, LATENCY_MS, reader_env, s["repeats"])
    if near is None or far is None:
        return common.row(name, None, None, "ms/ms", common.join_notes(near_error, far_error), "")
    both = lambda t: (t["run_list"] + t["run_page"]) * 1000
    slope = (both(far) - both(near)) / LATENCY_MS
    return common.row(name, slope, None, "ms/ms",
                      f"run list + run page: {both(near):.0f} ms through the proxy at +0 ms, {both(far):.0f} ms at "
                      f"+{LATENCY_MS:g} ms per round trip (list {far['run_list'] * 1000:.0f}, page "
                      f"{far['run_page'] * 1000:.0f})", "")


if __name__ == "__main__":
    for result in run(sys.argv[1] if len(sys.argv) > 1 else "quick"):
        print(json.dumps(result))
