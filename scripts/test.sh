#!/usr/bin/env bash
# README command 2: install what the tests need and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

# Tests marked real_data read the real public VBP results beside the clone
# (../shared/real-data, or YAOCAI_REAL_DATA; docs/real-data.md). CI always has
# them: here a missing folder fails the run instead of skipping those tests.
REAL_DATA="${YAOCAI_REAL_DATA:-$PWD/../shared/real-data}"
if [ ! -d "$REAL_DATA/ccpic_datasite" ]; then
  echo "test.sh: real public data not found at $REAL_DATA (set YAOCAI_REAL_DATA); the real_data tests need it" >&2
  exit 1
fi
export YAOCAI_REQUIRE_REAL_DATA=1

./scripts/setup.sh
# The Spark engine's tests (tests/test_spark_engine.py) need the optional
# extra `spark` (dbt-spark, pyspark: built from PyPI's source, ~1 min the
# first time) and Java 17 (below).
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[airflow,test,spark]"

# What the tests need from Debian's packages, installed when missing (sudo
# only when not root); each test fails, never skips, when CI lacks it:
#   chromium, fonts-noto-cjk   the HTML report opened in headless Chromium, Chinese in a CJK font
#   libreoffice-writer-nogui,  enquiry letters converted to PDF and a page rendered
#   poppler-utils              (tests/test_letters.py)
#   postgresql                 Airflow on a real PostgreSQL server (tests/test_airflow_deployed.py)
#   openjdk-17-jre-headless    Apache Spark for `yaocai run --engine spark` (tests/test_spark_engine.py)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
NEEDED=()
command -v chromium >/dev/null 2>&1 || NEEDED+=(chromium)
installed fonts-noto-cjk || NEEDED+=(fonts-noto-cjk)
command -v soffice >/dev/null 2>&1 || NEEDED+=(libreoffice-writer-nogui)
command -v pdftoppm >/dev/null 2>&1 || NEEDED+=(poppler-utils)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || NEEDED+=(postgresql)
java -version 2>&1 | grep -qE 'version "(1[7-9]|2[0-9])' || NEEDED+=(openjdk-17-jre-headless)
if [ "${#NEEDED[@]}" -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  if command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing ${NEEDED[*]} ..."
    $SUDO apt-get update -qq >/dev/null
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${NEEDED[@]}" >/dev/null
  else
    echo "test.sh: ${NEEDED[*]} are needed by the tests; no apt-get here" >&2
  fi
fi

export AIRFLOW_HOME="$PWD"
# Two pytest-xdist workers, a whole test file to each (module fixtures are
# built once), longest files first (tests/conftest.py, with the times
# measured each way): most of a test's time is one process's Python (dbt,
# Airflow, Spark's driver), so a second worker uses the idle core.
# YAOCAI_TEST_WORKERS=0 runs in this process (no xdist); options after the
# command (e.g. -k, -m, -n) are pytest's.
.venv/bin/python -m pytest -n "${YAOCAI_TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder --durations=20 "$@"
