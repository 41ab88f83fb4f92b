// The storage guard and the access controller logging to an Ethereum ledger (AuditLog on a ganache
// this test starts), under the attacks their own tests cover with the built-in ledger: false data
// (rule violation, forbidden type), a forged patient signature, a device not assigned to the patient
// (wrong patient), an unknown device, a replayed nonce, a revoked collector, a rogue CA, and readers
// who are not assigned or not staff. Each scenario runs twice, unchanged: with iot::ethereum_ledger
// (one append per entry; each refusal's entry read back from the chain's Appended events) and with
// iot::batched_audit_ledger (Merkle batches; each entry's inclusion proof checked against the root
// the chain's BatchAppended event records).
#include <hefl/iot/hospital/access.hpp>
#include <hefl/iot/ledger/ethereum/batched_audit_ledger.hpp>
#include <hefl/iot/ledger/ethereum/ethereum_ledger.hpp>
#include <hefl/iot/storage/storage_guard.hpp>

#include "eth_support.hpp"
#include "hospital_fixture.hpp"
#include "test_support.hpp"

#include <botan/ecdsa.h>

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

using namespace hefl::iot;
using namespace std::chrono_literals;
namespace eth = hefl::iot::ethereum;

namespace {

using hefl_test::malleated;

payload heart_payload(std::int64_t bpm) { return hefl_test::vital("heart_rate", "bpm", bpm); }

/// AuditLog deployed on a ganache started here, and a Ledger (ethereum_ledger or batched_audit_ledger) writing to it.
template <class Ledger>
struct chain_fixture {
  hefl::testing::ganache_chain chain;
  std::unique_ptr<Ledger> ledger;

  explicit chain_fixture(const std::filesystem::path& tools) : chain(tools) {
    if constexpr (std::is_same_v<Ledger, ethereum_ledger>) {
      ethereum_ledger_config c;
      c.receipt_timeout = 30s;
      ledger = std::make_unique<Ledger>(chain.rpc, chain.sender, chain.audit_log, c);
    } else {
      batched_audit_config c;
      c.max_delay = 20ms;  // not pipelined: each submit returns once its batch's root is mined
      c.receipt_timeout = 30s;
      ledger = std::make_unique<Ledger>(chain.rpc, chain.sender, chain.audit_log, c);
    }
  }

  /// The AuditLog entry whose request hash is @p id as the chain records it, and its writer:
  /// ethereum_ledger's from the Appended events; batched_audit_ledger's from the entry's inclusion
  /// proof, verified against the root of its batch's BatchAppended event (verify_inclusion).
  std::optional<std::pair<eth::audit_entry, eth::address>> on_chain(const sha256_digest& id) const {
    if constexpr (std::is_same_v<Ledger, ethereum_ledger>) {
      eth::log_filter f;
      f.emitter = chain.audit_log;
      f.topics = {eth::audit_log_abi::appended_topic()};
      for (const auto& lg : chain.rpc.logs(f)) {
        if (lg.removed) continue;
        const auto r = eth::audit_log_abi::decode_appended(lg);
        if (std::equal(id.begin(), id.end(), r.entry.request_hash.begin())) return std::pair{r.entry, r.writer};
      }
    } else {
      for (const auto& e : ledger->entries()) {
        if (e.tx.id() != id) continue;
        const auto rec = eth::verify_inclusion(chain.rpc, chain.audit_log, e.inclusion);
        return std::pair{e.inclusion.entry, rec.writer};
      }
    }
    return std::nullopt;
  }
};

/// The storage side of a hospital (as storage_guard_test builds it) with every entry going to the
/// Ethereum ledger, plus staff certificates and the access controller in front of the store.
template <class Ledger>
struct eth_hospital : hefl_test::hospital_pki {
  chain_fixture<Ledger>& chain;
  Botan::ECDSA_PrivateKey node_key{rng, Botan::EC_Group("secp256r1")};
  Botan::ECDSA_PrivateKey admin_key{rng, Botan::EC_Group("secp256r1")};
  Botan::ECDSA_PrivateKey doctor_key{rng, Botan::EC_Group("secp256r1")};
  Botan::ECDSA_PrivateKey nurse_key{rng, Botan::EC_Group("secp256r1")};
  Botan::X509_Certificate icu_cert, admin_cert, doctor_cert, nurse_cert;
  patient_smart_card<> alice{"p-1001", rng};
  patient_smart_card<> bob{"p-1002", rng};
  sgtin96 monitor = sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.1", 1);  // alice's
  sgtin96 pump = sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.2", 1);     // bob's
  rule_manager<> rules{[this](const Botan::X509_Certificate& c) {
                           return validate_chain(c, trust, cert_usage::any, t0, {role::admin}).ok();
                         },
                         // AuditLog has no deployment kind: contract deployments are RuleRegistry's business.
                         [](const deployment_event&) {}};
  record_store<> store{":memory:", keys, *chain.ledger};
  storage_guard<rule_manager<>, Ledger> guard{trust, reg, keys, rules, store, *chain.ledger};
  access_controller<Ledger> readers{trust, reg, store, *chain.ledger};
  std::uint64_t next_ms = 0;

