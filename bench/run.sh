#!/usr/bin/env bash
# Prints hactl's benchmark figures: scheduler time for 1,000 and 10,000 resources on 16 and 64
# nodes, what `hactl status` costs an agent for 2,000 and 20,000 primitives, re-election time after a coordinator crash (20 trials), VIP failover time after a crash
# and after a cut link (20 trials each, default and fast timing, and IPv6 at default timing;
# each with the time from the new holder's start to its VIP verified), the idle cost of an agent, and
# how long operators wait for standby, online and config apply, and what one hactl-arbiter costs
# serving 1,000 pairs.
# Needs root (network namespaces) and a build.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bin/hactl-agent ] || scripts/setup.sh
build/bin/scheduler_bench --benchmark_min_time=1
build/bin/status_bench --benchmark_min_time=1
python3 bench/election_bench.py "${TRIALS:-20}"
python3 bench/vip_failover.py "${TRIALS:-20}" --profile default
python3 bench/vip_failover.py "${TRIALS:-20}" --profile fast
python3 bench/vip_failover.py "${TRIALS:-20}" --profile default --family 6
python3 bench/idle_cost.py "${IDLE_SECONDS:-30}"
python3 bench/operator_bench.py "${TRIALS:-20}"
python3 bench/arbiter_bench.py --pairs 1000 --split 0.1 --seconds 30
