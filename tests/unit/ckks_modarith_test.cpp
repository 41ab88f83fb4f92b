#include <hefl/he/ckks/detail/modarith.hpp>
#include <hefl/he/ckks/detail/primes.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <utility>
#include <vector>
using namespace hefl::he::ckks::detail;

namespace {

// Primes of 20..61 bits, including the largest 61-bit prime and 60-bit NTT-friendly ones.
const std::vector<u64> test_moduli{
    3,
    65537,
    1048573,                 // 20-bit prime
    1099511627689ULL,        // 40-bit prime
    (u64{1} << 60) - 1,      // odd 60-bit composite: reduction must not assume primality
    1152921504606584833ULL,  // 60-bit prime, = 1 mod 2^17
    1152921504598720513ULL,  // 60-bit prime = 1 mod 2^17
    2305843009213693951ULL,  // 2^61 - 1, the largest prime accepted
    u64{1} << 61,            // the bound itself (a power of two)
};

u64 ref_mul(u64 a, u64 b, u64 q) { return static_cast<u64>((static_cast<u128>(a) * b) % q); }

std::vector<u64> edge_values(u64 q) {
  return {0, 1, 2, q / 2, q - 2, q - 1};
}

} // namespace

TEST_CASE("modulus rejects values outside [2, 2^61]", "[ckks][modarith]") {
  CHECK_THROWS_AS(modulus(0), hefl::invalid_argument);
  CHECK_THROWS_AS(modulus(1), hefl::invalid_argument);
  CHECK_THROWS_WITH(modulus((u64{1} << 61) + 1), Catch::Contains("2^61"));
  CHECK_NOTHROW(modulus(2));
  CHECK(modulus(1152921504606584833ULL).ratio_hi() == ~u64{0} / 1152921504606584833ULL);
}

TEST_CASE("Barrett reduction matches __int128 on random and edge values", "[ckks][modarith]") {
  std::mt19937_64 rng(1);
  for (const u64 q : test_moduli) {
    const modulus m(q);
    CAPTURE(q);
    // 64-bit inputs, including the extremes of the word.
    for (u64 x : {u64{0}, q - 1, q, q + 1, 2 * q - 1, ~u64{0}, ~u64{0} - 1}) CHECK(m.reduce(x) == x % q);
    for (int i = 0; i < 2000; ++i) {
      const u64 x = rng();
      REQUIRE(m.reduce(x) == x % q);
      const u128 wide = (static_cast<u128>(rng()) << 64) | rng();
      REQUIRE(m.reduce(wide) == static_cast<u64>(wide % q));
    }
    const u128 top = ~u128{0};
    CHECK(m.reduce(top) == static_cast<u64>(top % q));
    CHECK(m.reduce(static_cast<u128>(q - 1) * (q - 1)) == static_cast<u64>((static_cast<u128>(q - 1) * (q - 1)) % q));
  }
}

TEST_CASE("add, sub, neg, mul and Shoup multiplication match __int128", "[ckks][modarith]") {
  std::mt19937_64 rng(2);
  for (const u64 q : test_moduli) {
    if (q > max_modulus - 1) continue;
    const modulus m(q);
    CAPTURE(q);
    std::vector<u64> values = edge_values(q);
    for (int i = 0; i < 300; ++i) values.push_back(rng() % q);
    for (std::size_t i = 0; i < values.size(); ++i) {
      const u64 a = values[i], b = values[(i * 7 + 3) % values.size()];
      REQUIRE(add_mod(a, b, q) == static_cast<u64>((static_cast<u128>(a) + b) % q));
      REQUIRE(sub_mod(a, b, q) == static_cast<u64>((static_cast<u128>(a) + q - b) % q));
      REQUIRE(neg_mod(a, q) == (q - a) % q);
      REQUIRE(mul_mod(a, b, m) == ref_mul(a, b, q));
      const u64 b_shoup = shoup_precompute(b, q);
      REQUIRE(mul_shoup(a, b, b_shoup, q) == ref_mul(a, b, q));
      // The lazy form accepts any 64-bit x (e.g. butterfly values in [0, 4q)) and returns [0, 2q).
      const u64 x = a + 3 * q;
      const u64 lazy = mul_shoup_lazy(x, b, b_shoup, q);
      REQUIRE(lazy < 2 * q);
      REQUIRE(lazy % q == ref_mul(x % q, b, q));
      const u64 any = rng();
      REQUIRE(mul_shoup_lazy(any, b, b_shoup, q) % q == ref_mul(any % q, b, q));
    }
  }
}

