#include <hefl/iot/storage/storage_guard.hpp>
#include "hospital_fixture.hpp"
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <botan/auto_rng.h>
#include <botan/ecdsa.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace hefl::iot;
using namespace std::chrono_literals;

namespace {

using hefl_test::malleated;

payload guard_payload(const std::string& type, const std::string& field, nlohmann::json value) {
  return hefl_test::vital(type, field, std::move(value));
}

// The storage side of a hospital: CA (and a rogue CA with the same name), registry, the storage
// node's directory filled from real certificates, its own rule manager with the vital-signs contract
// deployed by an admin, a ledger, a record store that logs to it, and the guard in front of the store.
struct storage_fixture : hefl_test::hospital_pki {
  local_ledger chain;
  Botan::ECDSA_PrivateKey node_key{rng, Botan::EC_Group("secp256r1")};   // the ICU collector's key
  Botan::ECDSA_PrivateKey er_key{rng, Botan::EC_Group("secp256r1")};     // the ER collector's key
  Botan::ECDSA_PrivateKey admin_key{rng, Botan::EC_Group("secp256r1")};
  Botan::X509_Certificate icu_cert, er_cert, admin_cert;
  patient_smart_card<> alice{"p-1001", rng};
  patient_smart_card<> bob{"p-1002", rng};
  sgtin96 monitor = sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.1", 1);  // alice's, via the ICU
  sgtin96 pump = sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.2", 1);     // bob's, via the ICU
  sgtin96 spare = sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.3", 1);    // alice's, never enrolled
  rule_manager<> rules{[this](const Botan::X509_Certificate& c) {
                         return validate_chain(c, trust, cert_usage::any, t0, {role::admin}).ok();
                       },
                       [this](const deployment_event& e) {
                         if (e.accepted())
                           chain.submit(transaction::rule_deployment(e.group_name, e.version, e.contract_hash,
                                                                     e.signer, ledger_now()));
                       }};
  record_store<> store{":memory:", keys, chain};
  storage_guard<rule_manager<>, local_ledger> guard{trust, reg, keys, rules, store, chain};
  std::uint64_t next_ms = 0;

