#!/usr/bin/env bash
# Starts or stops a local ganache for manual runs and benchmarks (tests use hefl::testing::ganache_process).
#   scripts/eth/ganache.sh start [block_time_s]   prints "<port> <pid>" once the node answers (≤ 90 s)
#   scripts/eth/ganache.sh stop <pid>             SIGTERM, then SIGKILL after 10 s
set -euo pipefail
HEFL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tools="${HEFL_ETH_TOOLS_DIR:-$HEFL_ROOT/.eth-tools}"
case "${1:-}" in
start)
  cli="$tools/node_modules/ganache/dist/node/cli.js"
  [ -f "$cli" ] || { echo "ganache not installed: run scripts/eth/install.sh" >&2; exit 1; }
  port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
  log="${TMPDIR:-/tmp}/hefl-ganache-$port.log"
  node "$cli" --server.host 127.0.0.1 --server.port "$port" --wallet.deterministic --chain.chainId 1337 \
    --miner.blockTime "${2:-0}" </dev/null >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 900); do
    if node -e 'require("http").request({host: "127.0.0.1", port: +process.argv[1], method: "POST", timeout: 2000,
          headers: {"Content-Type": "application/json"}}, (r) => process.exit(r.statusCode === 200 ? 0 : 1))
          .on("error", () => process.exit(1)).end(JSON.stringify({jsonrpc: "2.0", id: 1, method: "eth_chainId", params: []}))' \
         "$port" 2>/dev/null; then
      echo "$port $pid"
      exit 0
    fi
    kill -0 "$pid" 2>/dev/null || { echo "ganache exited, see $log" >&2; exit 1; }
    sleep 0.1
  done
  kill "$pid"; echo "ganache did not answer within 90 s, see $log" >&2; exit 1 ;;
stop)
  pid="${2:?usage: ganache.sh stop <pid>}"
  kill "$pid" 2>/dev/null || exit 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true ;;
*) echo "usage: $0 start [block_time_s] | stop <pid>" >&2; exit 2 ;;
esac
