# Autolog with a hyperparameter search: a parent run for the search, a child per candidate.
import os

import mlflow
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

mlflow.set_tracking_uri(os.environ["TRACKING_URI"])
mlflow.set_experiment("autolog")
mlflow.sklearn.autolog()
X, y = load_iris(return_X_y=True)
search = GridSearchCV(LogisticRegression(max_iter=500), {"C": [0.1, 1.0, 10.0]}, cv=3)
with mlflow.start_run(run_name="grid") as parent:
    search.fit(X, y)

stored = mlflow.get_run(parent.info.run_id)
print("parent params:", {k: stored.data.params[k] for k in ("cv", "best_C", "estimator")})
print("parent metrics:", sorted(k for k in stored.data.metrics if k.startswith(("training_", "best_"))))
print("estimator tags:", stored.data.tags["estimator_name"], stored.data.tags["estimator_class"])
children = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
                              order_by=["params.C ASC"])
print("children:", len(children), children["params.C"].tolist())
print("child metrics:", sorted(c for c in children.columns if c.startswith("metrics.")))
best = mlflow.sklearn.load_model(f"runs:/{parent.info.run_id}/best_estimator")
print("best estimator:", type(best).__name__, best.C)
mlflow.sklearn.autolog(disable=True)
