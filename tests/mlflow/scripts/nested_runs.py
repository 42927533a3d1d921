# Nested runs: a parent with children, found again through the mlflow.parentRunId tag.
import os

import mlflow

mlflow.set_tracking_uri(os.environ["TRACKING_URI"])
mlflow.set_experiment("tuning")
with mlflow.start_run(run_name="search") as parent:
    mlflow.log_param("strategy", "grid")
    for depth in (2, 4, 8):
        with mlflow.start_run(run_name=f"depth-{depth}", nested=True) as child:
            mlflow.log_param("depth", depth)
            mlflow.log_metric("score", 1.0 / depth)
    mlflow.log_metric("best_score", 0.5)

children = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
                              order_by=["params.depth ASC"])
print("children:", children["tags.mlflow.runName"].tolist())
print("scores:", children["metrics.score"].tolist())
child_run = mlflow.get_run(children["run_id"][0])
print("child parent tag:", child_run.data.tags["mlflow.parentRunId"] == parent.info.run_id)
print("get_parent_run:", mlflow.get_parent_run(child_run.info.run_id).info.run_name)
print("parent has no parent:", mlflow.get_parent_run(parent.info.run_id))

with mlflow.start_run(parent_run_id=parent.info.run_id, run_name="late-child") as late:
    mlflow.log_metric("score", 0.1)
print("late child:", mlflow.get_run(late.info.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id)
print("all children:", len(mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")))
print("parent status:", mlflow.get_run(parent.info.run_id).info.status)
try:
    with mlflow.start_run(run_name="failing"):
        raise ValueError("boom")
except ValueError:
    pass
print("failed run:", mlflow.last_active_run().info.status)
