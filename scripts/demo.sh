#!/usr/bin/env bash
# README command 1: set up, generate the demo data, run the nightly pipeline
# through the real Airflow DAG (`airflow dags test`, no scheduler), and print
# where the publication is and what it says.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
./scripts/setup.sh
export AIRFLOW_HOME="$ROOT"
export YAOCAI_LANDING="${YAOCAI_LANDING:-$ROOT/demo/landing}"
export YAOCAI_WAREHOUSE="${YAOCAI_WAREHOUSE:-$ROOT/demo/warehouse}"
AS_OF="${YAOCAI_DEMO_AS_OF:-2026-10-31}"
LINES="${YAOCAI_DEMO_LINES:-40000}"

.venv/bin/airflow db migrate >/dev/null
.venv/bin/airflow pools set yaocai_duckdb_writer 1 "DuckDB allows one writer per file" >/dev/null

# The generator refuses a landing folder that already holds deliveries (a
# stale delivery would mix into the new one), so a second demo run reuses the
# landing it made the first time (demo_truth.json marks it); the ingest
# manifest then loads nothing twice. Delete demo/ to regenerate.
if [ -f "$YAOCAI_LANDING/demo_truth.json" ]; then
  echo "demo: reusing the demo landing in $YAOCAI_LANDING (delete it to generate anew)"
else
  .venv/bin/yaocai demo-data --landing "$YAOCAI_LANDING" --lines "$LINES" --as-of "$AS_OF"
fi

# The provincial platform (三流合一: orders, deliveries, payments, catalogue)
# is emulated on loopback from the same landing directory (platform_emulator/,
# a free port, a fresh token) and pulled by the DAG's pull_platform task, so
# the reconciliation, settlement and payment tables are not empty.
# YAOCAI_DEMO_SOURCE=files skips it.
SOURCE="${YAOCAI_DEMO_SOURCE:-both}"
if [ "$SOURCE" != "files" ]; then
  mkdir -p "$ROOT/demo"
  EMULATOR_LOG="$ROOT/demo/platform-emulator.log"
  YAOCAI_PLATFORM_TOKEN="$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(24))')"
  export YAOCAI_PLATFORM_TOKEN
  .venv/bin/python -m platform_emulator --landing "$YAOCAI_LANDING" --as-of "$AS_OF" >"$EMULATOR_LOG" 2>&1 &
  EMULATOR_PID=$!
  trap 'kill "$EMULATOR_PID" 2>/dev/null || true' EXIT
  echo "platform emulator: starting (log: $EMULATOR_LOG) ..."
  for _ in $(seq 1 300); do
    grep -q "^platform emulator: http" "$EMULATOR_LOG" 2>/dev/null && break
    kill -0 "$EMULATOR_PID" 2>/dev/null || { cat "$EMULATOR_LOG" >&2; echo "demo: the platform emulator did not start" >&2; exit 1; }
    sleep 1
  done
  YAOCAI_PLATFORM_URL="$(grep -o 'http://127.0.0.1:[0-9]*/api/v1' "$EMULATOR_LOG" | head -1)"
  [ -n "$YAOCAI_PLATFORM_URL" ] || { echo "demo: the platform emulator did not start in time" >&2; exit 1; }
  export YAOCAI_PLATFORM_URL
  head -1 "$EMULATOR_LOG"
fi

LOG="$ROOT/demo/airflow-dags-test.log"
echo "airflow dags test yaocai_nightly (log: $LOG) ..."
if ! .venv/bin/airflow dags test yaocai_nightly "$AS_OF" \
      -c "{\"landing\": \"$YAOCAI_LANDING\", \"warehouse\": \"$YAOCAI_WAREHOUSE\", \"as_of\": \"$AS_OF\", \"source\": \"$SOURCE\"}" >"$LOG" 2>&1 \
   || grep -q "state=failed" "$LOG"; then
  tail -40 "$LOG"
  echo "demo: the nightly DAG failed; the log is $LOG" >&2
  exit 1
fi
echo
echo "Published: $YAOCAI_WAREHOUSE/yaocai.duckdb  (open read-only: duckdb -readonly $YAOCAI_WAREHOUSE/yaocai.duckdb)"
.venv/bin/yaocai summary --warehouse "$YAOCAI_WAREHOUSE"
