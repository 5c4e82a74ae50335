"""Training time and peak memory as the table grows: `churn train` against Python XGBoost on the
same synthetic rows (10k, 100k, 1M, 10M by default).

For each size, `churn synth` writes the customers (IBM Telco schema); then
- churn: `churn train --data F --trials 0 --refit none --no-track` end to end (read and validate the CSV, split
  20 % off for the held-out report, find the rounds by early stopping, fit, explain, write the
  bundle) with the default parameter set, the shipped model fitted on the training rows as Python's
  (`--refit auto` would fit it once more on every row of a table up to 1M rows);
- Python, the same job with the same parameters: pandas `read_csv` (categorical columns as
  `category`), numbers coerced, one-hot, 20 % held out (stratified), the rounds early-stopped (50
  rounds of patience) on 20 % of the rest, refit on the training part, held-out ROC AUC (no
  explanations, report or bundle: those are churn's extra work).
Both with 2 threads, one after the other. Peak memory is each process's maximum resident set
(`wait4`), so it includes the interpreter and the libraries.

usage: python3 bench/growth.py [ROWS,...] [--max-rounds N] [--churn-only]   (after cargo build --release;
    CHURN_BIN: another churn binary)
    Python: $SEEDSTACK_VENV (default <tmp>/seedstack-venv, ../shared/anchors/seed-stack/setup_venv.sh)
    --max-rounds caps the boosting rounds of both stacks (a size the machine would take hours on);
    --churn-only leaves Python out (a size its job cannot hold in this machine's memory).
Writes bench/results/growth.json and prints a Markdown table.
"""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHURN = Path(os.environ.get("CHURN_BIN", ROOT / "target" / "release" / "churn"))
VENV = Path(os.environ.get("SEEDSTACK_VENV", Path(tempfile.gettempdir()) / "seedstack-venv"))

PYTHON_FIT = r"""
import json, sys, tomllib, numpy as np, pandas as pd, xgboost as xgb
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
schema = tomllib.loads(open(sys.argv[2]).read())
cats = [f["name"] for f in schema["field"] if f["kind"] == "categorical"]
nums = [f["name"] for f in schema["field"] if f["kind"] == "numeric"]
df = pd.read_csv(sys.argv[1], dtype={c: "category" for c in cats})
y = (df[schema["target"]["column"]] == schema["target"]["positive"]).astype(np.int8).values
X = pd.concat([df[nums].apply(pd.to_numeric, errors="coerce").astype(np.float32),
               pd.get_dummies(df[cats], dtype=np.float32)], axis=1)
del df
params = dict(json.load(open(sys.argv[3]))["xgboost_params"], nthread=2)
# churn train --trials 0: 20 % held out; the rounds early-stopped on 20 % of the rest; refit.
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
del X
Xa, Xb, ya, yb = train_test_split(Xtr, ytr, test_size=0.2, stratify=ytr, random_state=0)
bst = xgb.train(params, xgb.DMatrix(Xa, label=ya), int(sys.argv[4]), evals=[(xgb.DMatrix(Xb, label=yb), "v")],
                early_stopping_rounds=50, verbose_eval=False)
del Xa, Xb
final = xgb.train(params, xgb.DMatrix(Xtr, label=ytr), bst.best_iteration + 1)
print(json.dumps({"rounds": bst.best_iteration + 1,
                  "roc_auc": roc_auc_score(yte, final.predict(xgb.DMatrix(Xte)))}))
"""


def measured(cmd, cwd):
    """Wall seconds, peak RSS (MB) and stdout of one process (`wait4` reaps it with its usage)."""
    t = time.time()
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    outs = {}
    readers = [threading.Thread(target=lambda k=k, f=f: outs.__setitem__(k, f.read())) for k, f in
               (("out", p.stdout), ("err", p.stderr))]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.time() - t
    for r in readers:
        r.join()
    if status != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{outs['err'].decode(errors='replace')[-2000:]}")
    return round(wall, 1), round(usage.ru_maxrss / 1024), outs["out"].decode()


