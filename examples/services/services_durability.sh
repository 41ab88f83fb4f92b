#!/usr/bin/env bash
# ctest example.services_durability: kill -9 of the storage server, then of the collector, in the
# middle of a burst of N devices (each one signed record, resent with the same bytes until it gets a
# definite answer), then restarts; at the end every acknowledged record is stored exactly once, the
# storage node's ledger verifies and its integrity scan (rows re-verified and reconciled with the
# ledger) is clean.
# usage: services_durability.sh BIN_DIR [DEVICES (default 200)] [CONCURRENCY (default 32)]
# Every wait is bounded; only the processes this script started are signalled, by their pid; the
# temporary directory is removed at exit.
set -u
bin=${1:?usage: services_durability.sh BIN_DIR [DEVICES] [CONCURRENCY]}
n=${2:-200}
conc=${3:-32}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hefl-durable-XXXXXX")
spid="" cpid="" bpid="" slog=""
cleanup() {
  for p in $bpid $cpid $spid; do kill -KILL "$p" 2>/dev/null; done
  for p in $bpid $cpid $spid; do wait "$p" 2>/dev/null; done
  [ -n "${HEFL_KEEP_TMP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$tmp"/*.log; do [ -f "$f" ] && { echo "--- $(basename "$f") (last 40 lines)"; tail -n 40 "$f"; }; done
  exit 1
}
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
base=""
for _ in $(seq 1 20); do
  b=$((20000 + RANDOM % 40000))
  if ! port_in_use "$b" && ! port_in_use $((b + 1)); then base=$b; break; fi
done
[ -n "$base" ] || fail "no free pair of ports found"

h="$tmp/hospital"
"$bin/hospital_setup" "$h" --base-port "$base" --devices "$n" > "$tmp/setup.log" 2>&1 || fail "hospital_setup failed"

run=0
start_storage() {
  run=$((run + 1))
  slog="$tmp/storage.$run.log"
  "$bin/storage_server" "$h/storage.json" --max-seconds 300 > "$slog" 2>&1 &
  spid=$!
  for _ in $(seq 1 600); do  # at most 60 s
    grep -q " listening " "$slog" && return 0
    kill -0 "$spid" 2>/dev/null || fail "storage_server exited at start (run $run)"
    sleep 0.1
  done
  fail "storage_server did not listen within 60 s (run $run)"
}
start_collector() {
  run=$((run + 1))
  "$bin/collector_server" "$h/collector.json" --max-seconds 300 > "$tmp/collector.$run.log" 2>&1 &
  cpid=$!
  for _ in $(seq 1 600); do
    grep -q " listening " "$tmp/collector.$run.log" && return 0
    kill -0 "$cpid" 2>/dev/null || fail "collector_server exited at start (run $run)"
    sleep 0.1
  done
  fail "collector_server did not listen within 60 s (run $run)"
}
acked_lines() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }
# wait_acked FILE COUNT: until FILE has COUNT lines or the burst ended (at most 120 s).
wait_acked() {
  for _ in $(seq 1 2400); do
    [ "$(acked_lines "$1")" -ge "$2" ] && return 0
    kill -0 "$bpid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

start_storage
start_collector

# One burst: all N devices, killing SERVER (storage or collector) with SIGKILL once a quarter of them
# are acknowledged, restarting it at once. Each device's acknowledgement goes to acked.PHASE.
burst() {  # burst PHASE SERVER SEED
  local phase=$1 victim=$2 seed=$3 acked="$tmp/acked.$1" at_kill
  "$bin/device_sim" --burst "$h" --devices "$n" --concurrency "$conc" --seed "$seed" --acked "$acked" \
    --max-seconds 150 > "$tmp/burst.$phase.log" 2>&1 &
  bpid=$!
  wait_acked "$acked" $((n / 4)) || fail "burst $phase: a quarter of the devices was never acknowledged"
  if [ "$victim" = storage ]; then kill -KILL "$spid"; wait "$spid" 2>/dev/null; spid=""
  else kill -KILL "$cpid"; wait "$cpid" 2>/dev/null; cpid=""; fi
  at_kill=$(acked_lines "$acked")
  [ "$at_kill" -lt "$n" ] || fail "burst $phase: the burst ended before the $victim was killed"
  echo "burst $phase: kill -9 $victim with $at_kill of $n acknowledged"
  if [ "$victim" = storage ]; then start_storage; else start_collector; fi
  wait "$bpid"; brc=$?
  bpid=""
  [ "$brc" = 0 ] || fail "burst $phase: device_sim exited $brc (not every device acknowledged)"
  grep " burst devices=" "$tmp/burst.$phase.log"
  grep -q " burst devices=$n acknowledged=$n .* resends=[1-9]" "$tmp/burst.$phase.log" ||
    fail "burst $phase: expected $n acknowledged with resends after the kill"
}
burst 1 storage 1
burst 2 collector 2

# Stop both gracefully; storage checks its ledger and integrity at stop.
kill -TERM "$cpid"; wait "$cpid"; crc=$?; cpid=""
[ "$crc" = 0 ] || fail "collector_server exited $crc"
kill -TERM "$spid"; wait "$spid"; src=$?; spid=""
grep " stopped " "$slog"
[ "$src" = 0 ] || fail "storage_server exited $src at the final stop"
grep -q " stopped .* integrity=clean .* ledger=verified" "$slog" || fail "storage: integrity or ledger not clean"

height=$(sed -n 's/.* stopped .* ledger_height=\([0-9]*\).*/\1/p' "$slog")
# Everything stored, read back by the patients' doctor and nurse (a fresh storage process, which
# reloads and verifies the ledger it wrote: storage/ledger.sqlite).
start_storage
grep -q " listening .* ledger_loaded_height=$height" "$slog" || fail "storage (fresh start): ledger not reloaded at height $height"
"$bin/reader" "$h/reader-dr-house.json" --patient p-1001 > "$tmp/read.1.log" 2>&1 || fail "reader p-1001 exited $?"
"$bin/reader" "$h/reader-nurse-joy.json" --patient p-1002 > "$tmp/read.2.log" 2>&1 || fail "reader p-1002 exited $?"
kill -TERM "$spid"; wait "$spid"; src=$?; spid=""
[ "$src" = 0 ] || fail "storage_server exited $src after the reads"
grep -q " stopped .* integrity=clean .* ledger=verified" "$slog" || fail "storage (fresh start): integrity or ledger not clean"
cat "$tmp"/read.1.log "$tmp"/read.2.log |
  sed -n 's/.* record id=\([0-9]*\) .* device=urn:epc:id:sgtin:\([0-9.]*\) .* nonce=\([0-9a-f]*\).*/\1 \2 \3/p' > "$tmp/stored"
stored=$(wc -l < "$tmp/stored")
dup=$(cut -d' ' -f3 "$tmp/stored" | sort | uniq -d | wc -l)                 # a nonce stored twice
cat "$tmp"/acked.1 "$tmp"/acked.2 | awk '{print $4, $3}' | sort -u > "$tmp/acked"  # record id, nonce
acked=$(wc -l < "$tmp/acked")
awk '{print $1, $3}' "$tmp/stored" | sort -u > "$tmp/stored.pairs"
lost=$(comm -23 "$tmp/acked" "$tmp/stored.pairs" | wc -l)              # acknowledged, not stored as acknowledged
ids_acked=$(cut -d' ' -f1 "$tmp/acked" | sort -u | wc -l)
echo "devices=$n bursts=2 acknowledged=$acked stored=$stored lost=$lost duplicated=$dup"
[ "$acked" = $((2 * n)) ] || fail "expected $((2 * n)) acknowledged (device, nonce) pairs, got $acked"
[ "$ids_acked" = "$acked" ] || fail "two acknowledgements name the same record id"
[ "$lost" = 0 ] || fail "$lost acknowledged record(s) lost"
[ "$dup" = 0 ] || fail "$dup record(s) stored twice"
[ "$stored" = $((2 * n)) ] || fail "expected $((2 * n)) stored records, got $stored"
grep -h "retry answered\|retry forwarded" "$tmp"/storage.*.log "$tmp"/collector.*.log | wc -l | sed 's/^/retry log lines: /'
echo "OK: kill -9 of storage and of the collector mid-burst: 0 acknowledged records lost, 0 duplicated, ledger verified, integrity clean"
