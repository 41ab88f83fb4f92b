#include <hefl/he/ckks/detail/ntt.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <vector>

using namespace hefl::he::ckks::detail;

namespace {

std::vector<u64> random_poly(std::size_t n, u64 q, std::mt19937_64& rng) {
  std::vector<u64> a(n);
  for (auto& x : a) x = rng() % q;
  return a;
}

// Schoolbook product modulo X^N + 1: X^N wraps around to -1.
std::vector<u64> naive_negacyclic(const std::vector<u64>& a, const std::vector<u64>& b, u64 q) {
  const std::size_t n = a.size();
  std::vector<u64> c(n, 0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      const u64 p = static_cast<u64>((static_cast<u128>(a[i]) * b[j]) % q);
      const std::size_t k = i + j;
      if (k < n) c[k] = (c[k] + p) % q;
      else c[k - n] = (c[k - n] + q - p) % q;
    }
  return c;
}

} // namespace

TEST_CASE("forward NTT evaluates at the odd powers of psi in bit-reversed order", "[ckks][ntt]") {
  std::mt19937_64 rng(10);
  for (std::size_t n : {8u, 16u, 32u, 64u}) {
    for (int bits : {30, 61}) {
      const u64 q = ntt_primes(bits, 1, n)[0];
      const ntt_tables t(q, n);
      const modulus m(q);
      CAPTURE(n, q);
      auto a = random_poly(n, q, rng);
      auto fa = a;
      t.forward(fa.data());
      for (std::size_t i = 0; i < n; ++i) {
        const u64 x = pow_mod(t.root(), 2 * reverse_bits(i, __builtin_ctzll(n)) + 1, m);
        u64 value = 0;
        for (std::size_t k = n; k-- > 0;) value = add_mod(mul_mod(value, x, m), a[k], q); // Horner
        REQUIRE(fa[i] == value);
      }
    }
  }
}

TEST_CASE("NTT product equals the naive negacyclic convolution", "[ckks][ntt]") {
  std::mt19937_64 rng(11);
  for (std::size_t n : {8u, 16u, 32u, 64u}) {
    for (int bits : {20, 40, 60, 61}) {
      const u64 q = ntt_primes(bits, 1, n)[0];
      const ntt_tables t(q, n);
      const modulus m(q);
      CAPTURE(n, q);
      auto a = random_poly(n, q, rng), b = random_poly(n, q, rng);
      if (bits == 61) { // edge values: all q-1 and a monomial
        std::fill(a.begin(), a.end(), q - 1);
        std::fill(b.begin(), b.end(), 0);
        b[n - 1] = 1;
      }
      const auto expected = naive_negacyclic(a, b, q);
      t.forward(a.data());
      t.forward(b.data());
      for (std::size_t i = 0; i < n; ++i) a[i] = mul_mod(a[i], b[i], m);
      t.inverse(a.data());
      REQUIRE(a == expected);
    }
  }
}

TEST_CASE("NTT round trip at N = 2^12 .. 2^16, lazy ranges hold", "[ckks][ntt]") {
  std::mt19937_64 rng(12);
  for (std::size_t n = 4096; n <= 65536; n *= 2) {
    const u64 q = ntt_primes(60, 1, n)[0];
    const ntt_tables t(q, n);
    CAPTURE(n);
    const auto a = random_poly(n, q, rng);
    auto b = a;
    t.forward(b.data());
    CHECK(b != a);
    t.inverse(b.data());
    CHECK(b == a);

    // Lazy forward accepts [0, 4q) and returns [0, 4q); lazy inverse returns [0, 2q).
    auto c = a;
    for (std::size_t i = 0; i < n; i += 3) c[i] += 3 * q;
    t.forward_lazy(c.data());
    bool in_range = true;
    for (auto& v : c) {
      in_range = in_range && v < 4 * q;
      v %= q;
    }
    CHECK(in_range);
    t.inverse_lazy(c.data());
    for (auto& v : c) {
      in_range = in_range && v < 2 * q;
      v %= q;
    }
    CHECK(in_range);
    CHECK(c == a);
  }
}

TEST_CASE("multiplying via NTT at N = 4096 agrees with a sparse naive product", "[ckks][ntt]") {
  // A full schoolbook product at N = 4096 is slow; a product with a sparse polynomial is cheap to
  // compute naively and still exercises every coefficient of the transform.
  std::mt19937_64 rng(13);
  const std::size_t n = 4096;
  const u64 q = ntt_primes(50, 1, n)[0];
  const ntt_tables t(q, n);
  const modulus m(q);
  auto a = random_poly(n, q, rng);
  std::vector<u64> b(n, 0);
  const std::vector<std::size_t> taps{0, 1, 777, 2048, 4095};
  for (std::size_t k : taps) b[k] = rng() % q;
  std::vector<u64> expected(n, 0);
  for (std::size_t k : taps)
    for (std::size_t i = 0; i < n; ++i) {
      const u64 p = mul_mod(a[i], b[k], m);
      const std::size_t j = i + k;
      if (j < n) expected[j] = add_mod(expected[j], p, q);
      else expected[j - n] = sub_mod(expected[j - n], p, q);
    }
  t.forward(a.data());
  t.forward(b.data());
  for (std::size_t i = 0; i < n; ++i) a[i] = mul_mod(a[i], b[i], m);
  t.inverse(a.data());
  CHECK(a == expected);
}

TEST_CASE("ntt_tables rejects bad degrees and primes", "[ckks][ntt]") {
  const u64 q = ntt_primes(40, 1, 4096)[0];
  CHECK_THROWS_AS(ntt_tables(q, 3000), hefl::invalid_argument);
  CHECK_THROWS_AS(ntt_tables(q, 1), hefl::invalid_argument);
  CHECK_THROWS_AS(ntt_tables(q, std::size_t{1} << 18), hefl::invalid_argument);
  u64 not_friendly = 0; // 1 mod 2*4096 but not 1 mod 2*8192
  for (u64 p : ntt_primes(40, 10, 4096))
    if ((p - 1) % 16384 != 0) not_friendly = p;
  REQUIRE(not_friendly != 0);
  CHECK_NOTHROW(ntt_tables(not_friendly, 4096));
  CHECK_THROWS_WITH(ntt_tables(not_friendly, 8192), Catch::Contains("1 mod 2N"));
  CHECK_THROWS_AS(ntt_tables(q + 2, 4096), hefl::invalid_argument);
  CHECK_THROWS_AS(ntt_tables(0, 4096), hefl::invalid_argument);
  CHECK_THROWS_AS(ntt_tables(~u64{0}, 4096), hefl::invalid_argument);
  CHECK_NOTHROW(ntt_tables(q, 4096));
}
