#include <hefl/core/prng.hpp>
#include <hefl/he/ckks/encoder.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numbers>
#include <vector>

using hefl::he::ckks::encoder;
using cplx = std::complex<double>;

namespace {

std::vector<double> random_reals(std::size_t count, std::uint64_t seed) {
  hefl::deterministic_rng rng(seed);
  std::vector<double> v(count);
  for (double& x : v) x = 2.0 * rng.uniform() - 1.0;
  return v;
}

std::vector<cplx> random_complex(std::size_t count, std::uint64_t seed) {
  hefl::deterministic_rng rng(seed);
  std::vector<cplx> v(count);
  for (cplx& z : v) z = {2.0 * rng.uniform() - 1.0, 2.0 * rng.uniform() - 1.0};
  return v;
}

// max |a - b| / max |b|
template <class A, class B>
double relative_error(const A& got, const B& want) {
  double err = 0.0, norm = 0.0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    err = std::max(err, std::abs(got[i] - want[i]));
    norm = std::max(norm, std::abs(want[i]));
  }
  return err / norm;
}

// m(X) -> m(X^g) in Z[X]/(X^N + 1): X^k goes to X^(k·g mod 2N), and X^(N+r) = -X^r.
std::vector<double> apply_automorphism(const std::vector<double>& m, std::uint64_t g) {
  const std::uint64_t n = m.size();
  std::vector<double> out(n, 0.0);
  for (std::uint64_t k = 0; k < n; ++k) {
    const std::uint64_t e = (k * g) % (2 * n);
    if (e < n) out[e] += m[k];
    else out[e - n] -= m[k];
  }
  return out;
}

// Naive product in Z[X]/(X^N + 1), accumulated in long double (exact for the sizes used).
std::vector<double> negacyclic_product(const std::vector<double>& a, const std::vector<double>& b) {
  const std::size_t n = a.size();
  std::vector<long double> acc(n, 0.0L);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      const long double p = static_cast<long double>(a[i]) * static_cast<long double>(b[j]);
      if (i + j < n) acc[i + j] += p;
      else acc[i + j - n] -= p;
    }
  return {acc.begin(), acc.end()};
}

} // namespace

TEST_CASE("ckks encoder: slot count and galois elements", "[he][ckks][encoder]") {
  const encoder e(16);
  CHECK(e.ring_degree() == 16);
  CHECK(e.slot_count() == 8);
  CHECK(e.rotation_galois_element(0) == 1);
  CHECK(e.rotation_galois_element(1) == 5);
  CHECK(e.rotation_galois_element(2) == 25);
  CHECK(e.rotation_galois_element(3) == 125 % 32);
  CHECK(e.rotation_galois_element(-1) == e.rotation_galois_element(7));
  CHECK(e.rotation_galois_element(9) == 5);
  CHECK(e.conjugation_galois_element() == 31);
}

TEST_CASE("ckks encoder: decode evaluates the polynomial at zeta^(5^j)", "[he][ckks][encoder]") {
  for (std::size_t n : {2u, 4u, 8u, 32u}) {
    const encoder e(n);
    const auto m = random_reals(n, 11 + n);
    const auto z = e.decode_complex(m, 1.0);
    REQUIRE(z.size() == n / 2);
    std::uint64_t g = 1;
    for (std::size_t j = 0; j < n / 2; ++j) {
      std::complex<long double> want = 0;
      for (std::size_t k = 0; k < n; ++k) {
        const long double angle = std::numbers::pi_v<long double> * static_cast<long double>((g * k) % (2 * n)) /
                                  static_cast<long double>(n);
        want += static_cast<long double>(m[k]) * std::complex<long double>(std::cos(angle), std::sin(angle));
      }
      CHECK(std::abs(z[j] - cplx(static_cast<double>(want.real()), static_cast<double>(want.imag()))) < 1e-12);
      g = g * 5 % (2 * n);
    }
    const auto re = e.decode(m, 1.0);
    REQUIRE(re.size() == n / 2);
    for (std::size_t j = 0; j < n / 2; ++j) CHECK(re[j] == Approx(z[j].real()).margin(1e-14));
  }
}

