// The AVX-512 IFMA kernels against the portable ones: the same residues for every prime below 2^50
// (up to the largest NTT primes under that bound) and every ring degree 2^10..2^15; primes from 2^50
// up always run the portable code; whole CKKS computations give bit-identical ciphertexts on both
// paths. On a CPU without IFMA both runs take the portable path and the comparisons still hold.
#include <hefl/he/ckks/decryptor.hpp>
#include <hefl/he/ckks/detail/eltwise.hpp>
#include <hefl/he/ckks/detail/ntt.hpp>
#include <hefl/he/ckks/encryptor.hpp>
#include <hefl/he/ckks/evaluator.hpp>
#include <hefl/he/ckks/keys.hpp>

#include <catch2/catch.hpp>

#include "ckks_test_support.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <random>
#include <vector>

namespace ckks = hefl::he::ckks;
using namespace hefl::he::ckks::detail;

namespace {

// Restores the process-wide kernel switch when a test ends, whatever it set.
class kernel_switch_guard {
public:
  kernel_switch_guard() : m_saved(simd_kernels_requested().load()) {}
  ~kernel_switch_guard() { simd_kernels_requested().store(m_saved); }
  kernel_switch_guard(const kernel_switch_guard&) = delete;
  kernel_switch_guard& operator=(const kernel_switch_guard&) = delete;

private:
  bool m_saved;
};

std::vector<u64> random_words(std::size_t n, u64 bound, std::mt19937_64& rng) {
  std::vector<u64> a(n);
  for (auto& x : a) x = rng() % bound;
  return a;
}

// Random words below bound with the extremes 0 and bound - 1 planted at both ends and in the middle.
std::vector<u64> edge_words(std::size_t n, u64 bound, std::mt19937_64& rng) {
  auto a = random_words(n, bound, rng);
  for (std::size_t j = 0; j < 3 && j < n; ++j) {
    a[j] = bound - 1;
    a[n - 1 - j] = 0;
  }
  a[n / 2] = bound - 1;
  return a;
}

// Primes below 2^50 of several sizes, always including the largest ones under the bound.
std::vector<u64> fast_path_primes(std::size_t n) {
  std::vector<u64> primes;
  for (int bits : {24, 36, 40, 45, 49}) primes.push_back(ntt_primes(bits, 1, n)[0]);
  for (u64 q : ntt_primes(50, 3, n)) primes.push_back(q); // the three largest NTT primes below 2^50
  return primes;
}

} // namespace

TEST_CASE("simd kernels: set_simd_kernels switches the path and reports CPU support", "[ckks][simd]") {
  const kernel_switch_guard guard;
  // ctest runs the CKKS tests a second time with HEFL_CKKS_PORTABLE=1 (tests/CMakeLists.txt).
  const char* env = std::getenv("HEFL_CKKS_PORTABLE");
  if (env != nullptr && std::string(env) == "1") {
    CHECK_FALSE(ckks::simd_kernels_enabled());
    CHECK_FALSE(ntt_tables(ntt_primes(50, 1, 1024)[0], 1024).uses_ifma());
    CHECK_FALSE(eltwise_uses_ifma(ntt_primes(40, 1, 1024)[0]));
  }
  CHECK_FALSE(ckks::set_simd_kernels(false));
  CHECK_FALSE(ckks::simd_kernels_enabled());
  CHECK(ckks::set_simd_kernels(true) == cpu_supports_ifma());
  CHECK(ckks::simd_kernels_enabled() == cpu_supports_ifma());
  const std::size_t n = 1024;
  const ntt_tables small(ntt_primes(50, 1, n)[0], n), large(ntt_primes(51, 1, n)[0], n);
  CHECK(small.uses_ifma() == cpu_supports_ifma());
  CHECK_FALSE(large.uses_ifma()); // 2^50 and up: always portable
  CHECK_FALSE(ntt_tables(ntt_primes(60, 1, n)[0], n).uses_ifma());
  ckks::set_simd_kernels(false);
  CHECK_FALSE(small.uses_ifma());
  WARN("AVX-512 IFMA kernels " << (cpu_supports_ifma() ? "available: both paths are compared"
                                                       : "not available: only the portable path runs"));
}

