#!/usr/bin/env bash
# Builds the .deb and the .rpm (CPack) from a fresh build into build/packages/.
# Run after scripts/setup.sh. Install on Debian 12 with: apt install ./build/packages/hactl_*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build build -j"$(nproc)"
rm -rf build/packages
cpack --config build/CPackConfig.cmake -B build/packages
rm -rf build/packages/_CPack_Packages
ls -l build/packages
