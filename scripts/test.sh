#!/usr/bin/env bash
# README command 2: install what the tests need and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

# The HTML report's browser test opens it in headless Chromium and needs a
# CJK font to render Chinese. Install both when missing (Debian/Ubuntu; sudo
# only when not root). The test fails, never skips, without them.
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
if ! command -v chromium >/dev/null 2>&1 || ! installed fonts-noto-cjk; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  if command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing chromium and fonts-noto-cjk (browser test of the HTML report) ..."
    $SUDO apt-get update -qq >/dev/null
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null
  else
    echo "test.sh: chromium and fonts-noto-cjk are needed for the report's browser test; no apt-get here" >&2
  fi
fi

# tests/test_airflow_deployed.py runs the DAG on a real PostgreSQL server
# (initdb/pg_ctl from Debian's postgresql package, in a temporary directory).
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  if command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing postgresql (Airflow on PostgreSQL test) ..."
    $SUDO apt-get update -qq >/dev/null
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  else
    echo "test.sh: postgresql is needed for the Airflow-on-PostgreSQL test; no apt-get here" >&2
  fi
fi

export AIRFLOW_HOME="$PWD"
.venv/bin/python -m pytest "$@"
