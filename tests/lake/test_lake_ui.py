"""`duckml ui` on a lake store: it starts (create_app used to call .exists() on the spec string), serves
with sign-in, and `--workers 2` answers a bounded load of 20 clients x 50 page loads without an error."""

from __future__ import annotations

import warnings

import pytest

import duckml
from duckml.ui.users import add_user

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

pytestmark = pytest.mark.slow


def _fill(runs=6):
    for i in range(runs):
        with duckml.start_run(run_name=f"r{i}", experiment_name="team"):
            duckml.log_param("alpha", i)
            duckml.log_metric_series("loss", [1.0 / (s + 1 + i) for s in range(100)])
    duckml.flush()


def test_the_ui_starts_on_a_lake_and_needs_a_sign_in(lake, tmp_path):
    from duckml.ui import create_app

    _fill()
    users = tmp_path / "users.json"
    add_user(users, "ada", "a long password", "viewer")
    app = create_app(None, users_file=users)
    with TestClient(app, base_url="http://localhost:5000", follow_redirects=False) as http:
        assert http.get("/experiments/team").status_code == 303
        assert http.post("/login", data={"username": "ada", "password": "a long password"}).status_code == 303
        page = http.get("/experiments/team")
        assert page.status_code == 200 and page.text.count('name="run" value=') == 6


WRITER = """
import duckml
for i in range(10):
    with duckml.start_run(run_name=f"w{i}", experiment_name="live"):
        duckml.log_metric_series("loss", [1.0 / (s + 1) for s in range(200)])
    duckml.flush()
print("done", flush=True)
"""


def test_twenty_clients_fifty_page_loads_on_two_workers_over_a_lake(lake, tmp_path, capsys):
    import http.client
    import os
    import re
    import signal
    import statistics
    import subprocess
    import sys
    import threading
    import time
    from urllib.parse import urlencode

    _fill()
    run_ids = [r for r in duckml.search_runs(experiment_names=["team"])["run_id"]]
    users = tmp_path / "users.json"
    add_user(users, "ada", "a long password", "viewer")
    duckml.reset_state()
    with __import__("socket").socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "duckml", "ui", "--no-browser", "--port", str(port),
                               "--workers", "2", "--auth", str(users)], env=lake.machine_env("ui"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)

    def request(con, method, path, cookie=None, body=None):
        headers = {"Cookie": f"duckml_session={cookie}"} if cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        con.request(method, path, body=body, headers=headers)
        answer = con.getresponse()
        answer.read()
        return answer

    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.communicate()[1]
            assert time.monotonic() < deadline, "the server did not start"
            try:
                if request(http.client.HTTPConnection("127.0.0.1", port, timeout=30), "GET", "/login").status == 200:
                    break
            except OSError:
                time.sleep(0.3)
        login = urlencode({"username": "ada", "password": "a long password"})
        cookies = [re.search(r"duckml_session=([^;]*)", request(
            http.client.HTTPConnection("127.0.0.1", port, timeout=60), "POST", "/login", body=login
        ).getheader("set-cookie"))[1] for _ in range(20)]
        pages = ["/", "/experiments/team", f"/runs/{run_ids[0]}", f"/runs/{run_ids[1]}",
                 f"/api/runs/{run_ids[2]}/metrics/loss?points=50", f"/compare?run={run_ids[0]}&run={run_ids[1]}"]
        writer = subprocess.Popen([sys.executable, "-c", WRITER], env=lake.machine_env("writer"),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        times, errors, lock = [], [], threading.Lock()

        def client(number):
            con = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            for load in range(50):
                path = pages[(number + load) % len(pages)]
                started = time.perf_counter()
                try:
                    status = request(con, "GET", path, cookies[number]).status
                except (OSError, http.client.HTTPException) as error:
                    status, con = repr(error), http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                with lock:
                    times.append(time.perf_counter() - started)
                    if status != 200:
                        errors.append((path, status))

        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(n,)) for n in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=900)
        wall = time.perf_counter() - started
        out, err = writer.communicate(timeout=600)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
        server_err = server.communicate(timeout=60)[1]
    assert "Traceback" not in server_err, server_err
    assert writer.returncode == 0 and "done" in out, err
    assert errors == [] and len(times) == 1000
    assert len(duckml.search_runs(experiment_names=["live"])) == 10  # the writer lost nothing
    cuts = statistics.quantiles(times, n=100)
    with capsys.disabled():
        print(f"\nlake, 20 clients x 50 loads on --workers 2: p50 {cuts[49] * 1000:.0f} ms, p95 "
              f"{cuts[94] * 1000:.0f} ms, {len(times) / wall:.1f} requests/s, {len(errors)} errors, "
              f"load average {os.getloadavg()[0]:.1f}")


def test_registry_events_on_a_lake_record_the_actor(lake):
    from sklearn.linear_model import LinearRegression

    from duckml.store.actor import acting_as

    with duckml.start_run(experiment_name="team"):
        info = duckml.log_model(LinearRegression().fit([[1.0], [2.0]], [1.0, 2.0]), name="model")
    duckml.register_model(info.model_uri, "lin")
    with acting_as("ada"):
        duckml.set_registered_model_alias("lin", "champion", 1)
    rows = duckml.connect().sql("SELECT alias, version, set_by FROM alias_history WHERE name = 'lin'").fetchall()
    assert rows == [("champion", 1, "ada")]