TEST_CASE("pow_mod and inv_mod", "[ckks][modarith]") {
  std::mt19937_64 rng(3);
  const u64 q = 1152921504606584833ULL;
  const modulus m(q);
  CHECK(pow_mod(5, 0, m) == 1);
  CHECK(pow_mod(0, 5, m) == 0);
  CHECK(pow_mod(q - 1, 2, m) == 1);
  for (int i = 0; i < 200; ++i) {
    const u64 a = 1 + rng() % (q - 1);
    REQUIRE(pow_mod(a, q - 1, m) == 1); // Fermat: q is prime
    const u64 inv = inv_mod(a, q);
    REQUIRE(mul_mod(a, inv, m) == 1);
    REQUIRE(inv == pow_mod(a, q - 2, m));
    const u64 e = rng() % 1000;
    u64 naive = 1;
    for (u64 k = 0; k < e; ++k) naive = ref_mul(naive, a, q);
    REQUIRE(pow_mod(a, e, m) == naive);
  }
  CHECK(inv_mod(1, q) == 1);
  CHECK(inv_mod(q - 1, q) == q - 1);
  CHECK(inv_mod(q + 2, q) == inv_mod(2, q));
  CHECK_THROWS_AS(inv_mod(0, q), hefl::invalid_argument);
  CHECK_THROWS_WITH(inv_mod(6, 9), Catch::Contains("not invertible"));
  CHECK_THROWS_AS(inv_mod(3, 1), hefl::invalid_argument);
}

TEST_CASE("modular arithmetic is usable at compile time", "[ckks][modarith]") {
  constexpr modulus m(97);
  STATIC_REQUIRE(m.reduce(u64{1000}) == 1000 % 97);
  STATIC_REQUIRE(mul_mod(50, 60, m) == 3000 % 97);
  STATIC_REQUIRE(pow_mod(3, 96, m) == 1);
  STATIC_REQUIRE(inv_mod(3, 97) == 65);
}

namespace {
bool trial_division_prime(u64 n) {
  if (n < 2) return false;
  for (u64 d = 2; d * d <= n; ++d)
    if (n % d == 0) return false;
  return true;
}
} // namespace

TEST_CASE("Miller-Rabin agrees with trial division and knows the hard cases", "[ckks][primes]") {
  for (u64 n = 0; n < 20000; ++n) REQUIRE(is_prime(n) == trial_division_prime(n));
  for (u64 n = (u64{1} << 40) - 2000; n < (u64{1} << 40); ++n) REQUIRE(is_prime(n) == trial_division_prime(n));
  // Carmichael numbers and strong pseudoprimes to several small bases.
  for (u64 n : {561ULL, 1105ULL, 1729ULL, 2047ULL, 3215031751ULL, 2152302898747ULL, 3474749660383ULL,
                341550071728321ULL, 3825123056546413051ULL})
    CHECK_FALSE(is_prime(n));
  CHECK(is_prime(2305843009213693951ULL));  // 2^61 - 1
  CHECK(is_prime(18446744073709551557ULL)); // largest 64-bit prime
  CHECK_FALSE(is_prime(18446744073709551557ULL - 2));
  CHECK_FALSE(is_prime(4294967291ULL * 4294967279ULL)); // product of two 32-bit primes
}