TEST_CASE("ckks encoder: round trip at scale 2^40 for N = 2^12..2^15", "[he][ckks][encoder]") {
  const double scale = 0x1p40;
  for (std::size_t n = 4096; n <= 32768; n *= 2) {
    const encoder e(n);
    std::vector<double> coeffs(n);
    SECTION("real slots, N = " + std::to_string(n)) {
      const auto z = random_reals(n / 2, n);
      e.encode(z, scale, coeffs);
      for (double c : coeffs) REQUIRE(c == std::round(c));
      const auto back = e.decode(coeffs, scale);
      REQUIRE(back.size() == n / 2);
      CHECK(relative_error(back, z) < 0x1p-30);
      // Real slots have zero imaginary parts after the round trip too.
      const auto back_c = e.decode_complex(coeffs, scale);
      double imag = 0.0;
      for (const cplx& v : back_c) imag = std::max(imag, std::abs(v.imag()));
      CHECK(imag < 0x1p-30);
    }
    SECTION("complex slots, N = " + std::to_string(n)) {
      const auto z = random_complex(n / 2, n + 1);
      e.encode(z, scale, coeffs);
      const auto back = e.decode_complex(coeffs, scale);
      REQUIRE(back.size() == n / 2);
      CHECK(relative_error(back, z) < 0x1p-30);
    }
    SECTION("fewer values than slots are zero-padded, N = " + std::to_string(n)) {
      const auto z = random_complex(100, n + 2);
      e.encode(z, scale, coeffs);
      const auto back = e.decode_complex(coeffs, scale);
      for (std::size_t j = 0; j < 100; ++j) CHECK(std::abs(back[j] - z[j]) < 0x1p-30);
      for (std::size_t j = 100; j < n / 2; j += 97) CHECK(std::abs(back[j]) < 0x1p-30);
    }
  }
}

TEST_CASE("ckks encoder: round trip for the smallest ring degrees", "[he][ckks][encoder]") {
  for (std::size_t n : {2u, 4u, 8u}) {
    const encoder e(n);
    const auto z = random_complex(n / 2, 7 * n);
    std::vector<double> coeffs(n);
    e.encode(z, 0x1p40, coeffs);
    CHECK(relative_error(e.decode_complex(coeffs, 0x1p40), z) < 0x1p-35);
  }
}

TEST_CASE("ckks encoder: a constant encodes to a constant polynomial", "[he][ckks][encoder]") {
  const double scale = 0x1p40;
  const encoder e(1024);
  std::vector<double> coeffs(1024);
  const std::vector<double> constant(512, 0.75);
  e.encode(constant, scale, coeffs);
  CHECK(coeffs[0] == std::round(0.75 * scale));
  CHECK(std::all_of(coeffs.begin() + 1, coeffs.end(), [](double c) { return c == 0.0; }));

  // A complex constant a + bi is a + b·X^(N/2), because ζ^(5^j·N/2) = i for every slot.
  const std::vector<cplx> complex_constant(512, cplx(-1.25, 0.5));
  e.encode(complex_constant, scale, coeffs);
  for (std::size_t k = 0; k < coeffs.size(); ++k) {
    const double want = k == 0 ? -1.25 * scale : k == 512 ? 0.5 * scale : 0.0;
    CHECK(coeffs[k] == want);
  }
}

