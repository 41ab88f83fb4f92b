// CKKS limb arithmetic costs: forward and inverse negacyclic NTT (Longa-Naehrig 2016 with Harvey's lazy
// reduction) of one 60-bit limb at N = 8192 and N = 16384, and modular multiplication throughput
// (Barrett on 128-bit products vs Shoup with a precomputed constant). Run: ./ckks_ntt_bench
#include <hefl/he/ckks/detail/ntt.hpp>

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace {

using namespace hefl::he::ckks::detail;

std::vector<u64> random_limb(std::size_t n, u64 q) {
  std::mt19937_64 rng(7);
  std::vector<u64> a(n);
  for (auto& x : a) x = rng() % q;
  return a;
}

void bm_ntt_forward(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const ntt_tables t(ntt_primes(60, 1, n)[0], n);
  auto a = random_limb(n, t.prime());
  for (auto _ : state) {
    t.forward(a.data());
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(bm_ntt_forward)->Arg(8192)->Arg(16384)->Unit(benchmark::kMicrosecond);

void bm_ntt_forward_lazy(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const ntt_tables t(ntt_primes(60, 1, n)[0], n);
  auto a = random_limb(n, t.prime());
  for (auto _ : state) {
    t.forward_lazy(a.data()); // output in [0, 4q) is valid lazy input again
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(bm_ntt_forward_lazy)->Arg(8192)->Arg(16384)->Unit(benchmark::kMicrosecond);

void bm_ntt_inverse(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const ntt_tables t(ntt_primes(60, 1, n)[0], n);
  auto a = random_limb(n, t.prime());
  for (auto _ : state) {
    t.inverse(a.data());
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(bm_ntt_inverse)->Arg(8192)->Arg(16384)->Unit(benchmark::kMicrosecond);

void bm_mulmod_barrett(benchmark::State& state) {
  const std::size_t n = 8192;
  const u64 q = ntt_primes(60, 1, n)[0];
  const modulus m(q);
  auto a = random_limb(n, q);
  const auto b = random_limb(n, q - 1);
  for (auto _ : state) {
    for (std::size_t j = 0; j < n; ++j) a[j] = mul_mod(a[j], b[j], m);
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(bm_mulmod_barrett)->Unit(benchmark::kMicrosecond);

void bm_mulmod_shoup(benchmark::State& state) {
  const std::size_t n = 8192;
  const u64 q = ntt_primes(60, 1, n)[0];
  auto a = random_limb(n, q);
  const auto b = random_limb(n, q - 1);
  std::vector<u64> b_shoup(n);
  for (std::size_t j = 0; j < n; ++j) b_shoup[j] = shoup_precompute(b[j], q);
  for (auto _ : state) {
    for (std::size_t j = 0; j < n; ++j) a[j] = mul_shoup(a[j], b[j], b_shoup[j], q);
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(bm_mulmod_shoup)->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
