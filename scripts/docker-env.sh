#!/usr/bin/env bash
# Makes a Docker engine and the Dockerfile's base images available for the image tests.
# Where Docker already runs (a developer's machine, GitHub's runners) it only checks that.
# On a bare Debian machine without a registry (this project's CI) it starts dockerd from
# Debian's docker.io and builds the base images locally under the names the Dockerfile uses
# (recipe in ../shared/anchors/tooling/docker_offline.sh). Idempotent; run as root.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$root/target/docker-env"
mkdir -p "$work"

if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "docker-env: no Docker engine answers; start one (or run this as root to start dockerd)" >&2
    exit 1
  fi
  command -v dockerd >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io >/dev/null
  # No default bridge and no iptables: containers run with --network host, or on a user-defined
  # network (the compose stack) whose ports the userland proxy publishes on loopback.
  nohup dockerd --bridge=none --iptables=false --ip-masq=false >"$work/dockerd.log" 2>&1 &
  echo $! >"$work/dockerd.pid"
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "docker-env: dockerd did not start, see $work/dockerd.log" >&2; exit 1; }
fi

if ! docker image inspect rust:1.95-bookworm >/dev/null 2>&1 && ! docker pull -q rust:1.95-bookworm >/dev/null 2>&1; then
  echo "docker-env: building base images locally (debian:bookworm-slim, rust:1.95-bookworm)" >&2
  if ! docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
    command -v debootstrap >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
    mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
    [ -n "$mirror" ] || mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources)
    rm -rf "$work/rootfs"
    debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log"
    tar -C "$work/rootfs" -c . | docker import - debian:bookworm-slim >/dev/null
    rm -rf "$work/rootfs"
  fi
  toolchain="$(rustc --print sysroot)"
  docker rm -f churn-rustbase >/dev/null 2>&1 || true
  docker run --name churn-rustbase --network host -v "$toolchain:/tc:ro" debian:bookworm-slim sh -c \
    'cp -a /tc /usr/local/rust && rm -rf /usr/local/rust/share/doc && apt-get update -qq &&
     DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev ca-certificates >/dev/null'
  docker commit --change 'ENV PATH=/usr/local/rust/bin:/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV CARGO_HOME=/usr/local/cargo' churn-rustbase local/rust-base >/dev/null
  docker rm churn-rustbase >/dev/null
  # The legacy builder gives RUN steps no resolv.conf, and registries are reached through a
  # proxy whose CA only the host trusts: bake both into the local builder image.
  mkdir -p "$work/fix"
  cp /etc/resolv.conf "$work/fix/resolv.conf"
  cp /etc/ssl/certs/ca-certificates.crt "$work/fix/ca.crt"
  printf 'FROM local/rust-base\nCOPY resolv.conf /etc/resolv.conf\nCOPY ca.crt /etc/ssl/certs/ca-certificates.crt\n' >"$work/fix/Dockerfile"
  docker build -q -t rust:1.95-bookworm "$work/fix" >/dev/null
fi
# The local stack's base images (docker-compose.yml, tests/integration/compose.rs): where the
# official ones cannot be pulled, stand-ins built from Debian under the same names.
# A stand-in carries the hash of its folder as a label and is rebuilt when the folder changes.
standin() {
  local image=$1 dir=$2 ctx hash
  hash=$(cd "$root/$dir" && find . -type f | sort | xargs sha256sum | sha256sum | cut -c1-16)
  [ "$(docker image inspect --format '{{index .Config.Labels "churn.standin"}}' "$image" 2>/dev/null)" = "$hash" ] && return 0
  # The real image where a registry answers (a pull also refreshes an outdated local copy).
  docker pull -q "$image" >/dev/null 2>&1 && return 0
  echo "docker-env: building a local stand-in for $image ($dir)" >&2
  ctx="$work/standin-$(basename "$dir")"
  rm -rf "$ctx" && cp -r "$root/$dir" "$ctx"
  cp /etc/resolv.conf "$ctx/resolv.conf"
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca.crt"
  docker build -q --network host --label "churn.standin=$hash" -t "$image" "$ctx" >/dev/null
}
standin postgres:15-bookworm tests/support/images/postgres
standin python:3.11-slim-bookworm tests/support/images/python
echo "docker-env: engine up; rust:1.95-bookworm, postgres:15-bookworm, python:3.11-slim-bookworm present" >&2
