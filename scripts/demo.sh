#!/usr/bin/env bash
# Installs what is missing, builds hefl, and runs the main job: examples/paper_tables, every method
# side by side (central, FL, FL-poly, FL-CKKS, FL-FHE, FL-FHE-model), seed 73.
#   scripts/demo.sh            one configuration of the paper (1000 samples, 5 features), every method
#   scripts/demo.sh --paper    the paper's whole grid (1000/5000/10000 samples x 2/3/5 features);
#                              the encrypted methods (FL-FHE, FL-FHE-model) take most of the time
#   scripts/demo.sh --pipeline [ARGS...]
#                              the IoT healthcare pipeline instead (examples/healthcare_pipeline: three
#                              hospitals over mutual TLS, the attacks refused, the ledger replicas
#                              verified, FL and FL + FHE on the stored records); ARGS go to it, e.g.
#                              --quick or --out DIR (default ./hefl-demo-out)
#   scripts/demo.sh ARGS...    ARGS passed to paper_tables (see --help), e.g.
#                              scripts/demo.sh --methods FL,FL-FHE --samples 1000 --plot results/figures
# Progress (configuration, method, round, elapsed seconds) is shown on the terminal while it runs;
# the tables end with the seconds each method took and what the key holders published.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
args=("$@")
program=paper_tables
if [ "${args[0]:-}" = "--pipeline" ]; then
  program=healthcare_pipeline
  args=("${args[@]:1}")
elif [ ${#args[@]} -eq 0 ]; then
  args=(--samples 1000 --features 5)
elif [ "${args[0]}" = "--paper" ]; then
  args=("${args[@]:1}")
fi
hefl_install_packages
echo "hefl: configuring and building the examples in $HEFL_BUILD_DIR ..."
hefl_build -DHEFL_BUILD_TESTS=OFF -DHEFL_BUILD_BENCHMARKS=OFF -DHEFL_BUILD_EXAMPLES=ON
if [ "$program" = healthcare_pipeline ]; then
  echo "hefl: running healthcare_pipeline ${args[*]} (load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
  exec "$HEFL_BUILD_DIR/examples/healthcare_pipeline" "${args[@]}"
fi
mkdir -p "$HEFL_ROOT/results"
echo "hefl: running paper_tables ${args[*]} (load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
start=$SECONDS
"$HEFL_BUILD_DIR/examples/paper_tables" --csv "$HEFL_ROOT/results/paper_tables.csv" "${args[@]}"
echo "CSV written to results/paper_tables.csv; paper_tables took $((SECONDS - start)) s" \
  "(load average after: $(cut -d' ' -f1-3 /proc/loadavg))"
