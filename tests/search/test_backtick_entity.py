"""MLflow's backtick-quoted key type (`` `metric`.a >= 0.1 ``) parses to, and finds, what the bare form does."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings, strategies as st

import duckml
from duckml.errors import FilterSyntaxError
from duckml.search import And, Comparison, Not, Or, render_filter
from duckml.search.grammar import parse_filter, parse_order_by

_ALIASES = {
    "metric": ["metric", "metrics"],
    "param": ["param", "params", "parameter", "parameters"],
    "tag": ["tag", "tags"],
    "attribute": ["attribute", "attributes", "attr", "run"],
    "dataset": ["dataset", "datasets"],
}


@pytest.mark.parametrize("quoted, bare", [
    ("`metric`.a >= 0.1", "metrics.a >= 0.1"),
    ("`metrics`.a >= 0.1", "metrics.a >= 0.1"),
    ("`tags`.source_name = 'x'", "tags.source_name = 'x'"),
    ("`tag`.source_name = 'x'", "tags.source_name = 'x'"),
    ("`params`.lr = '0.1'", "params.lr = '0.1'"),
    ("`parameters`.lr = '0.1'", "params.lr = '0.1'"),
    ("`attribute`.run_name = 'r'", "attributes.run_name = 'r'"),
    ("`attributes`.status != 'FAILED'", "attributes.status != 'FAILED'"),
    ("`dataset`.name = 'iris'", "datasets.name = 'iris'"),
    ("`datasets`.context IN ('training')", "datasets.context IN ('training')"),
    ("`metric`.`val loss` < 1", 'metrics."val loss" < 1'),
    ('`params`."my key" = \'v\'', 'params."my key" = \'v\''),
    ("`metric`.val/loss < 1", "metrics.val/loss < 1"),
    ("`Metric`.a > 0", "metrics.a > 0"),
    ("`metric`.a > 0 AND NOT (`tags`.t = 'x' OR `params`.p IS NULL)",
     "metrics.a > 0 AND NOT (tags.t = 'x' OR params.p IS NULL)"),
])
def test_backticked_key_type_parses_like_the_bare_one(quoted, bare):
    assert parse_filter(quoted) == parse_filter(bare)


def test_backticked_key_type_in_order_by_and_experiment_filters():
    assert parse_order_by(["`metric`.rmse DESC", "`attribute`.start_time"]) == \
        parse_order_by(["metrics.rmse DESC", "attributes.start_time"])
    assert parse_filter("`tags`.team = 'nlp'", target="experiments") == \
        parse_filter("tags.team = 'nlp'", target="experiments")


@pytest.mark.parametrize("text, position, fragment", [
    ("`metricz`.a > 1", 0, "unknown key type 'metricz'"),
    ("`metric`. > 1", 10, "expected a key right after"),
    ("`metric`.a", 10, "expected a comparator"),
    ("`metrics` .a > 1", 10, "unexpected character"),
    ("`metric`.'a' > 1", 9, "expected a key right after"),
    ("`params`.lr = `x`", 14, "expected a value"),
    ("`metrics`.a = 'x'", 12, "needs a number"),  # a bad value points at its comparator, as unquoted
])
def test_bad_backticked_filters_say_where(text, position, fragment):
    with pytest.raises(FilterSyntaxError, match=fragment) as info:
        parse_filter(text)
    assert info.value.position == position


def test_a_backticked_type_cannot_be_used_where_the_bare_one_is_refused():
    with pytest.raises(FilterSyntaxError, match="unknown key type 'metrics'"):
        parse_filter("`metrics`.a > 1", target="experiments")


# -- round trip: any filter, written with backticked key types, parses to its AST -----------------

_keys = st.text(min_size=1, max_size=10)
_texts = st.text(max_size=8)
_numbers = st.one_of(st.integers(-(2**63) + 1, 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False))


@st.composite
def _comparisons(draw):
    entity = draw(st.sampled_from(sorted(_ALIASES)))
    if entity == "attribute":
        key = draw(st.sampled_from(["run_id", "run_name", "status", "start_time"]))
    elif entity == "dataset":
        key = draw(st.sampled_from(["name", "digest", "context"]))
    else:
        key = draw(_keys)
    numeric = entity == "metric" or key == "start_time"
    op = draw(st.sampled_from(["=", "!=", "IN"] + (["<", ">="] if numeric else ["LIKE"])))
    scalar = _numbers if numeric else _texts
    value = tuple(draw(st.lists(scalar, min_size=1, max_size=2))) if op == "IN" else draw(scalar)
    return Comparison(entity, key, op, value)


_filters = st.recursive(_comparisons(), lambda inner: st.one_of(
    inner.map(Not),
    st.lists(inner, min_size=2, max_size=3).map(lambda items: And(tuple(items))),
    st.lists(inner, min_size=2, max_size=3).map(lambda items: Or(tuple(items)))), max_leaves=6)


def _render_backticked(expr, alias) -> str:
    """render_filter, with each comparison's key type written as `alias`."""
    if isinstance(expr, Comparison):
        rest = render_filter(expr).split(".", 1)[1]
        return f"`{alias(expr.entity)}`.{rest}"
    if isinstance(expr, Not):
        inner = _render_backticked(expr.item, alias)
        return f"NOT ({inner})" if isinstance(expr.item, (And, Or)) else f"NOT {inner}"
    joiner = " AND " if isinstance(expr, And) else " OR "
    return joiner.join(f"({_render_backticked(i, alias)})" if isinstance(i, (And, Or))
                       else _render_backticked(i, alias) for i in expr.items)


