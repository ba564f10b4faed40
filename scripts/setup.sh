#!/usr/bin/env bash
# Installs every Debian package hactl's build, tests, demo and benchmarks need, then builds.
# Run as root on Debian 12 (bookworm). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # build
  build-essential cmake ninja-build pkg-config clang-format
  libuv1-dev libyaml-cpp-dev libsdbus-c++-dev libsystemd-dev libspdlog-dev libfmt-dev
  libsodium-dev libcli11-dev nlohmann-json3-dev libnl-route-3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # the fuzz targets (tests/fuzz, scripts/fuzz.sh): clang with libFuzzer and the sanitizer
  # runtimes; 19, as clang-14 cannot compile libstdc++ 12's std::expected
  clang-19 libclang-rt-19-dev
  # tests, demo and benchmarks: network namespaces, a client, fault injection
  iproute2 iputils-arping iputils-ping nftables procps psmisc util-linux python3
  # the JSON Schema check of `hactl status --json` (tests/integration/test_status_schema.py)
  python3-jsonschema
  # a real systemd (PID 1 of a private namespace) and its D-Bus for the systemd class tests
  systemd dbus
  # real OCF resource agents (Dummy, IPaddr2, Stateful) for the resource tests
  resource-agents
  # real fence agents (fence_dummy, and the stdin interface every fence_* shares) for the
  # fencing tests (tests/integration/test_fencing.py)
  fence-agents
  # the load test (tests/integration/test_load.py): stress-ng saturates CPU and disk in a node's
  # namespace; python3-fusepy runs slowfs.py, the state directory with a slow fsync
  stress-ng python3-fusepy
  # real replicated databases under Debian's promotable agents (ocf:heartbeat:pgsql, redis):
  # PostgreSQL 15, Redis, and a client that records each acknowledged write
  # (tests/integration/test_pgsql.py, test_redis.py, dbclient.py, bench/replication_failover.py)
  postgresql-15 python3-psycopg2 redis-server python3-redis
  # Pacemaker's own scheduler, the reference of the differential test (crm_simulate, cibadmin,
  # crm_attribute, crm_resource build and simulate a CIB offline; tests/differential/,
  # tests/integration/test_pcmk_diff.py). It pulls in pacemaker (its daemons, which no test
  # starts) and the ocf:pacemaker agents; hactl's agents get hactl's own crm_* (--tools-dir).
  pacemaker-cli-utils
  # xmllint reads hactl-crm's crm_mon and cibadmin XML as galera's agent does
  # (tests/unit/crm_compat_binary_test.cpp)
  libxml2-utils
  # the packages: .deb (dpkg-dev's dpkg-shlibdeps) and .rpm (rpmbuild) built by CPack, checked
  # by lintian and rpm, the man pages by man-db, the bash completion loaded as bash-completion
  # would (tests/integration/test_packaging.py, test_manpages.py, test_completion.py)
  dpkg-dev rpm lintian man-db bash-completion
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"
echo "setup: built build/bin/hactl-agent and build/bin/hactl"
