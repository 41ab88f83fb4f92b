// Cost of the hospital PKI operations a collector and the CA perform: path validation with and
// without a CRL, reading the identity extension, issuing a certificate, revoking (CRL re-signing).
#include <hefl/iot/pki.hpp>

#include <botan/auto_rng.h>
#include <botan/ecdsa.h>

#include <benchmark/benchmark.h>

#include <chrono>

using namespace hefl::iot;

namespace {

identity device_identity(std::uint64_t serial) {
  identity id;
  id.role = role::device;
  id.subject_id = "bench-device-" + std::to_string(serial);
  id.device_epc = sgtin96::from_urn("urn:epc:id:sgtin:0614141.812345." + std::to_string(serial), 1);
  id.group_id = 1;
  id.rule_id = 1;
  return id;
}

/// One CA, one device key and certificate, shared by every benchmark (keys are the expensive part).
struct bench_env {
  Botan::AutoSeeded_RNG rng;
  clock_time t0 = std::chrono::system_clock::now();
  certificate_authority ca{"Bench Hospital", t0};
  Botan::ECDSA_PrivateKey key{rng, Botan::EC_Group("secp256r1")};
  Botan::X509_Certificate device = ca.issue(key, device_identity(1), t0, std::chrono::hours(24));
};

bench_env& env() {
  static bench_env e;
  return e;
}

void validate_without_crl(benchmark::State& state) {
  auto& e = env();
  auto store = trust_store::in_memory();
  store.add_root(e.ca.root());
  for (auto _ : state) {
    auto v = validate_chain(e.device, store, cert_usage::tls_client, e.t0 + std::chrono::minutes(1));
    if (!v.ok()) state.SkipWithError(v.reason.c_str());
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(validate_without_crl)->Unit(benchmark::kMicrosecond);

// The CRL lists state.range(0) revoked certificates, as after that many captured devices.
void validate_with_crl(benchmark::State& state) {
  auto& e = env();
  certificate_authority ca("Bench CRL Hospital", e.t0);
  for (std::int64_t i = 0; i < state.range(0); ++i) {
    const auto c = ca.issue(e.key, device_identity(1000 + static_cast<std::uint64_t>(i)), e.t0, std::chrono::hours(24));
    ca.revoke(c, Botan::CRL_Code::KEY_COMPROMISE, e.t0);
  }
  const auto device = ca.issue(e.key, device_identity(2), e.t0, std::chrono::hours(24));
  auto store = trust_store::in_memory();
  store.add_root(ca.root());
  store.add_crl(ca.crl());
  for (auto _ : state) {
    auto v = validate_chain(device, store, cert_usage::tls_client, e.t0 + std::chrono::minutes(1));
    if (!v.ok()) state.SkipWithError(v.reason.c_str());
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(validate_with_crl)->Arg(0)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond);

void identity_extraction(benchmark::State& state) {
  auto& e = env();
  for (auto _ : state) {
    auto id = identity_of(e.device);
    benchmark::DoNotOptimize(id);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(identity_extraction)->Unit(benchmark::kMicrosecond);

void issue_certificate(benchmark::State& state) {
  auto& e = env();
  std::uint64_t serial = 10;
  for (auto _ : state) {
    auto c = e.ca.issue(e.key, device_identity(serial++ % 100000), e.t0, std::chrono::hours(24));
    benchmark::DoNotOptimize(c);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(issue_certificate)->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
