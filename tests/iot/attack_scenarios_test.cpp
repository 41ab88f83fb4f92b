// System-level proof of seed 003's threat list: one hospital wired the way a deployment is (CA ->
// device, collector, storage, staff and patient certificates; SQLite trust store and registry; an
// admin-signed vital-signs contract on the collector and on the storage node; a two-sealer
// Proof-of-Authority ledger with the collector and the storage node as sealers; collector_validator ->
// make_attested_record (device request + patient card + collector key) -> storage_guard -> SQLite record_store ->
// access_controller). Each attack is its own TEST_CASE and shows the refusal reason and the ledger
// entry; honest traffic before and after each attack still goes all the way to the assigned doctor.
// The per-component edge cases live in the components' own tests; this file checks that the pieces,
// composed, refuse every attack and lose nothing honest.
#include <hefl/iot.hpp>

#include "raw_extension.hpp"

#include <catch2/catch.hpp>

#include <botan/auto_rng.h>
#include <botan/ecdsa.h>
#include <botan/hex.h>
#include <botan/sqlite3.h>
#include <botan/system_rng.h>
#include <botan/x509_ca.h>
#include <botan/x509_ext.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

using namespace hefl::iot;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// A fresh directory under the temp directory, removed with everything in it when the hospital closes.
struct scenario_dir {
  std::filesystem::path path;
  scenario_dir() {
    std::vector<std::uint8_t> r(8);
    Botan::system_rng().randomize(r.data(), r.size());
    path = std::filesystem::temp_directory_path() / ("hefl_attacks_" + Botan::hex_encode(r, false));
    std::filesystem::create_directories(path);
  }
  ~scenario_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  scenario_dir(const scenario_dir&) = delete;
  scenario_dir& operator=(const scenario_dir&) = delete;
  [[nodiscard]] std::string file(const std::string& name) const { return (path / name).string(); }
};

// SQL run on a database file through its own connection, as an attacker with write access to the disk would.
void attacker_sql(const std::string& path, const std::string& sql) {
  Botan::Sqlite3_Database db(path);
  db.new_statement(sql)->spin();
  const auto q = db.new_statement("SELECT changes()");
  REQUIRE(q->step());
  REQUIRE(q->get_size_t(0) == 1);
}

payload vital(const std::string& type, const std::string& field, json value) {
  payload p;
  p.type = type;
  p.fields.emplace(field, std::move(value));
  return p;
}
payload heart_rate(std::int64_t bpm) { return vital("heart_rate", "bpm", bpm); }

std::string hex(std::span<const std::uint8_t> bytes) { return Botan::hex_encode(bytes.data(), bytes.size(), false); }

/// A certificate holder: its key pair, its certificate and, for devices, its EPC.
struct holder {
  key_pair keys;
  Botan::X509_Certificate cert;
  std::optional<sgtin96> epc;
  [[nodiscard]] certificate_chain chain() const { return {cert}; }
  [[nodiscard]] std::string epc_hex() const { return epc->to_hex(); }
};

/// The two sealers of seed 003's Proof-of-Authority chain, the collector and the storage node, each
/// with its own replica; settle() plays the network: pending transactions go to the sealer in turn,
/// sealed blocks go to the other replica, which verifies them before appending.
struct poa_network {
  sealer_key collector_key = sealer_key::generate("collector-icu", Botan::system_rng());
  sealer_key storage_key = sealer_key::generate("storage-main", Botan::system_rng());
  block genesis = make_genesis({collector_key.identity(), storage_key.identity()}, "st-mary-hospital", ledger_now());
  ledger collector{genesis, {}, collector_key};
  ledger storage{genesis, {}, storage_key};

  void settle() {
    for (int round = 0; round < 16; ++round) {
      if (collector.pending_count() == 0 && storage.pending_count() == 0) return;
      for (const auto& tx : collector.pending()) storage.submit(tx);
      for (const auto& tx : storage.pending()) collector.submit(tx);
      collector.flush();  // each seals only at its turn (round-robin by height)
      storage.flush();
      REQUIRE(storage.sync_from(collector));
      REQUIRE(collector.sync_from(storage));
    }
    FAIL("the ledger replicas did not settle");
  }
};

/// What happened to one device request: the collector's verdict and, when accepted, the storage node's.
struct delivery {
  collector_verdict verdict;
  std::optional<storage_verdict> stored;
};

/// St Mary Hospital, as deployed. Built fresh for every TEST_CASE (a few tens of milliseconds).
struct hospital {
  Botan::AutoSeeded_RNG rng;
  scenario_dir dir;
  clock_time t0 = std::chrono::system_clock::now();
  Botan::ECDSA_PrivateKey ca_key{rng, Botan::EC_Group("secp256r1")};  // kept to forge malformed extensions
  certificate_authority ca{std::make_unique<Botan::ECDSA_PrivateKey>(rng, ca_key.domain(), ca_key.private_value()),
                           "St Mary Hospital", t0 - 24h};
  certificate_authority rogue{"St Mary Hospital", t0 - 24h};  // same name, another key
  trust_store trust = trust_store::open_sqlite(dir.file("trust.db"));
  registry reg;  // in memory: its SQLite persistence is registry_test's business, and every write costs an fsync
  identity_directory directory;  // the storage node's enrolment of patients, collectors and devices

