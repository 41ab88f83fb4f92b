#include <hefl/approx/evaluate.hpp>
#include <hefl/approx/fit.hpp>
#include <hefl/approx/sigmoid.hpp>
#include <hefl/core/prng.hpp>
#include <hefl/he/plain_backend.hpp>

#include "approx_test_support.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

using hefl::approx::evaluate;
using hefl::approx::evaluate_polynomial;
using hefl::approx::multiplicative_depth;
using hefl::approx::polynomial_sigmoid;
using hefl::he::plain_backend;

namespace {

using hefl_test::counting_backend;
static_assert(hefl::he::arithmetic_backend<counting_backend>);

std::vector<double> grid(std::size_t count, double lo, double hi) {
  std::vector<double> x(count);
  for (std::size_t i = 0; i < count; ++i)
    x[i] = lo + (hi - lo) * static_cast<double>(i) / static_cast<double>(count - 1);
  return x;
}

double horner(const std::vector<double>& c, double x) {
  double r = 0.0;
  for (auto it = c.rbegin(); it != c.rend(); ++it) r = r * x + *it;
  return r;
}

// Evaluates with exactly the documented depth, checks values against Horner and the level left, then
// checks that one level fewer is refused.
void check_polynomial(const std::vector<double>& c, double lo, double hi) {
  std::size_t degree = c.size() - 1;
  while (degree > 0 && c[degree] == 0.0) --degree;
  const int depth = multiplicative_depth(degree);
  const auto x = grid(64, lo, hi);
  INFO("degree " << degree << ", depth " << depth);

  const plain_backend exact(64, depth);
  const auto result = evaluate_polynomial(exact, exact.encrypt(x), c);
  CHECK(exact.level(result) == 0);
  const auto got = exact.decrypt(result);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double want = horner(c, x[i]);
    CHECK(std::abs(got[i] - want) <= 1e-12 * (1.0 + std::abs(want)));
  }

  const plain_backend roomy(64, depth + 2);
  CHECK(roomy.level(evaluate_polynomial(roomy, roomy.encrypt(x), c)) == 2);

  if (depth > 0) {
    const plain_backend short_one(64, depth - 1);
    CHECK_THROWS_AS(evaluate_polynomial(short_one, short_one.encrypt(x), c), hefl::depth_exhausted);
    CHECK_THROWS_WITH(evaluate_polynomial(short_one, short_one.encrypt(x), c),
                      Catch::Contains("level " + std::to_string(depth - 1) + " < " + std::to_string(depth) +
                                      " required by degree-" + std::to_string(degree) + " polynomial"));
  }
}

} // namespace

TEST_CASE("approx: multiplicative depth is ceil(log2(degree + 1))", "[approx][evaluate]") {
  STATIC_REQUIRE(multiplicative_depth(0) == 0);
  STATIC_REQUIRE(multiplicative_depth(1) == 1);
  STATIC_REQUIRE(multiplicative_depth(2) == 2);
  STATIC_REQUIRE(multiplicative_depth(3) == 2);
  STATIC_REQUIRE(multiplicative_depth(4) == 3);
  STATIC_REQUIRE(multiplicative_depth(7) == 3);
  STATIC_REQUIRE(multiplicative_depth(8) == 4);
  STATIC_REQUIRE(multiplicative_depth(15) == 4);
  STATIC_REQUIRE(multiplicative_depth(16) == 5);
  STATIC_REQUIRE(multiplicative_depth(31) == 5);
  STATIC_REQUIRE(multiplicative_depth(32) == 6);
  for (std::size_t d = 1; d < 200; ++d)
    CHECK(multiplicative_depth(d) == static_cast<int>(std::ceil(std::log2(static_cast<double>(d) + 1.0))));
}

TEST_CASE("approx: dense random polynomials of degree 1..15 match Horner at the documented depth",
          "[approx][evaluate]") {
  hefl::deterministic_rng rng(2024);
  for (std::size_t degree = 1; degree <= 15; ++degree) {
    for (int trial = 0; trial < 3; ++trial) {
      std::vector<double> c(degree + 1);
      for (double& v : c) v = 2.0 * rng.uniform() - 1.0;
      if (c.back() == 0.0) c.back() = 0.5;
      check_polynomial(c, -1.5, 1.5);
    }
  }
}

TEST_CASE("approx: sparse polynomials and monomials keep the documented depth", "[approx][evaluate]") {
  for (std::size_t k = 1; k <= 16; ++k) {
    std::vector<double> monomial(k + 1, 0.0);
    monomial[k] = 0.75;
    check_polynomial(monomial, -1.2, 1.2);
  }
  check_polynomial({0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0}, -1.0, 1.0);
  check_polynomial({1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.5}, -1.0, 1.0);
  check_polynomial({0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0}, -1.0,
                   1.0);
  // Zero leading coefficients do not count towards the degree.
  check_polynomial({0.5, 0.25, 0.0, 0.0}, -1.0, 1.0);
}

