// RNS-CKKS costs (Cheon, Han, Kim, Kim, Song, SAC 2018) for the default chains of secure_parameters
// at depth 2 and 7, N = 8192 {50, 40, 40 | 50} and N = 16384 {50, 40 x 7 | 45, 45} (every prime below 2^50:
// the AVX-512 IFMA kernels where the CPU has them), scale 2^40, each operation once with
// one thread and once with two (hefl::scoped_thread_count inside the benchmark; "/threads:k" in
// the name is hefl's thread count, not Google Benchmark's ->Threads()). "Time" is wall-clock; "CPU"
// is the benchmark thread's CPU time with one thread and the whole process's with two. On a shared
// machine the single-thread CPU time is the steadiest figure: wall time also counts waiting for a core.
// Parameters, keys and inputs are built once per parameter set and reused (like SEAL's BMEnv).
// After the run the exact serialized sizes (ckks::serialized_size) are printed as a table.
// Further sets at N = 16384 compare hybrid key switching with α = 1, 2, 3 special primes
// (ckks::special_primes; names end in /alpha:a/L:l): the chains {50, 40 x 6} and {60, 50 x l} that fit
// the 438-bit bound together with their special primes (docs/ckks.md, "Hybrid key switching").
//
//   nice ./ckks_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//   nice ./ckks_bench --benchmark_filter='N:8192/threads:1'
//   nice ./ckks_bench --benchmark_filter='(multiply_relin|rotate_1|sum_slots)/N:16384/threads:1/alpha'
#include <hefl/core/parallel.hpp>
#include <hefl/crypto/botan_random.hpp>
#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/encoder.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/evaluator.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/params.hpp>
#include <hefl/he/ckks/serialization.hpp>

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

namespace ckks = hefl::he::ckks;

struct parameter_set {
  std::size_t n;
  std::vector<int> bits;     // chain, then the special primes (empty: secure_parameters(depth, 40))
  std::size_t alpha = 1;     // number of special primes
  const char* tag = "";      // appended to the benchmark names
  int log2_scale = 40;
  std::size_t depth = 0;     // for the secure_parameters sets
};

ckks::parameters make_parameters(const parameter_set& set) {
  if (set.bits.empty()) return ckks::secure_parameters(set.depth, set.log2_scale);
  return ckks::parameters(set.n, set.bits, set.log2_scale, ckks::special_primes{set.alpha});
}

const std::vector<parameter_set>& parameter_sets() {
  static const std::vector<parameter_set> sets{
      // The defaults of secure_parameters: depth 2 is N = 8192 {50, 40, 40 | 50} (α = 1), depth 7 is
      // N = 16384 {50, 40 x 7 | 45, 45} (α = 2, chosen automatically).
      {8192, {}, 1, "", 40, 2},
      {16384, {}, 2, "", 40, 7},
      // The same depth-7 chain with one special prime (the default before session 7), for comparison.
      {16384, {50, 40, 40, 40, 40, 40, 40, 40, 50}, 1, "/alpha:1/L:7"},
      // Hybrid key switching at a fixed depth of 6 and scale 2^40 (all primes below 2^50: IFMA).
      {16384, {50, 40, 40, 40, 40, 40, 40, 50}, 1, "/alpha:1/L:6"},
      {16384, {50, 40, 40, 40, 40, 40, 40, 45, 45}, 2, "/alpha:2/L:6"},
      {16384, {50, 40, 40, 40, 40, 40, 40, 44, 44, 44}, 3, "/alpha:3/L:6"},
      // The encrypted-data training chain {60, 50 x l | ...} at scale 2^50 (he::ckks_encrypted_data_parameters
      // is l = 6, α = 1); α = 2 and 3 fit the 438 bits only with l = 5 and 4.
      {16384, {60, 50, 50, 50, 50, 50, 50, 60}, 1, "/alpha:1/L:6/data", 50},
      {16384, {60, 50, 50, 50, 50, 50, 55, 55}, 2, "/alpha:2/L:5/data", 50},
      {16384, {60, 50, 50, 50, 50, 55, 55, 55}, 3, "/alpha:3/L:4/data", 50}};
  return sets;
}

