// 04 — the secure collection path of seed 003 in one process. A hospital CA certifies a device, a
// collector, an admin, a doctor and a nurse; the admin deploys the vital-signs rule contract; the
// collector validates each device request (certificate, signature, replay, rule) and logs every
// authenticated verdict on the Proof-of-Authority ledger; an accepted measurement becomes a record that
// carries the device's signed request, signed by the patient's smart card and the collector, which the
// storage node re-checks (down to the device's own signature) before its SQLite store keeps it; only
// the patient's assigned staff, proving their key, may read it. See docs/iot.md.
#include <hefl/iot.hpp>

#include <botan/auto_rng.h>
#include <botan/hex.h>

#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <string>

using namespace hefl::iot;
using namespace std::chrono_literals;

namespace {

// The record store lives in a file of its own, removed when the example ends.
struct temp_file {
  std::filesystem::path path;
  explicit temp_file(const std::string& hex_suffix)
      : path(std::filesystem::temp_directory_path() / ("hefl_04_records_" + hex_suffix + ".db")) {}
  ~temp_file() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
    std::filesystem::remove(path.string() + "-journal", ec);
  }
};

int failures = 0;

// Prints one step and counts it as a failure when the outcome is not the expected one.
void show(const std::string& step, std::string_view outcome, const std::string& detail, std::string_view expected) {
  std::cout << "  " << std::left << std::setw(40) << step << " -> " << outcome;
  if (!detail.empty()) std::cout << "  (" << detail << ")";
  std::cout << "\n";
  if (outcome != expected) {
    std::cout << "    UNEXPECTED: expected " << expected << "\n";
    ++failures;
  }
}

payload heart_rate(std::int64_t bpm) { return payload{"heart_rate", {{"bpm", bpm}}}; }

} // namespace

