"""churn's defaults on every development table, next to the Python library defaults.

For each table in ../shared/data that has a schema in examples/schemas/ (drafted by
`churn schema --infer`), runs `churn evaluate --folds 5 --repeats 3 --seed 0 --json` with every
other default and reads the four Python defaults (logistic regression, XGBoost, LightGBM,
CatBoost) from ../shared/anchors/other-tables/results.json (5x3 CV with scikit-learn's folds,
random_state=42: the same rows and protocol, not the same fold assignment). Writes
bench/results/tables.json and prints a Markdown table for the README.

usage: python3 bench/tables.py [TABLE,...]     (after cargo build --release)
"""
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
TABLES = {
    "telco": "telco/WA_Fn-UseC_-Telco-Customer-Churn.csv",
    "bankchurners": "bankchurners/BankChurners.csv",
    "av_bank_churn": "av_bank_churn/churn_prediction.csv",
    "cell2cell": "cell2cell/cell2celltrain.csv",
}
PYTHON = ["logreg", "xgb_default", "lgbm_default", "catboost_default"]


def evaluate(name, path):
    schema = ROOT / "examples" / "schemas" / f"{name}.toml"
    cmd = [str(ROOT / "target" / "release" / "churn"), "evaluate", "--data", str(path), "--schema", str(schema),
           "--folds", "5", "--repeats", "3", "--seed", "0", "--json"]
    t = time.time()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    return {"roc_auc": r["roc_auc"]["mean"], "log_loss": r["log_loss"]["mean"], "wall_s": round(time.time() - t, 1)}


def main():
    names = sys.argv[1].split(",") if len(sys.argv) > 1 else list(TABLES)
    anchors = json.loads((SHARED / "anchors" / "other-tables" / "results.json").read_text())
    results_path = ROOT / "bench" / "results" / "tables.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for name in names:
        print(f"evaluating {name} ...", file=sys.stderr, flush=True)
        results[name] = {"churn": evaluate(name, SHARED / "data" / TABLES[name]), "python": anchors.get(name, {})}
        results_path.parent.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(results, indent=1) + "\n")
    print("| table | churn ROC AUC | churn log loss | churn s | best Python ROC AUC | best Python log loss | Python defaults (AUC / log loss / s) |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        py = {k: v for k, v in r["python"].items() if k in PYTHON}
        c = r["churn"]
        if py:
            best_auc = max(py.items(), key=lambda kv: kv[1]["roc_auc"])
            best_ll = min(py.items(), key=lambda kv: kv[1]["log_loss"])
            cells = ", ".join(f"{k.split('_')[0]} {v['roc_auc']:.4f} / {v['log_loss']:.4f} / {v['wall_s']:.0f}" for k, v in py.items())
            print(f"| {name} | {c['roc_auc']:.4f} | {c['log_loss']:.4f} | {c['wall_s']:.0f} | "
                  f"{best_auc[1]['roc_auc']:.4f} ({best_auc[0].split('_')[0]}) | {best_ll[1]['log_loss']:.4f} ({best_ll[0].split('_')[0]}) | {cells} |")
        else:
            print(f"| {name} | {c['roc_auc']:.4f} | {c['log_loss']:.4f} | {c['wall_s']:.0f} | see the IBM table | | |")


if __name__ == "__main__":
    main()