// Full slots of values in [-1, 1], the same every run.
std::vector<double> random_values(std::size_t count) {
  hefl::crypto::seeded_random source(7);
  std::vector<double> v(count);
  for (double& x : v) x = static_cast<double>(source.uniform(2000001)) / 1e6 - 1.0;
  return v;
}

// Everything an operation needs, built once per parameter set. Galois keys cover every ±2^i step
// (what the keygen benchmark times); they include rotation by 1 and the steps of sum_slots. The
// fixture's keys come from the ChaCha source (fast to build); the operations that draw randomness
// run once per source (see random_kind).
struct fixture {
  explicit fixture(const parameter_set& set)
      : chacha(system.next_u64()), params(make_parameters(set)), encoder(params.poly_degree()), keygen(params, chacha),
        keygen_system(params, keygen.secret(), system), pk(keygen.create_public_key()), rk(keygen.create_relin_keys()),
        gk(keygen.create_galois_keys()), encryptor_chacha(params, pk, chacha), encryptor_system(params, pk, system),
        sym_chacha(params, keygen.secret(), chacha), sym_system(params, keygen.secret(), system),
        decryptor(params, keygen.secret()), evaluator(params), values(random_values(params.slot_count())),
        pt(ckks::encode(params, encoder, values)), ct(encryptor_chacha.encrypt(pt)), ct2(encryptor_chacha.encrypt(pt)),
        product(evaluator.relinearize(evaluator.multiply(ct, ct2), rk)),
        seeded(ckks::encrypt_seeded(sym_chacha, pt)), ct_bytes(ckks::save(params, ct)) {}

  hefl::crypto::system_random system;
  hefl::crypto::seeded_random chacha;
  ckks::parameters params;
  ckks::encoder encoder;
  ckks::key_generator keygen, keygen_system; // same secret, randomness from chacha / system
  ckks::public_key pk;
  ckks::relin_keys rk;
  ckks::galois_keys gk;
  ckks::encryptor encryptor_chacha, encryptor_system;
  ckks::symmetric_encryptor sym_chacha, sym_system;
  ckks::decryptor decryptor;
  ckks::evaluator evaluator;
  std::vector<double> values;
  ckks::plaintext pt;
  ckks::ciphertext ct, ct2, product; // two fresh ciphertexts; their relinearized product (scale 2^80)
  ckks::seeded_ciphertext seeded;
  std::vector<std::uint8_t> ct_bytes;
};

std::map<std::size_t, std::unique_ptr<fixture>>& fixtures() {
  static std::map<std::size_t, std::unique_ptr<fixture>> cache;
  return cache;
}

fixture& get(std::size_t set_index) {
  auto& slot = fixtures()[set_index];
  if (!slot) slot = std::make_unique<fixture>(parameter_sets()[set_index]);
  return *slot;
}

// Where an operation that samples draws its bytes: hefl::crypto::system_random (Botan's
// AutoSeeded_RNG, the production default) or hefl::crypto::seeded_random (ChaCha20).
enum class random_kind { none, system, chacha };

using body = std::function<void(benchmark::State&, fixture&, random_kind)>;

struct operation {
  const char* name;
  body run;
  bool samples = false;     // registered once per random_kind
  int iterations_16384 = 0; // fixed iteration count at N = 16384 for slow operations (0: MinTime)
};

ckks::key_generator& keygen(fixture& f, random_kind r) { return r == random_kind::system ? f.keygen_system : f.keygen; }

