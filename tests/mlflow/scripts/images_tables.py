# log_image (files and step series) and log_table/load_table.
import os

import mlflow
import numpy as np

mlflow.set_tracking_uri(os.environ["TRACKING_URI"])
with mlflow.start_run() as run:
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    mlflow.log_image(image, "images/black.png")
    for step in range(3):
        mlflow.log_image(np.full((4, 4, 3), step * 80, dtype=np.uint8), key="samples", step=step)
    mlflow.log_table({"question": ["a", "b"], "score": [1, 2]}, artifact_file="eval.json")
    mlflow.log_table({"question": ["c"], "score": [3]}, artifact_file="eval.json")
loaded = mlflow.artifacts.load_image(f"{run.info.artifact_uri}/images/black.png")
print("image size:", loaded.size)
table = mlflow.load_table("eval.json", run_ids=[run.info.run_id])
print("table:", table["question"].tolist(), table["score"].tolist())
