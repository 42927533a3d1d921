"""Prints, as JSON, what the real ``mlflow`` reads back from a tracking store (run in a subprocess by the slow tests).

usage: python dump_mlflow_store.py TRACKING_URI FILTERS_JSON
"""

import hashlib
import json
import math
import os
import sys
import tempfile
import warnings
from pathlib import Path


def main():
    warnings.simplefilter("ignore")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

    import mlflow

    uri, filters = sys.argv[1], json.loads(sys.argv[2])
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()

    def value(v):
        return repr(float(v)) if not math.isnan(v) else "nan"

    def files(folder: Path) -> dict:
        return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(folder.rglob("*")) if p.is_file()}

    out = {"experiments": {}, "experiment_ids": {}, "experiment_stages": {}, "deleted_runs": {}, "runs": {}, "filters": {}, "models": {}, "logged_models": {}}
    experiments = client.search_experiments(view_type=3)  # ViewType.ALL: deleted ones too
    for exp in experiments:
        out["experiments"][exp.name] = dict(exp.tags)
        out["experiment_ids"][exp.name] = exp.experiment_id
        out["experiment_stages"][exp.name] = exp.lifecycle_stage
        if exp.lifecycle_stage == "deleted":
            for run in client.search_runs([exp.experiment_id], run_view_type=3):
                out["deleted_runs"][run.info.run_id] = {"params": run.data.params,
                                                        "stage": run.info.lifecycle_stage}
    names = {e.experiment_id: e.name for e in experiments}
    tmp = Path(tempfile.mkdtemp())
    for run in mlflow.search_runs(search_all_experiments=True, output_format="list"):
        info, data = run.info, run.data
        histories = {key: sorted([m.step, m.timestamp, value(m.value)] for m in client.get_metric_history(info.run_id, key))
                     for key in data.metrics}
        target = tmp / info.run_id
        target.mkdir()
        if client.list_artifacts(info.run_id):
            mlflow.artifacts.download_artifacts(run_id=info.run_id, dst_path=str(target))
        out["runs"][info.run_id] = {
            "experiment": names[info.experiment_id], "name": info.run_name, "status": info.status,
            "start_time": info.start_time, "end_time": info.end_time, "params": data.params, "tags": data.tags,
            "metrics": histories, "latest": {k: value(v) for k, v in data.metrics.items()},
            "artifacts": files(target), "inputs": sorted(i.dataset.name for i in run.inputs.dataset_inputs),
            "input_details": sorted([i.dataset.name, i.dataset.profile, {t.key: t.value for t in i.tags}]
                                    for i in run.inputs.dataset_inputs)}
    for model in mlflow.search_logged_models(experiment_ids=list(names), output_format="list"):
        target = tmp / model.model_id
        if model.source_run_id:
            mlflow.artifacts.download_artifacts(artifact_uri=model.artifact_location, dst_path=str(target))
        target.mkdir(exist_ok=True)
        if (target / "artifacts").is_dir():  # download_artifacts keeps the URI's last folder name
            target = target / "artifacts"
        out["logged_models"][model.model_id] = {
            "run_id": model.source_run_id, "name": model.name, "files": files(target), "params": model.params,
            "tags": {k: v for k, v in model.tags.items()}, "status": str(model.status),
            "metrics": sorted([m.key, m.value, m.run_id] for m in model.metrics or [])}
    for experiment, filter_string, order_by in filters:
        found = mlflow.search_runs(experiment_names=[experiment], filter_string=filter_string,
                                   order_by=[order_by] if order_by else None)
        out["filters"][f"{experiment}|{filter_string}|{order_by}"] = found["run_id"].tolist()
    for model in client.search_registered_models():
        versions = client.search_model_versions(f"name = '{model.name}'")
        out["models"][model.name] = {
            "description": model.description, "tags": model.tags, "aliases": model.aliases,
            "last_updated": model.last_updated_timestamp,
            "latest": {stage: [v.version for v in client.get_latest_versions(model.name, stages=[stage])]
                       for stage in ("None", "Staging", "Production", "Archived")},
            "versions": {str(v.version): {"run_id": v.run_id, "tags": v.tags, "source": v.source,
                                          "stage": v.current_stage, "created": v.creation_timestamp,
                                          "updated": v.last_updated_timestamp} for v in versions}}
    print("@@DUMP@@" + json.dumps(out))


if __name__ == "__main__":
    main()
