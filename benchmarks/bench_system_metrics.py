"""System metrics' cost to a CPU-bound training loop (issue 23: under 1%).

A pure-Python loop (it holds the GIL, the worst case for a sampler thread) is timed, in CPU time of the whole
process (the sampler thread's included; wall time is noted too, but on a shared machine it mostly measures the
other tenants), with and without
``start_run(log_system_metrics=True)``, alternating, median of the repeats, with the sampler every 1 s (ten
times MLflow's and duckml's default of 10 s, so that the cost shows above the noise). The cost of one sample
(psutil's readings and the points logged) is also timed directly: at the default interval the overhead is that
cost divided by 10 s. duckml against itself: the baseline is the same loop without the sampler.
"""

from __future__ import annotations

import os
import time

from benchmarks import common

SCALES = {"quick": {"repeats": 3, "loop_seconds": 1.0, "samples": 20},
          "full": {"repeats": 7, "loop_seconds": 5.0, "samples": 200}}
FAST_INTERVAL = 1.0
DEFAULT_INTERVAL = 10.0


def _training_loop(n: int) -> int:
    total = 0
    for i in range(n):
        total = (total + i * i) % 1_000_003
    return total


def _loop_size(seconds: float) -> int:
    n, elapsed = 100_000, 0.0
    while elapsed < 0.2:
        n *= 2
        t0 = time.perf_counter()
        _training_loop(n)
        elapsed = time.perf_counter() - t0
    return int(n * seconds / elapsed)


def duckml_side(repeats: int, loop_seconds: float, samples: int) -> dict:
    import duckml
    from duckml.tracking import system_metrics

    duckml.set_store(str(common.scratch_dir("system-metrics") / "bench.duckdb"))
    n = _loop_size(loop_seconds)
    with duckml.start_run(run_name="one-sample") as run:  # the cost of one sample, timed directly
        sampler = system_metrics.SystemMetricsSampler(
            lambda metrics, step: duckml.log_metrics(metrics, step=step), interval=3600)
        sampler.sample_now()  # warm-up: imports psutil, primes cpu_percent
        sample_wall, sample_cpu = [], []
        for _ in range(samples):
            t0, c0 = time.perf_counter(), time.thread_time()
            sampler.sample_now()
            sample_wall.append(time.perf_counter() - t0)
            sample_cpu.append(time.thread_time() - c0)
    points = len(duckml.get_run(run.info.run_id).data.metrics)
    os.environ["DUCKML_SYSTEM_METRICS_SAMPLING_INTERVAL"] = str(FAST_INTERVAL)
    plain, sampled, plain_wall, sampled_wall, taken = [], [], [], [], 0
    for i in range(repeats + 1):  # alternating, so that a burst of load elsewhere hits both sides alike
        for with_sampler in ((False, True) if i % 2 else (True, False)):
            with duckml.start_run(log_system_metrics=with_sampler) as active:
                t0, c0 = time.perf_counter(), time.process_time()
                _training_loop(n)
                used, elapsed = time.process_time() - c0, time.perf_counter() - t0
                if with_sampler:
                    taken += active._system_metrics.step
            if i > 0:  # the first round is the warm-up
                (sampled if with_sampler else plain).append(used)
                (sampled_wall if with_sampler else plain_wall).append(elapsed)
    duckml.flush()
    return {"sample_wall": common.median(sample_wall), "sample_cpu": common.median(sample_cpu), "points_per_sample": points,
            "plain": common.median(plain), "sampled": common.median(sampled), "samples_in_loops": taken,
            "plain_wall": common.median(plain_wall), "sampled_wall": common.median(sampled_wall),
            "loops": repeats}


def run(scale: str) -> list[dict]:
    cfg = SCALES[scale]
    duck, err = common.try_side("duckml", __name__, "duckml_side", cfg)
    if not duck:
        return [common.row("system metrics sampler", None, None, "", err)]
    measured = (duck["sampled"] / duck["plain"] - 1) * 100
    wall_measured = (duck["sampled_wall"] / duck["plain_wall"] - 1) * 100
    at_default = duck["sample_wall"] / DEFAULT_INTERVAL * 100
    return [
        common.row("system metrics: one sample (psutil readings + points logged)", duck["sample_wall"] * 1e3, None,
                   "ms", f"{duck['points_per_sample']} metrics a sample; CPU time {duck['sample_cpu'] * 1e3:.2f} ms",
                   "—"),
        common.row("system metrics overhead at the default 10 s interval (one sample's time / 10 s)", at_default,
                   None, "% of the loop", "target < 1%", "—"),
        common.row(f"CPU-bound loop with a sampler every {FAST_INTERVAL:g} s, against without (process CPU time)",
                   duck["sampled"], duck["plain"], "s",
                   f"overhead {measured:+.2f}% at 10× the default rate (median of {duck['loops']} alternated pairs; "
                   f"{duck['samples_in_loops']} samples taken in the sampled loops); wall time "
                   f"{duck['sampled_wall']:.2f} s against {duck['plain_wall']:.2f} s ({wall_measured:+.1f}%, "
                   "at the mercy of the machine's other load)", "no sampler (duckml)"),
    ]
