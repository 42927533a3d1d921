# MlflowClient's low-level calls: experiments, runs by id, log_batch, histories, termination, deletion.
import os
import time

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

import mlflow

mlflow.set_tracking_uri(os.environ["TRACKING_URI"])
client = MlflowClient()
experiment_id = client.create_experiment("low-level", tags={"owner": "ml-platform"})
experiment = client.get_experiment(experiment_id)
print("experiment:", experiment.name, experiment.tags, experiment.lifecycle_stage)
try:
    client.create_experiment("low-level")
except MlflowException as error:
    print("duplicate experiment:", error.error_code)
client.set_experiment_tag(experiment_id, "purpose", "demo")
print("tags now:", sorted(client.get_experiment_by_name("low-level").tags.items()))

run = client.create_run(experiment_id, run_name="batch", tags={"source": "client"})
print("created:", run.info.status, run.info.run_name, run.data.tags["source"], mlflow.active_run())
now = int(time.time() * 1000)
client.log_batch(run.info.run_id,
                 metrics=[Metric("loss", 1.0 / (s + 1), now + s, s) for s in range(5)],
                 params=[Param("optimizer", "adam"), Param("lr", "0.001")],
                 tags=[RunTag("phase", "pretrain")])
client.log_metric(run.info.run_id, "loss", 0.1, timestamp=now + 10, step=5)
client.log_param(run.info.run_id, "epochs", 6)
client.set_tag(run.info.run_id, "phase", "finetune")
history = client.get_metric_history(run.info.run_id, "loss")
print("history:", [(m.step, round(m.value, 4)) for m in history], type(history[0]).__name__)
print("history times:", [m.timestamp - now for m in history])
client.set_terminated(run.info.run_id, "KILLED")
stored = client.get_run(run.info.run_id)
print("stored:", stored.info.status, sorted(stored.data.params.items()), stored.data.tags["phase"])
print("latest loss:", stored.data.metrics["loss"])

client.delete_run(run.info.run_id)
active = client.search_runs([experiment_id])
deleted = client.search_runs([experiment_id], run_view_type=ViewType.DELETED_ONLY)
print("after delete:", len(active), len(deleted), deleted[0].info.lifecycle_stage)
client.restore_run(run.info.run_id)
print("restored:", len(client.search_runs([experiment_id], filter_string="params.optimizer = 'adam'")))
try:
    client.get_run("0" * 32)
except MlflowException as error:
    print("missing run:", error.error_code)
try:
    client.log_param(run.info.run_id, "lr", "0.5")
except MlflowException as error:
    print("param change:", error.error_code)
client.delete_experiment(experiment_id)
print("experiment deleted:", client.get_experiment(experiment_id).lifecycle_stage)
