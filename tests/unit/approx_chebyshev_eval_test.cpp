#include <hefl/approx/chebyshev.hpp>
#include <hefl/approx/chebyshev_eval.hpp>
#include <hefl/core/prng.hpp>
#include <hefl/he/plain_backend.hpp>

#include "approx_test_support.hpp"

#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

using hefl::approx::chebyshev_plan;
using hefl::approx::chebyshev_series;
using hefl::approx::clenshaw;
using hefl::he::plain_backend;

namespace {

using hefl_test::counting_backend;
static_assert(hefl::he::arithmetic_backend<counting_backend>);

std::vector<double> unit_grid(std::size_t count) {
  std::vector<double> t(count);
  for (std::size_t i = 0; i < count; ++i) t[i] = -1.0 + 2.0 * static_cast<double>(i) / static_cast<double>(count - 1);
  return t;
}

// Runs the plan with exactly its depth on the counting backend; checks values against Clenshaw, the
// level left, the counted products against the plan's cost, and that one level fewer is refused.
void check_plan(const std::vector<double>& c, std::optional<int> budget = std::nullopt) {
  const chebyshev_plan plan(c, budget);
  const std::size_t d = plan.degree();
  const int m = static_cast<int>(std::bit_width(d));
  INFO("degree " << d << ", depth " << plan.depth() << ", baby log " << plan.baby_log());
  CHECK(plan.depth() <= m + 1);
  CHECK(plan.depth() >= m);
  if (budget) CHECK(plan.depth() <= *budget);
  const auto t = unit_grid(65);

  counting_backend exact(t.size(), plan.depth());
  const auto result = plan.evaluate(exact, exact.encrypt(t));
  CHECK(exact.level(result) == 0);
  CHECK(exact.multiplies == plan.cost().products);
  CHECK(exact.scalar_multiplies == plan.cost().scalar_products);
  const auto got = exact.decrypt(result);
  for (std::size_t i = 0; i < t.size(); ++i) CHECK(std::abs(got[i] - clenshaw(plan.coefficients(), t[i])) <= 1e-12);

  if (plan.depth() > 0) {
    counting_backend short_one(t.size(), plan.depth() - 1);
    const auto x = short_one.encrypt(t);
    short_one.ops = 0;
    CHECK_THROWS_WITH(plan.evaluate(short_one, x),
                      Catch::Contains("level " + std::to_string(plan.depth() - 1) + " < " +
                                      std::to_string(plan.depth()) + " required by the degree-" + std::to_string(d)));
    CHECK(short_one.ops == 0);
  }
}

} // namespace

TEST_CASE("approx: Chebyshev series converts to and from the power basis", "[approx][chebyshev]") {
  hefl::deterministic_rng rng(11);
  for (const auto& [lo, hi] : {std::pair{-1.0, 1.0}, std::pair{-8.0, 8.0}, std::pair{-3.0, 5.0}}) {
    for (std::size_t d = 0; d <= 15; ++d) {
      std::vector<double> c(d + 1);
      for (double& v : c) v = 2.0 * rng.uniform() - 1.0;
      const chebyshev_series s(c, lo, hi);
      const auto power = s.power_coefficients();
      const chebyshev_series back = chebyshev_series::from_power(power, lo, hi);
      INFO("degree " << d << " on [" << lo << ", " << hi << "]");
      REQUIRE(back.degree() <= d);
      for (std::size_t k = 0; k <= back.degree(); ++k) CHECK(back.coefficients()[k] == Approx(c[k]).margin(1e-9));
      for (int i = 0; i <= 20; ++i) {
        const double x = lo + (hi - lo) * i / 20.0;
        double horner = 0.0;
        for (auto it = power.rbegin(); it != power.rend(); ++it) horner = horner * x + *it;
        CHECK(s(x) == Approx(horner).margin(1e-9));
        // T_k by its definition cos(k·acos t)
        double direct = 0.0;
        const double t = std::clamp(s.to_unit(x), -1.0, 1.0);
        for (std::size_t k = 0; k <= d; ++k) direct += c[k] * std::cos(static_cast<double>(k) * std::acos(t));
        CHECK(s(x) == Approx(direct).margin(1e-12));
      }
    }
  }
  // Parity survives the conversion exactly on a symmetric interval.
  const auto odd = chebyshev_series::from_power({0.5, 0.197, 0.0, -0.004}, -5.0, 5.0);
  CHECK(odd.coefficients()[0] == 0.5);
  CHECK(odd.coefficients()[2] == 0.0);
  CHECK(odd.coefficients()[1] == Approx(0.197 * 5 - 0.004 * 125 * 0.75));
  CHECK(odd.coefficients()[3] == Approx(-0.004 * 125 * 0.25));
}

