"""Finds ``sql/``, applies pending migrations, and (re)creates views and macros.

Migrations are ``sql/migrations/NNNN_slug.sql``, applied in numeric order, each in one transaction with
its row in ``_duckml_migrations`` (DuckDB rolls DDL back on failure, so a failed migration leaves the file
as it was). The schema version is the highest applied number. Views and macros are stateless: they are
recreated whenever the digest of ``sql/views`` + ``sql/macros`` differs from the one stored in the file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from duckml.errors import SchemaError

_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

# The tracking tables every migrated store holds (besides its ``_duckml_*`` bookkeeping tables).
CORE_TABLES = frozenset({
    "artifacts", "compiled_models", "dataset_profiles", "datasets", "experiment_tags", "experiments",
    "logged_model_metrics", "logged_models", "metrics", "model_aliases",
    "model_version_counters", "model_version_stages", "model_version_tags", "model_versions", "params", "predictions",
    "registered_model_tags", "registered_models", "registry_events", "run_input_tags", "run_inputs", "runs", "tags",
})
# Bookkeeping tables a store cannot work without; a missing one means the file was damaged.
REQUIRED_INTERNAL_TABLES = frozenset({"_duckml_meta", "_duckml_migrations", "_duckml_segments",
                                      "_duckml_series", "_duckml_latest"})


_BOOKKEEPING_TABLE = """CREATE TABLE IF NOT EXISTS _duckml_migrations (
    version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, checksum VARCHAR NOT NULL,
    applied_at TIMESTAMP NOT NULL)"""
_BOOKKEEPING_COLUMNS = [("version", "INTEGER"), ("name", "VARCHAR"), ("checksum", "VARCHAR"),
                        ("applied_at", "TIMESTAMP")]


def sql_dir() -> Path:
    """The ``sql/`` folder: inside an installed wheel, or beside the package in a checkout."""
    packaged = Path(str(resources.files("duckml"))) / "sql"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "sql"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations() -> list[Migration]:
    found = []
    for path in sorted((sql_dir() / "migrations").glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise SchemaError(f"migration file {path.name!r} is not named NNNN_slug.sql")
        found.append(Migration(int(match[1]), match[2], path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise SchemaError(f"two migration files share a number: {versions}")
    return found


def code_version() -> int:
    return max((m.version for m in migrations()), default=0)


def definition_files() -> list[Path]:
    """View and macro files; each holds one ``CREATE OR REPLACE`` statement named like the file."""
    root = sql_dir()
    return sorted((root / "views").glob("*.sql")) + sorted((root / "macros").glob("*.sql"))


def definition_names() -> frozenset[str]:
    """Names of the views and macros duckml ships (each file is named like what it creates)."""
    return frozenset(path.stem for path in definition_files())


@dataclass
class _Definitions:
    # file name -> statement, in the order that last applied without a retry; replaced whole, never
    # edited in place, as another thread may be reading it
    texts: dict[str, str]
    digest: str


# Read once per process for each version of the files (keyed by their names, sizes and mtimes): every new
# connection runs them, and reading, hashing and retrying out of order cost a few ms each time.
_loaded: dict[tuple, _Definitions] = {}


def _definitions() -> _Definitions:
    files = definition_files()
    stamp = tuple((str(path), stat.st_size, stat.st_mtime_ns) for path in files for stat in [path.stat()])
    found = _loaded.get(stamp)
    if found is None:
        digest = hashlib.sha256()
        for path in files:
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        found = _loaded[stamp] = _Definitions({path.name: path.read_text() for path in files}, digest.hexdigest())
    return found


def definitions_digest() -> str:
    """A digest of every view and macro file: the file records the one its stored definitions came from."""
    return _definitions().digest


def _catalog_literal(catalog: str) -> str:
    """The catalog name (always duckml's own, such as "store") as an SQL literal.

    The few queries a process runs before its first real one take no bound parameters: the first bound
    parameter makes duckdb import pandas (~0.45 s), which a short CLI command should not pay for nothing.
    """
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", catalog):
        raise SchemaError(f"catalog must be a plain lower-case name, got {catalog!r}")
    return f"'{catalog}'"


def applied(con, catalog: str, tables: list[str] | None = None) -> dict[int, str]:
    """Applied migration versions -> checksums; empty for a store that has none yet (``tables``: the
    catalog's tables, if the caller has listed them already)."""
    if tables is None:
        tables = user_tables(con, catalog)
    if "_duckml_migrations" not in tables:
        return {}
    return dict(con.execute(f"SELECT version, checksum FROM {catalog}.main._duckml_migrations").fetchall())


def user_tables(con, catalog: str) -> list[str]:
    return [r[0] for r in con.execute(
        f"SELECT table_name FROM duckdb_tables() WHERE database_name = {_catalog_literal(catalog)} "
        "ORDER BY table_name").fetchall()]


def foreign_objects(con, catalog: str) -> list[str]:
    """What a DuckDB file without ``_duckml_migrations`` already holds: tables, views, macros, sequences,
    types and schemas beyond the defaults. Only a file holding none of these is made a store."""
    cat = _catalog_literal(catalog)
    found = con.execute(
        f"SELECT 'table ' || table_name FROM duckdb_tables() WHERE database_name = {cat} "
        f"UNION ALL SELECT 'view ' || view_name FROM duckdb_views() WHERE database_name = {cat} AND NOT internal "
        f"UNION ALL SELECT 'macro ' || function_name FROM duckdb_functions() WHERE database_name = {cat} "
        "AND NOT internal "
        f"UNION ALL SELECT 'sequence ' || sequence_name FROM duckdb_sequences() WHERE database_name = {cat} "
        f"UNION ALL SELECT 'type ' || type_name FROM duckdb_types() WHERE database_name = {cat} AND NOT internal "
        f"UNION ALL SELECT 'schema ' || schema_name FROM duckdb_schemas() WHERE database_name = {cat} "
        "AND NOT internal AND schema_name <> 'main' ORDER BY 1").fetchall()
    return [row[0] for row in found]


def _bookkeeping_is_ours(con, catalog: str) -> bool:
    """Whether the catalog's ``_duckml_migrations`` table has the columns duckml gives it."""
    columns = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = "
        f"{_catalog_literal(catalog)} AND schema_name = 'main' AND table_name = '_duckml_migrations' "
        "ORDER BY column_index").fetchall()
    return columns == _BOOKKEEPING_COLUMNS


def check(con, catalog: str, path: Path) -> tuple[bool, bool]:
    """Validate an attached store; return (needs_migration, needs_definitions).

    A file holding nothing but an empty ``_duckml_migrations`` is a store whose creation was cut short
    (earlier duckml committed that table alone before the first migration): it is migrated like a new one.
    """
    tables = user_tables(con, catalog)
    if "_duckml_migrations" in tables and not _bookkeeping_is_ours(con, catalog):
        raise SchemaError(f"{path} is a DuckDB database but not a duckml store (its table _duckml_migrations "
                          "is not duckml's); duckml left it untouched. Choose another path with set_store() "
                          "or --store")
    done = applied(con, catalog, tables)
    if not done:
        foreign = [name for name in foreign_objects(con, catalog) if name != "table _duckml_migrations"]
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise SchemaError(f"{path} is a DuckDB database but not a duckml store (it holds {shown} and no "
                              "_duckml_migrations); duckml left it untouched. Choose another path with "
                              "set_store() or --store")
    known = {m.version: m for m in migrations()}
    newest = max(done, default=0)
    if newest > code_version():
        raise SchemaError(f"{path} was written by a newer duckml (schema version {newest}, this duckml knows "
                          f"{code_version()}); upgrade duckml")
    for version, checksum in done.items():
        if version in known and known[version].checksum != checksum:
            raise SchemaError(f"migration {version} ({known[version].name}) of {path} differs from the one this "
                              "duckml ships; released migrations must never be edited")
    needs_migration = any(v not in done for v in known)
    if not needs_migration:
        missing = sorted((CORE_TABLES | REQUIRED_INTERNAL_TABLES) - set(tables))
        if missing:
            raise SchemaError(f"{path} is a damaged duckml store: table(s) {', '.join(missing)} are missing "
                              "(dropped by SQL run outside duckml?). duckml will not write to it; restore the "
                              "file from a backup, or copy what you need out of it with duckdb")
    stored_digest = None
    if done:
        row = con.execute(f"SELECT value FROM {catalog}.main._duckml_meta WHERE key = 'definitions_digest'").fetchone()
        stored_digest = row[0] if row else None
    return needs_migration, stored_digest != definitions_digest()


def migrate(con, catalog: str, stop_after: int | None = None, rewrite=None) -> list[int]:
    """Apply pending migrations to ``catalog`` (the caller holds it read-write); return the versions applied.

    ``rewrite`` adapts each migration's text to a catalog that lacks some DDL (a DuckLake catalog has no
    PRIMARY KEY); the checksum recorded stays the shipped file's.
    """
    rewrite = rewrite or (lambda text: text)
    con.execute(f"USE {catalog}")
    try:
        done = applied(con, catalog)
        ran = []
        for migration in migrations():
            if migration.version in done:
                continue
            if stop_after is not None and migration.version > stop_after:
                break
            con.execute("BEGIN TRANSACTION")
            try:
                # in the first migration's transaction, never committed alone: a process killed in between
                # would leave a file that holds only this table, which is no store yet and not empty either
                con.execute(rewrite(_BOOKKEEPING_TABLE))
                con.execute(rewrite(migration.sql))
                con.execute("INSERT INTO _duckml_migrations VALUES (?, ?, ?, now()::TIMESTAMP)",
                            [migration.version, migration.name, migration.checksum])
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
            ran.append(migration.version)
        return ran
    finally:
        con.execute("USE memory")


def create_definitions(con, *, strict: bool = True) -> None:
    """Run every view/macro file on the current default catalog, retrying until dependencies resolve.

    Views are bound when created, so a view over another view must come after it; rather than keep an
    order by hand, failed files are retried after the others until no further progress is made.
    """
    definitions = _definitions()
    pending = dict(definitions.texts)
    applied_order: list[str] = []
    while pending:
        failed: dict[str, tuple[str, Exception]] = {}
        for name, text in pending.items():
            try:
                con.execute(text)
                applied_order.append(name)
            except Exception as error:  # duckdb.Error: the dependency may simply not exist yet
                failed[name] = (text, error)
        if len(failed) == len(pending):
            if strict:
                name, (_, error) = next(iter(failed.items()))
                raise SchemaError(f"sql definition {name} does not apply: {error}") from error
            return
        pending = {name: text for name, (text, _) in failed.items()}
    if list(definitions.texts) != applied_order:  # the next connection runs them in an order that works
        definitions.texts = {name: definitions.texts[name] for name in applied_order}


def store_definitions(con, catalog: str) -> None:
    """(Re)create the views and macros inside the file, for plain ``duckdb`` clients."""
    con.execute(f"USE {catalog}")
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            create_definitions(con)
            # DELETE + INSERT rather than INSERT OR REPLACE: a DuckLake catalog has no keys to replace by
            con.execute("DELETE FROM _duckml_meta WHERE key = 'definitions_digest'")
            con.execute("INSERT INTO _duckml_meta VALUES ('definitions_digest', ?)", [definitions_digest()])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    finally:
        con.execute("USE memory")
