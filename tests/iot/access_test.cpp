#include <hefl/iot/hospital/access.hpp>
#include "hospital_fixture.hpp"
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <botan/auto_rng.h>
#include <botan/ecdsa.h>
#include <botan/ed25519.h>
#include <botan/system_rng.h>
#include <botan/x509_key.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace hefl::iot;
using namespace std::chrono_literals;

namespace {

payload access_heart_rate(std::int64_t bpm) { return hefl_test::vital("heart_rate", "bpm", bpm); }

// A ward: a CA and a rogue CA with the same name, patients, staff with certificates and
// assignments, a record store holding signed records, and a ledger.
struct ward_fixture : hefl_test::hospital_pki {
  Botan::ECDSA_PrivateKey collector_key{rng, Botan::EC_Group("secp256r1")};
  Botan::ECDSA_PrivateKey person_key{rng, Botan::EC_Group("secp256r1")};  // staff keys also serve TLS
  Botan::ECDSA_PrivateKey device_key{rng, Botan::EC_Group("secp256r1")};
  patient_smart_card<> alice{"p-1001", rng};
  patient_smart_card<> bob{"p-1002", rng};
  sgtin96 monitor = sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.42", 1);
  local_ledger chain;
  record_store<> store{":memory:", keys};

  ward_fixture() {
    reg.register_patient({"p-1001", "cardiology", "12", "A"});
    reg.register_patient({"p-1002", "cardiology", "12", "B"});
    reg.register_collector("collector-icu");
    reg.register_device(monitor, "p-1001", "collector-icu");
    reg.register_staff("dr.house", role::doctor);
    reg.register_staff("nurse.joy", role::nurse);
    reg.register_staff("nurse.jenny", role::nurse);
    reg.register_staff("dr.who", role::nurse);  // registered as a nurse, certified as a doctor below
    reg.assign("dr.house", "p-1001");
    reg.assign("nurse.joy", "p-1001");
    reg.assign("nurse.jenny", "p-1002");
    reg.assign("dr.who", "p-1001");
    REQUIRE(keys.enrol_collector({issue(role::collector, "collector-icu")}, trust, t0));
    keys.add_patient_key("p-1001", alice.public_key());
    keys.add_patient_key("p-1002", bob.public_key());
    for (int i = 0; i < 3; ++i) put(alice, 70 + i, 1'700'000'000'000 + 1000 * i);
    put(bob, 88, 1'700'000'000'500);
  }

  // A certificate for the fixture's key of role @p r (collector, device or person).
  Botan::X509_Certificate issue(role r, const std::string& subject, certificate_authority* by = nullptr) {
    if (r == role::device) {
      identity id;
      id.role = r;
      id.subject_id = subject;
      id.device_epc = monitor;
      return (by ? *by : ca).issue(device_key, id, t0 - 1h, 24h * 30);
    }
    return hospital_pki::issue(r == role::collector ? static_cast<const Botan::Public_Key&>(collector_key)
                               : is_node(r)        ? static_cast<const Botan::Public_Key&>(device_key)
                                                   : static_cast<const Botan::Public_Key&>(person_key),
                               r, subject, by);
  }

  void put(patient_smart_card<>& card, std::int64_t bpm, std::int64_t ms) {
    (void)store.insert(make_record(card.patient_id(), monitor, "heart_rate", access_heart_rate(bpm),
                                   record_time(std::chrono::milliseconds(ms)), card, "collector-icu", collector_key,
                                   rng));
  }

  // The private key whose public half @p cert certifies, or null.
  const Botan::Private_Key* key_of(const Botan::X509_Certificate& cert) const {
    for (const Botan::Private_Key* k : {static_cast<const Botan::Private_Key*>(&person_key),
                                        static_cast<const Botan::Private_Key*>(&device_key),
                                        static_cast<const Botan::Private_Key*>(&collector_key)})
      if (cert.subject_public_key_info() == Botan::X509::BER_encode(*k)) return k;
    return nullptr;
  }

  // A read by the holder of @p chain, who answers a fresh challenge with the certificate's key.
  template <class Controller>
  access_result read(Controller& readers, const std::vector<Botan::X509_Certificate>& chain, std::string_view patient,
                     std::optional<record_time> from = {}, std::optional<record_time> to = {}) {
    const auto challenge = readers.challenge(t0);
    access_proof proof{challenge.nonce, {}};
    if (!chain.empty())
      if (const auto* key = key_of(chain.front()))
        proof = prove_access(challenge, patient, chain.front(), *key, rng);
    return readers.read(chain, proof, patient, from, to, t0);
  }

  // The sealed access transactions, in order.
  std::vector<transaction> access_log() {
    chain.flush();
    std::vector<transaction> out;
    for (auto& loc : chain.find(tx_kind::access)) out.push_back(loc.tx);
    return out;
  }
};

} // namespace

