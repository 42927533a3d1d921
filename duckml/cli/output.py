"""How the CLI prints: tables for people (compact, fitted to the terminal), CSV and JSON for programs
(lossless: full ids, full timestamps, every column). No frame library: a command that lists runs should not
pay for importing one.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import math
import shutil
import sys

import click

FORMATS = ("table", "csv", "json")
_MAX_CELL = 40  # characters of one table cell before it is cut with an ellipsis
_SHORT_ID = 8  # characters of a run id shown in tables (longer where needed to stay unique)


def format_option(command):
    """``--format table|csv|json`` on a listing command."""
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
                        help="table for people; csv and json are lossless, for programs.")(command)


def short_ids(ids: list[str]) -> dict[str, str]:
    """The shortest prefixes (at least 8 characters) that tell these ids apart, as git shows commits.

    >>> short_ids(["abcdef0123", "abcdef0199", "ffff00001111"])
    {'abcdef0123': 'abcdef012', 'abcdef0199': 'abcdef019', 'ffff00001111': 'ffff0000'}
    """
    result = {}
    for run_id in ids:
        length = _SHORT_ID
        while length < len(run_id) and any(o != run_id and o[:length] == run_id[:length] for o in ids):
            length += 1
        result[run_id] = run_id[:length]
    return result


def lossless(value):
    """A JSON-ready value that keeps everything: non-finite floats as "NaN"/"Infinity"/"-Infinity", times
    in ISO 8601, bytes in base64, maps as objects, intervals in seconds.

    >>> lossless({"a": [float("inf"), b"ab"]})
    {'a': ['Infinity', 'YWI=']}
    """
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(k): lossless(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [lossless(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)  # Decimal, UUID and other scalars: their exact text


def distinguishing_digits(values, least: int = 6) -> int:
    """The fewest significant digits (at least ``least``, at most 17) at which distinct floats print apart.

    A table of 0.957834 and 0.957754 at 4 digits shows 0.9578 twice; this keeps differences visible while
    equal-looking columns stay short.

    >>> distinguishing_digits([0.9578341, 0.9578342, 0.5])
    7
    >>> distinguishing_digits([1.0, 2.0])
    6
    """
    distinct = {v for v in values if isinstance(v, float) and math.isfinite(v)}
    for digits in range(least, 18):
        if len({f"{v:.{digits}g}" for v in distinct}) == len(distinct):
            return digits
    return 17


def _cell(value, digits: int = 6, max_cell: int = _MAX_CELL) -> str:
    """A compact table cell: ``digits`` significant digits, times to the second, at most _MAX_CELL long."""
    if value is None:
        text = ""
    elif isinstance(value, float):
        text = lossless(value) if not math.isfinite(value) else f"{value:.{digits}g}"
    elif isinstance(value, dt.datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S")
    elif isinstance(value, (dict, list, tuple, bytes)):
        text = json.dumps(lossless(value), ensure_ascii=False)
    else:
        text = str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= max_cell else text[:max_cell - 1] + "…"


def emit(columns: list[str], rows: list[tuple], fmt: str, table_columns: list[str] | None = None,
         max_cell: int = _MAX_CELL) -> None:
    """Print rows as a table (only ``table_columns`` if given; cells cut at ``max_cell``), CSV or JSON records."""
    if fmt == "json":
        records = [{c: lossless(v) for c, v in zip(columns, row)} for row in rows]
        click.echo(json.dumps(records, indent=2, ensure_ascii=False, allow_nan=False))
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if v is None else
                             json.dumps(lossless(v), ensure_ascii=False) if isinstance(v, (dict, list, tuple)) else
                             lossless(v) if isinstance(v, (float, bytes, dt.datetime, dt.date, dt.timedelta)) else v
                             for v in row])
        click.echo(out.getvalue(), nl=False)
    else:
        _table(columns, rows, table_columns, max_cell)


def emit_relation(relation, fmt: str) -> None:
    """Print a DuckDB relation (``duckml sql``) like :func:`emit`, its values made exact first: TIMESTAMPTZ
    without pytz, ±infinity times as ``infinity``/``-infinity``; a table cuts long text in SQL already."""
    from duckml.sqlresult import fetch_exact

    columns, rows = fetch_exact(relation, text_limit=_MAX_CELL + 1 if fmt == "table" else None)
    emit(columns, rows, fmt)


def _table(columns: list[str], rows: list[tuple], shown: list[str] | None, max_cell: int = _MAX_CELL) -> None:
    if not rows:
        click.echo("(no rows)")
        return
    keep = [columns.index(c) for c in (shown or columns)]
    header = [columns[i] for i in keep]
    digits = [distinguishing_digits([row[i] for row in rows]) for i in keep]
    cells = [[_cell(row[i], d, max_cell) for i, d in zip(keep, digits)] for row in rows]
    widths = [max(len(h), *(len(r[j]) for r in cells)) for j, h in enumerate(header)]
    if sys.stdout.isatty():  # fit the terminal: drop the rightmost columns that do not fit, and say so
        room = shutil.get_terminal_size((120, 24)).columns
        used, fits = 0, 0
        for width in widths:
            if used + width + (2 if fits else 0) > room and fits:
                break
            used += width + (2 if fits else 0)
            fits += 1
        if fits < len(header):
            click.echo(f"({len(header) - fits} more columns: widen the terminal, or use --format csv/json)", err=True)
            header, widths, cells = header[:fits], widths[:fits], [r[:fits] for r in cells]
    numeric = [all(_looks_numeric(r[j]) for r in cells) for j in range(len(header))]
    line = lambda values: "  ".join(v.rjust(w) if n else v.ljust(w)  # noqa: E731
                                    for v, w, n in zip(values, widths, numeric)).rstrip()
    click.echo(line(header))
    click.echo("  ".join("-" * w for w in widths))
    for row in cells:
        click.echo(line(row))


def _looks_numeric(text: str) -> bool:
    if text in ("", "NaN", "Infinity", "-Infinity"):
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True
