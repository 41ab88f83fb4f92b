#include <hefl/approx/fit.hpp>
#include <hefl/approx/sigmoid.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <limits>
#include <numbers>
#include <vector>

using hefl::approx::chebyshev_sigmoid;
using hefl::approx::exact_sigmoid;
using hefl::approx::least_squares_sigmoid;
using hefl::approx::max_error;
using hefl::approx::polynomial_sigmoid;
using hefl::approx::taylor_sigmoid;

namespace {

// Mean squared error on the uniform grid the least-squares fit uses.
double grid_mse(const polynomial_sigmoid& p, double lo, double hi, std::size_t samples) {
  const exact_sigmoid s;
  double sum = 0.0;
  for (std::size_t i = 0; i < samples; ++i) {
    const double x = lo + (hi - lo) * static_cast<double>(i) / static_cast<double>(samples - 1);
    sum += (p(x) - s(x)) * (p(x) - s(x));
  }
  return sum / static_cast<double>(samples);
}

} // namespace

TEST_CASE("approx: Taylor coefficients of the sigmoid at 0", "[approx][fit]") {
  const auto t = taylor_sigmoid(9);
  const std::vector<double> want{0.5, 0.25, 0.0, -1.0 / 48, 0.0, 1.0 / 480, 0.0, -17.0 / 80640, 0.0, 31.0 / 1451520};
  REQUIRE(t.coefficients().size() == want.size());
  for (std::size_t k = 0; k < want.size(); ++k) CHECK(t.coefficients()[k] == Approx(want[k]).epsilon(1e-13).margin(0));
  CHECK(t.degree() == 9);
  CHECK(taylor_sigmoid(2).degree() == 1);  // the x^2 term of the series is zero
  // Accurate near 0, useless beyond the radius of convergence π.
  CHECK(max_error(taylor_sigmoid(9), exact_sigmoid{}, -1.0, 1.0) < 5e-6);  // next term 691/319334400 x^11
  CHECK(max_error(taylor_sigmoid(9), exact_sigmoid{}, -1.0, 1.0) < max_error(taylor_sigmoid(5), exact_sigmoid{}, -1.0, 1.0));
  CHECK(max_error(taylor_sigmoid(9), exact_sigmoid{}, -8.0, 8.0) > 1.0);
}

TEST_CASE("approx: least squares on [-8, 8] reproduces the iDASH fits", "[approx][fit]") {
  const std::vector<polynomial_sigmoid> idash{hefl::approx::idash_sigmoid3(), hefl::approx::idash_sigmoid5(),
                                              hefl::approx::idash_sigmoid7()};
  for (const auto& reference : idash) {
    const int degree = static_cast<int>(reference.degree());
    INFO("degree " << degree);
    const auto fit = least_squares_sigmoid(degree, -8.0, 8.0);
    REQUIRE(fit.degree() == reference.degree());
    for (std::size_t k = 0; k <= reference.degree(); ++k) {
      CHECK(std::abs(fit.coefficients()[k] - reference.coefficients()[k]) < 1e-3);
      // Relative agreement too, so the tiny high-order coefficients are really checked.
      if (reference.coefficients()[k] != 0.0)
        CHECK(std::abs(fit.coefficients()[k] / reference.coefficients()[k] - 1.0) < 0.03);
      else
        CHECK(fit.coefficients()[k] == 0.0);
    }
    // It is the least-squares optimum on its grid, so no other polynomial of the degree does better there.
    CHECK(grid_mse(fit, -8.0, 8.0, 2001) <= grid_mse(reference, -8.0, 8.0, 2001));
    CHECK(max_error(fit, exact_sigmoid{}, -8.0, 8.0) < 1.35 * max_error(reference, exact_sigmoid{}, -8.0, 8.0));
    CHECK(fit.lo() == -8.0);
    CHECK(fit.hi() == 8.0);
  }
}

TEST_CASE("approx: least squares residual is orthogonal to the basis on an asymmetric interval", "[approx][fit]") {
  const double lo = -3.0, hi = 5.0;
  const std::size_t samples = 501;
  for (int degree : {1, 2, 3, 4, 6}) {
    const auto fit = least_squares_sigmoid(degree, lo, hi, samples);
    const exact_sigmoid s;
    std::vector<double> dot(static_cast<std::size_t>(degree) + 1, 0.0);
    double norm = 0.0;
    for (std::size_t i = 0; i < samples; ++i) {
      const double x = lo + (hi - lo) * static_cast<double>(i) / static_cast<double>(samples - 1);
      const double t = (2.0 * x - lo - hi) / (hi - lo);
      const double r = fit(x) - s(x);
      double tk = 1.0;
      for (double& d : dot) d += r * tk, tk *= t;
      norm += std::abs(r);
    }
    INFO("degree " << degree);
    REQUIRE(norm > 0.0);
    for (double d : dot) CHECK(std::abs(d) < 1e-9 * norm);
  }
}

