"""log_metrics' packed path: keys validated once per segment, one write per call, all-or-nothing calls."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import duckml
from duckml.errors import InvalidInputError, InvalidNameError
from tiers import slow_case


def _history(run_id: str, key: str) -> list[tuple[int, float]]:
    frame = duckml.get_metric_history(run_id, key)
    return list(zip(frame["step"].to_list(), frame["value"].to_list()))


def _points_written(store) -> int:
    return store.store.journal.writer.points_written


def test_repeated_dicts_keep_every_point_with_its_key():
    with duckml.start_run() as run:
        for step in range(5):
            duckml.log_metrics({"loss": 1.0 / (step + 1), "acc": step / 10, "lr": 0.1}, step=step)
    rid = run.info.run_id
    assert _history(rid, "loss") == [(s, 1.0 / (s + 1)) for s in range(5)]
    assert _history(rid, "acc") == [(s, s / 10) for s in range(5)]
    assert _history(rid, "lr") == [(s, 0.1) for s in range(5)]


def test_key_order_and_key_sets_may_change_between_calls():
    with duckml.start_run() as run:
        duckml.log_metrics({"a": 1.0, "b": 2.0}, step=0)
        duckml.log_metrics({"b": 20.0, "a": 10.0}, step=1)
        duckml.log_metrics({"b": 200.0}, step=2)
        duckml.log_metrics({"c": 3.0, "a": 100.0}, step=3)
    rid = run.info.run_id
    assert _history(rid, "a") == [(0, 1.0), (1, 10.0), (3, 100.0)]
    assert _history(rid, "b") == [(0, 2.0), (1, 20.0), (2, 200.0)]
    assert _history(rid, "c") == [(3, 3.0)]


def test_nan_and_infinities_are_kept_on_the_packed_path():
    with duckml.start_run() as run:
        for step in range(2):
            duckml.log_metrics({"nan": float("nan"), "inf": math.inf, "ninf": -math.inf}, step=step)
    rid = run.info.run_id
    assert all(math.isnan(v) for _, v in _history(rid, "nan"))
    assert [v for _, v in _history(rid, "inf")] == [math.inf, math.inf]
    assert [v for _, v in _history(rid, "ninf")] == [-math.inf, -math.inf]


def test_numpy_ints_and_bools_are_stored_as_floats():
    with duckml.start_run() as run:
        duckml.log_metrics({"x": 1.0, "y": 2.0}, step=0)
        duckml.log_metrics({"x": np.float32(0.5), "y": np.int64(7)}, step=1)
        duckml.log_metrics({"x": True, "y": 3}, step=2)
    rid = run.info.run_id
    assert _history(rid, "x") == [(0, 1.0), (1, 0.5), (2, 1.0)]
    assert _history(rid, "y") == [(0, 2.0), (1, 7.0), (2, 3.0)]


# The inner loop keeps one case per behaviour (a text, a missing, an overflowing value; an empty, a too long,
# a non-text key; a fractional, a boolean, an overflowing step); the full suite runs the matrix
@pytest.mark.parametrize("bad", ["0.5", slow_case(b"1"), None, slow_case(Decimal("1.5")), slow_case([1.0]), 10**400])
def test_a_bad_value_among_known_keys_writes_nothing_of_the_call(store, bad):
    with duckml.start_run() as run:
        duckml.log_metrics({"a": 1.0, "b": 2.0}, step=0)
        before = _points_written(store)
        with pytest.raises((InvalidInputError, OverflowError)):
            duckml.log_metrics({"a": 5.0, "b": bad}, step=1)
        assert _points_written(store) == before
    assert _history(run.info.run_id, "a") == [(0, 1.0)]
    assert _history(run.info.run_id, "b") == [(0, 2.0)]


@pytest.mark.parametrize("bad_key", ["", slow_case("   "), "x" * 251, slow_case("tab\there"), 7])
def test_a_bad_new_key_writes_nothing_of_the_call(store, bad_key):
    with duckml.start_run() as run:
        duckml.log_metrics({"a": 1.0}, step=0)
        before = _points_written(store)
        with pytest.raises(InvalidNameError):
            duckml.log_metrics({"a": 2.0, bad_key: 3.0}, step=1)
        assert _points_written(store) == before
    assert _history(run.info.run_id, "a") == [(0, 1.0)]


@pytest.mark.parametrize("bad_step", [1.5, slow_case("3"), True, 2**63])
def test_a_bad_step_writes_nothing(store, bad_step):
    with duckml.start_run() as run:
        duckml.log_metrics({"a": 1.0}, step=0)
        before = _points_written(store)
        with pytest.raises(InvalidInputError):
            duckml.log_metrics({"a": 2.0}, step=bad_step)
        assert _points_written(store) == before


def test_not_a_dict_is_rejected():
    with duckml.start_run():
        with pytest.raises(InvalidInputError, match="must be a dict"):
            duckml.log_metrics([("a", 1.0)])


def test_the_same_keys_in_two_runs_stay_apart():
    with duckml.start_run() as first:
        duckml.log_metrics({"m": 1.0}, step=0)
        duckml.log_metrics({"m": 2.0}, step=1)
    with duckml.start_run() as second:
        duckml.log_metrics({"m": 10.0}, step=0)
        duckml.log_metrics({"m": 20.0}, step=1)
        duckml.log_metrics({"m": 30.0}, step=2, run_id=first.info.run_id)
    assert _history(first.info.run_id, "m") == [(0, 1.0), (1, 2.0), (2, 30.0)]
    assert _history(second.info.run_id, "m") == [(0, 10.0), (1, 20.0)]


def test_logging_continues_after_a_flush_starts_a_new_segment():
    with duckml.start_run() as run:
        duckml.log_metrics({"a": 1.0, "b": 1.0}, step=0)
        duckml.log_metrics({"a": 2.0, "b": 2.0}, step=1)
        duckml.flush()
        duckml.log_metrics({"a": 3.0, "b": 3.0}, step=2)
        duckml.log_metrics({"a": 4.0, "b": 4.0}, step=3)
    assert _history(run.info.run_id, "b") == [(s, s + 1.0) for s in range(4)]


def test_timestamp_is_kept_per_call():
    with duckml.start_run() as run:
        duckml.log_metrics({"a": 1.0}, step=0, timestamp=1_700_000_000_000)
        duckml.log_metrics({"a": 2.0}, step=1, timestamp=1_700_000_001_000)
    stamps = duckml.get_metric_history(run.info.run_id, "a")["timestamp"].to_list()
    assert [s.timestamp() for s in stamps] == [1_700_000_000.0, 1_700_000_001.0]


_keys = st.sampled_from(["a", "b", "c", "val/loss", "ü"])
_values = st.one_of(st.floats(allow_nan=False, width=64), st.integers(-(2**53), 2**53))


@settings(deadline=None)
@given(st.lists(st.dictionaries(_keys, _values, max_size=5), max_size=8))
def test_histories_equal_what_was_logged(calls):
    expected: dict[str, list[tuple[int, float]]] = {}
    with duckml.start_run() as run:
        for step, metrics in enumerate(calls):
            duckml.log_metrics(metrics, step=step)
            for key, value in metrics.items():
                expected.setdefault(key, []).append((step, float(value)))
    for key, points in expected.items():
        assert _history(run.info.run_id, key) == points
