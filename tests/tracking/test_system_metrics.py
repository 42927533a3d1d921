"""System metrics: a sampler thread per run logging MLflow's ``system/…`` names, stopped at the run end,
never inherited by a forked child; GPU readings through NVML, checked with a stand-in module."""

from __future__ import annotations

import os
import threading
import types

import pytest

import duckml
from duckml.errors import InvalidInputError
from duckml.tracking import system_metrics

# MLflow 3's CPU, disk and network monitors, with its "system/" prefix
MLFLOW_NAMES = {
    "system/cpu_utilization_percentage", "system/system_memory_usage_megabytes",
    "system/system_memory_usage_percentage", "system/disk_usage_megabytes", "system/disk_usage_percentage",
    "system/disk_available_megabytes", "system/network_receive_megabytes", "system/network_transmit_megabytes",
}


_original_nvml_source = system_metrics.nvml_source  # kept before a test replaces it


def _sampler_threads():
    return [t for t in threading.enumerate() if t.name == "duckml-system-metrics"]


def _wait(active, samples):
    assert active._system_metrics.wait_for_samples(samples, timeout=60)


def test_a_run_with_log_system_metrics_logs_mlflows_names_at_the_interval(store, monkeypatch):
    monkeypatch.setenv("DUCKML_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.05")
    with duckml.start_run(log_system_metrics=True) as run:
        _wait(run, 3)
    assert not _sampler_threads() and not system_metrics.running_samplers()
    logged = duckml.get_run(run.run_id).data.metrics
    assert MLFLOW_NAMES <= set(logged)
    assert 0 <= logged["system/cpu_utilization_percentage"] <= 100 * os.cpu_count()
    assert 0 < logged["system/system_memory_usage_percentage"] <= 100
    steps = duckml.get_metric_history(run.run_id, "system/disk_usage_percentage")["step"].to_list()
    assert steps[:3] == [0, 1, 2] and steps == sorted(steps)


def test_the_sampler_stops_at_end_run_and_logs_nothing_after(store, monkeypatch):
    monkeypatch.setenv("DUCKML_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.02")
    run = duckml.start_run(log_system_metrics=True)
    sampler = run._system_metrics
    _wait(run, 2)
    duckml.end_run()
    assert not sampler.alive and not _sampler_threads()
    count = duckml.get_metric_history(run.run_id, "system/cpu_utilization_percentage").height
    threading.Event().wait(0.2)  # ten intervals: a sampler still alive would have logged
    assert duckml.get_metric_history(run.run_id, "system/cpu_utilization_percentage").height == count
    assert duckml.get_run(run.run_id).info.status == "FINISHED"


def test_the_environment_variable_turns_it_on_and_off_is_the_default(store, monkeypatch):
    monkeypatch.setenv("DUCKML_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.02")
    with duckml.start_run() as plain:
        assert plain._system_metrics is None
    monkeypatch.setenv("DUCKML_ENABLE_SYSTEM_METRICS_LOGGING", "true")
    with duckml.start_run() as sampled:
        _wait(sampled, 1)
    with duckml.start_run(log_system_metrics=False) as refused:
        assert refused._system_metrics is None
    assert "system/cpu_utilization_percentage" in duckml.get_run(sampled.run_id).data.metrics
    assert not any(k.startswith("system/") for k in duckml.get_run(plain.run_id).data.metrics)


@pytest.mark.parametrize("variable, value", [("DUCKML_ENABLE_SYSTEM_METRICS_LOGGING", "maybe"),
                                             ("DUCKML_SYSTEM_METRICS_SAMPLING_INTERVAL", "0"),
                                             ("DUCKML_SYSTEM_METRICS_SAMPLING_INTERVAL", "ten")])
def test_a_bad_setting_is_one_clear_error_and_creates_no_run(store, monkeypatch, variable, value):
    monkeypatch.setenv("DUCKML_ENABLE_SYSTEM_METRICS_LOGGING", "true")
    monkeypatch.setenv(variable, value)
    with pytest.raises(InvalidInputError, match=variable):
        duckml.start_run()
    assert duckml.active_run() is None and duckml.search_runs().height == 0


