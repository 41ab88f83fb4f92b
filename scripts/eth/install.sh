#!/usr/bin/env bash
# Installs the pinned Ethereum tools (ganache, solc) from the npm registry into a folder that is not
# committed: ${HEFL_ETH_TOOLS_DIR:-<repo>/.eth-tools}. Idempotent: does nothing when the pinned
# versions are already there. Needs node and npm (Debian's nodejs and npm, installed by common.sh).
set -euo pipefail
HEFL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tools="${HEFL_ETH_TOOLS_DIR:-$HEFL_ROOT/.eth-tools}"
# Pinned: ganache 7.9 supports EVM versions up to shanghai only, so contracts are compiled for london.
ganache_version=7.9.2
solc_version=0.8.24
have() { [ -f "$tools/node_modules/$1/package.json" ] &&
  node -e "process.exit(require('$tools/node_modules/$1/package.json').version === '$2' ? 0 : 1)"; }
if have ganache "$ganache_version" && have solc "$solc_version"; then
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "hefl: npm not found (Debian package npm)" >&2; exit 1; }
mkdir -p "$tools"
[ -f "$tools/package.json" ] || echo '{"name":"hefl-eth-tools","private":true}' > "$tools/package.json"
echo "hefl: installing ganache@$ganache_version and solc@$solc_version into $tools"
npm install --prefix "$tools" --no-audit --no-fund --save-exact "ganache@$ganache_version" "solc@$solc_version"
