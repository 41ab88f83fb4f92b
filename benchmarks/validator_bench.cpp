// Costs on the collector and storage side of seed 003 (whose load test timed one collector under
// 10/100/1000 simultaneous requests), all on one thread, so items/s is a per-core rate:
//   - request-signature verification for each signing policy (verify_request<Policy>);
//   - patient record-signature verification for each signing policy (what the store checks per row);
//   - path validation of a device certificate against a trust store holding a CRL;
//   - collector_validator::validate() of an honest request, and of rejected ones;
//   - ledger append (submit, sealing every 100) and whole-chain verify();
//   - record_store inserts into a SQLite file, and its integrity scan (wall-clock rates: they wait
//     for the disk).
// The hospital CA certifies only ECDSA P-256 keys for devices (Botan 2.19 TLS needs them), so a full
// validate() exists only with ecdsa_p256_signing; Ed25519 and DSA-2048 request verification is
// measured with separately held keys, as a validator over another certificate policy would do it.
#include <hefl/iot.hpp>

#include <benchmark/benchmark.h>

#include <botan/auto_rng.h>
#include <botan/hex.h>
#include <botan/system_rng.h>

#include <chrono>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace hefl::iot;
using namespace std::chrono_literals;

// Database files of this run, removed at exit.
struct bench_dir {
  std::filesystem::path path;
  int next = 0;
  bench_dir() {
    std::vector<std::uint8_t> r(8);
    Botan::system_rng().randomize(r.data(), r.size());
    path = std::filesystem::temp_directory_path() / ("hefl_validator_bench_" + Botan::hex_encode(r, false));
    std::filesystem::create_directories(path);
  }
  ~bench_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string fresh_file() { return (path / ("db" + std::to_string(next++) + ".sqlite")).string(); }
};

bench_dir& dir() {
  static bench_dir d;
  return d;
}

payload heart_rate(std::int64_t bpm) { return payload{"heart_rate", {{"bpm", bpm}}}; }

/// One hospital: CA (with 10 revoked devices on its CRL), a rogue CA, a device, a collector, an admin,
/// a patient card, and a contract like the vital-signs one but allowing 60000 messages per minute, so
/// that the benchmark measures validation, not the rate limiter.
struct bench_env {
  Botan::AutoSeeded_RNG rng;
  clock_time t0 = std::chrono::system_clock::now();
  certificate_authority ca{"Bench Hospital", t0 - 1h};
  certificate_authority rogue{"Bench Hospital", t0 - 1h};
  trust_store trust = trust_store::in_memory();
  sgtin96 epc = sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345.1", 1);
  key_pair device_keys = ecdsa_p256_signing::generate(rng);
  key_pair rogue_keys = ecdsa_p256_signing::generate(rng);
  key_pair collector_keys = ecdsa_p256_signing::generate(rng);
  key_pair admin_keys = ecdsa_p256_signing::generate(rng);
  certificate_chain device, spoofed;
  Botan::X509_Certificate admin, collector;
  std::string contract;

  bench_env() {
    trust.add_root(ca.root());
    for (std::uint64_t i = 0; i < 10; ++i)
      ca.revoke(ca.issue(*device_keys.public_key, device_identity(100 + i), t0 - 1h, 24h), Botan::CRL_Code::KEY_COMPROMISE,
                t0 - 1min);
    trust.add_crl(ca.crl());
    device = {ca.issue(*device_keys.public_key, device_identity(1), t0 - 1h, 24h)};
    spoofed = {rogue.issue(*rogue_keys.public_key, device_identity(1), t0 - 1h, 24h)};
    admin = ca.issue(*admin_keys.public_key, identity{role::admin, "admin.root", {}, 0, 0}, t0 - 1h, 24h);
    collector = ca.issue(*collector_keys.public_key, identity{role::collector, "collector-icu", {}, 0, 0}, t0 - 1h, 24h);
    auto c = rule_contract::parse(vital_signs_example_contract);
    c.max_messages_per_minute = static_cast<std::uint32_t>(rule_contract::max_rate_limit);
    contract = c.to_json().dump();
  }

  identity device_identity(std::uint64_t serial) const {
    return identity{role::device, "monitor-" + std::to_string(serial),
                    sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345." + std::to_string(serial), 1), 1, 1};
  }

  /// Validation time of every request: inside the replay window of requests stamped t0.
  [[nodiscard]] clock_time at() const { return t0 + 1s; }
  [[nodiscard]] request_time stamp() const { return std::chrono::floor<std::chrono::milliseconds>(t0); }

  /// @p n honest requests from the device, each with its own nonce.
  std::vector<std::vector<std::uint8_t>> requests(std::size_t n, std::int64_t bpm = 72) {
    std::vector<std::vector<std::uint8_t>> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
      out.push_back(make_signed_request(epc, "collector-icu", "p-1001", heart_rate(bpm), stamp(), *device_keys.private_key,
                                        rng)
                        .encode());
    return out;
  }
};

bench_env& env() {
  static bench_env e;
  return e;
}

/// A collector as deployed, fresh for every run: its own ledger, rule manager, replay guard, validator.
struct collector_rig {
  local_ledger chain;
  rule_manager<> rules{[](const Botan::X509_Certificate& c) {
                         return validate_chain(c, env().trust, cert_usage::any, env().at(), {role::admin}).ok();
                       },
                       [this](const deployment_event& e) {
                         if (e.accepted())
                           chain.submit(transaction::rule_deployment("1", e.version, e.contract_hash, e.signer, ledger_now()));
                       }};
  replay_guard replay{replay_options()};
  collector_validator<> validator{env().trust, rules, replay, chain, options()};

