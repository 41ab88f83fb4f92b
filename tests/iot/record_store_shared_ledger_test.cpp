// Two storage nodes whose record stores log to replicas of one ledger (the hospital network of
// examples/healthcare_pipeline.cpp): each store's integrity scan reconciles its rows against the
// record_stored entries its own node authored, not against the other node's, whose record ids are
// its own. Before this, every row of one store was reported as differing from the other's entries.
#include <hefl/iot/storage/record_store.hpp>

#include <catch2/catch.hpp>

#include <botan/auto_rng.h>
#include <botan/ecdsa.h>

#include <chrono>
#include <vector>

using namespace hefl::iot;
using namespace std::chrono_literals;

TEST_CASE("record_store on a shared ledger reconciles only the entries its own node authored",
          "[iot][record_store][ledger][shared]") {
  Botan::AutoSeeded_RNG rng;
  const clock_time t0 = std::chrono::system_clock::now();
  certificate_authority ca{"St Mary Hospital", t0};
  trust_store trust = trust_store::in_memory();
  trust.add_root(ca.root());
  trust.add_crl(ca.crl());
  Botan::ECDSA_PrivateKey collector_key{rng, Botan::EC_Group("secp256r1")};
  patient_smart_card<> alice{"p-1001", rng};
  const auto monitor = sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.6789", 1);
  identity_directory keys;
  identity cid;
  cid.role = role::collector;
  cid.subject_id = "collector-icu";
  REQUIRE(keys.enrol_collector({ca.issue(collector_key, cid, t0 - 1h, 24h)}, trust, t0));
  keys.add_patient_key("p-1001", alice.public_key());
  auto make = [&](std::int64_t bpm, std::int64_t ms) {
    payload p;
    p.type = "heart_rate";
    p.fields.emplace("bpm", bpm);
    return make_record("p-1001", monitor, "heart_rate", p, record_time(std::chrono::milliseconds(ms)), alice,
                       "collector-icu", collector_key, rng);
  };

  const auto k1 = sealer_key::from_seed("storage-1", std::vector<std::uint8_t>(32, 1));
  const auto k2 = sealer_key::from_seed("storage-2", std::vector<std::uint8_t>(32, 2));
  const auto genesis = make_genesis({k1.identity(), k2.identity()}, "shared", ledger_now() - 1s);
  ledger node1(genesis, {}, k1), node2(genesis, {}, k2);
  record_store<> store1(":memory:", keys, node1), store2(":memory:", keys, node2);

  // Both stores hand out ids 1, 2, ... for different records.
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(t0.time_since_epoch()).count();
  REQUIRE(store1.insert(make(70, now)) == 1);
  REQUIRE(store1.insert(make(71, now + 1)) == 2);
  REQUIRE(node1.flush() == 1);  // block 1: storage-1's turn
  REQUIRE(node2.sync_from(node1));
  REQUIRE(store2.insert(make(90, now + 2)) == 1);
  REQUIRE(store2.insert(make(91, now + 3)) == 2);
  REQUIRE(store2.insert(make(92, now + 4)) == 3);
  REQUIRE(node2.flush() == 1);  // block 2: storage-2's turn
  REQUIRE(node1.sync_from(node2));
  REQUIRE(node1.head_hash() == node2.head_hash());
  REQUIRE(node1.find(tx_kind::record_stored).size() == 5);  // both nodes' entries on both replicas

  const auto scan1 = store1.integrity_scan(), scan2 = store2.integrity_scan();
  CHECK(scan1.reconciled);
  CHECK(scan1.rows_checked == 2);
  for (const auto& f : scan1.ledger_findings) INFO(f.message);
  CHECK(scan1.ok());
  CHECK(scan2.rows_checked == 3);
  CHECK(scan2.ok());

  // Each node's own entries are still reconciled: an entry it logged for a row its store does not
  // hold is reported.
  const std::vector<std::uint8_t> hash(32, 0xab);
  node1.submit(transaction::record_stored("3", "p-1001", hash, ledger_now()));
  const auto scan = store1.integrity_scan();
  REQUIRE(scan.ledger_findings.size() == 1);
  CHECK(scan.ledger_findings[0].fault == ledger_reconcile_fault::missing_row);
  CHECK(scan.ledger_findings[0].id == 3);
  node2.submit(transaction::record_stored("4", "p-1001", hash, ledger_now()));
  CHECK(store2.integrity_scan().ledger_findings.size() == 1);  // storage-2's own entry, id 4
}