  storage_fixture() {
    icu_cert = issue(node_key, role::collector, "collector-icu");
    er_cert = issue(er_key, role::collector, "collector-er");
    admin_cert = issue(admin_key, role::admin, "admin.root");
    reg.register_patient({"p-1001", "icu", "1", "A"});
    reg.register_patient({"p-1002", "icu", "1", "B"});
    reg.register_collector("collector-icu");
    reg.register_collector("collector-er");
    reg.register_device(monitor, "p-1001", "collector-icu");
    reg.register_device(pump, "p-1002", "collector-icu");
    reg.register_device(spare, "p-1001", "collector-icu");
    // Enrolment: every key and group the storage node relies on comes from a validated certificate.
    REQUIRE(keys.enrol_patient({issue(alice.public_key(), role::patient, "p-1001")}, trust, t0));
    REQUIRE(keys.enrol_patient({issue(bob.public_key(), role::patient, "p-1002")}, trust, t0));
    REQUIRE(keys.enrol_device({issue_device(monitor, "monitor-1")}, trust, t0));
    REQUIRE(keys.enrol_device({issue_device(pump, "pump-2")}, trust, t0));
    REQUIRE(rules.deploy(sign_deployment(vital_signs_example_contract, admin_key, admin_cert, rng)).accepted());
    next_ms = static_cast<std::uint64_t>(
        std::chrono::floor<std::chrono::milliseconds>(t0).time_since_epoch().count() - 60'000);
  }

  // The request device @p device signs for @p patient_id at @p at (default: the next timestamp).
  request device_signed(const sgtin96& device, const std::string& patient_id, const payload& p,
                 std::optional<record_time> at = {}) {
    return make_signed_request(device, "collector-icu", patient_id, p,
                               at ? *at : record_time(std::chrono::milliseconds(next_ms++)), key_of(device), rng);
  }

  // What an honest collector builds: the device's signed request, the patient's card signs, the
  // collector countersigns.
  record honest(patient_smart_card<>& card, const sgtin96& device, const payload& p, std::optional<record_time> at = {}) {
    return make_attested_record(device_signed(device, card.patient_id(), p, at), card, "collector-icu", node_key, rng);
  }
  record heart(std::int64_t bpm) { return honest(alice, monitor, guard_payload("heart_rate", "bpm", bpm)); }

  // The sealed record_refused transactions, in order.
  std::vector<transaction> refusals() {
    chain.flush();
    std::vector<transaction> out;
    for (auto& loc : chain.find([](const transaction& tx) { return tx.field_string("type") == "record_refused"; }))
      out.push_back(loc.tx);
    return out;
  }
};

} // namespace

TEST_CASE("storage_guard stores honest records forwarded by a registered collector", "[iot][storage_guard]") {
  storage_fixture f;
  const auto a = f.guard.submit(f.heart(72), {f.icu_cert}, f.t0);
  INFO(a.message);
  REQUIRE(a.ok());
  CHECK(a.record_id == 1);
  CHECK(a.collector_certificate == chain_status::ok);
  const auto b = f.guard.submit(f.honest(f.bob, f.pump, guard_payload("spo2", "saturation", 97.5)), {f.icu_cert}, f.t0);
  REQUIRE(b.ok());
  CHECK(b.record_id == 2);

  CHECK(f.store.records_of("p-1001").size() == 1);
  CHECK(f.store.records_of("p-1002").at(0).decode_payload() == guard_payload("spo2", "saturation", 97.5));
  CHECK(f.keys.collector_keys("collector-icu").size() == 1);  // learned from the validated chain
  CHECK(f.store.integrity_scan().ok());
  f.chain.flush();
  CHECK(f.chain.find(tx_kind::record_stored).size() == 2);
  CHECK(f.refusals().empty());
}

TEST_CASE("compromised collector: storage_guard refuses what it forges and logs each refusal",
          "[iot][storage_guard][attack]") {
  storage_fixture f;
  const std::vector<Botan::X509_Certificate> icu{f.icu_cert};
  REQUIRE(f.guard.submit(f.heart(70), icu, f.t0).ok());

  struct forgery {
    std::string name;
    record r;
    std::vector<Botan::X509_Certificate> chain;
    storage_refusal expected;
  };
  std::vector<forgery> forgeries;

  // False data: the collector had the card sign a value no device sent, or a type the group may not send.
  forgeries.push_back({"value out of range", f.heart(400), icu, storage_refusal::rule_violation});
  forgeries.push_back({"type not allowed",
                       f.honest(f.alice, f.monitor, guard_payload("blood_glucose", "mg_dl", 90)), icu,
                       storage_refusal::rule_violation});
  // A patient signature made with a key of the collector's own, not the patient's card.
  patient_smart_card<> fake_card{"p-1001", f.rng};
  forgeries.push_back({"patient signature from another key",
                       f.honest(fake_card, f.monitor, guard_payload("heart_rate", "bpm", 75)), icu,
                       storage_refusal::bad_patient_signature});
  // A record for a patient the device is not assigned to (bob's card really signed it).
  forgeries.push_back({"device not assigned to the patient",
                       f.honest(f.bob, f.monitor, guard_payload("heart_rate", "bpm", 80)), icu,
                       storage_refusal::device_not_assigned});
  // A device nobody registered.
  forgeries.push_back({"unknown device",
                       f.honest(f.alice, sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.99", 1),
                                guard_payload("heart_rate", "bpm", 80)),
                       icu, storage_refusal::unknown_device});
  // A registered device the storage node never enrolled: no key to verify it, no contract to vouch for it.
  forgeries.push_back({"device never enrolled",
                       f.honest(f.alice, f.spare, guard_payload("heart_rate", "bpm", 80)), icu,
                       storage_refusal::unknown_device_key});
  // Content changed after the patient signed.
  auto altered = f.heart(71);
  altered.payload_bytes = guard_payload("heart_rate", "bpm", 200).canonical_bytes();
  forgeries.push_back({"content altered after signing", altered, icu, storage_refusal::hash_mismatch});
  // The collector signature is not made by the certificate's key.
  auto resigned = f.heart(72);
  sign_as_collector(resigned, "collector-icu", f.er_key, f.rng);
  forgeries.push_back({"collector signature by another key", resigned, icu, storage_refusal::bad_collector_signature});
  // Posing as the ER collector with the ICU certificate (the device addressed the ER collector).
  auto posing = make_attested_record(
      make_signed_request(f.monitor, "collector-er", "p-1001", guard_payload("heart_rate", "bpm", 73),
                          record_time(std::chrono::milliseconds(f.next_ms++)), f.key_of(f.monitor), f.rng),
      f.alice, "collector-er", f.node_key, f.rng);
  forgeries.push_back({"record names another collector", posing, icu, storage_refusal::collector_mismatch});
  // A certificate from a rogue CA with the same name, and a device certificate posing as a collector.
  forgeries.push_back({"rogue CA", f.heart(74), {f.issue(f.node_key, role::collector, "collector-icu", &f.rogue)},
                       storage_refusal::untrusted_collector});
  forgeries.push_back({"device certificate", f.heart(75), {f.issue_device(f.monitor, "collector-icu")},
                       storage_refusal::untrusted_collector});
  // Timestamps far in the future, malformed fields, and a replay of a stored record.
  auto future = f.honest(f.alice, f.monitor, guard_payload("heart_rate", "bpm", 76),
                         std::chrono::floor<std::chrono::milliseconds>(f.t0) + 1h);
  forgeries.push_back({"future timestamp", future, icu, storage_refusal::future_timestamp});
  auto malformed = f.heart(77);
  malformed.patient_id = "p-1001'; DROP TABLE hefl_records; --";
  forgeries.push_back({"malformed patient id", malformed, icu, storage_refusal::malformed});
  // Another record under the nonce of stored record 1: its device signature (r, s) turned into the
  // also valid (r, n - s) (ECDSA malleability), so other bytes and hash. (An exact copy of record 1
  // is a retry, checked below.)
  auto renonced = f.store.get(1).value().device_request();
  renonced.signature = malleated(renonced.signature);
  forgeries.push_back({"another record under a used nonce",
                       make_attested_record(renonced, f.alice, "collector-icu", f.node_key, f.rng), icu,
                       storage_refusal::duplicate_nonce});
  // A value no device sent (no signed request in the record), and a back-dated genuine request.
  forgeries.push_back({"bare record",
                       make_record("p-1001", f.monitor, "heart_rate", guard_payload("heart_rate", "bpm", 75),
                                   record_time(std::chrono::milliseconds(f.next_ms++)), f.alice, "collector-icu",
                                   f.node_key, f.rng),
                       icu, storage_refusal::unattested});
  forgeries.push_back({"back-dated request",
                       f.honest(f.alice, f.monitor, guard_payload("heart_rate", "bpm", 76),
                                std::chrono::floor<std::chrono::milliseconds>(f.t0) - 1h),
                       icu, storage_refusal::stale_timestamp});

  for (const auto& fg : forgeries) {
    const auto v = f.guard.submit(fg.r, fg.chain, f.t0);
    INFO(fg.name << ": " << v.message);
    REQUIRE_FALSE(v.ok());
    CHECK(*v.refusal == fg.expected);
    CHECK(v.ledger_entry != sha256_digest{});
  }
  CHECK(f.store.size() == 1);

  const auto log = f.refusals();
  REQUIRE(log.size() == forgeries.size());
  for (std::size_t i = 0; i < log.size(); ++i) {
    INFO(forgeries[i].name);
    CHECK(log[i].field_string("reason") == to_string(forgeries[i].expected));
    CHECK(log[i].field_string("collector") == (i == 8 ? "collector-er" : "collector-icu"));
  }
  CHECK(log[0].field_string("violation") == "out_of_range");
  CHECK(log[0].field_string("field") == "bpm");
  CHECK(log[1].field_string("violation") == "type_not_allowed");
  CHECK(log[0].field_string("patient") == "p-1001");
  CHECK_THAT(std::string(log[12].field_string("patient")), Catch::StartsWith("hex:"));
  CHECK(f.chain.verify().ok());

  // An exact copy of stored record 1 (a retry, or a collector resubmitting it): answered as stored
  // with id 1, nothing written, nothing logged.
  const auto retry = f.guard.submit(f.store.get(1).value(), icu, f.t0);
  INFO(retry.message);
  REQUIRE(retry.ok());
  CHECK(retry.already_stored);
  CHECK(retry.record_id == 1);
  CHECK(f.store.size() == 1);
  CHECK(f.refusals().size() == forgeries.size());

  // Honest traffic interleaved with the attacks is still accepted.
  const auto honest = f.guard.submit(f.heart(81), icu, f.t0);
  CHECK(honest.ok());
  CHECK_FALSE(honest.already_stored);
  CHECK(f.store.size() == 2);
}

TEST_CASE("storage_guard judges again a nonce whose record never committed, and answers exact retries with the stored id",
          "[iot][storage_guard][retry]") {
  storage_fixture f;
  hefl_test::temp_dir dir;
  storage_guard_options o;
  o.nonce_sqlite_path = dir.file("nonces.db");
  const std::vector<Botan::X509_Certificate> icu{f.icu_cert};
  const auto r = f.heart(72);
  {
    // A storage node killed after its nonce memory recorded the nonce, before the record's COMMIT.
    replay_guard_options ro;
    ro.max_age = o.max_age;
    ro.max_future_skew = o.max_future_skew;
    replay_guard crashed(o.nonce_sqlite_path, ro);
    const auto req = r.device_request();
    REQUIRE(crashed.check(r.device.to_hex(), std::span<const std::uint8_t>(req.nonce), r.timestamp, f.t0).ok());
  }
  storage_guard<rule_manager<>, local_ledger> restarted{f.trust, f.reg, f.keys, f.rules, f.store, f.chain, o};
  REQUIRE(restarted.nonces().size() == 1);
  const auto v = restarted.submit(r, icu, f.t0);
  INFO(v.message);
  REQUIRE(v.ok());
  CHECK_FALSE(v.already_stored);
  CHECK(f.store.size() == 1);
  const auto again = restarted.submit(r, icu, f.t0);
  REQUIRE(again.ok());
  CHECK(again.already_stored);
  CHECK(again.record_id == v.record_id);

  // In one batch: two copies of a new record (the second one a retry that raced the first through
  // the nonce check) and a copy under another valid signature: stored once, answered twice with
  // the same id, the third refused.
  const auto r2 = f.heart(73);
  auto twin_request = r2.device_request();
  twin_request.signature = malleated(twin_request.signature);
  const auto twin = make_attested_record(twin_request, f.alice, "collector-icu", f.node_key, f.rng);
  REQUIRE(twin.hash != r2.hash);
  using item = storage_guard<rule_manager<>, local_ledger>::batch_item;
  const std::vector<item> batch{{r2, icu}, {r2, icu}, {twin, icu}};
  const auto vs = restarted.submit_batch(std::span<const item>(batch), f.t0);
  REQUIRE(vs.size() == 3);
  REQUIRE(vs[0].ok());
  CHECK_FALSE(vs[0].already_stored);
  REQUIRE(vs[1].ok());
  CHECK(vs[1].already_stored);
  CHECK(vs[1].record_id == vs[0].record_id);
  REQUIRE_FALSE(vs[2].ok());
  CHECK(*vs[2].refusal == storage_refusal::duplicate_nonce);
  CHECK(f.store.size() == 2);
  // Later, the twin is refused against the stored record, the exact copy answered with its id.
  const auto late_twin = restarted.submit(twin, icu, f.t0);
  REQUIRE_FALSE(late_twin.ok());
  CHECK(*late_twin.refusal == storage_refusal::duplicate_nonce);
  const auto late_copy = restarted.submit(r2, icu, f.t0);
  REQUIRE(late_copy.ok());
  CHECK(late_copy.record_id == vs[0].record_id);
  CHECK(f.store.size() == 2);
  CHECK(f.store.integrity_scan().ok());
}

TEST_CASE("storage_guard refuses a revoked collector and needs a logging store", "[iot][storage_guard]") {
  storage_fixture f;
  f.ca.revoke(f.icu_cert, Botan::CRL_Code::KEY_COMPROMISE, f.t0 - 10min);
  f.trust.add_crl(f.ca.crl());
  const auto v = f.guard.submit(f.heart(70), {f.icu_cert}, f.t0);
  REQUIRE_FALSE(v.ok());
  CHECK(*v.refusal == storage_refusal::untrusted_collector);
  CHECK(v.collector_certificate == chain_status::revoked);
  CHECK(f.refusals().size() == 1);

  record_store<> silent(":memory:", f.keys);
  CHECK_THROWS_WITH((storage_guard<rule_manager<>, local_ledger>(f.trust, f.reg, f.keys, f.rules, silent, f.chain)),
                    Catch::Contains("must log to a ledger"));
  identity_directory other;
  record_store<> elsewhere(":memory:", other, f.chain);
  CHECK_THROWS_WITH((storage_guard<rule_manager<>, local_ledger>(f.trust, f.reg, f.keys, f.rules, elsewhere, f.chain)),
                    Catch::Contains("another identity_directory"));
}
