"""SQL text for numbers, names and sums, written so DuckDB computes exactly what numpy computes.

- A bare ``0.123`` is a DECIMAL in DuckDB, so every float is written in e-notation (``1.23e-1``): DuckDB
  parses that as the DOUBLE with the same bits (Python's ``repr`` is the shortest round-trip form).
  Negatives are parenthesized so ``x - -1e0`` never becomes a comment or a parse surprise.
- A long ``a + b + c …`` chain nests one level per term and hits DuckDB's expression depth limit (1000).
  Where the order of additions changes the result (tree ensembles: scikit-learn adds tree by tree),
  :func:`ordered_sum` uses ``list_sum([...])``, which adds left to right (checked bit for bit in the
  tests) at a depth of one; elsewhere (dot products, whose BLAS order is unspecified anyway)
  :func:`balanced_sum` keeps the depth logarithmic.

The compiler writes one dialect at a time: :class:`Dialect` holds the few forms DuckDB and Spark SQL spell
differently (identifiers, string literals, the text type, lists and their 1-based lookup, the ordered
sum, raising an error); everything else (DOUBLE literals in e-notation, CASE, isnan, exp, greatest, CAST to
DOUBLE/BIGINT) is written once for both. ``compile_sklearn(..., dialect=SPARK)`` sets the dialect for the
whole compile (:func:`writing`), so every emitter below it, however deep, writes the same one.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from typing import Any, Sequence

import numpy as np

from duckml.errors import ModelNotCompilableError


class Dialect:
    """DuckDB's spelling of what differs between SQL dialects; :class:`SparkDialect` overrides it."""

    name = "duckdb"
    text_type = "VARCHAR"

    def quote_ident(self, name: str) -> str:
        if "\0" in name:
            raise ModelNotCompilableError(f"column name {name!r} contains a NUL character")
        return '"' + name.replace('"', '""') + '"'

    def quote_literal(self, text: str) -> str:
        if "\0" in text:
            raise ModelNotCompilableError(f"string {text!r} contains a NUL character")
        return "'" + text.replace("'", "''") + "'"

    def array(self, items: Sequence[str]) -> str:
        return f"[{', '.join(items)}]"

    def element(self, array_sql: str, one_based_index: str) -> str:
        return f"{array_sql}[{one_based_index}]"

    def ordered_sum(self, terms: Sequence[str]) -> str:
        # list_sum adds left to right (checked bit for bit in the tests) at a depth of one
        return f"list_sum([{', '.join(terms)}])"

    def raise_error(self, message_sql: str) -> str:
        return f"error({message_sql})"

    # list_inner_product refuses a NULL element: the caller guards nullable values with a CASE
    inner_product_keeps_null = False

    def inner_product(self, values: Sequence[str], weights: Sequence[str]) -> str:
        # one call instead of a chain of * and +: about half the time for a 20-feature model (bench_compile)
        return f"list_inner_product({self.array(values)}, {self.array(weights)})"

    def positive_index(self, score: str) -> str:
        # isnan first: a NaN score (a NaN input) has no label, and DuckDB may fold a comparison of NaN
        # using Parquet statistics that leave NaN out (see core.as_null)
        return f"(CASE WHEN {score} IS NULL OR isnan({score}) THEN NULL WHEN {score} > 0.0e0 THEN 1 ELSE 0 END)"

    def __repr__(self) -> str:
        return f"<{self.name} SQL dialect>"


