// The prime-size trade of the AVX-512 IFMA kernels (primes below 2^50): CKKS operations at one thread
// for the chains of ckks_bench ({60, 40..., 60}: the 60-bit end primes take the portable code) next
// to chains whose every prime is below 2^50 ({50, 40..., 50}), each on the portable path (simd:0)
// and the IFMA path (simd:1; portable when the CPU has no IFMA, see the label). Counters give the
// precision of the results: bits = -log2(max slot error) for values in [-1, 1] at scale 2^40.
// After the run a table lists log2(PQ) and the errors per chain.
//
//   nice ./ckks_chain_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <hefl/core/parallel.hpp>
#include <hefl/crypto/botan_random.hpp>
#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/encoder.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/evaluator.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/params.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

namespace ckks = hefl::he::ckks;

struct chain {
  std::size_t n;
  std::vector<int> bits;
  std::string name;
};

std::vector<int> make_bits(int end, int middle, int count) {
  std::vector<int> bits{end};
  for (int i = 0; i < count; ++i) bits.push_back(middle);
  bits.push_back(end);
  return bits;
}

const std::vector<chain>& chains() {
  static const std::vector<chain> all{
      {8192, make_bits(60, 40, 2), "60,40x2,60"},   {8192, make_bits(50, 40, 2), "50,40x2,50"},
      {16384, make_bits(60, 40, 7), "60,40x7,60"},  {16384, make_bits(50, 40, 7), "50,40x7,50"},
      {16384, make_bits(50, 40, 8), "50,40x8,50"},
  };
  return all;
}

std::vector<double> values(std::size_t count, std::uint64_t seed) {
  hefl::crypto::seeded_random source(seed);
  std::vector<double> v(count);
  for (double& x : v) x = static_cast<double>(source.uniform(2000001)) / 1e6 - 1.0;
  return v;
}

double max_error(const std::vector<double>& got, const std::vector<double>& want) {
  double e = 0;
  for (std::size_t i = 0; i < want.size(); ++i) e = std::max(e, std::fabs(got[i] - want[i]));
  return e;
}

struct fixture {
  explicit fixture(const chain& c)
      : rng(11), params(c.n, c.bits, 40), encoder(params.poly_degree()), keygen(params, rng),
        pk(keygen.create_public_key()), rk(keygen.create_relin_keys()), gk(keygen.create_galois_keys(steps)),
        encryptor(params, pk, rng), decryptor(params, keygen.secret()), evaluator(params),
        x(values(params.slot_count(), 1)), y(values(params.slot_count(), 2)),
        pt(ckks::encode(params, encoder, x)), ct(encryptor.encrypt(pt)),
        ct2(encryptor.encrypt(ckks::encode(params, encoder, y))),
        product(evaluator.relinearize(evaluator.multiply(ct, ct2), rk)) {}

  static constexpr long long steps[1] = {1};
  hefl::crypto::seeded_random rng;
  ckks::parameters params;
  ckks::encoder encoder;
  ckks::key_generator keygen;
  ckks::public_key pk;
  ckks::relin_keys rk;
  ckks::galois_keys gk;
  ckks::encryptor encryptor;
  ckks::decryptor decryptor;
  ckks::evaluator evaluator;
  std::vector<double> x, y;
  ckks::plaintext pt;
  ckks::ciphertext ct, ct2, product;
};

fixture& get(std::size_t index) {
  // Never destroyed: the fixtures' Botan RNGs must not outlive Botan's allocator at exit.
  static auto* const cache = new std::map<std::size_t, std::unique_ptr<fixture>>();
  auto& slot = (*cache)[index];
  if (!slot) slot = std::make_unique<fixture>(chains()[index]);
  return *slot;
}

// Errors of a product (with relinearization and rescale) and of a rotation, for the table.
struct precision {
  double fresh = 0, product = 0, rotation = 0;
};
std::map<std::size_t, precision>& precisions() {
  static std::map<std::size_t, precision> table;
  return table;
}

precision measure(fixture& f) {
  precision p;
  const std::size_t slots = f.params.slot_count();
  std::vector<double> xy(slots), rotated(slots);
  for (std::size_t i = 0; i < slots; ++i) {
    xy[i] = f.x[i] * f.y[i];
    rotated[i] = f.x[(i + 1) % slots];
  }
  p.fresh = max_error(f.decryptor.decrypt_decode(f.ct, f.encoder), f.x);
  p.product = max_error(f.decryptor.decrypt_decode(f.evaluator.multiply_relin_rescale(f.ct, f.ct2, f.rk), f.encoder), xy);
  p.rotation = max_error(f.decryptor.decrypt_decode(f.evaluator.rotate(f.ct, 1, f.gk), f.encoder), rotated);
  return p;
}

template <class Body>
void register_op(const char* op, Body body) {
  for (std::size_t c = 0; c < chains().size(); ++c)
    for (const int simd : {0, 1}) {
      const std::string name = std::string(op) + "/N:" + std::to_string(chains()[c].n) + "/chain:" + chains()[c].name +
                               "/simd:" + std::to_string(simd);
      benchmark::RegisterBenchmark(name.c_str(),
                                   [c, simd, body](benchmark::State& s) {
                                     const hefl::scoped_thread_count one(1);
                                     const bool requested = ckks::detail::simd_kernels_requested().load();
                                     const bool on = ckks::set_simd_kernels(simd != 0);
                                     fixture& f = get(c);
                                     s.SetLabel(on ? "ifma for primes < 2^50" : "portable");
                                     body(s, f);
                                     if (precisions().count(c) == 0) precisions()[c] = measure(f);
                                     ckks::detail::simd_kernels_requested().store(requested);
                                   })
          ->Unit(benchmark::kMillisecond);
    }
}

} // namespace

int main(int argc, char** argv) {
  register_op("mul_relin", [](benchmark::State& s, fixture& f) {
    for (auto _ : s) benchmark::DoNotOptimize(f.evaluator.relinearize(f.evaluator.multiply(f.ct, f.ct2), f.rk));
  });
  register_op("rescale", [](benchmark::State& s, fixture& f) {
    for (auto _ : s) benchmark::DoNotOptimize(f.evaluator.rescale(f.product));
  });
  register_op("rotate", [](benchmark::State& s, fixture& f) {
    for (auto _ : s) benchmark::DoNotOptimize(f.evaluator.rotate(f.ct, 1, f.gk));
  });
  register_op("encrypt_pk", [](benchmark::State& s, fixture& f) {
    for (auto _ : s) benchmark::DoNotOptimize(f.encryptor.encrypt(f.pt));
  });
  register_op("decrypt_decode", [](benchmark::State& s, fixture& f) {
    for (auto _ : s) benchmark::DoNotOptimize(f.decryptor.decrypt_decode(f.ct, f.encoder));
  });
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::printf("\n%-8s %-12s %10s %16s %16s %16s\n", "N", "chain", "log2(PQ)", "fresh err", "mul+rescale err",
              "rotate err");
  for (const auto& [c, p] : precisions())
    std::printf("%-8zu %-12s %10zu %16.3g %16.3g %16.3g\n", chains()[c].n, chains()[c].name.c_str(),
                static_cast<std::size_t>(get(c).params.modulus_bits()), p.fresh, p.product, p.rotation);
  std::fflush(stdout);
  return 0;
}
