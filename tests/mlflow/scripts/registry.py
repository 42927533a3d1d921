# A registry workflow with MlflowClient: a model, versions from runs, aliases, tags, descriptions, searches.
import os

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LogisticRegression

mlflow.set_tracking_uri(os.environ["TRACKING_URI"])
client = MlflowClient()
mlflow.set_experiment("churn")
X = [[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]]
y = [0, 1, 0, 1]

client.create_registered_model("churn", tags={"team": "growth"}, description="predicts churn")
run_ids, model_uris = [], []
for c in (0.1, 1.0):
    with mlflow.start_run() as run:
        mlflow.log_param("C", c)
        info = mlflow.sklearn.log_model(LogisticRegression(C=c).fit(X, y), name="model")
        run_ids.append(run.info.run_id)
        model_uris.append(info.model_uri)
for run_id, model_uri in zip(run_ids, model_uris):
    version = client.create_model_version("churn", model_uri, run_id)
    print("created version:", version.version, version.current_stage, version.status, version.run_id == run_id)

client.set_registered_model_alias("churn", "champion", 2)
client.set_model_version_tag("churn", "2", "validated", "yes")
client.update_model_version("churn", 2, description="second try")
client.update_registered_model("churn", description="predicts churn within 30 days")
champion = client.get_model_version_by_alias("churn", "champion")
print("champion:", champion.version, champion.aliases, champion.tags, champion.description)

model = client.get_registered_model("churn")
print("model:", model.name, model.description, model.tags, model.aliases)
print("latest:", [v.version for v in model.latest_versions])
print("get_latest_versions:", [(v.version, v.current_stage) for v in client.get_latest_versions("churn")])
found = client.search_model_versions("name = 'churn'")
print("search versions:", [v.version for v in found], type(found).__name__, found.token)
print("by run:", [v.version for v in mlflow.search_model_versions(filter_string=f"run_id = '{run_ids[0]}'")])
print("by tag:", [v.version for v in client.search_model_versions("tags.validated = 'yes'")])
print("models:", [m.name for m in mlflow.search_registered_models(filter_string="name LIKE 'ch%'")])

loaded = mlflow.sklearn.load_model("models:/churn@champion")
print("champion C:", loaded.C)
mlflow.register_model(model_uris[0], "churn")
print("versions now:", sorted(v.version for v in client.search_model_versions("name='churn'")))

client.delete_registered_model_alias("churn", "champion")
try:
    client.get_model_version_by_alias("churn", "champion")
except MlflowException as error:
    print("missing alias:", error.error_code)
try:
    client.get_registered_model("no-such-model")
except MlflowException as error:
    print("missing model:", error.error_code)
client.delete_model_version("churn", 1)
print("after delete:", sorted(v.version for v in client.search_model_versions("name='churn'")))
