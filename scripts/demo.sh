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

# The generator is deterministic: regenerating gives byte-identical files,
# which the ingest manifest recognises, so a second demo run loads nothing new.
.venv/bin/yaocai demo-data --landing "$YAOCAI_LANDING" --lines "$LINES" --as-of "$AS_OF"

LOG="$ROOT/demo/airflow-dags-test.log"
echo "airflow dags test yaocai_nightly (log: $LOG) ..."
if ! .venv/bin/airflow dags test yaocai_nightly "$AS_OF" \
      -c "{\"landing\": \"$YAOCAI_LANDING\", \"warehouse\": \"$YAOCAI_WAREHOUSE\", \"as_of\": \"$AS_OF\"}" >"$LOG" 2>&1 \
   || grep -q "state=failed" "$LOG"; then
  tail -40 "$LOG"
  echo "demo: the nightly DAG failed; the log is $LOG" >&2
  exit 1
fi
echo
echo "Published: $YAOCAI_WAREHOUSE/yaocai.duckdb  (open read-only: duckdb -readonly $YAOCAI_WAREHOUSE/yaocai.duckdb)"
.venv/bin/yaocai summary --warehouse "$YAOCAI_WAREHOUSE"