std::vector<operation> operations() {
  std::vector<operation> ops;
  ops.push_back({"keygen_secret", [](benchmark::State& s, fixture& f, random_kind r) {
                   hefl::random_source& rng = r == random_kind::system ? static_cast<hefl::random_source&>(f.system)
                                                                       : static_cast<hefl::random_source&>(f.chacha);
                   for (auto _ : s) {
                     ckks::key_generator kg(f.params, rng);
                     benchmark::DoNotOptimize(kg.secret().poly().data().data());
                   }
                 }, true});
  ops.push_back({"keygen_public", [](benchmark::State& s, fixture& f, random_kind r) {
                   for (auto _ : s) benchmark::DoNotOptimize(keygen(f, r).create_public_key());
                 }, true});
  ops.push_back({"keygen_relin", [](benchmark::State& s, fixture& f, random_kind r) {
                   for (auto _ : s) benchmark::DoNotOptimize(keygen(f, r).create_relin_keys());
                 }, true, 3});
  ops.push_back({"keygen_galois_pow2", [](benchmark::State& s, fixture& f, random_kind r) {
                   for (auto _ : s) benchmark::DoNotOptimize(keygen(f, r).create_galois_keys());
                   s.counters["keys"] = static_cast<double>(f.gk.elements().size());
                 }, true, 1});
  ops.push_back({"encode", [](benchmark::State& s, fixture& f, random_kind) {
                   for (auto _ : s) benchmark::DoNotOptimize(ckks::encode(f.params, f.encoder, f.values));
                 }});
  ops.push_back({"encrypt_pk", [](benchmark::State& s, fixture& f, random_kind r) {
                   ckks::encryptor& e = r == random_kind::system ? f.encryptor_system : f.encryptor_chacha;
                   for (auto _ : s) benchmark::DoNotOptimize(e.encrypt(f.pt));
                 }, true});
  ops.push_back({"encrypt_sk", [](benchmark::State& s, fixture& f, random_kind r) {
                   ckks::symmetric_encryptor& e = r == random_kind::system ? f.sym_system : f.sym_chacha;
                   for (auto _ : s) benchmark::DoNotOptimize(e.encrypt(f.pt));
                 }, true});
  ops.push_back({"encrypt_sk_seeded", [](benchmark::State& s, fixture& f, random_kind r) {
                   ckks::symmetric_encryptor& e = r == random_kind::system ? f.sym_system : f.sym_chacha;
                   for (auto _ : s) benchmark::DoNotOptimize(ckks::encrypt_seeded(e, f.pt));
                 }, true});
  ops.push_back({"decrypt", [](benchmark::State& s, fixture& f, random_kind) {
                   for (auto _ : s) benchmark::DoNotOptimize(f.decryptor.decrypt(f.ct));
                 }});
  ops.push_back({"decode", [](benchmark::State& s, fixture& f, random_kind) {
                   const ckks::plaintext p = f.decryptor.decrypt(f.ct);
                   for (auto _ : s) benchmark::DoNotOptimize(ckks::decode(f.params, f.encoder, p));
                 }});
  ops.push_back({"decrypt_decode", [](benchmark::State& s, fixture& f, random_kind) {
                   for (auto _ : s) benchmark::DoNotOptimize(f.decryptor.decrypt_decode(f.ct, f.encoder));
                 }});
  ops.push_back({"add", [](benchmark::State& s, fixture& f, random_kind) {
                   for (auto _ : s) benchmark::DoNotOptimize(f.evaluator.add(f.ct, f.ct2));
                 }});
  ops.push_back({"multiply_plain", [](benchmark::State& s, fixture& f, random_kind) {
                   for (auto _ : s) benchmark::DoNotOptimize(f.evaluator.multiply_plain(f.ct, f.pt));
                 }});
  ops.push_back({"multiply_relin", [](benchmark::State& s, fixture& f, random_kind) {
                   for (auto _ : s)
                     benchmark::DoNotOptimize(f.evaluator.relinearize(f.evaluator.multiply(f.ct, f.ct2), f.rk));
                 }});
  ops.push_back({"rescale", [](benchmark::State& s, fixture& f, random_kind) {
                   for (auto _ : s) benchmark::DoNotOptimize(f.evaluator.rescale(f.product));
                 }});
  ops.push_back({"rotate_1", [](benchmark::State& s, fixture& f, random_kind) {
                   for (auto _ : s) benchmark::DoNotOptimize(f.evaluator.rotate(f.ct, 1, f.gk));
                 }});
  ops.push_back({"rotate_many_8_hoisted", [](benchmark::State& s, fixture& f, random_kind) {
                   const std::vector<long long> steps{1, 2, 4, 8, 16, 32, 64, 128};
                   for (auto _ : s) benchmark::DoNotOptimize(f.evaluator.rotate_many(f.ct, steps, f.gk));
                 }});
  ops.push_back({"sum_slots", [](benchmark::State& s, fixture& f, random_kind) {
                   for (auto _ : s) benchmark::DoNotOptimize(f.evaluator.sum_slots(f.ct, f.gk));
                 }});
  ops.push_back({"save_ciphertext", [](benchmark::State& s, fixture& f, random_kind) {
                   for (auto _ : s) benchmark::DoNotOptimize(ckks::save(f.params, f.ct));
                   s.counters["bytes"] = static_cast<double>(ckks::serialized_size(f.params, f.ct));
                 }});
  ops.push_back({"load_ciphertext", [](benchmark::State& s, fixture& f, random_kind) {
                   for (auto _ : s) benchmark::DoNotOptimize(ckks::load_ciphertext(f.params, f.ct_bytes));
                 }});
  return ops;
}

