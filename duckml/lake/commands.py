"""``duckml lake …``: upkeep and time travel of a lake store (registered by ``duckml/cli.py``)."""

from __future__ import annotations

from datetime import timedelta

import click

import duckml
from duckml.errors import InvalidInputError


def _lake_store():
    from duckml.lake.backend import LakeStore

    store = duckml.get_store()
    if not isinstance(store, LakeStore):
        raise InvalidInputError(f"{store.path} is a single-file store; lake commands need "
                                "--store ducklake:postgres:<conninfo> --data-path DIR (or $DUCKML_STORE)")
    return store


@click.group()
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
    from duckml.lake.upkeep import maintain as run_maintain

    click.echo(str(run_maintain(_lake_store(), keep=timedelta(days=keep_days))))


@lake.command("as-of")
@click.argument("moment")
@click.argument("query")
def as_of(moment, query):
    """Run a read-only QUERY on the lake as it was at MOMENT (a timestamp, or a snapshot number).

    \b
    Example:
        duckml lake as-of "2026-11-28 18:00" "SELECT count(*) AS runs FROM runs_overview"
    """
    import polars as pl

    from duckml.lake.upkeep import sql_as_of

    when = int(moment) if moment.isdigit() else moment
    relation = sql_as_of(_lake_store(), query, when)
    if relation is None:
        click.echo("ok")
    else:
        with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True,
                       tbl_formatting="ASCII_MARKDOWN"):
            click.echo(str(relation.pl()))