  patient_smart_card<> alice{"p-1001", rng};
  patient_smart_card<> bob{"p-1002", rng};
  holder admin = person(role::admin, "admin.root");
  holder doctor = person(role::doctor, "dr.house");        // assigned to alice and bob
  holder nurse_joy = person(role::nurse, "nurse.joy");     // assigned to alice
  holder nurse_jenny = person(role::nurse, "nurse.jenny"); // assigned to bob only
  holder alice_cert = patient(alice);
  holder bob_cert = patient(bob);
  holder collector = node(role::collector, "collector-icu");
  holder storage_node = node(role::storage, "storage-main");
  holder monitor = device(1, "monitor-1");      // alice's
  holder oximeter = device(2, "oximeter-2");    // bob's
  holder captured = device(3, "pump-3");        // bob's; captured and revoked in the node-capture scenario
  holder expired = device(4, "monitor-4", t0 - 48h, t0 - 24h);  // alice's, certificate expired yesterday

  poa_network net;
  rule_manager<> collector_rules{[this](const Botan::X509_Certificate& c) { return is_admin(c); },
                                 [this](const deployment_event& e) { log_deployment(net.collector, "collector-icu", e); }};
  rule_manager<> storage_rules{[this](const Botan::X509_Certificate& c) { return is_admin(c); },
                               [this](const deployment_event& e) { log_deployment(net.storage, "storage-main", e); }};
  replay_guard replay;
  collector_validator<> validator{trust, collector_rules, replay, net.collector, collector_options()};
  record_store<> store{dir.file("records.db"), directory, net.storage};
  storage_guard<rule_manager<>, ledger> guard{trust, reg, directory, storage_rules, store, net.storage};
  access_controller<ledger> readers{trust, reg, store, net.storage};
  request_time last_timestamp{};

  hospital() {
    trust.add_root(ca.root());
    trust.add_crl(ca.crl());  // from now on every validation needs current revocation information

    reg.register_patient({"p-1001", "icu", "4", "A"});
    reg.register_patient({"p-1002", "icu", "4", "B"});
    reg.register_collector("collector-icu");
    reg.register_device(*monitor.epc, "p-1001", "collector-icu");
    reg.register_device(*oximeter.epc, "p-1002", "collector-icu");
    reg.register_device(*captured.epc, "p-1002", "collector-icu");
    reg.register_device(*expired.epc, "p-1001", "collector-icu");
    reg.register_staff("dr.house", role::doctor);
    reg.register_staff("nurse.joy", role::nurse);
    reg.register_staff("nurse.jenny", role::nurse);
    reg.assign("dr.house", "p-1001");
    reg.assign("dr.house", "p-1002");
    reg.assign("nurse.joy", "p-1001");
    reg.assign("nurse.jenny", "p-1002");

    // The storage node learns keys and groups only from certificates it validated.
    REQUIRE(directory.enrol_patient(alice_cert.chain(), trust));
    REQUIRE(directory.enrol_patient(bob_cert.chain(), trust));
    REQUIRE(directory.enrol_collector(collector.chain(), trust));
    for (const holder* d : {&monitor, &oximeter, &captured}) REQUIRE(directory.enrol_device(d->chain(), trust));
    REQUIRE(validate_chain(storage_node.chain(), trust, cert_usage::tls_server, t0, {role::storage}));

    // The admin deploys the vital-signs contract on both rule managers; each deployment is logged.
    const auto deployment = sign_deployment(vital_signs_example_contract, *admin.keys.private_key, admin.cert, rng);
    REQUIRE(collector_rules.deploy(deployment).accepted());
    REQUIRE(storage_rules.deploy(deployment).accepted());
    net.settle();
  }

  // ---- set-up helpers -------------------------------------------------------------------------

  bool is_admin(const Botan::X509_Certificate& c) const {
    return validate_chain(c, trust, cert_usage::any, std::chrono::system_clock::now(), {role::admin}).ok();
  }

  static void log_deployment(ledger& node, const std::string& node_id, const deployment_event& e) {
    if (!e.accepted()) return;
    const auto base = transaction::rule_deployment(std::to_string(*e.group_id), e.version, e.contract_hash, e.signer,
                                                   ledger_now());
    json fields = base.fields();
    fields["node"] = node_id;
    node.submit(transaction(tx_kind::rule_deployment, std::move(fields), base.time()));
  }

  collector_validator_options collector_options() const {
    collector_validator_options o;
    o.collector_id = "collector-icu";
    o.devices = &reg;
    return o;
  }

  holder issue_with(key_pair keys, const identity& id, clock_time from, clock_time to, certificate_authority& by) {
    holder h{std::move(keys), {}, id.device_epc};
    h.cert = by.issue(*h.keys.public_key, id, from, to);
    return h;
  }

  holder person(role r, const std::string& name) {
    identity id;
    id.role = r;
    id.subject_id = name;
    return issue_with(ecdsa_p256_signing::generate(rng), id, t0 - 1h, t0 + 24h * 30, ca);
  }

  holder node(role r, const std::string& name) { return person(r, name); }

  holder patient(patient_smart_card<>& card) {
    identity id;
    id.role = role::patient;
    id.subject_id = card.patient_id();
    holder h{{}, ca.issue(card.public_key(), id, t0 - 1h, t0 + 24h * 30), std::nullopt};
    return h;
  }

  static sgtin96 epc_of(std::uint64_t serial) {
    return sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345." + std::to_string(serial), 1);
  }

  static identity device_identity(std::uint64_t serial, const std::string& name) {
    identity id;
    id.role = role::device;
    id.subject_id = name;
    id.device_epc = epc_of(serial);
    id.group_id = 1;  // the vital-signs group of vital_signs_example_contract
    id.rule_id = 1;
    return id;
  }

