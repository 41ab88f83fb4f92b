#include <hefl/he/ckks/detail/modarith.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
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
