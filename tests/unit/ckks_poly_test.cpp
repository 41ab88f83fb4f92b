#include <hefl/he/ckks/detail/rns_poly.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

using namespace hefl::he::ckks::detail;
using hefl::he::ckks::parameters;
using hefl::he::ckks::security;

namespace {

constexpr auto insecure = security::none_i_know_this_is_insecure;

// Two chain primes (40 and 50 bits: Q < 2^90 fits __int128) and a 60-bit special prime.
const parameters& toy() {
  static const parameters p(64, {40, 50, 60}, 30, insecure);
  return p;
}

i128 centered_crt2(u64 x0, u64 x1, u64 q0, u64 q1) {
  const modulus m1(q1);
  const u64 inv = inv_mod(q0 % q1, q1);
  const u64 a1 = mul_mod(sub_mod(x1, x0 % q1, q1), inv, m1);
  const i128 q = static_cast<i128>(q0) * q1;
  i128 v = static_cast<i128>(x0) + static_cast<i128>(q0) * a1;
  if (v > q / 2) v -= q;
  return v;
}

u64 residue(i128 v, u64 q) {
  i128 r = v % static_cast<i128>(q);
  if (r < 0) r += q;
  return static_cast<u64>(r);
}

rns_poly from_i128(const std::vector<i128>& values, std::size_t level, bool special, const context& ctx) {
  rns_poly p(ctx.poly_degree(), level, special);
  for (std::size_t i = 0; i < p.limb_count(); ++i)
    for (std::size_t j = 0; j < values.size(); ++j) p.limb(i)[j] = residue(values[j], ctx.primes()[p.prime_index(i, ctx)]);
  return p;
}

// round(a / b) with ties rounded up, as the RNS rescale computes floor((a + floor(b/2)) / b) for odd b.
i128 round_div(i128 a, i128 b) {
  const i128 num = a + b / 2;
  i128 q = num / b;
  if (num % b != 0 && num < 0) --q;
  return q;
}

} // namespace

TEST_CASE("rns_poly shape, limbs and drop_last_limb", "[ckks][poly]") {
  const auto& ctx = toy().context();
  rns_poly p(64, 1, true);
  CHECK(p.limb_count() == 3);
  CHECK(p.prime_index(0, ctx) == 0);
  CHECK(p.prime_index(2, ctx) == 2);
  CHECK_FALSE(p.is_ntt_form());
  p.limb(2)[5] = 7;
  p.drop_last_limb();
  CHECK_FALSE(p.has_special());
  CHECK(p.limb_count() == 2);
  p.drop_last_limb();
  CHECK(p.level() == 0);
  CHECK_THROWS_AS(p.drop_last_limb(), hefl::depth_exhausted);
  CHECK_THROWS_AS(rns_poly(0, 0, false), hefl::invalid_argument);
}

