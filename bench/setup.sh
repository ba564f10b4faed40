#!/usr/bin/env bash
# Installs what the benchmarks need beyond scripts/setup.sh: Debian's keepalived, for
# bench/keepalived_compare.py (which starts its own keepalived processes inside the network
# namespaces it creates and never uses the system's service).
# When this script installs keepalived, the package's service is neither started by the install
# (policy-rc.d answers 101, "not allowed", to invoke-rc.d and deb-systemd-invoke) nor left
# enabled (systemctl disable, or update-rc.d without systemd). A keepalived that is already
# installed is left as it is: its service may be one this host really uses.
# Run as root on Debian 12 (bookworm), after scripts/setup.sh. Idempotent.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "bench/setup.sh: must be run as root" >&2
  exit 1
fi

if dpkg-query -W -f='${Status}' keepalived 2>/dev/null | grep -q "install ok installed"; then
  echo "bench/setup.sh: keepalived already installed ($(keepalived --version 2>&1 | head -n1))"
  exit 0
fi

# No service start during the install. A policy-rc.d of our own only if there is none (a
# container image often ships one that already denies every start); removed again on exit.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  trap 'rm -f "$policy"' EXIT
  printf '#!/bin/sh\n# bench/setup.sh: no service starts while it installs packages\nexit 101\n' \
    >"$policy"
  chmod 755 "$policy"
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends keepalived

# The package enables its service (systemd unit and SysV links); undo that.
if [ -d /run/systemd/system ]; then
  systemctl disable --now keepalived.service # systemd is PID 1: disable, and stop if running
elif command -v systemctl >/dev/null 2>&1; then
  systemctl disable keepalived.service # offline: removes the unit's and the SysV links
elif command -v update-rc.d >/dev/null 2>&1; then
  update-rc.d keepalived disable
fi
echo "bench/setup.sh: installed $(keepalived --version 2>&1 | head -n1); its service is disabled"
