#!/usr/bin/env bash
# README command 2: install what the tests need and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export AIRFLOW_HOME="$PWD"
.venv/bin/python -m pytest "$@"
