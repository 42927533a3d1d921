"""Issue 16, wrong results: metric steps, timestamps and values are range-checked once, the same way for
log_metric and log_metric_series, instead of wrapping silently."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import duckml
from duckml.errors import InvalidInputError
from duckml.tracking.validation import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS


def _history(run_id, key):
    return duckml.get_metric_history(run_id, key)


def test_uint64_step_beyond_int64_is_refused_not_wrapped():
    with duckml.start_run() as run:
        with pytest.raises(InvalidInputError, match="18446744073709551615"):
            duckml.log_metric_series("m", [1.0], steps=np.array([2**64 - 1], dtype=np.uint64))
        with pytest.raises(InvalidInputError, match="64"):
            duckml.log_metric("m", 1.0, step=np.uint64(2**64 - 1))
        duckml.log_metric_series("m", [1.0], steps=np.array([2**63 - 1], dtype=np.uint64))
    assert _history(run.info.run_id, "m")["step"].to_list() == [2**63 - 1]


def test_integer_timestamps_out_of_range_are_refused_not_wrapped():
    with duckml.start_run():
        with pytest.raises(InvalidInputError, match="outside years 1900..9999"):
            duckml.log_metric_series("m", [1.0], timestamps=np.array([2**62], dtype=np.int64))
        with pytest.raises(InvalidInputError, match="outside years 1900..9999"):
            duckml.log_metric("m", 1.0, timestamp=2**62)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_datetime64_arrays_keep_their_date(unit):
    stamps = np.array(["2026-03-01T12:00:00", "2026-03-02T12:00:00"], dtype=f"datetime64[{unit}]")
    with duckml.start_run() as run:
        duckml.log_metric_series("m", [1.0, 2.0], timestamps=stamps)
    got = _history(run.info.run_id, "m")["timestamp"].to_list()
    assert [t.replace(tzinfo=None) for t in got] == [datetime(2026, 3, 1, 12), datetime(2026, 3, 2, 12)]


@pytest.mark.parametrize("far", [datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc).timestamp() * 1000 + 10**6,
                                 datetime(1899, 12, 31, tzinfo=timezone.utc).timestamp() * 1000])
def test_far_future_and_past_refused_the_same_way_by_both(far):
    far = int(far)
    with duckml.start_run():
        with pytest.raises(InvalidInputError, match="outside years 1900..9999"):
            duckml.log_metric("m", 1.0, timestamp=far)
        with pytest.raises(InvalidInputError, match="outside years 1900..9999"):
            duckml.log_metric_series("m", [1.0], timestamps=[far])
        with pytest.raises(InvalidInputError, match="outside years 1900..9999"):
            duckml.log_metric_series("m", [1.0], timestamps=np.array([far]))
        with pytest.raises(InvalidInputError, match="outside years 1900..9999"):
            duckml.log_metric_series("m", [1.0], timestamps=np.array([far], dtype="datetime64[ms]"))


def test_text_values_are_refused_by_both():
    with duckml.start_run():
        with pytest.raises(InvalidInputError, match="must be a number"):
            duckml.log_metric("m", "1.5")
        with pytest.raises(InvalidInputError, match="'1.5' is not a metric value|must be a number"):
            duckml.log_metric_series("m", ["1.5", "2.5"])
        with pytest.raises(InvalidInputError, match="must be a number"):
            duckml.log_metric_series("m", np.array([1.0, "x"], dtype=object))


def test_huge_integers_raise_a_duckml_error_not_overflow_error():
    with duckml.start_run():
        with pytest.raises(InvalidInputError, match="does not fit in a 64-bit float"):
            duckml.log_metric("m", 10**400)
        with pytest.raises(InvalidInputError, match="does not fit in a 64-bit float"):
            duckml.log_metric_series("m", [1, 10**400])
        with pytest.raises(InvalidInputError, match="does not fit in a 64-bit float"):
            duckml.log_metrics({"m": 10**400})


def test_surrogate_experiment_name_is_a_duckml_error():
    with pytest.raises(InvalidInputError, match="lone surrogate"):
        duckml.set_experiment("exp\udc80")
    with pytest.raises(InvalidInputError, match="lone surrogate"):
        duckml.get_experiment_by_name("exp\udc80")


@given(ms=st.integers(min_value=MIN_TIMESTAMP_MS - 10**12, max_value=MAX_TIMESTAMP_MS + 10**12),
       step=st.integers(min_value=-(2**64), max_value=2**64))
@settings(deadline=None)
def test_log_metric_and_log_metric_series_agree(ms, step):
    """Both accept exactly the same steps and timestamps, and store the same point."""
    with duckml.start_run() as run:
        outcomes = []
        for log in (lambda: duckml.log_metric("a", 1.0, step=step, timestamp=ms),
                    lambda: duckml.log_metric_series("b", [1.0], steps=[step], timestamps=[ms])):
            try:
                log()
                outcomes.append("ok")
            except InvalidInputError:
                outcomes.append("refused")
    assert outcomes[0] == outcomes[1]
    in_range = MIN_TIMESTAMP_MS <= ms <= MAX_TIMESTAMP_MS and -(2**63) <= step < 2**63
    assert outcomes[0] == ("ok" if in_range else "refused")
    if in_range:
        a, b = _history(run.info.run_id, "a"), _history(run.info.run_id, "b")
        assert a.to_dicts() == b.to_dicts()
        assert a["step"].to_list() == [step]