int main() try {
  Botan::AutoSeeded_RNG rng;
  const auto now = std::chrono::system_clock::now();

  std::cout << "1. PKI: one ECDSA P-256 root; every certificate carries the hospital identity extension\n";
  certificate_authority ca("St Mary Hospital", now - 1h);
  auto trust = trust_store::in_memory();
  trust.add_root(ca.root());
  trust.add_crl(ca.crl());  // with a CRL installed, revocation is checked on every validation
  const auto issue = [&](role r, const std::string& name, const Botan::Public_Key& key, std::optional<sgtin96> epc = {}) {
    return ca.issue(key, identity{r, name, epc, epc ? 1u : 0u, epc ? 1u : 0u}, now - 1h, 24h * 30);
  };
  const auto monitor_epc = sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.1", 1);
  const auto device_keys = ecdsa_p256_signing::generate(rng);
  const auto collector_keys = ecdsa_p256_signing::generate(rng);
  const auto admin_keys = ecdsa_p256_signing::generate(rng);
  const auto staff_keys = ecdsa_p256_signing::generate(rng);
  patient_smart_card<> alice("p-1001", rng);  // Ed25519 key that never leaves the card
  const certificate_chain device{issue(role::device, "monitor-1", *device_keys.public_key, monitor_epc)};
  const certificate_chain collector{issue(role::collector, "collector-icu", *collector_keys.public_key)};
  const auto admin = issue(role::admin, "admin.root", *admin_keys.public_key);
  const certificate_chain doctor{issue(role::doctor, "dr.house", *staff_keys.public_key)};
  const certificate_chain nurse{issue(role::nurse, "nurse.jenny", *staff_keys.public_key)};
  std::cout << "  device " << monitor_epc.to_urn() << " = EPC " << monitor_epc.to_hex() << ", group 1\n";

  std::cout << "2. Registry, ledger, rule contract, collector and storage node\n";
  registry reg;
  reg.register_patient({"p-1001", "icu", "4", "A"});
  reg.register_collector("collector-icu");
  reg.register_device(monitor_epc, "p-1001", "collector-icu");
  reg.register_staff("dr.house", role::doctor);
  reg.register_staff("nurse.jenny", role::nurse);  // registered, but not assigned to p-1001
  reg.assign("dr.house", "p-1001");

  local_ledger chain;  // one sealer here; tests/iot/attack_scenarios_test.cpp runs two
  const auto is_admin = [&](const Botan::X509_Certificate& c) {
    return validate_chain(c, trust, cert_usage::any, std::chrono::system_clock::now(), {role::admin}).ok();
  };
  const auto log_deployment = [&](const deployment_event& e) {
    if (e.accepted())
      chain.submit(transaction::rule_deployment(std::to_string(*e.group_id), e.version, e.contract_hash, e.signer,
                                                ledger_now()));
  };
  rule_manager<> collector_rules(is_admin, log_deployment), storage_rules(is_admin, [](const deployment_event&) {});
  const auto deployment = sign_deployment(vital_signs_example_contract, *admin_keys.private_key, admin, rng);
  show("admin deploys vital-signs v1", to_string(collector_rules.deploy(deployment).status), "", "accepted");
  (void)storage_rules.deploy(deployment);  // the storage node checks rules with its own manager

  replay_guard replay;
  collector_validator_options options;
  options.collector_id = "collector-icu";
  options.devices = &reg;
  collector_validator<> validator(trust, collector_rules, replay, chain, options);

  identity_directory directory;  // what the storage node enrolled from validated certificates
  directory.enrol_patient({issue(role::patient, "p-1001", alice.public_key())}, trust);
  directory.enrol_device(device, trust);
  temp_file file(Botan::hex_encode(rng.random_vec(6), false));
  record_store<> store(file.path.string(), directory, chain);
  storage_guard<rule_manager<>, local_ledger> guard(trust, reg, directory, storage_rules, store, chain);
  access_controller<local_ledger> readers(trust, reg, store, chain);

  std::cout << "3. Device requests at the collector (every authenticated verdict is a ledger entry)\n";
  const auto send = [&](const std::string& step, const certificate_chain& from, const std::vector<std::uint8_t>& bytes,
                        std::string_view expected) {
    const auto v = validator.validate(from, bytes);
    show(step, v.code(), v.message, expected);
    if (v.accepted()) {  // the record carries the device's signed request; the card signs, the collector countersigns
      const auto rec = make_attested_record(*v.parsed, alice, "collector-icu", *collector_keys.private_key, rng);
      const auto stored = guard.submit(rec, collector);
      show("  storage node re-checks and stores it", stored.ok() ? "stored" : "refused", stored.message, "stored");
    }
  };
  const auto honest = make_signed_request(monitor_epc, "collector-icu", "p-1001", heart_rate(72), request_now(),
                                          *device_keys.private_key, rng);
  send("honest heart rate 72 bpm", device, honest.encode(), "accepted");
  send("the same bytes again", device, honest.encode(), "replay");
  send("heart rate 400 bpm", device,
       make_signed_request(monitor_epc, "collector-icu", "p-1001", heart_rate(400), request_now(), *device_keys.private_key, rng).encode(),
       "rule_violation");
  send("blood glucose (not in the contract)", device,
       make_signed_request(monitor_epc, "collector-icu", "p-1001", payload{"blood_glucose", {{"mg_dl", 90}}}, request_now(),
                           *device_keys.private_key, rng)
           .encode(),
       "rule_violation");
  certificate_authority rogue("St Mary Hospital", now - 1h);  // same name, another key
  const auto rogue_keys = ecdsa_p256_signing::generate(rng);
  const certificate_chain spoofed{
      rogue.issue(*rogue_keys.public_key, identity{role::device, "monitor-1", monitor_epc, 1, 1}, now - 1h, 24h)};
  send("monitor-1 certified by a rogue CA", spoofed,
       make_signed_request(monitor_epc, "collector-icu", "p-1001", heart_rate(75), request_now(), *rogue_keys.private_key, rng).encode(),
       "untrusted_certificate");
  send("a stale capture (10 minutes old)", device,
       make_signed_request(monitor_epc, "collector-icu", "p-1001", heart_rate(73), request_now() - 10min, *device_keys.private_key, rng)
           .encode(),
       "stale");

  std::cout << "4. The stored record\n";
  for (const auto& r : store.records_of("p-1001"))
    std::cout << "  #" << r.id << " " << r.patient_id << " " << r.device.to_urn() << " " << r.decode_payload().to_json()
              << "\n     SHA-256 " << Botan::hex_encode(r.hash.data(), r.hash.size(), false).substr(0, 32)
              << "..., patient signature " << r.patient_signature.size() << " B (Ed25519), collector signature "
              << r.collector_signature.size() << " B (ECDSA P-256)\n";

  std::cout << "5. Reads\n";
  // A certificate is public: each reader signs a fresh challenge with the certificate's key.
  const auto read_as = [&](const certificate_chain& who) {
    const auto challenge = readers.challenge();
    return readers.read(who, prove_access(challenge, "p-1001", who.front(), *staff_keys.private_key, rng), "p-1001");
  };
  const auto by_doctor = read_as(doctor);
  show("dr.house (assigned doctor) reads p-1001", by_doctor.ok() ? "allowed" : to_string(*by_doctor.refusal),
       std::to_string(by_doctor.records.size()) + " record(s)", "allowed");
  const auto by_nurse = read_as(nurse);
  show("nurse.jenny (not assigned) reads p-1001", by_nurse.ok() ? "allowed" : to_string(*by_nurse.refusal),
       by_nurse.message, "not_assigned");

  std::cout << "6. Ledger\n";
  chain.flush();
  const auto report = chain.verify();
  std::cout << "  height " << chain.height() << ", " << chain.transaction_count() << " transactions: "
            << chain.find(tx_kind::rule_deployment).size() << " deployment, " << chain.find(tx_kind::rule_check).size()
            << " rule checks, " << chain.find(tx_kind::record_stored).size() << " record stored, "
            << chain.find(tx_kind::access).size() << " reads\n";
  show("verify()", report.ok() ? "ok" : to_string(report.fault), report.message, "ok");
  show("store integrity scan", store.integrity_scan().ok() ? "ok" : "tampered", "", "ok");
  if (failures != 0) std::cout << failures << " step(s) did not go as expected\n";
  return failures == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "04_iot_collector: " << e.what() << "\n";
  return 1;
}
