"""MLflow's search grammar (and a little more) as tokens -> a frozen AST (``sqlgen`` turns it into SQL).

Accepted: everything ``mlflow.search_runs(filter_string=...)`` accepts (``metrics.``, ``params.``,
``tags.``, ``attributes.``/``attribute.``/``attr.``/``run.``, ``datasets.``; ``= != < <= > >= LIKE ILIKE
IN, NOT IN, IS [NOT] NULL``; keys quoted with "double quotes" or `backticks`; the key type quoted with
backticks, as in ```metric`.rmse``; values in single or double quotes; ``AND``), plus ``OR``, ``NOT``, parentheses, ``IN``/``NOT IN`` on every key, and numeric
comparison of params/tags when the value is an unquoted number (``params.lr < 0.1``).

No text from the filter ever reaches DuckDB: the compiler (``sqlgen``) emits fixed SQL fragments, and every
key and value is a ``?`` parameter. A key a run does not have never matches (SQL NULL), as in MLflow, where
``params.x != 'a'`` skips runs without ``x``. NaN metrics match only ``!=`` and ``NOT IN``, as in MLflow.

>>> expr = parse_filter("metrics.rmse < 0.5 and params.model = 'rf'")
>>> render_filter(expr)
"metrics.rmse < 0.5 AND params.model = 'rf'"
>>> expr.items[0].op, expr.items[0].value
('<', 0.5)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Union

from duckml.errors import FilterSyntaxError

Value = Union[str, int, float]


@dataclass(frozen=True, slots=True)
class Comparison:
    """``<entity>.<key> <op> <value>``; ``value`` is a tuple for IN, None for IS [NOT] NULL."""

    entity: str  # metric | param | tag | attribute | dataset
    key: str
    op: str  # = != < <= > >= LIKE ILIKE IN NOT IN IS NULL IS NOT NULL
    value: Value | tuple[Value, ...] | None = None


@dataclass(frozen=True, slots=True)
class And:
    items: tuple["Expr", ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple["Expr", ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: "Expr"


Expr = Union[Comparison, And, Or, Not]


@dataclass(frozen=True, slots=True)
class OrderBy:
    entity: str
    key: str
    ascending: bool = True


# --- what each target accepts ----------------------------------------------------------------

_ENTITY_RENDER = {"metric": "metrics", "param": "params", "tag": "tags", "attribute": "attributes",
                  "dataset": "datasets"}
_RUN_PREFIXES = {
    "metric": "metric", "metrics": "metric",
    "param": "param", "params": "param", "parameter": "param", "parameters": "param",
    "tag": "tag", "tags": "tag",
    "attribute": "attribute", "attributes": "attribute", "attr": "attribute", "run": "attribute",
    "dataset": "dataset", "datasets": "dataset",
}
_EXPERIMENT_PREFIXES = {"tag": "tag", "tags": "tag", "attribute": "attribute", "attributes": "attribute",
                        "attr": "attribute"}
# Attribute -> "string" or "time" (ms since the epoch, compared as numbers, as MLflow does).
_RUN_ATTRIBUTES = {"run_id": "string", "run_name": "string", "status": "string", "experiment_id": "string",
                   "experiment_name": "string", "parent_run_id": "string",
                   "start_time": "time", "end_time": "time"}
_EXPERIMENT_ATTRIBUTES = {"name": "string", "experiment_id": "string",
                          "creation_time": "time", "last_update_time": "time"}
# MLflow's search_model_versions keys; a version number compares as a number, as MLflow's does.
_MODEL_VERSION_ATTRIBUTES = {"name": "string", "run_id": "string", "source_path": "string",
                             "version_number": "time", "creation_timestamp": "time",
                             "last_updated_timestamp": "time"}
_ATTRIBUTE_ALIASES = {"created": "start_time", "run name": "run_name"}
_DATASET_KEYS = ("name", "digest", "context")
TARGETS = {
    "runs": (_RUN_PREFIXES, _RUN_ATTRIBUTES),
    "experiments": (_EXPERIMENT_PREFIXES, _EXPERIMENT_ATTRIBUTES),
    "model_versions": (_EXPERIMENT_PREFIXES, _MODEL_VERSION_ATTRIBUTES),
}

_OPS = ("=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN", "NOT IN", "IS NULL", "IS NOT NULL")
_MAX_INT = 2**63 - 1  # integers bind as BIGINT
_MAX_DEPTH = 100  # nesting beyond this is not a real filter; keeps Python's recursion limit out of reach
# Bounds on one search's work, far above any filter a person writes: the SQL grows with each key and term.
MAX_FILTER_KEYS = 200  # distinct params/metrics/tags keys one filter names
MAX_FILTER_TERMS = 500  # comparisons in one filter
MAX_ORDER_BY = 50  # order_by clauses


def _value_kind(entity: str, key: str, target: str) -> str:
    """'number' (metrics, times), 'string' (attributes, datasets) or 'text' (params/tags: either)."""
    if entity == "metric":
        return "number"
    if entity in ("param", "tag"):
        return "text"
    if entity == "dataset":
        return "string"
    return "number" if TARGETS[target][1][key] == "time" else "string"


def _normalize_key(entity: str, key: str, target: str) -> str:
    if not key:
        raise ValueError(f"empty {_ENTITY_RENDER[entity]} key; write e.g. {_ENTITY_RENDER[entity]}.rmse")
    if entity == "attribute":
        attributes = TARGETS[target][1]
        name = _ATTRIBUTE_ALIASES.get(key.lower(), key.lower()) if target == "runs" else key.lower()
        if name not in attributes:
            raise ValueError(f"unknown attribute {key!r}; valid attributes are {', '.join(attributes)}")
        return name
    if entity == "dataset":
        if key.lower() not in _DATASET_KEYS:
            raise ValueError(f"unknown dataset key {key!r}; valid keys are {', '.join(_DATASET_KEYS)}")
        return key.lower()
    return key


def _check(cmp: Comparison, target: str) -> Comparison:
    """Validate one comparison and return its normal form; raises ValueError with the reason."""
    if target not in TARGETS:
        raise ValueError(f"unknown filter target {target!r}; use one of {', '.join(TARGETS)}")
    prefixes = TARGETS[target][0]
    if cmp.entity not in set(prefixes.values()):
        raise ValueError(f"{cmp.entity!r} keys cannot be used when searching {target}")
    key = _normalize_key(cmp.entity, cmp.key, target)
    name = f"{_ENTITY_RENDER[cmp.entity]}.{cmp.key}"
    kind = _value_kind(cmp.entity, key, target)
    op, value = cmp.op, cmp.value
    if op not in _OPS:
        raise ValueError(f"unknown comparator {op!r}; use one of {', '.join(_OPS)}")

    def is_num(v):
        if isinstance(v, bool):
            return False
        return (isinstance(v, int) and abs(v) <= _MAX_INT) or (isinstance(v, float) and math.isfinite(v))

    def fits(v):
        if kind == "number":
            return is_num(v)
        if kind == "string":
            return isinstance(v, str)
        return isinstance(v, str) or is_num(v)

    want = {"number": "a number", "string": "a quoted string", "text": "a quoted string or a number"}[kind]
    if op in ("IS NULL", "IS NOT NULL"):
        if cmp.entity == "dataset":
            raise ValueError(f"{name} does not support {op}; use datasets.{key} = '...'")
        if value is not None:
            raise ValueError(f"{op} takes no value")
    elif op in ("IN", "NOT IN"):
        if not isinstance(value, tuple) or not value:
            raise ValueError(f"{op} needs a parenthesised list of values, e.g. {name} {op} ('a', 'b')")
        if not all(fits(v) for v in value):
            raise ValueError(f"every value in {name} {op} (...) must be {want}")
        if kind == "text" and len({isinstance(v, str) for v in value}) > 1:
            raise ValueError(f"{name} {op} (...) mixes strings and numbers; use one kind")
    else:
        if op in ("LIKE", "ILIKE") and kind == "number":
            raise ValueError(f"{name} is numeric; {op} works on params, tags, attributes and datasets")
        if op in ("LIKE", "ILIKE") and not isinstance(value, str):
            raise ValueError(f"{op} needs a quoted pattern, e.g. {name} {op} '%rf%'")
        if cmp.entity == "dataset" and op not in ("=", "!=", "LIKE", "ILIKE"):
            raise ValueError(f"datasets.{key} supports =, !=, LIKE, ILIKE, IN and NOT IN, not {op}")
        if not fits(value):
            raise ValueError(f"{name} {op} ... needs {want} as its value, got {_render_value(value)}")
    return Comparison(cmp.entity, key, op, value)


# --- tokenizer -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # word | quoted | number | op | ( | ) | , | end | entity (a backticked key type and its dot)
    text: str  # the source text (for quoted and entity: the unescaped content)
    pos: int
    end: int
    quote: str = ""
    key: str = ""  # entity only: the bare key right after the dot ("" when a quoted key follows)


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_.:/\-]*)?")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_BARE_KEY = re.compile(r"[A-Za-z0-9_.:/\-]+")
_OPERATORS = ("<=", ">=", "!=", "<>", "=", "<", ">")


def _tokenize(text: str) -> list[_Token]:
    tokens, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "(),":
            tokens.append(_Token(c, c, i, i + 1))
            i += 1
        elif c in "'\"`":
            j, parts = i + 1, []
            while True:
                k = text.find(c, j)
                if k < 0:
                    raise FilterSyntaxError(f"unterminated {c}-quoted text; close it with {c}", text, i)
                parts.append(text[j:k])
                if text.startswith(c, k + 1):  # a doubled quote stands for one
                    parts.append(c)
                    j = k + 2
                    continue
                break
            if c == "`" and text.startswith(".", k + 1):  # MLflow's `metric`.key: a quoted key type
                key = _BARE_KEY.match(text, k + 2)
                end = key.end() if key else k + 2
                tokens.append(_Token("entity", "".join(parts), i, end, c, key.group() if key else ""))
                i = end
                continue
            tokens.append(_Token("quoted", "".join(parts), i, k + 1, c))
            i = k + 1
        elif (m := _NUMBER.match(text, i)) and (c.isdigit() or c == "." or len(m.group()) > 1):
            if m.end() < n and (text[m.end()].isalnum() or text[m.end()] in "_."):
                raise FilterSyntaxError("malformed number", text, i)
            tokens.append(_Token("number", m.group(), i, m.end()))
            i = m.end()
        elif m := _WORD.match(text, i):
            tokens.append(_Token("word", m.group(), i, m.end()))
            i = m.end()
        elif op := next((o for o in _OPERATORS if text.startswith(o, i)), None):
            tokens.append(_Token("op", "!=" if op == "<>" else op, i, i + len(op)))
            i += len(op)
        else:
            raise FilterSyntaxError(f"unexpected character {c!r}", text, i)
    tokens.append(_Token("end", "", n, n))
    return tokens


# --- parser ----------------------------------------------------------------------------------

class _Parser:
    def __init__(self, text: str, target: str):
        self.text, self.target = text, target
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0
        self.terms = 0
        self.keys: set[tuple[str, str]] = set()

    def peek(self, offset: int = 0) -> _Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def next(self) -> _Token:
        tok = self.peek()
        self.i += 1
        return tok

    def is_word(self, word: str, offset: int = 0) -> bool:
        tok = self.peek(offset)
        return tok.kind == "word" and tok.text.upper() == word

    def fail(self, message: str, tok: _Token | None = None):
        raise FilterSyntaxError(message, self.text, (tok or self.peek()).pos)

    def expect_end(self):
        if self.peek().kind != "end":
            tok = self.peek()
            self.fail(f"expected AND, OR or the end of the filter, found {self._show(tok)}")

    @staticmethod
    def _show(tok: _Token) -> str:
        if tok.kind == "end":
            return "the end of the filter"
        if tok.kind == "entity":
            return f"`{tok.text}`.{tok.key}"
        return f"{tok.quote}{tok.text}{tok.quote}" if tok.kind == "quoted" else repr(tok.text)

    def descend(self) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            self.fail(f"filter nested deeper than {_MAX_DEPTH} levels")

    def expr(self) -> Expr:
        self.descend()
        items = [self.conjunction()]
        while self.is_word("OR"):
            self.next()
            items.append(self.conjunction())
        self.depth -= 1
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conjunction(self) -> Expr:
        items = [self.negation()]
        while self.is_word("AND"):
            self.next()
            items.append(self.negation())
        return items[0] if len(items) == 1 else And(tuple(items))

    def negation(self) -> Expr:
        if self.is_word("NOT"):
            self.next()
            self.descend()
            item = self.negation()
            self.depth -= 1
            return Not(item)
        if self.peek().kind == "(":
            self.next()
            item = self.expr()
            if self.peek().kind != ")":
                self.fail(f"expected ')' to close the '(', found {self._show(self.peek())}")
            self.next()
            return item
        return self.comparison()

    def identifier(self) -> tuple[str, str, _Token]:
        """Read ``prefix.key`` (key bare or quoted) or a bare attribute name; returns (entity, key, token)."""
        tok = self.next()
        prefixes = TARGETS[self.target][0]
        if tok.kind == "quoted" and tok.quote in '"`':
            return "attribute", tok.text, tok  # MLflow reads a lone quoted name as an attribute
        if tok.kind == "entity":
            prefix, key = tok.text, tok.key
        elif tok.kind != "word":
            self.fail(f"expected a key such as metrics.rmse or params.model, found {self._show(tok)}", tok)
        elif "." not in tok.text:
            if tok.text.upper() in ("AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL"):
                self.fail(f"expected a key such as metrics.rmse, found the keyword {tok.text.upper()}", tok)
            return "attribute", tok.text, tok
        else:
            prefix, key = tok.text.split(".", 1)
        entity = prefixes.get(prefix.lower())
        if entity is None:
            self.fail(f"unknown key type {prefix!r}; use one of {', '.join(sorted(set(prefixes)))}", tok)
        if key == "":
            quoted = self.peek()
            if quoted.kind != "quoted" or quoted.pos != tok.end or quoted.quote not in '"`':
                self.fail(f"expected a key right after '{prefix}.', e.g. {prefix}.rmse or {prefix}.\"my key\"",
                          quoted)
            self.next()
            key = quoted.text
        return entity, key, tok

    def value(self) -> Value:
        tok = self.next()
        if tok.kind == "quoted" and tok.quote in "'\"":
            return tok.text
        if tok.kind == "number":
            try:
                number = float(tok.text) if any(c in tok.text for c in ".eE") else int(tok.text)
            except ValueError:  # Python refuses int() of more than 4300 digits
                number = math.inf
            if not math.isfinite(number) if isinstance(number, float) else abs(number) > _MAX_INT:
                self.fail("number out of range", tok)
            return number
        self.fail(f"expected a value ('text' or a number), found {self._show(tok)}", tok)

    def comparison(self) -> Comparison:
        entity, key, start = self.identifier()
        self.terms += 1
        if self.terms > MAX_FILTER_TERMS:
            self.fail(f"the filter has more than {MAX_FILTER_TERMS} comparisons (the limit per filter)", start)
        if entity in ("param", "metric", "tag"):
            self.keys.add((entity, key))
            if len(self.keys) > MAX_FILTER_KEYS:
                self.fail(f"the filter names more than {MAX_FILTER_KEYS} keys (the limit per filter)", start)
        tok = self.peek()
        if tok.kind == "op":
            self.next()
            op, value = tok.text, self.value()
        elif self.is_word("LIKE") or self.is_word("ILIKE"):
            self.next()
            op, value = tok.text.upper(), self.value()
        elif self.is_word("IN") or (self.is_word("NOT") and self.is_word("IN", 1)):
            op = "NOT IN" if self.is_word("NOT") else "IN"
            self.i += 2 if op == "NOT IN" else 1
            value = self.value_list(op)
        elif self.is_word("IS"):
            self.next()
            negated = self.is_word("NOT")
            if negated:
                self.next()
            if not self.is_word("NULL"):
                self.fail(f"expected NULL after IS{' NOT' if negated else ''}")
            self.next()
            op, value = ("IS NOT NULL" if negated else "IS NULL"), None
        else:
            self.fail(f"expected a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL) "
                      f"after the key, found {self._show(tok)}")
        try:
            _normalize_key(entity, key, self.target)
        except ValueError as e:
            raise FilterSyntaxError(str(e), self.text, start.pos) from None
        try:
            return _check(Comparison(entity, key, op, value), self.target)
        except ValueError as e:  # the key is fine, so the comparator or the value is not
            raise FilterSyntaxError(str(e), self.text, tok.pos) from None

    def value_list(self, op: str) -> tuple[Value, ...]:
        if self.peek().kind != "(":
            self.fail(f"expected '(' after {op}, e.g. {op} ('a', 'b')")
        self.next()
        values = [self.value()]
        while self.peek().kind == ",":
            self.next()
            values.append(self.value())
        if self.peek().kind != ")":
            self.fail(f"expected ',' or ')' in the {op} list, found {self._show(self.peek())}")
        self.next()
        return tuple(values)


def parse_filter(text: str | None, target: str = "runs") -> Expr | None:
    """Parse a filter string into an AST; None for an empty filter.

    Raises:
        FilterSyntaxError: the text does not parse; ``.position`` points at the problem.

    >>> parse_filter("params.model IN ('rf', 'gb') OR metrics.rmse < 1")
    Or(items=(Comparison(entity='param', key='model', op='IN', value=('rf', 'gb')), Comparison(entity='metric', key='rmse', op='<', value=1)))
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise FilterSyntaxError(f"filter_string must be a string, got {type(text).__name__}")
    surrogate = next((i for i, ch in enumerate(text) if "\ud800" <= ch <= "\udfff"), None)
    if surrogate is not None:
        raise FilterSyntaxError("filter_string holds a lone surrogate, which is not valid Unicode text",
                                text, surrogate)
    if target not in TARGETS:
        raise FilterSyntaxError(f"unknown filter target {target!r}; use one of {', '.join(TARGETS)}")
    parser = _Parser(text, target)
    if parser.peek().kind == "end":
        return None
    expr = parser.expr()
    parser.expect_end()
    return expr


