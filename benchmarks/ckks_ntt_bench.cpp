// CKKS limb arithmetic costs: forward and inverse negacyclic NTT (Longa-Naehrig 2016 with Harvey's lazy
// reduction) of one limb at N = 8192 and N = 16384, on the portable path (simd:0) and the AVX-512 IFMA
// path (simd:1, primes below 2^50 on a CPU with IFMA; elsewhere it runs the portable code and says so
// in the label), element-wise products, and modular multiplication throughput (Barrett on 128-bit
// products vs Shoup with a precomputed constant).
// The *_ab benchmarks alternate both paths inside one loop and report their times and ratio as
// counters, which a loaded machine disturbs far less than two separate runs.
// Run: ./ckks_ntt_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <hefl/he/ckks/detail/eltwise.hpp>
#include <hefl/he/ckks/detail/ntt.hpp>

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <time.h>
#include <vector>

namespace {

using namespace hefl::he::ckks::detail;
namespace ckks = hefl::he::ckks;

std::vector<u64> random_limb(std::size_t n, u64 q) {
  std::mt19937_64 rng(7);
  std::vector<u64> a(n);
  for (auto& x : a) x = rng() % q;
  return a;
}

// The switch as the environment left it (HEFL_CKKS_PORTABLE), restored after each benchmark.
const bool initial_request = simd_kernels_requested().load();
void restore_path() { simd_kernels_requested().store(initial_request); }

// Selects the path for one benchmark and labels it with the path that actually runs.
void select_path(benchmark::State& state, bool simd, bool fast_path_possible) {
  const bool on = ckks::set_simd_kernels(simd);
  state.SetLabel(on && fast_path_possible ? "ifma" : "portable");
}

// Arguments: N, prime bits, simd (0 or 1).
void ntt_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"N", "bits", "simd"});
  for (long n : {8192, 16384}) {
    for (long bits : {40, 50}) {
      b->Args({n, bits, 0});
      b->Args({n, bits, 1});
    }
    b->Args({n, 60, 0});
  }
}

void bm_ntt_forward(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const ntt_tables t(ntt_primes(static_cast<int>(state.range(1)), 1, n)[0], n);
  select_path(state, state.range(2) != 0, t.prime() < ifma_modulus_bound);
  auto a = random_limb(n, t.prime());
  for (auto _ : state) {
    t.forward(a.data());
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  }
  restore_path();
}
BENCHMARK(bm_ntt_forward)->Apply(ntt_args)->Unit(benchmark::kMicrosecond);

void bm_ntt_forward_lazy(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const ntt_tables t(ntt_primes(static_cast<int>(state.range(1)), 1, n)[0], n);
  select_path(state, state.range(2) != 0, t.prime() < ifma_modulus_bound);
  auto a = random_limb(n, t.prime());
  for (auto _ : state) {
    t.forward_lazy(a.data()); // output in [0, 4q) is valid lazy input again
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  }
  restore_path();
}
BENCHMARK(bm_ntt_forward_lazy)->Apply(ntt_args)->Unit(benchmark::kMicrosecond);

void bm_ntt_inverse(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const ntt_tables t(ntt_primes(static_cast<int>(state.range(1)), 1, n)[0], n);
  select_path(state, state.range(2) != 0, t.prime() < ifma_modulus_bound);
  auto a = random_limb(n, t.prime());
  for (auto _ : state) {
    t.inverse(a.data());
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  }
  restore_path();
}
BENCHMARK(bm_ntt_inverse)->Apply(ntt_args)->Unit(benchmark::kMicrosecond);

// Element-wise product a *= b and accumulation acc += a * b over one limb of N = 8192 or 16384.
void eltwise_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"N", "bits", "simd"});
  for (long n : {8192, 16384})
    for (long bits : {40, 50}) {
      b->Args({n, bits, 0});
      b->Args({n, bits, 1});
    }
}

