#!/usr/bin/env bash
# Installs the system packages churn needs to build, or prints the exact line to run.
#   libclang-dev  bindgen reads XGBoost's C API header (crate xgboost_lib-sys)
#   python3-pip   downloads the pinned libxgboost wheel (scripts/fetch-xgboost.sh)
# Rust itself comes from rustup; everything else is fetched by cargo.
set -euo pipefail

need=()
ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || need+=(libclang-dev)
command -v cc >/dev/null 2>&1 || need+=(build-essential)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
command -v curl >/dev/null 2>&1 || need+=(curl)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${need[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null 2>&1 || {
      apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
    }
  else
    echo "setup: missing system packages. Run:" >&2
    echo "  sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing. Install Rust: https://rustup.rs" >&2
  exit 1
fi
bash "$(dirname "$0")/fetch-xgboost.sh" "$(dirname "$0")/../.xgboost"
