// Issue 10, storage and access side: each TEST_CASE reproduces an attack that worked before the fix
// (a compromised collector storing false, in-range, back-dated data; a revoked or deregistered device
// still stored; unauthenticated, unlogged registry changes; reading records with a certificate alone)
// and shows the refusal, its reason and its ledger entry.
#include <hefl/iot.hpp>
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <botan/auto_rng.h>
#include <botan/bigint.h>
#include <botan/ec_group.h>
#include <botan/ecdsa.h>
#include <botan/hex.h>
#include <botan/system_rng.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace hefl::iot;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

using hefl_test::temp_dir;

payload heart_rate(std::int64_t bpm) { return hefl_test::vital("heart_rate", "bpm", bpm); }

// The storage node of a hospital: CA, registry, the node's directory filled from real certificates,
// its own rule manager, a ledger, a record store logging to it, the guard, the readers' controller and
// the administrators' registration desk.
struct storage_site {
  Botan::AutoSeeded_RNG rng;
  temp_dir dir;
  clock_time t0 = std::chrono::system_clock::now();
  certificate_authority ca{"St Mary Hospital", t0 - 2h};
  trust_store trust = trust_store::in_memory();
  registry reg;
  identity_directory keys;
  local_ledger chain;
  key_pair collector_keys = ecdsa_p256_signing::generate(rng);
  key_pair admin_keys = ecdsa_p256_signing::generate(rng);
  key_pair doctor_keys = ecdsa_p256_signing::generate(rng);
  key_pair monitor_keys = ecdsa_p256_signing::generate(rng);
  Botan::X509_Certificate collector_cert, admin_cert, doctor_cert, monitor_cert;
  patient_smart_card<> alice{"p-1001", rng};
  sgtin96 monitor = sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.1", 1);
  rule_manager<> rules{[this](const Botan::X509_Certificate& c) { return is_admin(c); },
                       [](const deployment_event&) {}};
  record_store<> store{":memory:", keys, chain};
  std::optional<storage_guard<rule_manager<>, local_ledger>> guard;
  access_controller<local_ledger> readers{trust, reg, store, chain};
  registration_desk<local_ledger> desk{reg, [this](const Botan::X509_Certificate& c) { return is_admin(c); }, chain};

  explicit storage_site(storage_guard_options options = {}) {
    trust.add_root(ca.root());
    trust.add_crl(ca.crl());
    collector_cert = issue(*collector_keys.public_key, identity{role::collector, "collector-icu", {}, 0, 0});
    admin_cert = issue(*admin_keys.public_key, identity{role::admin, "admin.root", {}, 0, 0});
    doctor_cert = issue(*doctor_keys.public_key, identity{role::doctor, "dr.house", {}, 0, 0});
    monitor_cert = issue(*monitor_keys.public_key, identity{role::device, "monitor-1", monitor, 1, 1});
    reg.register_patient({"p-1001", "icu", "1", "A"});
    reg.register_collector("collector-icu");
    reg.register_device(monitor, "p-1001", "collector-icu");
    reg.register_staff("dr.house", role::doctor);
    reg.assign("dr.house", "p-1001");
    REQUIRE(keys.enrol_patient({issue(alice.public_key(), identity{role::patient, "p-1001", {}, 0, 0})}, trust, t0));
    REQUIRE(keys.enrol_device({monitor_cert}, trust, t0));
    REQUIRE(rules.deploy(sign_deployment(vital_signs_example_contract, *admin_keys.private_key, admin_cert, rng))
                .accepted());
    guard.emplace(trust, reg, keys, rules, store, chain, std::move(options));
  }

  Botan::X509_Certificate issue(const Botan::Public_Key& key, const identity& id) {
    return ca.issue(key, id, t0 - 1h, 24h * 30);
  }

  bool is_admin(const Botan::X509_Certificate& c) const {
    return validate_chain(c, trust, cert_usage::any, std::chrono::system_clock::now(), {role::admin}).ok();
  }

  request measured(payload p, request_time at = request_now()) {
    return make_signed_request(monitor, "collector-icu", "p-1001", std::move(p), at, *monitor_keys.private_key, rng);
  }

  // What the collector (honest or not) forwards for a request: the card signs, the collector countersigns.
  record attested(const request& r) {
    return make_attested_record(r, alice, "collector-icu", *collector_keys.private_key, rng);
  }

  storage_verdict submit(const record& r) { return guard->submit(r, {collector_cert}); }

  transaction logged(const sha256_digest& id) {
    chain.flush();
    const auto found = chain.prove(id);
    REQUIRE(found.has_value());
    return found->location.tx;
  }