TEST_CASE("simd kernels: the IFMA NTT gives the portable transform's residues for primes below 2^50",
          "[ckks][simd][ntt]") {
  const kernel_switch_guard guard;
  std::mt19937_64 rng(2024);
  for (std::size_t log_n = 10; log_n <= 15; ++log_n) {
    const std::size_t n = std::size_t{1} << log_n;
    for (const u64 q : fast_path_primes(n)) {
      CAPTURE(n, q);
      REQUIRE(q < ifma_modulus_bound);
      const ntt_tables t(q, n);
      // Forward input anywhere in [0, 4q), including the top value 4q - 1.
      const auto in4 = edge_words(n, 4 * q, rng);
      auto fast = in4, slow = in4;
      ckks::set_simd_kernels(true);
      t.forward(fast.data());
      ckks::set_simd_kernels(false);
      t.forward(slow.data());
      REQUIRE(fast == slow);
      // The lazy outputs: congruent and in [0, 4q).
      fast = in4;
      slow = in4;
      ckks::set_simd_kernels(true);
      t.forward_lazy(fast.data());
      ckks::set_simd_kernels(false);
      t.forward_lazy(slow.data());
      for (std::size_t j = 0; j < n; ++j) {
        REQUIRE(fast[j] < 4 * q);
        REQUIRE(fast[j] % q == slow[j] % q);
      }
      // Inverse input anywhere in [0, 2q).
      const auto in2 = edge_words(n, 2 * q, rng);
      fast = in2;
      slow = in2;
      ckks::set_simd_kernels(true);
      t.inverse(fast.data());
      ckks::set_simd_kernels(false);
      t.inverse(slow.data());
      REQUIRE(fast == slow);
      fast = in2;
      slow = in2;
      ckks::set_simd_kernels(true);
      t.inverse_lazy(fast.data());
      ckks::set_simd_kernels(false);
      t.inverse_lazy(slow.data());
      for (std::size_t j = 0; j < n; ++j) {
        REQUIRE(fast[j] < 2 * q);
        REQUIRE(fast[j] % q == slow[j] % q);
      }
      // Round trip on the fast path, and lazy output fed back in (the worst case the callers make).
      ckks::set_simd_kernels(true);
      auto a = random_words(n, q, rng);
      auto b = a;
      t.forward_lazy(b.data());
      t.forward_lazy(b.data()); // its input is itself lazy, in [0, 4q)
      for (auto& v : b) v %= q;
      auto c = a;
      t.forward(c.data());
      t.forward(c.data());
      REQUIRE(b == c);
      t.inverse(c.data());
      t.inverse(c.data());
      REQUIRE(c == a);
    }
  }
}

TEST_CASE("simd kernels: worst-case inputs (every word 4q - 1 forward, 2q - 1 inverse) at the 2^50 bound",
          "[ckks][simd][ntt]") {
  const kernel_switch_guard guard;
  for (const std::size_t n : {std::size_t{16}, std::size_t{32}, std::size_t{1024}, std::size_t{32768}}) {
    const u64 q = ntt_primes(50, 1, n)[0];
    CAPTURE(n, q);
    const ntt_tables t(q, n);
    std::vector<u64> fast(n, 4 * q - 1), slow(n, 4 * q - 1);
    ckks::set_simd_kernels(true);
    t.forward(fast.data());
    ckks::set_simd_kernels(false);
    t.forward(slow.data());
    REQUIRE(fast == slow);
    std::vector<u64> ifast(n, 2 * q - 1), islow(n, 2 * q - 1);
    ckks::set_simd_kernels(true);
    t.inverse(ifast.data());
    ckks::set_simd_kernels(false);
    t.inverse(islow.data());
    REQUIRE(ifast == islow);
  }
}

TEST_CASE("simd kernels: element-wise kernels agree with the portable loops and with the definition",
          "[ckks][simd]") {
  const kernel_switch_guard guard;
  std::mt19937_64 rng(77);
  std::vector<u64> primes;
  for (int bits : {20, 30, 40, 45, 49, 50}) primes.push_back(ntt_primes(bits, 1, 1024)[0]);
  primes.push_back(ntt_primes(50, 2, 1024)[1]);
  primes.push_back(ntt_primes(51, 1, 1024)[0]); // portable on both runs
  primes.push_back(ntt_primes(60, 1, 1024)[0]);
  for (const u64 qv : primes) {
    const modulus q(qv);
    for (const std::size_t n : {std::size_t{1}, std::size_t{7}, std::size_t{8}, std::size_t{13}, std::size_t{4096}}) {
      CAPTURE(qv, n);
      const auto a = edge_words(n, qv, rng), b = edge_words(n, qv, rng), acc0 = edge_words(n, qv, rng);
      const u64 w = rng() % qv, w_shoup = shoup_precompute(w, qv);
      const auto lazy = edge_words(n, 4 * qv, rng); // a lazy NTT output, up to 4q - 1
      const auto run = [&](bool simd) {
        ckks::set_simd_kernels(simd);
        std::vector<std::vector<u64>> out(7, std::vector<u64>(n));
        eltwise_subtract_constant(out[5].data(), a.data(), w, n, qv);
        eltwise_subtract_lazy_multiply_constant(out[6].data(), a.data(), lazy.data(), w, w_shoup, n, qv);
        eltwise_add(out[0].data(), a.data(), b.data(), n, qv);
        eltwise_subtract(out[1].data(), a.data(), b.data(), n, qv);
        eltwise_multiply(out[2].data(), a.data(), b.data(), n, q);
        out[3] = acc0;
        eltwise_multiply_add(out[3].data(), a.data(), b.data(), n, q);
        eltwise_multiply_constant(out[4].data(), a.data(), w, w_shoup, n, qv);
        return out;
      };
      const auto fast = run(true), slow = run(false);
      REQUIRE(fast == slow);
      for (std::size_t j = 0; j < n; ++j) { // the portable loops against the definition
        REQUIRE(slow[2][j] == static_cast<u64>(static_cast<u128>(a[j]) * b[j] % qv));
        REQUIRE(slow[3][j] == static_cast<u64>((static_cast<u128>(a[j]) * b[j] + acc0[j]) % qv));
        REQUIRE(slow[5][j] == (a[j] + qv - w) % qv);
        REQUIRE(slow[6][j] == static_cast<u64>(static_cast<u128>(a[j] + 4 * qv - lazy[j]) * w % qv));
      }
      // In place (output aliases the first input).
      auto in_place = a;
      ckks::set_simd_kernels(true);
      eltwise_multiply(in_place.data(), in_place.data(), b.data(), n, q);
      REQUIRE(in_place == slow[2]);
    }
  }
}