TEST_CASE("signed conversion, CRT composition and centering match __int128", "[ckks][poly]") {
  const auto& ctx = toy().context();
  const u64 q0 = ctx.primes()[0], q1 = ctx.primes()[1];
  const i128 q = static_cast<i128>(q0) * q1;
  std::mt19937_64 rng(20);
  std::vector<std::int64_t> ints(64);
  for (auto& v : ints) v = static_cast<std::int64_t>(rng());
  ints[0] = INT64_MIN;
  ints[1] = INT64_MAX;
  ints[2] = 0;
  ints[3] = -1;
  const rns_poly a = from_signed(std::span<const std::int64_t>(ints), 1, true, ctx);
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 64; ++j) REQUIRE(a.limb(i)[j] == residue(ints[j], ctx.primes()[i]));

  // Random residues, plus the values around +-Q/2 where the centering flips.
  rns_poly r(64, 1, false);
  std::vector<i128> expected(64);
  for (std::size_t j = 0; j < 64; ++j) {
    r.limb(0)[j] = rng() % q0;
    r.limb(1)[j] = rng() % q1;
    expected[j] = centered_crt2(r.limb(0)[j], r.limb(1)[j], q0, q1);
  }
  const std::vector<i128> edges{(q - 1) / 2, (q + 1) / 2, q - 1, 1, 0, (q - 1) / 2 - 1};
  for (std::size_t k = 0; k < edges.size(); ++k) {
    r.limb(0)[k] = static_cast<u64>(edges[k] % q0);
    r.limb(1)[k] = static_cast<u64>(edges[k] % q1);
    expected[k] = edges[k] > q / 2 ? edges[k] - q : edges[k];
  }
  CHECK(expected[0] == (q - 1) / 2);
  CHECK(expected[1] == -(q - 1) / 2);
  CHECK(expected[2] == -1);
  std::vector<double> out(64);
  to_centered_doubles(r, out, ctx);
  for (std::size_t j = 0; j < 64; ++j) {
    CAPTURE(j);
    const double e = static_cast<double>(expected[j]);
    REQUIRE(std::fabs(out[j] - e) <= std::fabs(e) * 0x1p-51);
  }
  CHECK(out[2] == -1.0);
  CHECK(out[3] == 1.0);
  CHECK(out[4] == 0.0);

  // Level 0 only looks at q_0.
  r.drop_last_limb();
  to_centered_doubles(r, out, ctx);
  for (std::size_t j = 0; j < 64; ++j) {
    const u64 x = r.limb(0)[j];
    REQUIRE(out[j] == (x > q0 / 2 ? -static_cast<double>(q0 - x) : static_cast<double>(x)));
  }
}

TEST_CASE("doubles beyond 2^63 convert exactly and compose back at many limbs", "[ckks][poly]") {
  const parameters p(32, {60, 60, 60, 60, 60}, 40, insecure); // Q ~ 2^240
  const auto& ctx = p.context();
  std::vector<double> coeffs(32, 0.0);
  std::mt19937_64 rng(21);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (std::size_t j = 0; j < 32; ++j) coeffs[j] = std::nearbyint(normal(rng) * std::ldexp(1.0, static_cast<int>(j * 7)));
  coeffs[0] = 0x1p63;
  coeffs[1] = -0x1p63;
  coeffs[2] = 0x1.fffffffffffffp200;
  coeffs[3] = -12345.0;
  coeffs[4] = 2.6; // rounds to 3
  const rns_poly a = from_signed(coeffs, 3, false, ctx);
  CHECK(a.limb(0)[0] == (u64{1} << 63) % ctx.primes()[0]);
  std::vector<double> out(32);
  to_centered_doubles(a, out, ctx);
  for (std::size_t j = 0; j < 32; ++j) {
    CAPTURE(j, coeffs[j]);
    REQUIRE(std::fabs(out[j] - std::nearbyint(coeffs[j])) <= std::fabs(coeffs[j]) * 0x1p-50);
  }
  CHECK(out[3] == -12345.0);
  CHECK(out[4] == 3.0);
  coeffs[7] = std::nan("");
  CHECK_THROWS_AS(from_signed(coeffs, 3, false, ctx), hefl::invalid_argument);
  coeffs[7] = -1.0 / 0.0;
  CHECK_THROWS_AS(from_signed(coeffs, 3, false, ctx), hefl::invalid_argument);
  CHECK_THROWS_AS(from_signed(std::span<const double>(coeffs).first(31), 3, false, ctx), hefl::invalid_argument);
  coeffs[7] = 0;
  CHECK_THROWS_AS(from_signed(coeffs, 4, false, ctx), hefl::invalid_argument);
}