TEST_CASE("ckks encoder: polynomial product decodes to the slot-wise product", "[he][ckks][encoder]") {
  const double scale = 0x1p20;
  for (std::size_t n : {16u, 32u, 64u}) {
    const encoder e(n);
    const auto x = random_complex(n / 2, 100 + n), y = random_complex(n / 2, 200 + n);
    std::vector<double> cx(n), cy(n);
    e.encode(x, scale, cx);
    e.encode(y, scale, cy);
    const auto product = e.decode_complex(negacyclic_product(cx, cy), scale * scale);
    std::vector<cplx> want(n / 2);
    for (std::size_t j = 0; j < n / 2; ++j) want[j] = x[j] * y[j];
    INFO("N = " << n);
    CHECK(relative_error(product, want) < 1e-4);

    const auto rx = random_reals(n / 2, 300 + n), ry = random_reals(n / 2, 400 + n);
    e.encode(rx, scale, cx);
    e.encode(ry, scale, cy);
    const auto real_product = e.decode(negacyclic_product(cx, cy), scale * scale);
    std::vector<double> real_want(n / 2);
    for (std::size_t j = 0; j < n / 2; ++j) real_want[j] = rx[j] * ry[j];
    CHECK(relative_error(real_product, real_want) < 1e-4);
  }
}

TEST_CASE("ckks encoder: X -> X^(5^k) rotates slots left by k, X -> X^(2N-1) conjugates",
          "[he][ckks][encoder]") {
  const double scale = 0x1p40;
  for (std::size_t n : {8u, 64u, 4096u}) {
    const encoder e(n);
    const std::size_t slots = n / 2;
    const auto z = random_complex(slots, 500 + n);
    std::vector<double> coeffs(n);
    e.encode(z, scale, coeffs);
    INFO("N = " << n);
    for (long long k : {1LL, 2LL, 3LL, static_cast<long long>(slots) - 1, -1LL, -2LL}) {
      INFO("k = " << k);
      std::uint64_t g = 1;
      const auto steps = static_cast<std::uint64_t>(((k % static_cast<long long>(slots)) + static_cast<long long>(slots)) %
                                                    static_cast<long long>(slots));
      for (std::uint64_t s = 0; s < steps; ++s) g = g * 5 % (2 * n);
      CHECK(e.rotation_galois_element(k) == g);
      const auto rotated = e.decode_complex(apply_automorphism(coeffs, g), scale);
      std::vector<cplx> want(slots);
      for (std::size_t j = 0; j < slots; ++j) want[j] = z[(j + steps) % slots];
      CHECK(relative_error(rotated, want) < 0x1p-30);
    }
    const auto conjugated = e.decode_complex(apply_automorphism(coeffs, 2 * n - 1), scale);
    std::vector<cplx> want(slots);
    for (std::size_t j = 0; j < slots; ++j) want[j] = std::conj(z[j]);
    CHECK(relative_error(conjugated, want) < 0x1p-30);
  }
}

TEST_CASE("ckks encoder: rejects bad ring degrees", "[he][ckks][encoder]") {
  for (std::size_t n : {0u, 1u, 3u, 6u, 12u, 4095u, 4097u, 1u << 18, 1u << 20})
    CHECK_THROWS_AS(encoder(n), hefl::invalid_argument);
  CHECK_THROWS_WITH(encoder(1000), Catch::Contains("power of two") && Catch::Contains("1000"));
  CHECK_NOTHROW(encoder(2));
  CHECK_NOTHROW(encoder(1u << 17));
}

