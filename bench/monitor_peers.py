"""churn monitor beside its peers on the same rows: each field's PSI beside Evidently's
(`ValueDrift(method="psi")`), and the realized metrics beside `mlflow.evaluate`'s.

    python3 bench/monitor_peers.py prepare            # synthetic customers, a model, churn monitor --json
    $EVIDENTLY_VENV/bin/python bench/monitor_peers.py evidently    # pip install evidently "pandas<2.3"
    .venv-test/bin/python bench/monitor_peers.py mlflow
    python3 bench/monitor_peers.py table              # the Markdown table (docs/monitoring.md)

The customers: 6,000 synthetic training customers, 4,000 fresh ones from the same generator, and
the same fresh ones with MonthlyCharges raised by 40. The reference of both tools is the training
part churn's profile was fitted on. Results land in bench/results/monitor_peers.json.
"""
import csv
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHURN = ROOT / "target" / "release" / "churn"
WORK = ROOT / "target" / "bench-monitor"
OUT = ROOT / "bench" / "results" / "monitor_peers.json"


def load():
    return json.loads(OUT.read_text()) if OUT.exists() else {}


def save(results):
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=1) + "\n")


def churn(*args):
    return subprocess.run([str(CHURN), *args], check=True, capture_output=True, text=True).stdout


def prepare():
    WORK.mkdir(parents=True, exist_ok=True)
    churn("synth", "--rows", "6000", "--seed", "31", "--output", str(WORK / "train.csv"))
    churn("synth", "--rows", "4000", "--seed", "32", "--output", str(WORK / "fresh.csv"))
    with open(WORK / "fresh.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["MonthlyCharges"] = f"{float(r['MonthlyCharges']) + 40:.2f}"
    with open(WORK / "raised.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    churn("train", "--data", str(WORK / "train.csv"), "--output", str(WORK / "model"), "--trials", "0", "--no-track")
    results = {}
    for name in ("fresh", "raised"):
        report = json.loads(churn("monitor", "--model", str(WORK / "model"), "--data", str(WORK / f"{name}.csv"),
                                  "--json", "--no-track"))
        churn("predict", "--model", str(WORK / "model"), "--input", str(WORK / f"{name}.csv"),
              "--output", str(WORK / f"{name}-scored.csv"))
        results[name] = {"churn": {"drift": report["drift"], "roc_auc": report["roc_auc"],
                                   "log_loss": report["log_loss"], "brier": report["brier"],
                                   "accuracy": report["accuracy"], "f1": report["f1"],
                                   "threshold": report["threshold"]}}
    save(results)


def training_part():
    """The rows the model was fitted on: the training file less its held-out part is not exported,
    so both tools take the whole training file as the reference (churn's profile uses 80% of it)."""
    import pandas as pd
    return pd.read_csv(WORK / "train.csv")


def evidently():
    import pandas as pd
    from evidently import Dataset, DataDefinition, Report
    from evidently.metrics import ValueDrift

    reference = training_part()
    fields = [c for c in reference.columns if c not in ("customerID", "Churn")]
    numeric = ["tenure", "MonthlyCharges", "TotalCharges"]
    definition = DataDefinition(numerical_columns=numeric,
                                categorical_columns=[c for c in fields if c not in numeric])
    results = load()
    for name in ("fresh", "raised"):
        current = pd.read_csv(WORK / f"{name}.csv")
        for frame in (reference, current):
            frame["TotalCharges"] = pd.to_numeric(frame["TotalCharges"], errors="coerce")
        report = Report([ValueDrift(column=c, method="psi") for c in fields])
        snapshot = report.run(Dataset.from_pandas(current, data_definition=definition),
                              Dataset.from_pandas(reference, data_definition=definition))
        psi = {}
        for m in snapshot.dict()["metrics"]:
            column = m["config"]["column"]
            psi[column] = float(m["value"])
        results[name]["evidently"] = {"drift": psi}
    save(results)


def mlflow_evaluate():
    import mlflow
    import pandas as pd

    results = load()
    for name in ("fresh", "raised"):
        scored = pd.read_csv(WORK / f"{name}-scored.csv")
        truth = pd.read_csv(WORK / f"{name}.csv")[["customerID", "Churn"]]
        df = scored.merge(truth, on="customerID")
        df["label"] = (df["Churn"] == "Yes").astype(int)
        df["prediction"] = (df["churn"] == "Yes").astype(int)
        with mlflow.start_run():
            r = mlflow.evaluate(data=df[["label", "prediction"]], targets="label", predictions="prediction",
                                model_type="classifier")
        m = r.metrics
        results[name]["mlflow_evaluate"] = {k: m.get(k) for k in ("accuracy_score", "f1_score", "precision_score",
                                                                   "recall_score", "roc_auc", "log_loss")}
        # The probabilities themselves, for the figures a label column cannot give.
        from sklearn.metrics import log_loss, roc_auc_score
        results[name]["sklearn_on_the_same_probabilities"] = {
            "roc_auc": roc_auc_score(df["label"], df["churn_probability"]),
            "log_loss": log_loss(df["label"], df["churn_probability"]),
        }
    save(results)


def table():
    r = load()
    print("| field | churn PSI fresh / raised | Evidently PSI fresh / raised |")
    print("|---|---|---|")
    fields = sorted(r["raised"]["churn"]["drift"], key=lambda f: -r["raised"]["churn"]["drift"][f])
    for f in fields:
        c = [r[n]["churn"]["drift"][f] for n in ("fresh", "raised")]
        e = [r[n].get("evidently", {}).get("drift", {}).get(f) for n in ("fresh", "raised")]
        e_text = " / ".join("-" if v is None else f"{v:.3f}" for v in e)
        print(f"| {f} | {c[0]:.3f} / {c[1]:.3f} | {e_text} |")
    print()
    for n in ("fresh", "raised"):
        print(n, json.dumps({k: v for k, v in r[n].items() if k != "evidently" and k != "churn"}),
              {k: r[n]["churn"][k] for k in ("roc_auc", "log_loss", "accuracy", "f1")})


if __name__ == "__main__":
    {"prepare": prepare, "evidently": evidently, "mlflow": mlflow_evaluate, "table": table}[sys.argv[1]]()
