#!/usr/bin/env bash
# Installs what is missing, builds hefl, and runs the main job: examples/healthcare_pipeline, the IoT
# healthcare pipeline (three hospitals over mutual TLS, the paper's attacks refused with their
# reasons, the ledger replicas verified, FL and FL + FHE trained on the stored records).
#   scripts/demo.sh [ARGS...]  the pipeline; ARGS go to it, e.g. --quick, or --out DIR for its CSV,
#                              ledger export and plots (default ./hefl-demo-out); see --help
#   scripts/demo.sh --paper [ARGS...]
#                              the paper's accuracy tables instead (examples/paper_tables, every method
#                              side by side: central, FL, FL-poly, FL-CKKS, FL-FHE, FL-FHE-model, seed
#                              73); without ARGS the paper's whole grid (1000/5000/10000 samples x 2/3/5
#                              features), e.g. --paper --samples 1000 --features 5 for one configuration
#                              or --paper --methods FL,FL-FHE --plot results/figures (see --help)
# Progress is shown on the terminal while it runs; the paper's tables end with the seconds each
# method took and what the key holders published, written as CSV to results/paper_tables.csv.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
args=("$@")
program=healthcare_pipeline
if [ "${args[0]:-}" = "--paper" ]; then
  program=paper_tables
  args=("${args[@]:1}")
elif [ "${args[0]:-}" = "--pipeline" ]; then  # the default; kept so older command lines still work
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