class SparkDialect(Dialect):
    """Spark SQL (3.4+, ANSI mode or not): backquoted names, backslash-escaped strings, STRING, array()."""

    name = "spark"
    text_type = "STRING"

    def quote_ident(self, name: str) -> str:
        if "\0" in name:
            raise ModelNotCompilableError(f"column name {name!r} contains a NUL character")
        return "`" + name.replace("`", "``") + "`"

    def quote_literal(self, text: str) -> str:
        # Spark reads backslash escapes in literals, and two adjacent literals ('a''b') as one concatenated
        if "\0" in text:
            raise ModelNotCompilableError(f"string {text!r} contains a NUL character")
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def array(self, items: Sequence[str]) -> str:
        return f"array({', '.join(items)})"

    def element(self, array_sql: str, one_based_index: str) -> str:
        # get() (0-based), not element_at or [ ]: on Spark 4.3 those give the first element of a literal
        # array for a NULL index (the label of a NULL or NaN input would be the first class, not NULL)
        return f"get({array_sql}, ({one_based_index}) - 1)"

    # Up to this many terms a sum is written as nested additions (Catalyst never reassociates floating-point
    # additions, so the order stays left to right). Both forms were measured on the loaded 2-core machine:
    # nested additions took ~2x longer to plan (a 6-stage 3-class boosting model: 105 s against 40 s for a
    # 300-row query), aggregate() runs interpreted (a 50-tree forest: 675 rows/s). Neither makes compiled
    # forests pay on Spark yet, so the form with the shorter planning is the default.
    NESTED_SUM_TERMS = 0

    def ordered_sum(self, terms: Sequence[str]) -> str:
        if len(terms) <= self.NESTED_SUM_TERMS:
            total = terms[0]
            for term in terms[1:]:
                total = f"({total} + {term})"
            return total
        # aggregate folds left to right from the first term, as numpy and list_sum add, at a depth of one
        return f"aggregate(array({', '.join(terms[1:])}), {terms[0]}, (acc, term) -> acc + term)"

    def raise_error(self, message_sql: str) -> str:
        return f"raise_error({message_sql})"

    # Catalyst does not share a subexpression between the branches of a CASE, so every repetition of a
    # score is computed again per row: the forms below name each score once. A NULL value makes the sum of
    # products NULL by itself (+ and * keep NULL), so it needs no CASE guard repeating every input.
    inner_product_keeps_null = True

    def inner_product(self, values: Sequence[str], weights: Sequence[str]) -> str:
        # Spark SQL has no list_inner_product: a balanced sum of the products (its order is unspecified in
        # numpy's BLAS dot product too)
        return balanced_sum([f"({v} * {w})" for v, w in zip(values, weights)])

    def positive_index(self, score: str) -> str:
        # nanvl turns NaN (which Spark orders above every number) into NULL, and the cast of the comparison
        # gives 1, 0 or NULL: the score is written once
        return f"CAST(nanvl({score}, CAST(NULL AS DOUBLE)) > 0.0e0 AS INT)"


DUCKDB = Dialect()
SPARK = SparkDialect()
DIALECTS = {"duckdb": DUCKDB, "spark": SPARK}
_CURRENT: contextvars.ContextVar[Dialect] = contextvars.ContextVar("duckml_sql_dialect", default=DUCKDB)


def dialect_named(value: "str | Dialect") -> Dialect:
    """The dialect object for a name (``"duckdb"``, ``"spark"``) or the object itself.

    >>> dialect_named("spark").quote_ident("a`b")
    '`a``b`'
    """
    if isinstance(value, Dialect):
        return value
    if value not in DIALECTS:
        raise ModelNotCompilableError(f"unknown SQL dialect {value!r}; known: {', '.join(DIALECTS)}")
    return DIALECTS[value]


def current() -> Dialect:
    """The dialect being written (DuckDB unless inside :func:`writing`)."""
    return _CURRENT.get()


@contextlib.contextmanager
def writing(dialect: Dialect):
    """Write ``dialect`` inside the block.

    >>> with writing(SPARK):
    ...     ordered_sum(["a", "b", "c"])
    'aggregate(array(b, c), a, (acc, term) -> acc + term)'
    """
    token = _CURRENT.set(dialect)
    try:
        yield dialect
    finally:
        _CURRENT.reset(token)


def quote_ident(name: str) -> str:
    """A quoted SQL identifier of the current dialect (DuckDB: every ``"`` doubled), so any column name
    stays one name.

    >>> quote_ident('a"b') == '"a""b"'
    True
    """
    return current().quote_ident(name)


def quote_literal(text: str) -> str:
    """A single-quoted SQL string literal of the current dialect (DuckDB: every ``'`` doubled).

    >>> quote_literal("it's")
    "'it''s'"
    >>> with writing(SPARK):
    ...     print(quote_literal("it's"))
    'it\\'s'
    """
    return current().quote_literal(text)


def text_type() -> str:
    """The text type of the current dialect, for CASTs (Spark refuses VARCHAR without a length)."""
    return current().text_type


def array(items: Sequence[str]) -> str:
    """A list literal of the current dialect."""
    return current().array(items)


def element(array_sql: str, one_based_index: str) -> str:
    """The element at a 1-based index of a list, in the current dialect."""
    return current().element(array_sql, one_based_index)


def raise_error(message_sql: str) -> str:
    """An expression that fails the query with the text ``message_sql`` evaluates to."""
    return current().raise_error(message_sql)


def inner_product(values: Sequence[str], weights: Sequence[str]) -> str:
    """The sum of value × weight in the current dialect (a NULL value makes DuckDB's form fail: guard it).

    >>> inner_product(["a", "b"], ["2e0", "3e0"])
    'list_inner_product([a, b], [2e0, 3e0])'
    >>> with writing(SPARK):
    ...     inner_product(["a", "b"], ["2e0", "3e0"])
    '((a * 2e0) + (b * 3e0))'
    """
    return current().inner_product(values, weights)


