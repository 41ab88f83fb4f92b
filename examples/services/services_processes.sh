#!/usr/bin/env bash
# ctest example.services_processes: the hospital services as separate processes on 127.0.0.1.
# usage: services_processes.sh BIN_DIR (where hospital_setup, storage_server, collector_server,
# device_sim and reader are). Every wait is bounded; the temporary directory is removed at exit.
set -u
bin=${1:?usage: services_processes.sh BIN_DIR}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hefl-services-XXXXXX")
spid="" cpid=""
cleanup() {
  # Only the servers this script started, by their pid.
  for p in $spid $cpid; do kill -TERM "$p" 2>/dev/null; done
  for p in $spid $cpid; do wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$tmp"/*.log; do [ -f "$f" ] && { echo "--- $(basename "$f")"; cat "$f"; }; done
  exit 1
}
expect() {  # expect FILE REGEX WHAT
  grep -Eq "$2" "$1" || fail "$3 (no line matching '$2' in $(basename "$1"))"
}
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Two free ports next to each other (a connection attempt to each; at most 20 tries).
base=""
for _ in $(seq 1 20); do
  b=$((20000 + RANDOM % 40000))
  if ! port_in_use "$b" && ! port_in_use $((b + 1)); then base=$b; break; fi
done
[ -n "$base" ] || fail "no free pair of ports found"

h="$tmp/hospital"
"$bin/hospital_setup" "$h" --base-port "$base" > "$tmp/setup.log" 2>&1 || fail "hospital_setup failed"
for k in ca/ca.key.pem storage/key.pem collector/key.pem devices/dev-1/key.pem staff/dr-house/key.pem \
         patients/p-1001.card.pem; do
  [ "$(stat -c %a "$h/$k")" = 600 ] || fail "$k is not mode 0600"
done

"$bin/storage_server" "$h/storage.json" --max-seconds 60 > "$tmp/storage.log" 2>&1 &
spid=$!
"$bin/collector_server" "$h/collector.json" --max-seconds 60 > "$tmp/collector.log" 2>&1 &
cpid=$!
# Wait (at most 30 s) for both to say they listen.
for _ in $(seq 1 300); do
  grep -q " listening " "$tmp/storage.log" && grep -q " listening " "$tmp/collector.log" && break
  kill -0 "$spid" 2>/dev/null || fail "storage_server exited at start"
  kill -0 "$cpid" 2>/dev/null || fail "collector_server exited at start"
  sleep 0.1
done
expect "$tmp/storage.log" " listening .*port=$base " "storage_server did not start listening"
expect "$tmp/collector.log" " listening .*port=$((base + 1)) " "collector_server did not start listening"

# 1. A device sends five records: each acknowledged once durably stored.
"$bin/device_sim" "$h/device-dev-1.json" --records 5 > "$tmp/device.log" 2>&1 || fail "device_sim --records 5 exited $?"
[ "$(grep -c ' stored record_id=' "$tmp/device.log")" = 5 ] || fail "device_sim: expected 5 stored records"

# 2. The patient's doctor reads the five records.
"$bin/reader" "$h/reader-dr-house.json" --patient p-1001 > "$tmp/doctor.log" 2>&1 || fail "reader as doctor exited $?"
[ "$(grep -c ' record id=' "$tmp/doctor.log")" = 5 ] || fail "doctor: expected 5 records"
expect "$tmp/doctor.log" "read patient=p-1001 records=5" "doctor: expected the read summary"

# 3. A nurse of another patient is refused.
"$bin/reader" "$h/reader-nurse-joy.json" --patient p-1001 > "$tmp/nurse.log" 2>&1
rc=$?
[ "$rc" = 3 ] || fail "reader as nurse-joy for p-1001: expected exit 3 (refused), got $rc"
expect "$tmp/nurse.log" "refused patient=p-1001 stage=access reason=not_assigned" "nurse: expected not_assigned"
grep -q ' record id=' "$tmp/nurse.log" && fail "nurse: a record was printed"

# 4. The device's last signed request sent again: the collector refuses it as a replay.
"$bin/device_sim" "$h/device-dev-1.json" --replay > "$tmp/replay.log" 2>&1 || fail "device_sim --replay exited $?"
expect "$tmp/replay.log" "replay .* refused stage=collector reason=replay" "replay: expected reason replay"

# 5. SIGTERM: both stop gracefully and exit 0; storage holds the five records, integrity clean.
kill -TERM "$cpid" "$spid"
for _ in $(seq 1 300); do
  kill -0 "$spid" 2>/dev/null || kill -0 "$cpid" 2>/dev/null || break
  sleep 0.1
done
wait "$cpid"; crc=$?
wait "$spid"; src=$?
cpid="" spid=""
[ "$crc" = 0 ] || fail "collector_server exited $crc"
[ "$src" = 0 ] || fail "storage_server exited $src"
expect "$tmp/collector.log" "stopping reason=SIGTERM" "collector_server: no SIGTERM stop"
expect "$tmp/collector.log" "refused stage=collector reason=replay" "collector_server: replay not logged"
expect "$tmp/collector.log" "stopped acknowledged=5$" "collector_server: expected 5 acknowledged"
expect "$tmp/storage.log" "stopping reason=SIGTERM" "storage_server: no SIGTERM stop"
expect "$tmp/storage.log" "read refused reader=nurse-joy reason=not_assigned" "storage_server: refusal not logged"
expect "$tmp/storage.log" "stopped stored=5 .* records=5 integrity=clean" "storage_server: expected 5 records, integrity clean"
cat "$tmp"/device.log "$tmp"/doctor.log "$tmp"/nurse.log "$tmp"/replay.log "$tmp"/collector.log "$tmp"/storage.log
echo "OK: the services ran as separate processes on 127.0.0.1 (ports $base, $((base + 1)))"
