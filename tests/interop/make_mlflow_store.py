"""Builds an MLflow tracking store with the real ``mlflow`` (run in a subprocess by the slow tests).

usage: python make_mlflow_store.py TRACKING_URI WORKDIR
Two experiments (one with tags), metric histories with NaN/inf and repeated steps, a nested run, params,
tags, artifacts (a file and a folder), a dataset input, two sklearn models (pickle and skops formats) and
a registry with versions, aliases and tags.
"""

import math
import os
import sys
import warnings
from pathlib import Path


def main():
    warnings.simplefilter("ignore")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

    import mlflow
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    uri, workdir = sys.argv[1], Path(sys.argv[2])
    workdir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()

    mlflow.set_experiment("churn")
    mlflow.set_experiment_tag("team", "growth")
    x = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]] * 5)
    y = np.array([1, 0, 1, 0] * 5)
    frame = pd.DataFrame(x, columns=["a", "b"])
    frame["label"] = y
    for i, c in enumerate([0.1, 1.0, 10.0]):
        with mlflow.start_run(run_name=f"lr-{i}") as run:
            mlflow.log_params({"C": c, "solver": "lbfgs", "model": "lr"})
            mlflow.set_tags({"stage": "dev", "with space": "yes"})
            for step in range(5):
                mlflow.log_metric("loss", 1.0 / (step + 1 + i), step=step, timestamp=1_700_000_000_000 + step)
            mlflow.log_metric("loss", 0.01, step=2, timestamp=1_700_000_000_999)  # a second point at one step
            mlflow.log_metric("odd", float("nan"), step=0)
            mlflow.log_metric("odd", float("inf"), step=1)
            mlflow.log_metric("odd", -math.inf, step=2)
            mlflow.log_metric("rmse", 0.5 - 0.1 * i)
            (workdir / f"notes-{i}.txt").write_text(f"run {i}\n")
            mlflow.log_artifact(str(workdir / f"notes-{i}.txt"), artifact_path="docs")
            folder = workdir / f"plots-{i}"
            folder.mkdir(exist_ok=True)
            (folder / "a.csv").write_text("x,y\n1,2\n")
            (folder / "b.json").write_text('{"i": %d}' % i)
            mlflow.log_artifacts(str(folder), artifact_path="plots")
            mlflow.log_input(mlflow.data.from_pandas(frame, name="train-frame", targets="label"), context="training",
                             tags={"split": f"fold-{i}"})
            model = LogisticRegression(C=c).fit(x, y)
            fmt = "skops" if i == 2 else "cloudpickle"
            info = mlflow.sklearn.log_model(model, name="model", serialization_format=fmt, input_example=x[:2],
                                            registered_model_name="churn-model" if i < 2 else "churn-skops")
            mlflow.log_model_params({"alpha": str(c)}, model_id=info.model_id)
            client.set_logged_model_tags(info.model_id, {"team": "growth"})
            mlflow.log_metric("acc", 0.9 - 0.1 * i, model_id=info.model_id)
            if i == 0:
                with mlflow.start_run(run_name="child", nested=True):
                    mlflow.log_param("fold", 1)
                    mlflow.log_metric("loss", 0.3)

    mlflow.set_experiment("forecast")
    with mlflow.start_run(run_name="arima") as run:
        mlflow.log_param("order", "(1, 1, 1)")
        mlflow.log_metric("mape", 12.5, step=0)
        mlflow.log_metric("mape", 11.0, step=1)
        mlflow.log_text("hello", "report/summary.txt")
    with mlflow.start_run(run_name="failed-run") as run:
        mlflow.log_param("order", "(2, 0, 0)")
        mlflow.end_run(status="FAILED")

    client.set_registered_model_alias("churn-model", "champion", 2)
    client.set_registered_model_alias("churn-model", "challenger", 1)
    client.set_registered_model_tag("churn-model", "owner", "growth")
    client.set_model_version_tag("churn-model", 1, "validated", "yes")
    client.update_registered_model("churn-model", description="predicts churn")

    # what the fidelity checks need besides: stages, a deleted experiment with a run, a model with no run
    client.transition_model_version_stage("churn-model", 1, "Staging")
    client.transition_model_version_stage("churn-model", 2, "Production")
    old = mlflow.create_experiment("old-churn")
    with mlflow.start_run(experiment_id=old, run_name="gone"):
        mlflow.log_param("C", 5)
    client.delete_experiment(old)
    mlflow.set_experiment("forecast")
    mlflow.initialize_logged_model(name="standalone", params={"kind": "prompt"}, tags={"team": "ml"})
    print("ok")


if __name__ == "__main__":
    main()