  holder device(std::uint64_t serial, const std::string& name, clock_time from = {}, clock_time to = {}) {
    if (from == clock_time{}) {
      from = t0 - 1h;
      to = t0 + 24h * 30;
    }
    return issue_with(ecdsa_p256_signing::generate(rng), device_identity(serial, name), from, to, ca);
  }

  /// A device certificate signed with the real CA key whose identity extension holds @p value
  /// (nullopt: no extension at all), as a buggy CA or an attacker holding the CA key would make it.
  holder forged_device(std::uint64_t serial, std::optional<std::vector<std::uint8_t>> value) {
    holder h{ecdsa_p256_signing::generate(rng), {}, epc_of(serial)};
    Botan::Extensions ext;
    ext.add(new Botan::Cert_Extension::Basic_Constraints(false), true);
    ext.add(new Botan::Cert_Extension::Key_Usage(Botan::DIGITAL_SIGNATURE), true);
    ext.add(new Botan::Cert_Extension::Extended_Key_Usage({Botan::OID("1.3.6.1.5.5.7.3.2")}));
    ext.add(new Botan::Cert_Extension::Authority_Key_ID(ca.root().subject_key_id()));
    if (value) ext.add(new hefl_test::raw_extension(identity_oid(), *value), false);
    Botan::AlgorithmIdentifier alg;
    std::unique_ptr<Botan::PK_Signer> signer(Botan::choose_sig_format(ca_key, rng, "SHA-256", alg));
    Botan::X509_DN dn;
    dn.add_attribute("X520.CommonName", "monitor-" + std::to_string(serial));
    dn.add_attribute("X520.Organization", "St Mary Hospital");
    h.cert = Botan::X509_CA::make_cert(signer.get(), rng, Botan::BigInt(900000 + serial), alg,
                                       h.keys.public_key->subject_public_key(), Botan::X509_Time(t0 - 1h),
                                       Botan::X509_Time(t0 + 24h), ca.root().subject_dn(), dn, ext);
    return h;
  }

  // ---- traffic ---------------------------------------------------------------------------------

  patient_smart_card<>& card_of(std::string_view patient_id) { return patient_id == "p-1001" ? alice : bob; }
  std::string patient_of(const holder& d) const { return reg.patient_of(*d.epc).value_or("p-1001"); }

  /// Distinct, increasing timestamps: two honest measurements never hash alike.
  request_time next_timestamp() {
    last_timestamp = std::max(request_now(), last_timestamp + 1ms);
    return last_timestamp;
  }

  /// A request as device @p d sends it, signed with @p d's key.
  request signed_request(const holder& d, payload p, std::optional<request_time> ts = {}) {
    return make_signed_request(*d.epc, "collector-icu", patient_of(d), std::move(p), ts ? *ts : next_timestamp(),
                               *d.keys.private_key, rng);
  }

  /// The record an honest collector builds from an accepted request: it carries the device's signed
  /// request, the patient's card signs its hash, the collector countersigns.
  record record_of(const request& r) {
    return make_attested_record(r, card_of(r.patient_id), "collector-icu", *collector.keys.private_key, rng);
  }

  /// @p reader answers a fresh challenge with its own key and reads @p patient_id's records.
  access_result read_as(const holder& reader, const std::string& patient_id) {
    const auto challenge = readers.challenge();
    if (!reader.keys.private_key) return readers.read(reader.chain(), access_proof{challenge.nonce, {}}, patient_id);
    return readers.read(reader.chain(), prove_access(challenge, patient_id, reader.cert, *reader.keys.private_key, rng),
                        patient_id);
  }

  /// The collector validates @p bytes from the holder of @p chain and, if accepted, forwards the
  /// record to the storage node.
  delivery forward(const certificate_chain& chain, std::span<const std::uint8_t> bytes) {
    delivery out{validator.validate(chain, bytes), std::nullopt};
    if (out.verdict) out.stored = guard.submit(record_of(*out.verdict.parsed), collector.chain());
    return out;
  }

  // ---- the ledger ------------------------------------------------------------------------------

  /// The sealed transaction @p id, after the network settled; checks its Merkle inclusion proof
  /// against the signed block header and that both replicas hold the same chain.
  transaction logged(const sha256_digest& id) {
    net.settle();
    CHECK(net.collector.head_hash() == net.storage.head_hash());
    const auto inclusion = net.storage.prove(id);
    REQUIRE(inclusion.has_value());
    CHECK(inclusion->root == net.storage.block_at(inclusion->location.height).header.merkle_root);
    CHECK(merkle_tree::verify_proof(merkle_tree::leaf_hash(id), inclusion->proof, inclusion->root));
    CHECK(net.collector.prove(id).has_value());
    return inclusion->location.tx;
  }

  /// The collector's verdict is @p reason and its rule_check entry says so, naming the device as the
  /// collector could know it. Source "request" or "none" marks a refusal before authentication: then
  /// there is no entry of its own (it is counted), and the peer gets the generic code.
  std::optional<transaction> expect_verdict(const collector_verdict& v, verdict_reason reason, const std::string& device,
                                            const std::string& source, const std::string& group) {
    INFO("verdict: " << v.code() << ": " << v.message);
    CHECK(v.reason == reason);
    if (source != "certificate") {
      CHECK_FALSE(v.authenticated);
      CHECK_FALSE(v.ledger_tx.has_value());
      CHECK(v.peer_code() == "unauthenticated");
      CHECK(validator.refusal_counts()[std::string(to_string(reason))] >= 1);
      return std::nullopt;
    }
    REQUIRE(v.ledger_tx.has_value());
    const auto tx = logged(*v.ledger_tx);
    CHECK(tx.kind() == tx_kind::rule_check);
    CHECK(tx.field_string("verdict") == to_string(reason));
    CHECK(tx.field_string("device") == device);
    CHECK(tx.field_string("device_source") == source);
    CHECK(tx.field_string("group") == group);
    CHECK(tx.field_string("collector") == "collector-icu");
    return tx;
  }

