#!/usr/bin/env bash
# Prepares everything the tests use besides Rust, and exports where it is. Source it:
# `. scripts/test-env.sh`. Idempotent: what is already in place is left alone.
#   .venv-test   Python with the pinned MLflow, XGBoost and schemathesis (tests/requirements.txt)
#   .venv-lint   hadolint, actionlint, cfn-lint, checkov and moto (tests/deploy/requirements.txt)
#   .venv-oip    tritonclient and KServe's SDK, clients of the Open Inference Protocol (tests/oip)
#   Chromium + playwright-core (tests/browser) for the UI and report checks
#   a Docker engine and the Dockerfile's base images (scripts/docker-env.sh)
#   docker-compose, to resolve and start the local stack (docker-compose.yml)
#   wrk, the load the fault-injection tests put on the server
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

venv() { # venv DIR REQUIREMENTS
  local dir="$root/$1" req="$root/$2" stamp want
  stamp="$dir/.requirements.sha256"
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ ! -x "$dir/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    python3 -m venv --help >/dev/null 2>&1 || { echo "test-env: python3-venv is missing: apt-get install -y python3-venv" >&2; return 1; }
    rm -rf "$dir"
    python3 -m venv "$dir"
    echo "test-env: installing $2 into $1" >&2
    "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    echo "$want" > "$stamp"
  fi
}

need_apt=()
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || need_apt+=(chromium)   # $CHROMIUM: another Chromium or Chrome
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test-env: installing ${need_apt[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}" >/dev/null
  else
    echo "test-env: the tests need: sudo apt-get install -y ${need_apt[*]}" >&2
    exit 1
  fi
fi

# The Python environments install while the Docker engine and images are prepared.
venv .venv-test tests/requirements.txt &
pid_test=$!
venv .venv-lint tests/deploy/requirements.txt &
pid_lint=$!
venv .venv-oip tests/oip/requirements.txt &
pid_oip=$!
if [ ! -d "$root/tests/browser/node_modules/playwright-core" ]; then
  (cd "$root/tests/browser" && npm ci --no-audit --no-fund --silent)
fi
bash "$root/scripts/docker-env.sh"
wait "$pid_test"
wait "$pid_lint"
wait "$pid_oip"

export CHURN_TEST_PYTHON="$root/.venv-test/bin/python"
export CHURN_LINT_BIN="$root/.venv-lint/bin"
export CHURN_OIP_PYTHON="$root/.venv-oip/bin/python"
