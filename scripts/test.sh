#!/usr/bin/env bash
# Runs every test: unit, property and end-to-end (real binary, real files).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/test-env.sh
if [ -z "${TELCO_CSV:-}" ]; then
  for d in ../shared ../../shared; do
    f="$d/data/telco/WA_Fn-UseC_-Telco-Customer-Churn.csv"
    if [ -f "$f" ]; then export TELCO_CSV="$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"; break; fi
  done
fi
cargo test --release --locked --features integration "$@"
