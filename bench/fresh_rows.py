"""The 80/20 bar on generated plan tables, scored on rows nobody saw: churn's default `train` on a
training file against the Python defaults and nested-tuned XGBoost, all scored on fresh rows from
the same generator.

A single 80/20 split of a 3,333-row table scores 667 rows, and its ROC AUC moves by about 0.01 with
the split alone. The generator (`bench/plan_table.py`) draws its rows in order after the table's
own effects, so the first TRAIN rows of a longer draw are a training file and the rest are fresh
customers of the same table: the test figures then carry little noise, and what is left is the
training sample, averaged over seeds (each seed a table of its own).

Python models (the reference stack's venv, ../shared/anchors/seed-stack/setup_venv.sh), read
through the schema churn drafted, as bench/python_defaults.py does:
  catboost_default, lgbm_default, xgb_default, logreg: library defaults;
  xgb_nested: the reference stack's tuning (../shared/anchors/seed-stack/quality.py): 30 random
  configurations, each scored by its mean inner 3-fold ROC AUC on the training rows, the best
  refit on all of them.

usage: python3 bench/fresh_rows.py [--seeds 1,2,3] [--train 2666] [--test 20000] [--sharpness 1]
           [--python MODEL,...|none] [--churn-args "..."] [--label NAME|none]
    (after cargo build --release). Writes each table's figures into bench/results/fresh_rows.json
    (a table's entry keeps the models not rerun; a model rerun replaces its figures; churn's
    under --label, default "churn"; `churn_before` there is the binary of the commit before the
    paired one-standard-error rule) and prints a Markdown table of every model on every table.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHURN = str(ROOT / "target" / "release" / "churn")
VENV = Path(os.environ.get("SEEDSTACK_VENV", Path(tempfile.gettempdir()) / "seedstack-venv"))
PYTHON = ["catboost_default", "xgb_nested", "lgbm_default", "xgb_default", "logreg"]

NESTED = r'''
import json, sys, warnings
import numpy as np, pandas as pd
from joblib import Parallel, delayed
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
sys.path.insert(0, sys.argv[1])
from python_defaults import load, model
warnings.filterwarnings("ignore")
train, test, schema, kinds = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5].split(",")

def configs(n, seed=0):
    # ../shared/anchors/seed-stack/quality.py sample_configs, as written there.
    rs = np.random.RandomState(seed)
    out = []
    for _ in range(n):
        out.append(dict(
            n_estimators=int(rs.choice([100, 200, 300, 500, 800])),
            learning_rate=float(np.exp(rs.uniform(np.log(0.01), np.log(0.3)))),
            max_depth=int(rs.randint(2, 9)),
            min_child_weight=float(rs.choice([1, 2, 5, 10])),
            subsample=float(rs.uniform(0.5, 1.0)),
            colsample_bytree=float(rs.uniform(0.4, 1.0)),
            reg_lambda=float(np.exp(rs.uniform(np.log(0.1), np.log(10.0)))),
            gamma=float(rs.choice([0.0, 0.0, 0.5, 1.0, 2.0])),
            tree_method="hist", eval_metric="logloss"))
    return out

def xgb(cfg):
    from xgboost import XGBClassifier
    return XGBClassifier(n_jobs=1, random_state=42, **cfg)

def inner(cfg, X, y):
    aucs = []
    for a, b in StratifiedKFold(3, shuffle=True, random_state=42).split(X, y):
        m = xgb(cfg).fit(X.iloc[a], y[a])
        aucs.append(roc_auc_score(y[b], m.predict_proba(X.iloc[b])[:, 1]))
    return float(np.mean(aucs))

Xtr, ytr, cats = load(train, schema)
Xte, yte, _ = load(test, schema)
both = pd.get_dummies(pd.concat([Xtr, Xte]), columns=cats, dtype=float)
Otr, Ote = both.iloc[:len(ytr)], both.iloc[len(ytr):]
out = {}
for kind in kinds:
    if kind == "xgb_nested":
        cfgs = configs(30)
        scores = Parallel(n_jobs=2)(delayed(inner)(c, Otr, ytr) for c in cfgs)
        best = cfgs[int(np.argmax(scores))]
        m = xgb(best).fit(Otr, ytr)
        p = m.predict_proba(Ote)[:, 1]
        extra = {"config": best}
    else:
        native = kind.startswith("catboost")
        m = model(kind, cats)
        m.fit(Xtr if native else Otr, ytr)
        p = m.predict_proba(Xte if native else Ote)[:, 1]
        extra = {}
    p = np.clip(p, 1e-7, 1 - 1e-7)
    out[kind] = {"roc_auc": float(roc_auc_score(yte, p)), "log_loss": float(log_loss(yte, p)), **extra}
    print(f"  {kind:17s} AUC {out[kind]['roc_auc']:.4f}  log loss {out[kind]['log_loss']:.4f}", file=sys.stderr, flush=True)
print(json.dumps(out))
'''


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd[:2])} failed ({p.returncode}):\n{p.stderr}")
    return p.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="1,2,3", help="generator seeds, one table each")
    ap.add_argument("--train", type=int, default=2666, help="training rows")
    ap.add_argument("--test", type=int, default=20000, help="fresh rows scored")
    ap.add_argument("--sharpness", type=float, default=1.0, help="bench/plan_table.py's SHARPNESS")
    ap.add_argument("--python", default=",".join(PYTHON), help="Python models, or none")
    ap.add_argument("--churn-args", default="", help="extra `churn train` arguments")
    ap.add_argument("--label", default="churn", help="the result's name for churn's model, or none to skip churn")
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    n_train, n_test, sharp = a.train, a.test, f"{a.sharpness:g}"
    python = [] if a.python == "none" else a.python.split(",")
    churn_args, label = shlex.split(a.churn_args), a.label
    out_path = ROOT / "bench" / "results" / "fresh_rows.json"
    results = json.loads(out_path.read_text()) if out_path.exists() else {}
    for seed in seeds:
        key = f"plan seed {seed}, {n_train} rows" + (f", sharpness {sharp}" if sharp != "1" else "")
        key += f", {n_test} fresh" if n_test != 20000 else ""
        key += f", churn {a.churn_args}" if a.churn_args else ""
        row = results.setdefault(key, {})
        with tempfile.TemporaryDirectory() as d:
            lines = run([sys.executable, str(ROOT / "bench" / "plan_table.py"), str(n_train + n_test), str(seed), sharp])
            lines = lines.splitlines(keepends=True)
            train, test, schema = f"{d}/train.csv", f"{d}/test.csv", f"{d}/schema.toml"
            Path(train).write_text("".join(lines[: 1 + n_train]))
            Path(test).write_text(lines[0] + "".join(lines[1 + n_train:]))
            Path(schema).write_text(run([CHURN, "schema", "--infer", train, "--target", "Churn"]))
            if label != "none":
                run([CHURN, "train", "--data", train, "--schema", schema, "--output", f"{d}/model", "--no-track",
                     "--seed", "0", *churn_args])
                m = json.loads(run([CHURN, "monitor", "--model", f"{d}/model", "--data", test, "--json", "--no-track"]))
                row[label] = {"roc_auc": m["roc_auc"], "log_loss": m["log_loss"]}
                print(key, label, row[label], file=sys.stderr, flush=True)
            if python:
                py = run([str(VENV / "bin" / "python"), "-c", NESTED, str(ROOT / "bench"), train, test, schema,
                          ",".join(python)])
                row.update(json.loads(py))
        out_path.write_text(json.dumps(results, indent=1) + "\n")
    labels = sorted({k for r in results.values() for k in r})
    keys = list(results)
    print("| model | " + " | ".join(keys) + " | mean |")
    print("|---|" + "---|" * (len(keys) + 1))
    for label in labels:
        cells = [results[k].get(label) for k in keys]
        have = [c for c in cells if c]
        mean = (sum(c["roc_auc"] for c in have) / len(have), sum(c["log_loss"] for c in have) / len(have))
        text = [f"{c['roc_auc']:.4f} / {c['log_loss']:.4f}" if c else "" for c in cells]
        print(f"| {label} | " + " | ".join(text) + f" | {mean[0]:.4f} / {mean[1]:.4f} ({len(have)}) |")


if __name__ == "__main__":
    main()
