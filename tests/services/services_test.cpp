// The hospital services over real mutual TLS on 127.0.0.1: a device's record travels device ->
// collector_service -> storage_service and a doctor reads it; every refusal named in issue 11 happens
// on the wire with its reason.
#include <hefl/iot/collection/collector_validator.hpp>
#include <hefl/iot/hospital/access.hpp>
#include <hefl/iot/storage/storage_guard.hpp>
#include <hefl/services.hpp>

#include <botan/auto_rng.h>
#include <botan/ecdsa.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace hefl;
using namespace hefl::services;
using namespace std::chrono_literals;

namespace {

using guard_type = iot::storage_guard<iot::rule_manager<>, iot::local_ledger>;
using access_type = iot::access_controller<iot::local_ledger>;
using storage_type = storage_service<guard_type, access_type>;
using collector_type = collector_service<iot::collector_validator<>, iot::patient_smart_card<>>;

std::filesystem::path temp_db(const std::string& tag) {
  static std::atomic<int> n{0};
  auto dir = std::filesystem::temp_directory_path() /
             ("hefl-services-" + std::to_string(::getpid()) + "-" + tag + "-" + std::to_string(n++));
  std::filesystem::create_directories(dir);
  return dir;
}

/// One hospital: CA (and a rogue CA with the same name), registry with two patients, a doctor of
/// alice's and a nurse of bob's, a storage node (directory, rules, ledger, SQLite store in a temp
/// file, guard, access controller) behind a storage_service, and a collector (its own rules, replay
/// guard, ledger, validator, the patients' cards) behind a collector_service forwarding to it.
struct hospital {
  Botan::AutoSeeded_RNG rng;
  iot::clock_time t0 = std::chrono::system_clock::now() - 1min;
  iot::certificate_authority ca{"St Mary Hospital", t0 - 1h};
  iot::certificate_authority rogue{"St Mary Hospital", t0 - 1h};
  std::shared_ptr<iot::trust_store> trust = [&] {
    auto s = std::make_shared<iot::trust_store>(iot::trust_store::in_memory());
    s->add_root(ca.root());
    s->add_crl(ca.crl());
    return s;
  }();
  iot::registry reg;
  std::shared_ptr<Botan::ECDSA_PrivateKey> admin_key = new_key();
  Botan::X509_Certificate admin_cert;
  iot::patient_smart_card<> alice{"p-1001", rng};
  iot::patient_smart_card<> bob{"p-1002", rng};

  // Storage node.
  std::filesystem::path dir = temp_db("store");
  iot::identity_directory keys;
  iot::local_ledger storage_ledger;
  iot::rule_manager<> storage_rules{admin_check(), deploy_log(storage_ledger)};
  iot::record_store<> store{(dir / "records.sqlite").string(), keys, storage_ledger};
  guard_type guard{*trust, reg, keys, storage_rules, store, storage_ledger};
  access_type access{*trust, reg, store, storage_ledger};

  // Collector.
  iot::local_ledger collector_ledger;
  iot::rule_manager<> collector_rules{admin_check(), deploy_log(collector_ledger)};
  iot::replay_guard replay;
  std::unique_ptr<iot::collector_validator<>> validator;

  std::map<std::string, net::tls_credentials> device_creds;  // by subject
  std::unique_ptr<storage_type> storage;
  std::unique_ptr<collector_type> collector;
  std::unique_ptr<net::tls_credentials> collector_creds;

