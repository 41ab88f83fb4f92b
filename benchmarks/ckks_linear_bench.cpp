// y = M·x on encrypted slots for a random d×d matrix (slot_layout::replicated; d = slot count is the
// full matrix), at one thread, three ways:
//   diagonal:  the diagonal method (Halevi, Shoup, CRYPTO 2014) with a single Galois key: the input is
//              rotated by 1, d - 1 times in sequence, and each rotation multiplied by its diagonal;
//   hoisted:   linear_transform with n1 = d: all d - 1 rotations hoisted (one decomposition), d - 1
//              keys (only for d <= 256: the keys of larger d do not fit the memory budget);
//   bsgs:      linear_transform with its default n1 (baby-step giant-step, Halevi, Shoup, CRYPTO 2018).
// These three encode each diagonal during the evaluation; diagonal_pre and bsgs_pre use diagonals
// encoded once before the timing (linear_transform::encode_diagonals), as for a matrix applied to
// many ciphertexts (not at N = 16384 with d = slot count: 8192 plaintexts would take 3.2 GB). Parameters N = 8192 and 16384 with
// the chain {50, 40, 40, 50} at scale 2^40, ciphertext at the top level (one level consumed).
// Counters: key_switches, keys (Galois keys needed), key_MB (their size in memory, b_j and a_j of
// every key) and err (max slot error against the double-precision product; entries and inputs
// uniform in [-1, 1]).
//
//   nice ./ckks_linear_bench
#include <hefl/core/parallel.hpp>
#include <hefl/core/prng.hpp>
#include <hefl/crypto/botan_random.hpp>
#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/encoder.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/evaluator.hpp>
#include <hefl/he/ckks/keys.hpp>
#include <hefl/he/ckks/linear_transform.hpp>
#include <hefl/he/ckks/params.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

namespace ckks = hefl::he::ckks;

std::vector<double> uniform(std::size_t count, std::uint64_t seed) {
  hefl::deterministic_rng rng(seed);
  std::vector<double> v(count);
  for (double& x : v) x = 2 * rng.uniform() - 1;
  return v;
}

struct env {
  explicit env(std::size_t n)
      : rng(5), params(n, {50, 40, 40, 50}, 40), keygen(params, rng), encryptor(params, keygen.create_public_key(), rng),
        decryptor(params, keygen.secret()), eval(params) {}
  hefl::crypto::seeded_random rng;
  ckks::parameters params;
  ckks::key_generator keygen;
  ckks::encryptor encryptor;
  ckks::decryptor decryptor;
  ckks::evaluator eval;
};

env& get(std::size_t n) {
  // Never destroyed: the Botan RNG must not outlive Botan's allocator at exit.
  static auto* const cache = new std::map<std::size_t, std::unique_ptr<env>>();
  auto& slot = (*cache)[n];
  if (!slot) slot = std::make_unique<env>(n);
  return *slot;
}

enum method { diagonal = 0, hoisted = 1, bsgs = 2, diagonal_pre = 3, bsgs_pre = 4 };

// The diagonal method with the key of step 1 only: d - 1 sequential rotations.
ckks::plaintext encode_diagonal(const env& e, const ckks::linear_transform& lt, long long k, const ckks::ciphertext& x) {
  const auto diag = lt.diagonal(k);
  std::vector<double> re(diag.size());
  for (std::size_t i = 0; i < diag.size(); ++i) re[i] = diag[i].real();
  return ckks::encode(e.params, e.eval.slot_encoder(), re, x.scale(), x.level());
}

// With @p pre empty, each diagonal is encoded when used; otherwise pre[k] is diagonal k.
ckks::ciphertext diagonal_method(const env& e, const ckks::linear_transform& lt, const ckks::ciphertext& x,
                                 const ckks::galois_keys& gk1, const std::vector<ckks::plaintext>& pre) {
  const auto d = static_cast<long long>(lt.dimension());
  ckks::ciphertext cur = x, sum = x;
  for (long long k = 0; k < d; ++k) {
    if (k > 0) cur = e.eval.rotate(cur, 1, gk1);
    ckks::ciphertext term = pre.empty() ? e.eval.multiply_plain(cur, encode_diagonal(e, lt, k, x))
                                        : e.eval.multiply_plain(cur, pre[static_cast<std::size_t>(k)]);
    if (k == 0) sum = std::move(term);
    else e.eval.add_inplace(sum, term);
  }
  e.eval.rescale_inplace(sum);
  return sum;
}