  /// The storage node refused a record with @p why and logged a record_refused entry.
  transaction expect_storage_refusal(const storage_verdict& v, storage_refusal why) {
    INFO("storage: " << v.message);
    REQUIRE_FALSE(v.ok());
    CHECK(*v.refusal == why);
    const auto tx = logged(v.ledger_entry);
    CHECK(tx.kind() == tx_kind::custom);
    CHECK(tx.field_string("type") == "record_refused");
    CHECK(tx.field_string("reason") == to_string(why));
    return tx;
  }

  /// A read was refused with @p why and logged as a refused access.
  transaction expect_read_refused(const access_result& a, access_refusal why) {
    INFO("read: " << a.message);
    REQUIRE_FALSE(a.ok());
    CHECK(*a.refusal == why);
    CHECK(a.records.empty());
    const auto tx = logged(a.ledger_entry);
    CHECK(tx.kind() == tx_kind::access);
    CHECK(tx.fields().at("allowed") == false);
    CHECK(tx.field_string("reason") == to_string(why));
    return tx;
  }

  /// The record_stored entry of record @p id.
  std::optional<transaction> stored_entry(std::uint64_t id) {
    net.settle();
    const auto found = net.storage.find([&](const transaction& tx) {
      return tx.kind() == tx_kind::record_stored && tx.field_string("record") == std::to_string(id);
    });
    if (found.size() != 1) return std::nullopt;
    return found.front().tx;
  }

  /// Ids of @p patient_id's records as the assigned doctor reads them.
  std::vector<std::uint64_t> doctor_reads(const std::string& patient_id) {
    const auto read = read_as(doctor, patient_id);
    INFO(read.message);
    REQUIRE(read.ok());
    CHECK(logged(read.ledger_entry).fields().at("allowed") == true);
    std::vector<std::uint64_t> ids;
    for (const auto& r : read.records) ids.push_back(r.id);
    return ids;
  }

  /// An honest measurement of @p d goes all the way: accepted and logged by the collector, stored
  /// and logged by the storage node, and read back by the patient's doctor. Returns the record id.
  std::uint64_t honest(const holder& d, payload p) {
    const auto req = signed_request(d, p);
    const auto out = forward(d.chain(), req.encode());
    expect_verdict(out.verdict, verdict_reason::accepted, d.epc_hex(), "certificate", "1");
    REQUIRE(out.stored.has_value());
    INFO("storage: " << out.stored->message);
    REQUIRE(out.stored->ok());
    const auto id = out.stored->record_id;
    const auto entry = stored_entry(id);
    REQUIRE(entry.has_value());
    CHECK(entry->field_string("hash") == hex(store.get(id)->hash));
    const auto ids = doctor_reads(req.patient_id);
    CHECK(std::find(ids.begin(), ids.end(), id) != ids.end());
    CHECK(store.get(id)->decode_payload() == p);
    return id;
  }
  std::uint64_t honest(const holder& d, std::int64_t bpm) { return honest(d, heart_rate(bpm)); }

  /// Invariants after any scenario: every verdict is one rule_check entry, every stored record one
  /// record_stored entry, both replicas hold the same verified chain, and the persisted chain reloads.
  void audit(std::uint64_t rows_deleted_by_attacker = 0) {
    net.settle();
    CHECK(net.storage.find(tx_kind::rule_check).size() == validator.verdict_count());
    CHECK(net.storage.find(tx_kind::record_stored).size() == store.size() + rows_deleted_by_attacker);
    CHECK(net.storage.find(tx_kind::rule_deployment).size() == 2);
    CHECK(net.collector.head_hash() == net.storage.head_hash());
    CHECK(net.collector.verify().ok());
    CHECK(net.storage.verify().ok());
    std::set<std::string> sealers;
    for (const auto& b : net.storage.blocks_from(1)) sealers.insert(b.header.sealer);
    CHECK(sealers == std::set<std::string>{"collector-icu", "storage-main"});
    ledger_store saved(dir.file("audit-ledger.db"));
    saved.save(net.storage);
    ledger replica(net.genesis);
    saved.load_into(replica);
    CHECK(replica.head_hash() == net.storage.head_hash());
  }
};

} // namespace

TEST_CASE("attack scenario: honest traffic flows from device to collector to storage to the assigned staff",
          "[iot][attack][scenario]") {
  hospital h;
  const auto a1 = h.honest(h.monitor, 72);
  const auto b1 = h.honest(h.oximeter, vital("spo2", "saturation", 97.5));
  const auto a2 = h.honest(h.monitor, payload{"blood_pressure", {{"systolic", json(121)}, {"diastolic", json(79)},
                                                                  {"irregular_heartbeat", json(false)}}});
  CHECK(h.doctor_reads("p-1001") == std::vector<std::uint64_t>{a1, a2});
  CHECK(h.doctor_reads("p-1002") == std::vector<std::uint64_t>{b1});
  const auto joy = h.read_as(h.nurse_joy, "p-1001");
  REQUIRE(joy.ok());
  CHECK(joy.records.size() == 2);
  CHECK(h.store.integrity_scan().ok());
  // Patient ids and measured values stay off the collector's entries, which every sealer replicates.
  for (const auto& loc : h.net.storage.find(tx_kind::rule_check)) {
    CHECK(loc.tx.canonical().find("p-1001") == std::string::npos);
    CHECK(loc.tx.canonical().find("97.5") == std::string::npos);
  }
  h.audit();
}