  explicit hospital(int devices = 2) {
    admin_cert = ca.issue(*admin_key, id_of(iot::role::admin, "admin.root"), t0 - 1h, 24h);
    reg.register_patient({"p-1001", "icu", "1", "A"});
    reg.register_patient({"p-1002", "icu", "1", "B"});
    reg.register_collector("collector-icu");
    reg.register_staff("dr-house", iot::role::doctor);
    reg.register_staff("nurse-joy", iot::role::nurse);
    reg.assign("dr-house", "p-1001");
    reg.assign("nurse-joy", "p-1002");
    REQUIRE(keys.enrol_patient({ca.issue(alice.public_key(), id_of(iot::role::patient, "p-1001"), t0 - 1h, 24h)},
                               *trust, t0));
    REQUIRE(keys.enrol_patient({ca.issue(bob.public_key(), id_of(iot::role::patient, "p-1002"), t0 - 1h, 24h)},
                               *trust, t0));
    const auto contract = iot::sign_deployment(vitals_contract, *admin_key, admin_cert, rng);
    REQUIRE(storage_rules.deploy(contract).accepted());
    REQUIRE(collector_rules.deploy(contract).accepted());
    for (int i = 1; i <= devices; ++i) add_device(i, i % 2 ? "p-1001" : "p-1002");

    iot::collector_validator_options vo;
    vo.collector_id = "collector-icu";
    vo.devices = &reg;
    validator = std::make_unique<iot::collector_validator<>>(iot::trust_store_certificates(*trust), collector_rules,
                                                            replay, collector_ledger, vo);
    storage = std::make_unique<storage_type>(issue(ca, iot::role::storage, "storage-1"), guard, access);
    collector_creds = std::make_unique<net::tls_credentials>(issue(ca, iot::role::collector, "collector-icu"));
    collector_service_options co;
    co.storage_port = storage->port();
    collector = std::make_unique<collector_type>(
        *collector_creds, *validator, &replay,
        [this](const std::string& p) -> iot::patient_smart_card<>* {
          return p == "p-1001" ? &alice : p == "p-1002" ? &bob : nullptr;
        },
        co);
  }
  ~hospital() {
    collector.reset();
    storage.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  static std::shared_ptr<Botan::ECDSA_PrivateKey> new_key() {
    Botan::AutoSeeded_RNG r;
    return std::make_shared<Botan::ECDSA_PrivateKey>(r, Botan::EC_Group("secp256r1"));
  }
  static iot::identity id_of(iot::role r, const std::string& subject) {
    iot::identity id;
    id.role = r;
    id.subject_id = subject;
    return id;
  }
  std::function<bool(const Botan::X509_Certificate&)> admin_check() {
    return [this](const Botan::X509_Certificate& c) {
      return iot::validate_chain(c, *trust, iot::cert_usage::any, t0, {iot::role::admin}).ok();
    };
  }
  static std::function<void(const iot::deployment_event&)> deploy_log(iot::local_ledger& l) {
    return [&l](const iot::deployment_event& e) {
      if (e.accepted())
        l.submit(iot::transaction::rule_deployment(e.group_name, e.version, e.contract_hash, e.signer, iot::ledger_now()));
    };
  }
  net::tls_credentials issue(iot::certificate_authority& by, iot::role r, const std::string& subject) {
    auto key = new_key();
    return net::tls_credentials({by.issue(*key, id_of(r, subject), t0 - 1h, 24h)}, key, trust);
  }
  static iot::sgtin96 epc(int serial) {
    return iot::sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345." + std::to_string(serial), 1);
  }
  net::tls_credentials device_cert(int serial, iot::certificate_authority& by) {
    auto key = new_key();
    auto id = id_of(iot::role::device, "dev-" + std::to_string(serial));
    id.device_epc = epc(serial);
    id.group_id = 1;
    return net::tls_credentials({by.issue(*key, id, t0 - 1h, 24h)}, key, trust);
  }
  void add_device(int serial, const std::string& patient) {
    auto creds = device_cert(serial, ca);
    reg.register_device(epc(serial), patient, "collector-icu");
    REQUIRE(keys.enrol_device(creds.chain(), *trust, t0));
    device_creds.emplace("dev-" + std::to_string(serial), creds);
  }
  device_client device(int serial) {
    device_client_options o;
    o.port = collector->port();
    return device_client(device_creds.at("dev-" + std::to_string(serial)), "collector-icu", o);
  }
  reader_client reader(iot::role r, const std::string& subject) {
    return reader_client(issue(ca, r, subject), "127.0.0.1", storage->port());
  }
};

std::string why(const submit_result& r) {
  return r.refused ? r.refused->stage + "/" + r.refused->reason + ": " + r.refused->message : std::string("stored");
}

} // namespace

TEST_CASE("services: an honest device's record reaches storage and its doctor reads it; another patient's nurse is refused",
          "[services]") {
  hospital h;
  auto dev = h.device(1);  // alice's monitor
  vitals_generator vitals(42);
  const auto sent = vitals.next(vital::heart_rate);
  const auto result = dev.submit("p-1001", sent);
  INFO(why(result));
  REQUIRE(result.stored);
  CHECK(result.record_id == 1);
  CHECK(h.store.size() == 1);

  auto doctor = h.reader(iot::role::doctor, "dr-house");
  const auto read = doctor.read("p-1001");
  REQUIRE(read.ok());
  REQUIRE(read.records.size() == 1);
  CHECK(read.records[0].patient_id == "p-1001");
  CHECK(read.records[0].device == dev.epc());
  CHECK(read.records[0].device_request().data == sent);  // the device's signed measurement, as sent

  auto nurse = h.reader(iot::role::nurse, "nurse-joy");  // bob's nurse
  const auto refused = nurse.read("p-1001");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.refused->stage == "access");
  CHECK(refused.refused->reason == "not_assigned");
  CHECK(refused.records.empty());
}

