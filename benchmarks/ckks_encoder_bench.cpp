// CKKS encoder costs (special FFT, Cheon-Kim-Kim-Song 2017): encode and decode of all N/2 slots at
// scale 2^40, for N = 8192 and N = 16384. Run: ./ckks_encoder_bench
#include <hefl/core/prng.hpp>
#include <hefl/he/ckks/encoder.hpp>

#include <benchmark/benchmark.h>

#include <complex>
#include <cstddef>
#include <vector>

namespace {

constexpr double scale = 0x1p40;

std::vector<std::complex<double>> random_slots(std::size_t count) {
  hefl::deterministic_rng rng(42);
  std::vector<std::complex<double>> v(count);
  for (auto& z : v) z = {2.0 * rng.uniform() - 1.0, 2.0 * rng.uniform() - 1.0};
  return v;
}

void bm_encode_complex(benchmark::State& state) {
  const hefl::he::ckks::encoder e(static_cast<std::size_t>(state.range(0)));
  const auto z = random_slots(e.slot_count());
  std::vector<double> coeffs(e.ring_degree());
  for (auto _ : state) {
    e.encode(z, scale, coeffs);
    benchmark::DoNotOptimize(coeffs.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(bm_encode_complex)->Arg(8192)->Arg(16384)->Unit(benchmark::kMicrosecond);

void bm_encode_real(benchmark::State& state) {
  const hefl::he::ckks::encoder e(static_cast<std::size_t>(state.range(0)));
  const auto z = random_slots(e.slot_count());
  std::vector<double> real(z.size());
  for (std::size_t i = 0; i < z.size(); ++i) real[i] = z[i].real();
  std::vector<double> coeffs(e.ring_degree());
  for (auto _ : state) {
    e.encode(real, scale, coeffs);
    benchmark::DoNotOptimize(coeffs.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(bm_encode_real)->Arg(8192)->Arg(16384)->Unit(benchmark::kMicrosecond);

void bm_decode_complex(benchmark::State& state) {
  const hefl::he::ckks::encoder e(static_cast<std::size_t>(state.range(0)));
  std::vector<double> coeffs(e.ring_degree());
  e.encode(random_slots(e.slot_count()), scale, coeffs);
  for (auto _ : state) benchmark::DoNotOptimize(e.decode_complex(coeffs, scale));
}
BENCHMARK(bm_decode_complex)->Arg(8192)->Arg(16384)->Unit(benchmark::kMicrosecond);

void bm_decode_real(benchmark::State& state) {
  const hefl::he::ckks::encoder e(static_cast<std::size_t>(state.range(0)));
  std::vector<double> coeffs(e.ring_degree());
  e.encode(random_slots(e.slot_count()), scale, coeffs);
  for (auto _ : state) benchmark::DoNotOptimize(e.decode(coeffs, scale));
}
BENCHMARK(bm_decode_real)->Arg(8192)->Arg(16384)->Unit(benchmark::kMicrosecond);

void bm_construct(benchmark::State& state) {
  for (auto _ : state) {
    hefl::he::ckks::encoder e(static_cast<std::size_t>(state.range(0)));
    benchmark::DoNotOptimize(e.slot_count());
  }
}
BENCHMARK(bm_construct)->Arg(8192)->Arg(16384)->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
