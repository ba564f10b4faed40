#!/usr/bin/env bash
# Builds hactl and runs every test: unit, simulation, and the network-namespace integration
# tests (those need root). Pass ctest arguments to narrow it, e.g. scripts/test.sh -L unit
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure --timeout 900 "$@"
