"""System metrics of a run: a sampler thread logs CPU, memory, disk, network and GPU use as ``system/…``
metrics, under MLflow's names, every ``DUCKML_SYSTEM_METRICS_SAMPLING_INTERVAL`` seconds (default 10).

``start_run(log_system_metrics=True)``, or ``DUCKML_ENABLE_SYSTEM_METRICS_LOGGING=true`` for every run,
starts one; the run's end stops it. psutil (and ``pynvml`` from nvidia-ml-py for GPUs) are imported only
when a sampler starts, so ``import duckml`` stays light. A forked child owns no sampler: threads do not
survive ``fork``, and the child forgets the parent's samplers so that it never waits for one.

Names and units follow MLflow 3's monitors: CPU % (``psutil.cpu_percent`` since the previous sample),
memory and disk used in megabytes (10^6 bytes) and percent, network bytes since boot in megabytes, and per
GPU ``gpu_<i>_…``. The first point of a run is step 0; a resumed run continues after its last step.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Callable

from duckml.errors import InvalidInputError

PREFIX = "system/"
DEFAULT_INTERVAL_SECONDS = 10.0
_ENABLE_VARIABLE = "DUCKML_ENABLE_SYSTEM_METRICS_LOGGING"
_INTERVAL_VARIABLE = "DUCKML_SYSTEM_METRICS_SAMPLING_INTERVAL"

Source = Callable[[], dict]


def enabled_by_environment() -> bool:
    """Whether ``$DUCKML_ENABLE_SYSTEM_METRICS_LOGGING`` asks every run for system metrics.

    >>> enabled_by_environment() in (True, False)
    True
    """
    text = os.environ.get(_ENABLE_VARIABLE, "").strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise InvalidInputError(f"{_ENABLE_VARIABLE} must be true or false, got {text!r}")


def sampling_interval() -> float:
    """Seconds between two samples (``$DUCKML_SYSTEM_METRICS_SAMPLING_INTERVAL``, default 10).

    >>> sampling_interval() > 0
    True
    """
    text = os.environ.get(_INTERVAL_VARIABLE, "").strip()
    if not text:
        return DEFAULT_INTERVAL_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        raise InvalidInputError(f"{_INTERVAL_VARIABLE} must be a number of seconds, got {text!r}") from None
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        raise InvalidInputError(f"{_INTERVAL_VARIABLE} must be a positive number of seconds, got {text!r}")
    return seconds


# -- what is sampled ---------------------------------------------------------------------------
def psutil_source(psutil=None) -> Source:
    """CPU, memory, disk (of the root file system) and network, as MLflow's CPU, disk and network monitors.

    >>> sorted(psutil_source()())[:2]
    ['cpu_utilization_percentage', 'disk_available_megabytes']
    """
    if psutil is None:
        import psutil
    psutil.cpu_percent(interval=None)  # the first call only sets the baseline the next one measures from

    def sample() -> dict:
        memory = psutil.virtual_memory()
        disk = psutil.disk_usage(os.sep)
        network = psutil.net_io_counters()
        values = {
            "cpu_utilization_percentage": psutil.cpu_percent(interval=None),
            "system_memory_usage_megabytes": memory.used / 1e6,
            "system_memory_usage_percentage": memory.used / memory.total * 100,
            "disk_usage_percentage": disk.percent,
            "disk_usage_megabytes": disk.used / 1e6,
            "disk_available_megabytes": disk.free / 1e6,
        }
        if network is not None:  # None on a machine without network interfaces
            values["network_receive_megabytes"] = network.bytes_recv / 1e6
            values["network_transmit_megabytes"] = network.bytes_sent / 1e6
        return values

    return sample


def nvml_source(nvml=None) -> Source | None:
    """Per-GPU utilisation, memory and power through NVML (nvidia-ml-py's ``pynvml``), or None when the
    module is missing or finds no GPU. ``nvml`` lets a test hand in a stand-in module.

    >>> nvml_source() is None or callable(nvml_source())
    True
    """
    if nvml is None:
        try:
            import pynvml as nvml
        except ImportError:
            return None
    try:
        nvml.nvmlInit()
        handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
    except Exception:  # NVMLError: no driver, no GPU; the run goes on without GPU metrics
        return None
    if not handles:
        return None

    def sample() -> dict:
        values = {}
        for index, handle in enumerate(handles):
            name = f"gpu_{index}_"
            # each reading on its own: a GPU that cannot report power still reports memory
            try:
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                values[name + "memory_usage_percentage"] = memory.used / memory.total * 100
                values[name + "memory_usage_megabytes"] = memory.used / 1e6
            except Exception:
                pass
            try:
                values[name + "utilization_percentage"] = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            except Exception:
                pass
            try:
                milliwatts = nvml.nvmlDeviceGetPowerUsage(handle)
                limit = nvml.nvmlDeviceGetEnforcedPowerLimit(handle)
                values[name + "power_usage_watts"] = milliwatts / 1000
                values[name + "power_usage_percentage"] = milliwatts / limit * 100
            except Exception:
                pass
        return values

    return sample


def default_sources() -> list[Source]:
    """psutil's readings, plus the GPUs' when NVML finds any."""
    sources = [psutil_source()]
    gpu = nvml_source()
    if gpu is not None:
        sources.append(gpu)
    return sources


# -- the sampler -------------------------------------------------------------------------------
_running: set["SystemMetricsSampler"] = set()
_running_lock = threading.Lock()


class SystemMetricsSampler:
    """Samples ``sources`` every ``interval`` seconds into ``system/<name>`` metrics of one run.

    ``log`` is called as ``log(metrics_dict, step)``; the fluent API passes a function logging to the run.

    >>> points = []
    >>> sampler = SystemMetricsSampler(lambda m, step: points.append((step, m)), 0.01,
    ...                                sources=[lambda: {"cpu_utilization_percentage": 5.0}])
    >>> sampler.start(); _ = sampler.wait_for_samples(2); sampler.stop()
    >>> points[0]
    (0, {'system/cpu_utilization_percentage': 5.0})
    """

    def __init__(self, log: Callable[[dict, int], None], interval: float | None = None,
                 sources: list[Source] | None = None, first_step: int = 0):
        self._log = log
        self.interval = sampling_interval() if interval is None else float(interval)
        self._sources = sources
        self.step = first_step
        self._stop = threading.Event()
        self._sampled = threading.Condition()
        self._samples = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._sources is None:
            self._sources = default_sources()
        self._thread = threading.Thread(target=self._loop, name="duckml-system-metrics", daemon=True)
        with _running_lock:
            _running.add(self)
        self._thread.start()

    def sample_now(self) -> None:
        """Take and log one sample at once (what the thread does every interval; benchmarks time it)."""
        if self._sources is None:
            self._sources = default_sources()
        metrics = {}
        for source in self._sources:
            # one decimal, as MLflow's monitors round their averages
            metrics.update({PREFIX + key: round(float(value), 1) for key, value in source().items()})
        if metrics:
            self._log(metrics, self.step)
            self.step += 1
        with self._sampled:
            self._samples += 1
            self._sampled.notify_all()

    def _loop(self) -> None:
        # MLflow samples after each interval, not at once: a run shorter than the interval logs nothing
        while not self._stop.wait(self.interval):
            try:
                self.sample_now()
            except Exception as error:  # a failing reading or a run deleted meanwhile: say so once and stop
                print(f"duckml: system metrics stopped: {error}", file=sys.stderr)
                return

    def wait_for_samples(self, count: int, timeout: float = 30.0) -> bool:
        """Block until ``count`` samples were taken (for tests and benchmarks); False on timeout."""
        with self._sampled:
            return self._sampled.wait_for(lambda: self._samples >= count, timeout)

    def stop(self) -> None:
        """Stop sampling and wait for the thread (it wakes at once; a reading in flight finishes first)."""
        self._stop.set()
        with _running_lock:
            _running.discard(self)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def running_samplers() -> list[SystemMetricsSampler]:
    """The samplers of this process that have not been stopped.

    >>> isinstance(running_samplers(), list)
    True
    """
    with _running_lock:
        return list(_running)


def _forget_after_fork() -> None:
    # the child has no sampler thread (fork copies only the forking thread); it must not log for the parent
    global _running_lock
    _running_lock = threading.Lock()
    for sampler in list(_running):
        sampler._stop.set()
        sampler._thread = None
    _running.clear()


os.register_at_fork(after_in_child=_forget_after_fork)