void run(benchmark::State& state, std::size_t n, std::size_t d, method m) {
  const hefl::scoped_thread_count one(1);
  env& e = get(n);
  const std::size_t slots = e.params.slot_count();
  if (d == 0) d = slots;
  const auto matrix = uniform(d * d, 1000 + d);
  const auto xd = uniform(d, 2000 + d);
  std::vector<double> x(slots), want(slots, 0.0);
  for (std::size_t i = 0; i < slots; ++i) x[i] = xd[i % d];
  for (std::size_t r = 0; r < d; ++r) {
    double s = 0;
    for (std::size_t c = 0; c < d; ++c) s += matrix[r * d + c] * xd[c];
    for (std::size_t i = r; i < slots; i += d) want[i] = s;
  }
  const ckks::ciphertext cx = e.encryptor.encrypt(ckks::encode(e.params, e.eval.slot_encoder(), x));
  const ckks::linear_transform lt(slots, d, matrix, ckks::slot_layout::replicated, m == hoisted ? d : 0);
  const bool naive = m == diagonal || m == diagonal_pre;
  const std::vector<long long> steps = naive ? std::vector<long long>{1} : lt.rotation_steps();
  const ckks::galois_keys gk = e.keygen.create_galois_keys(steps);
  std::vector<ckks::plaintext> pre;
  if (m == bsgs_pre) pre = lt.encode_diagonals(e.eval, cx.scale(), cx.level());
  if (m == diagonal_pre)
    for (long long k = 0; k < static_cast<long long>(d); ++k) pre.push_back(encode_diagonal(e, lt, k, cx));
  ckks::ciphertext y = cx;
  ckks::linear_transform_stats st;
  for (auto _ : state) {
    if (naive) y = diagonal_method(e, lt, cx, gk, pre);
    else if (m == bsgs_pre) y = lt.apply(e.eval, cx, gk, pre, &st);
    else y = lt.apply(e.eval, cx, gk, &st);
    benchmark::DoNotOptimize(y);
  }
  double key_bytes = 0; // in memory: the b_j and a_j of every key
  for (const std::uint64_t g : gk.elements()) {
    const ckks::kswitch_key& k = gk.key(g);
    for (std::size_t j = 0; j < k.digit_count(); ++j) key_bytes += 8.0 * static_cast<double>(k.b(j).data().size() + k.a(j).data().size());
  }
  state.counters["key_switches"] = static_cast<double>(naive ? d - 1 : st.key_switches());
  state.counters["keys"] = static_cast<double>(steps.size());
  state.counters["key_MB"] = key_bytes / 1e6;
  state.counters["err"] = [&] {
    const auto got = e.decryptor.decrypt_decode(y, e.eval.slot_encoder());
    double err = 0;
    for (std::size_t i = 0; i < slots; ++i) err = std::max(err, std::fabs(got[i] - want[i]));
    return err;
  }();
}

void register_all() {
  const char* names[] = {"diagonal", "hoisted", "bsgs", "diagonal_pre", "bsgs_pre"};
  for (const std::size_t n : {std::size_t{8192}, std::size_t{16384}})
    for (const std::size_t d : {std::size_t{64}, std::size_t{256}, std::size_t{0}})
      for (const method m : {diagonal, hoisted, bsgs, diagonal_pre, bsgs_pre}) {
        if (m == hoisted && (d == 0 || d > 256)) continue;
        if ((m == diagonal_pre || m == bsgs_pre) && d == 0 && n > 8192) continue;
        const std::string name = std::string("linear/") + names[m] + "/N:" + std::to_string(n) +
                                 "/d:" + (d == 0 ? std::string("slots") : std::to_string(d));
        auto* b = benchmark::RegisterBenchmark(name.c_str(), [n, d, m](benchmark::State& s) { run(s, n, d, m); });
        b->Unit(benchmark::kMillisecond);
        if (d == 0) b->Iterations(m == diagonal || m == diagonal_pre ? 1 : 3);
      }
}

} // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
