#!/usr/bin/env bash
# Checks (and, as root on Debian/Ubuntu, installs) what building churn needs besides Rust:
#   a C linker (gcc, libc6-dev)   rustc links every binary through `cc`
#   ca-certificates               cargo fetches crates over HTTPS
# Nothing else: XGBoost's C API is declared in the repository (crates/xgboost-sys), so no
# libclang, and the pinned XGBoost library is fetched by `churn` itself on first training.
set -euo pipefail

need=()
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
[ -s /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${need[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
      apt-get update -q >/dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
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