@settings(max_examples=150, deadline=None)
@given(_filters, st.data())
def test_backticked_rendering_parses_to_the_same_ast(expr, data):
    text = _render_backticked(expr, lambda entity: data.draw(st.sampled_from(_ALIASES[entity])))
    assert parse_filter(text) == expr


# -- end to end: the same runs as the bare form ---------------------------------------------------

@pytest.fixture
def three_runs(store_from_template):
    """Three runs (one with a dataset input), logged once per session and copied per test: the tests only
    search them."""
    return store_from_template("backtick-three-runs", _log_three_runs)


def _log_three_runs(tmp_path):
    path = tmp_path / "train.parquet"
    pl.DataFrame({"x": [1, 2, 3]}).write_parquet(path)
    ids = {}
    for name, a, lr, source in (("one", 0.05, "0.1", "x"), ("two", 0.5, "0.01", "y"), ("three", 0.1, "0.1", "x")):
        with duckml.start_run(run_name=name) as run:
            duckml.log_metric("a", a)
            duckml.log_param("lr", lr)
            duckml.set_tag("source_name", source)
            if name == "two":
                duckml.log_input(str(path), name="iris")
        ids[name] = run.info.run_id
    return ids


@pytest.mark.parametrize("quoted, bare", [
    ("`metric`.a >= 0.1", "metrics.a >= 0.1"),
    ("`tags`.source_name = 'x'", "tags.source_name = 'x'"),
    ("`params`.lr = '0.1' AND `metrics`.a < 0.1", "params.lr = '0.1' AND metrics.a < 0.1"),
    ("`attribute`.run_name = 'two'", "attributes.run_name = 'two'"),
    ("`dataset`.name = 'iris'", "datasets.name = 'iris'"),
])
def test_search_runs_finds_the_same_runs(three_runs, quoted, bare):
    found = sorted(duckml.search_runs(filter_string=quoted)["run_id"].to_list())
    assert found == sorted(duckml.search_runs(filter_string=bare)["run_id"].to_list())
    assert found  # every case matches at least one run, so an always-empty answer would fail


def test_search_runs_orders_by_a_backticked_key(three_runs):
    frame = duckml.search_runs(order_by=["`metric`.a DESC"])
    assert frame["run_id"].to_list() == [three_runs["two"], three_runs["three"], three_runs["one"]]
