// Cost of the hospital PKI operations a collector and the CA perform: path validation with and
// without a CRL, reading the identity extension, issuing a certificate (in memory and with the CA's
// state in a SQLite file), and refusing a crafted chain of same-named fake intermediates (capped,
// and, for comparison, what Botan's path builder costs without the cap).
#include <hefl/iot/pki/pki.hpp>

#include <botan/auto_rng.h>
#include <botan/ecdsa.h>

#include <benchmark/benchmark.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <vector>

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

// Revocation checking switched off by name (the insecure opt-out), to show what the CRL check costs.
void validate_without_crl(benchmark::State& state) {
  auto& e = env();
  auto store = trust_store::in_memory({revocation_policy::not_checked});
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

// Issuing with the CA's state in a SQLite file: each serial is recorded before the certificate is signed.
void issue_certificate_persistent(benchmark::State& state) {
  auto& e = env();
  std::random_device rd;
  const auto file = std::filesystem::temp_directory_path() / ("hefl_pki_bench_" + std::to_string(rd()) + ".sqlite");
  {
    auto ca = certificate_authority::open_sqlite(file, std::make_unique<Botan::ECDSA_PrivateKey>(e.rng, Botan::EC_Group("secp256r1")),
                                                 "Bench Persistent Hospital", e.t0);
    std::uint64_t serial = 10;
    for (auto _ : state) {
      auto c = ca.issue(e.key, device_identity(serial++ % 100000), e.t0, std::chrono::hours(24));
      benchmark::DoNotOptimize(c);
    }
  }
  std::filesystem::remove(file);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(issue_certificate_persistent)->Unit(benchmark::kMicrosecond);

/// CA certificates named like the root (subject = issuer), without key identifiers, each signed by a
/// key other than its own so none is self-signed: Botan's path builder tries their orderings (issue 10, item 12).
std::vector<Botan::X509_Certificate> crafted_chain(const Botan::X509_Certificate& leaf, std::size_t fakes) {
  auto& e = env();
  std::vector<Botan::X509_Certificate> chain{leaf};
  for (std::size_t i = 0; i < fakes; ++i) {
    Botan::ECDSA_PrivateKey k(e.rng, Botan::EC_Group("secp256r1"));
    Botan::ECDSA_PrivateKey subject(e.rng, Botan::EC_Group("secp256r1"));
    Botan::Extensions ext;
    ext.add(new Botan::Cert_Extension::Basic_Constraints(true, 16), true);
    Botan::AlgorithmIdentifier alg;
    std::unique_ptr<Botan::PK_Signer> signer(Botan::choose_sig_format(k, e.rng, "SHA-256", alg));
    chain.push_back(Botan::X509_CA::make_cert(signer.get(), e.rng, Botan::BigInt(e.rng, 64), alg, subject.subject_public_key(),
                                              Botan::X509_Time(e.t0), Botan::X509_Time(e.t0 + std::chrono::hours(24)),
                                              leaf.issuer_dn(), leaf.issuer_dn(), ext));
  }
  return chain;
}

// A leaf plus state.range(0) fake intermediates against the default store (chain capped at leaf + root):
// refused as chain_too_long before any path is built.
void crafted_chain_refused(benchmark::State& state) {
  auto& e = env();
  auto store = trust_store::in_memory();
  store.add_root(e.ca.root());
  store.add_crl(e.ca.crl());
  const auto chain = crafted_chain(e.device, static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    auto v = validate_chain(chain, store, cert_usage::tls_client, e.t0 + std::chrono::minutes(1));
    if (v.status != chain_status::chain_too_long) state.SkipWithError(v.reason.c_str());
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(crafted_chain_refused)->Arg(10)->Arg(100)->Unit(benchmark::kMicrosecond);

// The same crafted chain with the cap lifted (max_chain_length 64): what Botan's path builder costs.
// It grows about sevenfold per extra fake (measured up to 6), so the range stops at 5.
void crafted_chain_uncapped(benchmark::State& state) {
  auto& e = env();
  auto store = trust_store::in_memory({revocation_policy::required, 64});
  store.add_root(e.ca.root());
  store.add_crl(e.ca.crl());
  const auto chain = crafted_chain(e.device, static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    auto v = validate_chain(chain, store, cert_usage::tls_client, e.t0 + std::chrono::minutes(1));
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(crafted_chain_uncapped)->DenseRange(1, 5)->Iterations(2)->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
