#!/usr/bin/env bash
# Installs what is missing, builds hefl with its tests, and runs the whole suite through ctest.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
hefl_install_packages
hefl_build -DHEFL_BUILD_TESTS=ON -DHEFL_BUILD_BENCHMARKS=ON -DHEFL_BUILD_EXAMPLES=ON
cd "$HEFL_BUILD_DIR"
ctest --output-on-failure --parallel "$HEFL_JOBS" --timeout 900 "$@"
