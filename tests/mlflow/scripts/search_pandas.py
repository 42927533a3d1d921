# Searching runs into pandas: filters, order, the active experiment by default, all experiments, lists.
import os

import mlflow
import pandas as pd

mlflow.set_tracking_uri(os.environ["TRACKING_URI"])
mlflow.set_experiment("other")
with mlflow.start_run(run_name="elsewhere"):
    mlflow.log_metric("rmse", 9.0)

mlflow.set_experiment("sweep")
for i, (model, lr) in enumerate([("rf", 0.1), ("rf", 0.3), ("gbm", 0.1), ("gbm", 0.3)]):
    with mlflow.start_run(run_name=f"run-{i}"):
        mlflow.log_params({"model": model, "lr": lr})
        mlflow.log_metric("rmse", 1.0 - 0.1 * i)
        if model == "gbm":
            mlflow.log_metric("auc", 0.8 + 0.01 * i)
            mlflow.set_tag("stage", "candidate")

runs = mlflow.search_runs()
print("type:", type(runs).__name__, "shape rows:", len(runs))
info_columns = ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]
print("first columns:", list(runs.columns[:6]) == info_columns)
print("has columns:", all(c in runs.columns for c in ["metrics.rmse", "metrics.auc", "params.model", "params.lr",
                                                        "tags.stage", "tags.mlflow.runName", "tags.mlflow.user"]))
print("dtypes:", runs["metrics.rmse"].dtype, runs["start_time"].dtype, pd.api.types.is_string_dtype(runs["params.lr"]))
print("auc missing for rf:", int(runs["metrics.auc"].isna().sum()))
print("status:", sorted(set(runs["status"])))

best = mlflow.search_runs(filter_string="params.model = 'gbm' and metrics.rmse < 0.9",
                          order_by=["metrics.rmse ASC"])
print("best:", best["tags.mlflow.runName"].tolist(), best["metrics.rmse"].round(6).tolist())
print("lr values:", sorted(best["params.lr"].tolist()))
top = mlflow.search_runs(experiment_names=["sweep"], order_by=["metrics.auc DESC"], max_results=1)
print("top auc:", top["tags.mlflow.runName"].tolist())
everything = mlflow.search_runs(search_all_experiments=True)
print("all experiments:", len(everything))
listed = mlflow.search_runs(filter_string="tags.stage = 'candidate'", output_format="list",
                            order_by=["attributes.run_name"])
print("as list:", [r.info.run_name for r in listed], type(listed[0]).__name__)
empty = mlflow.search_runs(filter_string="metrics.rmse > 100")
print("empty:", len(empty), list(empty.columns) == info_columns)
exps = mlflow.search_experiments(filter_string="name = 'sweep'")
print("experiments:", [e.name for e in exps])