// to_centered_doubles before session 10: Garner's digits one coefficient at a time, each digit
// reduced by Barrett and subtracted with sub_mod. The chunked version must give the same doubles.
std::vector<double> centered_one_at_a_time(const rns_poly& a, const context& ctx) {
  const std::size_t limbs = a.level() + 1;
  const auto primes = ctx.primes();
  std::vector<double> out(a.degree());
  std::vector<u64> digits(limbs);
  std::vector<double> balanced(limbs);
  for (std::size_t j = 0; j < a.degree(); ++j) {
    for (std::size_t i = 0; i < limbs; ++i) {
      const modulus& q = ctx.ntt(i).mod();
      u64 t = a.limb(i)[j];
      for (std::size_t k = 0; k < i; ++k)
        t = mul_shoup(sub_mod(t, q.reduce(digits[k]), q.value()), ctx.inverse(k, i), ctx.inverse_shoup(k, i),
                      q.value());
      digits[i] = t;
    }
    u64 carry = 0;
    for (std::size_t i = 0; i < limbs; ++i) {
      const u64 d = digits[i] + carry;
      balanced[i] = d > (primes[i] - 1) / 2 ? -static_cast<double>(primes[i] - d) : static_cast<double>(d);
      carry = d > (primes[i] - 1) / 2 ? 1 : 0;
    }
    double value = balanced[limbs - 1];
    for (std::size_t i = limbs - 1; i-- > 0;) value = value * static_cast<double>(primes[i]) + balanced[i];
    out[j] = value;
  }
  return out;
}

TEST_CASE("to_centered_doubles gives the one-coefficient-at-a-time Garner doubles bit for bit", "[ckks][poly]") {
  // Chain primes of 40, 40, 50, 45, 40 and 50 bits: each pair (q_k, q_i) of the digit updates needs
  // no reduction (q_k <= q_i), one subtraction (q_k <= 2·q_i) or Barrett (q_k > 2·q_i). N = 4096:
  // four chunks of 1024 coefficients, on the threaded path when threads are available.
  const parameters p(4096, {40, 40, 50, 45, 40, 50, 60}, 40, insecure);
  const auto& ctx = p.context();
  rns_poly a(4096, p.max_level(), 0);
  std::mt19937_64 rng(33);
  for (std::size_t i = 0; i < a.limb_count(); ++i) {
    const u64 q = ctx.primes()[i];
    std::uniform_int_distribution<u64> uniform(0, q - 1);
    for (std::size_t j = 0; j < 4096; ++j) a.limb(i)[j] = uniform(rng);
    // Edge residues in the first coefficients: 0, 1, q - 1, (q - 1)/2, (q + 1)/2.
    const u64 edges[] = {0, 1, q - 1, (q - 1) / 2, (q + 1) / 2};
    for (std::size_t j = 0; j < 5; ++j) a.limb(i)[j] = edges[j];
  }
  // Coefficients made from chosen Garner digits (v = d_0 + q_0·(d_1 + q_1·(d_2 + ...))): digits at
  // the top of their range, d_k >= q_i for a larger q_k, which random residues almost never give.
  const auto primes = ctx.primes();
  const std::size_t limbs = a.limb_count();
  for (std::size_t j = 5; j < 64; ++j) {
    std::vector<u64> d(limbs);
    for (std::size_t k = 0; k < limbs; ++k) {
      const u64 spread = j % 3 == 0 ? 0 : rng() % 1024;
      d[k] = j % 4 == 1 && k % 2 == 1 ? spread : primes[k] - 1 - spread;
    }
    for (std::size_t i = 0; i < limbs; ++i) {
      const modulus q(primes[i]);
      u64 r = q.reduce(d[limbs - 1]);
      for (std::size_t k = limbs - 1; k-- > 0;) r = q.reduce(static_cast<u128>(r) * primes[k] + d[k]);
      a.limb(i)[j] = r;
    }
  }
  // q_0 - 1 >= q_1 with residue 0 mod q_1: digit_1's update subtracts a digit_0 that must be reduced
  // by one subtraction first (q_1 < q_0 <= 2·q_1), else the difference wraps.
  REQUIRE(primes[1] < primes[0]);
  REQUIRE(primes[0] <= 2 * primes[1]);
  for (std::size_t j = 64; j < 80; ++j) {
    a.limb(0)[j] = primes[0] - 1 - (j - 64);
    for (std::size_t i = 1; i < limbs; ++i) a.limb(i)[j] = (j - 64) % 3;
  }
  std::vector<double> out(4096);
  for (;;) {
    CAPTURE(a.level());
    to_centered_doubles(a, out, ctx);
    const std::vector<double> expected = centered_one_at_a_time(a, ctx);
    REQUIRE(std::memcmp(out.data(), expected.data(), out.size() * sizeof(double)) == 0);
    if (a.level() == 0) break;
    a.drop_last_limb();
  }
}

