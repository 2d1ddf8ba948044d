#!/usr/bin/env bash
# The province-scale benchmark (benchmarks/run.py): set up, then generate
# 1 M, 5 M and 20 M purchase lines into /tmp/yaocai-bench (never into the
# repository) and measure the floor, every pipeline step and the pandas peer.
# Results: benchmarks/results/<size>.json and the table in benchmarks/RESULTS.md.
#   ./scripts/bench.sh                       # all three sizes (about an hour on 2 cores)
#   ./scripts/bench.sh --sizes 1M            # one size
#   ./scripts/bench.sh --nightly             # also a nightly delivery on top of the largest
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/python benchmarks/run.py "$@"