  // Every request is validated at env().at(), however long the run: the guard's own clock bounds are
  // opened wide so that a long run does not turn the prepared requests stale.
  static replay_guard_options replay_options() {
    replay_guard_options o;
    o.max_clock_offset = std::chrono::hours(24);
    return o;
  }

  collector_rig() {
    auto& e = env();
    if (!rules.deploy(sign_deployment(e.contract, *e.admin_keys.private_key, e.admin, e.rng)).accepted())
      throw hefl::invalid_argument("validator_bench: the contract deployment was refused");
  }
  static collector_validator_options options() {
    collector_validator_options o;
    o.collector_id = "collector-icu";
    // The rejection benchmarks send one refused request after another from one peer: measure each
    // step's cost, not the per-peer limit that would cut such a peer off after a burst.
    o.peer_refusals_per_minute = std::numeric_limits<std::uint32_t>::max();
    return o;
  }
};

// ---- signatures -----------------------------------------------------------------------------------

template <class Policy>
void bm_request_verify(benchmark::State& state) {
  auto& e = env();
  const auto keys = Policy::generate(e.rng);
  request r;
  r.device = e.epc;
  r.collector_id = "collector-icu";
  r.patient_id = "p-1001";
  r.data = heart_rate(72);
  r.timestamp = e.stamp();
  r.nonce.assign(16, 7);
  sign_request<Policy>(r, *keys.private_key, e.rng);
  for (auto _ : state) {
    if (!verify_request<Policy>(r, *keys.public_key)) state.SkipWithError("signature did not verify");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_TEMPLATE(bm_request_verify, ed25519_signing)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(bm_request_verify, ecdsa_p256_signing)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(bm_request_verify, dsa2048_signing)->Unit(benchmark::kMicrosecond);

// The patient card's signature of a record hash, as the record store and the storage guard check it.
template <class Policy>
void bm_record_signature_verify(benchmark::State& state) {
  auto& e = env();
  patient_smart_card<Policy> card("p-1001", e.rng);
  auto r = draft_record("p-1001", e.epc, "heart_rate", heart_rate(72), e.stamp());
  sign_as_patient(r, card);
  for (auto _ : state) {
    if (!Policy::verify(card.public_key(), r.hash, r.patient_signature)) state.SkipWithError("signature did not verify");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_TEMPLATE(bm_record_signature_verify, ed25519_signing)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(bm_record_signature_verify, ecdsa_p256_signing)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(bm_record_signature_verify, dsa2048_signing)->Unit(benchmark::kMicrosecond);

// ---- certificates and the collector ---------------------------------------------------------------

void bm_path_validation_with_crl(benchmark::State& state) {
  auto& e = env();
  for (auto _ : state) {
    const auto v = validate_chain(e.device, e.trust, cert_usage::tls_client, e.at());
    if (!v.ok()) state.SkipWithError(v.reason.c_str());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_path_validation_with_crl)->Unit(benchmark::kMicrosecond);

// validate() of an honest request: size, parse, path validation with CRL, identity, ECDSA signature,
// replay guard, rule contract, and the rule_check ledger entry (a block sealed every 100).
void bm_validate_honest(benchmark::State& state) {
  static const auto requests = env().requests(2000);
  collector_rig rig;
  std::size_t next = 0;
  for (auto _ : state) {
    const auto v = rig.validator.validate(env().device, requests[next++], env().at());
    if (!v.accepted()) state.SkipWithError(v.message.c_str());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_validate_honest)->Iterations(2000)->Unit(benchmark::kMicrosecond);

enum class reject { oversized, malformed, untrusted_certificate, bad_signature, replay };

// validate() of a request refused at the given step; refusals after authentication (replay) are logged
// like an acceptance, those before it are counted and summarised.
void bm_validate_rejected(benchmark::State& state, reject kind) {
  auto& e = env();
  collector_rig rig;
  certificate_chain chain = e.device;
  std::vector<std::uint8_t> bytes = e.requests(1).front();
  verdict_reason expected = verdict_reason::replay;
  switch (kind) {
    case reject::oversized:
      bytes.assign(rig.validator.options().limits.max_bytes + 1, 0x41);
      expected = verdict_reason::oversized;
      break;
    case reject::malformed:
      bytes.assign({'G', 'E', 'T', ' ', '/', ' ', 'H', 'T', 'T', 'P', '/', '1', '.', '1'});
      expected = verdict_reason::malformed;
      break;
    case reject::untrusted_certificate:
      chain = e.spoofed;
      bytes = make_signed_request(e.epc, "collector-icu", "p-1001", heart_rate(72), e.stamp(), *e.rogue_keys.private_key,
                                  e.rng)
                  .encode();
      expected = verdict_reason::untrusted_certificate;
      break;
    case reject::bad_signature:
      bytes[bytes.size() - 1] ^= 1;
      expected = verdict_reason::bad_signature;
      break;
    case reject::replay:
      if (!rig.validator.validate(chain, bytes, e.at()).accepted()) state.SkipWithError("first request refused");
      break;
  }
  for (auto _ : state) {
    const auto v = rig.validator.validate(chain, bytes, e.at());
    if (v.reason != expected) state.SkipWithError(v.message.c_str());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(bm_validate_rejected, oversized, reject::oversized)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(bm_validate_rejected, malformed, reject::malformed)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(bm_validate_rejected, untrusted_certificate, reject::untrusted_certificate)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(bm_validate_rejected, bad_signature, reject::bad_signature)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(bm_validate_rejected, replay, reject::replay)->Unit(benchmark::kMicrosecond);

// ---- ledger ----------------------------------------------------------------------------------------

std::vector<transaction> rule_checks(std::size_t n) {
  std::vector<transaction> out;
  out.reserve(n);
  const auto t = ledger_now();
  for (std::size_t i = 0; i < n; ++i) {
    const auto hash = sha256(heart_rate(static_cast<std::int64_t>(i)).canonical_bytes());
    auto base = transaction::rule_check("3034257BF7194E4000000001", "1", "accepted", hash, t);
    auto fields = base.fields();
    fields["seq"] = i;
    out.emplace_back(tx_kind::rule_check, std::move(fields), t);
  }
  return out;
}

ledger_config blocks_of_100() {
  ledger_config c;
  c.max_block_transactions = 100;
  c.max_block_delay = 1h;
  c.max_pending = 1'000'000;
  return c;
}

// submit() of ready rule_check transactions; every 100th seals a block (Merkle root + Ed25519).
void bm_ledger_append(benchmark::State& state) {
  static const auto txs = rule_checks(50'000);
  local_ledger chain(blocks_of_100());
  std::size_t next = 0;
  for (auto _ : state) benchmark::DoNotOptimize(chain.submit(txs[next++]));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_ledger_append)->Iterations(50'000)->Unit(benchmark::kMicrosecond);

// verify() of a chain of 100 blocks of 100 rule checks; items are transactions.
void bm_ledger_verify(benchmark::State& state) {
  static const auto txs = rule_checks(10'000);
  static local_ledger chain(blocks_of_100());
  static const bool filled = [] {
    for (const auto& tx : txs) chain.submit(tx);
    return chain.pending_count() == 0;
  }();
  if (!filled) state.SkipWithError("the chain did not seal every transaction");
  for (auto _ : state) {
    if (!chain.verify().ok()) state.SkipWithError("chain did not verify");
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(txs.size()));
  state.counters["blocks/s"] =
      benchmark::Counter(static_cast<double>(chain.height()), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(bm_ledger_verify)->Unit(benchmark::kMillisecond);

// ---- record store ----------------------------------------------------------------------------------

struct store_env {
  identity_directory keys;
  patient_smart_card<> card{"p-1001", env().rng};
  std::vector<record> records;

  explicit store_env(std::size_t n) {
    auto& e = env();
    keys.add_patient_key("p-1001", card.public_key());
    keys.add_collector_key("collector-icu", *e.collector_keys.public_key);
    records.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
      records.push_back(make_record("p-1001", e.epc, "heart_rate", heart_rate(60 + static_cast<std::int64_t>(i % 100)),
                                    e.stamp() + std::chrono::milliseconds(i), card, "collector-icu",
                                    *e.collector_keys.private_key, e.rng));
  }
};

// try_insert() into a fresh SQLite file: verification (hash, Ed25519 patient and ECDSA collector
// signatures), duplicate check, BEGIN IMMEDIATE .. COMMIT with synchronous=FULL, ledger entry.
void bm_record_store_insert(benchmark::State& state) {
  static const store_env s(500);
  local_ledger chain;
  record_store<> store(dir().fresh_file(), s.keys, chain);
  std::size_t next = 0;
  for (auto _ : state) {
    if (!store.try_insert(s.records[next++])) state.SkipWithError("insert refused");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_record_store_insert)->Iterations(500)->UseRealTime()->Unit(benchmark::kMicrosecond);

// integrity_scan() of a file of 1000 records: every row re-read, re-hashed and re-verified.
void bm_integrity_scan(benchmark::State& state) {
  static const store_env s(1000);
  static const auto file = [] {
    const auto path = dir().fresh_file();
    local_ledger chain;
    record_store<> store(path, s.keys, chain);
    for (const auto& r : s.records) (void)store.insert(r);
    return path;
  }();
  record_store<> store(file, s.keys);
  for (auto _ : state) {
    const auto report = store.integrity_scan();
    if (!report.ok() || report.rows_checked != s.records.size()) state.SkipWithError("scan found problems");
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(s.records.size()));
}
BENCHMARK(bm_integrity_scan)->UseRealTime()->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
