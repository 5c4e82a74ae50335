"""How much of `churn evaluate`'s ROC AUC is the fold assignment? Python's XGBoost (the same
library) with churn's default parameter set, scored on churn's own folds and on scikit-learn's.

usage (from the repository root, after `cargo build --release`):
    $SEEDSTACK_VENV/bin/python bench/fold_noise.py [--seeds 3]
Needs the reference stack's venv (pandas, scikit-learn, xgboost 3.2.0) and ../shared/data/telco.

Protocol, for each outer fold: 5-fold CV on its training rows with early stopping (patience 50)
gives the mean best round count; one fit on all its training rows with that many rounds; ROC AUC
and log loss on its test rows. This is `churn evaluate --trials 1` re-done in Python, so that the
only thing that changes between rows of the output is which rows land in which fold.
Writes bench/results/fold_noise.json and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold

REPO = Path(__file__).resolve().parents[1]
SHARED = next((p / "shared" for p in REPO.parents if (p / "shared" / "data" / "telco").is_dir()), None)
CHURN = REPO / "target" / "release" / "churn"


def churn_default_params(data: Path) -> dict:
    """The parameters `churn train --trials 0` sends to XGBoost, read back from its bundle."""
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([str(CHURN), "train", "--data", str(data), "--output", out, "--trials", "0", "--no-track"],
                       check=True, capture_output=True)
        meta = json.loads((Path(out) / "churn" / "metadata.json").read_text())
    params = dict(meta["xgboost_params"])
    params.pop("base_score", None)
    params["nthread"] = 1
    return params


def load(data: Path) -> tuple[np.ndarray, np.ndarray]:
    df = pd.read_csv(data)
    df["TotalCharges"] = pd.to_numeric(df["TotalCharges"].str.strip().replace("", np.nan))
    y = (df.pop("Churn") == "Yes").astype(int).to_numpy()
    df = df.drop(columns=["customerID"])
    cats = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    return pd.get_dummies(df, columns=cats, dtype=float).to_numpy(), y


def churn_folds(data: Path, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The outer folds `churn evaluate --seed S` uses (written by `--folds-out` before it
    evaluates; the evaluation itself is cut to one round without a search)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "folds.csv"
        subprocess.run([str(CHURN), "evaluate", "--data", str(data), "--seed", str(seed), "--folds-out", str(out),
                        "--trials", "0", "--max-rounds", "1", "--json"], check=True, capture_output=True)
        ids = pd.read_csv(out)
    splits = []
    for col in ids.columns:
        fold = ids[col].to_numpy()
        splits += [(np.where(fold != k)[0], np.where(fold == k)[0]) for k in sorted(set(fold))]
    return splits


def score_fold(job):
    x, y, params, (train, test) = job
    xa, ya = x[train], y[train]
    p = {**params, "base_score": float(ya.mean())}
    rounds = []
    for a, b in StratifiedKFold(5, shuffle=True, random_state=1).split(xa, ya):
        bst = xgb.train(p, xgb.DMatrix(xa[a], ya[a]), 5000, evals=[(xgb.DMatrix(xa[b], ya[b]), "valid")],
                        early_stopping_rounds=50, verbose_eval=False)
        rounds.append(bst.best_iteration + 1)
    bst = xgb.train(p, xgb.DMatrix(xa, ya), int(round(np.mean(rounds))))
    prob = bst.predict(xgb.DMatrix(x[test]))
    return roc_auc_score(y[test], prob), log_loss(y[test], prob)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    if SHARED is None:
        sys.exit("fold_noise: ../shared/data/telco not found next to the repository")
    data = SHARED / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
    params = churn_default_params(data)
    x, y = load(data)
    rows = []
    with Pool(2) as pool:
        for seed in range(args.seeds):
            for source, splits in [
                ("churn", churn_folds(data, seed)),
                ("scikit-learn", list(RepeatedStratifiedKFold(n_splits=5, n_repeats=3, random_state=seed).split(x, y))),
            ]:
                scores = np.array(pool.map(score_fold, [(x, y, params, s) for s in splits]))
                rows.append({"folds": source, "seed": seed, "roc_auc": scores[:, 0].mean(), "log_loss": scores[:, 1].mean()})
                print(f"{source:>12} seed {seed}: roc_auc {rows[-1]['roc_auc']:.4f}  log_loss {rows[-1]['log_loss']:.4f}",
                      file=sys.stderr)
    (REPO / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (REPO / "bench" / "results" / "fold_noise.json").write_text(json.dumps({"params": params, "runs": rows}, indent=2))
    print("| folds | " + " | ".join(f"seed {s}" for s in range(args.seeds)) + " |")
    print("|---|" + "---|" * args.seeds)
    for source in ["churn", "scikit-learn"]:
        cells = [f"{r['roc_auc']:.4f}" for r in rows if r["folds"] == source]
        print(f"| {source} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
