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

# Enquiry letters (tests/test_letters.py) are converted to PDF with
# LibreOffice and a page rendered with poppler when both are installed
# (about 7 s); install them like the browser above.
if ! command -v soffice >/dev/null 2>&1 || ! command -v pdftoppm >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  if command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing libreoffice-writer-nogui and poppler-utils (letter PDF test) ..."
    $SUDO apt-get update -qq >/dev/null
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libreoffice-writer-nogui poppler-utils >/dev/null
  fi
fi
# Tests marked real_data read the real public VBP results beside the clone
# (../shared/real-data, or YAOCAI_REAL_DATA; docs/real-data.md). CI always has
# them: here a missing folder fails the run instead of skipping those tests.
REAL_DATA="${YAOCAI_REAL_DATA:-$PWD/../shared/real-data}"
if [ ! -d "$REAL_DATA/ccpic_datasite" ]; then
  echo "test.sh: real public data not found at $REAL_DATA (set YAOCAI_REAL_DATA); the real_data tests need it" >&2
  exit 1
fi
export YAOCAI_REQUIRE_REAL_DATA=1
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
