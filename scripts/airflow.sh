#!/usr/bin/env bash
# Start Airflow for the nightly runs, in the foreground, until stopped
# (Ctrl-C, or SIGTERM from systemd: deploy/yaocai-airflow.service). README,
# "Deployment".
#
# Runs the scheduler (LocalExecutor), the dag-processor and the API server +
# UI on 127.0.0.1:${YAOCAI_AIRFLOW_PORT:-8080}. Before that, every time and
# idempotently: the metadata database migrated (SQLite in AIRFLOW_HOME, or
# PostgreSQL from AIRFLOW__DATABASE__SQL_ALCHEMY_CONN), the one-slot pool
# `yaocai_duckdb_writer`, and, the first time only, a JWT secret and the UI
# login in $AIRFLOW_HOME/.yaocai-secrets/ (mode 700, outside git).
#
# AIRFLOW_HOME: kept when set, else the repository (its airflow.cfg).
# When one process exits, all are stopped and the script exits non-zero, so
# a supervisor (systemd) restarts the whole set.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT}"
PORT="${YAOCAI_AIRFLOW_PORT:-8080}"
AIRFLOW="$ROOT/.venv/bin/airflow"
PYTHON="$ROOT/.venv/bin/python"
[ -x "$AIRFLOW" ] || "$ROOT/scripts/setup.sh"
if [ ! -f "$AIRFLOW_HOME/airflow.cfg" ]; then
  echo "airflow.sh: $AIRFLOW_HOME/airflow.cfg is missing (copy the repository's airflow.cfg there)" >&2
  exit 2
fi

# The pipeline's defaults when a run gives no landing/warehouse (dags/yaocai_nightly.py).
export YAOCAI_LANDING="${YAOCAI_LANDING:-$ROOT/demo/landing}"
export YAOCAI_WAREHOUSE="${YAOCAI_WAREHOUSE:-$ROOT/demo/warehouse}"

# --- secrets: made once, never in git -----------------------------------------
SECRETS="$AIRFLOW_HOME/.yaocai-secrets"
mkdir -p "$SECRETS"
chmod 700 "$SECRETS"
if [ ! -s "$SECRETS/jwt_secret" ]; then
  (umask 077; "$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(48))' >"$SECRETS/jwt_secret")
fi
# Every process must sign and check the task tokens with the same secret:
# without it each invents its own and the API server refuses the workers.
AIRFLOW__API_AUTH__JWT_SECRET="$(cat "$SECRETS/jwt_secret")"
export AIRFLOW__API_AUTH__JWT_SECRET
# UI login (Airflow's simple auth manager): user admin, password made once.
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$SECRETS/ui_passwords.json"
if [ ! -s "$SECRETS/ui_passwords.json" ]; then
  (umask 077; "$PYTHON" - "$SECRETS/ui_passwords.json" <<'EOF'
import json, secrets, sys
password = secrets.token_urlsafe(12)
with open(sys.argv[1], "w") as f:
    json.dump({"admin": password}, f)
print(f"airflow.sh: UI login (shown once; kept in {sys.argv[1]}): admin / {password}")
EOF
  )
fi

# --- one port for the API server, the UI and the workers' execution API --------
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="$PORT"
export AIRFLOW__API__BASE_URL="${AIRFLOW__API__BASE_URL:-http://127.0.0.1:$PORT/}"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$PORT/execution/"

"$AIRFLOW" db migrate >/dev/null
if ! "$AIRFLOW" pools get yaocai_duckdb_writer >/dev/null 2>&1; then
  "$AIRFLOW" pools set yaocai_duckdb_writer 1 "DuckDB allows one writer per file" >/dev/null
fi

# --- run until stopped ------------------------------------------------------------
PIDS=()
stop() {
  trap - TERM INT
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 60); do
    alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.5
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap 'echo "airflow.sh: stopping"; stop; exit 0' TERM INT

"$AIRFLOW" api-server --host 127.0.0.1 --port "$PORT" --workers "${YAOCAI_AIRFLOW_API_WORKERS:-1}" &
PIDS+=($!)
# No log server (it would listen on every interface): the API server reads
# the task logs from $AIRFLOW_HOME/logs on this machine.
"$AIRFLOW" scheduler --skip-serve-logs &
PIDS+=($!)
"$AIRFLOW" dag-processor &
PIDS+=($!)
echo "airflow.sh: Airflow on http://127.0.0.1:$PORT (AIRFLOW_HOME=$AIRFLOW_HOME, task logs in" \
     "$AIRFLOW_HOME/logs); stop with Ctrl-C or SIGTERM"

set +e
wait -n "${PIDS[@]}"
status=$?
set -e
echo "airflow.sh: an Airflow process exited (status $status); stopping the others" >&2
stop
exit 1
