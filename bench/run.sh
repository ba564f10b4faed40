#!/usr/bin/env bash
# Prints hactl's benchmark figures: re-election time after a coordinator crash (20 trials) and
# the idle cost of an agent. Needs root (network namespaces) and a build.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bin/hactl-agent ] || scripts/setup.sh
python3 bench/election_bench.py "${TRIALS:-20}"
python3 bench/idle_cost.py "${IDLE_SECONDS:-30}"
