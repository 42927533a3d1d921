"""`duckml ui --auth --workers 2` as a real server: a session made through one worker holds on the other and
a sign-out on one ends it on both; a bounded load of 20 clients x 50 page loads answers without an error
while another process logs runs (none lost)."""

from __future__ import annotations

import http.client
import os
import re
import signal
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import contextmanager
from urllib.parse import urlencode

import psutil
import pytest

import duckml
from duckml.ui.users import add_user

from browser import free_port  # noqa: E402

pytestmark = pytest.mark.slow
PASSWORD = "a long password"


@contextmanager
def team_server(store_path, users_file, workers=2, extra=()):
    """`duckml ui --workers N --auth USERS_FILE` in a process group of its own; yields (port, worker pids)."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "duckml", "--store", str(store_path), "ui", "--no-browser",
                               "--port", str(port), "--workers", str(workers), "--auth", str(users_file), *extra],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.communicate()[1]
            assert time.monotonic() < deadline, "the server did not start"
            try:
                if get(port, "/login")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        workers_found = []
        while workers > 1 and len(workers_found) < workers and time.monotonic() < deadline:
            workers_found = [c.pid for c in psutil.Process(server.pid).children(recursive=True)
                             if _listens_or_serves(c.pid)]
            time.sleep(0.2)
        yield port, workers_found
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _listens_or_serves(pid) -> bool:
    try:
        return any(c.status == psutil.CONN_LISTEN for c in psutil.Process(pid).net_connections("tcp"))
    except psutil.Error:
        return False


def get(port, path, cookie=None, connection=None):
    con = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    con.request("GET", path, headers={"Cookie": f"duckml_session={cookie}"} if cookie else {})
    answer = con.getresponse()
    answer.read()
    if connection is None:
        con.close()
    return answer.status, answer


def post_sign_in(port, name, password=PASSWORD, headers=None):
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    con.request("POST", "/login", body=urlencode({"username": name, "password": password}),
                headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})
    answer = con.getresponse()
    answer.read()
    con.close()
    return answer


def sign_in(port, name) -> str:
    answer = post_sign_in(port, name)
    assert answer.status == 303, answer.status
    return re.search(r"duckml_session=([^;]*)", answer.getheader("set-cookie"))[1]


def worker_of(connection, workers) -> int:
    """The worker process holding this (kept-alive) connection's server end."""
    local_port = connection.sock.getsockname()[1]
    for pid in workers:
        if any(c.raddr and c.raddr.port == local_port for c in psutil.Process(pid).net_connections("tcp")):
            return pid
    raise AssertionError("no worker holds the connection")


def connections_by_worker(port, workers, cookie, wanted=2, tries=60) -> dict[int, http.client.HTTPConnection]:
    """Kept-alive connections, at least one answered by each worker, each having made a request with cookie."""
    found, statuses = {}, []
    for _ in range(tries):
        con = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        statuses.append(get(port, "/", cookie, con)[0])
        found.setdefault(worker_of(con, workers), con)
        if len(found) == wanted:
            break
    return found, statuses


@pytest.fixture
def team_store(private_ui_store, fresh_store, tmp_path):
    users = tmp_path / "users.json"
    for role in ("viewer", "editor"):
        add_user(users, role, PASSWORD, role)
    duckml.reset_state()  # the server processes open the store themselves
    return fresh_store, users, private_ui_store


def test_a_session_holds_on_every_worker_and_a_sign_out_ends_it_on_all(team_store):
    store_path, users, _ = team_store
    with team_server(store_path, users) as (port, workers):
        assert len(workers) == 2, workers
        cookie = sign_in(port, "viewer")
        by_worker, statuses = connections_by_worker(port, workers, cookie)
        assert set(statuses) == {200}
        assert set(by_worker) == set(workers)  # both workers answered with the session made on one
        first, second = by_worker.values()
        first.request("POST", "/logout", headers={"Cookie": f"duckml_session={cookie}"})
        assert first.getresponse().status == 303
        first.close()
        assert get(port, "/api/runs/x/metrics/loss", cookie, second)[0] == 401  # the other worker
        assert get(port, "/", cookie, second)[0] == 303
        for _ in range(10):
            assert get(port, "/", cookie)[0] == 303


def test_behind_a_trusted_proxy_the_cookie_is_secure_and_failures_count_per_forwarded_address(team_store):
    store_path, users, _ = team_store
    over_https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    with team_server(store_path, users, workers=1) as (port, _):  # no --forwarded-allow-ips: headers ignored
        assert "secure" not in post_sign_in(port, "viewer", headers=over_https).getheader("set-cookie").lower()
    with team_server(store_path, users, workers=1, extra=["--forwarded-allow-ips", "127.0.0.1"]) as (port, _):
        assert "secure" in post_sign_in(port, "viewer", headers=over_https).getheader("set-cookie").lower()
        for _ in range(3):
            assert post_sign_in(port, "nobody", "guess", headers=over_https).status == 401
        assert post_sign_in(port, "viewer", headers=over_https).status == 429  # that address must wait
        other = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.8"}
        assert post_sign_in(port, "viewer", headers=other).status == 303  # a colleague elsewhere need not


WRITER = textwrap.dedent("""
    import sys, duckml
    duckml.set_store(sys.argv[1])
    for i in range(20):
        with duckml.start_run(run_name=f"w{i}", experiment_name="live"):
            duckml.log_metric_series("loss", [1.0 / (s + 1) for s in range(200)])
        duckml.flush()
    print("done", flush=True)
""")

CLIENTS, LOADS = 20, 50


def test_twenty_clients_fifty_page_loads_each_on_two_workers_without_an_error(team_store, capsys):
    store_path, users, ids = team_store
    pages = ["/", "/experiments/" + "sweep%20%26%20%3Cb%3Eco%3C%2Fb%3E", f"/runs/{ids['parent']}",
             f"/runs/{ids['children'][0]}", "/models/reg", f"/api/runs/{ids['children'][1]}/metrics/loss?points=50",
             f"/compare?run={ids['children'][0]}&run={ids['children'][1]}"]
    with team_server(store_path, users) as (port, _):
        cookies = [sign_in(port, "viewer") for _ in range(CLIENTS)]
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(store_path)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        times, errors, lock = [], [], threading.Lock()

        def client(number):
            con = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            for load in range(LOADS):
                path = pages[(number + load) % len(pages)]
                started = time.perf_counter()
                try:
                    status = get(port, path, cookies[number], con)[0]
                except (OSError, http.client.HTTPException) as error:
                    status = repr(error)
                    con = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                with lock:
                    times.append(time.perf_counter() - started)
                    if status != 200:
                        errors.append((path, status))
            con.close()

        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        wall = time.perf_counter() - started
        out, err = writer.communicate(timeout=300)
    assert writer.returncode == 0 and "done" in out, err
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert len(times) == CLIENTS * LOADS
    runs = duckml.connect(store_path).sql("SELECT count(*) FROM runs_overview WHERE experiment_name = 'live'")
    assert runs.fetchone()[0] == 20  # the writer lost nothing while the UI was loaded
    cuts = statistics.quantiles(times, n=100)
    with capsys.disabled():
        print(f"\n{CLIENTS} clients x {LOADS} loads on --workers 2: p50 {cuts[49] * 1000:.0f} ms, "
              f"p95 {cuts[94] * 1000:.0f} ms, {len(times) / wall:.0f} requests/s, {len(errors)} errors, "
              f"load average {os.getloadavg()[0]:.1f}")