TEST_CASE("services: a device whose certificate comes from a foreign CA fails the TLS handshake", "[services]") {
  hospital h;
  // Same hospital name, same EPC as a registered device, but issued by a rogue CA.
  device_client_options o;
  o.port = h.collector->port();
  device_client spoof(h.device_cert(1, h.rogue), "collector-icu", o);
  vitals_generator vitals(1);
  CHECK_THROWS_AS(spoof.submit("p-1001", vitals.next(vital::heart_rate)), security_error);
  CHECK(h.store.size() == 0);
  // The server records the refused chain's reason once its side of the connection has closed.
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (h.collector->server().refusals().empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  REQUIRE_FALSE(h.collector->server().refusals().empty());
  CHECK(h.collector->server().refusals().front().find("untrusted") != std::string::npos);
}

TEST_CASE("services: a device that reconnects resumes its TLS session; once revoked, its resumption is refused",
          "[services][resumption]") {
  hospital h;
  auto dev = h.device(1);  // alice's monitor; device_client_options resume sessions by default
  vitals_generator vitals(7);
  const auto first = dev.submit("p-1001", vitals.next(vital::heart_rate));
  INFO(why(first));
  REQUIRE(first.stored);
  CHECK_FALSE(dev.resumed());
  dev.close();

  const auto second = dev.submit("p-1001", vitals.next(vital::spo2));  // reconnects
  INFO(why(second));
  REQUIRE(second.stored);
  CHECK(dev.resumed());
  CHECK(h.collector->server().handshakes().full == 1);
  CHECK(h.collector->server().handshakes().resumed == 1);
  auto doctor = h.reader(iot::role::doctor, "dr-house");
  const auto read = doctor.read("p-1001");
  REQUIRE(read.ok());
  REQUIRE(read.records.size() == 2);
  for (const auto& r : read.records) CHECK(r.device == dev.epc());  // the resumed session's certificate
  dev.close();

  // Captured and revoked: the remembered session's chain is validated again and refused.
  REQUIRE(h.ca.revoke(h.device_creds.at("dev-1").chain().front()));
  h.trust->add_crl(h.ca.crl());
  try {
    (void)dev.submit("p-1001", vitals.next(vital::heart_rate));
    FAIL("a revoked device resumed its session");
  } catch (const security_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("certificate_revoked"));
  }
  CHECK(h.store.size() == 2);
  CHECK(h.collector->server().handshakes().resumed == 1);
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (h.collector->server().refusals().empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  REQUIRE_FALSE(h.collector->server().refusals().empty());
  CHECK(h.collector->server().refusals().back().find("revoked") != std::string::npos);
}

TEST_CASE("services: an exact retry (same signed bytes) of a stored record is answered with the stored id, stored once",
          "[services][retry]") {
  hospital h;
  auto dev = h.device(1);
  vitals_generator vitals(2);
  const auto req = dev.sign("p-1001", vitals.next(vital::spo2));
  const auto first = dev.send(req);
  INFO(why(first));
  REQUIRE(first.stored);
  CHECK_FALSE(first.already_stored);
  // The acknowledgement was lost; the device resends the same bytes on a new connection. The
  // collector's replay memory holds the nonce, so it forwards the request as a retry, and storage
  // answers with the record it already has.
  auto again = h.device(1);
  const auto retried = again.send(req);
  INFO(why(retried));
  REQUIRE(retried.stored);
  CHECK(retried.already_stored);
  CHECK(retried.record_id == first.record_id);
  CHECK(h.store.size() == 1);
  CHECK(h.collector->retries_forwarded() == 1);
  CHECK(h.storage->retries_answered() == 1);
  CHECK(h.storage->stored() == 1);
  // Also when the collector restarted without its replay memory: the retry passes the collector as
  // fresh, and storage's nonce memory and lookup answer it the same way.
  h.replay.forget(req.device.to_hex(), std::span<const std::uint8_t>(req.nonce));
  again.close();
  const auto after_restart = again.send(req);
  INFO(why(after_restart));
  REQUIRE(after_restart.stored);
  CHECK(after_restart.already_stored);
  CHECK(after_restart.record_id == first.record_id);
  CHECK(h.store.size() == 1);
  CHECK(h.store.integrity_scan().ok());
}

TEST_CASE("services: a request whose nonce the collector recorded but never forwarded is stored on retry",
          "[services][retry]") {
  hospital h;
  auto dev = h.device(1);
  vitals_generator vitals(3);
  const auto req = dev.sign("p-1001", vitals.next(vital::temperature));
  // The collector validated the request (its replay memory recorded the nonce) and was killed before
  // forwarding it: storage has never seen it.
  REQUIRE(h.replay.check(req.device.to_hex(), std::span<const std::uint8_t>(req.nonce), req.timestamp,
                         std::chrono::system_clock::now()).ok());
  const auto retried = dev.send(req);
  INFO(why(retried));
  REQUIRE(retried.stored);
  CHECK_FALSE(retried.already_stored);
  CHECK(h.store.size() == 1);
  const auto again = dev.send(req);
  REQUIRE(again.stored);
  CHECK(again.already_stored);
  CHECK(again.record_id == retried.record_id);
  CHECK(h.store.size() == 1);
}

TEST_CASE("services: another record under a used nonce is refused (a tampered or re-signed replay)", "[services][retry]") {
  hospital h;
  auto dev = h.device(1);
  vitals_generator vitals(4);
  auto req = dev.sign("p-1001", vitals.next(vital::heart_rate));
  const auto first = dev.send(req);
  REQUIRE(first.stored);
  const auto& key = h.device_creds.at("dev-1").key();
  // The same measurement under another valid signature: ECDSA's (r, s) and (r, n - s) both verify
  // (malleability), so other bytes, same nonce.
  auto resigned = req;
  {
    REQUIRE(req.signature.size() == 64);
    const Botan::EC_Group p256("secp256r1");
    const Botan::BigInt s_half(req.signature.data() + 32, 32);
    const auto flipped = Botan::BigInt::encode_1363(p256.get_order() - s_half, 32);
    std::copy(flipped.begin(), flipped.end(), resigned.signature.begin() + 32);
  }
  REQUIRE(resigned.signature != req.signature);
  // Another value under the same nonce, validly signed by the device itself.
  auto changed = req;
  changed.data = vitals.next(vital::heart_rate);
  changed.data.fields.insert_or_assign("bpm", std::int64_t{61});
  iot::sign_request(changed, key, h.rng);
  for (const auto* r : {&resigned, &changed}) {
    const auto v = dev.send(*r);
    INFO(why(v));
    REQUIRE(v.refused);
    CHECK(v.refused->stage == "storage");
    CHECK(v.refused->reason == "duplicate_nonce");
  }
  // Bytes changed in transit (not re-signed) do not authenticate at the collector.
  auto tampered = req;
  tampered.data.fields.insert_or_assign("bpm", std::int64_t{62});
  const auto t = dev.send(tampered);
  REQUIRE(t.refused);
  CHECK(t.refused->stage == "collector");
  CHECK(t.refused->reason == "unauthenticated");
  CHECK(h.store.size() == 1);
  CHECK(h.store.records_of("p-1001").front().device_request().signature == req.signature);
}

TEST_CASE("services: a compromised collector's forged records are refused by storage over mTLS", "[services]") {
  hospital h;
  net::client_options o;
  o.accepted_server_roles = iot::role_set{iot::role::storage};
  net::tls_client rogue(*h.collector_creds, o);  // the collector's own certificate and key
  rogue.connect("127.0.0.1", h.storage->port());
  vitals_generator vitals(4);

  // 1. A back-dated bare record with an in-range value: no device signature inside.
  const auto past = std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now() - 30min);
  auto forged = iot::make_record("p-1001", hospital::epc(1), "heart_rate", vitals.next(vital::heart_rate), past,
                                 h.alice, "collector-icu", h.collector_creds->key(), h.rng);
  auto reply = rogue.request(json_frame(msg::store, record_to_json(forged)));
  REQUIRE(reply.type == msg::refused);
  CHECK(read_refusal(reply).reason == "unattested");

  // 2. An attested record whose "device request" the collector signed with a key of its own.
  auto fake_device_key = hospital::new_key();
  auto req = iot::make_signed_request(hospital::epc(1), "collector-icu", "p-1001", vitals.next(vital::heart_rate),
                                      iot::request_now(), *fake_device_key, h.rng);
  auto attested = iot::make_attested_record(req, h.alice, "collector-icu", h.collector_creds->key(), h.rng);
  reply = rogue.request(json_frame(msg::store, record_to_json(attested)));
  REQUIRE(reply.type == msg::refused);
  CHECK(read_refusal(reply).reason == "bad_device_signature");
  CHECK(h.store.size() == 0);

  // 3. A device may not talk to storage at all: only collectors, doctors and nurses pass the handshake.
  net::tls_client device_direct(h.device_creds.at("dev-1"), o);
  CHECK_THROWS_AS(device_direct.connect("127.0.0.1", h.storage->port()), security_error);
}