def positive_index(score: str) -> str:
    """1 where the DOUBLE ``score`` is above 0, 0 where it is not, NULL where it is NULL or NaN (a binary
    classifier's 0-based label index), in the current dialect.

    >>> with writing(SPARK):
    ...     positive_index("z")
    'CAST(nanvl(z, CAST(NULL AS DOUBLE)) > 0.0e0 AS INT)'
    """
    return current().positive_index(score)


def number(value: float) -> str:
    """A DOUBLE literal with exactly the bits of ``value``.

    >>> number(0.1), number(-2.5), number(1e300)
    ('0.1e0', '(-2.5e0)', '1e+300')
    """
    value = float(value)
    if math.isnan(value):
        return "CAST('NaN' AS DOUBLE)"
    if math.isinf(value):
        return "CAST('Infinity' AS DOUBLE)" if value > 0 else "CAST('-Infinity' AS DOUBLE)"
    text = repr(value)
    if "e" not in text:
        text = text + "e0"  # keeps repr's exact digits; 0.1e0 is a DOUBLE, 0.1 a DECIMAL
    return f"({text})" if text.startswith("-") else text


def integer(value: int) -> str:
    """A BIGINT literal.

    >>> integer(-3)
    'CAST(-3 AS BIGINT)'
    """
    return f"CAST({int(value)} AS BIGINT)"


def label(value: Any, sql_type: str) -> str:
    """A class label as a literal of the prediction column's type."""
    if sql_type == "BIGINT":
        return integer(value)
    if sql_type == "DOUBLE":
        return number(value)
    if sql_type == "BOOLEAN":
        return "TRUE" if bool(value) else "FALSE"
    return quote_literal(str(value))


def label_type(classes: np.ndarray) -> str:
    """The DuckDB type of labels of this numpy kind (the UDF path's mapping, see scoring._output_kind)."""
    return {"i": "BIGINT", "u": "BIGINT", "b": "BOOLEAN", "f": "DOUBLE"}.get(np.asarray(classes).dtype.kind, "VARCHAR")


def balanced_sum(terms: Sequence[str]) -> str:
    """``t1 + t2 + …`` nested as a balanced tree: depth log2(n) instead of n.

    >>> balanced_sum(["a", "b", "c"])
    '(a + (b + c))'
    """
    if not terms:
        return number(0.0)
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    return f"({balanced_sum(terms[:middle])} + {balanced_sum(terms[middle:])})"


def ordered_sum(terms: Sequence[str]) -> str:
    """``((t1 + t2) + t3) + …`` in exactly that order, at depth one (DuckDB's ``list_sum``, Spark's ``aggregate``)."""
    if len(terms) == 1:
        return terms[0]
    return current().ordered_sum(terms)


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def float32_cut(threshold: float) -> float:
    """The double ``c`` with ``float32(x) <= threshold`` exactly when ``x <= c``, for every double ``x``.

    scikit-learn's trees cast inputs to float32 and compare them with a double threshold. Rounding to
    float32 is monotonic, so the rows going left are those up to the rounding boundary just above the
    largest float32 ``f <= threshold``: the midpoint between ``f`` and the next float32, included when a
    tie rounds down to ``f`` (ties go to the even one). Comparing the raw double with ``c`` avoids a
    CAST per comparison.

    >>> x = 0.30000001192092896  # float32(0.3), just above the double 0.3
    >>> float32_cut(0.3) < 0.3 < x < float32_cut(x)  # the double 0.3 rounds up past a 0.3 threshold
    True
    """
    t = float(threshold)
    if math.isnan(t):
        raise ModelNotCompilableError("a tree threshold is NaN")
    if math.isinf(t):
        return t
    if t < -_FLOAT32_MAX:
        raise ModelNotCompilableError(f"tree threshold {t!r} is below the float32 range")
    below = np.float32(min(t, _FLOAT32_MAX))
    if float(below) > t:
        below = np.nextafter(below, np.float32(-np.inf), dtype=np.float32)
    with np.errstate(over="ignore"):  # the float32 above the largest one is inf: 2**128 stands in for it
        above = np.nextafter(below, np.float32(np.inf), dtype=np.float32)
    upper = 2.0 ** 128 if math.isinf(float(above)) else float(above)
    middle = (float(below) + upper) / 2.0  # exact: two adjacent float32 differ in one more bit than float32 has
    even = int(np.array(below, dtype=np.float32).view(np.uint32)) & 1 == 0
    return middle if even else float(np.nextafter(middle, -np.inf))
