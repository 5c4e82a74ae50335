"""The Python side of bench/distributed_training.py: one training job on a LocalCluster of xgboost.dask
workers (the job ../shared/anchors/distributed/dask_anchor.py runs), on the same shards, with the
same parameters, and the same job in one process beside it. Prints one JSON object: wall time,
peak resident memory of each worker (ru_maxrss, read on each worker after the job), held-out
ROC AUC on the scoring file.

usage: dask_job.py DIR WORKERS ROUNDS   (DIR holds shard0.csv .. and score.csv)
"""
import json
import resource
import sys
import time

import numpy as np
import pandas as pd
import xgboost as xgb
import xgboost.dask
from sklearn.metrics import roc_auc_score


def load(path):
    df = pd.read_csv(path, keep_default_na=False)
    y = (df.pop("Churn") == "Yes").astype(int)
    df = df.drop(columns=["customerID"])
    df["TotalCharges"] = pd.to_numeric(df["TotalCharges"].str.strip().replace("", np.nan))
    return df, y


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    d, workers, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    params = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 1, "eta": 0.1, "max_bin": 32, "nthread": 1}
    t0 = time.time()
    parts = [load(f"{d}/shard{k}.csv") for k in range(workers)]
    xs, ys = pd.concat([p[0] for p in parts]), pd.concat([p[1] for p in parts])
    cats = [c for c in xs.columns if not pd.api.types.is_numeric_dtype(xs[c])]
    x_all = pd.get_dummies(xs, columns=cats, dtype=np.float32)
    cols = x_all.columns
    xt, yt = load(f"{d}/score.csv")
    xt = pd.get_dummies(xt, columns=cats, dtype=np.float32).reindex(columns=cols, fill_value=0)
    prep_s = time.time() - t0

    t = time.time()
    single = xgb.train(params, xgb.QuantileDMatrix(x_all, ys, max_bin=32), rounds)
    single_s = time.time() - t
    single_auc = roc_auc_score(yt, single.predict(xgb.DMatrix(xt)))

    from dask.distributed import Client, LocalCluster
    import dask.dataframe as dd

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True) as cluster, Client(cluster) as client:
        ddf = dd.from_pandas(x_all, npartitions=workers)
        dy = dd.from_pandas(ys, npartitions=workers)
        ddf, dy = client.persist([ddf, dy])
        t = time.time()
        dm = xgb.dask.DaskQuantileDMatrix(client, ddf, dy, max_bin=32)
        out = xgb.dask.train(client, params, dm, num_boost_round=rounds)
        dask_s = time.time() - t
        peaks = client.run(peak_mb)
    dask_auc = roc_auc_score(yt, out["booster"].predict(xgb.DMatrix(xt)))
    print(json.dumps({
        "xgboost": xgb.__version__,
        "rows": int(len(ys)),
        "prepare_s": round(prep_s, 2),
        "one_process": {"train_s": round(single_s, 2), "roc_auc": single_auc, "peak_mb": round(peak_mb())},
        "dask": {"train_s": round(dask_s, 2), "roc_auc": dask_auc, "worker_peak_mb": sorted(round(v) for v in peaks.values())},
    }))


if __name__ == "__main__":
    main()