def main():
    args = sys.argv[1:]
    churn_only = "--churn-only" in args
    max_rounds = int(args[args.index("--max-rounds") + 1]) if "--max-rounds" in args else None
    positional = [a for i, a in enumerate(args) if not a.startswith("--") and (i == 0 or args[i - 1] != "--max-rounds")]
    sizes = [int(float(s)) for s in positional[0].split(",")] if positional else [10_000, 100_000, 1_000_000, 10_000_000]
    if not churn_only and not (VENV / "bin" / "python").exists():
        sys.exit(f"no reference venv at {VENV}: run ../shared/anchors/seed-stack/setup_venv.sh (or set SEEDSTACK_VENV)")
    schema = ROOT / "examples" / "schemas" / "telco.toml"
    out_path = ROOT / "bench" / "results" / "growth.json"
    results = json.loads(out_path.read_text()) if out_path.exists() else {}
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "customers.csv"
            subprocess.run([str(CHURN), "synth", "--rows", str(n), "--seed", "0", "--output", str(data)],
                           check=True, capture_output=True)
            bundle = Path(tmp) / "bundle"
            cap = ["--max-rounds", str(max_rounds)] if max_rounds else []
            churn = measured([str(CHURN), "train", "--data", str(data), "--output", str(bundle), "--trials", "0",
                              "--refit", "none", "--no-track", *cap], tmp)
            meta = bundle / "churn" / "metadata.json"
            m = json.loads(meta.read_text())
            auc = json.loads((bundle / "churn" / "evaluation.json").read_text())["held_out"]["metrics"]["roc_auc"]
            results[str(n)] = {
                "churn": {"wall_s": churn[0], "peak_mb": churn[1], "rounds": m["rounds"], "held_out_roc_auc": auc,
                          "seconds": m["seconds"], "max_rounds": max_rounds},
            }
            if not churn_only:
                python = measured([str(VENV / "bin" / "python"), "-c", PYTHON_FIT, str(data), str(schema), str(meta),
                                   str(max_rounds or 5000)], tmp)
                py = json.loads(python[2].strip().splitlines()[-1])
                results[str(n)]["python_xgboost"] = {"wall_s": python[0], "peak_mb": python[1], "rounds": py["rounds"],
                                                     "held_out_roc_auc": py["roc_auc"]}
        print(f"{n:>10} rows: {json.dumps(results[str(n)])}", file=sys.stderr, flush=True)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(results, indent=1) + "\n")
    print("| rows | `churn train --trials 0`: wall, peak memory (of it: the two fits) | Python, the same job | "
          "Python / churn: time, memory | held-out ROC AUC churn / Python |")
    print("|---|---|---|---|---|")
    for n, r in sorted(results.items(), key=lambda kv: int(kv[0])):
        c, p = r["churn"], r.get("python_xgboost")
        fits = c["seconds"].get("tuning", 0) + c["seconds"].get("fit", 0)
        capped = f"; rounds capped at {c['max_rounds']}" if c.get("max_rounds") else ""
        if p is None:
            print(f"| {int(n):,} | {c['wall_s']} s, {c['peak_mb']} MB ({fits:.1f} s{capped}) | cannot hold the table | - | "
                  f"{c['held_out_roc_auc']:.4f} / - |")
            continue
        print(f"| {int(n):,} | {c['wall_s']} s, {c['peak_mb']} MB ({fits:.1f} s{capped}) | {p['wall_s']} s, {p['peak_mb']} MB | "
              f"{p['wall_s'] / max(c['wall_s'], 0.1):.1f}x, {p['peak_mb'] / max(c['peak_mb'], 1):.1f}x | "
              f"{c['held_out_roc_auc']:.4f} / {p['held_out_roc_auc']:.4f} |")


if __name__ == "__main__":
    main()