TEST_CASE("add, sub, negate, scalar and NTT products agree with integer arithmetic", "[ckks][poly]") {
  const auto& ctx = toy().context();
  const std::size_t n = 64;
  std::mt19937_64 rng(22);
  std::vector<std::int64_t> x(n), y(n);
  for (std::size_t j = 0; j < n; ++j) {
    x[j] = static_cast<std::int64_t>(rng() % (1u << 30)) - (1 << 29);
    y[j] = static_cast<std::int64_t>(rng() % (1u << 30)) - (1 << 29);
  }
  std::vector<i128> sum(n), diff(n), neg(n), scaled(n), prod(n, 0);
  for (std::size_t j = 0; j < n; ++j) {
    sum[j] = static_cast<i128>(x[j]) + y[j];
    diff[j] = static_cast<i128>(x[j]) - y[j];
    neg[j] = -static_cast<i128>(x[j]);
    scaled[j] = static_cast<i128>(x[j]) * -1234567;
    for (std::size_t k = 0; k < n; ++k) {
      const i128 t = static_cast<i128>(x[j]) * y[k];
      if (j + k < n) prod[j + k] += t;
      else prod[j + k - n] -= t;
    }
  }
  for (bool special : {false, true}) {
    const rns_poly a = from_signed(std::span<const std::int64_t>(x), 1, special, ctx);
    const rns_poly b = from_signed(std::span<const std::int64_t>(y), 1, special, ctx);
    rns_poly s = a;
    add_inplace(s, b, ctx);
    CHECK(s == from_i128(sum, 1, special, ctx));
    rns_poly d = a;
    sub_inplace(d, b, ctx);
    CHECK(d == from_i128(diff, 1, special, ctx));
    rns_poly ng = a;
    negate_inplace(ng, ctx);
    CHECK(ng == from_i128(neg, 1, special, ctx));
    rns_poly sc = a;
    multiply_scalar_inplace(sc, -1234567, ctx);
    CHECK(sc == from_i128(scaled, 1, special, ctx));

    rns_poly fa = a, fb = b;
    to_ntt(fa, ctx);
    to_ntt(fb, ctx);
    CHECK(fa.is_ntt_form());
    rns_poly back = fa;
    from_ntt(back, ctx);
    CHECK(back == a);
    rns_poly p = fa;
    multiply_inplace(p, fb, ctx);
    from_ntt(p, ctx);
    CHECK(p == from_i128(prod, 1, special, ctx));
    rns_poly acc = fa;
    multiply_accumulate(acc, fa, fb, ctx);
    from_ntt(acc, ctx);
    std::vector<i128> expected(n);
    for (std::size_t j = 0; j < n; ++j) expected[j] = prod[j] + x[j];
    CHECK(acc == from_i128(expected, 1, special, ctx));
  }
  // Products reach 2^65, beyond double's 53 bits: composition is exact up to the last rounding.
  std::vector<double> out(n);
  to_centered_doubles(from_i128(prod, 1, false, ctx), out, ctx);
  for (std::size_t j = 0; j < n; ++j) {
    const double e = static_cast<double>(prod[j]);
    REQUIRE(std::fabs(out[j] - e) <= std::fabs(e) * 0x1p-51);
  }
}