TEST_CASE("services: 100 concurrent devices are all acknowledged and stored, in fewer commits than records",
          "[services][load]") {
  constexpr int n = 100;
  hospital h(n);
  std::vector<submit_result> results(n);
  std::vector<std::string> errors(n);
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i)
      threads.emplace_back([&, i] {
        try {
          auto dev = h.device(i + 1);
          vitals_generator vitals(static_cast<std::uint64_t>(i));
          results[i] = dev.submit((i + 1) % 2 ? "p-1001" : "p-1002", vitals.next(all_vitals[i % 6]));
        } catch (const std::exception& e) {
          errors[i] = e.what();
        }
      });
    for (auto& t : threads) t.join();
  }
  int stored = 0;
  for (int i = 0; i < n; ++i) {
    INFO("device " << i + 1 << ": " << errors[i] << why(results[i]));
    CHECK(errors[i].empty());
    CHECK(results[i].stored);
    stored += results[i].stored ? 1 : 0;
  }
  CHECK(stored == n);
  CHECK(h.store.size() == n);
  CHECK(h.storage->stored() == n);
  CHECK(h.collector->acknowledged() == n);
  // Group commit: each batch is one SQLite transaction with one COMMIT.
  INFO("batches " << h.storage->batches() << ", largest " << h.storage->largest_batch());
  CHECK(h.storage->batches() == h.store.commit_count());
  CHECK(h.storage->batches() < static_cast<std::uint64_t>(n));
  CHECK(h.storage->largest_batch() > 1);
  CHECK(h.store.integrity_scan().ok());
}

