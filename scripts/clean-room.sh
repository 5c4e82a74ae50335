#!/usr/bin/env bash
# The README's commands on a fresh machine: a fresh clone of this repository's HEAD, in a
# container of the stock Debian image (debian:bookworm-slim; built locally by debootstrap where
# no registry answers) with only a Rust toolchain added, copied from the host (toolchain
# downloads may be unreachable). No C compiler, no libclang, no Python: scripts/setup.sh has to
# install whatever the build needs. It runs
#   ./scripts/demo.sh --no-serve     the main job end to end
#   cargo test --release --locked    the self-contained test tiers (sharing the demo's build)
#   cargo build --release --offline  nothing fetched once the crates are there
# and checks the demo's outputs. Package registries are reached as the host reaches them (the
# host's DNS and CA bundle). Run as root, with Docker (scripts/docker-env.sh). ~15 min on 2 cores.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/docker-env.sh"
work="$(mktemp -d)"
name="churn-clean-room-$$"
trap 'docker rm -f "$name" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git clone -q "$root" "$work/churn"
toolchain="$(rustc --print sysroot)"
cp /etc/ssl/certs/ca-certificates.crt "$work/host-ca.crt"

docker run --name "$name" --network host \
  -v "$toolchain:/usr/local/rust:ro" -v "$work/host-ca.crt:/etc/host-ca.crt:ro" -v "$work/churn:/src/churn" \
  -e PATH=/usr/local/rust/bin:/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  -e SSL_CERT_FILE=/etc/host-ca.crt -e CARGO_HTTP_CAINFO=/etc/host-ca.crt -e CARGO_TERM_COLOR=never \
  -w /src/churn debian:bookworm-slim bash -euo pipefail -c '
    step() { echo "clean-room: $1 ($(date +%T))"; }
    step "stock image: $(. /etc/os-release; echo "$PRETTY_NAME"), $(rustc --version)"
    if command -v cc >/dev/null; then echo "clean-room: the image already has a C compiler"; exit 1; fi
    if ldconfig -p | grep -q libclang; then echo "clean-room: the image already has libclang"; exit 1; fi
    apt-get update -qq >/dev/null
    step "./scripts/demo.sh --no-serve"
    ./scripts/demo.sh --no-serve
    for f in churn-demo/customers.csv churn-demo/model/model.ubj churn-demo/model/report/report.html churn-demo/mlflow.db; do
      [ -s "$f" ] || { echo "clean-room: the demo did not write $f"; exit 1; }
    done
    if ldconfig -p | grep -q libclang; then echo "clean-room: setup installed libclang"; exit 1; fi
    step "cargo test --release --locked"
    cargo test --release --locked >/tmp/test.log 2>&1 || { cat /tmp/test.log; exit 1; }
    grep -E "^test result" /tmp/test.log
    step "cargo build --release --locked --offline"
    cargo build --release --locked --offline
    step "done"
  '