  explicit eth_hospital(chain_fixture<Ledger>& c) : chain(c) {
    icu_cert = issue(node_key, role::collector, "collector-icu");
    admin_cert = issue(admin_key, role::admin, "admin.root");
    doctor_cert = issue(doctor_key, role::doctor, "dr.house");
    nurse_cert = issue(nurse_key, role::nurse, "nurse.jenny");
    reg.register_patient({"p-1001", "icu", "1", "A"});
    reg.register_patient({"p-1002", "icu", "1", "B"});
    reg.register_collector("collector-icu");
    reg.register_device(monitor, "p-1001", "collector-icu");
    reg.register_device(pump, "p-1002", "collector-icu");
    reg.register_staff("dr.house", role::doctor);
    reg.register_staff("nurse.jenny", role::nurse);
    reg.assign("dr.house", "p-1001");
    reg.assign("nurse.jenny", "p-1002");
    REQUIRE(keys.enrol_patient({issue(alice.public_key(), role::patient, "p-1001")}, trust, t0));
    REQUIRE(keys.enrol_patient({issue(bob.public_key(), role::patient, "p-1002")}, trust, t0));
    REQUIRE(keys.enrol_device({issue_device(monitor, "monitor-1")}, trust, t0));
    REQUIRE(keys.enrol_device({issue_device(pump, "pump-2")}, trust, t0));
    REQUIRE(rules.deploy(sign_deployment(vital_signs_example_contract, admin_key, admin_cert, rng)).accepted());
    next_ms = static_cast<std::uint64_t>(
        std::chrono::floor<std::chrono::milliseconds>(t0).time_since_epoch().count() - 60'000);
  }

  record honest(patient_smart_card<>& card, const sgtin96& device, const payload& p) {
    const auto req = make_signed_request(device, "collector-icu", card.patient_id(), p,
                                         record_time(std::chrono::milliseconds(next_ms++)), key_of(device), rng);
    return make_attested_record(req, card, "collector-icu", node_key, rng);
  }
  access_result read_as(const Botan::X509_Certificate& cert, const Botan::Private_Key& key, const std::string& patient) {
    const auto c = readers.challenge();
    return readers.read({cert}, prove_access(c, patient, cert, key, rng), patient);
  }

  /// The entry @p id is on chain as a storage/access entry with @p accepted, for @p patient.
  void check_on_chain(const sha256_digest& id, eth::audit_kind kind, bool accepted, const std::string& patient) {
    const auto r = chain.on_chain(id);
    REQUIRE(r.has_value());
    CHECK(r->first.kind == kind);
    CHECK(r->first.accepted == accepted);
    CHECK(r->first.reason == (accepted ? 0 : 1));
    CHECK(r->first.device_id == eth::keccak256(patient));
    CHECK(r->second == chain.chain.sender.account());
  }
};

} // namespace

TEMPLATE_TEST_CASE("Ethereum ledgers: storage_guard stores honest records and logs each forged one's refusal on chain",
                   "[eth][ledger][ganache][storage_guard][attack]", ethereum_ledger, batched_audit_ledger) {
  HEFL_GANACHE_OR_SKIP(tools);
  chain_fixture<TestType> chain(tools);
  eth_hospital<TestType> h(chain);
  const std::vector<Botan::X509_Certificate> icu{h.icu_cert};

  const auto ok = h.guard.submit(h.honest(h.alice, h.monitor, heart_payload(72)), icu, h.t0);
  INFO(ok.message);
  REQUIRE(ok.ok());
  // record_store logged record_stored through the ledger: the only entry so far.
  const auto entries = chain.ledger->entries();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].tx.kind() == tx_kind::record_stored);
  h.check_on_chain(entries[0].tx.id(), eth::audit_kind::storage, true, "p-1001");

  struct forgery {
    std::string name;
    record r;
    std::vector<Botan::X509_Certificate> chain;
    storage_refusal expected;
    std::string patient;
  };
  std::vector<forgery> forgeries;
  forgeries.push_back({"rule violation: value out of range", h.honest(h.alice, h.monitor, heart_payload(400)), icu,
                       storage_refusal::rule_violation, "p-1001"});
  forgeries.push_back({"rule violation: type not allowed",
                       h.honest(h.alice, h.monitor, hefl_test::vital("blood_glucose", "mg_dl", 90)), icu,
                       storage_refusal::rule_violation, "p-1001"});
  patient_smart_card<> fake_card{"p-1001", h.rng};
  forgeries.push_back({"forged patient signature", h.honest(fake_card, h.monitor, heart_payload(75)), icu,
                       storage_refusal::bad_patient_signature, "p-1001"});
  forgeries.push_back({"device not assigned to the patient", h.honest(h.bob, h.monitor, heart_payload(80)), icu,
                       storage_refusal::device_not_assigned, "p-1002"});
  forgeries.push_back({"unknown device",
                       h.honest(h.alice, sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.99", 1), heart_payload(80)),
                       icu, storage_refusal::unknown_device, "p-1001"});
  auto replayed = h.store.get(ok.record_id).value().device_request();
  replayed.signature = malleated(replayed.signature);
  forgeries.push_back({"replay under a used nonce",
                       make_attested_record(replayed, h.alice, "collector-icu", h.node_key, h.rng), icu,
                       storage_refusal::duplicate_nonce, "p-1001"});
  Botan::ECDSA_PrivateKey rogue_key{h.rng, Botan::EC_Group("secp256r1")};
  const auto rogue_cert = h.issue(rogue_key, role::collector, "collector-icu", &h.rogue);
  forgeries.push_back({"collector certified by a rogue CA",
                       make_attested_record(h.honest(h.alice, h.monitor, heart_payload(70)).device_request(), h.alice,
                                            "collector-icu", rogue_key, h.rng),
                       {rogue_cert}, storage_refusal::untrusted_collector, "p-1001"});

  for (const auto& fg : forgeries) {
    INFO(fg.name);
    const auto v = h.guard.submit(fg.r, fg.chain, h.t0);
    INFO(v.message);
    REQUIRE_FALSE(v.ok());
    CHECK(*v.refusal == fg.expected);
    h.check_on_chain(v.ledger_entry, eth::audit_kind::storage, false, fg.patient);
  }

  // A revoked collector: refused and logged the same way.
  h.ca.revoke(h.icu_cert, Botan::CRL_Code::KEY_COMPROMISE, h.t0 - 10min);
  h.trust.add_crl(h.ca.crl());
  const auto revoked = h.guard.submit(h.honest(h.alice, h.monitor, heart_payload(70)), icu, h.t0);
  REQUIRE_FALSE(revoked.ok());
  CHECK(*revoked.refusal == storage_refusal::untrusted_collector);
  h.check_on_chain(revoked.ledger_entry, eth::audit_kind::storage, false, "p-1001");

  CHECK(h.store.size() == 1);
  CHECK(chain.ledger->entries().size() == 1 + forgeries.size() + 1);
  CHECK_FALSE(chain.ledger->verify_against_chain().has_value());
}