TEST_CASE("services: reads come in pages the storage node caps; the reader gathers them in order", "[services][paging]") {
  hospital h(1);  // dev-1 measures alice (p-1001)
  auto dev = h.device(1);
  vitals_generator vitals(7);
  constexpr int n = 7;
  for (int i = 0; i < n; ++i) {
    const auto r = dev.submit("p-1001", vitals.next(all_vitals[static_cast<std::size_t>(i) % 6]));
    INFO(why(r));
    REQUIRE(r.stored);
  }
  const auto expected = h.store.records_of("p-1001");
  REQUIRE(expected.size() == n);

  // A second storage service over the same guard and access controller, with small pages.
  storage_service_options o;
  o.max_read_records = 3;
  storage_type small(h.issue(h.ca, iot::role::storage, "storage-1"), h.guard, h.access, o);
  reader_client doctor(h.issue(h.ca, iot::role::doctor, "dr-house"), "127.0.0.1", small.port());

  const auto all = doctor.read("p-1001");  // three pages: 3 + 3 + 1
  REQUIRE(all.ok());
  CHECK_FALSE(all.next);
  REQUIRE(all.records.size() == n);
  for (int i = 0; i < n; ++i) CHECK(all.records[static_cast<std::size_t>(i)] == expected[static_cast<std::size_t>(i)]);

  const auto first = doctor.read_page("p-1001", iot::read_query{{}, {}, {}, 2});
  REQUIRE(first.ok());
  REQUIRE(first.records.size() == 2);
  REQUIRE(first.next);
  CHECK(*first.next == iot::record_cursor::of(expected[1]));
  const auto capped = doctor.read_page("p-1001", iot::read_query{{}, {}, first.next, 100});  // capped at 3
  REQUIRE(capped.records.size() == 3);
  CHECK(capped.records[0] == expected[2]);
  REQUIRE(capped.next);
  const auto last = doctor.read_page("p-1001", iot::read_query{{}, {}, capped.next, 0});
  REQUIRE(last.records.size() == 2);
  CHECK(last.records[1] == expected[6]);
  CHECK_FALSE(last.next);

  // A byte cap: max_read_bytes at its minimum (4096) holds fewer records than the count cap.
  storage_service_options tiny;
  tiny.max_read_bytes = 4096;
  storage_type bytes(h.issue(h.ca, iot::role::storage, "storage-1"), h.guard, h.access, tiny);
  reader_client doctor2(h.issue(h.ca, iot::role::doctor, "dr-house"), "127.0.0.1", bytes.port());
  const auto page = doctor2.read_page("p-1001", iot::read_query{});
  REQUIRE(page.ok());
  CHECK(page.records.size() < static_cast<std::size_t>(n));
  CHECK(page.next);
  CHECK(doctor2.read("p-1001").records.size() == n);

  // The reader's own bound, and the refusals of malformed page requests.
  reader_client bounded(h.issue(h.ca, iot::role::doctor, "dr-house"), "127.0.0.1", small.port());
  bounded.set_max_records(5);
  CHECK_THROWS_AS(bounded.read("p-1001"), security_error);
  CHECK_THROWS_AS(bounded.set_max_records(0), invalid_argument);
  net::tls_client raw(h.issue(h.ca, iot::role::doctor, "dr-house"), [] {
    net::client_options c;
    c.accepted_server_roles = iot::role_set{iot::role::storage};
    return c;
  }());
  raw.connect("127.0.0.1", small.port());
  for (const auto* q : {R"({"patient":"p-1001","limit":0})", R"({"patient":"p-1001","limit":-3})",
                        R"({"patient":"p-1001","after":"x"})", R"({"patient":"p-1001","after":{"time_ms":1}})",
                        R"({"patient":"p-1001","after":{"time_ms":1,"id":-1}})"}) {
    INFO(q);
    const std::string text = q;
    const auto reply = raw.request(net::frame{msg::read, std::vector<std::uint8_t>(text.begin(), text.end())});
    REQUIRE(reply.type == msg::refused);
    CHECK(read_refusal(reply).reason == "malformed");
  }
  CHECK_THROWS_AS(storage_type(h.issue(h.ca, iot::role::storage, "storage-1"), h.guard, h.access,
                               [] {
                                 storage_service_options z;
                                 z.max_read_records = 0;
                                 return z;
                               }()),
                  invalid_argument);
}