TEST_CASE("simd kernels: products where the 52-bit Barrett estimate is two short of the quotient", "[ckks][simd]") {
  const kernel_switch_guard guard;
  // Found by a search over 50-bit primes 2^49 + k * 2048 + 1 whose constant floor(2^101 / q) drops
  // a fraction near 1: for these products the remainder before correction lies in [2q, 3q), so a
  // kernel with a single conditional subtraction fails here (random inputs practically never do).
  struct worst_case {
    u64 q, a, b;
  };
  const worst_case cases[] = {{562949965281281u, 452968252643734u, 239805933216794u},
                              {562949965258753u, 282297445110498u, 194164233502663u}};
  for (const auto& c : cases) {
    CAPTURE(c.q, c.a, c.b);
    REQUIRE(is_prime(c.q));
    const modulus q(c.q);
    const barrett52 k(c.q);
    const u128 x = static_cast<u128>(c.a) * c.b;
    const u64 estimate = static_cast<u64>(((x >> k.shift) * k.mu) >> 52);
    REQUIRE(static_cast<u64>(x / c.q) - estimate == 2);
    const std::vector<u64> a(9, c.a), b(9, c.b);
    for (const bool simd : {true, false}) {
      ckks::set_simd_kernels(simd);
      std::vector<u64> out(9), acc(9, 0);
      eltwise_multiply(out.data(), a.data(), b.data(), 9, q);
      eltwise_multiply_add(acc.data(), a.data(), b.data(), 9, q);
      for (std::size_t j = 0; j < 9; ++j) {
        REQUIRE(out[j] == static_cast<u64>(x % c.q));
        REQUIRE(acc[j] == out[j]);
      }
    }
  }
}

TEST_CASE("simd kernels: the key-switching inner products agree on both paths, folds included", "[ckks][simd]") {
  const kernel_switch_guard guard;
  std::mt19937_64 rng(99);
  // 50-bit primes fold every 3 terms on the IFMA path, 40-bit ones every 4095; 60-bit ones are portable.
  for (const u64 qv : {ntt_primes(40, 1, 1024)[0], ntt_primes(49, 1, 1024)[0], ntt_primes(50, 1, 1024)[0],
                       ntt_primes(60, 1, 1024)[0]}) {
    const modulus q(qv);
    for (const std::size_t terms : {1, 2, 3, 4, 7, 9, 17}) {
      for (const bool worst : {false, true}) {
        CAPTURE(qv, terms, worst);
        const std::size_t n = 1024 + 5; // a masked tail
        std::vector<std::vector<u64>> x(terms), b(terms), a(terms);
        std::vector<const u64*> px, pb, pa;
        for (std::size_t t = 0; t < terms; ++t) {
          x[t] = worst ? std::vector<u64>(n, 4 * qv - 1) : edge_words(n, 4 * qv, rng);
          b[t] = worst ? std::vector<u64>(n, qv - 1) : edge_words(n, qv, rng);
          a[t] = edge_words(n, qv, rng);
          px.push_back(x[t].data());
          pb.push_back(b[t].data());
          pa.push_back(a[t].data());
        }
        const auto run = [&](bool simd) {
          ckks::set_simd_kernels(simd);
          std::vector<u64> out0(n), out1(n);
          eltwise_dot_product2(out0.data(), out1.data(), px.data(), pb.data(), pa.data(), terms, n, q);
          return std::pair(out0, out1);
        };
        const auto fast = run(true), slow = run(false);
        REQUIRE(fast == slow);
        for (const std::size_t k : {std::size_t{0}, std::size_t{1}, n / 2, n - 1}) {
          u64 want0 = 0, want1 = 0;
          for (std::size_t t = 0; t < terms; ++t) {
            want0 = static_cast<u64>((want0 + static_cast<u128>(x[t][k]) * b[t][k]) % qv);
            want1 = static_cast<u64>((want1 + static_cast<u128>(x[t][k]) * a[t][k]) % qv);
          }
          REQUIRE(slow.first[k] == want0);
          REQUIRE(slow.second[k] == want1);
        }
      }
    }
  }
}

