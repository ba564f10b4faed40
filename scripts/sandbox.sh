#!/usr/bin/env bash
# A 3-node hactl cluster in network namespaces, left running for the README's walkthrough.
# Needs root and a build (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bin/hactl-agent ] || scripts/setup.sh
exec python3 scripts/sandbox.py "$@"