TEST_CASE("attack scenario: spoofing with a rogue CA that has the hospital's name is refused and logged",
          "[iot][attack][scenario][spoofing]") {
  hospital h;
  h.honest(h.monitor, 71);
  // The rogue CA certifies the monitor's identity (same subject, same EPC) for the attacker's key.
  const auto spoof = h.issue_with(ecdsa_p256_signing::generate(h.rng), hospital::device_identity(1, "monitor-1"),
                                  h.t0 - 1h, h.t0 + 24h, h.rogue);
  REQUIRE(spoof.cert.issuer_dn() == h.monitor.cert.issuer_dn());
  REQUIRE(spoof.cert.subject_dn() == h.monitor.cert.subject_dn());
  const auto rows = h.store.size();
  const auto out = h.forward(spoof.chain(), h.signed_request(spoof, heart_rate(180)).encode());
  // Nothing about the sender is trusted: the ledger names the EPC the request claims, and no group.
  h.expect_verdict(out.verdict, verdict_reason::untrusted_certificate, h.monitor.epc_hex(), "request", "unknown");
  CHECK_FALSE(out.verdict.holder.has_value());
  CHECK_FALSE(out.stored.has_value());
  CHECK(h.store.size() == rows);
  // The same rogue CA cannot make a doctor either; the refused reader is logged by fingerprint.
  const auto fake_doctor = h.issue_with(ecdsa_p256_signing::generate(h.rng), identity{role::doctor, "dr.house", {}, 0, 0},
                                        h.t0 - 1h, h.t0 + 24h, h.rogue);
  const auto tx = h.expect_read_refused(h.read_as(fake_doctor, "p-1001"), access_refusal::untrusted_certificate);
  CHECK_THAT(std::string(tx.field_string("reader")), Catch::StartsWith("cert:"));
  h.honest(h.monitor, 73);
  h.audit();
}

TEST_CASE("attack scenario: node capture, the admin revokes the device and its next request is refused",
          "[iot][attack][scenario][node_capture]") {
  hospital h;
  h.honest(h.captured, 80);  // the pump works until it is reported captured
  REQUIRE(h.ca.revoke(h.captured.cert, Botan::CRL_Code::KEY_COMPROMISE));
  h.trust.add_crl(h.ca.crl());
  const auto revocation = h.net.storage.submit(transaction(
      tx_kind::revocation,
      {{"subject", "pump-3"}, {"serial", hex(h.captured.cert.serial_number())}, {"reason", "key_compromise"},
       {"by", "admin.root"}},
      ledger_now()));
  CHECK(h.logged(revocation).field_string("subject") == "pump-3");

  // The attacker holds the pump's key and certificate: signature fine, certificate revoked.
  const auto rows = h.store.size();
  const auto out = h.forward(h.captured.chain(), h.signed_request(h.captured, heart_rate(81)).encode());
  h.expect_verdict(out.verdict, verdict_reason::revoked, h.captured.epc_hex(), "request", "unknown");
  CHECK_FALSE(out.stored.has_value());
  CHECK(h.store.size() == rows);
  // The CRL is persistent: a collector restarted from the same SQLite trust store refuses it too.
  const auto reopened = trust_store::open_sqlite(h.dir.file("trust.db"));
  CHECK(validate_chain(h.captured.chain(), reopened, cert_usage::tls_client).status == chain_status::revoked);
  CHECK(validate_chain(h.oximeter.chain(), reopened, cert_usage::tls_client).ok());
  h.honest(h.oximeter, vital("spo2", "saturation", 96.0));  // bob's other device carries on
  h.audit();
}

TEST_CASE("attack scenario: replay of the same nonce and of an old capture is refused and logged",
          "[iot][attack][scenario][replay]") {
  hospital h;
  h.honest(h.monitor, 70);
  const auto bytes = h.signed_request(h.monitor, heart_rate(74)).encode();
  const auto first = h.forward(h.monitor.chain(), bytes);
  h.expect_verdict(first.verdict, verdict_reason::accepted, h.monitor.epc_hex(), "certificate", "1");
  REQUIRE(first.stored.has_value());
  REQUIRE(first.stored->ok());
  const auto rows = h.store.size();

  const auto again = h.forward(h.monitor.chain(), bytes);
  h.expect_verdict(again.verdict, verdict_reason::replay, h.monitor.epc_hex(), "certificate", "1");
  CHECK(*again.verdict.ledger_tx != *first.verdict.ledger_tx);
  CHECK_FALSE(again.stored.has_value());

  const auto old = h.signed_request(h.monitor, heart_rate(74), request_now() - 10min);
  const auto stale = h.forward(h.monitor.chain(), old.encode());
  h.expect_verdict(stale.verdict, verdict_reason::stale, h.monitor.epc_hex(), "certificate", "1");
  CHECK_FALSE(stale.stored.has_value());

  // A collector replaying the stored record straight to the storage node: an exact copy is answered
  // as the stored record (a retry), and nothing is stored twice.
  const auto replayed = h.guard.submit(h.store.get(first.stored->record_id).value(), h.collector.chain());
  REQUIRE(replayed.ok());
  CHECK(replayed.already_stored);
  CHECK(replayed.record_id == first.stored->record_id);
  CHECK(h.store.size() == rows);
  h.honest(h.monitor, 75);
  h.audit();
}