namespace {

// Runs public-key encryption, products (tensor, square, relinearization), rotations, a hoisted sum
// of all slots, plaintext and scalar products and decryption (2 and 3 parts) under one kernel setting; returns the ciphertexts and a decrypted plaintext.
std::pair<std::vector<ckks::ciphertext>, std::vector<ckks::plaintext>> ckks_run(const ckks::parameters& params,
                                                                                  bool simd) {
  ckks::set_simd_kernels(simd);
  hefl_test::test_source rng(5);
  ckks::key_generator keygen(params, rng);
  const auto pk = keygen.create_public_key();
  const auto rk = keygen.create_relin_keys();
  const ckks::evaluator eval(params);
  std::vector<long long> steps{1, -3};
  for (const long long s : ckks::evaluator::sum_slots_steps(eval.slot_count())) steps.push_back(s);
  const auto gk = keygen.create_galois_keys(steps);
  ckks::encryptor enc(params, pk, rng);
  const std::size_t slots = eval.slot_count();
  const auto x = hefl_test::random_values(slots, 1), y = hefl_test::random_values(slots, 2);
  const auto cx = enc.encrypt(ckks::encode(params, eval.slot_encoder(), x));
  const auto cy = enc.encrypt(ckks::encode(params, eval.slot_encoder(), y));
  std::vector<ckks::ciphertext> out{cx, cy};
  out.push_back(eval.multiply_relin_rescale(cx, cy, rk));
  out.push_back(eval.square_relin_rescale(cx, rk));
  out.push_back(eval.rotate(cx, 1, gk));
  out.push_back(eval.rotate(out[2], -3, gk));
  out.push_back(eval.sum_slots(cx, gk));
  out.push_back(eval.sub(eval.add(cx, cy), eval.multiply_integer(cy, 5)));
  out.push_back(eval.multiply_plain_rescale(cx, y));
  out.push_back(eval.multiply_scalar(cx, 0.75));
  out.push_back(eval.multiply(cx, cy)); // 3 parts, decrypted below by Horner's rule in s
  out.push_back(eval.square(cy));
  ckks::symmetric_encryptor sym(params, keygen.secret(), rng);
  out.push_back(sym.encrypt(ckks::encode(params, eval.slot_encoder(), y)));
  const ckks::decryptor dec(params, keygen.secret());
  std::vector<ckks::plaintext> plain{dec.decrypt(out[3]), dec.decrypt(out[5]), dec.decrypt(out[6]),
                                     dec.decrypt(out[10])};
  return {std::move(out), std::move(plain)};
}

void require_same_run(const ckks::parameters& params) {
  const kernel_switch_guard guard;
  const auto [fast, fast_plain] = ckks_run(params, true);
  const auto [slow, slow_plain] = ckks_run(params, false);
  REQUIRE(fast.size() == slow.size());
  for (std::size_t k = 0; k < fast.size(); ++k) {
    CAPTURE(k);
    REQUIRE(fast[k].size() == slow[k].size());
    for (std::size_t i = 0; i < fast[k].size(); ++i) CHECK(fast[k].poly(i) == slow[k].poly(i));
  }
  REQUIRE(fast_plain.size() == slow_plain.size());
  for (std::size_t k = 0; k < fast_plain.size(); ++k) {
    CAPTURE(k);
    CHECK(fast_plain[k].poly() == slow_plain[k].poly());
  }
}

} // namespace

TEST_CASE("simd kernels: a CKKS computation gives bit-identical ciphertexts on both paths", "[ckks][simd]") {
  // N = 2048 (insecure: small ring). {50, 40, 40, 50} takes the fast path on every limb, the key
  // switching of products, rotations and the hoisted sum of slots included; {60, 40, 40, 60} mixes
  // fast limbs with portable ones (the 60-bit first prime and the special prime P).
  for (const std::vector<int> bits : {std::vector<int>{50, 40, 40, 50}, std::vector<int>{60, 40, 40, 60}}) {
    CAPTURE(bits);
    require_same_run(ckks::parameters(2048, bits, 40, ckks::security::none_i_know_this_is_insecure));
  }
}