TEST_CASE("access: the assigned doctor and nurse read their patient's records, and each read is logged",
          "[iot][access]") {
  ward_fixture f;
  access_controller readers(f.trust, f.reg, f.store, f.chain);

  const auto doctor = f.read(readers, {f.issue(role::doctor, "dr.house")}, "p-1001");
  REQUIRE(doctor.ok());
  CHECK(doctor.reader == "dr.house");
  CHECK(doctor.reader_role == role::doctor);
  REQUIRE(doctor.records.size() == 3);
  CHECK(doctor.records[0].decode_payload() == access_heart_rate(70));
  for (const auto& r : doctor.records) CHECK(r.patient_id == "p-1001");

  const auto nurse = f.read(readers, {f.issue(role::nurse, "nurse.joy")}, "p-1001",
                                  record_time(std::chrono::milliseconds(1'700'000'000'500)), {});
  REQUIRE(nurse.ok());
  CHECK(nurse.records.size() == 2);

  const auto log = f.access_log();
  REQUIRE(log.size() == 2);
  CHECK(log[0].field_string("reader") == "dr.house");
  CHECK(log[0].field_string("patient") == "p-1001");
  CHECK(log[0].fields().at("allowed") == true);
  CHECK(log[0].field_string("reason") == "ok");
  CHECK(log[0].id() == doctor.ledger_entry);
  CHECK(log[1].field_string("reader") == "nurse.joy");
  CHECK(f.chain.verify().ok());
}

TEST_CASE("access: other readers are refused with a typed reason, and every refusal is logged",
          "[iot][access][refuse]") {
  ward_fixture f;
  access_controller readers(f.trust, f.reg, f.store, f.chain);

  struct attempt {
    std::vector<Botan::X509_Certificate> chain;
    std::string patient;
    access_refusal expected;
    std::string message_part;
  };
  const auto revoked_nurse = f.issue(role::nurse, "nurse.joy");
  f.ca.revoke(revoked_nurse, Botan::CRL_Code::KEY_COMPROMISE, f.t0 - 30min);
  f.trust.add_crl(f.ca.crl());
  const std::vector<attempt> attempts{
      {{f.issue(role::nurse, "nurse.jenny")}, "p-1001", access_refusal::not_assigned, "not assigned"},
      {{f.issue(role::patient, "p-1001")}, "p-1001", access_refusal::wrong_role, "has role patient"},
      {{f.issue(role::device, "icu-monitor")}, "p-1001", access_refusal::wrong_role, "has role device"},
      {{f.issue(role::admin, "admin.root")}, "p-1001", access_refusal::wrong_role, "has role admin"},
      {{f.issue(role::doctor, "dr.house", &f.rogue)}, "p-1001", access_refusal::untrusted_certificate, "untrusted"},
      {{revoked_nurse}, "p-1001", access_refusal::untrusted_certificate, "revoked"},
      {{}, "p-1001", access_refusal::untrusted_certificate, "no certificate"},
      {{f.issue(role::doctor, "dr.house")}, "p-404", access_refusal::unknown_patient, "no patient"},
      {{f.issue(role::doctor, "dr.who")}, "p-1001", access_refusal::not_assigned, "registered as a nurse"},
      {{f.issue(role::doctor, "dr.nobody")}, "p-1001", access_refusal::not_assigned, "not registered"},
  };
  for (const auto& a : attempts) {
    const auto result = f.read(readers, a.chain, a.patient);
    INFO("expected " << to_string(a.expected) << ", message: " << result.message);
    REQUIRE_FALSE(result.ok());
    CHECK(*result.refusal == a.expected);
    CHECK_THAT(result.message, Catch::Contains(a.message_part));
    CHECK(result.records.empty());
  }

  const auto log = f.access_log();
  REQUIRE(log.size() == attempts.size());
  for (std::size_t i = 0; i < log.size(); ++i) {
    CHECK(log[i].fields().at("allowed") == false);
    CHECK(log[i].field_string("reason") == to_string(attempts[i].expected));
  }
  CHECK(log[0].field_string("reader") == "nurse.jenny");
  // An untrusted certificate's claimed name is not logged as the reader: its fingerprint is.
  CHECK_THAT(std::string(log[4].field_string("reader")), Catch::StartsWith("cert:"));
  CHECK(log[4].field_string("reader").size() == 5 + 64);
  CHECK(log[6].field_string("reader") == "cert:none");

  // Identical attempts in the same millisecond are separate entries.
  const auto jenny = std::vector{f.issue(role::nurse, "nurse.jenny")};
  const auto a1 = f.read(readers, jenny, "p-1001");
  const auto a2 = f.read(readers, jenny, "p-1001");
  CHECK(a1.ledger_entry != a2.ledger_entry);
  CHECK(f.access_log().size() == attempts.size() + 2);

  // A hostile patient id is logged as hex, never as raw bytes.
  const auto hostile = f.read(readers, jenny, std::string("p-1\0\n\xff", 6));
  CHECK(hostile.refusal == access_refusal::unknown_patient);
  CHECK_THAT(std::string(f.access_log().back().field_string("patient")), Catch::StartsWith("hex:"));
}

TEST_CASE("access: a read that cannot be logged is not served", "[iot][access]") {
  ward_fixture f;
  const auto sealer = sealer_key::generate("storage", Botan::system_rng());
  ledger_config cfg;
  cfg.max_block_transactions = 1;
  cfg.max_pending = 1;
  ledger full(make_genesis({sealer.identity()}, "full-chain", ledger_now()), cfg);  // never seals here
  access_controller readers(f.trust, f.reg, f.store, full);
  const auto doctor = std::vector{f.issue(role::doctor, "dr.house")};
  CHECK(f.read(readers, doctor, "p-1001").records.size() == 3);
  CHECK_THROWS_AS(f.read(readers, doctor, "p-1001"), hefl::security_error);
}
