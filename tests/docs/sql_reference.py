"""Writes docs/reference/sql.md from the `.sql` files and a live store, so the SQL reference cannot drift.

Run ``python -m tests.docs.sql_reference`` after changing a file of ``sql/``; tests/docs/test_sql_reference.py
fails while the page differs from what this prints. Each object's text is the comment that opens its file; its
columns are what DuckDB reports for it in a freshly created store.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "reference" / "sql.md"
# Arguments a table macro is described with (DESCRIBE needs a call); a macro missing here fails loudly.
MACRO_CALLS = {
    "compare_runs": "compare_runs(['r'])",
    "run_details": "run_details('r')",
    "alias_as_of": "alias_as_of('m', 'champion', TIMESTAMP '2026-01-01')",
    "metric_buckets": "metric_buckets(['r'], ['loss'], 100, NULL, NULL)",
}
CONTRACT_TABLES = ["experiments", "runs", "params", "metrics", "tags", "artifacts", "datasets", "run_inputs",
                   "registered_models", "model_versions", "model_aliases", "registry_events", "predictions",
                   "compiled_models"]


def _opening_comment(path: Path) -> str:
    """The file's opening comment as Markdown: prose joined, lines indented past ``--`` as a SQL block."""
    out, prose, code = [], [], []

    def close_prose():
        if prose:
            out.append(" ".join(prose))
            prose.clear()

    def close_code():
        if code:
            out.append("```sql\n" + "\n".join(code) + "\n```")
            code.clear()

    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("--"):
            break
        text = line[2:]
        if text.startswith("   ") and text.strip():
            close_prose()
            code.append(text.strip())
        else:
            close_code()
            prose.append(text.strip())
    close_prose()
    close_code()
    return "\n\n".join(out)


def _signature(path: Path) -> str:
    match = re.search(r"CREATE\s+OR\s+REPLACE\s+MACRO\s+(\w+\s*\([^)]*\))", path.read_text(encoding="utf-8"), re.I)
    return match.group(1) if match else path.stem


def _columns_table(rows) -> str:
    out = ["| column | type |", "|---|---|"]
    out += [f"| `{name}` | `{kind}` |" for name, kind, *_ in rows]
    return "\n".join(out)


def render() -> str:
    """The page's Markdown, from the sql/ files and a store created in a temp folder."""
    import duckml

    sql_dir = ROOT / "sql"
    with tempfile.TemporaryDirectory() as folder:
        duckml.reset_state()
        store = duckml.connect(Path(folder) / "reference.duckdb")
        try:
            def describe(query: str):
                return store.sql(f"DESCRIBE {query}").fetchall()

            parts = ["# SQL reference", "",
                     "Every table, view and macro a duckml store holds. This page is generated from the `.sql` files "
                     "of `sql/` and a freshly created store by `python -m tests.docs.sql_reference`; a test fails "
                     "when it is out of date. All of it works in a plain `duckdb` client except `predict`, which "
                     "needs duckml's Python scoring function.", "", "## Views", ""]
            for path in sorted((sql_dir / "views").glob("*.sql")):
                parts += [f"### `{path.stem}`", "", _opening_comment(path), "",
                          _columns_table(describe(f"SELECT * FROM {path.stem}")), ""]
            parts += ["## Table macros", ""]
            for path in sorted((sql_dir / "macros").glob("*.sql")):
                if path.stem not in MACRO_CALLS:
                    raise KeyError(f"{path.name}: add an example call to MACRO_CALLS in {Path(__file__).name}")
                parts += [f"### `{_signature(path)}`", "", _opening_comment(path), "",
                          _columns_table(describe(f"FROM {MACRO_CALLS[path.stem]}")), ""]
            parts += ["### `predict(model, source)`", "",
                      "Every column of `source` (a Parquet path, glob or list of paths) plus `prediction`, and one "
                      "`proba_<class>` column per class for a classifier; `model` is any model URI. Registered by "
                      "duckml on its own connections (`duckml.connect()`, `duckml sql`); see "
                      "[PREDICT](../predict.md).", "", "## Tables", "",
                      "Written only through duckml's API (`duckml sql` refuses changes to them); read them freely.", ""]
            for table in CONTRACT_TABLES:
                parts += [f"### `{table}`", "", _columns_table(describe(f"SELECT * FROM {table}")), ""]
        finally:
            duckml.reset_state(flush=False)
    return "\n".join(parts).rstrip() + "\n"


if __name__ == "__main__":
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}", file=sys.stderr)
