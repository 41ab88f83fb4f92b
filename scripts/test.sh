#!/usr/bin/env bash
# Installs what is missing, builds hefl with its tests, and runs the whole suite through ctest; then
# builds the libFuzzer harnesses with clang (build-fuzz) and runs each over its seed corpus only
# (ctest -R '^fuzz\.', a regression run, not a search; scripts/fuzz.sh searches).
#   scripts/test.sh [ctest args]       the suite, then the fuzz regression run
#   scripts/test.sh --sanitize         every test program under ASan + UBSan (build-asan), and the
#                                      thread pool's tests under TSan (build-tsan)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
sanitize=0
if [ "${1:-}" = "--sanitize" ]; then
  sanitize=1
  shift
fi
hefl_install_packages

if [ "$sanitize" -eq 0 ]; then
  hefl_build -DHEFL_BUILD_TESTS=ON -DHEFL_BUILD_BENCHMARKS=ON -DHEFL_BUILD_EXAMPLES=ON
  (cd "$HEFL_BUILD_DIR" && ctest --output-on-failure --parallel "$HEFL_JOBS" --timeout 900 "$@")
  hefl_build_fuzzers
  cd "$HEFL_FUZZ_BUILD_DIR"
  ctest --output-on-failure --parallel "$HEFL_JOBS" -R '^fuzz\.'
  exit 0
fi

# ASan + UBSan: every runtime test (compile-fail and packaging tests only exercise the build).
asan_dir="${HEFL_ASAN_BUILD_DIR:-$HEFL_ROOT/build-asan}"
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# ccache, when installed, makes a rerun after a small change cheap (the sanitizer build is long).
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$HEFL_ROOT" -B "$asan_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEFL_BUILD_TESTS=ON "${launcher[@]}" \
  -DHEFL_BUILD_BENCHMARKS=OFF -DHEFL_BUILD_EXAMPLES=OFF -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags"
# Every test program (unit, IoT, net, services); compile-fail and package tests are not run here.
cmake --build "$asan_dir" --parallel "$HEFL_JOBS"
(cd "$asan_dir" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure --parallel "$HEFL_JOBS" --timeout 1800 -E '^(compile_fail|package)\.' "$@")

# TSan: the thread pool (parallel_test.cpp) and CKKS run from several threads (ckks_parallel_test.cpp).
tsan_dir="${HEFL_TSAN_BUILD_DIR:-$HEFL_ROOT/build-tsan}"
mkdir -p "$tsan_dir"
# shellcheck disable=SC2046
${CXX:-g++} -std=c++20 -O1 -g -fsanitize=thread -pthread -I"$HEFL_ROOT/include" $(pkg-config --cflags eigen3) \
  "$HEFL_ROOT/tests/main.cpp" "$HEFL_ROOT/tests/unit/parallel_test.cpp" "$HEFL_ROOT/tests/unit/ckks_parallel_test.cpp" \
  -o "$tsan_dir/parallel_tests"
# TSan needs the classic address-space layout on kernels with high mmap randomisation.
run=()
command -v setarch >/dev/null 2>&1 && run=(setarch "$(uname -m)" -R)
TSAN_OPTIONS=halt_on_error=1 "${run[@]}" "$tsan_dir/parallel_tests"