TEST_CASE("approx: Chebyshev interpolation interpolates and improves with the degree", "[approx][fit]") {
  SECTION("the polynomial passes through the sigmoid at the Chebyshev points") {
    for (auto [lo, hi] : {std::pair{-3.0, 5.0}, std::pair{-8.0, 8.0}, std::pair{0.0, 1.0}}) {
      for (int degree : {1, 4, 7, 12}) {
        const auto p = chebyshev_sigmoid(degree, lo, hi);
        for (int j = 0; j <= degree; ++j) {
          const double theta = std::numbers::pi * (j + 0.5) / (degree + 1);
          const double x = 0.5 * (lo + hi) + 0.5 * (hi - lo) * std::cos(theta);
          CHECK(p(x) == Approx(exact_sigmoid{}(x)).margin(1e-10));
        }
      }
    }
  }
  SECTION("max error on [-8, 8] falls with the degree") {
    double previous_odd = 1.0, previous_even = 1.0;
    for (int degree = 1; degree <= 31; ++degree) {
      const double err = max_error(chebyshev_sigmoid(degree, -8.0, 8.0), exact_sigmoid{}, -8.0, 8.0);
      INFO("degree " << degree << " error " << err);
      // An odd function has only odd Chebyshev terms, so each parity improves on its own.
      double& previous = degree % 2 == 1 ? previous_odd : previous_even;
      CHECK(err < previous);
      previous = err;
    }
    CHECK(previous_odd < 1e-5);
    CHECK(max_error(chebyshev_sigmoid(7, -8.0, 8.0), exact_sigmoid{}, -8.0, 8.0) <
          max_error(chebyshev_sigmoid(3, -8.0, 8.0), exact_sigmoid{}, -8.0, 8.0) / 2);
  }
  SECTION("odd symmetry gives exact zero even coefficients and constant 1/2") {
    const auto p = chebyshev_sigmoid(9, -8.0, 8.0);
    CHECK(p.coefficients()[0] == 0.5);
    for (std::size_t k = 2; k < p.coefficients().size(); k += 2) CHECK(p.coefficients()[k] == 0.0);
  }
}

TEST_CASE("approx: max_error measures the worst gap", "[approx][fit]") {
  const polynomial_sigmoid half({0.5}, -1.0, 1.0);
  // |0.5 - σ(x)| is largest at the ends: σ(2) - 0.5.
  CHECK(max_error(half, exact_sigmoid{}, -2.0, 2.0) == Approx(exact_sigmoid{}(2.0) - 0.5));
  CHECK(max_error(half, [](double) { return 0.5; }, -2.0, 2.0) == 0.0);
  CHECK_THROWS_AS(max_error(half, exact_sigmoid{}, 1.0, 1.0), hefl::invalid_argument);
  CHECK_THROWS_AS(max_error(half, exact_sigmoid{}, -1.0, 1.0, 1), hefl::invalid_argument);
  CHECK_THROWS_AS(max_error(half, exact_sigmoid{}, -1.0, 1.0, hefl::approx::max_fit_samples + 1),
                  hefl::invalid_argument);
}

TEST_CASE("approx: fits reject bad arguments", "[approx][fit]") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  for (int degree : {0, -1, 32, 1000}) {
    CHECK_THROWS_AS(taylor_sigmoid(degree), hefl::invalid_argument);
    CHECK_THROWS_AS(least_squares_sigmoid(degree, -8.0, 8.0), hefl::invalid_argument);
    CHECK_THROWS_AS(chebyshev_sigmoid(degree, -8.0, 8.0), hefl::invalid_argument);
  }
  CHECK_THROWS_WITH(chebyshev_sigmoid(0, -8.0, 8.0), Catch::Contains("degree must be in [1, 31], got 0"));
  CHECK_NOTHROW(chebyshev_sigmoid(31, -8.0, 8.0));
  CHECK_NOTHROW(least_squares_sigmoid(31, -8.0, 8.0));
  for (auto [lo, hi] : {std::pair{1.0, 1.0}, std::pair{2.0, -2.0}, std::pair{nan, 1.0}, std::pair{-inf, inf}}) {
    CHECK_THROWS_AS(least_squares_sigmoid(3, lo, hi), hefl::invalid_argument);
    CHECK_THROWS_AS(chebyshev_sigmoid(3, lo, hi), hefl::invalid_argument);
    CHECK_THROWS_AS(taylor_sigmoid(3, lo, hi), hefl::invalid_argument);
  }
  CHECK_THROWS_WITH(least_squares_sigmoid(3, 4.0, 4.0), Catch::Contains("empty"));
  CHECK_THROWS_WITH(least_squares_sigmoid(5, -8.0, 8.0, 5), Catch::Contains("samples must be in [degree + 1 = 6"));
  CHECK_NOTHROW(least_squares_sigmoid(5, -8.0, 8.0, 6));
  CHECK_THROWS_AS(least_squares_sigmoid(3, -8.0, 8.0, hefl::approx::max_fit_samples + 1), hefl::invalid_argument);
}
