"""`POST /predict` with and without reasons, per development table: what the default search picks
on each table (stumps on the IBM file, deeper trees elsewhere) costs to serve and explain.

For each table: `churn train --no-track` with every default (its schema in examples/schemas/),
`churn serve` the bundle, then wrk on 127.0.0.1 with the bundle's "Likely churner" example as the
body: one client (latency p50/p99) and 16 clients (requests/s), `/predict` (exact TreeSHAP reasons)
and `/predict?explain=false`. Needs wrk.

usage: python3 bench/reasons.py [TABLE,...]          (after cargo build --release)
Writes bench/results/reasons.json and prints a Markdown table.
"""
import json
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (wait_healthy, stop, post_lua, wrk)
from tables import SHARED, TABLES  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHURN = ROOT / "target" / "release" / "churn"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def latency(url, lua, seconds):
    """p50 and p99 (ms) of one client."""
    out = subprocess.run(["wrk", "-t1", "-c1", f"-d{seconds}s", "--latency", "-s", str(lua), url],
                         check=True, capture_output=True, text=True).stdout

    def ms(q):
        v = re.search(rf"^\s+{q}%\s+(\S+)", out, re.M).group(1)
        x, u = re.match(r"([\d.]+)(us|ms|s)", v).groups()
        return round(float(x) / 1000 if u == "us" else float(x) if u == "ms" else float(x) * 1000, 3)

    return {"p50_ms": ms(50), "p99_ms": ms(99)}


def main():
    names = sys.argv[1].split(",") if len(sys.argv) > 1 else list(TABLES)
    bench.TMP.mkdir(parents=True, exist_ok=True)
    out_path = ROOT / "bench" / "results" / "reasons.json"
    results = json.loads(out_path.read_text()) if out_path.exists() else {}
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            model = Path(tmp) / "model"
            subprocess.run([str(CHURN), "train", "--data", str(SHARED / "data" / TABLES[name]), "--schema",
                            str(ROOT / "examples" / "schemas" / f"{name}.toml"), "--output", str(model), "--no-track"],
                           check=True, capture_output=True, cwd=tmp)
            meta = json.loads((model / "churn" / "metadata.json").read_text())
            evaluation = json.loads((model / "churn" / "evaluation.json").read_text())
            body = json.dumps(evaluation["examples"][0]["customer"])
            lua = bench.post_lua(body)
            port = free_port()
            proc = subprocess.Popen([str(CHURN), "serve", "--model", str(model), "--port", str(port), "--host", "127.0.0.1"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            try:
                base = f"http://127.0.0.1:{port}"
                bench.wait_healthy(base + "/", proc)
                bench.wrk(base + "/predict", 4, 2, lua, proc.pid)  # warm-up
                seeds = meta.get("seeds", 1)
                blend = meta.get("blend")
                # A stacked margin serves every member's trees (each member's fits, seeds averaged).
                members = blend["members"] if blend else [{"trial": evaluation["chosen_trial"] + 1, "rounds": meta["rounds"]}]
                depths = sorted({evaluation["tuning"][m["trial"] - 1]["params"]["max_depth"] for m in members})
                r = {"max_depth": "/".join(map(str, depths)), "trees": sum(m["rounds"] for m in members) * seeds, "seeds": seeds,
                     "blend": blend["kind"] if blend else "plain", "train_s": round(meta["seconds"]["total"], 1),
                     "features": len(meta["features"]) if isinstance(meta["features"], list) else meta["features"]}
                for label, path in [("reasons", "/predict"), ("no_reasons", "/predict?explain=false")]:
                    r[label] = {**latency(base + path, lua, 5), "rps_c16": bench.wrk(base + path, 16, 5, lua, proc.pid)["rps"]}
            finally:
                bench.stop(proc)
        results[name] = r
        print(f"{name}: {json.dumps(r)}", file=sys.stderr, flush=True)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(results, indent=1) + "\n")
    print("| table | model the defaults pick | with reasons: p50 / p99 (1 client), req/s (16 clients) | without reasons |")
    print("|---|---|---|---|")
    for name, r in results.items():
        a, b = r["reasons"], r["no_reasons"]
        seeds = f" ({r['seeds']} seeds averaged)" if r.get("seeds", 1) > 1 else ""
        blend = f", {r['blend']}" if r.get("blend", "plain") != "plain" else ""
        print(f"| {name} | {r['trees']} trees of depth {r['max_depth']}{seeds}{blend}, {r['features']} inputs | "
              f"{a['p50_ms']} / {a['p99_ms']} ms, {a['rps_c16']:.0f}/s | {b['p50_ms']} / {b['p99_ms']} ms, {b['rps_c16']:.0f}/s |")


if __name__ == "__main__":
    main()
