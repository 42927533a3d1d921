# MLflow's quickstart: train, log params/metrics and the model with a signature, register, load, predict.
import os

import mlflow
from mlflow.models import infer_signature
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error

mlflow.set_tracking_uri(os.environ["TRACKING_URI"])
experiment = mlflow.set_experiment("quickstart")
print("experiment:", experiment.name, experiment.lifecycle_stage)

X, y = make_regression(n_samples=120, n_features=4, noise=0.1, random_state=0)
params = {"alpha": 0.5, "solver": "auto"}
model = Ridge(**params).fit(X, y)
rmse = mean_squared_error(y, model.predict(X)) ** 0.5

with mlflow.start_run(run_name="ridge-baseline") as run:
    mlflow.log_params(params)
    mlflow.log_metric("rmse", rmse)
    mlflow.set_tag("team", "forecast")
    signature = infer_signature(X, model.predict(X))
    info = mlflow.sklearn.log_model(model, name="model", signature=signature, input_example=X[:3],
                                    registered_model_name="quickstart-ridge")
    print("active:", mlflow.active_run().info.run_id == run.info.run_id, run.info.status)

print("registered version:", info.registered_model_version)
stored = mlflow.get_run(run.info.run_id)
print("status:", stored.info.status, "run_name:", stored.info.run_name, stored.data.tags["mlflow.runName"])
print("params:", sorted(stored.data.params.items()))
print("rmse matches:", abs(stored.data.metrics["rmse"] - rmse) < 1e-12)
print("tags:", stored.data.tags["team"], stored.data.tags["mlflow.source.type"],
      stored.data.tags["mlflow.user"] == stored.info.user_id)
print("times:", isinstance(stored.info.start_time, int), stored.info.end_time >= stored.info.start_time)

loaded = mlflow.pyfunc.load_model(info.model_uri)
print("predictions equal:", (loaded.predict(X[:5]) == model.predict(X[:5])).all())
by_version = mlflow.pyfunc.load_model("models:/quickstart-ridge/1")
print("registry model equal:", (by_version.predict(X[:5]) == model.predict(X[:5])).all())
print("last active:", mlflow.last_active_run().info.run_id == run.info.run_id, mlflow.active_run())
