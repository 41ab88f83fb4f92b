#!/usr/bin/env bash
# Regenerates contracts/build/*.json and include/hefl/iot/ledger/ethereum/contract_artifacts.hpp from
# contracts/*.sol with the pinned solc (scripts/eth/install.sh). The outputs are committed; run this
# after changing a contract and commit the result with it.
set -euo pipefail
HEFL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tools="${HEFL_ETH_TOOLS_DIR:-$HEFL_ROOT/.eth-tools}"
"$HEFL_ROOT/scripts/eth/install.sh"
node "$HEFL_ROOT/scripts/eth/compile.js" "$tools" "$HEFL_ROOT"