TEMPLATE_TEST_CASE("Ethereum ledgers: access_controller logs allowed and refused reads on chain",
                   "[eth][ledger][ganache][access][attack]", ethereum_ledger, batched_audit_ledger) {
  HEFL_GANACHE_OR_SKIP(tools);
  chain_fixture<TestType> chain(tools);
  eth_hospital<TestType> h(chain);
  REQUIRE(h.guard.submit(h.honest(h.alice, h.monitor, heart_payload(72)), {h.icu_cert}, h.t0).ok());

  const auto allowed = h.read_as(h.doctor_cert, h.doctor_key, "p-1001");
  INFO(allowed.message);
  REQUIRE(allowed.ok());
  CHECK(allowed.records.size() == 1);
  h.check_on_chain(allowed.ledger_entry, eth::audit_kind::access, true, "p-1001");

  // An unassigned nurse, a collector (not staff), a proof signed with another key, an unknown patient.
  const auto unassigned = h.read_as(h.nurse_cert, h.nurse_key, "p-1001");
  REQUIRE_FALSE(unassigned.ok());
  CHECK(*unassigned.refusal == access_refusal::not_assigned);
  CHECK(unassigned.records.empty());
  h.check_on_chain(unassigned.ledger_entry, eth::audit_kind::access, false, "p-1001");

  const auto not_staff = h.read_as(h.icu_cert, h.node_key, "p-1001");
  REQUIRE_FALSE(not_staff.ok());
  CHECK(*not_staff.refusal == access_refusal::wrong_role);
  h.check_on_chain(not_staff.ledger_entry, eth::audit_kind::access, false, "p-1001");

  const auto stolen_cert = h.read_as(h.doctor_cert, h.nurse_key, "p-1001");
  REQUIRE_FALSE(stolen_cert.ok());
  CHECK(*stolen_cert.refusal == access_refusal::no_proof_of_possession);
  h.check_on_chain(stolen_cert.ledger_entry, eth::audit_kind::access, false, "p-1001");

  CHECK_FALSE(chain.ledger->verify_against_chain().has_value());
}

TEST_CASE("ethereum_ledger: storage refusals map to AuditLog storage entries", "[eth][ledger]") {
  const auto refused = transaction(tx_kind::custom, {{"type", "record_refused"}, {"patient", "p-7"}, {"reason", "x"}},
                                   ledger_now());
  const auto e = ethereum_ledger::entry_of(refused);
  CHECK(e.kind == eth::audit_kind::storage);
  CHECK_FALSE(e.accepted);
  CHECK(e.reason == 1);
  CHECK(e.device_id == eth::keccak256(std::string_view("p-7")));
  CHECK_FALSE(ethereum_ledger::entry_of(transaction(tx_kind::custom, {{"type", "record_store_rollback"}, {"record", "3"}},
                                                    ledger_now()))
                  .accepted);
}
