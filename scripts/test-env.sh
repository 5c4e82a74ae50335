#!/usr/bin/env bash
# Prepares what the integration tests use besides Rust and exports where it is:
#   .venv-test   Python with the pinned MLflow and XGBoost (tests/requirements.txt)
# Source it: `. scripts/test-env.sh`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-test"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$root/tests/requirements.txt" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -m venv --help >/dev/null 2>&1 || { echo "test-env: python3-venv is missing: apt-get install -y python3-venv" >&2; exit 1; }
  rm -rf "$venv"
  python3 -m venv "$venv"
  echo "test-env: installing tests/requirements.txt into .venv-test (a few minutes the first time)" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/tests/requirements.txt"
  echo "$want" > "$stamp"
fi
export CHURN_TEST_PYTHON="$venv/bin/python"
# Browser tests: Debian's Chromium, driven by playwright-core from tests/browser.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test-env: installing chromium" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
  else
    echo "test-env: the browser tests need Chromium: sudo apt-get install -y chromium" >&2; exit 1
  fi
fi
command -v node >/dev/null 2>&1 || { echo "test-env: the browser tests need Node.js: sudo apt-get install -y nodejs npm" >&2; exit 1; }
if [ ! -d "$root/tests/browser/node_modules/playwright-core" ]; then
  (cd "$root/tests/browser" && npm ci --no-audit --no-fund --silent)
fi
