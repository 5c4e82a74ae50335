#!/usr/bin/env bash
# The main job end to end on the embedded default, no download and no server to start by hand:
# synthetic customers -> validated training with tuned XGBoost -> model bundle.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --locked
exec ./target/release/churn demo "$@"
