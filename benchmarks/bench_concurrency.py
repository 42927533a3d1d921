"""Eight writer processes (and one polling reader) starting at once on a fresh store.

Each writer imports its library, waits at a barrier, then does ``set_experiment``, ``start_run`` and P
``log_metric`` calls and ends its run: the hyperparameter-sweep pattern. The wall time runs from the barrier's
release to the last writer's end. Afterwards the points are counted back from the store itself (a plain
``duckdb`` client on duckml's file, ``sqlite3`` on MLflow's): *lost* = acknowledged by a returned ``log_metric``
but not in the store; *errors* = writers (or reader polls) that raised.
"""

from __future__ import annotations

from benchmarks import common

SCALES = {
    # quick keeps the smoke run short: 4 writers; the full run is the 8-writer sweep of the issue
    "quick": {"writers": 4, "points": 20, "big_points": 0, "existing": False},
    "full": {"writers": 8, "points": 500, "big_points": 100_000, "existing": True},
}


def _open(lib: str, store: str):
    """The tracking library, pointed at ``store``."""
    if lib == "duckml":
        import duckml as m

        m.set_store(store)
    else:
        import mlflow as m

        common.mlflow_quiet()
        m.set_tracking_uri(store)
    return m


def _open_at_barrier(lib: str, store: str, ready: str, go: str):
    """Open the library, say so with the ready file, and return once the go file appears."""
    import time
    from pathlib import Path

    m = _open(lib, store)
    Path(ready).touch()
    while not Path(go).exists():
        time.sleep(0.001)
    return m


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}" if str(exc) else type(exc).__name__


def writer(lib: str, store: str, go: str, ready: str, points: int, index: int) -> dict:
    """One writer process: import, signal ready, wait for the go file, log, end the run."""
    import time

    m = _open_at_barrier(lib, store, ready, go)
    t0, ok, error = time.time(), 0, ""
    try:
        m.set_experiment("bench-concurrency")
        with m.start_run(run_name=f"writer-{index}"):
            for i in range(points):
                m.log_metric("loss", 1.0 / (i + 1), step=i)
                ok += 1
    except Exception as exc:  # the point of the benchmark is to count these
        error = _describe(exc)
    return {"start": t0, "end": time.time(), "ok": ok, "error": error}


def reader(lib: str, store: str, go: str, ready: str, stop: str) -> dict:
    """Poll the run list until the stop file appears; count polls and failures."""
    import time
    from pathlib import Path

    m = _open_at_barrier(lib, store, ready, go)
    polls = errors = 0
    first = ""
    while not Path(stop).exists():
        try:
            m.search_runs(experiment_names=["bench-concurrency"])
        except Exception as exc:  # counted, not hidden
            errors += 1
            first = first or _describe(exc)
        polls += 1
        time.sleep(0.05)
    return {"polls": polls, "errors": errors, "first_error": first}


def prepare(lib: str, store: str) -> dict:
    """Create the store and the experiment beforehand, for the existing-store variant."""
    m = _open(lib, store)
    m.set_experiment("bench-concurrency")
    if lib == "duckml":
        m.flush()
    return {}


def _count_back(lib: str, store: str) -> int | None:
    if lib == "duckml":
        import duckdb

        with duckdb.connect(store, read_only=True) as con:
            return con.execute("SELECT count(*) FROM metrics").fetchone()[0]
    import sqlite3

    path = store.removeprefix("sqlite:///")
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT count(*) FROM metrics").fetchone()[0]
    except sqlite3.Error:
        return None
    finally:
        con.close()


