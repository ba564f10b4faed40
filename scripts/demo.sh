#!/usr/bin/env bash
# Runs the hactl demo: a local 3-node cluster in network namespaces with a vip + Dummy group;
# a coordinator crash and a new election, then a crash of the group's node and its failover.
# Needs root and a build (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bin/hactl-agent ] || scripts/setup.sh
exec python3 scripts/demo.py "$@"