void register_all() {
  for (std::size_t set = 0; set < parameter_sets().size(); ++set) {
    const std::size_t n = parameter_sets()[set].n;
    for (const int threads : {1, 2}) {
      for (const operation& op : operations()) {
        // Sampling is sequential, so system_random (whose cost dominates) runs with one thread only.
        std::vector<random_kind> kinds{random_kind::none};
        if (op.samples && threads == 1) kinds = {random_kind::system, random_kind::chacha};
        if (op.samples && threads > 1) kinds = {random_kind::chacha};
        for (const random_kind r : kinds) {
          std::string name = std::string(op.name) + "/N:" + std::to_string(n) + "/threads:" + std::to_string(threads) +
                             parameter_sets()[set].tag;
          if (r == random_kind::system) name += "/rng:system";
          if (r == random_kind::chacha) name += "/rng:chacha";
          auto* b = benchmark::RegisterBenchmark(name.c_str(), [set, threads, r, run = op.run](benchmark::State& s) {
            const hefl::scoped_thread_count scoped(threads);
            run(s, get(set), r);
          });
          b->UseRealTime()->Unit(benchmark::kMicrosecond);
          if (threads > 1) b->MeasureProcessCPUTime(); // CPU column: every thread's time, spinning included
          if (n >= 16384 && op.iterations_16384 > 0) b->Iterations(op.iterations_16384);
          else b->MinTime(0.2);
        }
      }
    }
  }
}

void print_sizes() {
  bool any = false;
  for (const auto& [set, f] : fixtures()) {
    if (!f) continue;
    if (!any) {
      std::printf("\nSerialized sizes (ckks::serialized_size, bytes)\n");
      std::printf("| N | primes | special primes | digits | fresh ciphertext | seeded symmetric ciphertext | "
                  "plaintext | secret key | public key | relin key | Galois keys (count) | one Galois key |\n");
      std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
      any = true;
    }
    const auto& p = f->params;
    const std::uint64_t gk_all = ckks::serialized_size(p, f->gk);
    const std::size_t count = f->gk.elements().size();
    const std::uint64_t g1 = ckks::galois_element_for_step(1, p.poly_degree());
    const ckks::galois_keys one(p.id(), {{g1, f->gk.key(g1)}});
    std::printf("| %zu | %zu | %zu | %zu | %llu | %llu | %llu | %llu | %llu | %llu | %llu (%zu) | %llu |\n",
                p.poly_degree(), p.primes().size(), p.special_prime_count(), p.digit_count(), static_cast<unsigned long long>(ckks::serialized_size(p, f->ct)),
                static_cast<unsigned long long>(ckks::serialized_size(p, f->seeded)),
                static_cast<unsigned long long>(ckks::serialized_size(p, f->pt)),
                static_cast<unsigned long long>(ckks::serialized_size(p, f->keygen.secret())),
                static_cast<unsigned long long>(ckks::serialized_size(p, f->pk)),
                static_cast<unsigned long long>(ckks::serialized_size(p, f->rk)),
                static_cast<unsigned long long>(gk_all), count,
                static_cast<unsigned long long>(ckks::serialized_size(p, one)));
  }
}

} // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  print_sizes();
  // Botan's locked-memory allocator is a static created after the cache (on first use inside a
  // fixture), so it is destroyed first: the fixtures' Botan RNGs must go before main returns.
  fixtures().clear();
  return 0;
}