TEST_CASE("NTT-friendly primes have the requested size, residue and order", "[ckks][primes]") {
  for (std::size_t n : {4096u, 8192u, 16384u, 65536u}) {
    for (int bits : {30, 40, 50, 60, 61}) {
      const auto primes = ntt_primes(bits, 5, n);
      REQUIRE(primes.size() == 5);
      for (std::size_t i = 0; i < primes.size(); ++i) {
        const u64 q = primes[i];
        REQUIRE(is_prime(q));
        REQUIRE(q % (2 * n) == 1);
        REQUIRE(q < (u64{1} << bits));
        REQUIRE(q > (u64{1} << (bits - 1)));
        if (i > 0) REQUIRE(q < primes[i - 1]);
      }
    }
  }
}

TEST_CASE("NTT-friendly primes are the largest ones, none skipped", "[ckks][primes]") {
  const std::size_t n = 1024;
  std::vector<u64> brute;
  for (u64 q = (u64{1} << 24) - 1; q > (u64{1} << 23) && brute.size() < 6; --q)
    if (q % (2 * n) == 1 && trial_division_prime(q)) brute.push_back(q);
  CHECK(ntt_primes(24, 6, n) == brute);
  const std::vector<u64> skip{brute[0], brute[2]};
  CHECK(ntt_primes(24, 2, n, skip) == std::vector<u64>{brute[1], brute[3]});
}

TEST_CASE("generate_ntt_primes is deterministic and gives distinct primes", "[ckks][primes]") {
  const std::vector<int> bits{60, 40, 40, 40, 60};
  const auto a = generate_ntt_primes(bits, 8192);
  CHECK(a == generate_ntt_primes(bits, 8192));
  REQUIRE(a.size() == bits.size());
  CHECK(std::set<u64>(a.begin(), a.end()).size() == a.size());
  CHECK(a[0] > a[4]); // equal sizes: descending in order of appearance
  CHECK(a[1] > a[2]);
  CHECK(a[2] > a[3]);
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(64 - __builtin_clzll(a[i]) == bits[i]);
  CHECK(generate_ntt_primes(bits, 16384) != a);
}

TEST_CASE("prime generation rejects impossible requests", "[ckks][primes]") {
  CHECK_THROWS_AS(ntt_primes(19, 1, 4096), hefl::invalid_argument);
  CHECK_THROWS_AS(ntt_primes(62, 1, 4096), hefl::invalid_argument);
  CHECK_THROWS_AS(ntt_primes(40, 1, 3000), hefl::invalid_argument);
  CHECK_THROWS_AS(ntt_primes(20, 1, 1u << 19), hefl::invalid_argument);
  // Only a handful of 20-bit primes are 1 mod 2^14: asking for many fails with the counts named.
  CHECK_THROWS_WITH(ntt_primes(20, 100, 8192), Catch::Contains("were requested"));
}

TEST_CASE("minimal_primitive_root is a primitive 2N-th root and the smallest one", "[ckks][primes]") {
  // Brute force on small primes.
  for (auto [q, n] : {std::pair<u64, std::size_t>{257, 128}, {7681, 256}, {12289, 2048}, {97, 16}}) {
    const modulus m(q);
    u64 smallest = 0;
    for (u64 x = 2; x < q && smallest == 0; ++x)
      if (pow_mod(x, n, m) == q - 1) smallest = x;
    CHECK(minimal_primitive_root(q, n) == smallest);
  }
  for (std::size_t n : {4096u, 65536u}) {
    for (u64 q : ntt_primes(60, 2, n)) {
      const modulus m(q);
      const u64 psi = minimal_primitive_root(q, n);
      CHECK(pow_mod(psi, n, m) == q - 1);
      CHECK(pow_mod(psi, 2 * n, m) == 1);
      CHECK(minimal_primitive_root(q, n) == psi);
    }
  }
  CHECK_THROWS_AS(minimal_primitive_root(12289, 4096), hefl::invalid_argument); // 12289 - 1 = 3 * 2^12
  CHECK_THROWS_AS(minimal_primitive_root(12287, 2), hefl::invalid_argument);    // not 1 mod 4
  CHECK_THROWS_AS(minimal_primitive_root(257, 3), hefl::invalid_argument);
}
