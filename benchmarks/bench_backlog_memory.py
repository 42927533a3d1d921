"""Peak memory and time of reading and ingesting a large journal backlog (issue 16, memory items).

A dead writer leaves N metric points in the journal; then, each in a fresh process, ``duckml runs list``
reads with the backlog pending, and ``duckml.flush()`` ingests it. Peak RSS comes from
``resource.getrusage(RUSAGE_CHILDREN)`` of each child alone. Run against any checkout, e.g. to compare a
baseline commit: ``PYTHONPATH=/path/to/checkout python benchmarks/bench_backlog_memory.py 5000000``.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time

WRITE = """
import os, sys, numpy as np, duckml
from duckml.tracking import runs
n = int(sys.argv[1])
with duckml.start_run() as run:
    duckml.log_param("p", 1)
store = duckml.get_store()
writer = store.journal.writer
chunk = 250_000
for start in range(0, n, chunk):
    steps = np.arange(start, min(n, start + chunk), dtype=np.int64)
    writer.write_metrics(run.info.run_id, "loss", steps.astype(np.float64), steps,
                         np.full(len(steps), 1_700_000_000_000_000, dtype=np.int64) + steps)
os._exit(0)  # a dead writer: its points stay pending in the journal
"""


def _child(argv: list[str], env: dict) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one child process."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.execve(argv[0], argv, env)
    _, status, usage = os.wait4(pid, 0)
    if status != 0:
        raise SystemExit(f"{argv} failed with status {status}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def main(points: int) -> None:
    folder = tempfile.mkdtemp(prefix="duckml-backlog-")
    env = dict(os.environ, DUCKML_STORE=os.path.join(folder, "b.duckdb"))
    subprocess.run([sys.executable, "-c", WRITE, str(points)], env=env, check=True)
    runs_list = [sys.executable, "-m", "duckml", "runs", "list"]
    if os.environ.get("BACKLOG_READ_ONLY") == "1":  # the reader may not ingest: only the lazy path counts
        env["DUCKML_LOCK_TIMEOUT"] = "0"
    seconds, peak = _child(runs_list, env)
    print(f"runs list with {points:,} points pending: {seconds:.2f} s, peak RSS {peak:.0f} MB")
    seconds, peak = _child([sys.executable, "-c", "import duckml; duckml.flush()"], env)
    print(f"ingest of what was left: {seconds:.2f} s, peak RSS {peak:.0f} MB")
    seconds, peak = _child(runs_list, env)
    print(f"runs list after ingest: {seconds:.2f} s, peak RSS {peak:.0f} MB")
    subprocess.run([sys.executable, "-c", WRITE, str(points)], env=env, check=True)
    seconds, peak = _child([sys.executable, "-c", "import duckml; duckml.flush()"], env)
    print(f"ingest of {points:,} pending points: {seconds:.2f} s, peak RSS {peak:.0f} MB")
    count = subprocess.run([sys.executable, "-c", "import duckml; print(duckml.connect().sql("
                            "'SELECT count(*) FROM metrics').fetchone()[0])"], env=env, check=True,
                           capture_output=True, text=True).stdout.strip()
    print(f"points stored: {count} (expected {2 * points:,})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5_000_000)