TEST_CASE("attack scenario: false data injection, out-of-range values and forbidden data types, is refused",
          "[iot][attack][scenario][false_data]") {
  hospital h;
  const auto before = h.honest(h.monitor, 72);
  const auto rows = h.store.size();

  const auto high = h.forward(h.monitor.chain(), h.signed_request(h.monitor, heart_rate(400)).encode());
  auto tx = *h.expect_verdict(high.verdict, verdict_reason::rule_violation, h.monitor.epc_hex(), "certificate", "1");
  REQUIRE(high.verdict.violation.has_value());
  CHECK(high.verdict.violation->kind == rule_violation_kind::out_of_range);
  CHECK(high.verdict.violation->actual == 400);
  CHECK(tx.field_string("rule") == "out_of_range");
  CHECK(tx.field_string("field") == "bpm");
  CHECK(tx.field_string("payload_hash") == hex(sha256(heart_rate(400).canonical_bytes())));

  const auto glucose = h.forward(h.monitor.chain(), h.signed_request(h.monitor, vital("blood_glucose", "mg_dl", 90)).encode());
  tx = *h.expect_verdict(glucose.verdict, verdict_reason::rule_violation, h.monitor.epc_hex(), "certificate", "1");
  REQUIRE(glucose.verdict.violation.has_value());
  CHECK(glucose.verdict.violation->kind == rule_violation_kind::type_not_allowed);
  CHECK(tx.field_string("rule") == "type_not_allowed");

  CHECK_FALSE(high.stored.has_value());
  CHECK_FALSE(glucose.stored.has_value());
  CHECK(h.store.size() == rows);
  const auto after = h.honest(h.monitor, 76);
  CHECK(h.doctor_reads("p-1001") == std::vector<std::uint64_t>{before, after});
  h.audit();
}

TEST_CASE("attack scenario: a compromised collector's forged records are refused by the storage node",
          "[iot][attack][scenario][sinkhole]") {
  hospital h;
  const auto before = h.honest(h.monitor, 72);
  const auto rows = h.store.size();
  // What the collector can make on its own: the patient's card signs any hash it is given.
  const auto bare = [&](patient_smart_card<>& card, const holder& d, payload p) {
    return make_record(card.patient_id(), *d.epc, p.type, p, h.next_timestamp(), card, "collector-icu",
                       *h.collector.keys.private_key, h.rng);
  };
  const auto attested = [&](patient_smart_card<>& card, const request& r) {
    return make_attested_record(r, card, "collector-icu", *h.collector.keys.private_key, h.rng);
  };

  // No device sent this value: a record without the device's signed request is refused.
  h.expect_storage_refusal(h.guard.submit(bare(h.alice, h.monitor, heart_rate(90)), h.collector.chain()),
                           storage_refusal::unattested);
  // The device's request with the value changed by the collector: the device's signature breaks.
  auto altered = h.signed_request(h.monitor, heart_rate(72));
  altered.data.fields["bpm"] = 140;
  h.expect_storage_refusal(h.guard.submit(attested(h.alice, altered), h.collector.chain()),
                           storage_refusal::bad_device_signature);
  // A genuine request whose value breaks the contract (the collector should have refused it).
  auto tx = h.expect_storage_refusal(
      h.guard.submit(attested(h.alice, h.signed_request(h.monitor, heart_rate(300))), h.collector.chain()),
      storage_refusal::rule_violation);
  CHECK(tx.field_string("violation") == "out_of_range");
  CHECK(tx.field_string("field") == "bpm");
  // A "patient" signature from a card the collector made itself.
  patient_smart_card<> counterfeit{"p-1001", h.rng};
  h.expect_storage_refusal(h.guard.submit(attested(counterfeit, h.signed_request(h.monitor, heart_rate(90))),
                                          h.collector.chain()),
                           storage_refusal::bad_patient_signature);
  // Alice's monitor reporting for bob (the device signed it, bob's card signed it; the registry says no).
  auto for_bob = make_signed_request(*h.monitor.epc, "collector-icu", "p-1002", heart_rate(90), h.next_timestamp(),
                                     *h.monitor.keys.private_key, h.rng);
  h.expect_storage_refusal(h.guard.submit(attested(h.bob, for_bob), h.collector.chain()),
                           storage_refusal::device_not_assigned);
  // The collector certificate offered by another node: the storage node's certificate is not a collector's.
  tx = h.expect_storage_refusal(
      h.guard.submit(attested(h.alice, h.signed_request(h.monitor, heart_rate(90))), h.storage_node.chain()),
      storage_refusal::untrusted_collector);
  CHECK(tx.field_string("collector") == "collector-icu");

  CHECK(h.store.size() == rows);
  CHECK(h.net.storage.find([](const transaction& t) { return t.field_string("type") == "record_refused"; }).size() == 6);
  const auto after = h.honest(h.monitor, 77);
  CHECK(h.doctor_reads("p-1001") == std::vector<std::uint64_t>{before, after});
  h.audit();
}