TEST_CASE("approx: Chebyshev series rejects bad input", "[approx][chebyshev]") {
  CHECK_THROWS_AS(chebyshev_series({}, -1.0, 1.0), hefl::invalid_argument);
  CHECK_THROWS_WITH(chebyshev_series({1.0, std::numeric_limits<double>::quiet_NaN()}, -1.0, 1.0),
                    Catch::Contains("coefficient 1 is not finite"));
  CHECK_THROWS_AS(chebyshev_series({1.0}, 2.0, 2.0), hefl::invalid_argument);
  CHECK_THROWS_AS(chebyshev_series({1.0}, -std::numeric_limits<double>::infinity(), 2.0), hefl::invalid_argument);
  CHECK_THROWS_AS(chebyshev_series::from_power({}, -1.0, 1.0), hefl::invalid_argument);
  CHECK_THROWS_AS(chebyshev_plan({}), hefl::invalid_argument);
  CHECK_THROWS_AS(chebyshev_plan({0.5, std::numeric_limits<double>::infinity()}), hefl::invalid_argument);
}

TEST_CASE("approx: dense Chebyshev plans of degree 1..31 match Clenshaw within ceil(log2(d+1)) + 1 levels",
          "[approx][chebyshev]") {
  hefl::deterministic_rng rng(2026);
  for (std::size_t d = 1; d <= 31; ++d) {
    std::vector<double> c(d + 1);
    for (double& v : c) v = (2.0 * rng.uniform() - 1.0) / static_cast<double>(1 + d);
    if (c.back() == 0.0) c.back() = 0.25;
    check_plan(c);
  }
}

TEST_CASE("approx: the plan needs O(sqrt(d)) ciphertext products", "[approx][chebyshev]") {
  for (std::size_t d : {7u, 15u, 31u}) {
    std::vector<double> c(d + 1, 0.1);
    const chebyshev_plan plan(c);
    INFO("degree " << d << ": " << plan.cost().products << " products");
    // Baby steps up to 2^l, giant steps, one product per giant-step join: about 2·sqrt(2d) + log2(d).
    CHECK(plan.cost().products <= 2 * static_cast<int>(std::ceil(std::sqrt(2.0 * static_cast<double>(d)))) +
                                      static_cast<int>(std::bit_width(d)));
    // The depth-optimal plan exists too and costs more products.
    const chebyshev_plan tight(c, static_cast<int>(std::bit_width(d)));
    CHECK(tight.depth() == static_cast<int>(std::bit_width(d)));
    CHECK(tight.cost().products >= plan.cost().products);
    check_plan(c, static_cast<int>(std::bit_width(d)));
  }
  CHECK_THROWS_WITH(chebyshev_plan(std::vector<double>(8, 0.1), 2), Catch::Contains("at least 3 are needed"));
}

TEST_CASE("approx: sparse and integer Chebyshev coefficients count one level per coefficient product",
          "[approx][chebyshev]") {
  for (std::size_t k = 1; k <= 20; ++k) {
    std::vector<double> single(k + 1, 0.0);
    single[k] = 1.0;  // T_k itself: an integer coefficient
    check_plan(single);
    single[k] = -6.0;
    check_plan(single);
  }
  check_plan({0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25});
  check_plan({0.0, 3.0, 0.0, -2.0});
}