def parse_order_by(order_by: list[str] | tuple[str, ...] | str | None, target: str = "runs") -> tuple[OrderBy, ...]:
    """Parse MLflow ``order_by`` clauses (``"metrics.rmse ASC"``, ``"params.`my key` DESC"``).

    >>> parse_order_by(["metrics.rmse", "start_time DESC"])
    (OrderBy(entity='metric', key='rmse', ascending=True), OrderBy(entity='attribute', key='start_time', ascending=False))
    """
    if order_by is None:
        return ()
    if isinstance(order_by, str):
        order_by = [order_by]
    if isinstance(order_by, (list, tuple)) and len(order_by) > MAX_ORDER_BY:
        raise FilterSyntaxError(f"order_by has {len(order_by)} clauses; the limit is {MAX_ORDER_BY}")
    result, seen = [], set()
    for clause in order_by:
        if not isinstance(clause, str):
            raise FilterSyntaxError(f"order_by entries must be strings, got {clause!r}")
        parser = _Parser(clause, target)
        if parser.peek().kind == "end":
            raise FilterSyntaxError("empty order_by clause; write e.g. 'metrics.rmse ASC'", clause, 0)
        entity, key, tok = parser.identifier()
        if entity == "dataset":
            parser.fail("datasets.* cannot be used in order_by", tok)
        try:
            key = _normalize_key(entity, key, target)
        except ValueError as e:
            raise FilterSyntaxError(str(e), clause, tok.pos) from None
        ascending = True
        if parser.is_word("ASC") or parser.is_word("DESC"):
            ascending = parser.next().text.upper() == "ASC"
        if parser.peek().kind != "end":
            parser.fail(f"expected ASC, DESC or the end of the order_by clause, found {parser._show(parser.peek())}")
        if (entity, key) in seen:
            raise FilterSyntaxError(f"order_by names {_ENTITY_RENDER[entity]}.{key} twice", clause, tok.pos)
        seen.add((entity, key))
        result.append(OrderBy(entity, key, ascending))
    return tuple(result)


