"""The four Python library defaults (logistic regression, XGBoost, LightGBM, CatBoost) scored on
churn's own folds: the rows, columns and fold assignment `churn evaluate --folds-out` used.

Columns come from the churn schema (its fields; ignored columns and the id are left out), so both
stacks see the same inputs: numeric fields as numbers, categorical fields one-hot (CatBoost: native
categoricals), dates as days (before the field's `reference`, else since 1970-01-01), the
schema's missing tokens and blanks as missing. Models as in ../shared/anchors/other-tables/anchors.py
(library defaults, random_state 42, one thread per fit, two fits at a time).

Runs with the reference stack's Python (../shared/anchors/seed-stack/setup_venv.sh):
    python bench/python_defaults.py DATA SCHEMA FOLDS_CSV [MODEL,...]   -> one JSON object on stdout
MODEL: logreg, xgb_default, lgbm_default, catboost_default (all four by default), or
catboost_depthwise (CatBoost's defaults with level-wise trees, XGBoost's shape).
"""
import json
import sys
import time
import tomllib
import warnings

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

warnings.filterwarnings("ignore")
MODELS = ["logreg", "xgb_default", "lgbm_default", "catboost_default"]
# Not a library default, asked for by name: CatBoost's defaults with XGBoost's tree shape (grown
# level by level, each node its own split) instead of its symmetric trees, to measure how much of
# CatBoost's lead is the tree shape, which XGBoost cannot grow.
EXTRA = ["catboost_depthwise"]


def load(data, schema_path):
    schema = tomllib.loads(open(schema_path).read())
    raw = pd.read_csv(data, dtype=str, keep_default_na=False)
    tokens = set(schema.get("missing", [])) | {""}
    target = schema["target"]
    y = (raw[target["column"]].str.strip() == target["positive"]).astype(int).values
    cols, cats = {}, []
    for f in schema["field"]:
        text = raw[f.get("column", f["name"])].str.strip()
        text = text.where(~text.isin(tokens))
        if f["kind"] == "numeric":
            cols[f["name"]] = pd.to_numeric(text.str.strip('"'), errors="coerce")
        elif f["kind"] == "date":
            d = pd.to_datetime(text, errors="coerce")
            ref = pd.Timestamp(f["reference"]) if "reference" in f else pd.Timestamp("1970-01-01")
            cols[f["name"]] = ((ref - d).dt.days if "reference" in f else (d - ref).dt.days).astype(float)
        else:
            cols[f["name"]] = text.fillna("missing").astype(str)
            cats.append(f["name"])
    return pd.DataFrame(cols), y, cats


def model(kind, cats):
    if kind == "logreg":
        return make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=5000))
    if kind == "xgb_default":
        from xgboost import XGBClassifier
        return XGBClassifier(random_state=42, n_jobs=1)
    if kind == "lgbm_default":
        from lightgbm import LGBMClassifier
        return LGBMClassifier(random_state=42, n_jobs=1, verbose=-1)
    from catboost import CatBoostClassifier
    shape = {"grow_policy": "Depthwise"} if kind == "catboost_depthwise" else {}
    return CatBoostClassifier(random_seed=42, thread_count=1, verbose=0, cat_features=cats or None,
                              allow_writing_files=False, **shape)


def fold(kind, X, y, tr, te, cats):
    m = model(kind, cats)
    m.fit(X.iloc[tr], y[tr])
    p = np.clip(m.predict_proba(X.iloc[te])[:, 1], 1e-7, 1 - 1e-7)
    return roc_auc_score(y[te], p), log_loss(y[te], p)


def main():
    data, schema, folds_csv = sys.argv[1:4]
    kinds = sys.argv[4].split(",") if len(sys.argv) > 4 else MODELS
    unknown = [k for k in kinds if k not in MODELS + EXTRA]
    if unknown:
        sys.exit(f"unknown model {unknown[0]!r}: one of {', '.join(MODELS + EXTRA)}")
    raw, y, cats = load(data, schema)
    ids = pd.read_csv(folds_csv)
    if len(ids) != len(y):
        sys.exit(f"{folds_csv} has {len(ids)} rows, {data} {len(y)}: not the same rows")
    splits = []
    for col in ids.columns:
        f = ids[col].values
        for k in sorted(set(f)):
            splits.append((np.flatnonzero(f != k), np.flatnonzero(f == k)))
    onehot = pd.get_dummies(raw, columns=cats, dtype=float)
    out = {"rows": len(y), "folds": len(splits)}
    for kind in kinds:
        t = time.time()
        X = raw if kind.startswith("catboost") else onehot
        r = Parallel(n_jobs=2)(delayed(fold)(kind, X, y, a, b, cats) for a, b in splits)
        auc, ll = np.array([a for a, _ in r]), np.array([b for _, b in r])
        out[kind] = {"roc_auc": float(auc.mean()), "roc_auc_std": float(auc.std(ddof=1)),
                     "log_loss": float(ll.mean()), "wall_s": round(time.time() - t, 1)}
        print(f"  {kind:17s} AUC {auc.mean():.4f}  log loss {ll.mean():.4f}  ({time.time() - t:.0f} s)",
              file=sys.stderr, flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
