#!/usr/bin/env bash
# Runs every test: the self-contained tiers (unit, in-process API, real binary on synthetic data)
# and the integration tier, which drives real MLflow, Chromium, Docker, the linters and the IBM
# Telco file. For the edit-test loop, plain `cargo test` runs the self-contained tiers alone.
#
# What it sets up (scripts/setup.sh, scripts/test-env.sh), once, and how to undo it:
#   system packages, only when missing and only as root (otherwise it prints the apt-get line):
#     a C linker and CA certificates; chromium, nodejs, npm, docker-compose, wrk; docker.io
#   in the checkout: .venv-test, .venv-lint, tests/browser/node_modules    (rm -rf them)
#   Docker base images rust:1.95-bookworm, debian:bookworm-slim, postgres:15-bookworm and
#   python:3.11-slim-bookworm (built locally where no registry answers), the image build's
#   cache (labelled churn.stage=build), the last run's tested image churn:it-<pid> (earlier
#   runs' are removed by the next) and the local stack's MLflow server churn-mlflow:3.17.2;
#   kept to make the next run fast, removed with:
#     docker image prune -f --filter label=churn.stage=build
#     docker images churn --format '{{.Repository}}:{{.Tag}}' | grep ':it-' | xargs -r docker rmi
#     docker image rm churn-mlflow:3.17.2 postgres:15-bookworm \
#       python:3.11-slim-bookworm rust:1.95-bookworm debian:bookworm-slim
# A Docker engine this script started is stopped when it ends; the compose stack the tests
# start is taken down with its volumes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
docker_was_up=false
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then docker_was_up=true; fi
. scripts/test-env.sh
pidfile=target/docker-env/dockerd.pid
if ! $docker_was_up && [ -f "$pidfile" ]; then
  stop_dockerd() {
    echo "test.sh: stopping the Docker engine it started" >&2
    kill "$(cat "$pidfile")" 2>/dev/null || true
    for _ in $(seq 30); do docker info >/dev/null 2>&1 || break; sleep 1; done
    rm -f "$pidfile"
  }
  trap stop_dockerd EXIT
fi
if [ -z "${TELCO_CSV:-}" ]; then
  for d in ../shared ../../shared; do
    f="$d/data/telco/WA_Fn-UseC_-Telco-Customer-Churn.csv"
    if [ -f "$f" ]; then export TELCO_CSV="$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"; break; fi
  done
fi
cargo test --release --locked --features integration "$@"
