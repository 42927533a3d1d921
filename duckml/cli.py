"""The ``duckml`` command: a thin client of the Python API.

Each command parses options, calls one or two public functions and prints with ``emit``. Errors are
translated in one place (``DuckmlGroup.invoke``): a user's mistake prints ``Error: <message>`` on stderr
and exits 1, with no traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta

import click
import duckdb

import duckml
from duckml.errors import DuckmlError, InvalidInputError

FORMATS = ("table", "csv", "json")


class DuckmlGroup(click.Group):
    """Turns duckml and DuckDB errors into one clean line on stderr, for every nested command."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (DuckmlError, duckdb.Error) as error:
            message = str(error).strip().splitlines()
            raise click.ClickException(" ".join(line.strip() for line in message)) from error


def format_option(command):
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
                        help="Output format.")(command)


def _plain(value):
    if isinstance(value, float) and value != value:
        return "NaN"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def emit(frame, fmt: str) -> None:
    """Print a Polars frame as an aligned table, CSV, or JSON records (stdout only: pipe-friendly)."""
    import polars as pl

    if fmt == "csv":
        flat = frame.with_columns([pl.col(c).cast(pl.String) for c, t in frame.schema.items() if t.is_nested()])
        click.echo(flat.write_csv(), nl=False)
    elif fmt == "json":
        rows = [{k: _plain(v) for k, v in row.items()} for row in frame.to_dicts()]
        click.echo(json.dumps(rows, indent=2, default=str))
    else:
        if frame.is_empty():
            click.echo("(no rows)")
            return
        with pl.Config(tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=60, tbl_hide_dataframe_shape=True,
                       tbl_hide_column_data_types=True, tbl_formatting="ASCII_MARKDOWN"):
            click.echo(str(frame))


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
    where = "" if show_all else "WHERE e.lifecycle_stage = 'active'"
    frame = duckml.connect().sql(f"""
        SELECT e.experiment_id, e.name, e.lifecycle_stage, e.creation_time,
               count(r.run_id) FILTER (WHERE r.lifecycle_stage = 'active') AS runs
        FROM experiments e LEFT JOIN runs r USING (experiment_id) {where}
        GROUP BY ALL ORDER BY e.creation_time""").pl()
    emit(frame, fmt)


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
@format_option
def runs_list(experiment_names, filter_string, order_by, max_results, run_view_type, fmt):
    """List runs with their params, latest metrics and tags (the Run list).

    \b
    Example:
        duckml runs list -e weekly-sales --filter "params.model = 'rf'" --order-by "metrics.rmse ASC"
    """
    frame = duckml.search_runs(experiment_names=list(experiment_names) or None, filter_string=filter_string,
                               order_by=list(order_by) or None, max_results=max_results,
                               run_view_type=run_view_type)
    frame = frame.drop([c for c in ("tags.mlflow.runName",) if c in frame.columns])
    emit(frame, fmt)


@runs.command("show")
@click.argument("run_id")
@format_option
def runs_show(run_id, fmt):
    """Show one run: status, times, params, latest metrics and tags (the Run details).

    \b
    Example:
        duckml runs show 3f2a9c...
    """
    import polars as pl

    run = duckml.get_run(run_id)
    info = run.info
    rows = [("attribute", name, _plain(getattr(info, name))) for name in
            ("run_id", "run_name", "experiment_id", "status", "start_time", "end_time", "lifecycle_stage",
             "parent_run_id")]
    rows += [("param", k, v) for k, v in run.data.params.items()]
    rows += [("metric", k, _plain(v)) for k, v in run.data.metrics.items()]
    rows += [("tag", k, v) for k, v in run.data.tags.items()]
    frame = pl.DataFrame({"section": [r[0] for r in rows], "key": [r[1] for r in rows],
                          "value": [None if r[2] is None else str(r[2]) for r in rows]})
    emit(frame, fmt)


@runs.command("compare")
@click.argument("run_ids", nargs=-1, required=True)
@format_option
def runs_compare(run_ids, fmt):
    """Params and latest metrics of several runs side by side; `differs` marks what changed.

    \b
    Example:
        duckml runs compare 3f2a... 9b1c...
    """
    emit(duckml.compare_runs(list(run_ids)), fmt)


@runs.command("delete")
@click.argument("run_id")
def runs_delete(run_id):
    """Soft-delete a run (hidden until `duckml runs restore`; `duckml gc` removes it for good).

    \b
    Example:
        duckml runs delete 3f2a9c...
    """
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
    duckml.get_run(run_id)  # an unknown run is an error, not an empty list
    prefix = "" if path is None else path.strip("/") + "/"
    emit(duckml.connect().sql(
        "SELECT path, size, media_type, sha256, created_at FROM artifacts "
        "WHERE run_id = ? AND starts_with(path, ?) ORDER BY path", [run_id, prefix]).pl(), fmt)


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
    click.echo(duckml.download_artifacts(run_id, path, dest))


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
    emit(duckml.connect().sql(
        "SELECT name, digest[1:12] AS digest, source_type, source, row_count, run_count, contexts, last_used_at "
        "FROM datasets_overview ORDER BY last_used_at DESC NULLS LAST").pl(), fmt)


@datasets.command("runs")
@click.argument("name_or_digest")
@format_option
def datasets_runs(name_or_digest, fmt):
    """Which runs used a dataset (by name, id or digest prefix).

    \b
    Example:
        duckml datasets runs sales_last_year
    """
    emit(duckml.get_dataset_runs(name_or_digest), fmt)


@cli.command("gc")
@click.option("--dry-run", is_flag=True, help="Report what would be removed, remove nothing.")
def gc_command(dry_run):
    """Remove soft-deleted runs and experiments for good, with their unreferenced artifact files.

    \b
    Example:
        duckml gc --dry-run
    """
    click.echo(str(duckml.gc(dry_run=dry_run)))


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
    emit(duckml.search_registered_models(filter_string=filter_string), fmt)


@models.command("show")
@click.argument("name")
@format_option
def models_show(name, fmt):
    """Show a model's versions, aliases, source runs and their metrics.

    \b
    Example:
        duckml models show sales-forecast
    """
    from duckml.models.registry import get_model_versions

    emit(get_model_versions(name), fmt)


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
    emit(duckml.connect().sql("SELECT * FROM alias_history WHERE name = ? ORDER BY valid_from", [name]).pl(), fmt)


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
    relation = duckml.connect().sql(query)
    if relation is None:
        click.echo("ok")
    else:
        emit(relation.pl(), fmt)


@cli.command("demo")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=None,
              help="Folder for the demo's store and data (default: a new temporary folder).")
def demo(directory):
    """Run the end-to-end example on a fresh store: train, track, compare, register, PREDICT.

    \b
    Example:
        duckml demo --dir ./duckml-demo
    """
    from duckml.demo import run_demo

    run_demo(directory, echo=click.echo)


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
        emit(relation.pl(), fmt)


def main() -> None:  # pragma: no cover - console entry point
    cli(prog_name="duckml")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
