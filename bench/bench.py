"""Side-by-side benchmark: churn against the Python reference stack (../shared/anchors/seed-stack),
in one run, on the same machine, with the same data and request bodies.

usage (from the repository root, after `cargo build --release --examples`):
    python3 bench/bench.py [--quick]
Runs with the reference stack's own Python (its venv: $SEEDSTACK_VENV, default
<tmp>/seedstack-venv, made by ../shared/anchors/seed-stack/setup_venv.sh). Needs wrk.
Writes bench/results/latest.json and prints a Markdown table (README's performance section).

Measured, each for churn and for the reference:
  train      end-to-end training on the IBM file (train.py vs churn train --trials 0), and the
             XGBoost fit alone with the reference's parameters on the reference's own matrix
  serve      start to healthy, requests/s and p99 at c=16 and c=64 (wrk, 127.0.0.1, same body),
             resident memory under load; churn also without reasons and GET /
  batch      1,000,000 rows from CSV to scored CSV; 10,000,000 rows' peak memory
  synth      rows/s to CSV;  tracking: the file store's cost in churn train
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = next((p / "shared" for p in REPO.parents if (p / "shared" / "anchors" / "seed-stack").is_dir()), None)
CHURN = REPO / "target" / "release" / "churn"
XGB_FIT = REPO / "target" / "release" / "examples" / "xgb_fit"
TMP = Path(tempfile.gettempdir()) / "churn-bench"
SAMPLE = None  # set in main


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def timed(cmd, **kw) -> tuple[float, int, str]:
    """(wall seconds, max RSS MiB, stdout) of a command under /usr/bin/time."""
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "MAXRSS %M"] + cmd, capture_output=True, text=True, **kw)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(f"{cmd} failed: {p.stderr[-2000:]}")
    rss = int(re.search(r"MAXRSS (\d+)", p.stderr).group(1)) // 1024
    return wall, rss, p.stdout


def tree_rss_mib(pid: int) -> float:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(d.name))
            except (OSError, ValueError, IndexError):
                pass
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        stack += kids.get(p, [])
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def wait_healthy(url: str, proc, limit=300.0) -> float:
    t = time.perf_counter()
    while time.perf_counter() - t < limit:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return time.perf_counter() - t
        except Exception:  # noqa: BLE001
            time.sleep(0.005)
    raise RuntimeError(f"{url} not healthy in {limit} s")


def stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
    time.sleep(1)


def wrk(url: str, conc: int, seconds: int, lua: Path | None, pid: int) -> dict:
    cmd = ["wrk", f"-t{1 if conc == 1 else 2}", f"-c{conc}", f"-d{seconds}s", "--timeout", "30s", "--latency"]
    if lua:
        cmd += ["-s", str(lua)]
    p = subprocess.Popen(cmd + [url], stdout=subprocess.PIPE, text=True)
    rss = 0.0
    while p.poll() is None:
        rss = max(rss, tree_rss_mib(pid))
        time.sleep(0.5)
    out = p.stdout.read()

    def ms(v: str) -> float:
        m = re.match(r"([\d.]+)(us|ms|s)", v)
        x, u = float(m.group(1)), m.group(2)
        return x / 1000 if u == "us" else x if u == "ms" else x * 1000

    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p99_ms": ms(p99.group(1)) if p99 else None,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "rss_mib": round(rss, 1),
    }


def post_lua(body: str) -> Path:
    lua = TMP / "post.lua"
    lua.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n' f"wrk.body = [[{body}]]\n")
    return lua


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="shorter wrk runs and fewer repeats")
    a = ap.parse_args()
    dur = 8 if a.quick else 15
    reps = 1 if a.quick else 3
    if SHARED is None:
        sys.exit("../shared (the seed stack and the IBM file) was not found next to the repository")
    TMP.mkdir(parents=True, exist_ok=True)
    # The reference stack expects <root>/anchors/seed-stack and <root>/shared/data/telco.
    ref_root = TMP / "ref"
    shutil.rmtree(ref_root, ignore_errors=True)
    shutil.copytree(SHARED / "anchors" / "seed-stack", ref_root / "anchors" / "seed-stack")
    (ref_root / "shared" / "data").mkdir(parents=True)
    (ref_root / "shared" / "data" / "telco").symlink_to(SHARED / "data" / "telco")
    ref = ref_root / "anchors" / "seed-stack"
    telco = SHARED / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
    env = dict(os.environ, SEEDSTACK_TMP=str(TMP / "seedstack"), MLFLOW_DISABLE_TELEMETRY="true")
    py = sys.executable
    body = json.dumps(json.loads((ref / "sample_customer.json").read_text()), separators=(",", ":"))
    lua = post_lua(body)
    res: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "nproc": os.cpu_count(), "loadavg": os.getloadavg()}

    # ---------------------------------------------------------------- training
    ref_train = [timed([py, "train.py"], cwd=ref, env=env)[0] for _ in range(reps)]
    work = TMP / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    ours = []
    for i in range(reps):
        ours.append(timed([str(CHURN), "train", "--data", str(telco), "--output", str(work / f"m{i}"), "--trials", "0", "--tracking-uri", str(work / "mlruns")], cwd=work)[0])
    untracked = [timed([str(CHURN), "train", "--data", str(telco), "--output", str(work / "u"), "--trials", "0", "--no-track"], cwd=work)[0] for _ in range(reps)]
    tuned = timed([str(CHURN), "train", "--data", str(telco), "--output", str(work / "tuned"), "--no-track"], cwd=work)[0]
    res["train"] = {
        "reference_train_py_s": ref_train,
        "churn_trials0_s": ours,
        "churn_trials0_untracked_s": untracked,
        # What logging the run to the MLflow file store adds, end to end.
        "churn_tracking_s": statistics.median(ours) - statistics.median(untracked),
        "churn_default_tuned_s": tuned,
    }
    # The XGBoost fit alone: the reference's matrix and parameters, both sides.
    fit_code = f"""