TEST_CASE("attack scenario: a tampered ledger block is found by verify() and by reloading the stored chain",
          "[iot][attack][scenario][ledger_tamper]") {
  hospital h;
  h.honest(h.monitor, 72);
  // The evidence an attacker would like to erase: a refused false-data injection.
  const auto refused = h.forward(h.monitor.chain(), h.signed_request(h.monitor, heart_rate(400)).encode());
  const auto evidence = *refused.verdict.ledger_tx;
  h.expect_verdict(refused.verdict, verdict_reason::rule_violation, h.monitor.epc_hex(), "certificate", "1");
  h.honest(h.oximeter, vital("spo2", "saturation", 98.0));  // so that the evidence block has a successor
  h.net.settle();
  const auto where = h.net.storage.prove(evidence)->location;
  REQUIRE(where.height < h.net.storage.height());

  // The edited transaction: "rule_violation" rewritten as "accepted".
  json fields = where.tx.fields();
  fields["verdict"] = "accepted";
  const transaction forged(where.tx.kind(), fields, where.tx.time());

  SECTION("a replica's copy edited in memory: verify_chain names the block") {
    auto chain = h.net.storage.blocks();
    chain[where.height].transactions[where.index] = forged;
    const auto report = h.net.storage.verify_chain(chain);
    INFO(report.message);
    REQUIRE_FALSE(report.ok());
    CHECK(*report.bad_block == where.height);
    CHECK(report.fault == block_fault::tampered_transaction);
    CHECK(report.blocks_checked == where.height);
  }
  SECTION("the stored chain edited in SQLite: reload refuses it and names the block") {
    const auto file = h.dir.file("ledger.db");
    CHECK(ledger_store(file).save(h.net.storage) == h.net.storage.height() + 1);
    attacker_sql(file, "UPDATE ledger_transactions SET body = replace(body, '\"verdict\":\"rule_violation\"', "
                       "'\"verdict\":\"accepted\"') WHERE height = " + std::to_string(where.height) +
                       " AND idx = " + std::to_string(where.index));
    ledger replica(h.net.genesis);
    try {
      ledger_store(file).load_into(replica);
      FAIL("a tampered ledger file was loaded");
    } catch (const ledger_integrity_error& e) {
      INFO(e.what());
      CHECK(*e.report().bad_block == where.height);
      CHECK(e.report().fault == block_fault::tampered_transaction);
    }
    CHECK(replica.height() == 0);
  }
  SECTION("the attacker also recomputes the Merkle root: the sealer's signature and the next block's link catch it") {
    const auto file = h.dir.file("ledger-rooted.db");
    ledger_store(file).save(h.net.storage);
    auto edited = h.net.storage.block_at(where.height);
    edited.transactions[where.index] = forged;
    attacker_sql(file, "UPDATE ledger_transactions SET body = '" + forged.canonical() + "' WHERE height = " +
                           std::to_string(where.height) + " AND idx = " + std::to_string(where.index));
    attacker_sql(file, "UPDATE ledger_blocks SET merkle_root = '" + hex(edited.tree().root()) +
                           "' WHERE height = " + std::to_string(where.height));
    ledger replica(h.net.genesis);
    try {
      ledger_store(file).load_into(replica);
      FAIL("a tampered ledger file was loaded");
    } catch (const ledger_integrity_error& e) {
      INFO(e.what());
      CHECK(*e.report().bad_block == where.height);
      CHECK(e.report().fault == block_fault::tampered_header);
    }
  }
  // The live replicas are untouched and still agree; the evidence is still there.
  CHECK(h.logged(evidence).field_string("verdict") == "rule_violation");
  h.honest(h.monitor, 78);
  h.audit();
}

TEST_CASE("attack scenario: a tampered database row is found by the integrity scan and never served",
          "[iot][attack][scenario][db_tamper]") {
  hospital h;
  const auto target = h.honest(h.monitor, 72);
  const auto victim = h.honest(h.oximeter, vital("spo2", "saturation", 95.0));
  const auto original = h.store.get(target).value();
  const auto file = h.dir.file("records.db");

  // Someone with disk access makes alice's heart rate look alarming, and deletes one of bob's rows.
  const auto alarming = hex(heart_rate(180).canonical_bytes());
  attacker_sql(file, "UPDATE hefl_records SET payload = '" + alarming + "' WHERE id = " + std::to_string(target));
  attacker_sql(file, "DELETE FROM hefl_records WHERE id = " + std::to_string(victim));

  const auto scan = h.store.integrity_scan();
  REQUIRE(scan.findings.size() == 1);
  CHECK(scan.findings[0].id == target);
  CHECK(scan.findings[0].fault == record_fault::hash_mismatch);
  CHECK(scan.missing_ids == std::vector<std::uint64_t>{victim});
  // The ledger still holds what was stored: the original hash, which the edited row no longer has.
  const auto entry = h.stored_entry(target);
  REQUIRE(entry.has_value());
  CHECK(entry->field_string("hash") == hex(original.hash));
  CHECK(h.stored_entry(victim).has_value());

  // The doctor's read is logged, then refused with the row named: tampered data is never handed out.
  const auto reads_before = h.net.storage.find(tx_kind::access).size();
  try {
    (void)h.read_as(h.doctor, "p-1001");
    FAIL("a tampered row was served");
  } catch (const record_integrity_error& e) {
    CHECK(e.ids() == std::vector<std::uint64_t>{target});
  }
  h.net.settle();
  CHECK(h.net.storage.find(tx_kind::access).size() == reads_before + 1);

  // Restored from backup, the row verifies again and honest traffic carries on.
  attacker_sql(file, "UPDATE hefl_records SET payload = '" + hex(original.payload_bytes) + "' WHERE id = " +
                         std::to_string(target));
  const auto rescan = h.store.integrity_scan();
  CHECK(rescan.findings.empty());
  CHECK(rescan.missing_count == 1);
  h.honest(h.monitor, 73);
  h.audit(1);
}

