"""Loads a model that churn logged, with MLflow's own Python client, and checks it.

usage: check_model.py TRACKING_URI RUN_ID FEATURES_CSV MODEL_URI [MODEL_URI ...]
TRACKING_URI "" leaves MLflow to its own default (no call, no environment variable).
FEATURES_CSV is `churn predict --with-features` output: churn's probability and the model's
input columns for the same rows. Prints one JSON line; exits 1 when a check fails.
"""
import json
import sys

import mlflow
import mlflow.pyfunc
import mlflow.xgboost
import numpy as np
import pandas as pd
import xgboost as xgb

tracking, run_id, features_csv, *uris = sys.argv[1:]
if tracking:
    mlflow.set_tracking_uri(tracking)
scored = pd.read_csv(features_csv)
meta = {"customerID", "churn_probability", "churn", "risk_decile", "risk_band"}
cols = [c for c in scored.columns if c not in meta and not c.startswith("reason_")]
X = scored[cols].astype("float64")
ours = scored["churn_probability"].to_numpy()
result = {"rows": len(X), "checks": {}}
ok = True


def check(name, cond, detail=None):
    global ok
    result["checks"][name] = {"ok": bool(cond), "detail": detail}
    ok = ok and bool(cond)


for uri in uris:
    pf = mlflow.pyfunc.load_model(uri)
    p = np.asarray(pf.predict(X), dtype="float64")
    d = float(np.max(np.abs(p - ours)))
    check(f"pyfunc {uri}", d <= 1e-6, d)
    booster = mlflow.xgboost.load_model(uri)
    p2 = booster.predict(xgb.DMatrix(X))
    d2 = float(np.max(np.abs(p2 - ours)))
    check(f"xgboost {uri}", isinstance(booster, xgb.Booster) and d2 <= 1e-6, d2)

runs = mlflow.search_runs(search_all_experiments=True, filter_string=f"attributes.run_id = '{run_id}'")
check("search_runs finds the run", len(runs) == 1, len(runs))
if len(runs) == 1:
    r = runs.iloc[0]
    check("status FINISHED", r["status"] == "FINISHED", r["status"])
    for col in ["params.eta", "params.max_depth", "params.objective", "params.num_boost_round",
                "metrics.test_roc_auc", "metrics.cv_log_loss", "metrics.threshold",
                "tags.mlflow.user", "tags.mlflow.source.name", "tags.data.sha256", "tags.data.rows"]:
        check(f"column {col}", col in runs.columns and pd.notna(r.get(col)), str(r.get(col)))
    hist = mlflow.MlflowClient().get_metric_history(run_id, "train_log_loss")
    check("train_log_loss history has one step per round", len(hist) == int(r["params.num_boost_round"]), len(hist))
print(json.dumps(result))
sys.exit(0 if ok else 1)