  void expect_refused(const storage_verdict& v, storage_refusal why) {
    INFO(v.message);
    REQUIRE_FALSE(v.ok());
    CHECK(*v.refusal == why);
    const auto tx = logged(v.ledger_entry);
    CHECK(tx.field_string("type") == "record_refused");
    CHECK(tx.field_string("reason") == to_string(why));
  }

  signed_registration change(json c, const key_pair& by, const Botan::X509_Certificate& cert) {
    return sign_registration(c, *by.private_key, cert, rng);
  }

  access_result read_with_proof(const Botan::X509_Certificate& cert, const Botan::Private_Key& key,
                                const std::string& patient = "p-1001") {
    const auto challenge = readers.challenge();
    return readers.read({cert}, prove_access(challenge, patient, cert, key, rng), patient);
  }
};

// The other valid ECDSA signature of the same message: (r, s) -> (r, n - s) (ECDSA malleability).
std::vector<std::uint8_t> malleate(const std::vector<std::uint8_t>& rs) {
  REQUIRE(rs.size() == 64);
  const Botan::EC_Group p256("secp256r1");
  const Botan::BigInt s(rs.data() + 32, 32);
  const auto flipped = Botan::BigInt::encode_1363(p256.get_order() - s, 32);
  std::vector<std::uint8_t> out(rs.begin(), rs.begin() + 32);
  out.insert(out.end(), flipped.begin(), flipped.end());
  return out;
}

} // namespace

// ---------------------------------------------------------------------------------------------------
// Item 1: origin proven at storage.

TEST_CASE("hardening: a compromised collector cannot store false, in-range, back-dated data",
          "[iot][hardening][origin]") {
  storage_site s;
  // The attack as reproduced against main: make_record with a past timestamp and an in-range value,
  // signed by the real card and the real collector key, was stored and served to the doctor.
  const auto past = std::chrono::floor<std::chrono::milliseconds>(s.t0) - 3h;
  const auto forged = make_record("p-1001", s.monitor, "heart_rate", heart_rate(64), past, s.alice, "collector-icu",
                                  *s.collector_keys.private_key, s.rng);
  s.expect_refused(s.submit(forged), storage_refusal::unattested);

  // The collector keeps a genuine request but changes the value: the device did not sign that.
  auto altered = s.measured(heart_rate(72));
  altered.data.fields["bpm"] = 64;
  s.expect_refused(s.submit(s.attested(altered)), storage_refusal::bad_device_signature);
  // ... or the timestamp, to back-date it.
  auto redated = s.measured(heart_rate(72));
  redated.timestamp = past;
  s.expect_refused(s.submit(s.attested(redated)), storage_refusal::bad_device_signature);
  // A genuine request the device made long ago (kept back by the collector) is outside the window,
  // on both sides.
  s.expect_refused(s.submit(s.attested(s.measured(heart_rate(70), past))), storage_refusal::stale_timestamp);
  s.expect_refused(s.submit(s.attested(s.measured(heart_rate(70), request_now() + 1h))),
                   storage_refusal::future_timestamp);
  // The device's key is the one enrolled from its certificate, not one the collector brings along.
  const auto other = ecdsa_p256_signing::generate(s.rng);
  auto rekeyed = s.measured(heart_rate(72));
  sign_request(rekeyed, *other.private_key, s.rng);
  s.expect_refused(s.submit(s.attested(rekeyed)), storage_refusal::bad_device_signature);
  CHECK(s.store.size() == 0);

  // The honest path: the record carries the device's request, byte for byte, and the doctor reads it.
  const auto honest = s.measured(heart_rate(72));
  const auto stored = s.submit(s.attested(honest));
  INFO(stored.message);
  REQUIRE(stored.ok());
  const auto read = s.read_with_proof(s.doctor_cert, *s.doctor_keys.private_key);
  REQUIRE(read.ok());
  REQUIRE(read.records.size() == 1);
  CHECK(read.records[0].attested());
  CHECK(read.records[0].device_request() == honest);
  CHECK(verify_request(read.records[0].device_request(), *s.monitor_keys.public_key));
  CHECK(read.records[0].decode_payload() == heart_rate(72));
  CHECK(s.store.integrity_scan().ok());
}