TEST_CASE("approx: sigmoid polynomials of degree 1..7 evaluate like Horner on [-8, 8]", "[approx][evaluate]") {
  std::vector<polynomial_sigmoid> sigmoids{hefl::approx::paper_sigmoid3(), hefl::approx::idash_sigmoid3(),
                                           hefl::approx::idash_sigmoid5(), hefl::approx::idash_sigmoid7()};
  for (int d = 1; d <= 7; ++d) {
    sigmoids.push_back(hefl::approx::chebyshev_sigmoid(d, -8.0, 8.0));
    sigmoids.push_back(hefl::approx::least_squares_sigmoid(d, -6.0, 7.0));
    sigmoids.push_back(hefl::approx::taylor_sigmoid(d));
  }
  const auto x = grid(101, -8.0, 8.0);
  for (const auto& s : sigmoids) {
    INFO(s.name());
    const int depth = multiplicative_depth(s.degree());
    const plain_backend b(x.size(), depth);
    const auto result = evaluate(b, b.encrypt(x), s);
    CHECK(b.level(result) == 0);
    const auto got = b.decrypt(result);
    for (std::size_t i = 0; i < x.size(); ++i) CHECK(std::abs(got[i] - s(x[i])) <= 1e-12 * (1.0 + std::abs(s(x[i]))));
    const plain_backend short_one(x.size(), depth - 1);
    CHECK_THROWS_AS(evaluate(short_one, short_one.encrypt(x), s), hefl::depth_exhausted);
  }
}

TEST_CASE("approx: the depth check comes before any homomorphic operation", "[approx][evaluate]") {
  counting_backend b(8, 3);
  const std::vector<double> x{0.5, -1.0, 2.0};
  const auto c = b.multiply_scalar(b.multiply_scalar(b.encrypt(x), 0.5), 2.5);  // level 1 (fractional scalars cost one each)
  b.ops = b.multiplies = b.scalar_multiplies = 0;
  CHECK_THROWS_WITH(evaluate(b, c, hefl::approx::idash_sigmoid3()),
                    Catch::Contains("level 1 < 2 required by degree-3 polynomial"));
  CHECK(b.ops == 0);
  CHECK_THROWS_WITH(evaluate(b, c, hefl::approx::idash_sigmoid7()),
                    Catch::Contains("level 1 < 3 required by degree-7 polynomial"));
  CHECK(b.ops == 0);
}

TEST_CASE("approx: operation counts of the plan for the iDASH sigmoids", "[approx][evaluate]") {
  const std::vector<double> x{0.5, -1.0, 2.0, 7.5};
  {
    counting_backend b(4, 2);
    const auto r = evaluate(b, b.encrypt(x), hefl::approx::idash_sigmoid3());
    // x^2; (c3·x)·x^2; c1·x
    CHECK(b.multiplies == 2);
    CHECK(b.scalar_multiplies == 2);
    CHECK(b.level(r) == 0);
  }
  {
    counting_backend b(4, 3);
    const auto r = evaluate(b, b.encrypt(x), hefl::approx::idash_sigmoid7());
    // x^2, x^4; ((c7·x)·x^2 + c5·x)·x^4; (c3·x)·x^2; c1·x
    CHECK(b.multiplies == 5);
    CHECK(b.scalar_multiplies == 4);
    CHECK(b.plain_multiplies == 0);
    CHECK(b.level(r) == 0);
    const auto got = b.decrypt(r);
    for (std::size_t i = 0; i < x.size(); ++i) CHECK(got[i] == Approx(hefl::approx::idash_sigmoid7()(x[i])));
  }
}

TEST_CASE("approx: a constant polynomial costs no level", "[approx][evaluate]") {
  const plain_backend b(4, 0);
  const std::vector<double> x{1.0, 2.0, 3.0, 4.0};
  const auto r = evaluate(b, b.encrypt(x), polynomial_sigmoid({0.5}, -1.0, 1.0));
  CHECK(b.level(r) == 0);
  for (double v : b.decrypt(r)) CHECK(v == 0.5);
  const auto zero = evaluate_polynomial(b, b.encrypt(x), std::vector<double>{0.0, 0.0});
  for (double v : b.decrypt(zero)) CHECK(v == 0.0);
}

TEST_CASE("approx: evaluate_polynomial rejects bad coefficients", "[approx][evaluate]") {
  const plain_backend b(4, 4);
  const auto c = b.encrypt(std::vector<double>{1.0});
  CHECK_THROWS_AS(evaluate_polynomial(b, c, std::vector<double>{}), hefl::invalid_argument);
  CHECK_THROWS_WITH(evaluate_polynomial(b, c, std::vector<double>{1.0, std::numeric_limits<double>::quiet_NaN()}),
                    Catch::Contains("coefficient 1 is not finite"));
  CHECK_THROWS_AS(evaluate_polynomial(b, c, std::vector<double>{std::numeric_limits<double>::infinity()}),
                  hefl::invalid_argument);
}