# --- rendering -------------------------------------------------------------------------------

def _render_key(entity: str, key: str) -> str:
    if _BARE_KEY.fullmatch(key):
        return f"{_ENTITY_RENDER[entity]}.{key}"
    return f'{_ENTITY_RENDER[entity]}."{key.replace(chr(34), chr(34) * 2)}"'


def _render_value(value) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_render_value(v) for v in value) + ")"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def render_filter(expr: Expr | None) -> str:
    """The canonical filter text of an AST; ``parse_filter(render_filter(e)) == e``.

    >>> render_filter(Or((Comparison("tag", "my tag", "=", "x"), Comparison("metric", "acc", ">", 0.9))))
    'tags."my tag" = \\'x\\' OR metrics.acc > 0.9'
    """
    if expr is None:
        return ""
    if isinstance(expr, Comparison):
        key = _render_key(expr.entity, expr.key)
        return f"{key} {expr.op}" if expr.value is None else f"{key} {expr.op} {_render_value(expr.value)}"
    if isinstance(expr, Not):
        inner = expr.item
        text = render_filter(inner)
        return f"NOT ({text})" if isinstance(inner, (And, Or)) else f"NOT {text}"
    if isinstance(expr, (And, Or)):
        joiner = " AND " if isinstance(expr, And) else " OR "
        return joiner.join(f"({render_filter(i)})" if isinstance(i, (And, Or)) else render_filter(i)
                           for i in expr.items)
    raise FilterSyntaxError(f"not a filter expression: {expr!r}")
