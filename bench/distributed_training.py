"""Distributed training side by side: churn's job (`churn tracker` and N `churn train` workers on
loopback, XGBoost's collective) against Python's xgboost.dask on a LocalCluster of N worker
processes (bench/dask_job.py), on the same shards, with the same parameters (depth-1 trees, eta
0.1, 32 bins, one thread a worker), each alone on the machine. Reports wall time, peak resident
memory of each worker, and ROC AUC on a common scoring file; and one churn process trained on
all the shards together.

churn's job is its whole `churn train`: read and validate each shard, 5 % held out, a fit
early-stopped on a fifth of the rest (it runs all ROUNDS here: --early-stopping ROUNDS), the
final fit of ROUNDS, held-out evaluation, bundle and report. The Python job trains once, on data
the client already holds in memory (the time to read and one-hot it is reported apart).

usage: python3 bench/distributed_training.py [--rows-per-shard N] [--workers N] [--rounds N]
    (after cargo build --release; PYTHON: a Python with xgboost 3.2.0, dask and distributed 2026.8.0,
    scikit-learn, psutil, default python3)
Writes bench/results/distributed.json.
"""
import argparse
import json
import os
import re
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHURN = str(ROOT / "target" / "release" / "churn")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_mb(time_v_stderr):
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_v_stderr)
    return round(int(m.group(1)) / 1024) if m else None


def train_flags(rounds):
    return ["--trials", "0", "--no-track", "--threads", "1", "--test-fraction", "0.05",
            "--param", "max_depth=1", "--param", "eta=0.1", "--param", "max_bin=32", "--param", "subsample=1",
            "--param", "lambda=1", "--param", "alpha=0", "--param", "gamma=0",
            "--max-rounds", str(rounds), "--early-stopping", str(rounds)]


def roc_auc(model, data):
    out = subprocess.run([CHURN, "monitor", "--model", model, "--data", data, "--json", "--no-track"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["roc_auc"]


def churn_job(d, workers, rounds):
    port = free_port()
    t = time.time()
    tracker = subprocess.Popen([CHURN, "tracker", "--workers", str(workers), "--port", str(port)],
                               stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    procs = []
    for k in range(workers):
        env = dict(os.environ, DMLC_TRACKER_URI="127.0.0.1", DMLC_TRACKER_PORT=str(port), DMLC_TASK_ID=str(k),
                   DMLC_NUM_WORKER=str(workers))
        cmd = ["/usr/bin/time", "-v", CHURN, "train", "--data", f"{d}/shard{k}.csv", "--output", f"{d}/job{k}",
               *train_flags(rounds)]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    errs = [p.communicate()[1] for p in procs]
    _, tracker_err = tracker.communicate()
    wall = time.time() - t
    assert tracker.returncode == 0 and all(p.returncode == 0 for p in procs), tracker_err + "\n".join(errs)
    return {"wall_s": round(wall, 1), "worker_peak_mb": sorted(peak_mb(e) for e in errs),
            "roc_auc": roc_auc(f"{d}/job0", f"{d}/score.csv")}


def churn_single(d, workers, rounds):
    whole = f"{d}/all.csv"
    with open(whole, "w") as out:
        for k in range(workers):
            with open(f"{d}/shard{k}.csv") as f:
                if k:
                    f.readline()
                out.write(f.read())
    t = time.time()
    r = subprocess.run(["/usr/bin/time", "-v", CHURN, "train", "--data", whole, "--output", f"{d}/single",
                        *train_flags(rounds)], capture_output=True, text=True, check=True)
    return {"wall_s": round(time.time() - t, 1), "peak_mb": peak_mb(r.stderr),
            "roc_auc": roc_auc(f"{d}/single", f"{d}/score.csv")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows-per-shard", type=int, default=200_000)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=400)
    a = ap.parse_args()
    python = os.environ.get("PYTHON", "python3")
    with tempfile.TemporaryDirectory() as d:
        for k in range(a.workers):
            subprocess.run([CHURN, "synth", "--rows", str(a.rows_per_shard), "--seed", str(21 + k), "--output",
                            f"{d}/shard{k}.csv"], check=True, capture_output=True)
        subprocess.run([CHURN, "synth", "--rows", "50000", "--seed", "99", "--output", f"{d}/score.csv"],
                       check=True, capture_output=True)
        job = churn_job(d, a.workers, a.rounds)
        single = churn_single(d, a.workers, a.rounds)
        t = time.time()
        py = subprocess.run([python, str(ROOT / "bench" / "dask_job.py"), d, str(a.workers), str(a.rounds)],
                            capture_output=True, text=True, check=True)
        python_wall = time.time() - t
        dask = json.loads(py.stdout.strip().splitlines()[-1])
    result = {"rows_per_shard": a.rows_per_shard, "workers": a.workers, "rounds": a.rounds,
              "churn_job": job, "churn_one_process": single, "python": dask, "python_wall_s": round(python_wall, 1)}
    out = ROOT / "bench" / "results" / "distributed.json"
    runs = json.loads(out.read_text()) if out.exists() else []
    runs = [r for r in runs if (r["rows_per_shard"], r["workers"], r["rounds"]) != (a.rows_per_shard, a.workers, a.rounds)]
    out.write_text(json.dumps(runs + [result], indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
