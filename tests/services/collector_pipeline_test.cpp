// The collector's pipelined forwarding over real mutual TLS on 127.0.0.1: many devices' records are
// in storage's queue at once (so group commits grow past the collector's handler threads), the bound
// on records awaiting storage refuses with a typed, retryable reason, a stop finishes the work it
// received, and the sealing mode acknowledges only records whose ledger entry is in a block.
// Properties, not timings: storage's committer is paused to make the queue observable.
#include <hefl/iot/collection/collector_validator.hpp>
#include <hefl/iot/hospital/access.hpp>
#include <hefl/iot/storage/storage_guard.hpp>
#include <hefl/services.hpp>

#include <botan/auto_rng.h>
#include <botan/ecdsa.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <functional>
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

std::shared_ptr<Botan::ECDSA_PrivateKey> new_key() {
  Botan::AutoSeeded_RNG r;
  return std::make_shared<Botan::ECDSA_PrivateKey>(r, Botan::EC_Group("secp256r1"));
}

iot::identity id_of(iot::role r, const std::string& subject) {
  iot::identity id;
  id.role = r;
  id.subject_id = subject;
  return id;
}

/// One patient, n devices, a storage node and a collector (options adjustable before start()).
struct pipeline {
  Botan::AutoSeeded_RNG rng;
  iot::clock_time t0 = std::chrono::system_clock::now() - 1min;
  iot::certificate_authority ca{"Pipeline Hospital", t0 - 1h};
  std::shared_ptr<iot::trust_store> trust = [&] {
    auto s = std::make_shared<iot::trust_store>(iot::trust_store::in_memory());
    s->add_root(ca.root());
    s->add_crl(ca.crl());
    return s;
  }();
  iot::registry reg;
  std::shared_ptr<Botan::ECDSA_PrivateKey> admin_key = new_key();
  Botan::X509_Certificate admin_cert = ca.issue(*admin_key, id_of(iot::role::admin, "admin"), t0 - 1h, 24h);
  iot::patient_smart_card<> card{"p-1", rng};
  std::filesystem::path dir = [] {
    static std::atomic<int> n{0};
    auto d = std::filesystem::temp_directory_path() /
             ("hefl-pipeline-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    std::filesystem::create_directories(d);
    return d;
  }();
  iot::identity_directory keys;
  iot::local_ledger storage_ledger{[] {
    iot::ledger_config c;  // blocks only when sealed explicitly (flush), so a pending entry stays pending
    c.max_block_transactions = 100000;
    c.max_block_delay = std::chrono::hours(24);
    return c;
  }()};
  iot::local_ledger collector_ledger;
  iot::rule_manager<> storage_rules{admin_check(), [](const iot::deployment_event&) {}};
  iot::rule_manager<> collector_rules{admin_check(), [](const iot::deployment_event&) {}};
  iot::record_store<> store{(dir / "records.sqlite").string(), keys, storage_ledger};
  guard_type guard{*trust, reg, keys, storage_rules, store, storage_ledger};
  access_type access{*trust, reg, store, storage_ledger};
  iot::replay_guard replay;
  std::unique_ptr<iot::collector_validator<>> validator;
  std::vector<net::tls_credentials> devices;
  std::unique_ptr<net::tls_credentials> collector_creds;
  storage_service_options storage_options;
  collector_service_options collector_options;
  std::unique_ptr<storage_type> storage;
  std::unique_ptr<collector_type> collector;

  std::function<bool(const Botan::X509_Certificate&)> admin_check() {
    return [this](const Botan::X509_Certificate& c) {
      return iot::validate_chain(c, *trust, iot::cert_usage::any, std::chrono::system_clock::now(), {iot::role::admin})
          .ok();
    };
  }
  net::tls_credentials issue(iot::role r, const std::string& s) {
    auto key = new_key();
    return net::tls_credentials({ca.issue(*key, id_of(r, s), t0 - 1h, 24h)}, key, trust);
  }

  explicit pipeline(int n) {
    reg.register_patient({"p-1", "icu", "1", "P"});
    reg.register_collector("collector-1");
    REQUIRE(keys.enrol_patient({ca.issue(card.public_key(), id_of(iot::role::patient, "p-1"), t0 - 1h, 24h)}, *trust,
                               t0));
    // The vitals contract with a rate no test device reaches (several records per device here).
    std::string contract(vitals_contract);
    const std::string from = "\"max_messages_per_minute\": 600";
    const auto at = contract.find(from);
    REQUIRE(at != std::string::npos);
    contract.replace(at, from.size(), "\"max_messages_per_minute\": 60000");
    const auto signed_contract = iot::sign_deployment(contract, *admin_key, admin_cert, rng);
    REQUIRE(storage_rules.deploy(signed_contract).accepted());
    REQUIRE(collector_rules.deploy(signed_contract).accepted());
    for (int i = 1; i <= n; ++i) {
      auto key = new_key();
      auto id = id_of(iot::role::device, "dev-" + std::to_string(i));
      id.device_epc = iot::sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345." + std::to_string(i), 1);
      id.group_id = 1;
      net::tls_credentials creds({ca.issue(*key, id, t0 - 1h, 24h)}, key, trust);
      reg.register_device(*id.device_epc, "p-1", "collector-1");
      REQUIRE(keys.enrol_device(creds.chain(), *trust, t0));
      devices.push_back(std::move(creds));
    }
    iot::collector_validator_options vo;
    vo.collector_id = "collector-1";
    vo.devices = &reg;
    validator = std::make_unique<iot::collector_validator<>>(iot::trust_store_certificates(*trust), collector_rules,
                                                            replay, collector_ledger, vo);
    collector_creds = std::make_unique<net::tls_credentials>(issue(iot::role::collector, "collector-1"));
  }
  ~pipeline() {
    collector.reset();
    storage.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  void start() {
    storage = std::make_unique<storage_type>(issue(iot::role::storage, "storage-1"), guard, access, storage_options);
    collector_options.storage_port = storage->port();
    collector = std::make_unique<collector_type>(
        *collector_creds, *validator, &replay,
        [this](const std::string& p) -> iot::patient_smart_card<>* { return p == "p-1" ? &card : nullptr; },
        collector_options);
  }

  device_client device(int i) {
    device_client_options o;
    o.port = collector->port();
    o.max_attempts = 1;  // every outcome is seen as it happened
    return device_client(devices.at(static_cast<std::size_t>(i)), "collector-1", o);
  }
  std::unique_ptr<device_client> device_ptr(int i) {
    device_client_options o;
    o.port = collector->port();
    o.max_attempts = 1;
    return std::make_unique<device_client>(devices.at(static_cast<std::size_t>(i)), "collector-1", o);
  }

  /// Waits until @p done holds (true) or 60 s passed (false).
  static bool eventually(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }
};

std::string why(const submit_result& r) {
  return r.refused ? r.refused->stage + "/" + r.refused->reason + ": " + r.refused->message : std::string("stored");
}

} // namespace

TEST_CASE("services: 64 concurrent devices through one collector produce a storage batch larger than the collector's "
          "handler threads",
          "[services][pipeline]") {
  constexpr int n = 64;
  pipeline p(n);
  p.collector_options.limits.handler_threads = 2;
  p.start();
  p.storage->pause();  // the queue becomes observable: it holds what the collector has in flight
  std::vector<submit_result> results(n);
  std::vector<std::string> errors(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      try {
        auto dev = p.device(i);
        vitals_generator g(static_cast<std::uint64_t>(i));
        results[i] = dev.submit("p-1", g.next(all_vitals[static_cast<std::size_t>(i) % all_vitals.size()]));
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  // A collector that held a handler thread per record could never have more than 2 records queued.
  const bool all_queued = pipeline::eventually([&] { return p.storage->queued() == n; });
  p.storage->resume();
  for (auto& t : threads) t.join();
  CHECK(all_queued);
  for (int i = 0; i < n; ++i) {
    INFO("device " << i << ": " << errors[i] << why(results[i]));
    CHECK(errors[i].empty());
    CHECK(results[i].stored);
  }
  INFO("batches " << p.storage->batches() << ", largest " << p.storage->largest_batch());
  CHECK(p.storage->largest_batch() > p.collector_options.limits.handler_threads);
  CHECK(p.storage->largest_batch() == n);  // one COMMIT for all of them
  CHECK(p.collector->most_forwarding() == n);
  CHECK(p.collector->acknowledged() == n);
  CHECK(p.store.size() == n);
  CHECK(p.store.commit_count() == 1);
  CHECK(p.store.integrity_scan().ok());
}

TEST_CASE("services: records beyond the collector's max_forwarding are refused as overloaded, retryable, nonce released",
          "[services][pipeline]") {
  constexpr int n = 8, bound = 3;
  pipeline p(n);
  p.collector_options.max_forwarding = bound;
  p.start();
  p.storage->pause();
  std::vector<iot::request> requests;
  std::vector<std::unique_ptr<device_client>> clients;
  for (int i = 0; i < n; ++i) {
    clients.push_back(p.device_ptr(i));
    vitals_generator g(static_cast<std::uint64_t>(i));
    requests.push_back(clients.back()->sign("p-1", g.next(vital::heart_rate)));
  }
  std::vector<submit_result> results(n);
  std::vector<std::string> errors(n);
  std::atomic<int> finished{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      try {
        results[i] = clients[static_cast<std::size_t>(i)]->send(requests[static_cast<std::size_t>(i)]);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
      ++finished;
    });
  // bound records wait in storage's queue; the others are answered at once.
  const bool settled = pipeline::eventually([&] { return p.storage->queued() == bound && finished == n - bound; });
  CHECK(settled);
  CHECK(p.collector->forwarding() == bound);
  p.storage->resume();
  for (auto& t : threads) t.join();
  int stored = 0;
  std::vector<int> overloaded;
  for (int i = 0; i < n; ++i) {
    INFO("device " << i << ": " << errors[i] << why(results[i]));
    REQUIRE(errors[i].empty());
    if (results[i].stored) {
      ++stored;
    } else {
      REQUIRE(results[i].refused);
      CHECK(results[i].refused->stage == "collector");
      CHECK(results[i].refused->reason == "overloaded");
      CHECK(retryable(*results[i].refused));
      overloaded.push_back(i);
    }
  }
  CHECK(stored == bound);
  CHECK(overloaded.size() == static_cast<std::size_t>(n - bound));
  // The same signed bytes again: stored as new (the collector released the nonce; no "replay").
  for (const int i : overloaded) {
    const auto again = clients[static_cast<std::size_t>(i)]->send(requests[static_cast<std::size_t>(i)]);
    INFO(why(again));
    CHECK(again.stored);
    CHECK_FALSE(again.already_stored);
  }
  CHECK(p.store.size() == n);
  CHECK(p.collector->retries_forwarded() == 0);
}

TEST_CASE("services: stopping the collector with records awaiting storage finishes them: acknowledged and stored",
          "[services][pipeline]") {
  constexpr int n = 12;
  pipeline p(n);
  p.start();
  p.storage->pause();
  std::vector<submit_result> results(n);
  std::vector<std::string> errors(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      try {
        auto dev = p.device(i);
        vitals_generator g(static_cast<std::uint64_t>(i));
        results[i] = dev.submit("p-1", g.next(vital::spo2));
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  REQUIRE(pipeline::eventually([&] { return p.storage->queued() == n; }));
  std::thread stopper([&] { p.collector->stop(); });  // drains: waits for storage's answers
  std::this_thread::sleep_for(100ms);
  p.storage->resume();
  stopper.join();
  for (auto& t : threads) t.join();
  for (int i = 0; i < n; ++i) {
    INFO("device " << i << ": " << errors[i] << why(results[i]));
    CHECK(errors[i].empty());
    CHECK(results[i].stored);
  }
  CHECK(p.collector->acknowledged() == n);
  CHECK(p.collector->forwarding() == 0);
  CHECK(p.store.size() == n);
}

TEST_CASE("services: with a seal interval a record is acknowledged only once its ledger entry is sealed in a block",
          "[services][pipeline]") {
  pipeline p(2);
  p.storage_options.seal_interval = 200ms;
  p.storage_options.seal = [&p] { (void)p.storage_ledger.flush(); };
  p.start();
  for (int i = 0; i < 2; ++i) {
    auto dev = p.device(i);
    vitals_generator g(static_cast<std::uint64_t>(i));
    const auto r = dev.submit("p-1", g.next(vital::temperature));
    INFO(why(r));
    REQUIRE(r.stored);
    // The ledger seals only on flush() (see the fixture), so an empty pool means the sealer ran after the commit.
    CHECK(p.storage_ledger.pending().empty());
    CHECK(p.storage_ledger.height() >= static_cast<std::uint64_t>(i + 1));
  }
  CHECK(p.storage->seals() >= 2);
  CHECK(p.store.size() == 2);
  // Refused configuration: an interval without a seal function.
  storage_service_options bad;
  bad.seal_interval = 1s;
  CHECK_THROWS_AS(storage_type(p.issue(iot::role::storage, "storage-2"), p.guard, p.access, bad), invalid_argument);
}

TEST_CASE("net: the validation cache answers a repeated chain from memory, checks the role each time, and misses after "
          "a new CRL",
          "[services][pipeline][cache]") {
  pipeline p(2);
  net::validation_cache cache;
  const auto& chain = p.devices.at(0).chain();
  const auto now = std::chrono::system_clock::now();
  const auto tls = iot::cert_usage::tls_client;
  const auto first = cache.validate(chain, *p.trust, tls, now, {iot::role::device});
  REQUIRE(first.ok());
  CHECK(cache.misses() == 1);
  const auto again = cache.validate(chain, *p.trust, tls, now, {iot::role::device});
  CHECK(again.ok());
  CHECK(again.holder->subject_id == first.holder->subject_id);
  CHECK(cache.hits() == 1);
  // The role is checked on every lookup, also on one answered from memory.
  const auto other_role = cache.validate(chain, *p.trust, tls, now, {iot::role::collector});
  CHECK(other_role.status == iot::chain_status::wrong_role);
  CHECK_FALSE(other_role.holder);
  CHECK(cache.hits() == 2);
  // Past max_age the chain is validated again.
  CHECK(cache.validate(chain, *p.trust, tls, now + 2min, {iot::role::device}).ok());
  CHECK(cache.misses() == 2);
  // A revocation publishes a new trust snapshot: the remembered verdict is not used, the refusal not remembered.
  REQUIRE(p.ca.revoke(chain.front()));
  p.trust->add_crl(p.ca.crl());
  CHECK(cache.validate(chain, *p.trust, tls, now, {iot::role::device}).status == iot::chain_status::revoked);
  CHECK(cache.validate(chain, *p.trust, tls, now, {iot::role::device}).status == iot::chain_status::revoked);
  CHECK(cache.misses() == 4);
  CHECK(cache.hits() == 2);
  // Through the TLS credentials too: a revoked device's handshake is refused by a server whose cache
  // held its chain as valid.
  auto cache2 = std::make_shared<net::validation_cache>();
  auto creds = p.issue(iot::role::storage, "storage-x");
  creds.use_validation_cache(cache2);
  const auto& dev2 = p.devices.at(1);
  CHECK(creds.validate_peer(dev2.chain(), tls, now, {iot::role::device}).ok());
  REQUIRE(p.ca.revoke(dev2.chain().front()));
  p.trust->add_crl(p.ca.crl());
  CHECK(creds.validate_peer(dev2.chain(), tls, now, {iot::role::device}).status == iot::chain_status::revoked);
  CHECK_THROWS_AS(net::validation_cache(net::validation_cache_options{0, std::chrono::seconds(1)}), invalid_argument);
}