TEST_CASE("approx: a constant Chebyshev plan costs nothing", "[approx][chebyshev]") {
  const chebyshev_plan plan({0.5, 0.0, 0.0});
  CHECK(plan.degree() == 0);
  CHECK(plan.depth() == 0);
  const plain_backend b(4, 0);
  const auto r = plan.evaluate(b, b.encrypt(std::vector<double>{1.0, -1.0}));
  CHECK(b.level(r) == 0);
  for (double v : b.decrypt(r)) CHECK(v == 0.5);
}

TEST_CASE("approx: map_to_unit takes one level unless the scale is 1", "[approx][chebyshev]") {
  const plain_backend b(4, 3);
  const auto x = b.encrypt(std::vector<double>{-8.0, 0.0, 4.0, 8.0});
  const auto t = hefl::approx::map_to_unit(b, x, 0.125);
  CHECK(b.level(t) == 2);
  CHECK(b.decrypt(t) == std::vector<double>{-1.0, 0.0, 0.5, 1.0});
  const auto shifted = hefl::approx::map_to_unit(b, x, 0.25, -1.0);
  CHECK(b.decrypt(shifted) == std::vector<double>{-3.0, -1.0, 0.0, 1.0});
  CHECK(b.level(hefl::approx::map_to_unit(b, x, 1.0)) == 3);
  CHECK(b.level(hefl::approx::map_to_unit(b, x, 2.0)) == 2);  // an integer scale is charged too
  CHECK(hefl::approx::mapping_depth(1.0) == 0);
  CHECK(hefl::approx::mapping_depth(0.125) == 1);
  CHECK_THROWS_AS(hefl::approx::map_to_unit(b, x, 0.0), hefl::invalid_argument);
  CHECK_THROWS_AS(hefl::approx::map_to_unit(b, x, std::numeric_limits<double>::quiet_NaN()), hefl::invalid_argument);
  const plain_backend flat(4, 0);
  CHECK_THROWS_AS(hefl::approx::map_to_unit(flat, flat.encrypt(std::vector<double>{1.0}), 0.5), hefl::depth_exhausted);
}

TEST_CASE("approx: the stated CKKS noise bound scales with the scale, the ring and the coefficients",
          "[approx][chebyshev]") {
  const chebyshev_plan small({0.5, 0.1, 0.0, 0.01});
  const chebyshev_plan large({0.5, 10.0, 0.0, 1.0});
  const double b40 = hefl::approx::ckks_noise_bound(small, 40.0, 16384);
  // ε = 2^-40·sqrt(16384)·2^8; weight 1 + 0.1 + 0.09; (2 + products + scalar products)
  CHECK(b40 == Approx(std::exp2(-40.0) * 128.0 * 256.0 * (1.0 + 0.1 + 0.09) *
                      (2.0 + small.cost().products + small.cost().scalar_products)));
  CHECK(hefl::approx::ckks_noise_bound(small, 30.0, 16384) == Approx(1024.0 * b40));
  CHECK(hefl::approx::ckks_noise_bound(small, 40.0, 4096) == Approx(0.5 * b40));
  CHECK(hefl::approx::ckks_noise_bound(large, 40.0, 16384) > 10.0 * b40);
  CHECK_THROWS_AS(hefl::approx::ckks_noise_bound(small, 0.0, 16384), hefl::invalid_argument);
  CHECK_THROWS_AS(hefl::approx::ckks_noise_bound(small, std::numeric_limits<double>::quiet_NaN(), 16384),
                  hefl::invalid_argument);
  CHECK_THROWS_AS(hefl::approx::ckks_noise_bound(small, 40.0, 0), hefl::invalid_argument);
}