TEST_CASE("hardening: a second record for the same device nonce is refused, also re-signed and after a restart",
          "[iot][hardening][origin]") {
  temp_dir nonces;
  storage_guard_options o;
  o.nonce_sqlite_path = nonces.file("storage-nonces.db");
  storage_site s(o);
  const auto first = s.measured(heart_rate(72));
  REQUIRE(s.submit(s.attested(first)).ok());
  // ECDSA signatures are malleable: (r, n - s) is another valid device signature over the same
  // request, so the record's bytes and hash differ and the store's duplicate-hash check alone would
  // store the measurement twice. The nonce check refuses it.
  auto twin = first;
  twin.signature = malleate(first.signature);
  REQUIRE(twin.signature != first.signature);
  REQUIRE(verify_request(twin, *s.monitor_keys.public_key));
  s.expect_refused(s.submit(s.attested(twin)), storage_refusal::duplicate_nonce);

  // Restarted with the same nonce database, the guard still remembers the nonce.
  s.guard.reset();
  s.guard.emplace(s.trust, s.reg, s.keys, s.rules, s.store, s.chain, o);
  CHECK(s.guard->nonces().persistent());
  CHECK(s.guard->nonces().size() == 1);
  s.expect_refused(s.submit(s.attested(twin)), storage_refusal::duplicate_nonce);
  CHECK(s.store.size() == 1);
  CHECK(s.submit(s.attested(s.measured(heart_rate(73)))).ok());
}

// ---------------------------------------------------------------------------------------------------
// Item 8: revocation and deregistration at the storage node; signed, logged registry changes.

TEST_CASE("hardening: the storage node refuses records of a revoked device", "[iot][hardening][registry]") {
  storage_site s;
  REQUIRE(s.submit(s.attested(s.measured(heart_rate(72)))).ok());
  // A collector that keeps forwarding a captured device's requests after the revocation: before the
  // fix the storage node checked only the collector's certificate and stored them.
  const auto captured = s.measured(heart_rate(74));
  REQUIRE(s.ca.revoke(s.monitor_cert, Botan::CRL_Code::KEY_COMPROMISE));
  s.trust.add_crl(s.ca.crl());
  const auto v = s.submit(s.attested(captured));
  s.expect_refused(v, storage_refusal::untrusted_device);
  CHECK_THAT(v.message, Catch::Contains("revoked"));
  CHECK(s.store.size() == 1);
}

TEST_CASE("hardening: registry changes must be signed by an administrator, are logged, and cannot be replayed",
          "[iot][hardening][registry]") {
  temp_dir dir;
  storage_site s;
  registry persistent = registry::open_sqlite(dir.file("registry.db"));
  registration_desk<local_ledger> desk(persistent, [&s](const Botan::X509_Certificate& c) { return s.is_admin(c); },
                                       s.chain);
  CHECK(persistent.next_change() == 1);
  const auto add_patient = s.change({{"op", "register_patient"}, {"change", 1}, {"patient", "p-2001"},
                                     {"department", "icu"}, {"room", "2"}, {"bed", "A"}},
                                    s.admin_keys, s.admin_cert);
  // Signed by a doctor, or by the admin's certificate with another key: refused, nothing changes.
  CHECK(desk.apply(s.change(json::parse(add_patient.change), s.doctor_keys, s.doctor_cert)).status ==
        registration_status::not_admin);
  auto wrong_key = add_patient;
  wrong_key.signature = s.change(json::parse(add_patient.change), s.doctor_keys, s.admin_cert).signature;
  CHECK(desk.apply(wrong_key).status == registration_status::bad_signature);
  CHECK_FALSE(persistent.patient("p-2001").has_value());

  const auto applied = desk.apply(add_patient);
  INFO(applied.message);
  REQUIRE(applied.ok());
  CHECK(persistent.patient("p-2001").has_value());
  REQUIRE(applied.ledger_entry.has_value());
  const auto entry = s.logged(*applied.ledger_entry);
  CHECK(entry.field_string("type") == "registration");
  CHECK(entry.field_string("op") == "register_patient");
  CHECK(entry.fields().at("change") == 1);
  CHECK(entry.field_string("status") == "requested");
  CHECK_THAT(std::string(entry.field_string("admin")), Catch::Contains("admin.root"));

  // A captured change replayed: its number is used, so it is refused, and the refusal is logged.
  const auto replayed = desk.apply(add_patient);
  CHECK(replayed.status == registration_status::refused);
  CHECK_THAT(replayed.message, Catch::Contains("expected 2"));
  CHECK(s.logged(*replayed.ledger_entry).field_string("status") == "refused");

  // The number survives a restart of the registry, so the replay stays refused.
  registry reopened = registry::open_sqlite(dir.file("registry.db"));
  CHECK(reopened.next_change() == 2);
  registration_desk<local_ledger> desk2(reopened, [&s](const Botan::X509_Certificate& c) { return s.is_admin(c); },
                                        s.chain);
  CHECK(desk2.apply(add_patient).status == registration_status::refused);
  CHECK(desk2.apply(s.change({{"op", "register_collector"}, {"change", 2}, {"collector", "collector-er"}},
                             s.admin_keys, s.admin_cert))
            .ok());
  CHECK(reopened.has_collector("collector-er"));
}

