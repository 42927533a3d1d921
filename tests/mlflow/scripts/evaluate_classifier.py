# mlflow.evaluate on held-out data: MLflow's default classifier metrics and plots.
import os

import mlflow
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

mlflow.set_tracking_uri(os.environ["TRACKING_URI"])
X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
model = LogisticRegression(max_iter=5000).fit(X_train, y_train)
with mlflow.start_run() as run:
    info = mlflow.sklearn.log_model(model, name="model")
    data = X_test.assign(label=y_test)
    result = mlflow.evaluate(info.model_uri, data, targets="label", model_type="classifier")
print("metrics:", sorted(k for k in result.metrics if k in ("accuracy_score", "f1_score", "precision_score",
                                                              "recall_score", "roc_auc", "log_loss")))
print("accuracy in run:", round(mlflow.get_run(run.info.run_id).data.metrics["accuracy_score"], 6)
      == round(result.metrics["accuracy_score"], 6))
print("artifacts:", sorted(k for k in result.artifacts if k in ("confusion_matrix", "roc_curve_plot",
                                                                  "precision_recall_curve_plot")))
