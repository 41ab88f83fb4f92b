// Signatures per second per signing policy (sign, verify, and the smart card's hash-then-sign of a
// record), plus the cost of a rule check and a replay check, the other per-message policies.
#include <hefl/iot/collection/replay_guard.hpp>
#include <hefl/iot/collection/rules.hpp>
#include <hefl/iot/pki/signing.hpp>

#include <benchmark/benchmark.h>

#include <botan/auto_rng.h>
#include <botan/x509self.h>

#include <string>
#include <vector>

namespace {

using namespace hefl::iot;

Botan::AutoSeeded_RNG& rng() {
  static Botan::AutoSeeded_RNG r;
  return r;
}

// One key pair per policy, generated once (DSA key generation is the slow part, not measured here).
template <class Policy>
const key_pair& keys() {
  static const key_pair k = Policy::generate(rng());
  return k;
}

// A record of the size the vital-signs contract allows.
std::vector<std::uint8_t> record() { return std::vector<std::uint8_t>(256, 0x5a); }

template <class Policy>
void bm_sign(benchmark::State& state) {
  const auto& k = keys<Policy>();
  const auto msg = record();
  for (auto _ : state) benchmark::DoNotOptimize(Policy::sign(*k.private_key, msg, rng()));
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::string(Policy::algorithm_name));
}

template <class Policy>
void bm_verify(benchmark::State& state) {
  const auto& k = keys<Policy>();
  const auto msg = record();
  const auto sig = Policy::sign(*k.private_key, msg, rng());
  for (auto _ : state) {
    const bool ok = Policy::verify(*k.public_key, msg, sig);
    if (!ok) state.SkipWithError("signature did not verify");
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::string(Policy::algorithm_name));
}

template <class Policy>
void bm_card_sign_record(benchmark::State& state) {
  patient_smart_card<Policy> card("patient-1", rng());
  const auto msg = record();
  for (auto _ : state) benchmark::DoNotOptimize(card.sign_record(msg));
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::string(Policy::algorithm_name));
}

BENCHMARK_TEMPLATE(bm_sign, ed25519_signing);
BENCHMARK_TEMPLATE(bm_sign, ecdsa_p256_signing);
BENCHMARK_TEMPLATE(bm_sign, dsa2048_signing);
BENCHMARK_TEMPLATE(bm_verify, ed25519_signing);
BENCHMARK_TEMPLATE(bm_verify, ecdsa_p256_signing);
BENCHMARK_TEMPLATE(bm_verify, dsa2048_signing);
// Public-key validation (hefl/iot/pki/key_validation.hpp) at each depth: encoding runs inside every
// verify(), subgroup on every validate_chain(), full when the CA certifies a key.
template <class Policy>
void bm_key_check(benchmark::State& state) {
  const auto& k = keys<Policy>();
  const auto depth = static_cast<key_check_depth>(state.range(0));
  for (auto _ : state) {
    const auto r = check_public_key(*k.public_key, depth);
    if (!r.ok()) state.SkipWithError(r.reason.c_str());
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::string(Policy::algorithm_name) + (depth == key_check_depth::encoding   ? " encoding"
                                                        : depth == key_check_depth::subgroup ? " subgroup"
                                                                                             : " full"));
}
BENCHMARK_TEMPLATE(bm_key_check, ed25519_signing)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(bm_key_check, ecdsa_p256_signing)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(bm_key_check, dsa2048_signing)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond);

BENCHMARK_TEMPLATE(bm_card_sign_record, ed25519_signing);
BENCHMARK_TEMPLATE(bm_card_sign_record, ecdsa_p256_signing);
BENCHMARK_TEMPLATE(bm_card_sign_record, dsa2048_signing);

// A rule check of an honest heart-rate payload against the example contract; each iteration uses a
// new time so the rate limiter admits it (the limiter's bookkeeping is part of the cost).
void bm_rule_check(benchmark::State& state) {
  const auto admin = ecdsa_p256_signing::generate(rng());
  Botan::X509_Cert_Options opts;
  opts.common_name = "admin";
  const auto cert = Botan::X509::create_self_signed_cert(opts, *admin.private_key, "SHA-256", rng());
  rule_manager<> rules([&](const Botan::X509_Certificate& c) { return c == cert; },
                       [](const deployment_event&) {});
  if (!rules.deploy(sign_deployment(vital_signs_example_contract, *admin.private_key, cert, rng())).accepted())
    state.SkipWithError("deployment refused");
  const payload p{"blood_pressure", {{"systolic", 120}, {"diastolic", 80}, {"irregular_heartbeat", false}}};
  auto now = iot_clock::now();
  for (auto _ : state) {
    now += std::chrono::seconds(1);
    const auto v = rules.check(1, "monitor-1", p, now);
    if (!v.ok()) state.SkipWithError("payload refused");
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_rule_check);

// A replay check of a fresh nonce (hash, window check, insert, and expiry of old entries).
void bm_replay_check(benchmark::State& state) {
  auto now = iot_clock::now();
  replay_guard_options options;
  options.clock = [&now] { return now; };  // the simulated time below is the guard's own clock too
  replay_guard guard(options);
  std::uint64_t counter = 0;
  for (auto _ : state) {
    now += std::chrono::milliseconds(100);  // ~1200 live nonces in the 2-minute window
    ++counter;
    const auto nonce = std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(&counter), sizeof counter);
    const auto v = guard.check("monitor-1", nonce, now, now);
    if (!v.ok()) state.SkipWithError("nonce refused");
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["remembered"] = static_cast<double>(guard.size());
}
BENCHMARK(bm_replay_check);

} // namespace

BENCHMARK_MAIN();