TEST_CASE("rescale divides by the last prime with rounding, in both representations", "[ckks][poly]") {
  const auto& ctx = toy().context();
  const std::size_t n = 64;
  const i128 q0 = ctx.primes()[0], q1 = ctx.primes()[1], big_p = ctx.primes()[2];
  std::mt19937_64 rng(23);
  std::vector<i128> values(n);
  for (std::size_t j = 0; j < n; ++j) {
    const i128 k = static_cast<i128>(rng() % static_cast<u64>(q0 - 2)) - (q0 - 2) / 2; // |k| < q0/2 - 1
    values[j] = k * q1 + static_cast<i128>(rng() % static_cast<u64>(q1));
  }
  // Exact multiples, and the two sides of each rounding tie.
  values[0] = 0;
  values[1] = 5 * q1;
  values[2] = 5 * q1 + (q1 - 1) / 2;  // rounds down to 5
  values[3] = 5 * q1 + (q1 + 1) / 2;  // rounds up to 6
  values[4] = -5 * q1 - (q1 - 1) / 2; // rounds to -5
  values[5] = -5 * q1 - (q1 + 1) / 2; // rounds to -6
  values[6] = -1;
  const rns_poly a = from_i128(values, 1, false, ctx);

  rns_poly coeff = a;
  divide_round_last_inplace(coeff, ctx);
  CHECK(coeff.level() == 0);
  rns_poly ntt = a;
  to_ntt(ntt, ctx);
  divide_round_last_inplace(ntt, ctx);
  CHECK(ntt.is_ntt_form());
  from_ntt(ntt, ctx);
  CHECK(ntt == coeff);
  std::vector<double> out(n);
  to_centered_doubles(coeff, out, ctx);
  for (std::size_t j = 0; j < n; ++j) {
    CAPTURE(j);
    REQUIRE(out[j] == static_cast<double>(round_div(values[j], q1)));
  }
  CHECK(out[1] == 5);
  CHECK(out[2] == 5);
  CHECK(out[3] == 6);
  CHECK(out[4] == -5);
  CHECK(out[5] == -6);
  CHECK(out[6] == 0);
  CHECK_THROWS_AS(divide_round_last_inplace(coeff, ctx), hefl::depth_exhausted);
  CHECK_THROWS_WITH(rescale_inplace(coeff, ctx), Catch::Contains("level 0"));
  rns_poly again = a;
  rescale_inplace(again, ctx);
  CHECK(again == coeff);
  CHECK_THROWS_AS(mod_down_inplace(again, ctx), hefl::invalid_argument);

  // With the special limb, the division is by P and the chain limbs stay.
  std::vector<i128> small(n);
  for (std::size_t j = 0; j < n; ++j) small[j] = static_cast<i128>(rng() % (u64{1} << 20)) * big_p + (j % 3) * (big_p / 2);
  rns_poly s = from_i128(small, 1, true, ctx);
  to_ntt(s, ctx);
  rns_poly with_special = s;
  CHECK_THROWS_AS(rescale_inplace(with_special, ctx), hefl::invalid_argument);
  mod_down_inplace(s, ctx);
  CHECK_FALSE(s.has_special());
  CHECK(s.level() == 1);
  from_ntt(s, ctx);
  to_centered_doubles(s, out, ctx);
  for (std::size_t j = 0; j < n; ++j) REQUIRE(out[j] == static_cast<double>(round_div(small[j], big_p)));
  (void)q0;
}

TEST_CASE("rns_poly operations reject mismatched operands", "[ckks][poly]") {
  const auto& ctx = toy().context();
  rns_poly a(64, 1, false), b(64, 0, false), c(64, 1, true), d(32, 1, false), e(64, 1, false, true);
  CHECK_THROWS_WITH(add_inplace(a, b, ctx), Catch::Contains("level 1 vs 0"));
  CHECK_THROWS_AS(sub_inplace(a, c, ctx), hefl::invalid_argument);
  CHECK_THROWS_AS(add_inplace(d, d, ctx), hefl::invalid_argument);
  CHECK_THROWS_WITH(add_inplace(a, e, ctx), Catch::Contains("NTT form"));
  CHECK_THROWS_AS(multiply_inplace(a, a, ctx), hefl::invalid_argument); // not in NTT form
  CHECK_THROWS_AS(to_ntt(d, ctx), hefl::invalid_argument);
  rns_poly too_high(64, 2, false);
  CHECK_THROWS_AS(negate_inplace(too_high, ctx), hefl::invalid_argument);
  std::vector<double> out(64), short_out(10);
  CHECK_THROWS_AS(to_centered_doubles(e, out, ctx), hefl::invalid_argument);
  CHECK_THROWS_AS(to_centered_doubles(c, out, ctx), hefl::invalid_argument);
  CHECK_THROWS_AS(to_centered_doubles(a, short_out, ctx), hefl::invalid_argument);
  CHECK_NOTHROW(to_centered_doubles(a, out, ctx));
}
