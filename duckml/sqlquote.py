"""Quoting for the few places where SQL text must carry a name or a path (values are always bound)."""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (doubling any double quote).

    >>> quote_ident("run list")
    '"run list"'
    """
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """Quote an SQL string literal, for the few statements (ATTACH) that take no parameters.

    >>> quote_literal("it's")
    "'it''s'"
    """
    return "'" + text.replace("'", "''") + "'"
