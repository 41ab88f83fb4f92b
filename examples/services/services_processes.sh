#!/usr/bin/env bash
# ctest example.services_processes: the hospital services as separate processes on 127.0.0.1.
# usage: services_processes.sh BIN_DIR (where hospital_setup, storage_server, collector_server,
# device_sim and reader are). Every wait is bounded; the temporary directory is removed at exit.
set -u
bin=${1:?usage: services_processes.sh BIN_DIR}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hefl-services-XXXXXX")
spid="" cpid="" dpid=""
cleanup() {
  # Only the servers this script started, by their pid.
  for p in $dpid $spid $cpid; do kill -TERM "$p" 2>/dev/null; done
  for p in $dpid $spid $cpid; do wait "$p" 2>/dev/null; done
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

# 4. The device's last signed request sent again (a retry after a lost acknowledgement): answered
#    with the id of the record already stored, and not stored twice (the doctor still reads 5).
"$bin/device_sim" "$h/device-dev-1.json" --replay > "$tmp/replay.log" 2>&1 || fail "device_sim --replay exited $?"
last_id=$(sed -n 's/.*record 5 .* stored record_id=\([0-9]*\) .*/\1/p' "$tmp/device.log")
[ -n "$last_id" ] || fail "device_sim: no id for record 5"
expect "$tmp/replay.log" "replay .* stored record_id=$last_id .*already_stored=1" "replay: expected the stored id $last_id, already_stored"
"$bin/reader" "$h/reader-dr-house.json" --patient p-1001 > "$tmp/doctor2.log" 2>&1 || fail "reader as doctor exited $?"
expect "$tmp/doctor2.log" "read patient=p-1001 records=5" "replay: the doctor should still read 5 records"

# 5. A device of a foreign CA with the same hospital name does not get past the TLS handshake.
"$bin/hospital_setup" "$tmp/rogue" --base-port "$base" > /dev/null 2>&1 || fail "hospital_setup (rogue) failed"
"$bin/device_sim" "$tmp/rogue/device-dev-1.json" --records 1 > "$tmp/rogue.log" 2>&1
rc=$?
[ "$rc" = 1 ] || fail "foreign-CA device: expected exit 1, got $rc"
expect "$tmp/rogue.log" "error=.*certificate" "foreign-CA device: expected a certificate error"
grep -q ' stored ' "$tmp/rogue.log" && fail "foreign-CA device: a record was stored"
for _ in $(seq 1 50); do grep -q "refused stage=handshake" "$tmp/collector.log" && break; sleep 0.1; done
expect "$tmp/collector.log" "refused stage=handshake" "collector_server: handshake refusal not logged"

# 6. SIGTERM to the collector while a second device streams: every record acknowledged to the
#    device is stored (its nurse reads each acknowledged id), and the collector exits 0.
"$bin/device_sim" "$h/device-dev-2.json" --records 2000 > "$tmp/burst.log" 2>&1 &
dpid=$!
for _ in $(seq 1 300); do
  n=$(grep -c ' stored record_id=' "$tmp/burst.log" 2>/dev/null)
  [ "${n:-0}" -ge 20 ] && break
  kill -0 "$dpid" 2>/dev/null || break
  sleep 0.1
done
kill -TERM "$cpid"
wait "$cpid"; crc=$?
cpid=""
[ "$crc" = 0 ] || fail "collector_server exited $crc after SIGTERM"
wait "$dpid"  # bounded: device_sim stops at the first record that gets no reply
dpid=""
acked=$(grep -c ' stored record_id=' "$tmp/burst.log")
[ "$acked" -ge 20 ] || fail "burst: expected at least 20 acknowledged records before the stop, got $acked"
"$bin/reader" "$h/reader-nurse-joy.json" --patient p-1002 > "$tmp/burst-read.log" 2>&1 || fail "reader as nurse-joy for p-1002 exited $?"
sed -n 's/.* stored record_id=\([0-9]*\) .*/\1/p' "$tmp/burst.log" | sort > "$tmp/acked.ids"
sed -n 's/.* record id=\([0-9]*\) patient=p-1002 .*/\1/p' "$tmp/burst-read.log" | sort > "$tmp/stored.ids"
missing=$(comm -23 "$tmp/acked.ids" "$tmp/stored.ids" | wc -l)
[ "$missing" = 0 ] || fail "burst: $missing acknowledged record(s) missing from storage"
echo "burst: $acked records acknowledged before SIGTERM, $(wc -l < "$tmp/stored.ids") stored for p-1002, 0 acknowledged missing"

# 7. SIGTERM to storage: it stops gracefully and exits 0, integrity clean.
kill -TERM "$spid"
wait "$spid"; src=$?
spid=""
[ "$src" = 0 ] || fail "storage_server exited $src"
expect "$tmp/collector.log" "stopping reason=SIGTERM" "collector_server: no SIGTERM stop"
expect "$tmp/collector.log" "retry forwarded device=" "collector_server: the retry was not logged"
expect "$tmp/collector.log" "stopped acknowledged=$((6 + acked)) retries_forwarded=1 " "collector_server: expected $((6 + acked)) acknowledged, 1 retry"
expect "$tmp/storage.log" "stopping reason=SIGTERM" "storage_server: no SIGTERM stop"
expect "$tmp/storage.log" "read refused reader=nurse-joy reason=not_assigned" "storage_server: refusal not logged"
expect "$tmp/storage.log" "stopped .* integrity=clean .* ledger=verified" "storage_server: expected a clean integrity scan"
expect "$tmp/collector.log" "stopped .* ledger=verified" "collector_server: expected its ledger to verify at stop"
# 7b. The ledgers persist (storage/ledger.sqlite, collector/ledger.sqlite): restarted, each server
# reloads and verifies the chain it had at its stop, at the same height.
for node in storage collector; do
  height=$(sed -n 's/.* stopped .* ledger_height=\([0-9]*\).*/\1/p' "$tmp/$node.log")
  [ -n "$height" ] && [ "$height" -gt 0 ] || fail "$node: no ledger height at its stop"
  "$bin/${node}_server" "$h/$node.json" --max-seconds 1 > "$tmp/$node-restart.log" 2>&1 || fail "$node restart exited $?"
  expect "$tmp/$node-restart.log" " listening .* ledger_loaded_height=$height" "$node: the restart did not reload its ledger at height $height"
  expect "$tmp/$node-restart.log" "stopped .* ledger=verified" "$node: the reloaded ledger did not verify"
  echo "$node: ledger reloaded at height $height after the restart"
done
# 8. A rule contract edited after the admin signed it (heart rate up to 400): the collector refuses to start.
sed -i 's/\\"max\\": 250/\\"max\\": 400/' "$h/contracts/vitals.json"
grep -q '\\"max\\": 400' "$h/contracts/vitals.json" || fail "could not edit the contract"
"$bin/collector_server" "$h/collector.json" --max-seconds 5 > "$tmp/tampered.log" 2>&1
rc=$?
[ "$rc" = 1 ] || fail "collector_server with an edited contract: expected exit 1, got $rc"
expect "$tmp/tampered.log" "rule contract .* refused: the deployment signature does not verify" "edited contract: expected a signature refusal"
grep -q " listening " "$tmp/tampered.log" && fail "collector_server listened with an edited contract"

cat "$tmp"/device.log "$tmp"/doctor.log "$tmp"/nurse.log "$tmp"/replay.log "$tmp"/rogue.log
tail -n 5 "$tmp/burst.log"
cat "$tmp"/tampered.log "$tmp"/collector.log "$tmp"/storage.log | grep -v " stored device=\| batch committed "
echo "OK: the services ran as separate processes on 127.0.0.1 (ports $base, $((base + 1)))"
