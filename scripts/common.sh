# Shared by scripts/demo.sh and scripts/test.sh: install what is missing, configure, build.
# Sourced, not run. Works as root or through sudo on a fresh Debian 12 machine.
set -euo pipefail

HEFL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HEFL_BUILD_DIR="${HEFL_BUILD_DIR:-$HEFL_ROOT/build}"
HEFL_JOBS="${HEFL_JOBS:-$(nproc 2>/dev/null || echo 2)}"

# Every Debian package hefl needs to build, test, benchmark and run its examples.
HEFL_PACKAGES=(
  build-essential cmake pkg-config git ca-certificates
  libeigen3-dev libbotan-2-dev catch2 libbenchmark-dev
  nlohmann-json3-dev libasio-dev libsqlite3-dev
  clang libfuzzer-14-dev
  gnuplot-nox
  nodejs libcpp-httplib-dev
)
# Debian's npm, unless the installed Node.js ships its own (NodeSource's nodejs conflicts with it).
command -v npm >/dev/null 2>&1 || HEFL_PACKAGES+=(npm)

hefl_install_packages() {
  local missing=()
  for p in "${HEFL_PACKAGES[@]}"; do
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
      missing+=("$p")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && { hefl_install_eth_tools; return 0; }
  echo "hefl: installing missing packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "hefl: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  hefl_install_eth_tools
}

# Pinned ganache and solc from npm into the uncommitted .eth-tools (docs/ethereum.md); without them
# the Ethereum tests print SKIPPED.
hefl_install_eth_tools() {
  "$HEFL_ROOT/scripts/eth/install.sh" ||
    echo "hefl: WARNING: could not install ganache and solc from npm; the Ethereum tests will be skipped" >&2
}

hefl_build() {
  cmake -S "$HEFL_ROOT" -B "$HEFL_BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
  cmake --build "$HEFL_BUILD_DIR" --parallel "$HEFL_JOBS"
}

# The libFuzzer harnesses (tests/fuzz, docs/fuzzing.md): their own clang build directory.
HEFL_FUZZ_BUILD_DIR="${HEFL_FUZZ_BUILD_DIR:-$HEFL_ROOT/build-fuzz}"
HEFL_FUZZERS=(identity cert_chain request rules ledger record ckks csv arff block_wire wire)

hefl_build_fuzzers() {
  local cxx
  cxx="$(command -v clang++ || command -v clang++-14)"
  cmake -S "$HEFL_ROOT" -B "$HEFL_FUZZ_BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" \
    -DHEFL_BUILD_FUZZERS=ON -DHEFL_BUILD_TESTS=OFF -DHEFL_BUILD_BENCHMARKS=OFF -DHEFL_BUILD_EXAMPLES=OFF
  # The fuzz build holds only the harnesses and the corpus generator: build them all, in parallel.
  cmake --build "$HEFL_FUZZ_BUILD_DIR" --parallel "$HEFL_JOBS"
}