import json, sys, time
sys.path.insert(0, {str(ref)!r})
import features as F
from train import PARAMS
from sklearn.model_selection import train_test_split
from xgboost import XGBClassifier
df = F.clean(F.load_raw({str(telco)!r})); X = F.engineer(df); y = F.target(df)
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, stratify=y, random_state=42)
out = Xtr.copy(); out["label"] = ytr; out.to_csv({str(TMP / "fit.csv")!r}, index=False)
ts = []
for _ in range({max(reps, 3)}):
    m = XGBClassifier(**PARAMS); t = time.perf_counter(); m.fit(Xtr, ytr); ts.append(time.perf_counter() - t)
print(json.dumps({{"fit_seconds_min": min(ts), "fit_seconds_median": sorted(ts)[len(ts)//2]}}))
"""
    pyfit = json.loads(sh([py, "-c", fit_code], cwd=ref, env=env).stdout.strip().splitlines()[-1])
    rsfit = json.loads(sh([str(XGB_FIT), str(TMP / "fit.csv"), "300", str(os.cpu_count()), str(max(reps, 3)),
                           "max_depth=4", "eta=0.05", "subsample=0.8", "colsample_bytree=0.8", "colsample_bynode=1",
                           "min_child_weight=1", "lambda=1", "alpha=0", "gamma=0", "max_bin=256"]).stdout)
    res["fit"] = {"python": pyfit, "churn": rsfit}
    print("train done", json.dumps(res["train"]), json.dumps(res["fit"]), flush=True)

    # ---------------------------------------------------------------- serving
    serve: dict = {}
    for label, fe in [("reference_pandas", "pandas"), ("reference_fast", "fast")]:
        e = dict(env, SEEDSTACK_FE=fe)
        p = subprocess.Popen([str(Path(py).parent / "uvicorn"), "app:app", "--host", "127.0.0.1", "--port", "8000", "--workers", "2", "--no-access-log"],
                             cwd=ref, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            start = wait_healthy("http://127.0.0.1:8000/", p)
            time.sleep(3)  # both workers up
            wrk("http://127.0.0.1:8000/predict", 4, 3, lua, p.pid)
            serve[label] = {"start_to_healthy_s": start, "c16": wrk("http://127.0.0.1:8000/predict", 16, dur, lua, p.pid), "c64": wrk("http://127.0.0.1:8000/predict", 64, dur, lua, p.pid)}
        finally:
            stop(p)
        print(label, json.dumps(serve[label]), flush=True)
    p = subprocess.Popen([str(CHURN), "serve", "--model", str(work / "tuned"), "--host", "127.0.0.1", "--port", "8000"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        start = wait_healthy("http://127.0.0.1:8000/", p)
        wrk("http://127.0.0.1:8000/predict", 4, 3, lua, p.pid)
        serve["churn"] = {
            "start_to_healthy_s": start,
            "c16": wrk("http://127.0.0.1:8000/predict", 16, dur, lua, p.pid),
            "c64": wrk("http://127.0.0.1:8000/predict", 64, dur, lua, p.pid),
            "c16_no_reasons": wrk("http://127.0.0.1:8000/predict?explain=false", 16, dur, lua, p.pid),
            "c64_no_reasons": wrk("http://127.0.0.1:8000/predict?explain=false", 64, dur, lua, p.pid),
            "c16_get_root": wrk("http://127.0.0.1:8000/", 16, dur, None, p.pid),
            "c64_get_root": wrk("http://127.0.0.1:8000/", 64, dur, None, p.pid),
        }
    finally:
        stop(p)
    print("churn", json.dumps(serve["churn"]), flush=True)
    res["serve"] = serve

    # ---------------------------------------------------------------- batch
    batch_out = sh([py, "bench_batch.py", "--rows", "1000000", "--repeats", str(reps)], cwd=ref, env=env)
    ref_batch = json.loads((ref / "results" / "bench_batch.json").read_text())
    tiled = TMP / "seedstack" / "telco_tiled_1000000.csv"
    rows_s = []
    for _ in range(reps):
        wall, rss, _ = timed([str(CHURN), "predict", "--model", str(work / "tuned"), "--input", str(tiled), "--output", str(TMP / "scored.csv")])
        rows_s.append(1_000_000 / wall)
    # Our probabilities against XGBoost's own, on all 1,000,000 rows.
    sh([str(CHURN), "predict", "--model", str(work / "tuned"), "--input", str(tiled), "--output", str(TMP / "features.csv"), "--with-features"])
    diff_code = f"""
import pandas as pd, numpy as np, xgboost as xgb, json
s = pd.read_csv({str(TMP / "features.csv")!r})
cols = [c for c in s.columns if c not in ("customerID", "churn_probability", "churn", "risk_decile", "risk_band")]
b = xgb.Booster(); b.load_model({str(work / "tuned" / "model.ubj")!r})
p = b.predict(xgb.DMatrix(s[cols].astype("float32")))
print(json.dumps({{"rows": len(p), "max_abs_diff": float(np.max(np.abs(p - s["churn_probability"].to_numpy())))}}))
"""
    eq = json.loads(sh([py, "-c", diff_code]).stdout.strip().splitlines()[-1])
    big = TMP / "s10m.csv"
    synth_wall = timed([str(CHURN), "synth", "--rows", "10000000", "--output", str(big)])[0]
    wall10, rss10, _ = timed([str(CHURN), "predict", "--model", str(work / "tuned"), "--input", str(big), "--output", str(TMP / "s10m_scored.csv")])
    res["batch"] = {
        "reference_csv_fe_predict_rows_s": ref_batch["csv_fe_predict"]["rows_per_s_best"],
        "reference_csv_fe_predict_rows_s_median": ref_batch["csv_fe_predict"]["rows_per_s_median"],
        "churn_csv_to_csv_rows_s": rows_s,
        "churn_vs_xgboost": eq,
        "churn_10m_rows_seconds": wall10,
        "churn_10m_peak_rss_mib": rss10,
        "synth_10m_rows_per_s": 10_000_000 / synth_wall,
    }
    big.unlink(missing_ok=True)
    (TMP / "s10m_scored.csv").unlink(missing_ok=True)
    print("batch", json.dumps(res["batch"]), flush=True)

    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(res, indent=1))
    print(table(res))


def table(r: dict) -> str:
    t, s, b, f = r["train"], r["serve"], r["batch"], r["fit"]
    med = statistics.median
    typ, fast, ch = s["reference_pandas"], s["reference_fast"], s["churn"]
    lines = [
        "| what | churn | reference | ratio |",
        "|---|---|---|---|",
        f"| train end to end (`--trials 0` vs `train.py`), median s | {med(t['churn_trials0_s']):.2f} | {med(t['reference_train_py_s']):.2f} | {med(t['reference_train_py_s']) / med(t['churn_trials0_s']):.0f}x faster |",
        f"| XGBoost fit alone, same matrix and parameters, median s | {f['churn']['fit_seconds_median']:.3f} | {f['python']['fit_seconds_median']:.3f} | {f['churn']['fit_seconds_median'] / f['python']['fit_seconds_median']:.2f} |",
        f"| default `churn train` (12 trials tuned in CV), s | {t['churn_default_tuned_s']:.2f} | | |",
        f"| MLflow file-store tracking inside `churn train`, s | {t['churn_tracking_s']:.3f} | (MLflow log_model 6.2-7.1 s) | |",
    ]
    for c in ("c16", "c64"):
        lines.append(f"| POST /predict with reasons, {c}: req/s | {ch[c]['rps']:,.0f} | {typ[c]['rps']:,.1f} (typical) / {fast[c]['rps']:,.0f} (hand-tuned) | {ch[c]['rps'] / typ[c]['rps']:,.0f}x / {ch[c]['rps'] / fast[c]['rps']:.1f}x |")
        lines.append(f"| POST /predict, {c}: p99 ms | {ch[c]['p99_ms']:.2f} | {typ[c]['p99_ms']:,.0f} (typical) | 1/{typ[c]['p99_ms'] / ch[c]['p99_ms']:,.0f} |")
        lines.append(f"| POST /predict without reasons vs GET /, {c}: req/s | {ch[c + '_no_reasons']['rps']:,.0f} vs {ch[c + '_get_root']['rps']:,.0f} | | {ch[c + '_no_reasons']['rps'] / ch[c + '_get_root']['rps']:.0%} |")
    rss_ch = max(ch[c]["rss_mib"] for c in ("c16", "c64"))
    rss_ref = max(typ[c]["rss_mib"] for c in ("c16", "c64"))
    lines += [
        f"| resident memory under load, MiB | {rss_ch:.0f} | {rss_ref:.0f} | 1/{rss_ref / rss_ch:.0f} |",
        f"| process start to healthy, ms | {ch['start_to_healthy_s'] * 1000:.0f} | {typ['start_to_healthy_s'] * 1000:,.0f} | 1/{typ['start_to_healthy_s'] / ch['start_to_healthy_s']:,.0f} |",
        f"| 1,000,000 rows CSV to scored CSV, rows/s (best) | {max(b['churn_csv_to_csv_rows_s']):,.0f} | {b['reference_csv_fe_predict_rows_s']:,.0f} | {max(b['churn_csv_to_csv_rows_s']) / b['reference_csv_fe_predict_rows_s']:.1f}x |",
        f"| max abs difference to XGBoost's own probabilities, 1M rows | {b['churn_vs_xgboost']['max_abs_diff']:.1e} | | |",
        f"| 10,000,000 rows scored: seconds, peak memory MiB | {b['churn_10m_rows_seconds']:.1f} s, {b['churn_10m_peak_rss_mib']} MiB | | |",
        f"| `churn synth` to CSV, rows/s | {b['synth_10m_rows_per_s']:,.0f} | | |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
