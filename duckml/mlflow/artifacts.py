"""``mlflow.artifacts``: download a run's artifacts by URI or by run id and path, and read text, dicts and images.

URIs are ``runs:/<run_id>/<path>`` (what ``run.info.artifact_uri`` and ``get_artifact_uri`` give) and
``models:/<name>/<version>`` or ``models:/<name>@<alias>`` (the files of a registered version).

>>> import duckml.mlflow as mlflow
>>> with mlflow.start_run():
...     mlflow.log_dict({"depth": 3}, "config.json")
...     uri = mlflow.get_artifact_uri("config.json")
>>> mlflow.artifacts.load_dict(uri)
{'depth': 3}
"""

from __future__ import annotations

import json
import tempfile

import duckml
from duckml.mlflow.entities import FileInfo
from duckml.mlflow.exceptions import MlflowException, mlflow_errors


def _run_and_path(artifact_uri: str) -> tuple[str, str | None]:
    if not isinstance(artifact_uri, str):
        raise MlflowException(f"artifact_uri must be a string, got {artifact_uri!r}",
                              error_code="INVALID_PARAMETER_VALUE")
    if artifact_uri.startswith("runs:/"):
        run_id, _, path = artifact_uri[len("runs:/"):].strip("/").partition("/")
        return run_id, path or None
    if artifact_uri.startswith("models:/"):
        resolved = duckml.resolve_model_uri(artifact_uri)
        return resolved.run_id, resolved.artifact_path
    raise MlflowException(f"artifact URI {artifact_uri!r} is not one duckml stores: use runs:/<run_id>/<path> "
                          "(run.info.artifact_uri, mlflow.get_artifact_uri) or models:/<name>/<version>",
                          error_code="INVALID_PARAMETER_VALUE")


def _resolve(artifact_uri, run_id, artifact_path) -> tuple[str, str | None]:
    if artifact_uri is not None and (run_id is not None or artifact_path is not None):
        raise MlflowException("if artifact_uri is given, run_id and artifact_path must be None",
                              error_code="INVALID_PARAMETER_VALUE")
    if artifact_uri is not None:
        return _run_and_path(artifact_uri)
    if run_id is None:
        raise MlflowException("give artifact_uri, or run_id (with artifact_path)", error_code="INVALID_PARAMETER_VALUE")
    return run_id, artifact_path


@mlflow_errors
def download_artifacts(artifact_uri: str | None = None, run_id: str | None = None, artifact_path: str | None = None,
                       dst_path: str | None = None, tracking_uri: str | None = None,
                       registry_uri: str | None = None) -> str:
    """Copy an artifact file or folder to ``dst_path`` (default: a new temporary folder); the local path."""
    run, path = _resolve(artifact_uri, run_id, artifact_path)
    return duckml.download_artifacts(run, path, dst_path)


@mlflow_errors
def list_artifacts(artifact_uri: str | None = None, run_id: str | None = None, artifact_path: str | None = None,
                   tracking_uri: str | None = None) -> list[FileInfo]:
    run, path = _resolve(artifact_uri, run_id, artifact_path)
    return [FileInfo(f.path, f.is_dir, f.file_size) for f in duckml.list_artifacts(run, path)]


def _local_file(artifact_uri: str) -> str:
    run, path = _run_and_path(artifact_uri)
    return duckml.download_artifacts(run, path, tempfile.mkdtemp(prefix="duckml-mlflow-"))


@mlflow_errors
def load_text(artifact_uri: str) -> str:
    with open(_local_file(artifact_uri), encoding="utf-8") as f:
        return f.read()


@mlflow_errors
def load_dict(artifact_uri: str) -> dict:
    """A JSON artifact (or YAML, as ``log_dict`` writes it for a ``.yaml``/``.yml`` file) as a dict."""
    local = _local_file(artifact_uri)
    with open(local, encoding="utf-8") as f:
        if local.endswith((".yaml", ".yml")):
            import yaml

            return yaml.safe_load(f)
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise MlflowException(f"artifact {artifact_uri!r} is not JSON: {e}",
                                  error_code="INVALID_PARAMETER_VALUE") from None


@mlflow_errors
def load_image(artifact_uri: str):
    """An image artifact as a PIL image (loaded: the temporary copy may go)."""
    try:
        from PIL import Image
    except ImportError:
        raise MlflowException("load_image needs Pillow: pip install pillow", error_code="INVALID_STATE") from None

    with Image.open(_local_file(artifact_uri)) as image:
        image.load()
        return image.copy()
