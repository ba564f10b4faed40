#!/usr/bin/env bash
# Runs the hactl demo: a local 3-node cluster in network namespaces, a coordinator crash and
# a new election. Needs root and a build (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bin/hactl-agent ] || scripts/setup.sh
exec python3 scripts/demo.py "$@"
