#!/usr/bin/env bash
# Fuzzes the datagram decoder, the YAML loader and the control-request parser with
# libFuzzer under ASan and UBSan: builds build-fuzz (clang-19, HACTL_FUZZ=ON), then runs each
# target in turn for SECONDS (default 3600) at nice 19, from its corpus in tests/fuzz/TARGET/.
# Prints per target the executions, executions/s, coverage and what it found; exits 1 if any
# target failed. New inputs that add coverage are merged into tests/fuzz/TARGET/ (review and
# commit them); a failing input is left in build-fuzz/runs/ (see the summary).
#   scripts/fuzz.sh [SECONDS] [TARGET...]      e.g. scripts/fuzz.sh 600 config
# An input running over HACTL_FUZZ_TIMEOUT seconds (default 10, wall time) fails the run (a
# "slow unit" over it too, kept in build-fuzz/runs/): at
# nice 19 on a loaded machine, raise it (a 3.6 KB YAML input that parses in 0.13 s was reported
# as a 10 s timeout while a build ran beside it), and replay what it reports before believing it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-3600}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(datagram config control_request)

if [ ! -f build-fuzz/build.ninja ]; then
  CXX=clang++-19 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHACTL_FUZZ=ON
fi
cmake --build build-fuzz -j"${HACTL_FUZZ_JOBS:-$(nproc)}" $(printf -- '--target fuzz_%s ' "${targets[@]}")

runs=build-fuzz/runs/$(date +%Y%m%d-%H%M%S)
mkdir -p "$runs"
failed=0
for t in "${targets[@]}"; do
  grown=build-fuzz/corpus/$t  # what this machine's runs grew; merged into tests/fuzz/$t below
  mkdir -p "$grown"
  rc=0
  nice -n "${HACTL_FUZZ_NICE:-19}" "build-fuzz/bin/fuzz_$t" -max_total_time="$seconds" \
    -timeout="${HACTL_FUZZ_TIMEOUT:-10}" -report_slow_units="${HACTL_FUZZ_TIMEOUT:-10}" \
    -print_final_stats=1 -artifact_prefix="$runs/$t-" "$grown" "tests/fuzz/$t" \
    >"$runs/$t.log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$runs/$t.log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$runs/$t.log")
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9/]*[a-zA-Z]*' "$runs/$t.log" | tail -1)
  seed=$(sed -n 's/.*Seed: \([0-9]*\).*/\1/p' "$runs/$t.log" | head -1)
  found=$(ls "$runs/$t-"* 2>/dev/null || true)
  echo "fuzz: $t: ${execs:-?} executions, ${rate:-?}/s in ${seconds}s, ${cov:-no coverage line}," \
    "seed ${seed:-?}, log $runs/$t.log"
  if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
    failed=1
    echo "fuzz: $t FAILED (exit $rc):"
    grep -E 'ERROR:|hactl fuzz:|runtime error:|assertion failed|SUMMARY:' "$runs/$t.log" | head -5
    for f in $found; do
      echo "  input: $f (replay: build-fuzz/bin/fuzz_$t $f; once fixed, keep it in tests/fuzz/$t/)"
    done
    continue
  fi
  # Only the fewest inputs that reach the new edges (no hit counts: -use_counters=0) join the
  # committed corpus, which stays small; the whole grown corpus stays in build-fuzz for the
  # next local run.
  before=$(ls "tests/fuzz/$t" | wc -l)
  "build-fuzz/bin/fuzz_$t" -set_cover_merge=1 -use_counters=0 "tests/fuzz/$t" "$grown" \
    >"$runs/$t-merge.log" 2>&1
  echo "fuzz: $t: $(($(ls "tests/fuzz/$t" | wc -l) - before)) new inputs merged into tests/fuzz/$t"
done
exit "$failed"