def side(lib: str, writers: int, points: int, reader_on: bool = True, existing: bool = False) -> dict:
    """Coordinator, run in the side's interpreter: start the processes, release them together, count back.

    ``existing`` creates the store and experiment first, so only the logging itself is concurrent.
    """
    import json
    import subprocess
    import sys
    import time

    folder = common.scratch_dir("concurrency")
    store = str(folder / "bench.duckdb") if lib == "duckml" else common.sqlite_uri(folder / "mlflow.db")
    go, stop = folder / "go", folder / "stop"
    if existing:
        prep = subprocess.run([sys.executable, "-m", "benchmarks._worker", "bench_concurrency", "prepare",
                               json.dumps({"lib": lib, "store": store})], capture_output=True, text=True, cwd=folder)
        if prep.returncode != 0:
            raise RuntimeError(f"preparing the {lib} store failed: {prep.stderr.strip().splitlines()[-1:]}")

    def spawn(func: str, kwargs: dict):
        return subprocess.Popen([sys.executable, "-m", "benchmarks._worker", "bench_concurrency", func,
                                 json.dumps(kwargs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=folder)

    procs = [spawn("writer", {"lib": lib, "store": store, "go": str(go), "ready": str(folder / f"ready{i}"),
                              "points": points, "index": i}) for i in range(writers)]
    if reader_on:
        rproc = spawn("reader", {"lib": lib, "store": store, "go": str(go), "ready": str(folder / "ready-r"),
                                 "stop": str(stop)})
    expected_ready = writers + (1 if reader_on else 0)
    deadline = time.time() + 300
    while len(list(folder.glob("ready*"))) < expected_ready and time.time() < deadline:
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.01)
    t_go = time.time()
    go.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=1800)
        results.append(_parse(out, err, p.returncode))
    stop.touch()
    rres = _parse(*rproc.communicate(timeout=300), rproc.returncode) if reader_on else {}
    acknowledged = sum(r.get("ok", 0) for r in results)
    stored = _count_back(lib, store)
    ends = [r["end"] for r in results if "end" in r]
    errors = [r["error"] for r in results if r.get("error")]
    return {
        "wall": (max(ends) - t_go) if ends else None, "intended": writers * points, "acknowledged": acknowledged,
        "stored": stored, "lost": None if stored is None else max(0, acknowledged - stored),
        "errors": len(errors), "first_error": errors[0] if errors else "",
        "reader_polls": rres.get("polls"), "reader_errors": rres.get("errors", 1 if "error" in rres else 0),
        "reader_first_error": rres.get("first_error", rres.get("error", "")),
    }


def _parse(out: str, err: str, code: int) -> dict:
    import json

    for line in reversed(out.splitlines()):
        if line.startswith(common.RESULT_MARKER):
            return json.loads(line[len(common.RESULT_MARKER):])
    lines = err.strip().splitlines() or ["(no output)"]
    return {"ok": 0, "error": f"exit {code}: {lines[-1][:160]}"}


def _notes(r: dict | None, who: str) -> str:
    if not r:
        return ""
    text = (f"{who}: {r['errors']} writer errors, {r['stored'] if r['stored'] is not None else '?'}/{r['intended']:,} "
            f"points stored, {r['lost'] if r['lost'] is not None else '?'} acknowledged points lost")
    if r["first_error"]:
        text += f" (first: {r['first_error'][:120]})"
    if r.get("reader_polls") is not None:
        text += f"; reader {r['reader_polls']} polls, {r['reader_errors']} errors"
        if r.get("reader_first_error"):
            text += f" ({r['reader_first_error'][:100]})"
    return text


def _wall_row(label: str, duck, duck_err, ml, ml_err) -> dict:
    r = common.row(label, duck and duck["wall"], ml and ml["wall"], "s",
                   common.join_notes(duck_err, ml_err, _notes(duck, "duckml"), _notes(ml, "MLflow")))
    if ml and ml["errors"]:
        r["ratio"] = None  # a wall time of writers that died is no baseline
    return r


def run(scale: str) -> list[dict]:
    cfg = SCALES[scale]
    n, p = cfg["writers"], cfg["points"]
    duck, duck_err = common.try_side("duckml", __name__, "side", {"lib": "duckml", "writers": n, "points": p})
    ml, ml_err = common.try_side("mlflow", __name__, "side", {"lib": "mlflow", "writers": n, "points": p})
    rows = [_wall_row(f"{n} writers x {p} log_metric, fresh store: wall", duck, duck_err, ml, ml_err)]
    failed = common.row(f"{n} writers, fresh store: failed writers + lost points", None, None, "count",
                        "writers that raised + acknowledged points missing (+ for MLflow points never stored); "
                        "ratio not meaningful, duckml's goal is 0")
    failed["duckml"] = (duck["errors"] + (duck["lost"] or 0)) if duck else None
    failed["baseline"] = (ml["errors"] + (ml["lost"] or 0) + (ml["intended"] - (ml["stored"] or 0))) if ml else None
    rows.append(failed)
    if cfg["existing"]:
        kw = {"writers": n, "points": p, "existing": True}
        duck2, duck2_err = common.try_side("duckml", __name__, "side", {"lib": "duckml", **kw})
        ml2, ml2_err = common.try_side("mlflow", __name__, "side", {"lib": "mlflow", **kw})
        rows.append(_wall_row(f"{n} writers x {p} log_metric, existing store: wall", duck2, duck2_err, ml2, ml2_err))
    if cfg["big_points"]:
        big, big_err = common.try_side("duckml", __name__, "side",
                                       {"lib": "duckml", "writers": n, "points": cfg["big_points"]})
        rows.append(common.row(f"{n} writers x {cfg['big_points']:,} log_metric, fresh store (duckml only)",
                               big and big["wall"], None, "s",
                               common.join_notes(big_err, _notes(big, "duckml"),
                                                 f"{n * cfg['big_points'] / big['wall']:,.0f} points/s overall"
                                                 if big and big["wall"] else ""), "none"))
    return rows
