#!/usr/bin/env bash
# Installs what is missing, builds hefl, and runs the main job: the reproduction of the paper's
# accuracy tables (seed 000), plaintext FL against the centralised baseline.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
hefl_install_packages
hefl_build -DHEFL_BUILD_TESTS=OFF -DHEFL_BUILD_BENCHMARKS=OFF -DHEFL_BUILD_EXAMPLES=ON
mkdir -p "$HEFL_ROOT/results"
"$HEFL_BUILD_DIR/examples/paper_tables" --csv "$HEFL_ROOT/results/paper_tables.csv" "$@"
echo "CSV written to results/paper_tables.csv"
