"""The filter grammar: parsing, rendering, compiling; arbitrary text never escapes as another error."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from duckml.errors import FilterSyntaxError
from duckml.search import (
    And,
    Comparison,
    Not,
    Or,
    OrderBy,
    KeyJoins,
    compile_filter,
    compile_order_by,
    parse_filter,
    parse_order_by,
    render_filter,
)

C = Comparison


@pytest.mark.parametrize("text, expected", [
    ("metrics.rmse < 0.5", C("metric", "rmse", "<", 0.5)),
    ("metric.rmse<=1", C("metric", "rmse", "<=", 1)),
    ("params.model = 'rf'", C("param", "model", "=", "rf")),
    ('param.model = "rf"', C("param", "model", "=", "rf")),
    ("parameters.model != 'rf'", C("param", "model", "!=", "rf")),
    ("params.model <> 'rf'", C("param", "model", "!=", "rf")),
    ("tags.\"with space\" = 'x'", C("tag", "with space", "=", "x")),
    ("tags.`with space` LIKE 'x%'", C("tag", "with space", "LIKE", "x%")),
    ("tag.team ilike '%NLP%'", C("tag", "team", "ILIKE", "%NLP%")),
    ("tags.mlflow.runName = 'a'", C("tag", "mlflow.runName", "=", "a")),
    ("attributes.status = 'FAILED'", C("attribute", "status", "=", "FAILED")),
    ("attribute.status = 'FAILED'", C("attribute", "status", "=", "FAILED")),
    ("attr.run_id IN ('a', 'b')", C("attribute", "run_id", "IN", ("a", "b"))),
    ("run.run_name = 'x'", C("attribute", "run_name", "=", "x")),
    ("status = 'RUNNING'", C("attribute", "status", "=", "RUNNING")),
    ("created > 1700000000000", C("attribute", "start_time", ">", 1700000000000)),
    ("`Run Name` = 'x'", C("attribute", "run_name", "=", "x")),
    ("attributes.end_time IS NULL", C("attribute", "end_time", "IS NULL")),
    ("params.lr is not null", C("param", "lr", "IS NOT NULL")),
    ("params.lr < 0.01", C("param", "lr", "<", 0.01)),
    ("params.model not in ('rf')", C("param", "model", "NOT IN", ("rf",))),
    ("datasets.name = 'iris'", C("dataset", "name", "=", "iris")),
    ("dataset.context IN ('training', 'eval')", C("dataset", "context", "IN", ("training", "eval"))),
    ("metrics.x > -1.5e-3", C("metric", "x", ">", -0.0015)),
    ("params.s = 'it''s'", C("param", "s", "=", "it's")),
    ('params."a""b" = \'x\'', C("param", 'a"b', "=", "x")),
    ("params.my-key/x:y = 'v'", C("param", "my-key/x:y", "=", "v")),
    ("metrics.a < 1 and metrics.b > 2 AND metrics.c = 3",
     And((C("metric", "a", "<", 1), C("metric", "b", ">", 2), C("metric", "c", "=", 3)))),
    ("metrics.a < 1 or metrics.b > 2 and metrics.c = 3",
     Or((C("metric", "a", "<", 1), And((C("metric", "b", ">", 2), C("metric", "c", "=", 3)))))),
    ("(metrics.a < 1 OR metrics.b > 2) AND NOT metrics.c = 3",
     And((Or((C("metric", "a", "<", 1), C("metric", "b", ">", 2))), Not(C("metric", "c", "=", 3))))),
    ("  ", None),
    ("", None),
])
def test_parse(text, expected):
    assert parse_filter(text) == expected
    assert parse_filter(render_filter(expected)) == expected


@pytest.mark.parametrize("text, position, fragment", [
    ("metrics.rmse < 'a'", 13, "needs a number"),
    ("metrics.rmse LIKE 'a%'", 13, "numeric"),
    ("params.model = rf", 15, "expected a value"),
    ("params.model = ", 15, "expected a value"),
    ("foo.bar = 1", 0, "unknown key type 'foo'"),
    ("attributes.user = 'x'", 0, "unknown attribute 'user'"),
    ("datasets.size = 'x'", 0, "unknown dataset key"),
    ("(metrics.a < 1", 14, "expected ')'"),
    ("metrics.a < 1 metrics.b < 2", 14, "expected AND, OR"),
    ("metrics.a < 1 AND", 17, "expected a key"),
    ("params.x = 'abc", 11, "unterminated"),
    ("params.x IN ()", 13, "expected a value"),
    ("params.x IN ('a',)", 17, "expected a value"),
    ("params.x IN 'a'", 12, "expected '('"),
    ("params.x IN ('a', 1)", 9, "mixes strings and numbers"),
    ("metrics.", 8, "expected a key right after"),
    ("metrics. rmse < 1", 9, "expected a key right after"),
    ("status = 1", 7, "quoted string"),
    ("params.x = 1; DROP TABLE runs", 12, "unexpected character ';'"),
    ("metrics.a < 1e999", 12, "out of range"),
    ("metrics.a < 12abc", 12, "malformed number"),
    ("params.x IS 'a'", 12, "expected NULL"),
    ("datasets.name IS NULL", 14, "does not support IS NULL"),
    ("datasets.name < 'a'", 14, "datasets.name supports"),
    ("params.x == 'a'", 10, "expected a value"),
    ("and", 0, "keyword AND"),
    ("NOT", 3, "expected a key"),
    ("params.'x' = 'a'", 7, "expected a key right after"),
])
def test_syntax_errors_point_at_the_problem(text, position, fragment):
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    assert info.value.position == position, str(info.value)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_deep_nesting_is_a_syntax_error_not_a_recursion_error():
    with pytest.raises(FilterSyntaxError, match="nested deeper"):
        parse_filter("(" * 5000 + "metrics.a < 1" + ")" * 5000)
    with pytest.raises(FilterSyntaxError, match="nested deeper"):
        parse_filter("NOT " * 5000 + "metrics.a < 1")
    assert parse_filter("(((metrics.a < 1)))") == C("metric", "a", "<", 1)


def test_not_a_string():
    with pytest.raises(FilterSyntaxError, match="must be a string"):
        parse_filter(42)


def test_experiment_target():
    assert parse_filter("name LIKE 'a%' AND tags.team = 'x'", "experiments") == And(
        (C("attribute", "name", "LIKE", "a%"), C("tag", "team", "=", "x")))
    assert parse_filter("creation_time > 5", "experiments") == C("attribute", "creation_time", ">", 5)
    with pytest.raises(FilterSyntaxError, match="unknown key type 'metrics'"):
        parse_filter("metrics.a < 1", "experiments")
    with pytest.raises(FilterSyntaxError, match="unknown attribute 'status'"):
        parse_filter("status = 'x'", "experiments")


def test_compile_binds_every_key_and_value():
    sql, params = compile_filter(parse_filter(
        "tags.\"x'; DROP TABLE runs; --\" = 'y''; DROP' OR datasets.name IN ('a') OR metrics.m != 1"))
    assert "DROP" not in sql and "x'" not in sql
    assert params == ["x'; DROP TABLE runs; --", "y'; DROP", "a", "m", 1.0]
    assert compile_filter(None) == ("TRUE", [])
    assert compile_filter(parse_filter("tags.mlflow.runName = 'a'")) == ("r.run_name = ?", ["a"])
    assert compile_filter(parse_filter("start_time > 5")) == ("epoch_ms(r.start_time) > ?", [5])


def test_compile_rejects_invalid_hand_built_ast():
    with pytest.raises(FilterSyntaxError, match="needs a number"):
        compile_filter(C("metric", "rmse", "<", "x"))
    with pytest.raises(FilterSyntaxError, match="not a filter expression"):
        compile_filter("metrics.rmse < 1")
    with pytest.raises(FilterSyntaxError, match="alias"):
        compile_filter(None, alias="r; DROP")


@pytest.mark.parametrize("clauses, expected", [
    (None, ()),
    ("metrics.rmse", (OrderBy("metric", "rmse", True),)),
    (["metrics.rmse DESC", "params.`my key` asc", "start_time"],
     (OrderBy("metric", "rmse", False), OrderBy("param", "my key", True), OrderBy("attribute", "start_time", True))),
    (["tags.mlflow.runName", "attributes.created DESC"],
     (OrderBy("tag", "mlflow.runName", True), OrderBy("attribute", "start_time", False))),
])
def test_parse_order_by(clauses, expected):
    assert parse_order_by(clauses) == expected


@pytest.mark.parametrize("clauses, fragment", [
    (["metrics.rmse UP"], "expected ASC, DESC"),
    (["metrics.rmse", "metric.rmse DESC"], "twice"),
    (["datasets.name"], "cannot be used in order_by"),
    ([""], "empty order_by"),
    (["foo.bar"], "unknown key type"),
    ([3], "must be strings"),
    (["attributes.nope"], "unknown attribute"),
])
def test_order_by_errors(clauses, fragment):
    with pytest.raises(FilterSyntaxError, match=fragment):
        parse_order_by(clauses)


def test_compile_order_by_puts_missing_last():
    terms, params = compile_order_by(parse_order_by(["metrics.m DESC", "start_time"]))
    assert terms == ["(CASE WHEN r.metrics[?] IS NULL THEN 2 WHEN isnan(r.metrics[?]) THEN 1 ELSE 0 END)",
                     "r.metrics[?] DESC NULLS LAST", "epoch_ms(r.start_time) ASC NULLS LAST"]
    assert params == ["m", "m", "m"]


def test_an_unknown_compile_source_is_refused():
    with pytest.raises(FilterSyntaxError, match="source"):
        compile_filter(None, source="files")
    with pytest.raises(FilterSyntaxError, match="source"):
        compile_filter(None, source="tables")  # the per-key subquery mode is gone: joins replaced it


def test_joins_source_reads_each_key_once():
    joins = KeyJoins("r")
    sql, params = compile_filter(parse_filter("metrics.m > 1 OR (metrics.m < 0 AND tags.t IS NULL)"),
                                 source="joins", joins=joins)
    m = "_metrics.vs[list_position(_metrics.ks, ?::VARCHAR)]"
    assert sql == f"(({m} > ? AND NOT isnan({m})) OR (({m} < ? AND NOT isnan({m})) AND " \
                  "list_contains(_tags.ks, ?::VARCHAR) IS NOT TRUE))"
    assert params == ["m", 1.0, "m", "m", 0.0, "m", "t"]
    terms, params = compile_order_by(parse_order_by(["metrics.m DESC", "params.p"]), source="joins", joins=joins)
    assert terms == [f"isnan({m}) ASC NULLS LAST", f"{m} DESC NULLS LAST",
                     "_params.vs[list_position(_params.ks, ?::VARCHAR)] ASC NULLS LAST"]
    assert params == ["m", "m", "p"]
    assert joins.sql()[1] == [["m"], ["t"], ["p"]]
    assert joins.sql()[0].count("LEFT JOIN") == 3
    with pytest.raises(FilterSyntaxError, match="KeyJoins"):
        compile_filter(None, source="joins")
    with pytest.raises(FilterSyntaxError, match="KeyJoins"):
        compile_filter(None, source="maps", joins=joins)
    with pytest.raises(FilterSyntaxError, match="alias"):
        KeyJoins("r; DROP")


# --- properties ----------------------------------------------------------------------------------

_DB = duckdb.connect()
_DB.execute("""CREATE TABLE r AS SELECT 'id' AS run_id, 'x' AS run_name, 'FINISHED' AS status, '0' AS experiment_id,
    'Default' AS experiment_name, NULL::VARCHAR AS parent_run_id, TIMESTAMP '2024-01-01' AS start_time,
    NULL::TIMESTAMP AS end_time, MAP {'a': 'b'} AS params, MAP {'m': 1.0::DOUBLE} AS metrics, MAP {'t': 'u'} AS tags""")
_DB.execute("CREATE TABLE run_inputs (run_id VARCHAR, dataset_id VARCHAR, context VARCHAR)")
_DB.execute("CREATE TABLE datasets (dataset_id VARCHAR, name VARCHAR, digest VARCHAR)")

_PIECES = ["metrics.rmse", "params.model", "tags.`a b`", 'tags."x"', "attributes.status", "status", "datasets.name",
           "start_time", "=", "!=", "<", ">=", "LIKE", "ilike", "IN", "NOT", "IS", "NULL", "AND", "or", "(", ")",
           ",", "'rf'", '"x"', "0.5", "-1", "1e3", "'", '"', "`", ".", "metrics.", ";", "--"]


def _check_text(text):
    try:
        expr = parse_filter(text)
    except FilterSyntaxError as error:
        assert error.position is None or 0 <= error.position <= len(text)
        return
    sql, params = compile_filter(expr)
    _DB.execute(f"SELECT count(*) FROM r WHERE {sql}", params).fetchall()
    assert parse_filter(render_filter(expr)) == expr


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=60))
def test_any_text_parses_or_raises_filter_syntax_error(text):
    _check_text(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_PIECES), max_size=14), st.sampled_from([" ", ""]))
def test_token_soup_parses_or_raises_filter_syntax_error(pieces, joiner):
    _check_text(joiner.join(pieces))


_numbers = st.one_of(st.integers(-(2**63) + 1, 2**63 - 1),
                     st.floats(allow_nan=False, allow_infinity=False))
_texts = st.text(max_size=12)
_keys = st.text(min_size=1, max_size=12)


@st.composite
def comparisons(draw):
    entity = draw(st.sampled_from(["metric", "param", "tag", "attribute", "dataset"]))
    if entity == "attribute":
        key = draw(st.sampled_from(["run_id", "run_name", "status", "start_time", "end_time", "parent_run_id"]))
        numeric = key.endswith("_time")
    elif entity == "dataset":
        key = draw(st.sampled_from(["name", "digest", "context"]))
        numeric = False
    else:
        key = draw(_keys)
        numeric = entity == "metric" or draw(st.booleans())
    ops = ["=", "!=", "IN", "NOT IN"]
    if entity != "dataset":
        ops += ["<", "<=", ">", ">=", "IS NULL", "IS NOT NULL"]
    if not numeric:
        ops += ["LIKE", "ILIKE"]
    op = draw(st.sampled_from(ops))
    scalar = _numbers if numeric else _texts
    if op in ("IS NULL", "IS NOT NULL"):
        value = None
    elif op in ("IN", "NOT IN"):
        value = tuple(draw(st.lists(scalar, min_size=1, max_size=3)))
    else:
        value = draw(scalar)
    return Comparison(entity, key, op, value)


filters = st.recursive(
    comparisons(),
    lambda inner: st.one_of(
        inner.map(Not),
        st.lists(inner, min_size=2, max_size=3).map(lambda items: And(tuple(items))),
        st.lists(inner, min_size=2, max_size=3).map(lambda items: Or(tuple(items))),
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(filters)
def test_render_then_parse_gives_the_same_ast(expr):
    text = render_filter(expr)
    assert parse_filter(text) == expr
    sql, params = compile_filter(expr)
    assert sql.count("?") == len(params)
    _DB.execute(f"SELECT count(*) FROM r WHERE {sql}", params).fetchall()