void bm_eltwise_multiply(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const modulus q(ntt_primes(static_cast<int>(state.range(1)), 1, n)[0]);
  select_path(state, state.range(2) != 0, q.value() < ifma_modulus_bound);
  auto a = random_limb(n, q.value());
  const auto b = random_limb(n, q.value() - 1);
  for (auto _ : state) {
    eltwise_multiply(a.data(), a.data(), b.data(), n, q);
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  restore_path();
}
BENCHMARK(bm_eltwise_multiply)->Apply(eltwise_args)->Unit(benchmark::kMicrosecond);

void bm_eltwise_multiply_add(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const modulus q(ntt_primes(static_cast<int>(state.range(1)), 1, n)[0]);
  select_path(state, state.range(2) != 0, q.value() < ifma_modulus_bound);
  auto acc = random_limb(n, q.value());
  const auto a = random_limb(n, q.value() - 1), b = random_limb(n, q.value() - 2);
  for (auto _ : state) {
    eltwise_multiply_add(acc.data(), a.data(), b.data(), n, q);
    benchmark::DoNotOptimize(acc.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  restore_path();
}
BENCHMARK(bm_eltwise_multiply_add)->Apply(eltwise_args)->Unit(benchmark::kMicrosecond);

// A/B in one loop: each iteration runs the portable and then the IFMA version of the same work on
// the same data and times both; counters give the mean microseconds of each and portable / ifma.
// Times are this thread's CPU time, so a loaded machine's preemptions do not count.
double thread_cpu_us() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) * 1e-3;
}

template <class Work>
void alternate(benchmark::State& state, Work work) {
  double portable = 0, simd = 0;
  for (auto _ : state) {
    ckks::set_simd_kernels(false);
    const double t0 = thread_cpu_us();
    work();
    const double t1 = thread_cpu_us();
    ckks::set_simd_kernels(true);
    work();
    const double t2 = thread_cpu_us();
    portable += t1 - t0;
    simd += t2 - t1;
  }
  const auto iterations = static_cast<double>(state.iterations());
  state.counters["portable_us"] = portable / iterations;
  state.counters["ifma_us"] = simd / iterations;
  state.counters["ratio"] = simd > 0 ? portable / simd : 0;
  state.SetLabel(ckks::simd_kernels_enabled() ? "portable vs ifma" : "portable vs portable (no IFMA)");
  restore_path();
}

void ab_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"N", "bits"});
  for (long n : {8192, 16384})
    for (long bits : {40, 50}) b->Args({n, bits});
}

void bm_ntt_forward_ab(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const ntt_tables t(ntt_primes(static_cast<int>(state.range(1)), 1, n)[0], n);
  auto a = random_limb(n, t.prime());
  alternate(state, [&] {
    t.forward(a.data());
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  });
}
BENCHMARK(bm_ntt_forward_ab)->Apply(ab_args)->Unit(benchmark::kMicrosecond);

void bm_ntt_inverse_ab(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const ntt_tables t(ntt_primes(static_cast<int>(state.range(1)), 1, n)[0], n);
  auto a = random_limb(n, t.prime());
  alternate(state, [&] {
    t.inverse(a.data());
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  });
}
BENCHMARK(bm_ntt_inverse_ab)->Apply(ab_args)->Unit(benchmark::kMicrosecond);

void bm_eltwise_multiply_add_ab(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const modulus q(ntt_primes(static_cast<int>(state.range(1)), 1, n)[0]);
  auto acc = random_limb(n, q.value());
  const auto a = random_limb(n, q.value() - 1), b = random_limb(n, q.value() - 2);
  alternate(state, [&] {
    eltwise_multiply_add(acc.data(), a.data(), b.data(), n, q);
    benchmark::DoNotOptimize(acc.data());
    benchmark::ClobberMemory();
  });
}
BENCHMARK(bm_eltwise_multiply_add_ab)->Apply(ab_args)->Unit(benchmark::kMicrosecond);

// The two inner products of key switching for one limb: 8 digits (x_j lazy in [0, 4q)) times the
// key's b_j and a_j, as eltwise_dot_product2 computes them (its portable path: 128-bit sums per
// coefficient; keys.hpp has its own blocked loop, not measured here).
void bm_dot_product2_ab(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const modulus q(ntt_primes(static_cast<int>(state.range(1)), 1, n)[0]);
  constexpr std::size_t digits = 8;
  std::vector<std::vector<u64>> x, b, a;
  std::vector<const u64*> px, pb, pa;
  for (std::size_t j = 0; j < digits; ++j) {
    x.push_back(random_limb(n, 4 * q.value()));
    b.push_back(random_limb(n, q.value() - j));
    a.push_back(random_limb(n, q.value() - j - 1));
  }
  for (std::size_t j = 0; j < digits; ++j) {
    px.push_back(x[j].data());
    pb.push_back(b[j].data());
    pa.push_back(a[j].data());
  }
  std::vector<u64> out0(n), out1(n);
  alternate(state, [&] {
    eltwise_dot_product2(out0.data(), out1.data(), px.data(), pb.data(), pa.data(), digits, n, q);
    benchmark::DoNotOptimize(out0.data());
    benchmark::ClobberMemory();
  });
}
BENCHMARK(bm_dot_product2_ab)->Apply(ab_args)->Unit(benchmark::kMicrosecond);

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
