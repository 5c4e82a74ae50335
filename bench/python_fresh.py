"""The Python side of bench/fresh_rows.py: each model fitted on a training file and scored on a
test file, both read through a churn schema as bench/python_defaults.py reads them.

MODEL: the library defaults of bench/python_defaults.py, or xgb_nested: the reference stack's
tuned XGBoost (../shared/anchors/seed-stack/quality.py, imported from there): its 30 random
configurations, each scored by its mean inner 3-fold ROC AUC on the training rows, the best
refit on all of them.

Runs with the reference stack's Python (../shared/anchors/seed-stack/setup_venv.sh):
    python bench/python_fresh.py TRAIN TEST SCHEMA MODEL,...   -> one JSON object on stdout
"""
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.metrics import log_loss, roc_auc_score

from python_defaults import load, model

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared" / "anchors" / "seed-stack"))
import quality  # noqa: E402  (the reference stack's own tuning, not a copy)

warnings.filterwarnings("ignore")


def nested(X, y):
    """The reference stack's choice among its configurations, refit on every training row."""
    cfgs = quality.sample_configs(30)
    every = np.arange(len(y))
    scores = dict(Parallel(n_jobs=2)(delayed(quality.task_inner_score)(i, c, X, y, every) for i, c in enumerate(cfgs)))
    best = cfgs[max(scores, key=scores.get)]
    return quality.make_model("xgb_cfg", best).fit(X, y), best


def main():
    train, test, schema, kinds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
    Xtr, ytr, cats = load(train, schema)
    Xte, yte, _ = load(test, schema)
    both = pd.get_dummies(pd.concat([Xtr, Xte]), columns=cats, dtype=float)
    Otr, Ote = both.iloc[: len(ytr)], both.iloc[len(ytr):]
    out = {}
    for kind in kinds:
        extra = {}
        if kind == "xgb_nested":
            m, extra["config"] = nested(Otr, ytr)
            p = m.predict_proba(Ote)[:, 1]
        else:
            native = kind.startswith("catboost")
            m = model(kind, cats).fit(Xtr if native else Otr, ytr)
            p = m.predict_proba(Xte if native else Ote)[:, 1]
        p = np.clip(p, 1e-7, 1 - 1e-7)
        out[kind] = {"roc_auc": float(roc_auc_score(yte, p)), "log_loss": float(log_loss(yte, p)), **extra}
        print(f"  {kind:17s} AUC {out[kind]['roc_auc']:.4f}  log loss {out[kind]['log_loss']:.4f}",
              file=sys.stderr, flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
