"""XGBoost's own exact contributions (`pred_contribs`) for one customer at a time on one thread,
after warm-up, on a churn bundle's model: the library's figure beside churn's
(`cargo run --release --example explain_speed BUNDLE FILE.csv`). Run it with each XGBoost
release to compare (3.3+ has QuadratureTreeSHAP and needs Python >= 3.12):

    python bench/contribs_speed.py BUNDLE FILE.csv [ROWS]

FILE.csv is read through the bundle itself (`churn predict --with-features` writes the model's
input columns), so the rows are the ones churn explains.
"""
import json
import subprocess
import sys
import tempfile
import time

import numpy as np
import xgboost as xgb


def main():
    bundle, table = sys.argv[1], sys.argv[2]
    rows = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    churn = sys.argv[4] if len(sys.argv) > 4 else "churn"
    with tempfile.TemporaryDirectory() as d:
        out = f"{d}/x.csv"
        subprocess.run([churn, "predict", "--model", bundle, "--input", table, "--output", out,
                        "--with-features"], check=True, capture_output=True)
        names = xgb.Booster(model_file=f"{bundle}/model.ubj").feature_names
        import csv
        with open(out) as f:
            r = csv.DictReader(f)
            x = np.array([[float(row[n]) if row[n] != "" else np.nan for n in names]
                          for _, row in zip(range(rows), r)], dtype=np.float32)
    booster = xgb.Booster(model_file=f"{bundle}/model.ubj")
    booster.set_param({"nthread": 1})
    one = [xgb.DMatrix(x[i:i + 1], missing=np.nan, feature_names=names, nthread=1) for i in range(len(x))]
    for d in one[:20]:
        booster.predict(d, pred_contribs=True)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for d in one:
            booster.predict(d, pred_contribs=True)
        best = min(best, (time.perf_counter() - t) / len(one))
    print(json.dumps({"xgboost": xgb.__version__, "trees": booster.num_boosted_rounds(), "rows": len(one),
                      "pred_contribs_us": round(best * 1e6, 1)}))


if __name__ == "__main__":
    main()
