"""Trains an XGBoost model in Python and logs it the way Python users do, for churn to serve.

usage: log_python_model.py TRACKING_URI FEATURES_CSV OUT_PREDICTIONS_CSV REGISTERED_NAME
FEATURES_CSV holds numeric feature columns and a `label` column. Logs with
mlflow.xgboost.log_model (UBJ, MLflow 3 logged model), registers it with alias `champion`,
writes Python's probabilities for every row, and prints {"run_id", "model_id"} as JSON.
"""
import json
import sys

import mlflow
import mlflow.xgboost
import pandas as pd
import xgboost as xgb
from mlflow.models import infer_signature

tracking, features_csv, out_csv, name = sys.argv[1:]
mlflow.set_tracking_uri(tracking)
mlflow.set_experiment("python-models")
df = pd.read_csv(features_csv)
y = df.pop("label").to_numpy()
X = df.astype("float64")
params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.1, "seed": 0, "nthread": 1}
booster = xgb.train(params, xgb.DMatrix(X, label=y), 40)
p = booster.predict(xgb.DMatrix(X))
with mlflow.start_run() as run:
    mlflow.log_params(params)
    info = mlflow.xgboost.log_model(booster, name="model", input_example=X.iloc[:2],
                                    signature=infer_signature(X.iloc[:5], p[:5]),
                                    registered_model_name=name)
client = mlflow.MlflowClient()
version = max(int(v.version) for v in client.search_model_versions(f"name='{name}'"))
client.set_registered_model_alias(name, "champion", str(version))
pd.DataFrame({"python_probability": p}).to_csv(out_csv, index=False)
print(json.dumps({"run_id": run.info.run_id, "model_id": info.model_id, "version": str(version)}))
