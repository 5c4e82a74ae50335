#!/bin/sh
# One month's loop, as the scheduled task runs it: the latest labelled customers in, a new
# registered version, the champion challenged on customers the new model did not train on, the
# alias moved when the challenger wins (the evidence on its version first). Servers started with
# --watch-seconds (CHURN_WATCH_SECONDS; infra/churn.yaml sets it) follow the moved alias by
# themselves; RELOAD_URL, when set, is sent POST /admin/reload as well.
#   MLFLOW_TRACKING_URI   the tracking server with the registry (required)
#   TRAINING_DATA_URL     the latest labelled customers, CSV or Parquet (required)
#   CHALLENGE_DATA_URL    customers with known outcomes the new model will not train on (required)
#   MODEL_NAME            the registered model (default churn)
#   CHURN_SCHEMA_URL      a schema for another table than IBM Telco's (optional)
#   RELOAD_URL, CHURN_ADMIN_KEY   the service to reload after a promotion (optional)
set -eu
: "${MLFLOW_TRACKING_URI:?set MLFLOW_TRACKING_URI}" "${TRAINING_DATA_URL:?set TRAINING_DATA_URL}" \
  "${CHALLENGE_DATA_URL:?set CHALLENGE_DATA_URL}"
name="${MODEL_NAME:-churn}"
ext() { case "$1" in *.parquet) echo parquet ;; *) echo csv ;; esac; }
train="training.$(ext "$TRAINING_DATA_URL")"
holdout="challenge.$(ext "$CHALLENGE_DATA_URL")"
curl -fsSL --retry 3 -o "$train" "$TRAINING_DATA_URL"
curl -fsSL --retry 3 -o "$holdout" "$CHALLENGE_DATA_URL"
schema=""
if [ -n "${CHURN_SCHEMA_URL:-}" ]; then
  curl -fsSL --retry 3 -o schema.toml "$CHURN_SCHEMA_URL"
  schema="--schema schema.toml"
fi
# How the champion did on the newest outcomes: a run beside the model's, never a reason to stop.
churn monitor --model "models:/${name}@champion" --data "$holdout" || echo "retrain: the champion could not be monitored" >&2
# shellcheck disable=SC2086
churn train --data "$train" $schema --output model --register "$name" --json > trained.json
version=$(sed -n 's/.*"registered":\["[^"]*","\([0-9]*\)"\].*/\1/p' trained.json)
[ -n "$version" ] || { echo "retrain: the new model was not registered" >&2; exit 1; }
churn challenge --champion "models:/${name}@champion" --challenger "models:/${name}/${version}" \
  --data "$holdout" --promote --json > challenge.json
cat challenge.json
if grep -q '"winner":"challenger"' challenge.json && [ -n "${RELOAD_URL:-}" ]; then
  curl -fsS --retry 3 -X POST -H "Authorization: Bearer ${CHURN_ADMIN_KEY:-}" "${RELOAD_URL%/}/admin/reload" ||
    echo "retrain: the reload call failed; servers watching the alias follow it within their interval" >&2
fi
