# Artifacts: text, dicts, files, folders and figures; listing, downloading and reading them back by URI.
import json
import os
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mlflow
from mlflow import MlflowClient

mlflow.set_tracking_uri(os.environ["TRACKING_URI"])
work = tempfile.mkdtemp()
with open(os.path.join(work, "notes.md"), "w") as f:
    f.write("# notes\n")
os.makedirs(os.path.join(work, "reports"))
for name in ("a.csv", "b.csv"):
    with open(os.path.join(work, "reports", name), "w") as f:
        f.write("x,y\n1,2\n")

with mlflow.start_run() as run:
    mlflow.log_text("hello duck", "texts/greeting.txt")
    mlflow.log_dict({"layers": [64, 32], "dropout": 0.1}, "config.json")
    mlflow.log_artifact(os.path.join(work, "notes.md"))
    mlflow.log_artifacts(os.path.join(work, "reports"), artifact_path="reports")
    figure, axis = plt.subplots()
    axis.plot([0, 1], [1, 0])
    mlflow.log_figure(figure, "plots/line.png")
    greeting_uri = mlflow.get_artifact_uri("texts/greeting.txt")
    config_uri = mlflow.get_artifact_uri("config.json")

client = MlflowClient()
print("root:", [(f.path, f.is_dir) for f in client.list_artifacts(run.info.run_id)])
print("reports:", [(f.path, f.file_size) for f in client.list_artifacts(run.info.run_id, "reports")])
print("text:", mlflow.artifacts.load_text(greeting_uri))
print("dict:", mlflow.artifacts.load_dict(config_uri))
print("uri under the run:", greeting_uri.startswith(run.info.artifact_uri))

target = tempfile.mkdtemp()
local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="reports", dst_path=target)
print("downloaded:", sorted(os.listdir(local)))
local = mlflow.artifacts.download_artifacts(artifact_uri=f"{run.info.artifact_uri}/config.json", dst_path=target)
with open(local) as f:
    print("config file:", json.load(f)["layers"])
local = client.download_artifacts(run.info.run_id, "notes.md", target)
print("notes:", open(local).read().strip())
image = mlflow.artifacts.load_image(f"{run.info.artifact_uri}/plots/line.png")
print("image:", image.format or "PNG", image.size[0] > 0)
