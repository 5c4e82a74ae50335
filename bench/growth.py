"""Training time and peak memory as the table grows: `churn train` against Python XGBoost on the
same synthetic rows (10k, 100k, 1M, 10M by default).

For each size, `churn synth` writes the customers (IBM Telco schema); then
- churn: `churn train --data F --trials 0 --no-track` end to end (read and validate the CSV, split
  20 % off for the held-out report, find the rounds by early stopping, fit, explain, write the
  bundle) with the default parameter set;
- Python: pandas `read_csv`, one-hot of the categorical columns, `xgboost.train` on *all* rows
  with the same parameters and the rounds churn chose (the model alone: no split, no report, no
  bundle; more rows than churn fits, fewer steps than churn takes).
Both with 2 threads, one after the other. Peak memory is each process's maximum resident set
(`wait4`), so it includes the interpreter and the libraries.

usage: python3 bench/growth.py [ROWS,...]          (after cargo build --release)
    Python: $SEEDSTACK_VENV (default <tmp>/seedstack-venv, ../shared/anchors/seed-stack/setup_venv.sh)
Writes bench/results/growth.json and prints a Markdown table.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHURN = ROOT / "target" / "release" / "churn"
VENV = Path(os.environ.get("SEEDSTACK_VENV", Path(tempfile.gettempdir()) / "seedstack-venv"))

PYTHON_FIT = r"""
import json, sys, numpy as np, pandas as pd, xgboost as xgb
sys.path.insert(0, sys.argv[4])
from python_defaults import load
raw, y, cats = load(sys.argv[1], sys.argv[2])
X = pd.get_dummies(raw, columns=cats, dtype=np.float32)
meta = json.load(open(sys.argv[3]))
params = {k: v for k, v in meta["xgboost_params"].items() if k not in ("seed",)}
params.update(nthread=2, seed=0)
xgb.train(params, xgb.DMatrix(X, label=y), num_boost_round=meta["rounds"])
"""


def measured(cmd, cwd):
    """Wall seconds and peak RSS (MB) of one process."""
    t = time.time()
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.time() - t
    err = p.stderr.read().decode(errors="replace")
    if status != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{err[-2000:]}")
    return round(wall, 1), round(usage.ru_maxrss / 1024)


def main():
    sizes = [int(float(s)) for s in sys.argv[1].split(",")] if len(sys.argv) > 1 else [10_000, 100_000, 1_000_000, 10_000_000]
    if not (VENV / "bin" / "python").exists():
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
            churn = measured([str(CHURN), "train", "--data", str(data), "--output", str(bundle), "--trials", "0",
                              "--no-track"], tmp)
            meta = bundle / "churn" / "metadata.json"
            rounds = json.loads(meta.read_text())["rounds"]
            python = measured([str(VENV / "bin" / "python"), "-c", PYTHON_FIT, str(data), str(schema), str(meta),
                               str(ROOT / "bench")], tmp)
        results[str(n)] = {"rounds": rounds, "churn": {"wall_s": churn[0], "peak_mb": churn[1]},
                           "python_xgboost": {"wall_s": python[0], "peak_mb": python[1]}}
        print(f"{n:>10} rows: churn {churn[0]} s {churn[1]} MB, Python XGBoost {python[0]} s {python[1]} MB "
              f"({rounds} rounds)", file=sys.stderr, flush=True)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(results, indent=1) + "\n")
    print("| rows | `churn train --trials 0` (whole job) | Python: read + one-hot + `xgboost.train` | time ratio | memory ratio |")
    print("|---|---|---|---|---|")
    for n, r in sorted(results.items(), key=lambda kv: int(kv[0])):
        c, p = r["churn"], r["python_xgboost"]
        print(f"| {int(n):,} | {c['wall_s']} s, {c['peak_mb']} MB | {p['wall_s']} s, {p['peak_mb']} MB | "
              f"{p['wall_s'] / max(c['wall_s'], 0.1):.1f}x | {p['peak_mb'] / max(c['peak_mb'], 1):.1f}x |")


if __name__ == "__main__":
    main()
