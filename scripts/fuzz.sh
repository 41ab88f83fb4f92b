#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz (clang, ASan + UBSan) and runs each for the given
# number of seconds (default 60), one after the other, starting from a scratch copy of its seed corpus
# (tests/fuzz/corpus is never written). Prints executions, exec/s and crashes per harness.
#   scripts/fuzz.sh [seconds] [harness...]
# HEFL_FUZZ_RUNS=N stops each harness after N executions (or after [seconds], whichever comes first),
# e.g. HEFL_FUZZ_RUNS=10000000 scripts/fuzz.sh 36000 for the 10-million-execution target.
# ASan records two frames of each allocation's stack unless ASAN_OPTIONS says otherwise: the default
# (30) made its stack depot take 36 % of cert_chain's CPU and grow its RSS (perf, session 9). Two is
# the least that keeps LeakSanitizer's reports (at 0 or 1 a planted leak went unreported); re-run a
# finding with ASAN_OPTIONS=malloc_context_size=30 for the whole allocation stack.
export ASAN_OPTIONS="${ASAN_OPTIONS:-malloc_context_size=2}"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
seconds="${1:-60}"
shift || true
hefl_install_packages
harnesses=("$@")
[ ${#harnesses[@]} -eq 0 ] && harnesses=("${HEFL_FUZZERS[@]}")
hefl_build_fuzzers

runs="$HEFL_FUZZ_BUILD_DIR/fuzz-runs"
rows=()
status=0
for h in "${harnesses[@]}"; do
  work="$runs/$h"
  rm -rf "$work" && mkdir -p "$work/corpus" "$work/artifacts"
  log="$work/log.txt"
  echo "fuzz: $h for ${seconds}s (log: $log)"
  set +e
  runs_flag=()
  [ -n "${HEFL_FUZZ_RUNS:-}" ] && runs_flag=(-runs="$HEFL_FUZZ_RUNS")
  "$HEFL_FUZZ_BUILD_DIR/tests/fuzz/fuzz_$h" -max_total_time="$seconds" "${runs_flag[@]}" -print_final_stats=1 -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="$work/artifacts/" "$work/corpus" "$HEFL_ROOT/tests/fuzz/corpus/$h" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  crashes=$(find "$work/artifacts" -type f | wc -l)
  [ "$rc" -ne 0 ] && status=1
  rows+=("$(printf '%-12s %14s %10s %8s %4s' "$h" "${execs:-?}" "${rate:-?}" "$crashes" "$rc")")
done
printf '\n%-12s %14s %10s %8s %4s\n' harness executions exec/s crashes exit
printf '%s\n' "${rows[@]}"
exit "$status"
