"""The interop commands: ``duckml import-mlflow``, ``duckml export``, ``duckml import``.

Registered on the main group by ``register_interop_commands(cli)`` (one line in ``duckml/cli.py``).
Progress and summaries go to stderr; stdout stays empty, so the commands compose in scripts.
"""

from __future__ import annotations

import click


def _progress(message: str) -> None:
    click.echo(message, err=True)


@click.command("import-mlflow")
@click.argument("tracking_uri")
@click.option("--trust-pickled-models", is_flag=True,
              help="Unpickle MLflow's pickled scikit-learn models (once each, in a subprocess) and re-save them "
                   "in duckml's safe format. Unpickling runs code: only for stores you trust.")
@click.option("--artifact-root-ok", "artifact_roots_ok", multiple=True, type=click.Path(file_okay=False),
              help="A folder outside the tracking folder that runs' artifact URIs may point into (repeatable). "
                   "Artifacts elsewhere are skipped and reported; symlinks are never followed.")
@click.option("--update", is_flag=True,
              help="Re-sync a store imported before: runs that only grew since (new points, params, tags) get "
                   "what is new; a run whose imported data changed is still refused.")
def import_mlflow_command(tracking_uri, trust_pickled_models, artifact_roots_ok, update):
    """Import an MLflow store: runs (ids kept), histories, artifacts, datasets, the registry.

    TRACKING_URI is sqlite:///mlflow.db or an mlruns/ folder. Running it again adds nothing; a run that
    exists here with other content is reported and left as it is (exit status 1). Only files inside the
    tracking folder (or an --artifact-root-ok folder) are read; metric points outside years 1900..9999
    are counted and left out; a malformed store is refused with one error and nothing is written.

    \b
    Example:
        duckml import-mlflow sqlite:///mlflow.db
        duckml --store team.duckdb import-mlflow ./mlruns --trust-pickled-models
        duckml import-mlflow sqlite:///mlflow.db --artifact-root-ok /shared/mlartifacts
        duckml import-mlflow sqlite:///mlflow.db --update
    """
    from duckml.interop.mlflow_import import import_mlflow

    report = import_mlflow(tracking_uri, trust_pickled_models=trust_pickled_models, progress=_progress,
                           artifact_roots_ok=artifact_roots_ok, update=update)
    for line in report.summary():
        _progress(line)
    if report.conflicts:
        raise click.ClickException(f"{len(report.conflicts)} item(s) exist here with other content and were not "
                                   f"overwritten: {', '.join(report.conflicts[:5])}")


@click.command("export")
@click.argument("bundle", type=click.Path())
@click.option("-e", "--experiment", "experiments", multiple=True, help="Experiment name or id (repeatable).")
@click.option("--run", "run_ids", multiple=True, help="Run id (repeatable).")
def export_command(bundle, experiments, run_ids):
    """Write runs into a bundle (a folder, or BUNDLE.zip) to hand to a teammate.

    Without -e or --run, every active run is exported. Model versions of the runs come along.

    \b
    Example:
        duckml export handover.zip -e churn
        duckml export one-run/ --run 3f2a9c...
    """
    from duckml.interop.bundle import export_bundle

    export_bundle(bundle, experiments=experiments, run_ids=run_ids, progress=_progress)


@click.command("import")
@click.argument("bundle", type=click.Path(exists=True))
def import_command(bundle):
    """Merge a bundle into this store: ids kept, identical runs skipped, conflicting runs refused.

    \b
    Example:
        duckml import handover.zip
    """
    from duckml.interop.bundle import import_bundle

    report = import_bundle(bundle, progress=_progress)
    _progress(f"runs imported: {len(report.runs_imported)}; already present: {len(report.runs_skipped)}; "
              f"model versions imported: {len(report.versions_imported)}; aliases set: {len(report.aliases_set)}")
    for name, old, new in report.versions_imported:
        _progress(f"  {name}: source version {old} -> version {new}")
    for line in report.skipped_points_lines():
        _progress(line)
    for note in report.notes:
        _progress(f"note: {note}")


def register_interop_commands(group: click.Group) -> None:
    """Add the interop commands to the ``duckml`` group."""
    for command in (import_mlflow_command, export_command, import_command):
        group.add_command(command)