TEST_CASE("attack scenario: an expired certificate is refused for devices and for readers",
          "[iot][attack][scenario][expired]") {
  hospital h;
  h.honest(h.monitor, 72);
  const auto rows = h.store.size();
  const auto out = h.forward(h.expired.chain(), h.signed_request(h.expired, heart_rate(73)).encode());
  h.expect_verdict(out.verdict, verdict_reason::expired, h.expired.epc_hex(), "request", "unknown");
  CHECK_FALSE(out.stored.has_value());
  CHECK(h.store.size() == rows);

  identity id;
  id.role = role::doctor;
  id.subject_id = "dr.house";
  const auto old_badge = h.issue_with(ecdsa_p256_signing::generate(h.rng), id, h.t0 - 72h, h.t0 - 1h, h.ca);
  const auto read = h.read_as(old_badge, "p-1001");
  h.expect_read_refused(read, access_refusal::untrusted_certificate);
  CHECK(read.certificate == chain_status::expired);
  h.honest(h.monitor, 74);
  h.audit();
}

TEST_CASE("attack scenario: unauthorised readers, an unassigned nurse and the patient, are refused and logged",
          "[iot][attack][scenario][unauthorised_reader]") {
  hospital h;
  h.honest(h.monitor, 72);
  auto tx = h.expect_read_refused(h.read_as(h.nurse_jenny, "p-1001"), access_refusal::not_assigned);
  CHECK(tx.field_string("reader") == "nurse.jenny");
  CHECK(tx.field_string("patient") == "p-1001");
  // The patient's certificate alone (her card's key cannot answer the reader challenge here) proves nothing.
  tx = h.expect_read_refused(h.read_as(h.alice_cert, "p-1001"), access_refusal::no_proof_of_possession);
  CHECK_THAT(std::string(tx.field_string("reader")), Catch::StartsWith("cert:"));
  // A device certificate is valid and its key answers, but a machine does not read records either.
  h.expect_read_refused(h.read_as(h.monitor, "p-1001"), access_refusal::wrong_role);
  // The same nurse reads her own patient.
  h.honest(h.oximeter, vital("spo2", "saturation", 97.0));
  const auto jenny = h.read_as(h.nurse_jenny, "p-1002");
  REQUIRE(jenny.ok());
  CHECK(jenny.records.size() == 1);
  h.honest(h.monitor, 73);
  h.audit();
}

TEST_CASE("attack scenario: oversized payloads are refused on the wire and against the contract",
          "[iot][attack][scenario][oversized]") {
  hospital h;
  h.honest(h.monitor, 72);
  const std::vector<std::uint8_t> flood(h.validator.options().limits.max_bytes + 1, 0x41);
  const auto wire = h.forward(h.monitor.chain(), flood);
  CHECK_FALSE(h.expect_verdict(wire.verdict, verdict_reason::oversized, "unknown", "none", "unknown").has_value());

  // Small enough for the wire, too large for the vital-signs contract's 256-byte payloads.
  const auto big = payload{"temperature", {{"celsius", json(37.0)}, {"site", json(std::string(400, 'x'))}}};
  const auto contract = h.forward(h.monitor.chain(), h.signed_request(h.monitor, big).encode());
  const auto tx = *h.expect_verdict(contract.verdict, verdict_reason::rule_violation, h.monitor.epc_hex(), "certificate", "1");
  REQUIRE(contract.verdict.violation.has_value());
  CHECK(contract.verdict.violation->kind == rule_violation_kind::oversized);
  CHECK(contract.verdict.violation->max == 256);
  CHECK(tx.field_string("rule") == "oversized");
  CHECK_FALSE(wire.stored.has_value());
  CHECK_FALSE(contract.stored.has_value());
  h.honest(h.monitor, 73);
  h.audit();
}

TEST_CASE("attack scenario: a malformed or missing identity extension is refused and logged",
          "[iot][attack][scenario][malformed_extension]") {
  hospital h;
  h.honest(h.monitor, 72);
  // A well-formed identity with its version field changed to 2, then the same with a truncated value.
  auto bad_version = encode_identity(hospital::device_identity(5, "monitor-5"));
  REQUIRE(bad_version[4] == 1);
  bad_version[4] = 2;
  auto truncated = encode_identity(hospital::device_identity(6, "monitor-6"));
  truncated.pop_back();
  for (const auto& [serial, value] : {std::pair{std::uint64_t{5}, bad_version}, std::pair{std::uint64_t{6}, truncated}}) {
    const auto forged = h.forged_device(serial, value);
    const auto out = h.forward(forged.chain(), h.signed_request(forged, heart_rate(70)).encode());
    h.expect_verdict(out.verdict, verdict_reason::malformed_identity, forged.epc_hex(), "request", "unknown");
    CHECK_FALSE(out.stored.has_value());
  }
  const auto bare = h.forged_device(7, std::nullopt);
  const auto out = h.forward(bare.chain(), h.signed_request(bare, heart_rate(70)).encode());
  h.expect_verdict(out.verdict, verdict_reason::missing_identity, bare.epc_hex(), "request", "unknown");
  h.honest(h.monitor, 73);
  h.audit();
}