TEST_CASE("ckks encoder: rejects bad encode and decode arguments", "[he][ckks][encoder]") {
  const encoder e(16);
  std::vector<double> out(16);
  const std::vector<double> ok(8, 0.5);
  const std::vector<cplx> ok_c(8, cplx(0.5, 0.25));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();

  SECTION("too many values") {
    const std::vector<double> nine(9, 1.0);
    const std::vector<cplx> nine_c(9, cplx(1.0, 0.0));
    CHECK_THROWS_WITH(e.encode(nine, 0x1p20, out), Catch::Contains("9 values exceed 8 slots"));
    CHECK_THROWS_AS(e.encode(nine_c, 0x1p20, out), hefl::invalid_argument);
  }
  SECTION("wrong output size") {
    for (std::size_t size : {0u, 8u, 15u, 17u, 32u}) {
      std::vector<double> wrong(size);
      CHECK_THROWS_AS(e.encode(ok, 0x1p20, wrong), hefl::invalid_argument);
      CHECK_THROWS_AS(e.encode(ok_c, 0x1p20, wrong), hefl::invalid_argument);
    }
    std::vector<double> fifteen(15);
    CHECK_THROWS_WITH(e.encode(ok, 0x1p20, fifteen), Catch::Contains("15") && Catch::Contains("expected N = 16"));
  }
  SECTION("values overlapping the output") {
    std::vector<double> buffer(16, 0.25);
    CHECK_THROWS_WITH(e.encode(std::span<const double>(buffer.data() + 4, 8), 0x1p20, buffer),
                      Catch::Contains("overlap"));
  }
  SECTION("bad scale") {
    for (double s : {0.0, -1.0, -0x1p40, nan, inf, -inf}) {
      CHECK_THROWS_AS(e.encode(ok, s, out), hefl::invalid_argument);
      CHECK_THROWS_AS(e.encode(ok_c, s, out), hefl::invalid_argument);
      CHECK_THROWS_AS(e.decode(out, s), hefl::invalid_argument);
      CHECK_THROWS_AS(e.decode_complex(out, s), hefl::invalid_argument);
    }
    CHECK_THROWS_WITH(e.encode(ok, 0.0, out), Catch::Contains("scale must be positive"));
  }
  SECTION("non-finite values") {
    for (double bad : {nan, inf, -inf}) {
      std::vector<double> v = ok;
      v[3] = bad;
      CHECK_THROWS_WITH(e.encode(v, 0x1p20, out), Catch::Contains("value 3 is not finite"));
      std::vector<cplx> c = ok_c;
      c[5] = cplx(0.0, bad);
      CHECK_THROWS_WITH(e.encode(c, 0x1p20, out), Catch::Contains("value 5 is not finite"));
      c[5] = cplx(bad, 0.0);
      CHECK_THROWS_AS(e.encode(c, 0x1p20, out), hefl::invalid_argument);
    }
  }
  SECTION("coefficients reaching 2^62") {
    std::vector<double> big = ok;
    big[2] = 0x1p30;  // 2^30 · 2^40 = 2^70
    CHECK_THROWS_WITH(e.encode(big, 0x1p40, out),
                      Catch::Contains("2^62") && Catch::Contains("value 2") && Catch::Contains("2^40"));
    std::vector<cplx> big_c = ok_c;
    big_c[6] = cplx(0.0, 0x1p30);
    CHECK_THROWS_WITH(e.encode(big_c, 0x1p40, out), Catch::Contains("2^62") && Catch::Contains("value 6"));
    // A huge but finite scale overflows the product to infinity: still a clear rejection.
    CHECK_THROWS_WITH(e.encode(ok, 0x1p1023, out), Catch::Contains("2^62"));
    // Just below the bound is accepted: a constant 2^61 · 1.5 at scale 1 is 1.5 · 2^61 < 2^62.
    const std::vector<double> edge(8, 0x1.8p61);
    CHECK_NOTHROW(e.encode(edge, 1.0, out));
    CHECK(out[0] == 0x1.8p61);
    const std::vector<double> over(8, 0x1p62);
    CHECK_THROWS_AS(e.encode(over, 1.0, out), hefl::invalid_argument);
  }
  SECTION("decode input") {
    const std::vector<double> short_coeffs(15, 0.0), long_coeffs(17, 0.0);
    CHECK_THROWS_WITH(e.decode(short_coeffs, 1.0), Catch::Contains("15 coefficients, expected N = 16"));
    CHECK_THROWS_AS(e.decode_complex(long_coeffs, 1.0), hefl::invalid_argument);
    std::vector<double> bad(16, 0.0);
    bad[9] = nan;
    CHECK_THROWS_WITH(e.decode(bad, 1.0), Catch::Contains("coefficient 9 is not finite"));
    bad[9] = inf;
    CHECK_THROWS_AS(e.decode_complex(bad, 1.0), hefl::invalid_argument);
  }
}