TEST_CASE("hardening: a deregistered device is refused by the collector and by the storage node",
          "[iot][hardening][registry]") {
  storage_site s;
  REQUIRE(s.submit(s.attested(s.measured(heart_rate(72)))).ok());
  const auto pending = s.measured(heart_rate(75));
  const auto done = s.desk.apply(s.change({{"op", "deregister_device"}, {"change", 1}, {"epc", s.monitor.to_hex()}},
                                          s.admin_keys, s.admin_cert));
  INFO(done.message);
  REQUIRE(done.ok());
  CHECK(s.logged(*done.ledger_entry).field_string("op") == "deregister_device");
  CHECK_FALSE(s.reg.device(s.monitor).has_value());
  s.expect_refused(s.submit(s.attested(pending)), storage_refusal::unknown_device);

  rule_manager<> rules([&s](const Botan::X509_Certificate& c) { return s.is_admin(c); }, [](const deployment_event&) {});
  REQUIRE(rules.deploy(sign_deployment(vital_signs_example_contract, *s.admin_keys.private_key, s.admin_cert, s.rng))
              .accepted());
  replay_guard replay;
  collector_validator_options o;
  o.collector_id = "collector-icu";
  o.devices = &s.reg;
  collector_validator<> validator(s.trust, rules, replay, s.chain, o);
  CHECK(validator.validate({s.monitor_cert}, s.measured(heart_rate(76)).encode()).reason ==
        verdict_reason::unknown_device);
}

// ---------------------------------------------------------------------------------------------------
// Item 2: readers prove possession of their key.

TEST_CASE("hardening: reading records needs proof of the certificate's private key", "[iot][hardening][access]") {
  storage_site s;
  REQUIRE(s.submit(s.attested(s.measured(heart_rate(72)))).ok());
  // Certificates are public. Before the fix, read(doctor's certificate, patient) returned the records.
  const auto challenge = s.readers.challenge();
  const auto alone = s.readers.read({s.doctor_cert}, access_proof{challenge.nonce, {}}, "p-1001");
  CHECK(alone.refusal == access_refusal::no_proof_of_possession);
  CHECK(alone.records.empty());
  CHECK_THAT(alone.reader, Catch::StartsWith("cert:"));  // the name it claims is not logged as the reader
  CHECK(s.logged(alone.ledger_entry).field_string("reason") == "no_proof_of_possession");

  // The attacker signs the challenge with a key of its own.
  const auto attacker = ecdsa_p256_signing::generate(s.rng);
  const auto c2 = s.readers.challenge();
  CHECK(s.readers.read({s.doctor_cert}, prove_access(c2, "p-1001", s.doctor_cert, *attacker.private_key, s.rng), "p-1001")
            .refusal == access_refusal::no_proof_of_possession);

  // A proof works once, for the patient it names, within the challenge's lifetime.
  const auto c3 = s.readers.challenge();
  const auto proof = prove_access(c3, "p-1001", s.doctor_cert, *s.doctor_keys.private_key, s.rng);
  const auto ok = s.readers.read({s.doctor_cert}, proof, "p-1001");
  REQUIRE(ok.ok());
  CHECK(ok.records.size() == 1);
  CHECK(s.readers.read({s.doctor_cert}, proof, "p-1001").refusal == access_refusal::no_proof_of_possession);
  const auto c4 = s.readers.challenge();
  s.reg.register_patient({"p-1002", "icu", "1", "B"});
  s.reg.assign("dr.house", "p-1002");
  CHECK(s.readers.read({s.doctor_cert}, prove_access(c4, "p-1001", s.doctor_cert, *s.doctor_keys.private_key, s.rng),
                       "p-1002")
            .refusal == access_refusal::no_proof_of_possession);
  const auto t = std::chrono::system_clock::now();
  const auto c5 = s.readers.challenge(t);
  CHECK(s.readers.read({s.doctor_cert}, prove_access(c5, "p-1001", s.doctor_cert, *s.doctor_keys.private_key, s.rng),
                       "p-1001", {}, {}, t + 61s)
            .refusal == access_refusal::no_proof_of_possession);
  CHECK(s.read_with_proof(s.doctor_cert, *s.doctor_keys.private_key).ok());
}
