"""churn's defaults on every development table, next to the Python library defaults, on the same folds.

For each table in ../shared/data that has a schema in examples/schemas/ (drafted by
`churn schema --infer`), runs `churn evaluate --folds 5 --repeats 3 --seed 0 --json` with every
other default, exporting its fold assignment (`--folds-out`), then the four Python defaults
(logistic regression, XGBoost, LightGBM, CatBoost: bench/python_defaults.py, with the reference
stack's venv) on exactly those folds, rows and columns. One after the other, so each has both
cores. Writes bench/results/tables.json and prints a Markdown table for the README.

usage: python3 bench/tables.py [TABLE,...] [--python MODEL,...|none] [--churn none]
    (`--python none` reruns churn only and keeps the Python figures already in the results;
    `--churn none` reruns the Python defaults only and keeps churn's: the folds still come from
    `churn evaluate --trials 0 --max-rounds 1 --folds-out`, since the fold assignment does not depend on the trials)
    (after cargo build --release; the venv: $SEEDSTACK_VENV, default <tmp>/seedstack-venv, made by
    ../shared/anchors/seed-stack/setup_venv.sh)
"""
import json
import os
import subprocess
import sys
import tempfile
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
VENV = Path(os.environ.get("SEEDSTACK_VENV", Path(tempfile.gettempdir()) / "seedstack-venv"))


def evaluate(name, path, folds_csv, extra=()):
    schema = ROOT / "examples" / "schemas" / f"{name}.toml"
    cmd = [str(ROOT / "target" / "release" / "churn"), "evaluate", "--data", str(path), "--schema", str(schema),
           "--folds", "5", "--repeats", "3", "--seed", "0", "--json", "--folds-out", str(folds_csv), *extra]
    t = time.time()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    return {"roc_auc": r["roc_auc"]["mean"], "log_loss": r["log_loss"]["mean"], "wall_s": round(time.time() - t, 1)}


def python_defaults(name, path, folds_csv, models):
    schema = ROOT / "examples" / "schemas" / f"{name}.toml"
    cmd = [str(VENV / "bin" / "python"), str(ROOT / "bench" / "python_defaults.py"), str(path), str(schema),
           str(folds_csv), ",".join(models)]
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out)


def main():
    args = sys.argv[1:]
    models = PYTHON
    if "--python" in args:
        i = args.index("--python")
        models = [m for m in args[i + 1].split(",") if m != "none"]
        del args[i:i + 2]
    rerun_churn = True
    if "--churn" in args:
        i = args.index("--churn")
        if args[i + 1] != "none":
            sys.exit("--churn takes only `none`")
        rerun_churn = False
        del args[i:i + 2]
    names = args[0].split(",") if args else list(TABLES)
    if not (VENV / "bin" / "python").exists():
        sys.exit(f"no reference venv at {VENV}: run ../shared/anchors/seed-stack/setup_venv.sh (or set SEEDSTACK_VENV)")
    results_path = ROOT / "bench" / "results" / "tables.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            folds_csv = Path(tmp) / f"{name}-folds.csv"
            if rerun_churn:
                print(f"{name}: churn evaluate ...", file=sys.stderr, flush=True)
                churn = evaluate(name, SHARED / "data" / TABLES[name], folds_csv)
                print(f"  churn             AUC {churn['roc_auc']:.4f}  log loss {churn['log_loss']:.4f}  ({churn['wall_s']:.0f} s)",
                      file=sys.stderr, flush=True)
            else:
                if "churn" not in results.get(name, {}):
                    sys.exit(f"--churn none: no churn figures for {name} in {results_path} yet; run without it first")
                # Only the fold assignment is wanted: the cheapest evaluate that writes it.
                evaluate(name, SHARED / "data" / TABLES[name], folds_csv, ["--trials", "0", "--max-rounds", "1"])
                churn = results[name]["churn"]
            py = {}
            if models:
                print(f"{name}: Python defaults on the same folds ...", file=sys.stderr, flush=True)
                py = python_defaults(name, SHARED / "data" / TABLES[name], folds_csv, models)
            old = results.get(name, {}).get("python", {})
            results[name] = {"churn": churn, "python": {**old, **py}}
            results_path.parent.mkdir(parents=True, exist_ok=True)
            results_path.write_text(json.dumps(results, indent=1) + "\n")
    print("| table | churn ROC AUC / log loss / s | best Python ROC AUC | best Python log loss | each Python default (AUC / log loss / s) |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        py = {k: v for k, v in r["python"].items() if k in PYTHON}
        c = r["churn"]
        best_auc = max(py.items(), key=lambda kv: kv[1]["roc_auc"])
        best_ll = min(py.items(), key=lambda kv: kv[1]["log_loss"])
        cells = ", ".join(f"{k.split('_')[0]} {v['roc_auc']:.4f} / {v['log_loss']:.4f} / {v['wall_s']:.0f}" for k, v in py.items())
        print(f"| {name} ({r['python'].get('rows', '?')} rows) | {c['roc_auc']:.4f} / {c['log_loss']:.4f} / {c['wall_s']:.0f} | "
              f"{best_auc[1]['roc_auc']:.4f} ({best_auc[0].split('_')[0]}) | {best_ll[1]['log_loss']:.4f} ({best_ll[0].split('_')[0]}) | {cells} |")


if __name__ == "__main__":
    main()