TEST_CASE("services: the vitals generator is reproducible and its values satisfy the vitals contract", "[services]") {
  iot::rule_contract contract = iot::rule_contract::parse(vitals_contract);
  vitals_generator a(7, 0.0), b(7, 0.0), sick(7, 1.0);
  for (int i = 0; i < 200; ++i) {
    for (const auto v : all_vitals) {
      const auto pa = a.next(v);
      CHECK(pa == b.next(v));
      const auto ps = sick.next(v);
      CHECK(iot::check_content(contract, pa).ok());
      CHECK(iot::check_content(contract, ps).ok());
    }
  }
}

TEST_CASE("services: false data and a forged signature are refused by the collector with their reasons",
          "[services]") {
  hospital h;
  auto dev = h.device(1);
  // False data: a heart rate outside the group's contract.
  iot::payload absurd;
  absurd.type = "heart_rate";
  absurd.fields.emplace("bpm", 400);
  const auto rule = dev.submit("p-1001", absurd);
  REQUIRE(rule.refused);
  CHECK(rule.refused->stage == "collector");
  CHECK(rule.refused->reason == "rule_violation");
  // A request for this device signed with another key, sent over the device's own TLS session:
  // refused before authentication, with the one generic reason.
  vitals_generator vitals(5);
  auto other_key = hospital::new_key();
  const auto forged = iot::make_signed_request(dev.epc(), "collector-icu", "p-1001", vitals.next(vital::spo2),
                                               iot::request_now(), *other_key, h.rng);
  const auto sig = dev.send(forged);
  REQUIRE(sig.refused);
  CHECK(sig.refused->reason == "unauthenticated");
  CHECK(h.store.size() == 0);
}
