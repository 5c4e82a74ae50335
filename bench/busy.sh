#!/usr/bin/env bash
# `churn train --trials 0` on the IBM file, idle and with every core held by a busy loop
# (pinned with taskset, as other processes on a laptop, CI runner or shared host would), with
# churn's default (OpenMP threads wait passively) and with them spinning (OMP_WAIT_POLICY=ACTIVE). Medians of
# 5 runs; writes bench/results/busy.json.
# usage: bash bench/busy.sh [IBM_CSV]   (after cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
csv=${1:-${TELCO_CSV:-../shared/data/telco/WA_Fn-UseC_-Telco-Customer-Churn.csv}}
bin=target/release/churn
out=$(mktemp -d)
trap 'rm -rf "$out"; kill $(jobs -p) 2>/dev/null || true' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() { # env...: median wall seconds of 5 runs
  for _ in 1 2 3 4 5; do
    /usr/bin/time -f "%e" env "$@" "$bin" train --data "$csv" --output "$out/m" --trials 0 --no-track 2>&1 >/dev/null | tail -1
  done | median
}
"$bin" train --data "$csv" --output "$out/m" --trials 0 --no-track >/dev/null 2>&1   # warm up (fetches the library once)
idle=$(measure X=1)
idle_spin=$(measure OMP_WAIT_POLICY=ACTIVE)
for c in $(seq 0 $(( $(nproc) - 1 ))); do taskset -c "$c" sh -c 'while :; do :; done' & done
sleep 1
busy=$(measure X=1)
busy_spin=$(measure OMP_WAIT_POLICY=ACTIVE)
kill $(jobs -p) 2>/dev/null || true
mkdir -p bench/results
printf '{"cores": %s, "idle_s": %s, "busy_s": %s, "ratio": %s, "idle_spinning_s": %s, "busy_spinning_s": %s, "ratio_spinning": %s}\n' \
  "$(nproc)" "$idle" "$busy" "$(echo "$busy / $idle" | bc -l | cut -c1-5)" \
  "$idle_spin" "$busy_spin" "$(echo "$busy_spin / $idle_spin" | bc -l | cut -c1-5)" | tee bench/results/busy.json
