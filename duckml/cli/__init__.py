"""The ``duckml`` command: a thin client of the Python API.

Each command parses options, calls one or two public functions (or reads one of the views in ``sql/views``)
and prints with ``output.emit``; it builds no SQL. Errors are translated in one place
(``DuckmlGroup.invoke``): a user's mistake (a ``DuckmlError``) prints ``Error: <message>`` on stderr and
exits 1, with no traceback; anything else is a bug and keeps its traceback. Only ``duckml sql`` turns
DuckDB's own errors into such a line, since there the SQL is the user's.

Run ids may be given in full or as a unique prefix (at least 4 characters), as tables show them.
"""

from __future__ import annotations

import sys
from datetime import timedelta

import click

import duckml
from duckml.cli.output import emit, emit_relation, format_option
from duckml.cli.tables import compare_rows, parse_columns, runs_table, versions_rows
from duckml.cli.ui import ui as ui_command
from duckml.errors import DuckmlError, InvalidInputError


class DuckmlGroup(click.Group):
    """Turns duckml errors into one clean line on stderr, for every nested command."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DuckmlError as error:
            message = str(error).strip().splitlines()
            raise click.ClickException(" ".join(line.strip() for line in message)) from error


def _store():
    """The chosen store, for reads: never created here (a read on a missing store says where it looked)."""
    store = duckml.get_store()
    store.require_existing()
    return store


def _run_id(run_id: str) -> str:
    from duckml.tracking.runs import resolve_run_id

    return resolve_run_id(run_id, _store())


def _view(view: str, fmt: str, where: dict | None = None, order_by: tuple[str, ...] = (),
          table_columns: list[str] | None = None) -> None:
    from duckml.store import view_rows

    columns, rows = view_rows(_store(), view, where, order_by)
    emit(columns, rows, fmt, table_columns)


@click.group(cls=DuckmlGroup)
@click.option("--store", "store_path", type=click.Path(dir_okay=False), default=None,
              help="The store file, or ducklake:postgres:<conninfo> (default: $DUCKML_STORE, else ./duckml.duckdb).")
@click.option("--data-path", "data_path", type=click.Path(file_okay=False), default=None,
              help="A lake store's shared folder for data and artifacts (default: $DUCKML_DATA_PATH).")
@click.version_option(duckml.__version__, prog_name="duckml")
def cli(store_path, data_path):
    """duckml: experiment tracking and a model registry in one DuckDB file.

    \b
    Example:
        duckml demo
        duckml runs list -e weekly-sales --order-by "metrics.rmse ASC"
        duckml sql "SELECT run_name, metrics['rmse'] FROM runs_overview"
    """
    if store_path is not None or data_path is not None:
        duckml.set_store(store_path, data_path=data_path)


# -- experiments ---------------------------------------------------------------------------------
@cli.group()
def experiments():
    """List experiments."""


@experiments.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include deleted experiments.")
@format_option
def experiments_list(show_all, fmt):
    """List experiments with their number of runs.

    \b
    Example:
        duckml experiments list --format csv
    """
    _view("experiments_overview", fmt, None if show_all else {"lifecycle_stage": "active"}, ("creation_time",),
          ["experiment_id", "name", "runs", "last_run_start"] + (["lifecycle_stage"] if show_all else []))


# -- runs ---------------------------------------------------------------------------------------
@cli.group()
def runs():
    """List, show, compare and delete runs."""


@runs.command("list")
@click.option("-e", "--experiment", "experiment_names", multiple=True, help="Experiment name (repeatable).")
@click.option("--filter", "filter_string", default="", help="MLflow filter, e.g. \"metrics.rmse < 0.5\".")
@click.option("--order-by", "order_by", multiple=True, help="e.g. \"metrics.rmse ASC\" (repeatable).")
@click.option("--max-results", type=click.IntRange(min=1), default=None, help="At most this many runs.")
@click.option("--view", "run_view_type", type=click.Choice(["ACTIVE_ONLY", "DELETED_ONLY", "ALL"]),
              default="ACTIVE_ONLY", show_default=True, help="Which runs by lifecycle stage.")
@click.option("--columns", default=None, metavar="KEYS",
              help="Comma-separated keys to show, e.g. \"model,metrics.rmse,tags.team\" (a bare name is a param, "
                   "else a metric, else a tag); the order-by and filter keys are always shown.")
@format_option
def runs_list(experiment_names, filter_string, order_by, max_results, run_view_type, columns, fmt):
    """List runs with their params, latest metrics and tags (the Run list).

    The table shows the run, its name, then the keys you ordered and filtered by, so they stay in view on a
    narrow terminal (columns that do not fit are dropped from the right), then status, start, duration, the
    other params, the metrics and your tags (MLflow's and duckml's own tags are in csv/json).

    \b
    Example:
        duckml runs list -e weekly-sales --filter "params.model = 'rf'" --order-by "metrics.rmse ASC"
        duckml runs list --columns "model,max_depth,metrics.rmse,tags.team"
    """
    _store()
    found = duckml.search_runs(experiment_names=list(experiment_names) or None, filter_string=filter_string,
                               order_by=list(order_by) or None, max_results=max_results,
                               run_view_type=run_view_type, output_format="list")
    keys = {prefix: sorted({k for run in found for k in getattr(run.data, prefix)})
            for prefix in ("params", "metrics", "tags")}
    all_columns = ["run_id", "experiment_id", "run_name", "status", "start_time", "end_time", "parent_run_id",
                   *(f"{prefix}.{k}" for prefix in ("params", "metrics", "tags") for k in keys[prefix])]
    rows = [(r.info.run_id, r.info.experiment_id, r.info.run_name, r.info.status, r.info.start_time,
             r.info.end_time, r.info.parent_run_id,
             *(getattr(r.data, prefix).get(k) for prefix in ("params", "metrics", "tags") for k in keys[prefix]))
            for r in found]
    if fmt != "table":
        if columns is not None:  # the run's own columns, then only the chosen keys
            chosen = [f"{kind}.{key}" for kind, key in parse_columns(columns, keys)]
            keep = [i for i, c in enumerate(all_columns) if i < 7 or c in chosen]
            all_columns, rows = [all_columns[i] for i in keep], [tuple(r[i] for i in keep) for r in rows]
        emit(all_columns, rows, fmt)
        return
    header, table = runs_table(found, filter_string, order_by, columns)
    emit(header, table, "table")


@runs.command("show")
@click.argument("run_id")
@format_option
def runs_show(run_id, fmt):
    """Show one run: status, times, params, latest metrics and tags (the Run details).

    \b
    Example:
        duckml runs show 3f2a9c...
    """
    run = duckml.get_run(_run_id(run_id))
    info = run.info
    rows = [("attribute", name, getattr(info, name)) for name in
            ("run_id", "run_name", "experiment_id", "status", "start_time", "end_time", "lifecycle_stage",
             "parent_run_id")]
    rows += [("param", k, v) for k, v in run.data.params.items()]
    rows += [("metric", k, v) for k, v in run.data.metrics.items()]
    rows += [("tag", k, v) for k, v in run.data.tags.items()]
    emit(["section", "key", "value"], rows, fmt)


@runs.command("compare")
@click.argument("run_ids", nargs=-1, required=True)
@click.option("-d", "--differences-only", is_flag=True, help="Only the params and metrics whose values differ.")
@format_option
def runs_compare(run_ids, differences_only, fmt):
    """Params and latest metrics of several runs side by side; `differs` marks what changed.

    In the table, each metric shows the digits that keep the runs apart (csv and json keep every digit).

    \b
    Example:
        duckml runs compare 3f2a 9b1c --differences-only
    """
    frame = duckml.compare_runs([_run_id(r) for r in run_ids])
    if fmt != "table":
        if differences_only:
            frame = frame.filter(frame["differs"])
        emit(frame.columns, frame.rows(), fmt)
        return
    header, rows = compare_rows(frame, differences_only)
    emit(header, rows, "table")


@runs.command("delete")
@click.argument("run_id")
def runs_delete(run_id):
    """Soft-delete a run (hidden until `duckml runs restore`; `duckml gc` removes it for good).

    \b
    Example:
        duckml runs delete 3f2a9c...
    """
    run_id = _run_id(run_id)
    duckml.delete_run(run_id)
    duckml.flush()
    click.echo(f"deleted run {run_id}")


@runs.command("restore")
@click.argument("run_id")
def runs_restore(run_id):
    """Restore a soft-deleted run.

    \b
    Example:
        duckml runs restore 3f2a9c...
    """
    run_id = _run_id(run_id)
    duckml.restore_run(run_id)
    duckml.flush()
    click.echo(f"restored run {run_id}")


@runs.command("artifacts")
@click.argument("run_id")
@click.option("--path", default=None, help="List inside this artifact folder only.")
@format_option
def runs_artifacts(run_id, path, fmt):
    """List a run's artifacts (every file, with size, media type and sha256).

    \b
    Example:
        duckml runs artifacts 3f2a9c...
    """
    from duckml.tracking.artifacts import artifact_files

    rows = artifact_files(_run_id(run_id), path)
    columns = ["path", "size", "media_type", "sha256", "created_at"]
    emit(columns, [tuple(row[c] for c in columns) for row in rows], fmt)


# -- artifacts, datasets, gc --------------------------------------------------------------------
@cli.group()
def artifacts():
    """Copy artifacts out of the store."""


@artifacts.command("get")
@click.argument("run_id")
@click.argument("path")
@click.argument("dest", type=click.Path(file_okay=False))
def artifacts_get(run_id, path, dest):
    """Copy artifact PATH (a file or a folder) of RUN_ID into folder DEST; prints where it landed.

    \b
    Example:
        duckml artifacts get 3f2a9c... model ./downloaded
    """
    click.echo(duckml.download_artifacts(_run_id(run_id), path, dest))


@cli.group()
def datasets():
    """Datasets the runs trained on (lineage)."""


@datasets.command("list")
@format_option
def datasets_list(fmt):
    """List logged datasets with their digest, size and how many runs used them.

    \b
    Example:
        duckml datasets list
    """
    _view("datasets_overview", fmt, order_by=("last_used_at DESC",),
          table_columns=["name", "digest", "source_type", "source", "row_count", "run_count", "contexts",
                         "last_used_at"])


@datasets.command("runs")
@click.argument("name_or_digest")
@format_option
def datasets_runs(name_or_digest, fmt):
    """Which runs used a dataset (by name, id or digest prefix).

    \b
    Example:
        duckml datasets runs sales_last_year
    """
    frame = duckml.get_dataset_runs(name_or_digest)
    emit(frame.columns, frame.rows(), fmt)


@cli.command("gc")
@click.option("--dry-run", is_flag=True, help="Report what would be removed, remove nothing.")
@click.option("--min-age", "min_age", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Keep unreferenced files stored or reused this recently (default: 3600 on a lake, 0 on a file).")
def gc_command(dry_run, min_age):
    """Remove soft-deleted runs and experiments for good, with their unreferenced artifact files.

    \b
    Example:
        duckml gc --dry-run
    """
    click.echo(str(duckml.gc(dry_run=dry_run, min_age_seconds=min_age)))


# -- models -------------------------------------------------------------------------------------
@cli.group()
def models():
    """Registered models: list, show versions, move aliases."""


@models.command("list")
@click.option("--filter", "filter_string", default="", help="e.g. \"name LIKE 'sales%'\".")
@format_option
def models_list(filter_string, fmt):
    """List registered models with their latest version and aliases.

    \b
    Example:
        duckml models list
    """
    _store()
    frame = duckml.search_registered_models(filter_string=filter_string)
    emit(frame.columns, frame.rows(), fmt)


@models.command("show")
@click.argument("name")
@format_option
def models_show(name, fmt):
    """Show a model's versions, aliases, source runs and their metrics.

    \b
    Example:
        duckml models show sales-forecast
    """
    from duckml.models.compiled import versions_with_engines

    frame = versions_with_engines(name)
    if fmt != "table":
        emit(frame.columns, frame.rows(), fmt)
        return
    header, rows = versions_rows(frame)
    emit(header, rows, "table", max_cell=100)


@models.command("compile")
@click.argument("model_uri")
@click.option("--macro", default=None, help="Macro name (default predict_<name>_<alias> or predict_<name>_v<N>).")
def models_compile(model_uri, macro):
    """Compile MODEL_URI to SQL and store it as a table macro any DuckDB client can run.

    \b
    Example:
        duckml models compile models:/sales-forecast@champion
        duckdb duckml.duckdb "SELECT * FROM predict_sales_forecast_champion('new_week.parquet')"
    """
    name = duckml.compile_model(model_uri, macro=macro)
    click.echo(f"{name}: SELECT * FROM {name}('data.parquet')")


@models.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version")
def models_alias(name, alias, version):
    """Point ALIAS of model NAME at VERSION (moving it if it pointed elsewhere).

    \b
    Example:
        duckml models alias sales-forecast champion 3
    """
    duckml.set_registered_model_alias(name, alias, version)
    click.echo(f"{name}@{alias} -> version {version}")


@models.command("history")
@click.argument("name")
@format_option
def models_history(name, fmt):
    """When each alias of a model pointed at which version (the registry's audit trail).

    \b
    Example:
        duckml models history sales-forecast
    """
    _view("alias_history", fmt, {"name": name}, ("valid_from",))


# -- predict ------------------------------------------------------------------------------------
@cli.command("predict")
@click.argument("model_uri")
@click.argument("source")
@click.option("--output", type=click.Path(dir_okay=False), default=None, help="Write a .parquet file.")
@click.option("--table", default=None, help="Create (or append to) this table in the store.")
def predict_command(model_uri, source, output, table):
    """Score SOURCE (a Parquet path or glob) with a stored model; lineage is recorded.

    \b
    Example:
        duckml predict models:/sales-forecast@champion new_week.parquet --table forecasts
    """
    if (output is None) == (table is None):
        raise click.UsageError("give exactly one of --output FILE.parquet or --table NAME")
    if output is not None and not output.endswith(".parquet"):
        raise click.UsageError(f"--output must name a .parquet file, got {output!r}")
    target = output if output is not None else table
    if sys.stderr.isatty():  # a progress bar for people; nothing for pipes and logs
        with click.progressbar(length=1, label="scoring", file=sys.stderr) as bar:
            def progress(done, total):
                bar.length = max(total, 1)
                bar.update(done - bar.pos)

            duckml.predict(model_uri, source, output=target, progress=progress)
    else:
        duckml.predict(model_uri, source, output=target)
    click.echo(f"predictions written to {target}")


# -- sql and demo -------------------------------------------------------------------------------
@cli.command("sql")
@click.argument("query")
@format_option
def sql(query, fmt):
    """Run SQL on the store, with every view and macro (predict included).

    \b
    Example:
        duckml sql "SELECT run_name, metrics['rmse'] AS rmse FROM runs_overview ORDER BY rmse"
    """
    import duckdb

    try:
        relation = duckml.connect(create=False).sql(query)
    except duckdb.Error as error:  # the user's SQL: DuckDB's message is the answer, not a bug of ours
        raise click.ClickException(" ".join(str(error).split())) from error
    if relation is None:
        click.echo("ok")
    else:
        emit_relation(relation, fmt)


@cli.command("demo")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=None,
              help="Folder for the demo's store and data (default: ./duckml-demo, replaced on each run).")
@click.option("--ui/--no-ui", "open_ui", default=None,
              help="Open `duckml ui` on the demo's store at the end (default: ask, in a terminal).")
@click.option("--spark", is_flag=True, help="Also score the new week on a Spark local cluster (pip install "
              "'duckml[spark]', Java 17) into a Parquet forecast table.")
def demo(directory, open_ui, spark):
    """Run the end-to-end example on a fresh store: train, track, compare, register, PREDICT.

    \b
    Example:
        duckml demo
        duckml demo --dir ./my-demo --no-ui
        duckml demo --spark
    """
    from duckml.demo import run_demo

    store_path = run_demo(directory, echo=click.echo, spark=spark)
    if open_ui is None:
        open_ui = sys.stdin.isatty() and sys.stdout.isatty() and click.confirm(
            f"\nOpen duckml ui on {store_path} now?", default=True)
    if open_ui:
        from duckml.ui.command import serve

        serve(open_browser=True)


cli.add_command(ui_command)  # `duckml ui` and `duckml ui users …`: duckml/cli/ui.py


# -- one store for a team (a DuckLake store) ------------------------------------------------------

def _lake_store():
    from duckml.store.lake import LakeStore

    store = duckml.get_store()
    if not isinstance(store, LakeStore):
        raise InvalidInputError(f"{store.path} is a single-file store; lake commands need "
                                "--store ducklake:postgres:<conninfo> --data-path DIR (or $DUCKML_STORE)")
    return store


@cli.group()
def lake():
    """Upkeep and time travel of a lake store (ducklake:postgres:…)."""


@lake.command("maintain")
@click.option("--keep-days", type=click.FloatRange(min=0), default=7.0, show_default=True,
              help="Keep snapshots this recent (how far back time travel reaches).")
def maintain(keep_days):
    """Merge small files and expire old snapshots; nothing current is lost.

    \b
    Example:
        duckml --store "ducklake:postgres:host=db dbname=team" --data-path /mnt/team lake maintain
    """
    from duckml.store.lake_upkeep import maintain as run_maintain

    click.echo(str(run_maintain(_lake_store(), keep=timedelta(days=keep_days))))


@lake.command("as-of")
@click.argument("moment")
@click.argument("query")
@format_option
def as_of(moment, query, fmt):
    """Run a read-only QUERY on the lake as it was at MOMENT (a timestamp, or a snapshot number).

    \b
    Example:
        duckml lake as-of "2026-11-28 18:00" "SELECT count(*) AS runs FROM runs_overview"
    """
    from duckml.store.lake_upkeep import sql_as_of

    when = int(moment) if moment.isdigit() else moment
    relation = sql_as_of(_lake_store(), query, when)
    if relation is None:
        click.echo("ok")
    else:
        emit_relation(relation, fmt)


from duckml.interop.cli import register_interop_commands  # noqa: E402  (import-mlflow, export, import)

register_interop_commands(cli)
