"""Should the shipped model learn from every row? For each development table and seed, a random
fifth of the rows is put aside as the future (rows neither model sees); `churn train` runs on the
other four fifths twice with every default, once shipping the model fitted on its training rows
(`--refit none`: 80 % of the four fifths) and once refit on all four fifths after the held-out
evaluation (`--refit all`); both score the future rows (`churn monitor`). Same seed, same
search, same held-out rows: the two models differ only in the rows they learnt from.

usage: python3 bench/refit.py [TABLE,...] [--seeds N]     (after cargo build --release)
Writes bench/results/refit.json and prints a Markdown table.
"""
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CHURN = str(ROOT / "target" / "release" / "churn")
TABLES = {
    "telco": "telco/WA_Fn-UseC_-Telco-Customer-Churn.csv",
    "bankchurners": "bankchurners/BankChurners.csv",
    "av_bank_churn": "av_bank_churn/churn_prediction.csv",
    "cell2cell": "cell2cell/cell2celltrain.csv",
}


def split(path, seed, train, future):
    lines = Path(path).read_text(encoding="utf-8-sig").splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    random.Random(seed).shuffle(rows)
    cut = len(rows) // 5
    Path(future).write_text(header + "".join(rows[:cut]))
    Path(train).write_text(header + "".join(rows[cut:]))


def main():
    args = sys.argv[1:]
    seeds = int(args[args.index("--seeds") + 1]) if "--seeds" in args else 3
    names = [a for i, a in enumerate(args) if not a.startswith("--") and (i == 0 or args[i - 1] != "--seeds")]
    tables = names[0].split(",") if names else list(TABLES)
    out_path = ROOT / "bench" / "results" / "refit.json"
    results = json.loads(out_path.read_text()) if out_path.exists() else {}
    for name in tables:
        schema = ROOT / "examples" / "schemas" / f"{name}.toml"
        runs = []
        for seed in range(seeds):
            with tempfile.TemporaryDirectory() as d:
                train, future = f"{d}/train.csv", f"{d}/future.csv"
                split(SHARED / TABLES[name], seed, train, future)
                row = {"seed": seed}
                for refit in ["none", "all"]:
                    model = f"{d}/{refit}"
                    subprocess.run([CHURN, "train", "--data", train, "--schema", str(schema), "--output", model,
                                    "--no-track", "--seed", str(seed), "--refit", refit],
                                   check=True, capture_output=True)
                    m = json.loads(subprocess.run([CHURN, "monitor", "--model", model, "--data", future, "--json",
                                                   "--no-track"], check=True, capture_output=True, text=True).stdout)
                    row[refit] = {"roc_auc": m["roc_auc"], "log_loss": m["log_loss"]}
                runs.append(row)
                print(name, json.dumps(row), file=sys.stderr, flush=True)
        mean = lambda k, m: sum(r[k][m] for r in runs) / len(runs)
        results[name] = {"runs": runs, "mean": {k: {m: mean(k, m) for m in ["roc_auc", "log_loss"]} for k in ["none", "all"]}}
        out_path.write_text(json.dumps(results, indent=1) + "\n")
    print("| table | shipped on the training rows: ROC AUC / log loss | refit on every row | difference |")
    print("|---|---|---|---|")
    for name, r in results.items():
        a, b = r["mean"]["none"], r["mean"]["all"]
        print(f"| {name} ({len(r['runs'])} seeds) | {a['roc_auc']:.4f} / {a['log_loss']:.4f} | {b['roc_auc']:.4f} / "
              f"{b['log_loss']:.4f} | {b['roc_auc'] - a['roc_auc']:+.4f} / {b['log_loss'] - a['log_loss']:+.4f} |")


if __name__ == "__main__":
    main()
