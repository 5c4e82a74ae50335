"""The 80/20 bar on generated plan tables, scored on rows nobody saw: churn's default `train` on a
training file against the Python defaults and nested-tuned XGBoost, all scored on fresh rows from
the same generator.

A single 80/20 split of a 3,333-row table scores 667 rows, and its ROC AUC moves by about 0.01 with
the split alone. The generator (`bench/plan_table.py`) draws its rows in order after the table's
own effects, so the first TRAIN rows of a longer draw are a training file and the rest are fresh
customers of the same table: the test figures then carry little noise, and what is left is the
training sample, averaged over seeds (each seed a table of its own).

Python models (bench/python_fresh.py, with the reference stack's venv), read through the schema
churn drafted, as bench/python_defaults.py does:
  catboost_default, lgbm_default, xgb_default, logreg: library defaults;
  xgb_nested: the reference stack's own tuning (../shared/anchors/seed-stack/quality.py): 30
  random configurations, each scored by its mean inner 3-fold ROC AUC on the training rows, the
  best refit on all of them.

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
                py = run([str(VENV / "bin" / "python"), str(ROOT / "bench" / "python_fresh.py"), train, test, schema,
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
