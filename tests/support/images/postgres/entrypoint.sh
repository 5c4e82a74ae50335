#!/bin/sh
# First start: a cluster whose superuser is POSTGRES_USER (password POSTGRES_PASSWORD, checked
# with scram-sha-256 over TCP) and a database POSTGRES_DB, as the official image does.
set -eu
user="${POSTGRES_USER:-postgres}"
if [ ! -s "$PGDATA/.churn-initialised" ]; then
  : "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
  # A first start killed half-way starts over.
  find "$PGDATA" -mindepth 1 -delete
  pwfile="$(mktemp)"
  trap 'rm -f "$pwfile"' EXIT
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb --username="$user" --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 -D "$PGDATA" >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  db="${POSTGRES_DB:-$user}"
  if [ "$db" != postgres ]; then
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    createdb --username="$user" "$db"
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  fi
  date >"$PGDATA/.churn-initialised"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*'