def test_a_resumed_run_continues_its_steps(store, monkeypatch):
    monkeypatch.setenv("DUCKML_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.02")
    with duckml.start_run(log_system_metrics=True) as first:
        _wait(first, 2)
    before = duckml.get_metric_history(first.run_id, "system/cpu_utilization_percentage")["step"].max()
    with duckml.start_run(run_id=first.run_id, log_system_metrics=True) as again:
        assert again._system_metrics.step == before + 1
        _wait(again, 1)
    steps = duckml.get_metric_history(first.run_id, "system/cpu_utilization_percentage")["step"].to_list()
    assert len(steps) == len(set(steps))


@pytest.mark.slow  # forks a process
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork with threads running
def test_a_forked_child_does_not_inherit_the_sampler(store, monkeypatch):
    monkeypatch.setenv("DUCKML_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.02")
    with duckml.start_run(log_system_metrics=True) as run:
        _wait(run, 1)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child reports what it sees, then leaves without any exit handler
            threading.Event().wait(0.2)
            alive = len(_sampler_threads()) + len(system_metrics.running_samplers())
            os.write(write, str(alive).encode())
            os._exit(0)
        os.close(write)
        child_saw = os.read(read, 16).decode()
        os.waitpid(pid, 0)
        assert run._system_metrics.alive  # the parent's sampler goes on
    assert child_saw == "0"


class _FakeNvml(types.SimpleNamespace):
    """Two GPUs as NVML reports them; the second one cannot read its power."""

    def __init__(self):
        super().__init__()
        self.nvmlInit = lambda: None
        self.nvmlDeviceGetCount = lambda: 2
        self.nvmlDeviceGetHandleByIndex = lambda i: i
        self.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=2e9 * (h + 1), total=8e9)
        self.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=40 + h)
        self.nvmlDeviceGetEnforcedPowerLimit = lambda h: 300_000

        def power(handle):
            if handle == 1:
                raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
            return 150_000
        self.nvmlDeviceGetPowerUsage = power


def test_gpu_readings_use_mlflows_names():
    values = system_metrics.nvml_source(_FakeNvml())()
    assert values == {
        "gpu_0_memory_usage_percentage": 25.0, "gpu_0_memory_usage_megabytes": 2000.0,
        "gpu_0_utilization_percentage": 40.0, "gpu_0_power_usage_watts": 150.0,
        "gpu_0_power_usage_percentage": 50.0,
        "gpu_1_memory_usage_percentage": 50.0, "gpu_1_memory_usage_megabytes": 4000.0,
        "gpu_1_utilization_percentage": 41.0,
    }


def test_no_gpu_means_no_gpu_source():
    broken = _FakeNvml()

    def fail():
        raise RuntimeError("NVML_ERROR_DRIVER_NOT_LOADED")
    broken.nvmlInit = fail
    assert system_metrics.nvml_source(broken) is None
    empty = _FakeNvml()
    empty.nvmlDeviceGetCount = lambda: 0
    assert system_metrics.nvml_source(empty) is None


def test_gpu_metrics_reach_the_run_when_a_gpu_is_found(store, monkeypatch):
    monkeypatch.setenv("DUCKML_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.02")
    monkeypatch.setattr(system_metrics, "nvml_source", lambda nvml=None: _original_nvml_source(_FakeNvml()))
    with duckml.start_run(log_system_metrics=True) as run:
        _wait(run, 1)
    metrics = duckml.get_run(run.run_id).data.metrics
    assert metrics["system/gpu_0_utilization_percentage"] == 40.0
    assert metrics["system/gpu_1_memory_usage_megabytes"] == 4000.0
    assert MLFLOW_NAMES <= set(metrics)


@pytest.mark.slow  # a fresh interpreter
def test_import_duckml_does_not_import_psutil():
    import subprocess
    import sys

    code = "import duckml, duckml.tracking.fluent, sys; print('psutil' in sys.modules, 'pynvml' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
