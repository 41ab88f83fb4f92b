#!/usr/bin/env bash
# Installs what is missing, builds hefl, and runs the main job: the reproduction of the paper's
# accuracy tables (seed 000) with examples/paper_tables, every method side by side (central, FL,
# FL-poly, FL-CKKS, FL-FHE, FL-FHE-model). Arguments are passed to paper_tables (see --help), e.g.
#   scripts/demo.sh --methods FL,FL-FHE --samples 1000 --plot results/figures
# Progress (configuration, method, round, elapsed seconds) is shown on the terminal while it runs;
# the tables end with the seconds each method took.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
hefl_install_packages
echo "hefl: configuring and building the examples in $HEFL_BUILD_DIR ..."
hefl_build -DHEFL_BUILD_TESTS=OFF -DHEFL_BUILD_BENCHMARKS=OFF -DHEFL_BUILD_EXAMPLES=ON
mkdir -p "$HEFL_ROOT/results"
echo "hefl: running paper_tables $* (load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
start=$SECONDS
"$HEFL_BUILD_DIR/examples/paper_tables" --csv "$HEFL_ROOT/results/paper_tables.csv" "$@"
echo "CSV written to results/paper_tables.csv; paper_tables took $((SECONDS - start)) s" \
  "(load average after: $(cut -d' ' -f1-3 /proc/loadavg))"
