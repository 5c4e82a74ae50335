#!/usr/bin/env bash
# Fetches libxgboost.so from the pinned PyPI wheel `xgboost-cpu` into DEST (default: .xgboost).
#
# Why the wheel: it is the very library the Python reference stack and MLflow use, so a model
# trained here matches Python's bit for bit, and it takes seconds instead of a 15-35 minute C++
# build. The wheel's layout (xgboost/lib + xgboost_cpu.libs, joined by an $ORIGIN RPATH) is kept
# as is so the library finds its own OpenMP runtime.
set -euo pipefail

VERSION=3.2.0
WHEEL=xgboost_cpu-${VERSION}-py3-none-manylinux_2_28_x86_64.whl
SHA256=9c10b1653e1a689bf4094a328144cf3633c9be0e5217a76fbdc2fde6abcb2950

dest=${1:-.xgboost}
if [ -f "$dest/xgboost/lib/libxgboost.so" ]; then
  exit 0
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "fetch-xgboost: python3 with pip is needed to download the XGBoost library." >&2
  echo "  run: apt-get install -y python3-pip" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: \
  --platform manylinux_2_28_x86_64 --python-version 3.11 \
  "xgboost-cpu==${VERSION}" -d "$tmp" >&2
echo "${SHA256}  $tmp/${WHEEL}" | sha256sum --check --quiet - >&2
python3 -m zipfile -e "$tmp/${WHEEL}" "$tmp/x"
mkdir -p "$dest/xgboost"
rm -rf "$dest/xgboost/lib" "$dest/xgboost_cpu.libs"
cp -r "$tmp/x/xgboost/lib" "$dest/xgboost/lib"
cp -r "$tmp/x/xgboost_cpu.libs" "$dest/xgboost_cpu.libs"
echo "fetch-xgboost: libxgboost ${VERSION} in $dest/xgboost/lib" >&2
